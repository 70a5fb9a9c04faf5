# Shared by the scripts in scripts/bench: sourced, after `work` (a temporary directory) is set.

# Debian's wrk, installed when missing.
command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

lua() { # tokens file or nothing -> wrk script printing "RESULT p50 p99 req/s errors"
  local f
  f=$(mktemp "$work/XXXXXX.lua")
  if [ -n "${1:-}" ]; then
    { echo 'wrk.method = "POST"'; echo 'tokens = {}'
      while read -r t; do echo "tokens[#tokens+1] = \"$t\""; done <"$1"
      # Each of wrk's threads starts at its own place in the list.
      echo 'i = math.random(#tokens)'
      echo 'request = function() i = i % #tokens + 1; return wrk.format(nil, nil, {Authorization = "Bearer " .. tokens[i]}) end'
    } >"$f"
  fi
  cat >>"$f" <<'LUA'
done = function(s, lat, req)
  io.write(string.format("RESULT %.2f %.2f %d %d\n", lat:percentile(50)/1000, lat:percentile(99)/1000,
    s.requests / (s.duration / 1e6),
    s.errors.status + s.errors.connect + s.errors.read + s.errors.write + s.errors.timeout))
end
LUA
  echo "$f"
}

load() { # url lua -> "p50 p99 req/s errors", at 64 connections for $dur
  wrk -t2 -c64 -d"$dur" --timeout 10s -s "$2" "$1" 2>/dev/null | awk '/^RESULT/ {print $2, $3, $4, $5}'
}

q1() { # database-url query -> first column of the first row
  case "$1" in
    sqlite*) python3 -c 'import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])' "${1#sqlite://}" "$2";;
    *) psql -XAt "$1" -c "$2";;
  esac
}

# A fresh installation: starts BINARY on 127.0.0.1:PORT over DATABASE-URL (empty), uploads a
# package of LICENSES floating agent licenses (and EXTRA, more JSON entries of the spec) through
# the real path, as an administrator does, and seeds AGENTS agents by SQL in its tenant.
# Leaves $work/LABEL.tokens (one agent token a line), .pid, .log and .cookie (the session).
# Needs $vendor, $seed and $work/vendor.{key,pub}; `pids` collects the servers to stop.
installation() { # label binary port database-url agents licenses [extra]
  local label=$1 bin=$2 port=$3 db=$4 agents=$5 licenses=$6 extra=${7:-} base="http://127.0.0.1:$3" cookie id
  # 20,000 certificates are 18 MB: over an installation's default package limits.
  TESSERA_DATABASE_URL="$db" TESSERA_ADMIN_PASSWORD=bench-password-1 \
    TESSERA_MAX_CERTIFICATES=1000000 TESSERA_MAX_PACKAGE_BYTES=1073741824 \
    TESSERA_VENDOR_KEYS="$work/vendor.pub" LEPTOS_SITE_ADDR="127.0.0.1:$port" \
    LEPTOS_SITE_ROOT="${LEPTOS_SITE_ROOT:-target/site}" TESSERA_LOG=warn "$bin" >"$work/$label.log" 2>&1 &
  pids+=("$!"); echo "$!" >"$work/$label.pid"
  for _ in $(seq 300); do curl -fs "$base/healthz" >/dev/null && break; sleep 0.1; done
  curl -fs -c "$work/$label.cookies" -H "origin: $base" \
    -d 'user_name=admin&password=bench-password-1' "$base/api/login" >/dev/null
  cookie=$(awk '/tessera_session/ {print $7}' "$work/$label.cookies")
  echo "$cookie" >"$work/$label.cookie"
  TESSERA_DATABASE_URL="$db" TESSERA_LOG=warn "$bin" request --company-id bench \
    --target-version 1 --out "$work/$label.tlr" >/dev/null
  echo "[{\"type\":\"agent\",\"product\":\"ai-server\",\"product_name\":\"AI Server agent\",\"mode\":\"subscription\",\"days\":365,\"binding\":\"floating\",\"count\":$licenses}${extra:+,$extra}]" >"$work/$label.spec.json"
  "$vendor" issue --key "$work/vendor.key" --request "$work/$label.tlr" --spec "$work/$label.spec.json" \
    --out "$work/$label.lcs" >/dev/null
  id=$(curl -fs -o /dev/null -w '%{redirect_url}' -b "tessera_session=$cookie" -H "origin: $base" \
    -F "package=@$work/$label.lcs" "$base/licenses/upload")
  curl -fs -o /dev/null -b "tessera_session=$cookie" -H "origin: $base" -d "id=${id##*/}" \
    "$base/api/licenses/confirm"
  "$seed" "$db" agents "$agents" "$(q1 "$db" "select id from tenants")" "$work/$label.tokens"
}
