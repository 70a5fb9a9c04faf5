#!/usr/bin/env python3
"""Seeding helper of scripts/bench.sh: rows inserted straight into Tessera's database, each kind in
one transaction, after the server has run its migrations. Column names follow migrations/src/*.rs.

  seed.py DB users  N ADMIN_ID TENANT_ID,TENANT_ID,...     10,000 users sharing the admin's hash
  seed.py DB seats  PRODUCT CERT_ID ADMIN_ID FIRST LAST     seats of users FIRST..LAST (1-based)
  seed.py DB agents N TENANT_ID,... TOKENS_OUT              agents whose tokens go to TOKENS_OUT
  seed.py DB ids    FIRST LAST                               ids of users FIRST..LAST, one a line
  seed.py claim BASE TOKENS                                  one checkout per token (claims a license)

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


def main():
    a = sys.argv[1:]
    if a[0] == "claim":
        return claim(*a[1:])
    db, what, rest = a[0], a[1], a[2:]
    if what == "ids":
        print("\n".join(ids(db, *rest)))
    else:
        {"users": users, "seats": seats, "agents": agents}[what](db, *rest)


if __name__ == "__main__":
    main()
