# The two commands a user needs: `make run` and `make test`. Both set up .venv themselves.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# maturin develop installs into the environment named here.
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(VENV))/bin:$(PATH)

.PHONY: run test build deps test-rust test-c test-cross test-py stubtest lint lint-cross clean \
	wheel wheel-aarch64 test-wheel-aarch64 bench-micro bench-micro-compare bench-e2e

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

# Wheels into dist/, manylinux2014 (glibc 2.17: linked by zig, the ziglang package), with the C
# kernels inside the extension and their sources for `leanconv emit`. Their own cargo target
# folders, so neither rebuilds what `make build` keeps in target/.
wheel: deps
	CARGO_TARGET_DIR=$(CURDIR)/target/wheel $(VENV)/bin/maturin build --release --zig --compatibility manylinux2014 --out dist

# Cross-built with Debian's Rust toolchain and arm64 std (scripts/aarch64-toolchain.sh).
wheel-aarch64: deps
	scripts/wheel-aarch64.sh build . dist

# A clean clone of HEAD built for aarch64, installed as on a board (with the dependencies it
# declares, no torch), tests/test_device.py and `leanconv profile` run under qemu-aarch64 on
# Debian's arm64 python3.11, and `leanconv select` plans from those costs on the host.
test-wheel-aarch64: build
	scripts/wheel-aarch64.sh test

test: lint lint-cross test-rust test-c test-cross test-py stubtest test-wheel-aarch64

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

# Whole networks against ONNX Runtime, OpenVINO, LiteRT, ncnn and torch (bench/e2e/run.py; about
# 25 minutes; BENCH_E2E_ARGS passes options, e.g. "--models resnet18 --threads 1 --rounds 2").
# The peers install into .venv; the LiteRT converter gets its own environment layered over .venv
# (site.addsitedir keeps .venv's own .pth entries), because litert-torch installs only with --no-deps.
LITERT_VENV := bench/e2e/.cache/litert-venv
BENCH_E2E_ARGS ?=

$(VENV)/.bench-deps: requirements-bench.txt $(VENV)/.deps
	$(PY) -m pip install -q -r requirements-bench.txt
	touch $@

$(LITERT_VENV)/.deps: requirements-bench-litert.txt $(VENV)/.deps
	test -x $(LITERT_VENV)/bin/python || $(PY) -m venv --without-pip $(LITERT_VENV)
	echo "import site; site.addsitedir('$$($(PY) -c 'import sysconfig; print(sysconfig.get_path("purelib"))')')" \
	  > "$$($(LITERT_VENV)/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')/_bench_base.pth"
	$(PY) -m pip --python $(LITERT_VENV)/bin/python install -q --no-deps -r requirements-bench-litert.txt
	touch $@

bench-e2e: build $(VENV)/.bench-deps $(LITERT_VENV)/.deps
	LITERT_PYTHON=$(abspath $(LITERT_VENV))/bin/python $(PY) bench/e2e/run.py $(BENCH_E2E_ARGS)
