#!/usr/bin/env python3
"""The load and the measurement of scripts/soak.sh (which starts and seeds the server first and
passes what it made). Python 3.11 standard library only, and Debian's wrk.

All at once, for --minutes:
  - agent checkouts: wrk, a few connections, each request the next agent's token; 2xx and the
    402 of the agents beyond the floating licenses are expected, anything else is an error;
  - two "browser tabs" going round the list pages (GET with Accept: text/html and the admin's
    session cookie) and their server functions (POST with Origin);
  - a sign-in about every second (argon2), a look at the page it leads to, a sign-out, and a check
    that the old session is gone; every 20th sign-in has a wrong password and must get 401;
  - every 5 s a new package of 3 certificates uploaded (303 to its preview), its preview page
    loaded, and confirmed; each time also a deliberately bad upload or confirm (ten kinds), which
    must be refused with its 4xx;
  - every 10 s the server's VmRSS, VmHWM, threads and open file descriptors, with the request
    counts so far, into timeline.csv.
Then: one checkout per agent (each licensed agent still 200, the others still 402), the database's
certificates and packages against those confirmed, a summary, and the exit status (1 on failure).
"""
import argparse
import datetime
import collections
import http.client
import json
import math
import os
import random
import re
import subprocess
import sys
import threading
import time
import urllib.parse

sys.dont_write_bytecode = True  # no __pycache__ beside seed.py
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "bench"))
import seed  # noqa: E402  (scripts/bench/seed.py: query() for SQLite and PostgreSQL)

# RSS from here on is judged. The first two minutes fill caches and pools: every run so far rose
# by 10-20 MiB between minutes 1 and 2 (SQLite's page caches, 2 MiB a connection, and prepared
# statements, as the licenses list and the uploads touch more of the database), then held.
WARMUP_S = 120
SAMPLE_S = 10
UPLOAD_EVERY_S = 5
BAD_EVERY = 1           # every upload cycle also sends a bad request (all ten kinds in a minute)
SIGNIN_EVERY_S = 1.0
WRONG_PASSWORD_EVERY = 20
CERTS_PER_PACKAGE = 3
# Flat memory: the least-squares slope of RSS after the warm-up below this. Why 1 MiB/min: the
# sampled RSS wobbles by a few MiB (allocator arenas, uploads' buffers), which moves a 9-minute
# slope by about 0.2 MiB/min; and a leak per request, at the thousands of checkouts a second of
# this load, shows far above it (the summary prints what 16 bytes per checkout would give).
FLAT_MIB_PER_MIN = 1.0
MIN_MINUTES_FOR_VERDICT = 5

# Parts of the load left out, for finding what memory grows with (e.g. "sign-ins,uploads").
OPTIONAL_LOADS = ("pages", "sign-ins", "uploads")
WITHOUT = {k.strip() for k in os.environ.get("TESSERA_SOAK_WITHOUT", "").split(",") if k.strip()}

KINDS = ["checkout", "page", "server fn", "sign-in", "sign-out", "upload", "confirm", "bad request"]


def now():
    return time.monotonic()


class Stats:
    """Latencies and outcomes per kind (and per path for pages and server functions)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.lat = collections.defaultdict(list)
        self.path_lat = collections.defaultdict(list)
        self.ok = collections.Counter()
        self.refused = collections.Counter()      # refused as expected
        self.errors = collections.Counter()
        self.error_notes = []
        self.reconnects = 0
        self.bad_cases = collections.Counter()

    def record(self, kind, seconds, outcome, note=None, path=None):
        with self.lock:
            if seconds is not None:
                self.lat[kind].append(seconds)
                if path:
                    self.path_lat[(kind, path)].append(seconds)
            if outcome == "ok":
                self.ok[kind] += 1
            elif outcome == "refused":
                self.refused[kind] += 1
            else:
                self.errors[kind] += 1
                if len(self.error_notes) < 30:
                    self.error_notes.append(f"{kind}: {note}")

    def error(self, kind, note):
        self.record(kind, None, "error", note)

    def counts(self):
        with self.lock:
            return {k: self.ok[k] + self.refused[k] + self.errors[k] for k in KINDS}, sum(self.errors.values())


def pct(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(p / 100 * len(s)) - 1))]


class Client:
    """One kept-alive connection, as a browser tab holds. A request that fails at once on a
    connection that already served one is sent again on a new connection (what browsers do
    when the server has closed an idle connection); anything else is the caller's error."""

    def __init__(self, base, stats, timeout=60):
        u = urllib.parse.urlparse(base)
        self.host, self.port, self.timeout = u.hostname, u.port, timeout
        self.origin = base
        self.stats = stats
        self.con = None
        self.used = False

    def request(self, method, path, body=None, headers=None):
        """-> (status, headers as a dict of lists, body bytes, seconds)"""
        for attempt in (0, 1):
            if self.con is None:
                self.con = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
                self.used = False
            start = now()
            try:
                self.con.request(method, path, body=body, headers=headers or {})
                r = self.con.getresponse()
                data = r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as e:
                reused = self.used
                self.close()
                if attempt == 0 and reused:
                    with self.stats.lock:
                        self.stats.reconnects += 1
                    continue
                raise e
            took = now() - start
            self.used = True
            hdrs = collections.defaultdict(list)
            for k, v in r.getheaders():
                hdrs[k.lower()].append(v)
            if r.will_close:
                self.close()
            return r.status, hdrs, data, took
        raise AssertionError("unreachable")

    def close(self):
        if self.con is not None:
            self.con.close()
        self.con = None


