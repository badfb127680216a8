"""Shipping an app: `wbspawn new` (template.py), `wbspawn build` (dist.py: a release build
with content-hashed files, hashing.py, an optimized wasm, wasmopt.py, and host configs,
hosting.py) and `wbspawn preview` (preview.py: a dist served as a production host would)."""
