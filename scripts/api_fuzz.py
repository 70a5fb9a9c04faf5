"""Fuzzes the agent API from its own OpenAPI document (schemathesis), against a release server
started by scripts/api-fuzz.sh on a fresh database.

Before the run it makes the installation an agent meets in the field: the administrator signs
in, requests licenses, has tessera-vendor issue a platform license for the Default tenant and
floating agent licenses, uploads and confirms them, and registers one agent. Schemathesis then
sends what the document allows (and what it does not), with that agent's token on every request,
and checks every answer against the document: no 5xx, only documented statuses, bodies and
content types as documented, schema-violating requests refused, secured routes refusing a
missing token. Exits non-zero on any failure.

usage: python api_fuzz.py BASE_URL DATA_DIR VENDOR_TOOL SECONDS
"""

import base64
import json
import os
import pathlib
import subprocess
import sys

import requests

ADMIN_PASSWORD = "admin-password-1"


def call(session, base, endpoint, form):
    """A server function, as the pages post to it."""
    r = session.post(f"{base}/api/{endpoint}", data=form)
    if not r.ok:
        sys.exit(f"api-fuzz: {endpoint}: {r.status_code} {r.text}")
    return r.json()


def tenants_of(request_text):
    b64 = request_text.split("-----BEGIN TESSERA LICENSE REQUEST-----")[1].split("-----END")[0]
    return json.loads(base64.b64decode("".join(b64.split())))["tenants"]


def main():
    base, data, vendor, seconds = sys.argv[1], pathlib.Path(sys.argv[2]), sys.argv[3], sys.argv[4]
    admin = requests.Session()
    call(admin, base, "login", {"user_name": "admin", "password": ADMIN_PASSWORD})

    request = call(admin, base, "licenses/request", {"company_id": "acme", "target_version": "8.1"})
    request_path = data / request["file_name"]
    request_path.write_text(request["text"])
    default = next(t for t in tenants_of(request["text"]) if t["name"] == "Default")
    agent = {"type": "agent", "product": "ai-server", "product_name": "Fuzzed Agent",
             "mode": "subscription", "days": 90, "binding": "floating"}
    spec = [{"type": "platform", "product": "ai-server", "product_name": "Fuzzed Platform",
             "mode": "subscription", "days": 365, "tenant": default["id"]}] + [agent] * 4
    spec_path, package = data / "spec.json", data / "package.lcs"
    spec_path.write_text(json.dumps(spec))
    subprocess.run([vendor, "issue", "--key", str(data / "vendor.key"), "--request",
                    str(request_path), "--spec", str(spec_path), "--out", str(package)], check=True)
    uploaded = admin.post(f"{base}/licenses/upload", allow_redirects=False,
                          files={"package": ("package.lcs", package.read_bytes(), "text/plain")})
    location = uploaded.headers.get("location")
    if not location:
        sys.exit(f"api-fuzz: upload: {uploaded.status_code} {uploaded.text}")
    call(admin, base, "licenses/confirm", {"id": location.rsplit("/", 1)[-1]})

    listing = call(admin, base, "tenants/list", {})
    key = next(t for t in listing["tenants"] if t["is_default"])["enrollment_key"]
    registered = requests.post(f"{base}/api/v1/agents/register",
                               json={"enrollment_key": key, "machine_id": "api-fuzz"})
    if registered.status_code != 200:
        sys.exit(f"api-fuzz: register: {registered.status_code} {registered.text}")
    token = registered.json()["token"]

    st = pathlib.Path(sys.executable).parent / "st"
    command = [
        str(st), "run", f"{base}/api/v1/openapi.json",
        "--checks", "all",
        "--header", f"Authorization: Bearer {token}",
        "--max-time", seconds,
        "--workers", "1",
        "--seed", os.environ.get("TESSERA_API_FUZZ_SEED", "1"),
        "--request-timeout", "30",
        "--no-color",
    ]
    print("api-fuzz:", " ".join(c if "Bearer" not in c else "--header 'Authorization: Bearer …'"
                                 for c in command), flush=True)
    sys.exit(subprocess.run(command).returncode)


if __name__ == "__main__":
    main()
