#!/usr/bin/env bash
# Soak (issue 9 item 9): N minutes (default 10) of mixed load against the release build on a
# seeded installation, all at once: agent checkouts (wrk), list pages and their server functions
# as a browser loads them, sign-ins and sign-outs (about one a second), and uploads (a package of
# a few certificates every 5 s, previewed and confirmed, plus deliberately bad ones that must be
# refused). The server's RSS and open file descriptors are sampled every 10 s. It prints a
# summary and exits non-zero if any request failed, memory grew after the warm-up, or the
# licenses in the database differ from those confirmed.
#   scripts/soak.sh [--minutes N] [--postgres]
#     --minutes N   the load's length in whole minutes (default 10; the first two minutes are warm-up)
#     --postgres    a fresh database on postgres://postgres@127.0.0.1:5432 (dropped after)
#                   instead of a fresh SQLite file
# It never builds: target/release/tessera and tessera-vendor must exist (`cargo leptos build
# --release`; the vendor tool as scripts/bench.sh builds it), site root target/site.
#   TESSERA_SOAK_BINARY   another server binary, e.g. target/debug/tessera for a quick check of
#                         this script (its tessera-vendor beside it, else target/release's)
#   TESSERA_SOAK_VENDOR   another tessera-vendor;  LEPTOS_SITE_ROOT  another site root
#   TESSERA_SOAK_CHECKOUT_CONNECTIONS  wrk's connections for checkouts (default 4)
#   TESSERA_SOAK_PORT     the server's port (default: a free one)
#   TESSERA_SOAK_WITHOUT  parts of the load left out, comma-separated: pages, sign-ins, uploads
#                         (to find what memory grows with)
# The timeline (CSV), the summary and the server's log stay in a temporary folder whose path is
# printed; the database, keys and packages are removed.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
minutes=10
postgres=false
while [ $# -gt 0 ]; do
  case "$1" in
    --minutes) [ $# -ge 2 ] || { usage >&2; exit 2; }; minutes=$2; shift 2 ;;
    --minutes=*) minutes=${1#--minutes=}; shift ;;
    --postgres) postgres=true; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "soak: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ "$minutes" =~ ^[1-9][0-9]*$ ]] || { echo "soak: --minutes takes a whole number from 1, not \"$minutes\"" >&2; exit 2; }

binary=${TESSERA_SOAK_BINARY:-target/release/tessera}
if [ ! -x "$binary" ]; then
  echo "soak: no server binary at $binary: build the release first (cargo leptos build --release); this script does not build" >&2
  exit 1
fi
vendor=${TESSERA_SOAK_VENDOR:-}
if [ -z "$vendor" ]; then
  for v in "$(dirname "$binary")/tessera-vendor" target/release/tessera-vendor target/debug/tessera-vendor; do
    [ -x "$v" ] && { vendor=$v; break; }
  done
fi
if [ -z "$vendor" ] || [ ! -x "$vendor" ]; then
  echo "soak: no tessera-vendor beside $binary nor in target/release (cargo build --release -p tessera-vendor); this script does not build" >&2
  exit 1
fi
site=${LEPTOS_SITE_ROOT:-target/site}
[ -d "$site/pkg" ] || echo "soak: note: no $site/pkg (the client's files); pages are still rendered by the server" >&2

command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v wrk >/dev/null || { echo "soak: wrk is missing and could not be installed (apt-get install wrk)" >&2; exit 1; }

