#!/usr/bin/env python3
"""Seeding helper of scripts/bench.sh: rows inserted straight into Tessera's database, each kind in
one transaction, after the server has run its migrations. Column names follow migrations/src/*.rs.

  seed.py DB users  N ADMIN_ID TENANT_ID,TENANT_ID,...     10,000 users sharing the admin's hash
  seed.py DB seats  PRODUCT CERT_ID ADMIN_ID FIRST LAST     seats of users FIRST..LAST (1-based)
  seed.py DB agents N TENANT_ID,... TOKENS_OUT              agents whose tokens go to TOKENS_OUT
  seed.py DB ids    FIRST LAST                               ids of users FIRST..LAST, one a line
  seed.py claim BASE TOKENS                                  one checkout per token (claims a license)
  seed.py DB usage-history POOLS TENANT_ID,...              a year of usage rollups (hours; days; the
                                                            last 14 days' minutes) for POOLS pools
  seed.py handoff BASE_A TOKEN_A BASE_B TOKEN_B ROUNDS      A lets go of the one free license on
                                                            instance A; B, refused on instance B, polls
                                                            until licensed: ms per hand-over
  seed.py monday BASE TOKENS CONCURRENCY                    every agent's first checkout, CONCURRENCY
                                                            at once: seconds, licensed, other answers
  seed.py shutdown BASE_A COOKIE BASE_B IDS TOKENS ROUNDS   each round an agent licensed (and
                                                            remembered) on instance B is shut down
                                                            through A; polls B until refused: ms

DB is sqlite://PATH (written with Python's sqlite3) or postgres://... (SQL piped to psql).
Users are named bench-user-00001...; the bench's own users are found by that name.
"""
import base64
import hashlib
import http.client
import os
import subprocess
import sys
import time
import urllib.parse
import uuid


def now_ms():
    return int(time.time() * 1000)


def lit(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "TRUE" if v else "FALSE"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def query(db, sql):
    """Rows of a query, as tuples of strings."""
    if db.startswith("sqlite://"):
        import sqlite3

        con = sqlite3.connect(db[len("sqlite://"):], timeout=30)
        rows = [tuple("" if c is None else str(c) for c in r) for r in con.execute(sql)]
        con.close()
        return rows
    out = subprocess.run(["psql", "-XAt", "-F", "\t", db, "-c", sql], check=True,
                         capture_output=True, text=True).stdout
    return [tuple(line.split("\t")) for line in out.splitlines() if line]


def insert(db, table, cols, rows):
    """Inserts rows in one transaction."""
    if db.startswith("sqlite://"):
        import sqlite3

        con = sqlite3.connect(db[len("sqlite://"):], timeout=30)
        # SQLite stores sea-orm's booleans as 0/1.
        rows = [tuple(int(v) if isinstance(v, bool) else v for v in r) for r in rows]
        with con:
            con.executemany(
                f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))})", rows)
        con.close()
        return
    parts = ["BEGIN;"]
    for i in range(0, len(rows), 500):
        values = ",\n".join("(" + ", ".join(lit(v) for v in r) + ")" for r in rows[i:i + 500])
        parts.append(f"INSERT INTO {table} ({', '.join(cols)}) VALUES\n{values};")
    parts.append("COMMIT;")
    subprocess.run(["psql", "-Xq", "-v", "ON_ERROR_STOP=1", db], input="\n".join(parts),
                   check=True, text=True, stdout=subprocess.DEVNULL)


def user_name(i):
    return f"bench-user-{i:05d}"


def users(db, n, admin_id, tenants):
    tenants = tenants.split(",")
    (hash_,) = query(db, f"SELECT password_hash FROM users WHERE id = {lit(admin_id)}")[0]
    t = now_ms()
    rows = [(str(uuid.uuid4()), user_name(i), hash_, "user", tenants[i % len(tenants)], False, None, t)
            for i in range(1, int(n) + 1)]
    insert(db, "users", ["id", "name", "password_hash", "role", "tenant_id", "disabled", "locale",
                         "created_at"], rows)


def ids(db, first, last):
    names = ", ".join(lit(user_name(i)) for i in range(int(first), int(last) + 1))
    found = dict((name, id_) for id_, name in query(db, f"SELECT id, name FROM users WHERE name IN ({names})"))
    return [found[user_name(i)] for i in range(int(first), int(last) + 1)]


