"""A stand-in for wbspawn's stack-check pass: leaves the module as it is and says it checked
it, logging each call to FAKE_STACKCHECK_LOG if set; with FAKE_STACKCHECK_FAIL set, prints
that as the pass's error line and exits 1."""

from __future__ import annotations

import os
import sys
from pathlib import Path


def main() -> int:
    [module] = sys.argv[1:]
    if log := os.environ.get("FAKE_STACKCHECK_LOG"):
        with Path(log).open("a") as file:
            file.write(module + "\n")
    if failure := os.environ.get("FAKE_STACKCHECK_FAIL"):
        print(f"wbspawn-stackcheck: error: {failure}", file=sys.stderr)
        return 1
    print("checked 1")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
