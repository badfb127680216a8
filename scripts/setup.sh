#!/usr/bin/env bash
# Installs everything wbspawn needs on a Debian 12 machine. Idempotent: each step checks first,
# so a second run takes a second. Run through `make setup`.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian's compiler can build std for wasm32 with atomics (rustup's stable cannot without
# rust-src); lld is the wasm linker; chromium runs the browser tests; clippy lints the wasm build;
# nginx serves a built dist with its generated config in the tests (tests/nginx.py).
# The browser tests run in three engines (docs/browsers.md): chromium (through Playwright),
# firefox-esr (its own WebDriver BiDi) and WebKitGTK's MiniBrowser (in libwebkit2gtk-4.1-0,
# through WebKit's inspector) on an Xvfb display.
DEB_PACKAGES=(rustc-web cargo-web rust-web-src rust-web-clippy lld-22 chromium nginx
  firefox-esr libwebkit2gtk-4.1-0 xvfb)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

say() { printf 'setup: %s\n' "$*"; }

missing=()
for package in "${DEB_PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$package")
  fi
done
if [ "${#missing[@]}" -gt 0 ]; then
  say "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# The Python package, editable, with its test tools.
PYTHON="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  say "creating .venv"
  "$PYTHON" -m venv .venv
fi
stamp=.venv/.wbspawn-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  say "installing the wbspawn package and its test dependencies into .venv"
  .venv/bin/pip install -q --upgrade pip
  .venv/bin/pip install -q -e '.[test]'
  touch "$stamp"
fi

# The wasm-bindgen CLI must be exactly the version Cargo.lock pins for the crate.
want=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ -z "$want" ]; then
  echo "setup: error: no wasm-bindgen entry in Cargo.lock" >&2
  exit 1
fi
export PATH="$HOME/.cargo/bin:$PATH"
have=$(wasm-bindgen --version 2>/dev/null | awk '{ print $2 }' || true)
if [ "$have" != "$want" ]; then
  say "installing wasm-bindgen-cli $want (was: ${have:-none}); a few minutes"
  cargo_bin=$(command -v cargo || echo /usr/bin/cargo)
  "$cargo_bin" install -q wasm-bindgen-cli --version "=$want" --locked
fi
# binaryen's wasm-opt optimizes `wbspawn build`'s release wasm (server/wbspawn/ship/wasmopt.py).
# npm's package is current and installs in a second; Debian 12's binaryen (108) breaks
# wasm-bindgen's output and must not be the one on PATH.
BINARYEN_VERSION=132
have_opt=$(wasm-opt --version 2>/dev/null | awk '{ print $3 }' || true)
if [ "$have_opt" != "$BINARYEN_VERSION" ]; then
  if ! command -v npm >/dev/null; then
    echo "setup: error: npm is needed to install binaryen (apt-get install npm)" >&2
    exit 1
  fi
  say "installing binaryen $BINARYEN_VERSION (wasm-opt) from npm (was: ${have_opt:-none})"
  $SUDO npm install -g --no-audit --no-fund -s "binaryen@$BINARYEN_VERSION" >/dev/null
fi
# std for wasm and a new app's dependencies, built once now (a minute or two on a fresh
# machine, a second after): the first `wbspawn serve` of an app compiles only the app.
say "prebuilding std and the runtime's dependencies for debug builds"
.venv/bin/wbspawn prebuild
say "ready"
