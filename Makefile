# wbspawn: `make serve` shows the demo, `make test` runs every check. Both set up first.
.PHONY: setup serve test test-python test-rust lint lint-python lint-rust lint-wasm fmt clean \
	bench bench-runtime bench-rayon bench-mainthread bench-devloop bench-builds bench-testrun bench-suites

VENV := .venv/bin

setup:
	@scripts/setup.sh

serve: setup
	$(VENV)/wbspawn-serve examples/demo --port 8000

test: setup lint test-rust test-python

# The stack-check pass is a crate of its own (stackcheck/, which wbspawn's package carries and
# builds for the machine); its target dir stays out of the directory that is shipped.
STACKCHECK := --manifest-path stackcheck/Cargo.toml
STACKCHECK_TARGET := CARGO_TARGET_DIR=target/stackcheck

test-rust:
	cargo test -p wbspawn
	$(STACKCHECK_TARGET) cargo test $(STACKCHECK)

# TEST_JOBS=2 runs pytest in two processes, each taking whole test files (a file's module
# fixtures stay in one process). The default is one: on 2 cores two processes cut a fresh
# clone's run from 27 to 24 minutes, but the browsers then shared the cores with twice the
# work, and timing-bound browser tests failed (3 of 1240 in one run: a Firefox that stopped
# answering, a deadlock verdict after the check's settle time, the page's exit line seen
# before a worker's last output line). Meant for machines with more cores (not measured here).
TEST_JOBS ?= 0

test-python:
	$(VENV)/pytest -n $(TEST_JOBS) --dist loadfile

lint: lint-python lint-rust lint-wasm

lint-python:
	$(VENV)/ruff check server tests bench
	$(VENV)/ruff format --check server tests bench
	$(VENV)/mypy
	$(VENV)/mypy bench
	MYPYPATH=tests $(VENV)/mypy tests

# The bench apps are workspaces of their own (bench/apps): formatted here, built by make bench.
BENCH_RS = bench/apps/*/src/*.rs bench/apps/common/*.rs

lint-rust:
	cargo fmt --all --check
	cargo fmt $(STACKCHECK) --check
	rustfmt --check --edition 2021 $(BENCH_RS)
	cargo clippy --workspace --all-targets -- -D warnings
	$(STACKCHECK_TARGET) cargo clippy $(STACKCHECK) --all-targets -- -D warnings

# The wasm-only code (platform/wasm.rs) is linted with Debian's clippy against the real target,
# with the std wbspawn's builds use (`wbspawn env`: built once, shared with them).
lint-wasm:
	eval "$$($(VENV)/wbspawn env)" && cargo clippy --workspace --target-dir target/wasm-clippy \
		-- -D warnings

# Measurements, not tests: numbers for the README (bench/results.json).
bench: bench-runtime bench-rayon bench-mainthread bench-devloop bench-builds bench-testrun

bench-runtime: setup
	$(VENV)/python bench/runtime.py

# rayon kernels against wasm-bindgen-rayon and native; page start-up (bench/rayon.json).
bench-rayon: setup
	$(VENV)/python bench/rayon.py

# Apps that own the page: first frame, and a click's rayon job, against wasm-bindgen-rayon.
bench-mainthread: setup
	$(VENV)/python bench/mainthread.py

# What a build costs: a fresh app cold and warm, a second app, the peer's way (bench/builds.json).
bench-builds: setup
	$(VENV)/python bench/builds.py

# `wbspawn test` against native `cargo test` on 400 small threaded tests (bench/testrun.json).
bench-testrun: setup
	$(VENV)/python bench/testrun.py

# Published crates' own test suites in every engine (bench/suites.json; docs/testing.md).
bench-suites: setup
	$(VENV)/python bench/suites.py

# The dev loop: HTML edit -> reload, Rust edit -> new code running (bench/devloop.json).
bench-devloop: setup
	$(VENV)/python bench/devloop.py

fmt:
	cargo fmt --all
	cargo fmt $(STACKCHECK)
	rustfmt --edition 2021 $(BENCH_RS)
	$(VENV)/ruff format server tests bench
	$(VENV)/ruff check --fix server tests bench

clean:
	cargo clean
	rm -rf .venv .pytest_cache .mypy_cache .ruff_cache
