#!/usr/bin/env bash
# Tail latency at constant offered rates (issue 24 item 2). wrk at saturation measures queueing,
# and it waits for each answer before sending the next (coordinated omission). Here oha offers a
# fixed rate over 64 connections and, with --latency-correction, counts each request's latency
# from when it was due to be sent, not from when a busy connection got round to it. Checkout and
# the bare /healthz of the same server take turns at each rate, so the machine's drift falls on
# both. One fresh SQLite installation; oha sends the same headers with every request, so one agent
# (holding a floating license) asks throughout.
#   scripts/bench/rate.sh [RATES]     RATES defaults to "1000 5000 10000" (req/s)
# Uses target/release/tessera and tessera-vendor as built; installs oha from crates.io when
# missing. Prints a Markdown table; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
rates=${1:-"1000 5000 10000"}
bin=target/release/tessera
vendor=target/release/tessera-vendor
[ -x "$bin" ] && [ -x "$vendor" ] || { echo "rate.sh: needs $bin and $vendor" >&2; exit 1; }
command -v oha >/dev/null || cargo install oha --locked --version 1.16.0 >/dev/null 2>&1
seed=scripts/bench/seed.py
dur=${TESSERA_BENCH_DURATION:-10s}

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
"$vendor" keygen --out "$work/vendor" >/dev/null 2>&1
. scripts/bench/lib.sh
base=http://127.0.0.1:3600
installation rate "$bin" 3600 "sqlite://$work/rate.db" 1 1
read -r _ bad _ < <("$seed" claim "$base" "$work/rate.tokens")
[ "$bad" = 0 ] || { echo "rate.sh: the agent is not licensed" >&2; exit 1; }
token=$(head -n 1 "$work/rate.tokens")

at() { # rate path [header] -> "req/s p50 p99 p99.9 non-2xx" (ms)
  oha --no-tui --output-format json -z "$dur" -c 64 -q "$1" --latency-correction \
    ${3:+-m POST -H "$3"} "$base$2" 2>/dev/null | python3 -c '
import json, sys
r = json.load(sys.stdin)
p = r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
bad = sum(n for c, n in codes.items() if not c.startswith("2")) + sum(r.get("errorDistribution", {}).values())
ms = lambda s: "%.2f" % (1000 * (s or 0))
print("%d" % r["summary"]["requestsPerSec"], ms(p["p50"]), ms(p["p99"]), ms(p["p99.9"]), bad)'
}

echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| offered req/s | /healthz: achieved, p50 / p99 / p99.9 | checkout: achieved, p50 / p99 / p99.9 | checkout p99 / healthz p99 |"
echo "|---|---|---|---|"
for rate in $rates; do
  read -r h h50 h99 h999 herr < <(at "$rate" /healthz)
  read -r c c50 c99 c999 cerr < <(at "$rate" /api/v1/agents/checkout "Authorization: Bearer $token")
  ratio=$(awk -v a="$c99" -v b="$h99" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
  errs() { [ "$1" = 0 ] || echo " ($1 not 2xx)"; }
  echo "| $rate | $h req/s, $h50 / $h99 / $h999 ms$(errs "$herr") | $c req/s, $c50 / $c99 / $c999 ms$(errs "$cerr") | $ratio |"
done
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
