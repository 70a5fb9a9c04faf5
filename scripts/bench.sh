#!/usr/bin/env bash
# Benchmarks of the release build on a realistic installation: 5 tenants, 50,000 certificates
# (uploaded through the real upload path), 10,000 users, 5,000 personal seats held, 2,000 agents.
# Measures agent checkout against a bare GET /healthz of the same server (1, 16, 64, 256
# connections, SQLite and PostgreSQL), pages, upload (verify-and-preview and confirm of 1,000 and
# 10,000), Apply and recall of 1,000 seats, sign-in (argon2) and checkouts during a burst of
# sign-ins, memory, and the client's size and compression. Prints a table and writes it to
# BENCHMARKS.md (between the "generated" markers), with the machine, date, commit and duration.
#   ./scripts/bench.sh           builds the release if needed, then the full run (about 6.5 minutes)
#   ./scripts/bench.sh --quick   11,000 certificates, shorter loads (under 2 minutes)
#   ./scripts/bench.sh --scale   the large sizes, apart (issue 24; about 30 minutes): every page at
#                                5,000, 50,000 and 500,000 certificates (scripts/bench/pages.sh),
#                                many agents (agents.sh: 2,000 and 20,000 on both databases),
#                                constant offered rates (rate.sh, oha), two instances behind
#                                haproxy (instances.sh); prints their tables, writes nothing
# TESSERA_BENCH_NO_BUILD=1 skips the build step (uses target/release and target/site as they are);
# TESSERA_BENCH_KEEP=FILE keeps a copy of the SQLite installation the pages were measured on.
# Load tool: Debian's wrk (installed if missing). No figure here is asserted; they are compared
# with the issue's targets in the table's last column.
set -euo pipefail
cd "$(dirname "$0")/.."
quick=false
[ "${1:-}" = "--quick" ] && quick=true
scale=false
[ "${1:-}" = "--scale" ] && scale=true
started=$(date +%s)

# --- build: the same lines as scripts/test.sh; quick no-ops when already built ---------------
if [ -z "${TESSERA_BENCH_NO_BUILD:-}" ]; then
  scripts/bootstrap.sh
  export PATH="$PWD/end2end/node_modules/.bin:$HOME/.cargo/bin:$PATH"
  cargo leptos build --release
  cargo build --release -p tessera-vendor
fi
built=$(date +%s)
load_at_start=$(cut -d' ' -f1-3 /proc/loadavg)
if $scale; then
  for part in pages agents rate instances; do
    echo "== scripts/bench/$part.sh"
    "scripts/bench/$part.sh"
  done
  echo "== the large sizes took $(( $(date +%s) - built )) s"
  exit 0
fi

if $quick; then
  sizes="1000 10000"       # packages: 11,000 certificates
  dur=2s; cdur=2s; burst_dur=4s; checkout_conns="1 64"
else
  sizes="1000 9000 10000 10000 10000 10000" # 50,000 certificates
  dur=5s; cdur=10s; burst_dur=6s; checkout_conns="1 16 64 256"
fi
n_users=10000; n_seats=5000; n_agents=2000; n_apply=1000; personal_seats=$((n_seats + n_apply))

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
# A Python with brotli (Debian's python3-brotli lives in /usr/bin/python3).
brpy=""
for p in python3 /usr/bin/python3; do "$p" -c 'import brotli' 2>/dev/null && { brpy=$p; break; }; done
[ -n "$brpy" ] || { DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-brotli >/dev/null 2>&1 || true
  /usr/bin/python3 -c 'import brotli' 2>/dev/null && brpy=/usr/bin/python3; }
[ -x target/release/tessera ] && [ -x target/release/tessera-vendor ] && [ -f target/site/pkg/tessera.wasm ] || {
  echo "bench: no release build (target/release/tessera, tessera-vendor, target/site/pkg)" >&2; exit 1; }
seed=scripts/bench/seed.py

work=$(mktemp -d)
pids=()
pg_db=""
ho_db=""
pg_admin="postgres://postgres@127.0.0.1:5432"
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for d in $pg_db $ho_db; do
    psql -Xq "$pg_admin/postgres" -c "drop database if exists $d with (force)" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

start_server() { # database-url port log [binary] -> pid
  TESSERA_DATABASE_URL="$1" TESSERA_ADMIN_PASSWORD=bench-password-1 \
    TESSERA_VENDOR_KEYS="$work/vendor.pub" TESSERA_MAX_PACKAGE_BYTES=33554432 \
    LEPTOS_SITE_ADDR="127.0.0.1:$2" LEPTOS_SITE_ROOT=target/site TESSERA_LOG=warn \
    "${4:-target/release/tessera}" >"$3" 2>&1 &
  echo $!
}
wait_up() { for _ in $(seq 200); do curl -fs "$1/healthz" >/dev/null && return; sleep 0.1; done; echo "bench: $1 did not start" >&2; exit 1; }
sign_in() { # base -> session cookie
  curl -fs -c "$work/c.txt" -H "origin: $1" -d 'user_name=admin&password=bench-password-1' "$1/api/login" >/dev/null
  awk '/tessera_session/ {print $7}' "$work/c.txt"
}
q1() { # database-url query -> first column of the first row
  case "$1" in
    sqlite*) python3 -c 'import sqlite3,sys;r=sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone();print("" if r is None else r[0])' "${1#sqlite://}" "$2";;
    *) psql -XAt "$1" -c "$2";;
  esac
}
qall() { # database-url query -> first column of every row, comma-separated
  case "$1" in
    sqlite*) python3 -c 'import sqlite3,sys;print(",".join(str(r[0]) for r in sqlite3.connect(sys.argv[1]).execute(sys.argv[2])))' "${1#sqlite://}" "$2";;
    *) psql -XAt "$1" -c "$2" | paste -sd, -;;
  esac
}

