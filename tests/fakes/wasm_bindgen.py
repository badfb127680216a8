"""A stand-in for the wasm-bindgen CLI.

FAKE_WASM_BINDGEN_VERSION sets what `--version` reports (default 0.2.100);
FAKE_WASM_BINDGEN_FAIL=1 writes a partial file into --out-dir, then fails;
FAKE_WASM_BINDGEN_GATE=PATH waits while PATH exists before reading the .wasm.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path


def main() -> int:
    args = sys.argv[1:]
    if args == ["--version"]:
        print(f"wasm-bindgen {os.environ.get('FAKE_WASM_BINDGEN_VERSION', '0.2.100')}")
        return 0
    out_dir = Path(args[args.index("--out-dir") + 1])
    name = args[args.index("--out-name") + 1]
    wasm = Path(args[-1])
    gate = os.environ.get("FAKE_WASM_BINDGEN_GATE")
    while gate and Path(gate).exists():
        time.sleep(0.02)
    if os.environ.get("FAKE_WASM_BINDGEN_FAIL"):
        (out_dir / f"{name}.js").write_text("// half written\n")
        print("error: failed to find the `__wasm_init_tls` export", file=sys.stderr)
        return 1
    (out_dir / f"{name}.js").write_text(f"// glue for {wasm.name}\nexport default {{}};\n")
    shutil.copyfile(wasm, out_dir / f"{name}_bg.wasm")
    (out_dir / f"{name}.d.ts").write_text("export {};\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
