#!/usr/bin/env bash
# Starts the release build for the browser tests on a fresh database, trusting a vendor key made
# for this run (the tests issue packages with it through tessera-vendor).
set -euo pipefail
cd "$(dirname "$0")"
rm -rf .data && mkdir -p .data
../target/release/tessera-vendor keygen --out .data/vendor >/dev/null 2>&1
export TESSERA_VENDOR_KEYS=".data/vendor.pub"
export TESSERA_DATABASE_URL="sqlite://.data/e2e.db"
export TESSERA_ADMIN_PASSWORD="admin-password-1"
export LEPTOS_SITE_ADDR="127.0.0.1:${1:-3210}"
export LEPTOS_SITE_ROOT="../target/site"
# Mounts POST /__test/clock, which zz-expiry.spec.ts moves the clock with.
export TESSERA_TEST_CLOCK=1
exec ../target/release/tessera