def seats(db, product, cert, admin_id, first, last):
    t = now_ms()
    rows = [(str(uuid.uuid4()), product, cert, uid, t, admin_id) for uid in ids(db, first, last)]
    insert(db, "seats", ["id", "product", "certificate_id", "user_id", "granted_at", "granted_by"], rows)


def agents(db, n, tenants, tokens_out):
    tenants = tenants.split(",")
    t = now_ms()
    rows, tokens = [], []
    for i in range(1, int(n) + 1):
        token = base64.urlsafe_b64encode(os.urandom(32)).rstrip(b"=").decode()
        tokens.append(token)
        # Token hash as the server computes it (src/agents/store.rs: lowercase hex SHA-256).
        rows.append((str(uuid.uuid4()), tenants[i % len(tenants)], f"bench-machine-{i:05d}",
                     hashlib.sha256(token.encode()).hexdigest(), "running", None, 0, t, t))
    insert(db, "agents", ["id", "tenant_id", "machine_id", "token_hash", "state", "license_id",
                          "refused_count", "last_seen_at", "created_at"], rows)
    with open(tokens_out, "w") as f:
        f.write("\n".join(tokens) + "\n")


def claim(base, tokens_file):
    """One checkout per token over one kept-alive connection: each agent claims a floating license.
    Prints: count, non-200 answers, mean ms per claim."""
    u = urllib.parse.urlparse(base)
    con = http.client.HTTPConnection(u.hostname, u.port)
    tokens = [t for t in open(tokens_file).read().split() if t]
    bad = 0
    start = time.perf_counter()
    for t in tokens:
        con.request("POST", "/api/v1/agents/checkout", headers={"Authorization": f"Bearer {t}"})
        r = con.getresponse()
        r.read()
        bad += r.status != 200
    took = time.perf_counter() - start
    print(len(tokens), bad, f"{took * 1000 / max(len(tokens), 1):.2f}")


def usage_history(db, pools, tenants):
    """A year of history for `pools` pools (tenants' own pools and the shared one, over products
    usage-0, usage-1, ...): hour rows for 365 days, day rows, minute rows for the last 14 days,
    each pool's use on its every-tenant row and on one tenant's row, and refusals per hour."""
    import random

    rnd = random.Random(21)
    tenants = tenants.split(",")
    keys = []
    for i in range(int(pools)):
        pool = "" if i % (len(tenants) + 1) == 0 else tenants[i % len(tenants)]
        keys.append((pool, f"usage-{i // (len(tenants) + 1)}", tenants[i % len(tenants)]))
    minute, hour, day = 60_000, 3_600_000, 86_400_000
    end = now_ms() // day * day
    cols = ["span", "start", "pool", "tenant_id", "product", "license_kind", "peak", "low",
            "used_ms", "owned"]
    rows = []

    def add(span, start, length, owned, peak):
        for pool, product, tenant in keys:
            low = max(0, peak - 5)
            used = (peak + low) * length // 2
            rows.append((span, start, pool, "*", product, "floating", peak, low, used, owned))
            rows.append((span, start, pool, tenant, product, "floating", peak, low, used, 0))

    for h in range(365 * 24):
        start = end - 365 * day + h * hour
        add("hour", start, hour, 40, rnd.randint(10, 40))
    for d in range(365):
        add("day", end - 365 * day + d * day, day, 40, 40)
    for m in range(14 * 24 * 60):
        add("minute", end - 14 * day + m * minute, minute, 40, rnd.randint(10, 40))
    insert(db, "usage_rollups", cols, rows)
    refusals = [("hour", end - 365 * day + h * hour, t, "no_license_free", 12, 3)
                for h in range(365 * 24) for t in tenants]
    insert(db, "usage_refusals", ["span", "start", "tenant_id", "reason", "refusals", "agents"],
           refusals)
    print(len(rows) + len(refusals))


