#!/usr/bin/env bash
# Runs every test: format and lints of both builds, unit and integration tests on SQLite and
# PostgreSQL, the browser tests in Debian's Chromium, and a short fuzzing of the package parser.
# Installs what is missing first.
set -euo pipefail
cd "$(dirname "$0")/.."

# Each step's time, printed at the end (README, "The test command's time" keeps the figures).
timings=()
current=""
since=$SECONDS
step() {
  [ -z "$current" ] || timings+=("$(printf '%6d s  %s' $((SECONDS - since)) "$current")")
  current="$*"
  since=$SECONDS
  [ -z "$current" ] || printf '\n==> %s\n' "$*" >&2
}
report_times() {
  local status=$?
  step ""
  printf '\n==> time by step%s\n' "$([ $status -eq 0 ] || echo " (stopped: exit $status)")" >&2
  printf '%s\n' "${timings[@]}" >&2
  printf '%6d s  in all\n' "$SECONDS" >&2
}
trap report_times EXIT

step "tools (scripts/bootstrap.sh: wasm32 target, cargo-leptos, wasm-bindgen, npm, Chromium)"
scripts/bootstrap.sh --browser
export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
# One build of each kind, made once: incremental compilation's caches would only fill the disk
# (several GiB for the test build alone).
export CARGO_INCREMENTAL=0

step "format"
cargo fmt --all -- --check

step "lint: server build (ssr)"
cargo clippy --features ssr --all-targets -- -D warnings
step "lint: client build (hydrate)"
cargo clippy --lib --no-default-features --features hydrate --target wasm32-unknown-unknown -- -D warnings
step "lint: the format crate (with and without verify), the vendor tool and the agent kit"
cargo clippy -p tessera-license -p tessera-vendor -p tessera-agent --all-targets -- -D warnings
cargo clippy -p tessera-license --no-default-features -- -D warnings

step "release build with the test clock (server, WASM client, and the vendor tool the browser tests issue packages with)"
# The browser tests' clock specs move the server's clock through POST /__test/clock, which only a
# build with the cargo feature `test-clock` has (Administrators only, and only with
# TESSERA_TEST_CLOCK=1). `--bin-features` replaces Cargo.toml's `bin-features` for the server
# only (test-clock turns on ssr); the WASM client is built as always. That a build without the
# feature has no such route is checked from the route table by the integration tests
# (tests/integration/access.rs), which are built without it. scripts/run.sh builds without it.
# The commit `--version` names is fixed for this build (build.rs otherwise asks git, and builds the
# server and the WASM client again whenever HEAD moves, about 6 minutes here, even for a commit
# that changes no code): nothing the tests run reads it.
TESSERA_COMMIT=test-build cargo leptos build --release --bin-features test-clock
# Its own crate, on the format crate alone: none of the server's dependencies.
cargo build --release -p tessera-vendor

step "PostgreSQL at 127.0.0.1:5432"
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi

step "unit and integration tests (SQLite and PostgreSQL)"
# A failure's message and place, not pages of backtrace that push them out of a CI excerpt.
# Four tests at a time on 2 cores: each waits on its databases' commits and its server's answers
# for much of its time (2 at a time: 260 s; 4: 200-214 s; 8: 210 s with both cores full, and the
# slowest tests slower). RUST_TEST_THREADS in the environment wins.
RUST_BACKTRACE=0 RUST_TEST_THREADS="${RUST_TEST_THREADS:-4}" \
  TESSERA_TEST_POSTGRES="${TESSERA_TEST_POSTGRES:-postgres://postgres@127.0.0.1:5432}" \
  cargo test --features ssr
step "the format crate, the vendor tool against OpenSSL, and the agent kit"
cargo test -p tessera-license -p tessera-vendor -p tessera-agent

step "deployment files: the example alert rules (promtool), the systemd unit (systemd-analyze)"
promtool check rules contrib/prometheus/tessera-alerts.yml
if [ -f contrib/tessera.service ]; then
  # Checked with ExecStart pointing at a binary that exists here.
  unit=$(mktemp -d)/tessera.service
  sed "s|^ExecStart=[^ ]*|ExecStart=$PWD/target/release/tessera|" contrib/tessera.service >"$unit"
  systemd-analyze verify "$unit"
fi

step "the agent API fuzzed from its OpenAPI document, 60 s (schemathesis; scripts/api-fuzz.sh)"
scripts/api-fuzz.sh 60

step "browser tests (Playwright, Debian's Chromium)"
(cd end2end && npx playwright test)

step "fuzz the package parser, 60 s (the long run: scripts/fuzz.sh 3000, figures in BENCHMARKS.md)"
scripts/fuzz.sh 60
