#!/usr/bin/env bash
# Builds a trainhost plugin written in C into a WebAssembly component:
#
#   build-component.sh --wit WIT_DIR --out PLUGIN.wasm [--cflags "..."] SOURCE.c...
#
# Owns the C toolchain and its steps; must not know any plugin. Installs what is
# missing by package name, idempotently and without standard input:
#   apt:   clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32 (Debian's LLVM for wasm32-wasi)
#   cargo: wit-bindgen-cli (its C and Go generators) and wasm-tools (`component`,
#          `print`), pinned, into one folder per version under ~/.cache/trainhost-tools,
#          shared with the Go template's build (same versions, same features), so a
#          machine compiles each tool once and other installs are left alone.
# Then: the C bindings of the WIT's `plugin` world, clang for wasm32-wasi as a reactor
# with this folder's SDK (trainhost.c) and the sources, and `wasm-tools component new`.
# Debian's wasi-libc targets WASI preview 1 only; the SDK calls nothing that needs WASI
# (no stdio, no files, no clock), so the core module imports only the contract and the
# component needs no preview-1 adapter (the script stops if one would be needed).
set -euo pipefail

WIT_BINDGEN_VERSION=0.63.0
WASM_TOOLS_VERSION=1.263.0
APT_PACKAGES=(clang-19 lld-19 wasi-libc libclang-rt-19-dev-wasm32)
SDK_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="${TRAINHOST_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/trainhost-tools}"

wit="" out="" cflags="" sources=()
while [ $# -gt 0 ]; do
  case "$1" in
    --wit) wit=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --cflags) cflags=$2; shift 2 ;;
    *) sources+=("$1"); shift ;;
  esac
done
if [ -z "$wit" ] || [ -z "$out" ] || [ ${#sources[@]} -eq 0 ]; then
  echo "usage: $0 --wit WIT_DIR --out PLUGIN.wasm [--cflags \"...\"] SOURCE.c..." >&2
  exit 2
fi

install_apt() {
  local missing=()
  for p in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "installing with apt: ${missing[*]}" >&2
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo -n"
  $sudo apt-get update -qq </dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" </dev/null >&2
}

# install_cargo CRATE VERSION BINARY FEATURES: the pinned tool in $TOOLS/CRATE-VERSION/bin.
install_cargo() {
  local crate=$1 version=$2 binary=$3 features=$4 root="$TOOLS/$1-$2"
  if [ ! -x "$root/bin/$binary" ]; then
    command -v cargo >/dev/null || { echo "cargo is needed to install $crate (https://rustup.rs)" >&2; exit 1; }
    echo "installing $crate $version with cargo into $root" >&2
    env -u CARGO_TARGET_DIR cargo install --quiet --locked "$crate" --version "$version" \
      --no-default-features --features "$features" --root "$root" </dev/null >&2
  fi
  echo "$root/bin/$binary"
}

install_apt
WIT_BINDGEN=$(install_cargo wit-bindgen-cli "$WIT_BINDGEN_VERSION" wit-bindgen c,go)
WASM_TOOLS=$(install_cargo wasm-tools "$WASM_TOOLS_VERSION" wasm-tools component,print)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$WIT_BINDGEN" c "$wit" --world plugin --out-dir "$work/bindings" >/dev/null 2>&1
# -fno-math-errno: sqrt and friends become single instructions; nothing reads errno.
# shellcheck disable=SC2086
clang-19 --target=wasm32-wasi -mexec-model=reactor -O2 -fno-math-errno -std=c11 -Wall -Wextra -Werror \
  -Wno-unused-parameter -I "$SDK_DIR" -I "$work/bindings" $cflags \
  "${sources[@]}" "$SDK_DIR/trainhost.c" \
  "$work/bindings/plugin.c" "$work/bindings/plugin_component_type.o" \
  -Wl,--strip-debug -o "$work/core.wasm"
"$WASM_TOOLS" print "$work/core.wasm" >"$work/core.wat"
if grep -q '(import "wasi_snapshot_preview1"' "$work/core.wat"; then
  echo "the core module imports WASI preview 1 (a libc call that needs files, a clock or stdio):" >&2
  grep '(import "wasi_snapshot_preview1"' "$work/core.wat" >&2
  exit 1
fi
"$WASM_TOOLS" component new "$work/core.wasm" -o "$work/component.wasm"
mkdir -p "$(dirname "$out")"
mv "$work/component.wasm" "$out"
