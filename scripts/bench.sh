#!/usr/bin/env bash
# Benchmarks of the release build: page and server-function latency, package verification and
# storage at 10,000 certificates, the Licenses list at 50,000, agent checkout against the bare
# endpoint on SQLite and PostgreSQL, memory, and the client's size.
# Prints a table and writes it to BENCHMARKS.md (between the "generated" markers). Needs the
# release build (./scripts/test.sh or ./scripts/run.sh make it) and wrk; installs wrk if missing.
#   ./scripts/bench.sh           full run (about 12 minutes)
#   ./scripts/bench.sh --quick   fewer certificates and shorter loads (about 1 minute)
set -euo pipefail
cd "$(dirname "$0")/.."
quick=false
[ "${1:-}" = "--quick" ] && quick=true
if $quick; then per_package=2000; packages=2; dur=3s; else per_package=10000; packages=5; dur=10s; fi

python3 -c "import brotli" 2>/dev/null || pip install -q brotli >/dev/null 2>&1 || true
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
[ -x target/release/tessera ] && [ -x target/release/tessera-vendor ] || {
  echo "bench: build first: cargo leptos build --release && cargo build --release --no-default-features --features ssr --bin tessera-vendor" >&2
  exit 1
}

work=$(mktemp -d)
port=3377
base="http://127.0.0.1:$port"
target/release/tessera-vendor keygen --out "$work/vendor" >/dev/null 2>&1
TESSERA_DATABASE_URL="sqlite://$work/bench.db" TESSERA_ADMIN_PASSWORD=bench-password-1 \
  TESSERA_VENDOR_KEYS="$work/vendor.pub" TESSERA_MAX_PACKAGE_BYTES=33554432 \
  LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT=target/site TESSERA_LOG=warn \
  target/release/tessera >"$work/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done

rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$server/status"; }
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$server/status"; }
rows=()
row() { rows+=("| $1 | $2 |"); printf '%-58s %s\n' "$1" "$2"; }

sleep 1
row "idle RSS after start" "$(rss) MiB"

# Latency of a page and of the bare endpoint, server side as seen by wrk on loopback.
lat() { # path [lua script] [connections] -> "p50 / p99 ms, N req/s"
  local script=()
  [ -n "${2:-}" ] && script=(-s "$2")
  local c=${3:-16}
  local t=$((c < 2 ? 1 : 2))
  wrk -t"$t" -c"$c" -d"$dur" --latency "${script[@]}" "$base$1" 2>/dev/null | awk '
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} /Requests\/sec/ {rps=$2}
    END {printf "p50 %s / p99 %s, %d req/s", p50, p99, rps}'
}
row "GET /healthz (16 connections)" "$(lat /healthz)"
row "GET /login, server-rendered (16 connections)" "$(lat /login)"
row "GET /login, server-rendered (1 connection)" "$(lat /login "" 1)"

curl -fs -c "$work/cookies" -H "origin: $base" -d 'user_name=admin&password=bench-password-1' \
  "$base/api/login" >/dev/null
cookie=$(awk '/tessera_session/ {print $7}' "$work/cookies")

# Packages of agent licenses; the first one also carries the platform license.
cat >"$work/spec.json" <<EOF
[{"type":"agent","product":"ai-server","product_name":"AI Server agent","mode":"subscription","days":365,"binding":"floating","count":$per_package}]
EOF
TESSERA_DATABASE_URL="sqlite://$work/bench.db" TESSERA_LOG=warn \
  target/release/tessera request --company-id bench --target-version 1 --out "$work/req.tlr"
