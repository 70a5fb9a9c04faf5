#!/usr/bin/env bash
# Checkout throughput with signed leases against a build from before them (issue 23), side by
# side on this machine: each build serves a fresh SQLite installation of its own (256 agents, each
# holding one of 300 floating licenses), and wrk loads checkout and the bare /healthz at 64
# connections, the builds taking turns for three rounds so that the machine's drift falls on both.
#   scripts/bench/leases.sh BEFORE_BINARY [AFTER_BINARY]
# BEFORE_BINARY: a release `tessera` built from before the leases (commit 236b47f's parent), for
# example with `git worktree add /tmp/before 236b47f~1` and `cargo build --release --features ssr
# --bin tessera` there (CARGO_TARGET_DIR=/tmp/before-target). AFTER_BINARY: target/release/tessera.
# Prints a Markdown table; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
before=${1:?usage: scripts/bench/leases.sh BEFORE_BINARY [AFTER_BINARY]}
after=${2:-target/release/tessera}
vendor=target/release/tessera-vendor
[ -x "$before" ] && [ -x "$after" ] && [ -x "$vendor" ] || {
  echo "leases.sh: needs $before, $after and $vendor" >&2; exit 1; }
seed=scripts/bench/seed.py
agents=256; licenses=300; dur=${TESSERA_BENCH_DURATION:-10s}; rounds=3

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
"$vendor" keygen --out "$work/vendor" >/dev/null 2>&1

. scripts/bench/lib.sh

# One installation per build, each agent's first checkout claiming its license.
setup() { # label binary port
  installation "$1" "$2" "$3" "sqlite://$work/$1.db" "$agents" "$licenses" \
    '{"type":"platform","product":"platform","product_name":"Platform","mode":"subscription","days":365}'
  read -r _ bad _ < <("$seed" claim "http://127.0.0.1:$3" "$work/$1.tokens")
  [ "$bad" = 0 ] || { echo "leases.sh: $1: $bad agents not licensed" >&2; exit 1; }
}
setup before "$before" 3391
setup after "$after" 3392
healthz=$(lua)

echo "| round | build | checkout p50 / p99 | checkout req/s | /healthz req/s | checkout / healthz |"
echo "|---|---|---|---|---|---|"
for r in $(seq "$rounds"); do
  for label in before after; do
    port=$([ "$label" = before ] && echo 3391 || echo 3392)
    read -r _ _ h _ < <(load "http://127.0.0.1:$port/healthz" "$healthz")
    read -r c50 c99 c cerr < <(load "http://127.0.0.1:$port/api/v1/agents/checkout" "$(lua "$work/$label.tokens")")
    ratio=$(awk -v a="$c" -v b="$h" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
    echo "| $r | $label | $c50 / $c99 ms | $c$([ "$cerr" = 0 ] || echo " ($cerr errors)") | $h | $ratio |"
  done
done
echo
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