def session_of(hdrs):
    for c in hdrs.get("set-cookie", []):
        m = re.match(r"\s*tessera_session=([^;]*)", c)
        if m:
            return m.group(1)
    return None


def form(**fields):
    return urllib.parse.urlencode(fields)


def multipart(file_name, content, field="package"):
    boundary = "soak" + os.urandom(12).hex()
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"{field}\"; filename=\"{file_name}\"\r\n"
            "Content-Type: application/octet-stream\r\n\r\n").encode()
    body = head + content + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


# ------------------------------------------------------------------ the browsing admin -----
LIST = "query[q]={q}&query[sort]={sort}&query[descending]={desc}&query[page]={page}"
VISITS = [
    ("page", "GET", "/settings/licenses", None),
    ("server fn", "POST", "/api/licenses/summary", ""),
    ("server fn", "POST", "/api/licenses/list", LIST.format(q="", sort="installed", desc="true", page=1)),
    ("server fn", "POST", "/api/notifications/alerts", ""),
    ("page", "GET", "/settings/licenses?q=agent&page=2", None),
    ("server fn", "POST", "/api/licenses/list", LIST.format(q="agent", sort="installed", desc="true", page=2)),
    ("page", "GET", "/settings/licenses?sort=product&dir=asc&page=3", None),
    ("server fn", "POST", "/api/licenses/list", LIST.format(q="", sort="status", desc="false", page=10)),
    ("server fn", "POST", "/api/licenses/list", LIST.format(q="reports", sort="product", desc="false", page=5)),
    ("page", "GET", "/settings/licenses/product/crm", None),
    ("server fn", "POST", "/api/seats/product", "product=crm&page=2"),
    ("page", "GET", "/settings/agents", None),
    ("server fn", "POST", "/api/agents/list", "page=1"),
    ("page", "GET", "/settings/agents?page=3", None),
    ("server fn", "POST", "/api/agents/list", "page=4"),
    ("page", "GET", "/settings/users", None),
    ("server fn", "POST", "/api/users/list", "q=&page=1"),
    ("page", "GET", "/settings/users?q=bench-user-01&page=1", None),
    ("server fn", "POST", "/api/users/list", "q=bench-user&page=3"),
    ("page", "GET", "/settings/tenants", None),
    ("server fn", "POST", "/api/tenants/list", ""),
    ("page", "GET", "/settings/audit", None),
    ("server fn", "POST", "/api/audit/list", "filter[page]=1"),
    ("page", "GET", "/", None),
]


def browse(cfg, stats, stop, cookie, offset):
    c = Client(cfg.base, stats)
    i = offset
    while not stop.is_set():
        kind, method, path, body = VISITS[i % len(VISITS)]
        i += 1
        if method == "GET":
            headers = {"Cookie": f"tessera_session={cookie}", "Accept": "text/html",
                       "Accept-Encoding": "gzip, br"}
        else:
            headers = {"Cookie": f"tessera_session={cookie}", "Origin": cfg.base, "Accept": "application/json",
                       "Content-Type": "application/x-www-form-urlencoded"}
        try:
            status, _, data, took = c.request(method, path, body, headers)
        except Exception as e:  # noqa: BLE001  (any failure is the request's error)
            stats.error(kind, f"{method} {path}: {type(e).__name__}: {e}")
            continue
        if status == 200 and data:
            stats.record(kind, took, "ok", path=f"{method} {path}")
        else:
            stats.record(kind, took, "error", f"{method} {path}: HTTP {status} {data[:160]!r}")


# ------------------------------------------------------------------ sign-ins ------------------
def sign_ins(cfg, stats, stop):
    c = Client(cfg.base, stats)
    start = now()
    k = 0
    while not stop.is_set():
        k += 1
        wait = start + k * SIGNIN_EVERY_S - now()
        if wait > 0 and stop.wait(wait):
            break
        post = {"Origin": cfg.base, "Content-Type": "application/x-www-form-urlencoded"}
        if k % WRONG_PASSWORD_EVERY == 0:
            # A name never used before: a wrong password must be 401, never a lockout.
            try:
                status, _, data, took = c.request("POST", "/api/login",
                                                  form(user_name=f"soak-nobody-{k}", password="wrong-password"), post)
            except Exception as e:  # noqa: BLE001
                stats.error("sign-in", f"wrong password: {type(e).__name__}: {e}")
                continue
            stats.record("sign-in", took, "refused" if status == 401 else "error",
                         f"wrong password: HTTP {status} (401 expected) {data[:160]!r}")
            continue
        user = "admin" if k % 10 == 1 else seed.user_name(random.randint(1, cfg.users))
        try:
            status, hdrs, data, took = c.request("POST", "/api/login", form(user_name=user, password=cfg.password), post)
        except Exception as e:  # noqa: BLE001
            stats.error("sign-in", f"{user}: {type(e).__name__}: {e}")
            continue
        cookie = session_of(hdrs)
        if status >= 400 or not cookie:
            stats.record("sign-in", took, "error", f"{user}: HTTP {status}, session cookie {'set' if cookie else 'missing'}")
            continue
        stats.record("sign-in", took, "ok")
        # The page the sign-in leads to, as the browser follows it.
        to = (hdrs.get("location") or ["/"])[0]
        to = urllib.parse.urlparse(to).path or "/"
        auth = {"Cookie": f"tessera_session={cookie}"}
        try:
            status, _, data, took = c.request("GET", to, None, {**auth, "Accept": "text/html", "Accept-Encoding": "gzip"})
            stats.record("page", took, "ok" if status == 200 else "error",
                         f"GET {to} after signing in: HTTP {status}", path="GET (start page after sign-in)")
        except Exception as e:  # noqa: BLE001
            stats.error("page", f"GET {to} after signing in: {type(e).__name__}: {e}")
        try:
            status, hdrs, data, took = c.request("POST", "/api/logout", "", {**auth, **post})
        except Exception as e:  # noqa: BLE001
            stats.error("sign-out", f"{user}: {type(e).__name__}: {e}")
            continue
        if status >= 400:
            stats.record("sign-out", took, "error", f"{user}: HTTP {status} {data[:160]!r}")
            continue
        # The old cookie must no longer sign anyone in.
        try:
            status, _, data, _ = c.request("POST", "/api/whoami", "", {**auth, **post, "Accept": "application/json"})
            gone = status == 200 and json.loads(data or b"null") is None
        except Exception as e:  # noqa: BLE001
            gone, data = False, f"{type(e).__name__}: {e}".encode()
        stats.record("sign-out", took, "ok" if gone else "error",
                     f"{user}: the session still answers after signing out: {data[:160]!r}")


