#!/usr/bin/env bash
# Two builds of the server side by side (issue 22 item 6: "measure size and checkout throughput
# before and after"): each binary's size, then in turns A, B, A, B on fresh SQLite installations
# of its own (256 agents, each holding a floating license), checkout rotating through the 256
# tokens and the Licenses page, 64 connections (wrk). Turns, so the machine's drift falls on both.
#   scripts/bench/ab.sh BINARY-A BINARY-B [SITE-ROOT-A SITE-ROOT-B]
# The site roots (each build's target/site: the WASM client and the style) default to
# target/site for both. Uses target/release/tessera-vendor. Prints a Markdown table; asserts
# nothing.
set -euo pipefail
cd "$(dirname "$0")/../.."
a=$1 b=$2 site_a=${3:-target/site} site_b=${4:-target/site}
vendor=target/release/tessera-vendor
seed=scripts/bench/seed.py
dur=${TESSERA_BENCH_DURATION:-10s}
for f in "$a" "$b" "$vendor"; do [ -x "$f" ] || { echo "ab.sh: needs $f" >&2; exit 1; }; done

work=$(mktemp -d)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT
"$vendor" keygen --out "$work/vendor" >/dev/null 2>&1
. scripts/bench/lib.sh

mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MB", b / 1e6 }'; }
wasm() { awk -v b="$(stat -c %s "$1/pkg/tessera.wasm")" 'BEGIN { printf "%.1f KB", b / 1e3 }'; }

turn() { # label binary site port -> "checkout-req/s p50 p99 | page-req/s p50 p99"
  local label=$1 base="http://127.0.0.1:$4" n bad checkout page pid
  LEPTOS_SITE_ROOT=$3 installation "$label" "$2" "$4" "sqlite://$work/$label.db" 256 256
  read -r n bad _ < <("$seed" claim "$base" "$work/$label.tokens")
  [ "$bad" = 0 ] || { echo "ab.sh: $label: $bad of $n agents not licensed" >&2; exit 1; }
  read -r c50 c99 crps cerr < <(load "$base/api/v1/agents/checkout" "$(lua "$work/$label.tokens")")
  local page_lua
  page_lua=$(lua)
  printf 'wrk.headers["Cookie"] = "tessera_session=%s"\nwrk.headers["Accept"] = "text/html"\n' \
    "$(cat "$work/$label.cookie")" | cat - "$page_lua" >"$page_lua.page"
  read -r p50 p99 prps perr < <(load "$base/settings/licenses" "$page_lua.page")
  pid=$(cat "$work/$label.pid")
  kill "$pid"; wait "$pid" 2>/dev/null || true
  echo "$crps $c50 $c99 $cerr $prps $p50 $p99 $perr"
}

echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg); each figure $dur at 64 connections"
echo
echo "| turn | build | checkout req/s, p50 / p99 ms | Licenses page req/s, p50 / p99 ms |"
echo "|---|---|---|---|"
port=3700
for round in 1 2; do
  for side in A B; do
    if [ "$side" = A ]; then bin=$a site=$site_a; else bin=$b site=$site_b; fi
    read -r crps c50 c99 cerr prps p50 p99 perr < <(turn "$side$round" "$bin" "$site" "$port")
    port=$((port + 1))
    echo "| $round | $side | $crps, $c50 / $c99$([ "$cerr" = 0 ] || echo " ($cerr errors)") | $prps, $p50 / $p99$([ "$perr" = 0 ] || echo " ($perr errors)") |"
  done
done
echo
echo "| build | server binary | WASM client |"
echo "|---|---|---|"
echo "| A: $a | $(mb "$a") | $(wasm "$site_a") |"
echo "| B: $b | $(mb "$b") | $(wasm "$site_b") |"