rows=()
row() { # measure figure [target] [verdict]
  rows+=("| $1 | $2 | ${3:-} | ${4:-} |")
  printf '%-62s %s%s\n' "$1" "$2" "${3:+   [target $3: ${4:-}]}"
}
below() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "") print "n/a"; else print (a + 0 < b + 0) ? "met" : "not met" }'; }
atleast() { awk -v a="$1" -v b="$2" 'BEGIN { if (a == "") print "n/a"; else print (a + 0 >= b + 0) ? "met" : "not met" }'; }
kb() { awk -v b="$1" 'BEGIN { printf "%.1f KB", b / 1000 }'; }
secs() { awk -v s="$1" 'BEGIN { printf "%.2f s", s }'; }

# wrk with a Lua script whose done() prints "RESULT p50 p99 p99.9 (ms) req/s errors".
mklua() { # Lua setup on stdin -> file
  local f
  f=$(mktemp "$work/XXXXXX.lua")
  cat >"$f"
  cat >>"$f" <<'LUA'
done = function(s, lat, req)
  io.write(string.format("RESULT %.2f %.2f %.2f %d %d\n", lat:percentile(50)/1000, lat:percentile(99)/1000,
    lat:percentile(99.9)/1000, s.requests / (s.duration / 1e6),
    s.errors.status + s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout))
end
LUA
  echo "$f"
}
wrkr() { # connections duration url lua -> "p50 p99 p99.9 req/s errors"
  local t=$(($1 < 2 ? 1 : 2))
  wrk -t"$t" -c"$1" -d"$2" --timeout 10s -s "$4" "$3" 2>/dev/null | awk '/^RESULT/ {print $2, $3, $4, $5, $6}'
}
get_lua() { # base cookie
  mklua <<EOF
wrk.headers["Cookie"] = "tessera_session=$2"
wrk.headers["Accept"] = "text/html"
EOF
}
post_lua() { # base cookie body
  mklua <<EOF
wrk.method = "POST"
wrk.body = "$3"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Cookie"] = "tessera_session=$2"
wrk.headers["Origin"] = "$1"
EOF
}
tokens_lua() { # tokens file: each request the next agent's token
  { echo 'wrk.method = "POST"'; echo 'tokens = {}'
    while read -r t; do echo "tokens[#tokens+1] = \"$t\""; done <"$1"
    echo 'i = 0'
    echo 'request = function() i = i % #tokens + 1; return wrk.format(nil, nil, {Authorization = "Bearer " .. tokens[i]}) end'
  } | mklua
}
errs() { [ "${1:-0}" = 0 ] && echo "" || echo ", $1 errors"; }

