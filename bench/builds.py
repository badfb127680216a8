"""`make bench-builds`: what a build costs a user before they see their app.

A fresh `wbspawn new` app, built for debug as `wbspawn serve` builds it, in a cache of its own
(the machine's is left alone):

- cold: nothing built yet (std for wasm, the stack-check pass, the app's dependencies);
- warm std: std and the pass built, the dependencies not (the first app on a machine whose
  std was built before without `wbspawn prebuild`);
- `wbspawn prebuild` with std built (what it adds: the dependencies of a new app), and a
  fresh app's first build after it (the first app on a machine set up by `make setup`);
- a third fresh app (std and dependencies shared);
- `--panic unwind` for the first app (a std of its own);
- a Rust edit of the first app (cargo's incremental build and the rest of the pipeline);

beside the same app built the way wasm-bindgen-rayon's README tells users: cargo with the
shared-memory RUSTFLAGS and `-Zbuild-std=std,panic_abort` in the app's own target dir, which
every new app pays again. Trunk is not measured: it builds with cargo the same way (std in each
project's target dir), and its own install (several hundred crates) does not fit this bench.

Prints a table and writes bench/builds.json.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from harness import BENCH, write_report

from wbspawn.build import flags
from wbspawn.build.pipeline import build
from wbspawn.build.prebuild import prebuild
from wbspawn.build.toolchain import Toolchain, discover
from wbspawn.config import Config
from wbspawn.ship.template import new_app


def timed_build(config: Config, toolchain: Toolchain) -> dict[str, float]:
    started = time.monotonic()
    result = build(config, toolchain)
    return {
        "total_s": round(time.monotonic() - started, 2),
        "cargo_s": round(result.cargo_s, 2),
        "bindgen_s": round(result.bindgen_s, 2),
        "stackcheck_s": round(result.stackcheck_s, 3),
    }


def peer_way(app: Path, toolchain: Toolchain, target: Path) -> dict[str, float]:
    """cargo + -Zbuild-std into the app's own target dir, as wasm-bindgen-rayon's README has
    it (the crates.io patch as wbspawn's builds pass it, so the same crates are built)."""
    from wbspawn.build.cargo import read_crate_info, runtime_patch_args

    env = toolchain.subprocess_env()
    crate = read_crate_info(app, toolchain, env)
    env.update({"RUSTFLAGS": flags.RUSTFLAGS, "CARGO_TARGET_DIR": str(target)})
    args = [
        str(toolchain.cargo),
        "build",
        "--lib",
        "--target",
        flags.TARGET,
        "-Zbuild-std=std,panic_abort",
        *runtime_patch_args(crate),
    ]
    started = time.monotonic()
    subprocess.run(args, cwd=app, env=env, check=True, capture_output=True)
    return {"total_s": round(time.monotonic() - started, 2)}


def main() -> int:
    toolchain = discover()
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="wbspawn-bench-builds-") as tmp:
        root = Path(tmp)
        cache = root / "cache"
        first = new_app(root / "first").dir
        second = new_app(root / "second").dir
        third = new_app(root / "third").dir
        config = Config(app_dir=first, cache_dir=cache)

        def step(name: str, measure: Any) -> None:
            print(f"bench-builds: {name}…", file=sys.stderr, flush=True)
            results[name] = measure()
            print(f"  {results[name]}", file=sys.stderr, flush=True)

        step("cold", lambda: timed_build(config, toolchain))
        shutil.rmtree(cache / "target")
        shutil.rmtree(cache / "out")
        step("warm_std", lambda: timed_build(config, toolchain))
        shutil.rmtree(cache / "target")
        shutil.rmtree(cache / "out")

        def timed_prebuild() -> dict[str, float]:
            started = time.monotonic()
            prebuild(config, toolchain)
            return {"total_s": round(time.monotonic() - started, 2)}

        step("prebuild", timed_prebuild)
        for name, app in (("prebuilt_app", second), ("second_app", third)):
            step(name, lambda app=app: timed_build(Config(app_dir=app, cache_dir=cache), toolchain))
        lib = first / "src" / "lib.rs"

        def edit() -> dict[str, float]:
            lib.write_text(lib.read_text() + "\n// an edit\n")
            return timed_build(config, toolchain)

        step("rust_edit", edit)
        unwind = Config(app_dir=first, cache_dir=cache, panic="unwind")
        step("panic_unwind", lambda: timed_build(unwind, toolchain))
        step("peer_way", lambda: peer_way(second, toolchain, root / "peer-target"))
    write_report(BENCH / "builds.json", {"results": results})
    rows = [
        ("fresh `wbspawn new` app, cold cache (std, pass, dependencies)", "cold"),
        ("fresh app, std built, dependencies not", "warm_std"),
        ("`wbspawn prebuild` with std built (the dependencies)", "prebuild"),
        ("fresh app after `wbspawn prebuild` (as `make setup` leaves a machine)", "prebuilt_app"),
        ("a third fresh app", "second_app"),
        ("a Rust edit of the first app", "rust_edit"),
        ("the first app with --panic unwind (a std of its own)", "panic_unwind"),
        ("the second app the wasm-bindgen-rayon way (-Zbuild-std per app)", "peer_way"),
    ]
    print("\n| debug build | seconds |\n|---|---|")
    for title, key in rows:
        print(f"| {title} | {results[key]['total_s']:.1f} s |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
