"""A stand-in for wbspawn's splice tool (`wbspawn-bindgen-splice OLD_INPUT OLD_OUTPUT NEW_INPUT
OUT`): refuses, unless FAKE_SPLICE=splice, when it copies NEW_INPUT to OUT as the fake
wasm-bindgen does; logs each call's arguments to FAKE_SPLICE_LOG if set."""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path


def main() -> int:
    old_input, old_output, new_input, out = sys.argv[1:]
    if log := os.environ.get("FAKE_SPLICE_LOG"):
        with Path(log).open("a") as file:
            file.write(" ".join(sys.argv[1:]) + "\n")
    for path in (old_input, old_output, new_input):
        if not Path(path).is_file():
            print(f"wbspawn-bindgen-splice: error: cannot read {path}", file=sys.stderr)
            return 1
    if os.environ.get("FAKE_SPLICE") != "splice":
        print("refused: the fake refuses")
        return 0
    shutil.copyfile(new_input, out)
    print("spliced 1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