upload() { # file -> staged id, prints seconds
  curl -fs -o /dev/null -w '%{redirect_url} %{time_total}\n' -b "tessera_session=$cookie" \
    -H "origin: $base" -F "package=@$1" "$base/licenses/upload"
}
confirm() { # id -> seconds
  curl -fs -o /dev/null -w '%{time_total}' -b "tessera_session=$cookie" -H "origin: $base" \
    -d "id=$1" "$base/api/licenses/confirm"
}
for i in $(seq "$packages"); do
  target/release/tessera-vendor issue --key "$work/vendor.key" --request "$work/req.tlr" \
    --spec "$work/spec.json" --out "$work/p$i.lcs" >/dev/null 2>&1
  read -r url secs < <(upload "$work/p$i.lcs")
  id=${url##*/}
  csecs=$(confirm "$id")
  if [ "$i" = 1 ]; then
    size=$(du -k "$work/p1.lcs" | cut -f1)
    row "verify and preview $per_package certificates (${size} KiB upload)" "${secs} s"
    row "confirm (store) $per_package certificates" "${csecs} s"
  fi
done
total=$((per_package * packages))
row "peak RSS after $packages uploads of $per_package" "$(hwm) MiB"

list_script() { # form body -> lua file
  local f="$work/$RANDOM.lua"
  printf 'wrk.method = "POST"\nwrk.body = "%s"\nwrk.headers["Content-Type"] = "application/x-www-form-urlencoded"\nwrk.headers["Cookie"] = "tessera_session=%s"\nwrk.headers["Origin"] = "%s"\n' "$1" "$cookie" "$base" >"$f"
  echo "$f"
}
q='query[sort]=installed&query[descending]=true&query[page]=1'
row "Licenses list at $total, first page (server fn, 1 connection)" "$(lat /api/licenses/list "$(list_script "query[q]=&$q")" 1)"
row "Licenses list at $total, search \"agent\" (1 connection)" "$(lat /api/licenses/list "$(list_script "query[q]=agent&$q")" 1)"
row "Licenses list at $total, sorted by product (1 connection)" "$(lat /api/licenses/list "$(list_script "query[q]=&query[sort]=product&query[descending]=false&query[page]=1")" 1)"
row "Licenses list at $total, sorted by status, page 400 (1 connection)" "$(lat /api/licenses/list "$(list_script "query[q]=&query[sort]=status&query[descending]=false&query[page]=400")" 1)"
page_script="$work/page.lua"
printf 'wrk.headers["Cookie"] = "tessera_session=%s"\nwrk.headers["Accept"] = "text/html"\n' "$cookie" >"$page_script"
row "GET /settings/licenses page at $total (SSR, signed in, 1 connection)" "$(lat /settings/licenses "$page_script" 1)"
row "RSS after the loads" "$(rss) MiB"

# Agent checkout against the bare endpoint of the same server, side by side, on SQLite (this
# server) and on PostgreSQL (a second server on a fresh database). 256 agents, each with its own
# token and floating license; wrk rotates through them.
pct_lua() { # [tokens file] -> lua file reporting p50/p99/p99.9 and throughput
  local f="$work/$RANDOM.lua"
  if [ -n "${1:-}" ]; then
    { echo 'wrk.method = "POST"'; echo 'tokens = {}'
      while read -r t; do echo "tokens[#tokens+1] = \"$t\""; done <"$1"
      echo 'i = 0'
      echo 'request = function() i = i % #tokens + 1; return wrk.format(nil, nil, {Authorization = "Bearer " .. tokens[i]}) end'
    } >"$f"
  fi
  cat >>"$f" <<'LUA'
done = function(s, lat, req)
  io.write(string.format("RESULT %.2f %.2f %.2f %d %d\n", lat:percentile(50)/1000, lat:percentile(99)/1000,
    lat:percentile(99.9)/1000, s.requests / (s.duration / 1e6), s.errors.status + s.errors.connect + s.errors.timeout))
end
LUA
  echo "$f"
}
agents_for() { # base enrollment-key n -> tokens file
  local out="$work/tokens-$RANDOM"
  for i in $(seq "$3"); do
    curl -fs -H 'content-type: application/json' -d "{\"enrollment_key\":\"$2\",\"machine_id\":\"bench-$i\"}" \
      "$1/api/v1/agents/register" | python3 -c 'import json,sys;print(json.load(sys.stdin)["token"])'
  done >"$out"
  while read -r t; do curl -fs -o /dev/null -X POST -H "authorization: Bearer $t" "$1/api/v1/agents/checkout"; done <"$out"
  echo "$out"
}
key_of() { # database url -> the default tenant's enrollment key
  case "$1" in
    sqlite*) python3 -c 'import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute("select enrollment_key from tenants where is_default").fetchone()[0])' "${1#sqlite://}";;
    *) psql -At "$1" -c 'select enrollment_key from tenants where is_default' ;;
  esac
}
checkout_rows() { # label base tokens
  local healthz_lua checkout_lua
  healthz_lua=$(pct_lua); checkout_lua=$(pct_lua "$3")
  for c in $checkout_conns; do
    local t=$((c < 2 ? 1 : 2))
    read -r _ b50 b99 b999 brps berr < <(wrk -t"$t" -c"$c" -d"$dur" -s "$healthz_lua" "$2/healthz" 2>/dev/null | grep RESULT)
    read -r _ c50 c99 c999 crps cerr < <(wrk -t"$t" -c"$c" -d"$dur" -s "$checkout_lua" "$2/api/v1/agents/checkout" 2>/dev/null | grep RESULT)
    row "$1 checkout vs /healthz, $c connections" "checkout p50 $c50 / p99 $c99 / p99.9 $c999 ms, $crps req/s ($cerr errors); healthz p50 $b50 / p99 $b99 / p99.9 $b999 ms, $brps req/s; ratio $(python3 -c "print(round($crps/max($brps,1),2))")"
  done
}
if $quick; then checkout_conns="1 64"; else checkout_conns="1 16 64 256"; fi
checkout_rows "SQLite:" "$base" "$(agents_for "$base" "$(key_of "sqlite://$work/bench.db")" 256)"

