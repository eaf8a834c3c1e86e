#!/usr/bin/env bash
# The aarch64 cross toolchain from Debian's packages (no rustup target can be added on these
# machines; ../shared/CROSS.md):
#
#   scripts/aarch64-toolchain.sh c       the C cross compiler and qemu-user (kernels_c's cross tests)
#   scripts/aarch64-toolchain.sh [rust]  that, plus Debian's rustc-web, cargo-web and clippy with
#                                        the matching aarch64 standard library in a sysroot
#   scripts/aarch64-toolchain.sh python  qemu-user and Debian's arm64 python3.11 with the packages
#                                        it needs, unpacked into a folder P; prints P, so that
#                                        `qemu-aarch64 -L P P/usr/bin/python3.11` runs it
#
# Installs only what is missing (apt-get update at most once per run, non-interactive, as root or
# through `sudo -n`), so a second run takes a fraction of a second. `rust` prints on stdout the
# environment that makes cargo build and lint for aarch64-unknown-linux-gnu, as shell lines:
#
#   env=$(scripts/aarch64-toolchain.sh) && eval "$env" && cargo clippy --target aarch64-unknown-linux-gnu
#
# Everything else goes to stderr. Debian's cargo, rustc and clippy come first on PATH through a
# folder of links beside the sysroot, so rustup's toolchain (older, and without the aarch64 std)
# is not picked, and python and the rest of PATH are untouched.
#
# The aarch64 standard library must be the exact version of the host's rustc-web; it is
# downloaded with a private apt configuration (APT::Architecture=arm64, own lists and cache,
# dpkg status /dev/null) and unpacked with `dpkg -x`, so the system's dpkg never sees arm64.
# It lives under ${XDG_CACHE_HOME:-~/.cache}/leanconv/ (LEANCONV_CACHE overrides), one folder per
# rustc-web version: every worktree and every CI clone on the machine shares the one download,
# `make clean` keeps it, and an upgraded rustc-web gets a new folder with its own std.
set -euo pipefail

what=${1:-rust}
case $what in c | rust | python) ;; *) echo "usage: $0 [c|rust|python]" >&2; exit 2 ;; esac

TARGET=aarch64-unknown-linux-gnu
C_PACKAGES=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
RUST_PACKAGES=(rustc-web cargo-web rust-web-clippy)
# The interpreter, and the C++ runtime that numpy's manylinux wheels expect of the system.
PYTHON_PACKAGES=(python3.11 libstdc++6)
home_dir=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
CACHE=${LEANCONV_CACHE:-${XDG_CACHE_HOME:-$home_dir/.cache}/leanconv}

log() { echo "aarch64-toolchain: $*" >&2; }
die() { log "error: $*"; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
  else die "installing packages needs root (or sudo without a password): $*"
  fi
}

# apt-get waits for a lock held by another apt instead of failing at once.
APT_OPTS=(-q -o DPkg::Lock::Timeout=600)

installed() {  # true when every named Debian package is installed
  local p
  for p in "$@"; do
    [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ] || return 1
  done
}

ensure_packages() {
  installed "$@" && return 0
  log "installing $*"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" update </dev/null >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get "${APT_OPTS[@]}" install -y --no-install-recommends \
    "$@" </dev/null >&2
  installed "$@" || die "could not install $*"
}

# apt-get for arm64 packages with its own lists, cache and an empty dpkg status, in folder $1:
# the system's dpkg never sees arm64.
apt_arm64() {
  local dir=$1; shift
  mkdir -p "$dir/apt/state" "$dir/apt/lists/partial" "$dir/apt/cache/archives/partial"
  apt-get "${APT_OPTS[@]}" -o APT::Architecture=arm64 -o APT::Architectures::=arm64 \
    -o Dir::State="$dir/apt/state" -o Dir::State::Lists="$dir/apt/lists" \
    -o Dir::State::status=/dev/null -o Dir::Cache="$dir/apt/cache" -o APT::Sandbox::User="$(id -un)" \
    -o Debug::NoLocking=1 "$@" </dev/null >&2
}

if [ "$what" = c ]; then
  ensure_packages "${C_PACKAGES[@]}"
  exit 0
fi

