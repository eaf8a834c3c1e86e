#!/usr/bin/env bash
# The aarch64 wheel, cross-built with Debian's Rust toolchain and arm64 standard library
# (scripts/aarch64-toolchain.sh, ../shared/CROSS.md), and its tests under qemu-aarch64:
#
#   scripts/wheel-aarch64.sh build [SRC] [OUT]   the wheel of the tree SRC (default .) into OUT
#                                                (default dist/)
#   scripts/wheel-aarch64.sh test                a clean clone of HEAD, its wheel, installed as on a
#                                                board: tests/test_device.py and `leanconv profile`
#                                                under qemu-aarch64, then `leanconv select` on the
#                                                host from the board's costs
#
# The wheel is manylinux2014 (glibc 2.17), linked by zig (the ziglang package in .venv). The
# test installs it with pip for aarch64 (--platform, --target) together with the dependencies it
# declares, from PyPI wheels kept in a wheelhouse, and runs it on Debian's arm64 python3.11:
# what a board with Python 3.11 and no torch installs and runs. Emulated timings mean nothing.
#
# Kept between runs: the cross target folder (target/aarch64-wheel: cargo rebuilds only what
# changed), the clone (updated to HEAD with `git checkout`, so unchanged files keep their
# times) and, beside the toolchain under ~/.cache/leanconv, the arm64 python and the
# wheelhouse (fetched again only when a pin in requirements-dev.txt changes).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${VENV:-$root/.venv}
venv=$(cd "$venv" && pwd)
TARGET=aarch64-unknown-linux-gnu
PY_VERSION=3.11
work="$root/target/aarch64-wheel"
home_dir=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
CACHE=${LEANCONV_CACHE:-${XDG_CACHE_HOME:-$home_dir/.cache}/leanconv}

log() { echo "wheel-aarch64: $*" >&2; }
die() { log "error: $*"; exit 1; }

build() {  # build SRC OUT: prints the wheel's path
  local src=$1 out=$2 env
  env=$("$root/scripts/aarch64-toolchain.sh" rust)
  (
    eval "$env"
    # zig links (against glibc 2.17) and compiles the C kernels: not Debian's cross gcc.
    unset CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER CC_aarch64_unknown_linux_gnu AR_aarch64_unknown_linux_gnu
    export PATH="$venv/bin:$PATH" CARGO_TARGET_DIR="$work/cargo"
    # maturin runs `python -m ziglang`; Debian's cargo and rustc stay first on PATH.
    export PATH="$(dirname "$(command -v cargo)"):$PATH"
    "$venv/bin/python" -c "import ziglang" 2>/dev/null || die "ziglang is not installed in $venv (make deps)"
    cd "$src"
    rm -f "$out"/leanconv-*-manylinux*_aarch64.whl
    "$venv/bin/maturin" build --release --zig --target "$TARGET" --compatibility manylinux2014 \
      -i "python$PY_VERSION" --out "$out" >&2
  )
  ls "$out"/leanconv-*-manylinux*_aarch64.whl
}

# pip for an aarch64 CPython 3.11 board, whatever the host.
PIP_TARGET=(--only-binary=:all: --python-version "$PY_VERSION" --implementation cp --abi "cp${PY_VERSION/./}"
  --abi abi3 --abi none --platform manylinux2014_aarch64 --platform manylinux_2_28_aarch64
  --platform manylinux_2_36_aarch64 --platform linux_aarch64)

wheelhouse() {  # the PyPI wheels the test installs: the wheel's dependencies and pytest, pinned
  local pins stamp dir
  pins=$(grep -E '^(numpy|typer|rich|pytest)==' "$root/requirements-dev.txt" | sort | tr '\n' ' ')
  stamp=$(echo "$pins" | sha256sum | cut -c1-16)
  dir="$CACHE/aarch64-wheels-$stamp"
  if [ ! -f "$dir/.complete" ]; then
    log "downloading the aarch64 wheels of $pins"
    rm -rf "$dir"
    # shellcheck disable=SC2086  # one word per pin
    "$venv/bin/pip" download -q -d "$dir" "${PIP_TARGET[@]}" $pins </dev/null >&2
    touch "$dir/.complete"
  fi
  echo "$dir"
}