pg_admin="postgres://postgres@127.0.0.1:5432"
pg_db="tessera_bench_$$"
if psql -q "$pg_admin/postgres" -c "create database $pg_db" 2>/dev/null; then
  pg_port=3378
  TESSERA_DATABASE_URL="$pg_admin/$pg_db" TESSERA_ADMIN_PASSWORD=bench-password-1 \
    TESSERA_VENDOR_KEYS="$work/vendor.pub" LEPTOS_SITE_ADDR="127.0.0.1:$pg_port" \
    LEPTOS_SITE_ROOT=target/site TESSERA_LOG=warn target/release/tessera >"$work/pg.log" 2>&1 &
  pg_server=$!
  trap 'kill $server $pg_server 2>/dev/null; psql -q "$pg_admin/postgres" -c "drop database if exists $pg_db with (force)" 2>/dev/null; rm -rf "$work"' EXIT
  pg_base="http://127.0.0.1:$pg_port"
  for _ in $(seq 100); do curl -fs "$pg_base/healthz" >/dev/null && break; sleep 0.1; done
  curl -fs -c "$work/pg-cookies" -H "origin: $pg_base" -d 'user_name=admin&password=bench-password-1' "$pg_base/api/login" >/dev/null
  pg_cookie=$(awk '/tessera_session/ {print $7}' "$work/pg-cookies")
  TESSERA_DATABASE_URL="$pg_admin/$pg_db" TESSERA_LOG=warn \
    target/release/tessera request --company-id bench --target-version 1 --out "$work/pg-req.tlr"
  echo '[{"type":"agent","product":"ai-server","product_name":"AI Server agent","mode":"subscription","days":365,"binding":"floating","count":300}]' >"$work/pg-spec.json"
  target/release/tessera-vendor issue --key "$work/vendor.key" --request "$work/pg-req.tlr" \
    --spec "$work/pg-spec.json" --out "$work/pg.lcs" >/dev/null 2>&1
  url=$(curl -fs -o /dev/null -w '%{redirect_url}' -b "tessera_session=$pg_cookie" -H "origin: $pg_base" \
    -F "package=@$work/pg.lcs" "$pg_base/licenses/upload")
  curl -fs -o /dev/null -b "tessera_session=$pg_cookie" -H "origin: $pg_base" -d "id=${url##*/}" "$pg_base/api/licenses/confirm"
  checkout_rows "PostgreSQL:" "$pg_base" "$(agents_for "$pg_base" "$(key_of "$pg_admin/$pg_db")" 256)"
else
  row "PostgreSQL checkout" "skipped: no PostgreSQL at 127.0.0.1:5432"
fi

wasm=target/site/pkg/tessera.wasm
row "client WASM raw / gzip -9 / brotli (python)" "$(stat -c %s $wasm) / $(gzip -9 -c $wasm | wc -c) / $(python3 -c "import brotli,sys;print(len(brotli.compress(open('$wasm','rb').read(),quality=11)))" 2>/dev/null || echo n/a) bytes"
row "client JS / CSS" "$(stat -c %s target/site/pkg/tessera.js) / $(stat -c %s target/site/pkg/tessera.css) bytes"
enc=$(curl -fs -o /dev/null -w '%{size_download}' -H 'accept-encoding: br' "$base/pkg/tessera.wasm")
row "WASM as served with Accept-Encoding: br" "$enc bytes"
row "server binary" "$(stat -c %s target/release/tessera) bytes"

{
  echo "<!-- generated by scripts/bench.sh$($quick && echo ' --quick') -->"
  echo "Run $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, commit $(git rev-parse --short HEAD), SQLite."
  echo
  echo "| measure | figure |"
  echo "|---|---|"
  printf '%s\n' "${rows[@]}"
  echo "<!-- end generated -->"
} >"$work/table.md"
python3 - "$work/table.md" <<'EOF'
import re, sys
table = open(sys.argv[1]).read()
doc = open("BENCHMARKS.md").read()
pattern = re.compile(r"<!-- generated by scripts/bench\.sh.*?<!-- end generated -->\n?", re.S)
doc = pattern.sub(lambda _: table, doc) if pattern.search(doc) else doc + "\n" + table
open("BENCHMARKS.md", "w").write(doc)
EOF
echo "bench: written to BENCHMARKS.md"
