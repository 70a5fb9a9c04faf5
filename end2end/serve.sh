#!/usr/bin/env bash
# Starts the release build for the browser tests on a fresh database of its own (.data/PORT/),
# trusting a vendor key made for this run (the tests issue packages with it through
# tessera-vendor). Usage: serve.sh PORT [clock]. playwright.config.ts starts two: the specs that
# move the clock get a server of their own, the only one that lets them.
set -euo pipefail
cd "$(dirname "$0")"
port="${1:-3210}"
data=".data/$port"
rm -rf "$data" && mkdir -p "$data"
../target/release/tessera-vendor keygen --out "$data/vendor" >/dev/null 2>&1
export TESSERA_VENDOR_KEYS="$data/vendor.pub"
export TESSERA_DATABASE_URL="sqlite://$data/e2e.db"
export TESSERA_ADMIN_PASSWORD="admin-password-1"
export LEPTOS_SITE_ADDR="127.0.0.1:$port"
export LEPTOS_SITE_ROOT="../target/site"
# Mounts POST /__test/clock, which the clock project's specs move the clock with (as the
# administrator): the release must have been built with the cargo feature `test-clock`
# (scripts/test.sh: cargo leptos build --release --bin-features test-clock).
# The main server names a vendor contact, the clock one none: the request page is seen both ways.
if [ "${2:-}" = clock ]; then
  export TESSERA_TEST_CLOCK=1
else
  export TESSERA_VENDOR_EMAIL="licensing@vendor.example"
  export TESSERA_VENDOR_URL="https://portal.vendor.example/licenses"
fi
exec ../target/release/tessera
