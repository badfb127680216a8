"""A stand-in for binaryen's wasm-opt: reports version 132 and copies its input to `-o`,
logging each call to FAKE_WASM_OPT_LOG if set; with FAKE_WASM_OPT_FAIL set, prints that to
stderr and exits 1 instead."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def main() -> int:
    args = sys.argv[1:]
    if args == ["--version"]:
        print("wasm-opt version 132 (version_132)")
        return 0
    if log := os.environ.get("FAKE_WASM_OPT_LOG"):
        with Path(log).open("a") as file:
            file.write(" ".join(args) + "\n")
    if failure := os.environ.get("FAKE_WASM_OPT_FAIL"):
        print(failure, file=sys.stderr)
        return 1
    source = next(a for a in args if a.endswith(".wasm") and a != args[args.index("-o") + 1])
    shutil.copyfile(source, args[args.index("-o") + 1])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
