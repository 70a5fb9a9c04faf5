#!/usr/bin/env bash
# Many agents (issue 24 items 3 and 4), on SQLite and PostgreSQL: for 2,000 and 20,000 agents, a
# fresh installation with as many floating licenses (uploaded through the real path) and agents
# (seeded by SQL);
#   - a Monday morning: every agent's first checkout (each claims a license), 32 at once;
#   - checkout at 64 connections rotating through 256 of the agents, then through all of them
#     (each agent's grant is remembered until a change or its lease's renewal), with the bare
#     /healthz of the same server beside them.
#   scripts/bench/agents.sh [SIZES]      SIZES defaults to "2000 20000"
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
q1() { # database-url query -> first column of the first row
  case "$1" in
    sqlite*) python3 -c 'import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "${1#sqlite://}" "$2";;
    *) psql -XAt "$1" -c "$2";;
  esac
}

echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| database | agents | Monday morning: all first checkouts, 32 at once | checkout, 256 agents rotating | checkout, all agents rotating | all / 256 | /healthz |"
echo "|---|---|---|---|---|---|---|"
port=3400
for backend in sqlite postgres; do
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
    # 20,000 certificates are 18 MB: over an installation's default package limits.
    TESSERA_DATABASE_URL="$db" TESSERA_ADMIN_PASSWORD=bench-password-1 \
      TESSERA_MAX_CERTIFICATES=100000 TESSERA_MAX_PACKAGE_BYTES=134217728 \
      TESSERA_VENDOR_KEYS="$work/vendor.pub" LEPTOS_SITE_ADDR="127.0.0.1:$port" \
      LEPTOS_SITE_ROOT=target/site TESSERA_LOG=warn "$bin" >"$work/$label.log" 2>&1 &
    pid=$!; pids+=("$pid")
    for _ in $(seq 300); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
    curl -fs -c "$work/$label.cookies" -H "origin: $base" \
      -d 'user_name=admin&password=bench-password-1' "$base/api/login" >/dev/null
    cookie=$(awk '/tessera_session/ {print $7}' "$work/$label.cookies")
    TESSERA_DATABASE_URL="$db" TESSERA_LOG=warn "$bin" request --company-id bench \
      --target-version 1 --out "$work/$label.tlr" >/dev/null
    echo "[{\"type\":\"agent\",\"product\":\"ai-server\",\"product_name\":\"AI Server agent\",\"mode\":\"subscription\",\"days\":365,\"binding\":\"floating\",\"count\":$n}]" >"$work/spec.json"
    "$vendor" issue --key "$work/vendor.key" --request "$work/$label.tlr" --spec "$work/spec.json" \
      --out "$work/$label.lcs" >/dev/null
    id=$(curl -fs -o /dev/null -w '%{redirect_url}' -b "tessera_session=$cookie" -H "origin: $base" \
      -F "package=@$work/$label.lcs" "$base/licenses/upload")
    curl -fs -o /dev/null -b "tessera_session=$cookie" -H "origin: $base" -d "id=${id##*/}" \
      "$base/api/licenses/confirm"
    "$seed" "$db" agents "$n" "$(q1 "$db" "select id from tenants")" "$work/$label.tokens"
    read -r secs ok other < <("$seed" monday "$base" "$work/$label.tokens" 32)
    held=$(q1 "$db" "select count(*) from certificates where bound_agent_id is not null")
    head -n 256 "$work/$label.tokens" >"$work/$label.256"
    read -r _ _ h _ < <(load "$base/healthz" "$(lua)")
    read -r a50 a99 a aerr < <(load "$base/api/v1/agents/checkout" "$(lua "$work/$label.256")")
    read -r b50 b99 b berr < <(load "$base/api/v1/agents/checkout" "$(lua "$work/$label.tokens")")
    ratio=$(awk -v a="$b" -v b="$a" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
    errs() { [ "$1" = 0 ] || echo " ($1 errors)"; }
    echo "| $([ "$backend" = sqlite ] && echo SQLite || echo PostgreSQL) | $n | $secs s, $ok licensed, $other other, $held licenses held | $a req/s, p50 $a50 / p99 $a99 ms$(errs "$aerr") | $b req/s, p50 $b50 / p99 $b99 ms$(errs "$berr") | $ratio | $h req/s |"
    kill "$pid" 2>/dev/null || true
  done
done
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
