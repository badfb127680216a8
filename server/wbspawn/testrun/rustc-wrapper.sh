#!/bin/sh
# cargo's RUSTC_WORKSPACE_WRAPPER for `wbspawn test`: links the wbspawn runtime into every test
# binary of the crate under test, without an edit to the crate.
#
# std as wbspawn builds it calls the runtime's hooks (`__wbspawn_v2_*`), and a test binary
# whose crate never names the wbspawn crate links none: rustc leaves out a crate that nothing
# uses. `--extern force:` links it all the same. A crate that depends on wbspawn already
# gets its own copy forced in (one runtime, not two); any other gets the one wbspawn built
# for the tests (WBSPAWN_TEST_RUNTIME, its dependencies in WBSPAWN_TEST_DEPS and
# WBSPAWN_TEST_HOST_DEPS). Anything that is not a test target is compiled as it is.
# -Zbinary-dep-depinfo lists the rlibs a binary links in its dep-info, so cargo relinks the
# tests when the runtime's rlib changes (cargo knows nothing else of it).
rustc="$1"
shift
is_test=no
has_runtime=no
crate=""
previous=""
for arg in "$@"; do
  case "$arg" in
    --test) is_test=yes ;;
    wbspawn=*) [ "$previous" = "--extern" ] && has_runtime=yes ;;
  esac
  [ "$previous" = "--crate-name" ] && crate="$arg"
  previous="$arg"
done
if [ "$is_test" = no ] || [ "$crate" = wbspawn ]; then
  exec "$rustc" "$@"
fi
if [ "$has_runtime" = yes ]; then
  exec "$rustc" "$@" -Zunstable-options -Zbinary-dep-depinfo --extern force:wbspawn
fi
exec "$rustc" "$@" -Zunstable-options -Zbinary-dep-depinfo \
  --extern "force:wbspawn=$WBSPAWN_TEST_RUNTIME" \
  -L "dependency=$WBSPAWN_TEST_DEPS" -L "dependency=$WBSPAWN_TEST_HOST_DEPS"
