#!/usr/bin/env bash
# Tail latency at constant offered rates (issue 24 item 2). wrk at saturation measures queueing,
# and it waits for each answer before sending the next (coordinated omission). Here oha offers a
# fixed rate over 64 connections and, with --latency-correction, counts each request's latency
# from when it was due to be sent, not from when a busy connection got round to it. Checkout and
# the bare /healthz of the same server take turns at each rate, so the machine's drift falls on
# both. One fresh SQLite installation; oha sends the same headers with every request, so one agent
# (holding a floating license) asks throughout.
# Then item 5: checkout at constant rates without and during a burst of 50 sign-ins (argon2),
# started 2 s into the run: p99 during within 2x of without is the target.
#   scripts/bench/rate.sh [RATES [BURST_RATES]]   defaults "1000 5000 10000" and "1000 5000"
# Uses target/release/tessera and tessera-vendor as built; installs oha from crates.io when
# missing. Prints a Markdown table; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
rates=${1:-"1000 5000 10000"}
burst_rates=${2:-"1000 5000"}
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

# A burst of 50 sign-ins 2 s into a checkout run at a constant rate: the run's figures, the time
# the burst took, and how its answers went (a sign-in past the line's limit is told to come back).
# The burst is one oha process with 50 connections: 50 curl processes starting at once cost the
# 2 cores more than the sign-ins themselves (the first measurement, BENCHMARKS.md session 27).
burst() { # rate -> checkout's "req/s p50 p99 p99.9 non-2xx", then "seconds ok refused"
  at "$1" /api/v1/agents/checkout "Authorization: Bearer $token" >"$work/burst.out" &
  local run=$!
  sleep 2
  oha --no-tui --output-format json -n 50 -c 50 -m POST -H "origin: $base" \
    -T application/x-www-form-urlencoded -d 'user_name=admin&password=bench-password-1' \
    "$base/api/login" 2>/dev/null >"$work/signins.json"
  wait "$run"
  cat "$work/burst.out"
  python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
codes = r.get("statusCodeDistribution", {})
print("%.2f" % r["summary"]["total"], sum(n for c, n in codes.items() if c.startswith("2")), codes.get("429", 0))' \
    "$work/signins.json"
}
echo
echo "| offered req/s | checkout, no sign-ins: achieved, p50 / p99 / p99.9 | during 50 sign-ins: achieved, p50 / p99 / p99.9 | p99 during / without | the burst: seconds, signed in, told to retry |"
echo "|---|---|---|---|---|"
for rate in $burst_rates; do
  read -r n n50 n99 n999 _ < <(at "$rate" /api/v1/agents/checkout "Authorization: Bearer $token")
  { read -r d d50 d99 d999 _; read -r bt ok busy; } < <(burst "$rate")
  ratio=$(awk -v a="$d99" -v b="$n99" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
  echo "| $rate | $n req/s, $n50 / $n99 / $n999 ms | $d req/s, $d50 / $d99 / $d999 ms | $ratio | $bt s, $ok, $busy |"
done
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
