#!/usr/bin/env bash
# Many agents (issue 24 items 3 and 4), on SQLite and PostgreSQL: for 2,000 and 20,000 agents, a
# fresh installation with as many floating licenses (uploaded through the real path) and agents
# (seeded by SQL);
#   - a Monday morning: every agent's first checkout (each claims a license), 32 at once;
#   - checkout at 64 connections rotating through 256 of the agents, then through all of them
#     (each agent's grant is remembered until a change or its lease's renewal), with the bare
#     /healthz of the same server beside them, and the grant cache's misses in the last pass
#     (tessera_grant_cache_total from /metrics): item 4's cause, apart from the machine's noise.
#   scripts/bench/agents.sh [SIZES]      SIZES defaults to "2000 20000"
#   TESSERA_BENCH_BACKENDS=postgres      one database only (default "sqlite postgres")
# Uses target/release/tessera and tessera-vendor as built. Prints a Markdown table; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
sizes=${1:-"2000 20000"}
bin=target/release/tessera
vendor=target/release/tessera-vendor
[ -x "$bin" ] && [ -x "$vendor" ] || { echo "agents.sh: needs $bin and $vendor" >&2; exit 1; }
seed=scripts/bench/seed.py
dur=${TESSERA_BENCH_DURATION:-10s}
pg_admin="postgres://postgres@127.0.0.1:5432"

work=$(mktemp -d)
pids=()
dbs=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for d in "${dbs[@]}"; do psql -Xq "$pg_admin/postgres" -c "drop database if exists $d with (force)" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
"$vendor" keygen --out "$work/vendor" >/dev/null 2>&1

. scripts/bench/lib.sh
echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| database | agents | Monday morning: all first checkouts, 32 at once | checkout, 256 agents rotating | checkout, all agents rotating (a first pass) | all / 256 | grant cache: misses / answers, all rotating | /healthz |"
echo "|---|---|---|---|---|---|---|---|"
export TESSERA_METRICS=true
cache() { # base -> "hits misses" so far
  curl -fs "$1/metrics" | awk -F'"' '/^tessera_grant_cache_total/ {split($3, v, " "); n[$2] = v[2]}
    END {printf "%d %d\n", n["hit"], n["miss"]}'
}
port=3400
for backend in ${TESSERA_BENCH_BACKENDS:-sqlite postgres}; do
  for n in $sizes; do
    port=$((port + 1))
    base="http://127.0.0.1:$port"
    label="$backend-$n"
    if [ "$backend" = sqlite ]; then
      db="sqlite://$work/$label.db"
    else
      pg_isready -q -h 127.0.0.1 -p 5432 || { echo "| PostgreSQL | $n | skipped: no PostgreSQL at 127.0.0.1:5432 |"; continue; }
      name="tessera_agents_$$_$n"; dbs+=("$name")
      psql -Xq "$pg_admin/postgres" -c "create database $name"
      db="$pg_admin/$name"
    fi
    installation "$label" "$bin" "$port" "$db" "$n" "$n"
    pid=$(cat "$work/$label.pid")
    read -r secs ok other < <("$seed" monday "$base" "$work/$label.tokens" 32)
    held=$(q1 "$db" "select count(*) from certificates where bound_agent_id is not null")
    head -n 256 "$work/$label.tokens" >"$work/$label.256"
    read -r _ _ h _ < <(load "$base/healthz" "$(lua)")
    read -r a50 a99 a aerr < <(load "$base/api/v1/agents/checkout" "$(lua "$work/$label.256")")
    # A first pass through all of them runs right after the morning (its rate in brackets); the
    # second measures the steady state.
    read -r _ _ w _ < <(load "$base/api/v1/agents/checkout" "$(lua "$work/$label.tokens")")
    read -r h0 m0 < <(cache "$base")
    read -r b50 b99 b berr < <(load "$base/api/v1/agents/checkout" "$(lua "$work/$label.tokens")")
    read -r h1 m1 < <(cache "$base")
    ratio=$(awk -v a="$b" -v b="$a" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
    errs() { [ "$1" = 0 ] || echo " ($1 errors)"; }
    echo "| $([ "$backend" = sqlite ] && echo SQLite || echo PostgreSQL) | $n | $secs s, $ok licensed, $other other, $held licenses held | $a req/s, p50 $a50 / p99 $a99 ms$(errs "$aerr") | $b req/s, p50 $b50 / p99 $b99 ms$(errs "$berr") ($w req/s) | $ratio | $((m1 - m0)) / $((h1 - h0 + m1 - m0)) | $h req/s |"
    kill "$pid" 2>/dev/null || true
  done
done
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
