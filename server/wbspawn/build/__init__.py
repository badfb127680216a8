"""Building an app: the toolchain, std patched for threads, cargo, wasm-bindgen, stack checks."""
