#!/usr/bin/env bash
# Installs what building and testing Tessera needs, once; quick when all is present.
#   - the wasm32 target, cargo-leptos 0.3.11 and wasm-bindgen-cli (= the app's wasm-bindgen)
#   - npm packages of end2end/ (Playwright, and binaryen's wasm-opt: Debian's breaks hydration)
#   - Debian's Chromium for the browser tests (only with --browser)
set -euo pipefail
cd "$(dirname "$0")/.."

WASM_BINDGEN_VERSION=0.2.130
CARGO_LEPTOS_VERSION=0.3.11
export PATH="$HOME/.cargo/bin:$PATH"
say() { printf 'bootstrap: %s\n' "$*" >&2; }

rustup target list --installed | grep -qx wasm32-unknown-unknown \
  || { say "adding the wasm32 target"; rustup target add wasm32-unknown-unknown; }

# cargo install of a crate whose lock file needs one dependency held back for rustc 1.95.
install_pinned() { # crate version binary "pkg@precise ..."
  local crate=$1 version=$2 bin=$3 pins=$4
  if command -v "$bin" >/dev/null && "$bin" --version 2>/dev/null | grep -q "$version"; then return; fi
  say "installing $crate $version (a one-off of several minutes)"
  local src
  src=$(ls -d "$HOME"/.cargo/registry/src/*/"$crate-$version" 2>/dev/null | head -n1 || true)
  if [ -z "$src" ]; then
    # Unpacks the source into the registry; the build itself may fail on this rustc, which is fine.
    cargo install "$crate" --version "$version" --locked --root "$(mktemp -d)" >/dev/null 2>&1 || true
    src=$(ls -d "$HOME"/.cargo/registry/src/*/"$crate-$version" | head -n1)
  fi
  local work
  work=$(mktemp -d)
  cp -r "$src/." "$work/"
  for pin in $pins; do (cd "$work" && cargo update -p "${pin%@*}" --precise "${pin#*@}"); done
  (cd "$work" && CARGO_TARGET_DIR="$HOME/.cache/tessera-tools-target" cargo install --path . --locked)
  rm -rf "$work"
}
install_pinned cargo-leptos "$CARGO_LEPTOS_VERSION" cargo-leptos "cargo-util-schemas@0.14.1"
install_pinned wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen "webpki-roots@1.0.10"

if [ ! -x end2end/node_modules/.bin/wasm-opt ] || [ end2end/package.json -nt end2end/node_modules/.package-lock.json ]; then
  say "installing npm packages of end2end/"
  (cd end2end && npm ci --no-audit --no-fund)
fi

if [ "${1:-}" = "--browser" ] && [ ! -x /usr/bin/chromium ]; then
  say "installing Debian's Chromium"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
