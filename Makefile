# The two commands a user needs: `make run` and `make test`. Both set up .venv themselves.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# maturin develop installs into the environment named here.
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test build deps test-rust test-c test-cross test-py stubtest lint lint-cross clean \
	bench-micro bench-micro-compare

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
	$(PY) -m mypy python/leanconv

# rust/core checked for aarch64 too (its x86-only SIMD paths are behind cfg), with the C kernels
# cross-compiled by its build script. Debian's Rust toolchain with the aarch64 standard library,
# installed by scripts/aarch64-toolchain.sh when missing; it fails here if it cannot be installed.
lint-cross:
	env=$$(scripts/aarch64-toolchain.sh) && eval "$$env" && \
	  cargo clippy -p leanconv-core --all-targets --locked --target aarch64-unknown-linux-gnu -- -D warnings

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

test: lint lint-cross test-rust test-c test-cross test-py stubtest

# Micro-benchmarks of the hot paths (bench/micro/README.md). `make bench-micro` saves every run
# under bench/micro/.benchmarks; `make bench-micro-compare` runs again, saves nothing, and fails
# when a benchmark is slower than in the last saved run by more than BENCH_MICRO_FAIL. Rounds are
# timed in CPU time, which other jobs on a shared machine disturb less than wall-clock time
# (the README says why this timer and threshold).
BENCH_MICRO_STORAGE := $(CURDIR)/bench/micro/.benchmarks
BENCH_MICRO_FAIL ?= median:100%
BENCH_MICRO := $(PY) -m pytest bench/micro -q --benchmark-enable --benchmark-storage=$(BENCH_MICRO_STORAGE) \
	--benchmark-timer=time.process_time --benchmark-max-time=0.5 --benchmark-columns=min,median,iqr,rounds \
	--benchmark-sort=name

bench-micro: build
	$(BENCH_MICRO) --benchmark-autosave

bench-micro-compare: build
	@ls $(BENCH_MICRO_STORAGE)/*/*.json >/dev/null 2>&1 || \
	  { echo "bench-micro-compare: no saved run to compare with: run make bench-micro first" >&2; exit 1; }
	$(BENCH_MICRO) --benchmark-compare --benchmark-compare-fail=$(BENCH_MICRO_FAIL)

clean:
	rm -rf target kernels_c/build python/leanconv/*.so