# Seeds an installation's agents and lets each claim its floating license (first checkout).
seed_agents() { # label db-url base tenants tokens-file
  local tokens=$5 n bad ms
  "$seed" "$2" agents "$n_agents" "$4" "$tokens"
  read -r n bad ms < <("$seed" claim "$3" "$tokens") || true
  row "$1: first checkout of each of $n agents (claims a floating license), one at a time" \
    "$ms ms each$( [ "$bad" = 0 ] || echo ", $bad not 200")"
}
# The load rotates through the tokens of $rotate agents (each cached grant lives up to 2 s), then
# once more at 64 connections through all 2,000, whose grants expire between two of their turns.
rotate=256
checkout_rows() { # label base tokens-file
  local hl cl c b50 b99 b999 brps berr c50 c99 c999 crps cerr ratio
  hl=$(mklua </dev/null); head -n "$rotate" "$3" >"$3.subset"; cl=$(tokens_lua "$3.subset")
  for c in $checkout_conns; do
    read -r b50 b99 b999 brps berr < <(wrkr "$c" "$cdur" "$2/healthz" "$hl") || true
    read -r c50 c99 c999 crps cerr < <(wrkr "$c" "$cdur" "$2/api/v1/agents/checkout" "$cl") || true
    ratio=$(awk -v a="$crps" -v b="$brps" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
    # At saturation p99 is queueing on 2 shared cores, not checkout's cost: the latency target
    # is read at constant offered rates instead (scripts/bench/rate.sh, issue 24 item 2).
    row "$1 checkout, $c connections, $rotate agents: p50 / p99 / p99.9, throughput" "$c50 / $c99 / $c999 ms, $crps req/s$(errs "$cerr")"
    row "$1 bare /healthz, $c connections, same server" "$b50 / $b99 / $b999 ms, $brps req/s$(errs "$berr")"
    row "$1 checkout / healthz throughput, $c connections" "$ratio" "≥ 0.5" "$(atleast "$ratio" 0.5)"
  done
  read -r c50 c99 c999 crps cerr < <(wrkr 64 "$cdur" "$2/api/v1/agents/checkout" "$(tokens_lua "$3")") || true
  row "$1 checkout, 64 connections, rotating all $n_agents agents" "$c50 / $c99 / $c999 ms, $crps req/s$(errs "$cerr")"
}

# ============================ SQLite: the realistic installation ============================
port=3377
base="http://127.0.0.1:$port"
db="sqlite://$work/bench.db"
target/release/tessera-vendor keygen --out "$work/vendor" >/dev/null 2>&1
server=$(start_server "$db" "$port" "$work/server.log")
pids+=("$server")
wait_up "$base"
rss() { awk '/VmRSS/ {print int($2/1024)}' "/proc/$1/status"; }
hwm() { awk '/VmHWM/ {print int($2/1024)}' "/proc/$1/status"; }
sleep 1
row "server RSS, idle after start (empty database)" "$(rss "$server") MiB"
cookie=$(sign_in "$base")

# Certificates through the real upload path: the first package (1,000) also carries the personal
# license (product crm, $personal_seats seats) and a platform license; the rest are floating agent
# licenses. The last package is the 10,000 measured, uploaded onto the 40,000 before it.
TESSERA_DATABASE_URL="$db" TESSERA_LOG=warn \
  target/release/tessera request --company-id bench --target-version 1 --out "$work/req.tlr"
upload() { # base cookie file -> "staged-id seconds"
  local url s
  read -r url s < <(curl -fs -o /dev/null -w '%{redirect_url} %{time_total}\n' -b "tessera_session=$2" \
    -H "origin: $1" -F "package=@$3" "$1/licenses/upload")
  echo "${url##*/} $s"
}
confirm() { # base cookie id -> seconds
  curl -fs -o /dev/null -w '%{time_total}' -b "tessera_session=$2" -H "origin: $1" -d "id=$3" "$1/api/licenses/confirm"
}
agent_spec() { echo "{\"type\":\"agent\",\"product\":\"ai-server\",\"product_name\":\"AI Server agent\",\"mode\":\"subscription\",\"days\":365,\"binding\":\"floating\",\"count\":$1}"; }
i=0; total=0; last=$(echo $sizes | awk '{print $NF}'); nsizes=$(echo $sizes | wc -w)
for n in $sizes; do
  i=$((i + 1))
  if [ "$i" = 1 ]; then
    echo "[$(agent_spec $((n - 2))),
      {\"type\":\"personal\",\"product\":\"crm\",\"product_name\":\"CRM\",\"mode\":\"subscription\",\"days\":365,\"seats\":$personal_seats},
      {\"type\":\"platform\",\"product\":\"platform\",\"product_name\":\"Platform\",\"mode\":\"subscription\",\"days\":365}]" >"$work/spec.json"
  else
    echo "[$(agent_spec "$n")]" >"$work/spec.json"
  fi
  target/release/tessera-vendor issue --key "$work/vendor.key" --request "$work/req.tlr" \
    --spec "$work/spec.json" --out "$work/p$i.lcs" >/dev/null
  read -r id secs < <(upload "$base" "$cookie" "$work/p$i.lcs")
  csecs=$(confirm "$base" "$cookie" "$id")
  if [ "$i" = 1 ] || [ "$i" = "$nsizes" ]; then
    size=$(du -k "$work/p$i.lcs" | cut -f1)
    if [ "$n" -ge 10000 ]; then target="< 2 s"; verdict=$(below "$secs" 2); else target=""; verdict=""; fi
    row "upload: verify and preview $n certificates (${size} KiB, onto $total)" "$(secs "$secs")" "$target" "$verdict"
    row "upload: confirm (store) $n certificates" "$(secs "$csecs")"
  fi
  total=$((total + n))
done
certs=$(q1 "$db" "select count(*) from certificates")
row "server RSS, peak after the uploads" "$(hwm "$server") MiB"

# Five tenants: four more through the server function.
for t in 2 3 4 5; do
  curl -fs -o /dev/null -b "tessera_session=$cookie" -H "origin: $base" --data-urlencode "name=Tenant $t" "$base/api/tenants/create"
done
tenants=$(qall "$db" "select id from tenants order by is_default desc, name")
admin=$(q1 "$db" "select id from users where name = 'admin'")
personal=$(q1 "$db" "select id from certificates where license_type = 'personal' and product = 'crm'")

# Users, seats and agents straight into the database (one transaction each). The first seat is
# given through Apply, which activates the personal license as the real path does.
t0=$(date +%s.%N)
"$seed" "$db" users "$n_users" "$admin" "$tenants"
curl -fs -o /dev/null -b "tessera_session=$cookie" -H "origin: $base" \
  --data-binary "product=crm&user_ids[0]=$("$seed" "$db" ids 1 1)" "$base/api/seats/apply"
"$seed" "$db" seats crm "$personal" "$admin" 2 "$n_seats"
t1=$(date +%s.%N)
row "seeding by SQL: $n_users users, $n_seats seats (the first by Apply)" "$(secs "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")"
tokens="$work/tokens"
seed_agents "SQLite" "$db" "$base" "$tenants" "$tokens"
row "installation" "$(q1 "$db" "select count(*) from tenants") tenants, $certs certificates, $(q1 "$db" "select count(*) from users") users, $(q1 "$db" "select count(*) from seats") seats held, $(q1 "$db" "select count(*) from agents") agents"

# --- agent checkout against the bare endpoint, side by side --------------------------------
checkout_rows "SQLite:" "$base" "$tokens"

# --- pages: server time on loopback, 1 connection --------------------------------------------
page_row() { # label path lua
  local p50 p99 p999 rps err
  read -r p50 p99 p999 rps err < <(wrkr 1 "$dur" "$base$2" "$3") || true
  row "$1" "p50 $p50 / p99 $p99 ms ($rps req/s$(errs "$err"))" "p99 < 50 ms" "$(below "$p99" 50)"
}
html=$(get_lua "$base" "$cookie")
page_row "page: GET /login (signed out)" /login "$(mklua </dev/null)"
qs='query[sort]=installed&query[descending]=true&query[page]=1'
page_row "Licenses list fn at $certs, first page" /api/licenses/list "$(post_lua "$base" "$cookie" "query[q]=&$qs")"
page_row "Licenses list fn at $certs, search \"agent\" (matches nearly all)" /api/licenses/list "$(post_lua "$base" "$cookie" "query[q]=agent&$qs")"
page_row "Licenses list fn at $certs, search \"CRM\" (one license)" /api/licenses/list "$(post_lua "$base" "$cookie" "query[q]=CRM&$qs")"
page_row "Licenses list fn at $certs, search \"cr\" (too short for the index)" /api/licenses/list "$(post_lua "$base" "$cookie" "query[q]=cr&$qs")"
page_row "Licenses list fn at $certs, sorted by product" /api/licenses/list "$(post_lua "$base" "$cookie" "query[q]=&query[sort]=product&query[descending]=false&query[page]=1")"
page_row "Licenses list fn at $certs, sorted by status, page 400" /api/licenses/list "$(post_lua "$base" "$cookie" "query[q]=&query[sort]=status&query[descending]=false&query[page]=400")"
page_row "page: Settings > Licenses (SSR, summary and first page)" /settings/licenses "$html"
page_row "page: product crm ($n_users users, $n_seats seats held)" /settings/licenses/product/crm "$html"
page_row "page: Agents ($n_agents agents)" /settings/agents "$html"
page_row "page: Settings > Users ($n_users users)" /settings/users "$html"
# TESSERA_BENCH_KEEP=FILE keeps a copy of the installation as the pages saw it, for profiling.
[ -z "${TESSERA_BENCH_KEEP:-}" ] || python3 -c 'import sqlite3,sys
sqlite3.connect(sys.argv[1]).execute("VACUUM INTO ?", (sys.argv[2],))' "${db#sqlite://}" "$TESSERA_BENCH_KEEP"

# --- usage history: what the record costs, and Settings > Usage over a year ------------------
table_bytes() { # sqlite-db table -> bytes of the table and its indexes
  python3 -c 'import sqlite3,sys
c = sqlite3.connect(sys.argv[1])
print(c.execute("select coalesce(sum(pgsize), 0) from dbstat where name = ? or name in (select name from sqlite_master where tbl_name = ? and type = \"index\")", (sys.argv[2], sys.argv[2])).fetchone()[0])' "${1#sqlite://}" "$2"
}
events=$(q1 "$db" "select count(*) from usage_events")
ev_bytes=$(table_bytes "$db" usage_events)
per_event=$(awk -v b="$ev_bytes" -v n="$events" 'BEGIN { if (n > 0) printf "%.0f", b / n }')
row "usage record: bytes per change (table and indexes, SQLite; $events changes)" "$per_event B"
row "usage record: bytes per agent-day (one claim and one release a day; kept 90 days)" \
  "$((2 * per_event)) B ($(awk -v b="$per_event" 'BEGIN { printf "%.0f", 2 * b * 90 / 1024 }') KiB per agent over 90 days)"
usage_pools=50
t0=$(date +%s.%N)
seeded=$("$seed" "$db" usage-history "$usage_pools" "$tenants")
t1=$(date +%s.%N)
ru_bytes=$(table_bytes "$db" usage_rollups)
ru_rows=$(q1 "$db" "select count(*) from usage_rollups")
row "usage history seeded by SQL: a year for $usage_pools pools ($seeded rows)" "$(secs "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")"
row "usage rollups: bytes per row / per pool-day (1,440 minutes kept 14 days, 24 hours kept 400, a day)" \
  "$(awk -v b="$ru_bytes" -v n="$ru_rows" 'BEGIN { printf "%.0f", b / n }') B / $(awk -v b="$ru_bytes" -v n="$ru_rows" 'BEGIN { printf "%.0f KiB", 2 * b / n * 1440 / 1024 }') a day while minutes are kept, $(awk -v b="$ru_bytes" -v n="$ru_rows" 'BEGIN { printf "%.1f KiB", 2 * b / n * 25 / 1024 }') after"
# The history was written under the running server's feet (rows below its roll-up mark, which
# Tessera never does itself: a row before the mark is final, and the usage page keeps what it
# read on that promise). So the usage page is measured on an installation with this year of
# history as it starts: a backup of it (`tessera backup`, while the first server serves) under a
# second server, which reads the first views ahead at start.
TESSERA_DATABASE_URL="$db" TESSERA_LOG=warn target/release/tessera backup --out "$work/usage.db" >/dev/null
main_base=$base
u_port=3381
base="http://127.0.0.1:$u_port"
u_server=$(start_server "sqlite://$work/usage.db" "$u_port" "$work/usage.log")
pids+=("$u_server")
wait_up "$base"
first_view() { # period -> ms
  curl -s -o /dev/null -w '%{time_total}' -b "tessera_session=$cookie" -H 'Accept: text/html' \
    "$base/settings/usage?period=$1" | awk '{ printf "%.1f", $1 * 1000 }'
}
row "page: Settings > Usage, the first view of each period after a start: 365 / 30 days / a day" \
  "$(first_view 365d) / $(first_view 30d) / $(first_view day) ms"
html=$(get_lua "$base" "$cookie")
page_row "page: Settings > Usage, last 365 days, every tenant ($usage_pools pools, $n_agents agents)" "/settings/usage?period=365d" "$html"
page_row "page: Settings > Usage, last 30 days (hours)" "/settings/usage?period=30d" "$html"
page_row "page: Settings > Usage, last day (minutes)" "/settings/usage?period=day" "$html"
page_row "Usage report fn, last 365 days" /api/usage/report "$(post_lua "$base" "$cookie" "filter[period]=365d")"
# The figures are kept between two roll-ups (a minute): the rows above are answered from there
# after their first request. A view built afresh, as the first after each roll-up is: ranges of
# their own, one request each.
fresh_view() { # days -> "median / max" of 15 ranges of that many days, each asked once
  for d in $(seq 1 15); do
    curl -s -o /dev/null -w '%{time_total}\n' -b "tessera_session=$cookie" -H 'Accept: text/html' \
      "$base/settings/usage?period=range&from=$(date -u -d "-$((d + $1 - 1)) days" +%F)&to=$(date -u -d "-$d days" +%F)"
  done | sort -n | awk '{ t[NR] = $1 * 1000 } END { printf "median %.1f / max %.1f ms (15 views)", t[int((NR + 1) / 2)], t[NR] }'
}
row "page: Settings > Usage built afresh (a range no view had asked for), 365 days (days)" "$(fresh_view 365)"
row "page: Settings > Usage built afresh, 30 days (hours)" "$(fresh_view 30)"
row "page: Settings > Usage built afresh, a day (minutes)" "$(fresh_view 1)"
kill "$u_server" 2>/dev/null || true
base=$main_base
html=$(get_lua "$base" "$cookie")

# --- Apply and recall of 1,000 users ---------------------------------------------------------
"$seed" "$db" ids $((n_seats + 1)) $((n_seats + n_apply)) |
  awk 'BEGIN { printf "product=crm" } { printf "&user_ids[%d]=%s", NR - 1, $0 }' >"$work/apply.form"
seats_op() { # endpoint -> "http-code seconds"
  curl -s -o /dev/null -w '%{http_code} %{time_total}' -b "tessera_session=$cookie" -H "origin: $base" \
    -H 'content-type: application/x-www-form-urlencoded' --data-binary "@$work/apply.form" "$base/api/seats/$1"
}
read -r code s < <(seats_op apply) || true
held=$(q1 "$db" "select count(*) from seats")
row "Apply: give $n_apply users a seat of crm (one request)" "$(secs "$s") (HTTP $code; $held seats held after)"
read -r code s < <(seats_op recall) || true
held=$(q1 "$db" "select count(*) from seats")
row "Recall: the same $n_apply seats" "$(secs "$s") (HTTP $code; $held seats held after)"

# --- sign-in: argon2 cost, throughput, and checkouts during a burst of 50 ------------------
one=$(for _ in $(seq 10); do
  curl -s -o /dev/null -w '%{time_total}\n' -H "origin: $base" -d 'user_name=admin&password=bench-password-1' "$base/api/login"
done | awk '{ s += $1 } END { printf "%.1f", s * 1000 / NR }')
row "sign-in, one at a time (argon2id verify; curl, mean of 10)" "$one ms"
login_lua=$(mklua <<EOF
wrk.method = "POST"
wrk.body = "user_name=admin&password=bench-password-1"
wrk.headers["Content-Type"] = "application/x-www-form-urlencoded"
wrk.headers["Origin"] = "$base"
EOF
)
read -r l50 l99 _ lrps lerr < <(wrkr 2 "$dur" "$base/api/login" "$login_lua") || true
row "sign-ins per second (wrk, 2 connections)" "$lrps/s, p50 $l50 / p99 $l99 ms$(errs "$lerr")"
cl=$(tokens_lua "$tokens.subset")
read -r n50 n99 _ nrps nerr < <(wrkr 16 "$burst_dur" "$base/api/v1/agents/checkout" "$cl") || true
row "checkout, 16 connections, $rotate agents, no sign-ins (${burst_dur})" "p50 $n50 / p99 $n99 ms, $nrps req/s$(errs "$nerr")"
wrkr 16 "$burst_dur" "$base/api/v1/agents/checkout" "$cl" >"$work/burst.out" &
wp=$!
sleep 1
b0=$(date +%s.%N)
# One process with 50 threads: 50 curl processes starting at once cost the 2 cores more than the
# sign-ins themselves, and that was what this figure measured (BENCHMARKS.md, session 27).
read -r bok bbusy < <(python3 - "$base" <<'PY'
import concurrent.futures, sys, urllib.error, urllib.request
base = sys.argv[1]
class Stay(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args):
        return None
opener = urllib.request.build_opener(Stay)
def sign_in(_):
    req = urllib.request.Request(base + "/api/login", data=b"user_name=admin&password=bench-password-1",
                                 headers={"origin": base, "content-type": "application/x-www-form-urlencoded"})
    try:
        return opener.open(req).status
    except urllib.error.HTTPError as e:
        return e.code
with concurrent.futures.ThreadPoolExecutor(50) as pool:
    codes = list(pool.map(sign_in, range(50)))
print(sum(c < 400 for c in codes), codes.count(429))
PY
)
b1=$(date +%s.%N)
wait "$wp"
read -r d50 d99 _ drps derr <"$work/burst.out" || true
bt=$(awk -v a="$b0" -v b="$b1" 'BEGIN { print b - a }')
row "burst of 50 concurrent sign-ins during that load" "$(secs "$bt") for all 50: $bok signed in, $bbusy told to retry (429)"
row "checkout, 16 connections, during the burst" "p50 $d50 / p99 $d99 ms, $drps req/s$(errs "$derr")" \
  "p99 ≤ 2× without; ≥ 0.9× req/s (issue 24)" "$(awk -v a="$d99" -v b="$n99" -v r="$drps" -v s="$nrps" 'BEGIN { print (a <= 2 * b && r >= 0.9 * s) ? "met" : "not met" }')"

row "server RSS, after the loads / peak" "$(rss "$server") / $(hwm "$server") MiB"

# ============================ Shortage: refused checkouts beside licensed ones =================
# A second SQLite server with one floating license and 257 agents: the first holds it, the other
# 256 are refused (402) at every checkout. Shortage is when agents retry hardest, so a refusal
# should cost about what a grant costs (issue 21: at least 0.8 of the licensed throughput).
sh_port=3379
sh_base="http://127.0.0.1:$sh_port"
sh_db="sqlite://$work/shortage.db"
sh_server=$(start_server "$sh_db" "$sh_port" "$work/shortage.log")
pids+=("$sh_server")
wait_up "$sh_base"
sh_cookie=$(sign_in "$sh_base")
TESSERA_DATABASE_URL="$sh_db" TESSERA_LOG=warn \
  target/release/tessera request --company-id bench --target-version 1 --out "$work/sh.tlr"
echo "[$(agent_spec 1),
  {\"type\":\"platform\",\"product\":\"platform\",\"product_name\":\"Platform\",\"mode\":\"subscription\",\"days\":365}]" >"$work/sh.json"
target/release/tessera-vendor issue --key "$work/vendor.key" --request "$work/sh.tlr" \
  --spec "$work/sh.json" --out "$work/sh.lcs" >/dev/null
read -r sh_id _ < <(upload "$sh_base" "$sh_cookie" "$work/sh.lcs")
confirm "$sh_base" "$sh_cookie" "$sh_id" >/dev/null
"$seed" "$sh_db" agents 257 "$(q1 "$sh_db" "select id from tenants")" "$work/sh.tokens"
head -n 1 "$work/sh.tokens" >"$work/sh.licensed"
tail -n 256 "$work/sh.tokens" >"$work/sh.refused"
"$seed" claim "$sh_base" "$work/sh.licensed" >/dev/null
read -r l50 l99 l999 lrps lerr < <(wrkr 64 "$cdur" "$sh_base/api/v1/agents/checkout" "$(tokens_lua "$work/sh.licensed")") || true
read -r r50 r99 r999 rrps rerr < <(wrkr 64 "$cdur" "$sh_base/api/v1/agents/checkout" "$(tokens_lua "$work/sh.refused")") || true
row "shortage (SQLite): licensed checkout, 64 connections, the agent holding the one license" "$l50 / $l99 / $l999 ms, $lrps req/s$(errs "$lerr")"
row "shortage (SQLite): refused checkout (402), 64 connections, 256 agents rotating" "$r50 / $r99 / $r999 ms, $rrps req/s ($rerr answers 402, as they must be)"
sh_ratio=$(awk -v a="$rrps" -v b="$lrps" 'BEGIN { if (b > 0) printf "%.2f", a / b }')
row "shortage: refused / licensed throughput" "$sh_ratio" "≥ 0.8" "$(atleast "$sh_ratio" 0.8)"
row "shortage: refusals written to the database after the load (counted in memory, written every second)" "$(sleep 2; q1 "$sh_db" "select sum(refused_count) from agents")"
kill "$sh_server" 2>/dev/null || true

# --- side by side with an earlier build (TESSERA_BENCH_BEFORE=path/to/its/tessera) -----------
# The licensed checkout above, served by this build and by the earlier one in turn (each on its
# own copy of the same database, three rounds each, the medians): what a change cost, measured
# in one run on one machine. With metrics on, the cost of recording them too.
if [ -n "${TESSERA_BENCH_BEFORE:-}" ]; then
  while kill -0 "$sh_server" 2>/dev/null; do sleep 0.1; done
  side() { # binary metrics(true|"") -> median req/s of three rounds
    local bin=$1 metrics=$2
    local rates=()
    for round in 1 2 3; do
      cp "$work/shortage.db" "$work/side.db"
      rm -f "$work/side.db-wal" "$work/side.db-shm"
      local pid
      pid=$(TESSERA_METRICS="$metrics" start_server "sqlite://$work/side.db" 3380 "$work/side.log" "$bin")
      wait_up "http://127.0.0.1:3380"
      read -r _ _ _ rps _ < <(wrkr 64 "$cdur" "http://127.0.0.1:3380/api/v1/agents/checkout" "$(tokens_lua "$work/sh.licensed")") || true
      rates+=("$rps")
      kill "$pid" 2>/dev/null || true
      while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    done
    printf '%s\n' "${rates[@]}" | sort -n | sed -n 2p
  }
  before_rps=$(side "$TESSERA_BENCH_BEFORE" "")
  after_rps=$(side target/release/tessera "")
  metrics_rps=$(side target/release/tessera true)
  row "side by side: licensed checkout, 64 connections, earlier build ($TESSERA_BENCH_BEFORE) / this build / this build with metrics on (median of 3 rounds each)" \
    "$before_rps / $after_rps / $metrics_rps req/s ($(awk -v a="$after_rps" -v b="$before_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b }') / $(awk -v a="$metrics_rps" -v b="$before_rps" 'BEGIN { if (b > 0) printf "%.2f", a / b }') of the earlier)"
fi

# ============================ PostgreSQL: checkout on a second server =========================
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start 2>/dev/null || true
  for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
fi
if psql -Xq "$pg_admin/postgres" -c "create database tessera_bench_$$" 2>/dev/null; then
  pg_db="tessera_bench_$$"
  pg_url="$pg_admin/$pg_db"
  pg_port=3378
  pg_base="http://127.0.0.1:$pg_port"
  pg_server=$(start_server "$pg_url" "$pg_port" "$work/pg.log")
  pids+=("$pg_server")
  wait_up "$pg_base"
  pg_cookie=$(sign_in "$pg_base")
  TESSERA_DATABASE_URL="$pg_url" TESSERA_LOG=warn \
    target/release/tessera request --company-id bench --target-version 1 --out "$work/pg-req.tlr"
  echo "[$(agent_spec "$n_agents")]" >"$work/pg-spec.json"
  target/release/tessera-vendor issue --key "$work/vendor.key" --request "$work/pg-req.tlr" \
    --spec "$work/pg-spec.json" --out "$work/pg.lcs" >/dev/null
  read -r id _ < <(upload "$pg_base" "$pg_cookie" "$work/pg.lcs")
  confirm "$pg_base" "$pg_cookie" "$id" >/dev/null
  pg_tokens="$work/pg-tokens"
  seed_agents "PostgreSQL" "$pg_url" "$pg_base" "$(qall "$pg_url" "select id from tenants")" "$pg_tokens"
  checkout_rows "PostgreSQL:" "$pg_base" "$pg_tokens"

  # --- a license freed on one instance, taken by an agent refused on another ----------------
  # Two servers on one fresh database with one floating license: agent A holds it through the
  # first, agent B is refused through the second (which remembers the refusal); A lets go, and B
  # polls the second until licensed. PostgreSQL's NOTIFY makes the second forget at once.
  ho_db="tessera_bench_ho_$$"
  psql -Xq "$pg_admin/postgres" -c "create database $ho_db"
  ho_url="$pg_admin/$ho_db"
  ho_a=$(start_server "$ho_url" 3380 "$work/ho-a.log"); pids+=("$ho_a")
  wait_up http://127.0.0.1:3380
  ho_b=$(start_server "$ho_url" 3381 "$work/ho-b.log"); pids+=("$ho_b")
  wait_up http://127.0.0.1:3381
  ho_cookie=$(sign_in http://127.0.0.1:3380)
  TESSERA_DATABASE_URL="$ho_url" TESSERA_LOG=warn \
    target/release/tessera request --company-id bench --target-version 1 --out "$work/ho.tlr"
  echo "[$(agent_spec 1)]" >"$work/ho-spec.json"
  target/release/tessera-vendor issue --key "$work/vendor.key" --request "$work/ho.tlr" \
    --spec "$work/ho-spec.json" --out "$work/ho.lcs" >/dev/null
  read -r ho_id _ < <(upload http://127.0.0.1:3380 "$ho_cookie" "$work/ho.lcs")
  confirm http://127.0.0.1:3380 "$ho_cookie" "$ho_id" >/dev/null
  # Two agents for the hand-over, twenty for the shut-downs below.
  "$seed" "$ho_url" agents 22 "$(q1 "$ho_url" "select id from tenants")" "$work/ho.tokens"
  read -r h50 h90 hmax < <("$seed" handoff http://127.0.0.1:3380 "$(sed -n 1p "$work/ho.tokens")" \
    http://127.0.0.1:3381 "$(sed -n 2p "$work/ho.tokens")" 50) || true
  row "PostgreSQL: a license freed on one instance to a refused agent licensed on another (50 times)" \
    "median $h50 / p90 $h90 / max $hmax ms" "< 2,000 ms (a remembered refusal's life)" "$(below "$hmax" 2000)"

  # --- an agent shut down through one instance, refused by another that remembered its grant ---
  # 20 more licenses and agents; each agent is licensed through the second server (which then
  # answers it from memory, up to GRANT_MAX_AGE_MS), shut down through the first, and the second
  # polled until it refuses the agent.
  echo "[$(agent_spec 20)]" >"$work/sd-spec.json"
  target/release/tessera-vendor issue --key "$work/vendor.key" --request "$work/ho.tlr" \
    --spec "$work/sd-spec.json" --out "$work/sd.lcs" >/dev/null
  read -r sd_id _ < <(upload http://127.0.0.1:3380 "$ho_cookie" "$work/sd.lcs")
  confirm http://127.0.0.1:3380 "$ho_cookie" "$sd_id" >/dev/null
  tail -n +3 "$work/ho.tokens" >"$work/sd.tokens"
  q1 "$ho_url" "select string_agg(id, ' ' order by machine_id) from agents where machine_id > 'bench-machine-00002'" >"$work/sd.ids"
  read -r s50 s90 smax < <("$seed" shutdown http://127.0.0.1:3380 "$ho_cookie" http://127.0.0.1:3381 \
    "$work/sd.ids" "$work/sd.tokens" 20) || true
  row "PostgreSQL: an agent shut down on one instance, refused by another that remembered its grant (20 agents)" \
    "median $s50 / p90 $s90 / max $smax ms" "< 100 ms" "$(below "$smax" 100)"
  kill "$ho_a" "$ho_b" 2>/dev/null || true
else
  row "PostgreSQL checkout" "skipped: no PostgreSQL at 127.0.0.1:5432"
fi

# ============================ size and compression ===========================================
pkg=target/site/pkg
wasm=$pkg/tessera.wasm
gz=$(gzip -9 -c $wasm | wc -c)
br=$([ -n "$brpy" ] && "$brpy" -c "import brotli,sys;print(len(brotli.compress(open(sys.argv[1],'rb').read(),quality=11)))" $wasm || echo "")
row "client WASM raw / gzip -9 / brotli-11" "$(kb "$(stat -c %s $wasm)") / $(kb "$gz") / $([ -n "$br" ] && kb "$br" || echo n/a)" "< 400 KB gzip" "$(below "$gz" 400000)"
row "client JS / CSS raw" "$(kb "$(stat -c %s $pkg/tessera.js)") / $(kb "$(stat -c %s $pkg/tessera.css)")"
for f in tessera.wasm tessera.js tessera.css; do
  for enc in br gzip; do
    read -r ce got < <(curl -fs -o /dev/null -D - -w 'SIZE %{size_download}\n' -H "accept-encoding: $enc" "$base/pkg/$f" |
      awk 'tolower($1) == "content-encoding:" { ce = $2 } $1 == "SIZE" { s = $2 } END { sub(/\r/, "", ce); print (ce == "" ? "none" : ce), s }') || true
    row "served /pkg/$f with Accept-Encoding: $enc" "Content-Encoding $ce, $(kb "$got")" "compressed" "$([ "$ce" = "$enc" ] && echo met || echo "not met")"
  done
done
row "server binary / vendor tool" "$(awk -v b="$(stat -c %s target/release/tessera)" 'BEGIN { printf "%.1f MB", b / 1e6 }') / $(awk -v b="$(stat -c %s target/release/tessera-vendor)" 'BEGIN { printf "%.1f MB", b / 1e6 }')"

# ============================ the table =======================================================
finished=$(date +%s)
commit=$(git rev-parse --short HEAD)
dirty=$(git status --porcelain -- src migrations Cargo.toml Cargo.lock style 2>/dev/null | head -c1)
{
  echo "<!-- generated by scripts/bench.sh$($quick && echo ' --quick') -->"
  echo "$($quick && echo 'Quick run' || echo 'Run') $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB," \
    "commit $commit$([ -n "$dirty" ] && echo ' (with uncommitted changes to the source)'), load average at start $load_at_start;" \
    "the benchmark took $((finished - built)) s$([ "$built" -gt "$((started + 1))" ] && echo ", the build before it $((built - started)) s")."
  echo "Loads: wrk $(wrk -v 2>&1 | awk 'NR == 1 {print $2}') on the same machine as the server, $cdur per checkout and /healthz figure, $dur per page figure."
  echo
  echo "| measure | figure | target | met? |"
  echo "|---|---|---|---|"
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
echo
cat "$work/table.md"
echo "bench: $((finished - built)) s; written to BENCHMARKS.md"