# ------------------------------------------------------------------ uploads -------------------
class Ledger:
    def __init__(self):
        self.packages = 0          # confirmed
        self.certificates = 0      # in the confirmed packages
        self.installed = 0         # as the confirmations reported
        self.already = 0
        self.unreported = 0        # confirmations whose answer did not say


def vendor(cfg, *args):
    """tessera-vendor issue, quietly unless it fails."""
    r = subprocess.run([cfg.vendor, "issue", "--key", cfg.key, *args], capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit(f"soak: tessera-vendor issue {' '.join(args)} failed: {r.stderr.strip()}")


def make_packages(cfg, n):
    """n packages of CERTS_PER_PACKAGE certificates for this installation, none of them a
    floating agent license (those would change which agents are licensed)."""
    paths = []
    for i in range(n):
        spec = [
            {"type": "server", "product": "soak", "product_name": "Soak", "mode": "subscription",
             "days": 365, "feature": f"feature-{i}"},
            {"type": "personal", "product": f"soak-{i % 7}", "product_name": f"Soak {i % 7}",
             "mode": "subscription", "days": 365, "seats": 5},
            {"type": "agent", "product": "ai-server", "product_name": "AI Server agent", "mode": "test",
             "days": 30, "binding": "fixed"},
        ]
        assert len(spec) == CERTS_PER_PACKAGE
        spec_path = os.path.join(cfg.work, f"soak-{i}.json")
        with open(spec_path, "w") as f:
            json.dump(spec, f)
        out = os.path.join(cfg.work, f"soak-{i}.lcs")
        vendor(cfg, "--request", cfg.request, "--spec", spec_path, "--out", out)
        paths.append(out)
    return paths


def bad_cases(cfg, spare_package, foreign_package):
    """(name, request builder, expected statuses). A builder gets the last confirmed id."""
    good = open(spare_package, "rb").read()
    # One character in the middle of the first signed block changed: base64 still, but the
    # signature no longer matches (or the payload no longer parses): refused either way.
    mid = good.find(b"\n", len(good) // 2) - 5
    tampered = good[:mid] + (b"B" if good[mid:mid + 1] == b"A" else b"A") + good[mid + 1:]
    foreign = open(foreign_package, "rb").read()

    def upload(name, content, extra=None, field="package", cookie=True, origin=None):
        def build(c_cookie, last_id):
            body, ctype = multipart(name, content, field)
            h = {"Content-Type": ctype, "Origin": origin or cfg.base, "Accept": "application/json"}
            if cookie:
                h["Cookie"] = f"tessera_session={c_cookie}"
            return "POST", "/licenses/upload", body, h
        return build

    def confirm(which):
        def build(c_cookie, last_id):
            id_ = last_id if which == "again" else "00000000-0000-4000-8000-000000000000"
            return "POST", "/api/licenses/confirm", form(id=id_), {
                "Cookie": f"tessera_session={c_cookie}", "Origin": cfg.base,
                "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
        return build

    return [
        ("not a package", upload("notes.lcs", b"this is not a license package\n" * 20), {422}),
        ("tampered package", upload("tampered.lcs", tampered), {422}),
        ("another installation's package", upload("other.lcs", foreign), {422}),
        ("over the size limit", upload("big.lcs", b"x" * (cfg.max_package_bytes + 1)), {413}),
        ("no file in the form", upload("x.lcs", good, field="something"), {400}),
        ("a path as the file name", upload("../../x.lcs", good), {400}),
        ("not signed in", upload("x.lcs", good, cookie=False), {401}),
        ("from another site", upload("x.lcs", good, origin="http://evil.example"), {403}),
        ("confirm of an unknown upload", confirm("unknown"), {404}),
        ("confirm again of a confirmed upload", confirm("again"), {404}),
    ]


def uploads(cfg, stats, stop, cookie, packages, cases, ledger):
    c = Client(cfg.base, stats)
    start = now()
    k = 0
    last_id = None
    auth = {"Cookie": f"tessera_session={cookie}", "Origin": cfg.base}
    while not stop.is_set():
        k += 1
        wait = start + (k - 1) * UPLOAD_EVERY_S - now()
        if wait > 0 and stop.wait(wait):
            break
        if k > len(packages):
            stats.error("upload", "ran out of prepared packages")
            break
        path = packages[k - 1]
        body, ctype = multipart(os.path.basename(path), open(path, "rb").read())
        try:
            status, hdrs, data, took = c.request("POST", "/licenses/upload", body,
                                                 {**auth, "Content-Type": ctype, "Accept": "text/html"})
        except Exception as e:  # noqa: BLE001
            stats.error("upload", f"{type(e).__name__}: {e}")
            continue
        location = (hdrs.get("location") or [""])[0]
        m = re.fullmatch(r"/settings/licenses/upload/([0-9A-Za-z-]+)", location)
        if status != 303 or not m:
            stats.record("upload", took, "error", f"HTTP {status}, Location {location!r}: {data[:160]!r}")
            continue
        stats.record("upload", took, "ok")
        id_ = m.group(1)
        try:  # the preview, as the browser follows the redirect
            status, _, data, took = c.request("GET", location, None, {"Cookie": auth["Cookie"], "Accept": "text/html",
                                                                     "Accept-Encoding": "gzip"})
            stats.record("page", took, "ok" if status == 200 else "error", f"GET {location}: HTTP {status}",
                         path="GET /settings/licenses/upload/{id}")
        except Exception as e:  # noqa: BLE001
            stats.error("page", f"GET {location}: {type(e).__name__}: {e}")
        try:
            status, hdrs, data, took = c.request("POST", "/api/licenses/confirm", form(id=id_), {
                **auth, "Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"})
        except Exception as e:  # noqa: BLE001
            stats.error("confirm", f"{id_}: {type(e).__name__}: {e}")
            continue
        if status >= 400:
            stats.record("confirm", took, "error", f"{id_}: HTTP {status} {data[:160]!r}")
            continue
        stats.record("confirm", took, "ok")
        last_id = id_
        ledger.packages += 1
        ledger.certificates += CERTS_PER_PACKAGE
        try:
            answer = json.loads(data)
            ledger.installed += int(answer["installed"])
            ledger.already += int(answer["already_installed"])
        except (ValueError, KeyError, TypeError):
            ledger.unreported += 1
        if k % BAD_EVERY == 0:
            name, build, expected = cases[(k // BAD_EVERY - 1) % len(cases)]
            method, p, b, h = build(cookie, last_id)
            try:
                status, _, data, took = c.request(method, p, b, h)
            except Exception as e:  # noqa: BLE001
                stats.error("bad request", f"{name}: {type(e).__name__}: {e}")
                continue
            with stats.lock:
                stats.bad_cases[name] += 1
            if status in expected:
                stats.record("bad request", took, "refused")
            else:
                stats.record("bad request", took, "error",
                             f"{name}: HTTP {status}, expected {sorted(expected)}: {data[:160]!r}")


# ------------------------------------------------------------------ checkouts (wrk) -----------
WRK_LUA = r"""
tokens = {%(tokens)s}
progress = "%(progress)s"
threads = {}
next_id = 1
function setup(thread)
  thread:set("id", next_id)
  next_id = next_id + 1
  table.insert(threads, thread)
end
function init(args)
  n, ok, refused, other, c5 = 0, 0, 0, 0, 0
  i = (id * 61) %% #tokens
  written = os.time()
end
function request()
  i = i %% #tokens + 1
  return wrk.format("POST", "/api/v1/agents/checkout", {["Authorization"] = "Bearer " .. tokens[i]})
end
function response(status, headers, body)
  n = n + 1
  if status >= 200 and status < 300 then ok = ok + 1
  elseif status == 402 then refused = refused + 1
  elseif status >= 500 then c5 = c5 + 1
  else other = other + 1 end
  -- The counts so far, for the timeline: once a second.
  if os.time() ~= written then
    written = os.time()
    local f = io.open(progress .. id, "w")
    if f then f:write(n, " ", ok, " ", refused, " ", other, " ", c5, "\n"); f:close() end
  end
end
function done(summary, latency, requests)
  local t = {0, 0, 0, 0, 0}
  for _, thread in ipairs(threads) do
    t[1] = t[1] + thread:get("n"); t[2] = t[2] + thread:get("ok"); t[3] = t[3] + thread:get("refused")
    t[4] = t[4] + thread:get("other"); t[5] = t[5] + thread:get("c5")
  end
  local e = summary.errors
  local f = io.open(progress .. "total", "w")
  if f then f:write(t[1], " ", t[2], " ", t[3], " ", t[4], " ", t[5], "\n"); f:close() end
  io.write(string.format("RESULT %%d %%d %%d %%d %%d %%d %%d %%d %%d %%d %%.3f %%.3f %%.3f %%.3f %%.3f\n",
    t[1], t[2], t[3], t[4], t[5], e.connect, e.read, e.write, e.timeout, summary.requests,
    latency:percentile(50) / 1000, latency:percentile(99) / 1000, latency:percentile(99.9) / 1000,
    latency.max / 1000, summary.duration / 1e6))
end
"""


def wrk_progress(cfg):
    """Checkouts so far: [answered, 2xx, 402, other 4xx, 5xx]; wrk's totals once it is done."""
    total = [0, 0, 0, 0, 0]
    names = [n for n in os.listdir(cfg.work) if n.startswith("wrk-progress-")]
    if "wrk-progress-total" in names:
        names = ["wrk-progress-total"]
    for name in names:
        try:
            parts = [int(x) for x in open(os.path.join(cfg.work, name)).read().split()]
        except (OSError, ValueError):
            continue
        if len(parts) == 5:
            total = [a + b for a, b in zip(total, parts)]
    return total


# ------------------------------------------------------------------ sampling ------------------
def proc_status(pid):
    out = {}
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            k, _, v = line.partition(":")
            if k in ("VmRSS", "VmHWM", "RssAnon", "RssFile", "RssShmem", "Threads"):
                out[k] = int(v.split()[0])
    return out


def db_size_mib(db):
    if not db.startswith("sqlite://"):
        return ""
    path = db[len("sqlite://"):].split("?")[0]
    size = sum(os.path.getsize(p) for p in (path, path + "-wal") if os.path.exists(p))
    return f"{size / 2**20:.1f}"


COLUMNS = ["t_s", "rss_mib", "hwm_mib", "anon_mib", "file_mib", "shmem_mib", "threads", "fds", "db_mib",
           "checkouts", "checkouts_402",
           "pages", "server_fns", "sign_ins", "sign_outs", "uploads", "confirms", "bad_requests", "errors"]


def sampler(cfg, stats, stop, t0, samples, csv):
    k = 0
    while True:
        t = now() - t0
        try:
            st = proc_status(cfg.pid)
            fds = len(os.listdir(f"/proc/{cfg.pid}/fd"))
        except OSError as e:
            stats.error("server", f"the server process is gone at {t:.0f} s: {e}")
            return
        counts, errors = stats.counts()
        w = wrk_progress(cfg)
        row = {"t_s": round(t, 1), "rss_mib": round(st["VmRSS"] / 1024, 1), "hwm_mib": round(st["VmHWM"] / 1024, 1),
               "anon_mib": round(st["RssAnon"] / 1024, 1), "file_mib": round(st["RssFile"] / 1024, 1),
               "shmem_mib": round(st["RssShmem"] / 1024, 1), "threads": st["Threads"], "fds": fds, "db_mib": db_size_mib(cfg.db), "checkouts": w[0],
               "checkouts_402": w[2], "pages": counts["page"], "server_fns": counts["server fn"],
               "sign_ins": counts["sign-in"], "sign_outs": counts["sign-out"], "uploads": counts["upload"],
               "confirms": counts["confirm"], "bad_requests": counts["bad request"], "errors": errors + w[3] + w[4]}
        samples.append(row)
        csv.write(",".join(str(row[c]) for c in COLUMNS) + "\n")
        csv.flush()
        k += 1
        if stop.wait(max(0.0, t0 + k * SAMPLE_S - now())):
            return


def slope(points):
    """Least-squares slope of (x, y) and its standard error; None with fewer than 3 points."""
    n = len(points)
    if n < 3:
        return None, None
    mx = sum(x for x, _ in points) / n
    my = sum(y for _, y in points) / n
    sxx = sum((x - mx) ** 2 for x, _ in points)
    if sxx == 0:
        return None, None
    b = sum((x - mx) * (y - my) for x, y in points) / sxx
    resid = sum((y - my - b * (x - mx)) ** 2 for x, y in points)
    se = math.sqrt(resid / (n - 2) / sxx) if n > 2 else float("nan")
    return b, se


def memory_report(samples, minutes, requests_per_s):
    """The summary's memory lines and the failure, if memory grew after the warm-up."""
    first, last = samples[0], samples[-1]
    duration = minutes * 60
    points = collections.defaultdict(list)  # the same sample may be two of these in a short run
    for s, what in ((at(samples, WARMUP_S), "after the warm-up"), (at(samples, duration / 2), "the middle"),
                    (last, "the end")):
        points[s["t_s"]].append(what)
    lines = [f"memory (VmRSS every {SAMPLE_S} s): {first['rss_mib']:.1f} MiB at the start of the load, "
             + ", ".join(f"{at(samples, t)['rss_mib']:.1f} at {t / 60:.1f} min ({', '.join(what)})"
                         for t, what in sorted(points.items()))
             + f"; max sampled {max(s['rss_mib'] for s in samples):.1f}, peak (VmHWM) {last['hwm_mib']:.1f}"]
    judged = [(s["t_s"] / 60, s["rss_mib"]) for s in samples if s["t_s"] >= WARMUP_S - 1]
    b, se = slope(judged)
    failure = None
    if minutes < MIN_MINUTES_FOR_VERDICT or b is None:
        lines.append(f"memory slope after the warm-up: not judged: a run under {MIN_MINUTES_FOR_VERDICT} minutes"
                     " cannot tell growth from warm-up")
    else:
        if b < FLAT_MIB_PER_MIN:
            verdict = f"flat (under {FLAT_MIB_PER_MIN:g} MiB/min)"
        else:
            verdict = f"GROWING (not under {FLAT_MIB_PER_MIN:g} MiB/min)"
            failure = f"memory grew {b:.2f} MiB/min after the warm-up"
        lines.append(f"memory slope after the warm-up (least squares over the {len(judged)} samples of minutes"
                     f" {WARMUP_S / 60:g}-{minutes}): {b:+.3f} MiB/min, standard error {se:.3f}"
                     f" (95% at most {b + 2 * se:+.2f}) -> {verdict}")
        # Information only: a late plateau (the slope above high, this one near zero) is warm-up that
        # lasted past the first minute; a leak keeps the same slope in both.
        b2, _ = slope([(t, r) for t, r in judged if t >= minutes / 2])
        if b2 is not None:
            lines.append(f"  the second half alone (minutes {minutes / 2:g}-{minutes}): {b2:+.3f} MiB/min")
    per_request = FLAT_MIB_PER_MIN * 2**20 / 60 / requests_per_s if requests_per_s else float("nan")
    lines.append(f"  the threshold, {FLAT_MIB_PER_MIN:g} MiB/min, is several times the slope's standard error over"
                 f" 8 minutes of 10 s samples, and is what {per_request:.0f} bytes kept per request would give at this"
                 f" load's {requests_per_s:.0f} requests/s: a leak per request shows; a slower one (1 MiB/min is"
                 " still 1.4 GiB a day) needs a longer soak")
    return lines, failure


HEAP_LINE = re.compile(r"^(\S+)\s+DEBUG\s+memory\s+allocated_kib=(\d+)\s+resident_kib=(\d+)")


def heap_report(log, t0_wall, minutes):
    """What the server itself logs each minute (target tessera::memory): the bytes it holds
    (jemalloc's allocated) apart from what the allocator keeps (resident). Information: a leak grows
    the first; an allocator keeping more grows the second alone."""
    points = []
    for line in log:
        m = HEAP_LINE.match(line)
        if not m:
            continue
        try:
            stamp = datetime.datetime.fromisoformat(m.group(1).replace("Z", "+00:00")).timestamp()
        except ValueError:
            continue
        points.append(((stamp - t0_wall) / 60, int(m.group(2)) / 1024, int(m.group(3)) / 1024))
    if not points:
        return ["heap (the server's own figures): none logged (TESSERA_LOG lacks tessera::memory=debug,"
                " or another allocator)"]
    judged = [p for p in points if p[0] >= WARMUP_S / 60 - 0.05]
    lines = []
    for name, k in (("allocated (held by the program)", 1), ("resident (kept by the allocator)", 2)):
        values = [p[k] for p in judged] or [p[k] for p in points]
        b, se = slope([(p[0], p[k]) for p in judged])
        trend = f", slope {b:+.3f} MiB/min (standard error {se:.3f})" if b is not None else ""
        lines.append(f"heap, {name}, each minute after the warm-up: {values[0]:.1f} -> {values[-1]:.1f} MiB"
                     f" (min {min(values):.1f}, max {max(values):.1f}){trend}")
    return lines


def git_commit():
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "src", "migrations", "Cargo.toml", "Cargo.lock"],
                               capture_output=True, text=True).stdout.strip()
    except OSError:
        return "commit unknown"
    return f"commit {head or 'unknown'}{' with uncommitted changes to src' if dirty else ''}"


def at(samples, t):
    return min(samples, key=lambda s: abs(s["t_s"] - t))


# ------------------------------------------------------------------ main ----------------------
def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for a in ["base", "db", "password", "tokens", "vendor", "key", "request", "other-request", "work", "out", "log",
              "binary"]:
        ap.add_argument("--" + a, required=True)
    ap.add_argument("--minutes", type=int, required=True)
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--licensed-agents", type=int, required=True)
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--max-package-bytes", type=int, default=8 * 1024 * 1024)
    cfg = ap.parse_args()
    if WITHOUT - set(OPTIONAL_LOADS):
        sys.exit(f"soak: TESSERA_SOAK_WITHOUT takes {', '.join(OPTIONAL_LOADS)}, not {', '.join(sorted(WITHOUT))}")
    duration = cfg.minutes * 60
    conns = int(os.environ.get("TESSERA_SOAK_CHECKOUT_CONNECTIONS", "4"))
    stats = Stats()
    failures = []

    # The admin's browser session for the pages and the uploads.
    c = Client(cfg.base, stats)
    _, hdrs, _, _ = c.request("POST", "/api/login", form(user_name="admin", password=cfg.password),
                              {"Origin": cfg.base, "Content-Type": "application/x-www-form-urlencoded"})
    cookie = session_of(hdrs)
    if not cookie:
        sys.exit("soak: the admin could not sign in")
    tokens = [t for t in open(cfg.tokens).read().split() if t]

    n_packages = duration // UPLOAD_EVERY_S + 2
    print(f"soak: preparing {n_packages} packages of {CERTS_PER_PACKAGE} certificates ...", flush=True)
    packages = make_packages(cfg, n_packages + 1)
    spare = packages.pop()
    foreign = os.path.join(cfg.work, "foreign.lcs")
    vendor(cfg, "--request", cfg.other_request, "--type", "server", "--product", "soak", "--product-name", "Soak",
           "--mode", "test", "--days", "30", "--feature", "elsewhere", "--out", foreign)
    cases = bad_cases(cfg, spare, foreign)

    certs_before = int(seed.query(cfg.db, "SELECT count(*) FROM certificates")[0][0])
    packages_before = int(seed.query(cfg.db, "SELECT count(*) FROM packages")[0][0])
    sessions_before = int(seed.query(cfg.db, "SELECT count(*) FROM sessions")[0][0])

    lua = os.path.join(cfg.work, "checkout.lua")
    with open(lua, "w") as f:
        f.write(WRK_LUA % {"tokens": ", ".join(json.dumps(t) for t in tokens),
                           "progress": os.path.join(cfg.work, "wrk-progress-")})
    load_avg = open("/proc/loadavg").read().split()[:3]
    print(f"soak: {cfg.minutes} min of load from {time.strftime('%H:%M:%S')} (load average {' '.join(load_avg)}):"
          f" checkouts (wrk, {conns} connections, {len(tokens)} agents), 2 browser tabs, a sign-in a second,"
          f" an upload every {UPLOAD_EVERY_S} s", flush=True)

    stop = threading.Event()
    samples = []
    csv_path = os.path.join(cfg.out, "timeline.csv")
    csv = open(csv_path, "w")
    csv.write(",".join(COLUMNS) + "\n")
    t0 = now()
    t0_wall = time.time()
    wrk = subprocess.Popen(["wrk", f"-t{min(2, conns)}", f"-c{conns}", f"-d{duration}s", "--timeout", "10s", "-s", lua,
                            cfg.base + "/api/v1/agents/checkout"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True)
    ledger = Ledger()
    loads = [
        ("pages", browse, (cfg, stats, stop, cookie, 0)),
        ("pages", browse, (cfg, stats, stop, cookie, len(VISITS) // 2)),
        ("sign-ins", sign_ins, (cfg, stats, stop)),
        ("uploads", uploads, (cfg, stats, stop, cookie, packages, cases, ledger)),
    ]
    threads = [threading.Thread(target=sampler, args=(cfg, stats, stop, t0, samples, csv), daemon=True)] + [
        threading.Thread(target=target, args=args, daemon=True) for kind, target, args in loads if kind not in WITHOUT]
    for t in threads:
        t.start()
    minute = 0
    while now() - t0 < duration:
        time.sleep(min(5.0, max(0.0, duration - (now() - t0))))
        if int((now() - t0) // 60) > minute and now() - t0 < duration - 1:
            minute = int((now() - t0) // 60)
            s = samples[-1] if samples else None
            counts, errors = stats.counts()
            w = wrk_progress(cfg)
            print(f"soak: {minute} min: RSS {s['rss_mib'] if s else '?'} MiB"
                  f" ({s['anon_mib'] if s else '?'} anonymous), {s['fds'] if s else '?'} fds,"
                  f" {w[0]} checkouts, {counts['page'] + counts['server fn']} pages and functions,"
                  f" {counts['sign-in']} sign-ins, {counts['upload']} uploads, errors {errors + w[3] + w[4]}", flush=True)
    stop.set()
    for t in threads[1:]:
        t.join(timeout=120)
    threads[0].join(timeout=5)
    try:
        wrk_out, _ = wrk.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        wrk.kill()
        wrk_out, _ = wrk.communicate()
    # The last sample: the end of the load.
    stop2 = threading.Event()
    stop2.set()
    sampler(cfg, stats, stop2, t0, samples, csv)
    csv.close()
    load_end = open("/proc/loadavg").read().split()[:3]
    result = next((line.split()[1:] for line in wrk_out.splitlines() if line.startswith("RESULT")), None)
    if result is None:
        failures.append("wrk printed no result")
        print(wrk_out, file=sys.stderr)
        result = ["0"] * 10 + ["nan"] * 5
    (w_n, w_ok, w_402, w_other, w_5xx, e_conn, e_read, e_write, e_timeout, w_req) = map(int, result[:10])
    w_p50, w_p99, w_p999, w_max, w_secs = map(float, result[10:])
    wrk_errors = w_other + w_5xx + e_conn + e_read + e_write + e_timeout
    if wrk_errors:
        failures.append(f"checkout: {w_other} unexpected 4xx, {w_5xx} 5xx, {e_conn} connect, {e_read} read,"
                        f" {e_write} write, {e_timeout} timeout errors")

    # ---- after the load: every agent once more, and the database against the ledger --------
    after = collections.Counter()
    ca = Client(cfg.base, stats)
    for i, t in enumerate(tokens):
        try:
            status, _, _, _ = ca.request("POST", "/api/v1/agents/checkout", None, {"Authorization": f"Bearer {t}"})
        except Exception as e:  # noqa: BLE001
            status = f"{type(e).__name__}"
        after["licensed" if i < cfg.licensed_agents and status == 200 else
              "refused" if i >= cfg.licensed_agents and status == 402 else f"unexpected {status}"] += 1
    if after["licensed"] != cfg.licensed_agents or after["refused"] != len(tokens) - cfg.licensed_agents:
        failures.append(f"agents after the load: {dict(after)} (expected {cfg.licensed_agents} licensed, "
                        f"{len(tokens) - cfg.licensed_agents} refused)")
    certs_after = int(seed.query(cfg.db, "SELECT count(*) FROM certificates")[0][0])
    packages_after = int(seed.query(cfg.db, "SELECT count(*) FROM packages")[0][0])
    sessions_after = int(seed.query(cfg.db, "SELECT count(*) FROM sessions")[0][0])
    bound = int(seed.query(cfg.db, "SELECT count(*) FROM agents WHERE license_id IS NOT NULL")[0][0])
    ledger_ok = (certs_after - certs_before == ledger.certificates == ledger.installed + (
        CERTS_PER_PACKAGE * ledger.unreported) and packages_after - packages_before == ledger.packages
        and ledger.already == 0)
    if not ledger_ok:
        failures.append(f"licenses: confirmed {ledger.packages} packages of {ledger.certificates} certificates, the"
                        f" server reported {ledger.installed} installed ({ledger.already} already,"
                        f" {ledger.unreported} unreported); the database gained {certs_after - certs_before}"
                        f" certificates in {packages_after - packages_before} packages")
    if bound != cfg.licensed_agents:
        failures.append(f"{bound} agents hold a license in the database, expected {cfg.licensed_agents}")
    alive = os.path.exists(f"/proc/{cfg.pid}")
    if not alive:
        failures.append("the server is no longer running")
    log = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in open(cfg.log, errors="replace").read().splitlines()]
    log_errors = [line for line in log if re.search(r"\bERROR\b", line)]
    # A panic's message is the line after "thread '...' panicked at ...".
    panics = collections.Counter(log[i + 1].strip() if i + 1 < len(log) else line
                                 for i, line in enumerate(log) if " panicked at " in line)
    if log_errors or panics:
        failures.append(f"the server's log has {sum(panics.values())} panics and {len(log_errors)} ERROR lines")
    errors = sum(stats.errors.values())
    if errors:
        failures.append(f"{errors} requests failed")

    # ---- memory -------------------------------------------------------------------------------
    if not samples:
        sys.exit("soak: FAILED: not one sample of the server's memory (is it running?)")
    checkout_rate = w_n / w_secs if w_secs and not math.isnan(w_secs) else 0
    others = sum(stats.ok.values()) + sum(stats.refused.values()) + sum(stats.errors.values())
    memory_lines, memory_failure = memory_report(samples, cfg.minutes, checkout_rate + others / duration)
    if memory_failure:
        failures.append(memory_failure)
    memory_lines.extend(heap_report(log, t0_wall, cfg.minutes))

    # ---- the summary ----------------------------------------------------------------------------
    lines = []
    p = lines.append
    backend = "PostgreSQL" if cfg.db.startswith("postgres") else "SQLite"
    p(f"soak: {cfg.minutes} min of mixed load on {backend}, {cfg.binary} (built"
      f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(os.path.getmtime(cfg.binary)))}), {git_commit()},"
      f" {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores,"
      f" load average {' '.join(load_avg)} at start, {' '.join(load_end)} at the end"
      + (f"; WITHOUT {', '.join(sorted(WITHOUT))}" if WITHOUT else ""))
    p("")
    p(f"{'requests':<13}{'count':>9}{'per s':>9}{'refused as expected':>21}{'errors':>8}{'p50 ms':>9}{'p99 ms':>9}")
    p(f"{'checkout':<13}{w_n:>9}{checkout_rate:>9.0f}{f'{w_402} (402)':>21}{wrk_errors:>8}{w_p50:>9.2f}{w_p99:>9.2f}")
    for k in KINDS[1:]:
        lat = stats.lat[k]
        n = stats.ok[k] + stats.refused[k] + stats.errors[k]
        p(f"{k:<13}{n:>9}{n / duration:>9.1f}{stats.refused[k]:>21}{stats.errors[k]:>8}"
          f"{pct(lat, 50) * 1000:>9.1f}{pct(lat, 99) * 1000:>9.1f}")
    p(f"(checkout: wrk, {conns} connections; p99.9 {w_p999:.2f} ms, max {w_max:.1f} ms; {w_ok} answered 2xx;"
      f" the {len(tokens) - cfg.licensed_agents} agents beyond the {cfg.licensed_agents} floating licenses get 402."
      f" Client reconnects after an idle close: {stats.reconnects})")
    p("")
    p(f"{'pages and server functions':<62}{'count':>7}{'p50 ms':>9}{'p99 ms':>9}")
    for (k, path), lat in sorted(stats.path_lat.items(), key=lambda kv: (kv[0][0], kv[0][1])):
        if k in ("page", "server fn"):
            p(f"{path[:62]:<62}{len(lat):>7}{pct(lat, 50) * 1000:>9.1f}{pct(lat, 99) * 1000:>9.1f}")
    p("")
    p("bad requests (each refused with its 4xx): " + ", ".join(f"{n} x{c}" for n, c in stats.bad_cases.items()))
    p("")
    lines.extend(memory_lines)
    first, last = samples[0], samples[-1]
    p(f"open file descriptors: {first['fds']} at the start, {last['fds']} at the end (max {max(s['fds'] for s in samples)});"
      f" threads {first['threads']} -> {last['threads']}")
    p("")
    p(f"licenses: {ledger.packages} packages of {CERTS_PER_PACKAGE} confirmed = {ledger.certificates} certificates;"
      f" the confirmations reported {ledger.installed} installed, {ledger.already} already installed"
      f"{f', {ledger.unreported} without an answer' if ledger.unreported else ''}; the database:"
      f" {certs_before} -> {certs_after} certificates (+{certs_after - certs_before}),"
      f" {packages_before} -> {packages_after} packages (+{packages_after - packages_before})"
      f" -> {'match' if ledger_ok else 'MISMATCH'}")
    p(f"agents after the load, one checkout each: {after['licensed']} licensed (200), {after['refused']} refused (402)"
      + "".join(f", {v} {k}" for k, v in after.items() if k.startswith("unexpected"))
      + f"; {bound} hold a license in the database")
    p(f"sessions in the database: {sessions_before} before the load, {sessions_after} after"
      f" (every sign-in of the load was signed out)")
    p(f"server log: {len(log)} lines, {sum(panics.values())} panics, {len(log_errors)} ERROR lines"
      + "".join(f"\n  {n} x panic: {m[:300]}" for m, n in panics.most_common(5))
      + "".join(f"\n  {line[:200]}" for line in log_errors[:3]))
    if stats.error_notes:
        p("first errors:")
        for e in stats.error_notes[:15]:
            p(f"  {e[:240]}")
    p("")
    p(f"timeline: {csv_path}")
    p(f"summary: {os.path.join(cfg.out, 'summary.txt')}")
    p(f"server log: {cfg.log}")
    p("soak: " + ("PASSED" if not failures else "FAILED: " + "; ".join(failures)))
    text = "\n".join(lines)
    print(text)
    with open(os.path.join(cfg.out, "summary.txt"), "w") as f:
        f.write(text + "\n")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