if [ "$what" = python ]; then
  ensure_packages "${C_PACKAGES[@]}"
  home="$CACHE/aarch64-python-$(echo "${PYTHON_PACKAGES[*]}" | sha256sum | cut -c1-12)"
  if [ ! -x "$home/usr/bin/python3.11" ]; then
    mkdir -p "$CACHE"
    work=$(mktemp -d "$CACHE/.aarch64-python.XXXXXX")
    chmod 755 "$work"
    trap 'rm -rf "$work"' EXIT
    log "fetching Debian's arm64 ${PYTHON_PACKAGES[*]}"
    apt_arm64 "$work" update
    apt_arm64 "$work" install -y --download-only --no-install-recommends "${PYTHON_PACKAGES[@]}" ||
      die "the arm64 packages ${PYTHON_PACKAGES[*]} and their dependencies could not be downloaded"
    mkdir -p "$work/root"
    for deb in "$work"/apt/cache/archives/*.deb; do dpkg -x "$deb" "$work/root"; done
    [ -x "$work/root/usr/bin/python3.11" ] || die "the arm64 packages hold no usr/bin/python3.11"
    if ! mv -T "$work/root" "$home" 2>/dev/null; then
      [ -x "$home/usr/bin/python3.11" ] || die "could not move the arm64 python into $home"
    fi
    rm -rf "$work"
    trap - EXIT
  fi
  echo "$home"
  exit 0
fi
ensure_packages "${C_PACKAGES[@]}" "${RUST_PACKAGES[@]}"

version=$(dpkg-query -W -f='${Version}' rustc-web)             # e.g. 1.96.0+dfsg1-1~deb12u2
series=$(sed -E 's/^([0-9]+\.[0-9]+).*/\1/' <<<"$version")       # 1.96: names the std package
for p in cargo-web rust-web-clippy; do
  [ "$(dpkg-query -W -f='${Version}' "$p")" = "$version" ] || die "$p is not at rustc-web's version $version"
done

home="$CACHE/aarch64-rust-$version"
sysroot="$home/sysroot"
bin="$home/bin"

if [ ! -d "$sysroot/lib/rustlib/$TARGET/lib" ]; then
  # Built in a fresh folder and renamed into place, so a run that stops half way (or two runs
  # at once) never leaves a half sysroot under the real name.
  mkdir -p "$CACHE"
  work=$(mktemp -d "$CACHE/.aarch64-rust.XXXXXX")
  chmod 755 "$work"
  trap 'rm -rf "$work"' EXIT
  mkdir -p "$work/debs"
  log "fetching the arm64 Rust standard library $version"
  apt_arm64 "$work" update
  (cd "$work/debs" && apt_arm64 "$work" download \
    "libstd-rust-web-dev:arm64=$version" "libstd-rust-web-$series:arm64=$version") ||
    die "the arm64 packages libstd-rust-web-dev and libstd-rust-web-$series at $version are not in the apt sources"
  for deb in "$work/debs"/*.deb; do dpkg -x "$deb" "$work/root"; done
  [ -d "$work/root/usr/lib/rustlib/$TARGET/lib" ] || die "the arm64 packages hold no usr/lib/rustlib/$TARGET"
  mkdir -p "$work/sysroot/lib/rustlib" "$work/bin"
  ln -s "/usr/lib/rustlib/x86_64-unknown-linux-gnu" "$work/sysroot/lib/rustlib/x86_64-unknown-linux-gnu"
  ln -s "$home/root/usr/lib/rustlib/$TARGET" "$work/sysroot/lib/rustlib/$TARGET"
  for tool in cargo rustc rustdoc cargo-clippy clippy-driver; do ln -s "/usr/bin/$tool" "$work/bin/$tool"; done
  rm -rf "$work/apt" "$work/debs"
  if ! mv -T "$work" "$home" 2>/dev/null; then
    [ -d "$sysroot/lib/rustlib/$TARGET/lib" ] || die "could not move the sysroot into $home"
    rm -rf "$work"  # another run finished first; its folder is the same
  fi
  trap - EXIT
fi

# clippy-driver is rustc's compiler with lints: it must be the same build as the std it reads.
rustc_v=$("$bin/rustc" --version)
clippy_v=$("$bin/clippy-driver" --rustc --version)
[ "$rustc_v" = "$clippy_v" ] || die "clippy-driver ($clippy_v) is not the build of rustc ($rustc_v)"

target_env=${TARGET//-/_}
cat <<EOF
export PATH="$bin:\$PATH"
export CARGO_TARGET_${target_env^^}_RUSTFLAGS="--sysroot $sysroot"
export CARGO_TARGET_${target_env^^}_LINKER=aarch64-linux-gnu-gcc
export CC_${target_env}=aarch64-linux-gnu-gcc
export AR_${target_env}=aarch64-linux-gnu-ar
EOF