test_wheel() {
  local python clone wheel site house status
  python=$("$root/scripts/aarch64-toolchain.sh" python)
  house=$(wheelhouse)
  clone="$work/clone"
  if [ -n "$(git -C "$root" status --porcelain --untracked-files=no)" ]; then
    log "note: testing the wheel of HEAD $(git -C "$root" rev-parse --short HEAD); uncommitted changes are not in it"
  fi
  [ -d "$clone/.git" ] || git clone -q --no-checkout "$root" "$clone"
  git -C "$clone" fetch -q "$root" HEAD
  git -C "$clone" checkout -q --force --detach FETCH_HEAD
  git -C "$clone" clean -q -ffdx
  wheel=$(build "$clone" "$work/dist")
  log "built $(basename "$wheel")"
  # Everything the package holds in git is in the wheel, and the kernels' sources for emit.
  (cd "$clone" && git ls-files python/leanconv kernels_c/include kernels_c/src) | "$venv/bin/python" -c '
import sys, zipfile
names = set(zipfile.ZipFile(sys.argv[1]).namelist())
want = {f.replace("python/", "", 1) if f.startswith("python/") else "leanconv/_" + f
        for f in sys.stdin.read().split() if f != "python/leanconv/_kernels_c"}
missing = sorted(want - names)
assert not missing, f"not in the wheel: {missing}"
assert any(n.startswith("leanconv/_native.") and n.endswith(".so") for n in names), "no extension module"
' "$wheel" || die "the wheel lacks files of the package"

  site="$work/site"
  rm -rf "$site"
  "$venv/bin/pip" install -q --no-index --find-links "$house" --target "$site" "${PIP_TARGET[@]}" \
    "$wheel" pytest </dev/null >&2
  for pkg in torch onnx highspy; do
    [ ! -e "$site/$pkg" ] || die "the wheel pulled in $pkg: it must be an extra"
  done

  board=(env PYTHONPATH="$site" PYTHONDONTWRITEBYTECODE=1 qemu-aarch64 -L "$python" "$python/usr/bin/python$PY_VERSION")
  log "tests/test_device.py under qemu-aarch64"
  (cd "$clone" && "${board[@]}" -m pytest -q -p no:cacheprovider -o addopts= tests/test_device.py)

  log "leanconv profile default under qemu-aarch64, select on the host"
  rm -rf "$work/loop" && mkdir -p "$work/loop"
  (cd "$work/loop" && "${board[@]}" -m leanconv profile default --costs board.jsonl)
  status=0
  "$venv/bin/python" - "$work/loop/board.jsonl" <<'EOF' || status=$?
import json, sys
records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
isas = {r["key"]["isa"] for r in records if "isa" in r.get("key", {})}
assert records and isas == {"neon"}, (len(records), isas)
print(f"wheel-aarch64: {len(records)} records measured on aarch64 (isa {', '.join(sorted(isas))})", file=sys.stderr)
EOF
  [ "$status" = 0 ] || die "the board's cost database is not an aarch64 one"
  (cd "$work/loop" && "$venv/bin/leanconv" select default --costs board.jsonl -o plan.json >&2)
  grep -q '"isa": "neon"' "$work/loop/plan.json" || die "the plan selected from the board's costs is not for neon"
  log "ok: the plan from the board's costs is $work/loop/plan.json"
}

case ${1:-} in
  build) out=${3:-$root/dist}; mkdir -p "$out"; build "$(cd "${2:-.}" && pwd)" "$(cd "$out" && pwd)" ;;
  test) test_wheel ;;
  *) echo "usage: $0 build [SRC] [OUT] | test" >&2; exit 2 ;;
esac
