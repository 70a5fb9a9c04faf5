#!/usr/bin/env bash
# Two Tessera instances on one PostgreSQL behind a TCP balancer (issue 24 item 6): Debian's
# haproxy, round robin over both. On a fresh database with LICENSES floating licenses (uploaded
# through the real path) and AGENTS agents (more than the licenses, seeded by SQL):
#   - the claim storm: every agent's first checkout, 32 at once, through the balancer, so both
#     instances claim from the same free licenses at once; then the database is asked how many
#     licenses are held: never more than bought;
#   - checkout at 64 connections rotating through 256 of the licensed agents, through the
#     balancer and against one instance directly, with the bare /healthz of each beside them.
#   scripts/bench/instances.sh [LICENSES] [AGENTS]     defaults: 2000 2500
# Uses target/release/tessera and tessera-vendor as built. Prints a Markdown table; asserts nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
licenses=${1:-2000}
agents=${2:-2500}
bin=target/release/tessera
vendor=target/release/tessera-vendor
[ -x "$bin" ] && [ -x "$vendor" ] || { echo "instances.sh: needs $bin and $vendor" >&2; exit 1; }
command -v haproxy >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq haproxy >/dev/null; }
pg_isready -q -h 127.0.0.1 -p 5432 || { echo "instances.sh: needs PostgreSQL at 127.0.0.1:5432" >&2; exit 1; }
seed=scripts/bench/seed.py
dur=${TESSERA_BENCH_DURATION:-10s}
pg_admin="postgres://postgres@127.0.0.1:5432"
name="tessera_instances_$$"
db="$pg_admin/$name"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  psql -Xq "$pg_admin/postgres" -c "drop database if exists $name with (force)" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
"$vendor" keygen --out "$work/vendor" >/dev/null 2>&1
. scripts/bench/lib.sh
psql -Xq "$pg_admin/postgres" -c "create database $name"

# The first instance makes the installation; the second joins the same database.
installation one "$bin" 3501 "$db" "$agents" "$licenses"
TESSERA_DATABASE_URL="$db" LEPTOS_SITE_ADDR="127.0.0.1:3502" LEPTOS_SITE_ROOT=target/site \
  TESSERA_LOG=warn "$bin" >"$work/two.log" 2>&1 &
pids+=("$!")
for _ in $(seq 300); do curl -fs http://127.0.0.1:3502/healthz >/dev/null && break; sleep 0.1; done
cat >"$work/haproxy.cfg" <<CFG
global
  maxconn 4096
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend tessera
  bind 127.0.0.1:3500
  default_backend instances
backend instances
  balance roundrobin
  server one 127.0.0.1:3501
  server two 127.0.0.1:3502
CFG
haproxy -f "$work/haproxy.cfg" -db >"$work/haproxy.log" 2>&1 &
pids+=("$!")
for _ in $(seq 100); do curl -fs http://127.0.0.1:3500/healthz >/dev/null && break; sleep 0.1; done

echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
read -r secs ok other < <("$seed" monday http://127.0.0.1:3500 "$work/one.tokens" 32)
held=$(q1 "$db" "select count(*) from certificates where bound_agent_id is not null")
holders=$(q1 "$db" "select count(distinct bound_agent_id) from certificates where bound_agent_id is not null")
holding=$(q1 "$db" "select count(*) from agents where license_id is not null")
echo "| claim storm through the balancer | figure |"
echo "|---|---|"
echo "| agents / licenses | $agents / $licenses |"
echo "| all first checkouts, 32 at once | $secs s: $ok licensed, $other refused or other |"
echo "| licenses held (database) | $held, by $holders agents; $holding agents hold one |"
echo "| over-grant | $([ "$held" -le "$licenses" ] && [ "$held" = "$holding" ] && [ "$ok" = "$held" ] && echo none || echo "**YES**") |"
echo

# The storm served the tokens in their order, so the first 256 were licensed; the rotating load
# counts any other answer as an error.
head -n 256 "$work/one.tokens" >"$work/256"
echo "| checkout, 64 connections, 256 agents rotating | checkout | /healthz | checkout / healthz |"
echo "|---|---|---|---|"
for target in "one instance directly:3501" "both, through haproxy:3500"; do
  label=${target%%:*}; port=${target##*:}
  read -r _ _ h _ < <(load "http://127.0.0.1:$port/healthz" "$(lua)")
  read -r c50 c99 c cerr < <(load "http://127.0.0.1:$port/api/v1/agents/checkout" "$(lua "$work/256")")
  ratio=$(awk -v a="$c" -v b="$h" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
  echo "| $label | $c req/s, p50 $c50 / p99 $c99 ms$([ "$cerr" = 0 ] || echo " ($cerr errors)") | $h req/s | $ratio |"
done
echo
echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