# Kept: the timeline, the summary and the server's log. Removed: everything in $work.
out=$(mktemp -d "${TMPDIR:-/tmp}/tessera-soak.XXXXXX")
work="$out/work"
mkdir "$work"
server=""
pg_db=""
pg_admin="postgres://postgres@127.0.0.1:5432"
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
  if [ -n "$server" ]; then
    kill "$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
  fi
  if [ -n "$pg_db" ]; then
    psql -Xq "$pg_admin/postgres" -c "drop database if exists $pg_db with (force)" >/dev/null 2>&1 || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=${TESSERA_SOAK_PORT:-$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
base="http://127.0.0.1:$port"
password=soak-password-1
seed=scripts/bench/seed.py

if $postgres; then
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start 2>/dev/null || true
    for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 1; done
  fi
  pg_db="tessera_soak_$$"
  psql -Xq "$pg_admin/postgres" -c "create database $pg_db" >/dev/null ||
    { pg_db=""; echo "soak: cannot create a database on $pg_admin" >&2; exit 1; }
  db="$pg_admin/$pg_db"
else
  db="sqlite://$work/soak.db"
fi

# Seeding: 2 tenants; one package of 3,000 certificates through the real upload path (150
# floating agent licenses, a platform license, a personal license of 300 seats of crm, 1,200
# fixed agent licenses, 1,648 server feature licenses); 200 users (100 holding a crm seat) and
# 200 agents by SQL; each agent checks out once: 150 claim the floating licenses, 50 are refused.
n_users=200; n_agents=200; n_floating=150; n_seats=100
max_package_bytes=$((8 * 1024 * 1024))
"$vendor" keygen --out "$work/vendor" >/dev/null 2>&1
TESSERA_DATABASE_URL="$db" TESSERA_ADMIN_PASSWORD=$password TESSERA_VENDOR_KEYS="$work/vendor.pub" \
  TESSERA_MAX_PACKAGE_BYTES=$max_package_bytes LEPTOS_SITE_ADDR="127.0.0.1:$port" LEPTOS_SITE_ROOT="$site" TESSERA_LOG=warn,tessera::memory=debug \
  "$binary" >"$out/server.log" 2>&1 &
server=$!
up=false
for _ in $(seq 300); do curl -fs "$base/healthz" >/dev/null 2>&1 && { up=true; break; }; sleep 0.1; done
$up || { echo "soak: the server did not start; its log:" >&2; tail -20 "$out/server.log" >&2; exit 1; }

curl -fs -c "$work/c.txt" -H "origin: $base" -d "user_name=admin&password=$password" "$base/api/login" >/dev/null
cookie=$(awk '/tessera_session/ {print $7}' "$work/c.txt")
[ -n "$cookie" ] || { echo "soak: the admin could not sign in" >&2; exit 1; }
post() { # path form-data...: a server function as the signed-in admin
  local path=$1; shift
  curl -fs -o /dev/null -b "tessera_session=$cookie" -H "origin: $base" "$@" "$base$path"
}

TESSERA_DATABASE_URL="$db" TESSERA_LOG=warn "$binary" request --company-id soak --target-version 1 --out "$work/req.tlr"
# A request of another installation (a throwaway database): its packages must be refused here.
TESSERA_DATABASE_URL="sqlite://$work/other.db" TESSERA_ADMIN_PASSWORD=$password TESSERA_LOG=warn "$binary" request --company-id soak --target-version 1 --out "$work/other.tlr"
cat >"$work/seed.json" <<EOF
[{"type":"agent","product":"ai-server","product_name":"AI Server agent","mode":"subscription","days":365,"binding":"floating","count":$n_floating},
 {"type":"platform","product":"platform","product_name":"Platform","mode":"subscription","days":365},
 {"type":"personal","product":"crm","product_name":"CRM","mode":"subscription","days":365,"seats":300},
 {"type":"agent","product":"ai-server","product_name":"AI Server agent","mode":"subscription","days":365,"binding":"fixed","count":1200},
 {"type":"server","product":"reports","product_name":"Reports","mode":"buyout","permanent":true,"feature":"export","count":1648}]
EOF
"$vendor" issue --key "$work/vendor.key" --request "$work/req.tlr" --spec "$work/seed.json" --out "$work/seed.lcs" >/dev/null 2>"$work/issue.err" ||
  { cat "$work/issue.err" >&2; exit 1; }
location=$(curl -fs -o /dev/null -w '%{redirect_url}' -b "tessera_session=$cookie" -H "origin: $base" \
  -H 'accept: text/html' -F "package=@$work/seed.lcs" "$base/licenses/upload")
[ -n "$location" ] || { echo "soak: the seeding package was not staged" >&2; exit 1; }
post /api/licenses/confirm -d "id=${location##*/}"
post /api/tenants/create --data-urlencode "name=Tenant 2"

q1() { python3 -B -c 'import sys; sys.path.insert(0, "scripts/bench"); import seed; r = seed.query(sys.argv[1], sys.argv[2]); print(r[0][0] if r else "")' "$db" "$1"; }
qall() { python3 -B -c 'import sys; sys.path.insert(0, "scripts/bench"); import seed; print(",".join(r[0] for r in seed.query(sys.argv[1], sys.argv[2])))' "$db" "$1"; }
tenants=$(qall "select id from tenants order by is_default desc, name")
admin=$(q1 "select id from users where name = 'admin'")
personal=$(q1 "select id from certificates where license_type = 'personal' and product = 'crm'")
"$seed" "$db" users "$n_users" "$admin" "$tenants"
post /api/seats/apply -H 'content-type: application/x-www-form-urlencoded' \
  --data-binary "product=crm&user_ids[0]=$("$seed" "$db" ids 1 1)"
"$seed" "$db" seats crm "$personal" "$admin" 2 "$n_seats"
"$seed" "$db" agents "$n_agents" "$tenants" "$work/tokens"
read -r claimed refused _ < <("$seed" claim "$base" "$work/tokens")
if [ "$claimed" != "$n_agents" ] || [ "$refused" != $((n_agents - n_floating)) ]; then
  echo "soak: seeding: of $claimed agents' first checkouts $refused were refused, expected $((n_agents - n_floating))" >&2
  exit 1
fi
echo "soak: seeded $(q1 "select count(*) from tenants") tenants, $(q1 "select count(*) from certificates") certificates," \
  "$(q1 "select count(*) from users") users, $(q1 "select count(*) from seats") seats held," \
  "$(q1 "select count(*) from agents") agents ($n_floating licensed); $([ -n "$pg_db" ] && echo "PostgreSQL $pg_db" || echo SQLite), $binary"

status=0
python3 -B scripts/soak.py --minutes "$minutes" --base "$base" --pid "$server" --db "$db" \
  --password "$password" --tokens "$work/tokens" --licensed-agents "$n_floating" \
  --vendor "$vendor" --key "$work/vendor.key" --request "$work/req.tlr" --other-request "$work/other.tlr" \
  --users "$n_users" --work "$work" --out "$out" --log "$out/server.log" \
  --binary "$binary" --max-package-bytes "$max_package_bytes" || status=$?
exit "$status"