def handoff(base_a, token_a, base_b, token_b, rounds):
    """Instance A holds the one license for agent A; agent B is refused on instance B (and the
    refusal remembered there). A lets go on A; B polls checkout on B, over a kept-alive
    connection, until licensed. Then B lets go and A takes it back. Prints the hand-over times
    in ms: median, p90, max."""
    def conn(base):
        u = urllib.parse.urlparse(base)
        return http.client.HTTPConnection(u.hostname, u.port)

    a, b = conn(base_a), conn(base_b)

    def call(con, path, token):
        con.request("POST", f"/api/v1/agents/{path}", headers={"Authorization": f"Bearer {token}"})
        r = con.getresponse()
        r.read()
        return r.status

    times = []
    for _ in range(int(rounds)):
        assert call(a, "checkout", token_a) == 200, "A holds the license"
        assert call(b, "checkout", token_b) == 402, "B is refused"
        assert call(b, "checkout", token_b) == 402, "B's refusal is remembered"
        assert call(a, "release", token_a) == 200
        freed = time.perf_counter()
        while call(b, "checkout", token_b) != 200:
            if time.perf_counter() - freed > 10:
                raise SystemExit("B was not licensed within 10 s")
        times.append((time.perf_counter() - freed) * 1000)
        assert call(b, "release", token_b) == 200
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    print(f"{pick(0.5):.1f} {pick(0.9):.1f} {times[-1]:.1f}")


def monday(base, tokens_file, concurrency):
    """A Monday morning: every agent's first checkout (each claims a floating license), with
    CONCURRENCY agents asking at once, each over its own kept-alive connection. Prints the
    seconds from the first request to the last answer, how many were licensed, and how many
    answered anything else."""
    import queue
    import threading
    tokens = queue.Queue()
    for t in open(tokens_file).read().split():
        tokens.put(t)
    u = urllib.parse.urlparse(base)
    counts = {"ok": 0, "other": 0}
    lock = threading.Lock()

    def work():
        con = http.client.HTTPConnection(u.hostname, u.port)
        while True:
            try:
                token = tokens.get_nowait()
            except queue.Empty:
                return
            while True:
                con.request("POST", "/api/v1/agents/checkout",
                            headers={"Authorization": f"Bearer {token}"})
                r = con.getresponse()
                r.read()
                # A 503 is "try again" (the database was busy past the pool's bound), as agents do.
                if r.status != 503:
                    break
                time.sleep(0.05)
            with lock:
                counts["ok" if r.status == 200 else "other"] += 1

    threads = [threading.Thread(target=work) for _ in range(int(concurrency))]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"{time.perf_counter() - started:.2f} {counts['ok']} {counts['other']}")


def shutdown(base_a, cookie, base_b, ids_file, tokens_file, rounds):
    """Each round takes the next agent: licensed on instance B (twice: the second answer comes
    from B's memory), then shut down by the administrator through instance A; B is polled over a
    kept-alive connection until it refuses the agent. Prints the times from the shut-down's answer
    to B's refusal in ms: median, p90, max."""
    ids = open(ids_file).read().split()
    tokens = open(tokens_file).read().split()
    ua, ub = urllib.parse.urlparse(base_a), urllib.parse.urlparse(base_b)
    a = http.client.HTTPConnection(ua.hostname, ua.port)
    b = http.client.HTTPConnection(ub.hostname, ub.port)

    def checkout(token):
        b.request("POST", "/api/v1/agents/checkout", headers={"Authorization": f"Bearer {token}"})
        r = b.getresponse()
        r.read()
        return r.status

    times = []
    for agent_id, token in list(zip(ids, tokens))[: int(rounds)]:
        assert checkout(token) == 200, "licensed on B"
        assert checkout(token) == 200, "licensed again, from B's memory"
        a.request("POST", "/api/agents/shut_down",
                  body=urllib.parse.urlencode({"agent_id": agent_id}),
                  headers={"Cookie": f"tessera_session={cookie}", "Origin": base_a,
                           "Content-Type": "application/x-www-form-urlencoded"})
        r = a.getresponse()
        r.read()
        assert r.status == 200, f"shut down through A: {r.status}"
        done = time.perf_counter()
        while checkout(token) != 403:
            if time.perf_counter() - done > 10:
                raise SystemExit("B still licensed the agent 10 s after its shut-down")
        times.append((time.perf_counter() - done) * 1000)
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    print(f"{pick(0.5):.1f} {pick(0.9):.1f} {times[-1]:.1f}")


def main():
    a = sys.argv[1:]
    if a[0] == "claim":
        return claim(*a[1:])
    if a[0] == "handoff":
        return handoff(*a[1:])
    if a[0] == "shutdown":
        return shutdown(*a[1:])
    if a[0] == "monday":
        return monday(*a[1:])
    db, what, rest = a[0], a[1], a[2:]
    if what == "ids":
        print("\n".join(ids(db, *rest)))
    elif what == "usage-history":
        usage_history(db, *rest)
    else:
        {"users": users, "seats": seats, "agents": agents}[what](db, *rest)


if __name__ == "__main__":
    main()
