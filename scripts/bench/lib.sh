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
