#!/usr/bin/env bash
# Runs Tessera: a release build on http://127.0.0.1:3000 over a SQLite file under data/
# (created, and migrated, at start). Installs the build tools first if they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/bootstrap.sh
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
cargo leptos build --release
export LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}"
exec target/release/tessera "$@"
