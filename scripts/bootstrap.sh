#!/usr/bin/env bash
# Installs what building and testing Tessera needs, once; quick when all is present.
#   - the wasm32 target, cargo-leptos 0.3.11 and wasm-bindgen-cli (= the app's wasm-bindgen)
#   - npm packages of end2end/ (Playwright, and binaryen's wasm-opt: Debian's breaks hydration)
#   - Debian's Chromium for the browser tests, and promtool (only with --browser)
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130
CARGO_LEPTOS_VERSION=0.3.11
export PATH="$HOME/.cargo/bin:$PATH"
say() { printf 'bootstrap: %s\n' "$*" >&2; }

rustup target list --installed | grep -qx wasm32-unknown-unknown \
  || { say "adding the wasm32 target"; rustup target add wasm32-unknown-unknown; }

# How the tools are built: they are run a few times per build, so their own speed hardly
# matters, and their release profiles ask for what costs most to compile (cargo-leptos: fat LTO
# in one codegen unit). Optimised at level 1, without LTO, in the default 16 units instead.
tool_profile=(CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16
  CARGO_PROFILE_RELEASE_OPT_LEVEL=1 CARGO_PROFILE_RELEASE_DEBUG=false CARGO_INCREMENTAL=0)

# cargo install of a crate whose lock file needs one dependency held back for rustc 1.95: its
# source straight from crates.io (no build that fails first), the pins, one build.
install_pinned() { # crate version binary "pkg@precise ..."
  local crate=$1 version=$2 bin=$3 pins=$4
  if command -v "$bin" >/dev/null && "$bin" --version 2>/dev/null | grep -q "$version"; then return; fi
  say "installing $crate $version (a one-off of some minutes)"
  local work
  work=$(mktemp -d)
  local src
  src=$(ls -d "$HOME"/.cargo/registry/src/*/"$crate-$version" 2>/dev/null | head -n1 || true)
  if [ -n "$src" ]; then
    cp -r "$src/." "$work/"
  else
    curl -fsSL "https://static.crates.io/crates/$crate/$crate-$version.crate" \
      | tar -xz -C "$work" --strip-components=1
  fi
  for pin in $pins; do (cd "$work" && cargo update -q -p "${pin%@*}" --precise "${pin#*@}"); done
  (cd "$work" && env "${tool_profile[@]}" CARGO_TARGET_DIR="$HOME/.cache/tessera-tools-target" \
    cargo install --path . --locked)
  rm -rf "$work"
}
install_pinned cargo-leptos "$CARGO_LEPTOS_VERSION" cargo-leptos "cargo-util-schemas@0.14.1"
install_pinned wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen "webpki-roots@1.0.10"

if [ ! -x end2end/node_modules/.bin/wasm-opt ] || [ end2end/package.json -nt end2end/node_modules/.package-lock.json ]; then
  say "installing npm packages of end2end/"
  (cd end2end && npm ci --no-audit --no-fund)
fi

if [ "${1:-}" = "--browser" ] && ! command -v promtool >/dev/null; then
  say "installing Debian's Prometheus, for promtool (the alert rules' check)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
fi
if [ "${1:-}" = "--browser" ] && ! command -v systemd-analyze >/dev/null; then
  say "installing Debian's systemd, for systemd-analyze (the unit file's check)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null
fi

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's Chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
