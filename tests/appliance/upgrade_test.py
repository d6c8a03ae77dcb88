#!/usr/bin/env python3
"""appliance-upgrade: today's kmsd on a data directory written by the kmsd of the previous store
format (schema 1; tests/appliance/data/upgrade-schema1.*, made by make_upgrade_fixture.py).

  upgrade_test.py KMSD FIXTURE.tar.xz FIXTURE.json

The fixture is unpacked into a temporary folder (softhsm2.conf's token path rewritten for it)
and kmsd runs on 127.0.0.1 on a free port, stopped by PID. Checks:
1. migration: kmsd logs "store schema 1 migrated to 3" and the store's schema_version (read
   with mdb_dump, raw LMDB) is 3; every key of the JSON has the same id, name, algorithm,
   usage, state, version, KCVs and public key; every recorded MAC, encryption, decryption and
   verification gives the bytes (or the refusal status) the old kmsd gave; the audit chain
   verifies and its old records are unchanged; a key can be created and rotated.
2. restart: no second migration, everything (the new key too) still there, the chain verifies.
3. refusal: on a copy relabelled schema_version 4 (mdb_load), kmsd exits non-zero naming both
   versions, and the store file's bytes are unchanged.
Costs about 3 s (two served starts and one refused start).
"""
import hashlib
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

KEY_FIELDS = ("id", "name", "algorithm", "usage", "state", "version", "kcv", "publicKey")
MIGRATED = "store schema 1 migrated to 3"
children = []


def fail(msg):
    raise AssertionError(msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def env():
    return {k: v for k, v in os.environ.items()
            if k not in ("CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "SOFTHSM2_CONF")}


class Kmsd:
    """kmsd on DATA, its output in LOG (appended), stopped with SIGTERM by PID."""

    def __init__(self, kmsd, data, log):
        self.kmsd, self.data, self.log = kmsd, data, log
        self.port = free_port()
        self.proc = None

    def output(self):
        with open(self.log) as f:
            return f.read()

    def start(self):
        before = len(self.output()) if os.path.exists(self.log) else 0
        out = open(self.log, "a")
        self.proc = subprocess.Popen(
            [self.kmsd, "--data-dir", self.data, "--listen", f"127.0.0.1:{self.port}"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env())
        out.close()
        children.append(self.proc)
        deadline = time.time() + 60
        while "listening" not in self.output()[before:]:
            if self.proc.poll() is not None or time.time() > deadline:
                fail("kmsd did not start:\n" + self.output())
            time.sleep(0.05)
        with open(os.path.join(self.data, "admin.token")) as f:
            self.token = f.read().strip()
        self.ctx = ssl.create_default_context(cafile=os.path.join(self.data, "tls", "ca.pem"))
        return self.output()[before:]

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        rc = self.proc.wait(timeout=20)
        if rc != 0:
            fail(f"kmsd exited {rc} on SIGTERM:\n" + self.output())

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(f"https://127.0.0.1:{self.port}{path}", data=data,
                                     method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def schema_version(store):
    """schema_version from the meta database, read with mdb_dump (raw LMDB)."""
    out = subprocess.run(["mdb_dump", "-p", "-s", "meta", store], check=True,
                         capture_output=True, text=True).stdout.splitlines()
    for i, line in enumerate(out):
        if line == " schema_version":
            return out[i + 1].strip()
    fail("no schema_version in " + store)


def set_schema_version(store, value):
    """Overwrites schema_version with mdb_load (raw LMDB, no kmsd involved)."""
    dump = ("VERSION=3\nformat=print\ntype=btree\nHEADER=END\n"
            f" schema_version\n {value}\nDATA=END\n")
    subprocess.run(["mdb_load", "-s", "meta", store], input=dump, text=True, check=True)


def check_keys(k, expected):
    for want in expected["keys"]:
        st, got = k.call("GET", f"/v1/keys/{want['id']}")
        if st != 200:
            fail(f"key {want['name']} ({want['id']}): HTTP {st} {got}")
        for f in KEY_FIELDS:
            if got.get(f) != want.get(f):
                fail(f"key {want['name']}: {f} is {got.get(f)!r}, was {want.get(f)!r}")
        versions = [{"version": v["version"], "kcv": v["kcv"]} for v in got["versions"]]
        if versions != want["versions"]:
            fail(f"key {want['name']}: versions {versions}, were {want['versions']}")


def check_operations(k, expected):
    ids = {key["name"]: key["id"] for key in expected["keys"]}
    replayed = 0
    for op in expected["operations"]:
        if not op["replay"]:
            continue
        st, got = k.call("POST", f"/v1/keys/{ids[op['key']]}/{op['op']}", op["request"])
        if st != op["status"]:
            fail(f"{op['key']} {op['op']}: HTTP {st} {got}, the old kmsd gave {op['status']}")
        if op["error"] is not None and got.get("error") != op["error"]:
            fail(f"{op['key']} {op['op']}: {got}, the old kmsd refused with {op['error']}")
        if op["response"] is not None and got != op["response"]:
            fail(f"{op['key']} {op['op']}: {got}, the old kmsd gave {op['response']}")
        replayed += 1
    if replayed < 10:
        fail(f"only {replayed} operations replayed")


def check_audit(k, expected, at_least):
    st, v = k.call("GET", "/v1/audit/verify")
    if st != 200 or not v["valid"]:
        fail(f"audit chain does not verify: {st} {v}")
    if v["records"] < at_least:
        fail(f"audit chain has {v['records']} records, expected at least {at_least}")
    old = expected["auditRecords"]
    st, got = k.call("GET", f"/v1/audit?from=1&limit={len(old)}")
    if st != 200 or got["records"] != old:
        fail("the old audit records changed:\n" + json.dumps(got)[:2000])
    return v["records"]


def main():
    kmsd, fixture, expected_file = sys.argv[1:4]
    for tool in ("mdb_dump", "mdb_load", "xz"):
        if shutil.which(tool) is None:
            fail(f"{tool} is missing (scripts/deps.sh installs lmdb-utils and xz-utils)")
    with open(expected_file) as f:
        expected = json.load(f)
    root = tempfile.mkdtemp(prefix="kms-upgrade-test-")
    try:
        subprocess.run(["tar", "-C", root, "-xJf", fixture], check=True)
        data = os.path.join(root, "data")
        conf = os.path.join(data, "softhsm2.conf")
        with open(conf) as f:
            lines = [f"directories.tokendir = {data}/tokens\n"
                     if l.startswith("directories.tokendir") else l for l in f]
        with open(conf, "w") as f:
            f.writelines(lines)
        store = os.path.join(data, "store")
        if schema_version(store) != "1":
            fail("the fixture's store is not schema 1")

        # 1. migration
        k = Kmsd(kmsd, data, os.path.join(root, "kmsd.log"))
        first = k.start()
        if MIGRATED not in first:
            fail(f"no '{MIGRATED}' line:\n" + first)
        if schema_version(store) != "3":
            fail("schema_version after the migration: " + schema_version(store))
        check_keys(k, expected)
        check_operations(k, expected)
        audited = check_audit(k, expected, len(expected["auditRecords"]) + 1)
        st, new = k.call("POST", "/v1/keys", {"name": "upg-after", "algorithm": "AES-256",
                                                "usage": ["mac"]})
        if st != 201:
            fail(f"create after the migration: {st} {new}")
        st, rotated = k.call("POST", f"/v1/keys/{new['id']}/rotate")
        if st != 200 or rotated["version"] != 2:
            fail(f"rotate after the migration: {st} {rotated}")
        st, mac = k.call("POST", f"/v1/keys/{new['id']}/mac",
                         {"algorithm": "AES-CMAC", "data": expected["data"]})
        if st != 200 or mac["version"] != 2:
            fail(f"mac with the new key: {st} {mac}")
        k.stop()

        # 2. restart: no second migration, nothing lost
        again = k.start()
        if MIGRATED in again or "migrat" in again:
            fail("a second migration on restart:\n" + again)
        check_keys(k, expected)
        st, got = k.call("GET", f"/v1/keys/{new['id']}")
        if st != 200 or got["version"] != 2 or got["kcv"] != rotated["kcv"]:
            fail(f"the key created after the migration, after a restart: {st} {got}")
        check_operations(k, expected)
        check_audit(k, expected, audited + 3)
        k.stop()
        if schema_version(store) != "3":
            fail("schema_version after the restart: " + schema_version(store))

        # 3. a store newer than this kmsd is refused, untouched
        newer = os.path.join(root, "newer")
        shutil.copytree(data, newer, symlinks=True)
        with open(os.path.join(newer, "softhsm2.conf"), "w") as f:
            f.writelines(l.replace(data, newer) for l in lines)
        newer_store = os.path.join(newer, "store")
        set_schema_version(newer_store, "4")
        db = os.path.join(newer_store, "data.mdb")
        with open(db, "rb") as f:
            before = hashlib.sha256(f.read()).hexdigest()
        r = subprocess.run([kmsd, "--data-dir", newer, "--listen", f"127.0.0.1:{free_port()}"],
                           capture_output=True, text=True, env=env(), timeout=60,
                           stdin=subprocess.DEVNULL)
        out = r.stdout + r.stderr
        if r.returncode == 0:
            fail("kmsd started on a schema 4 store:\n" + out)
        if "store schema 4 is newer than this kmsd (3)" not in out:
            fail(f"no clear refusal (exit {r.returncode}):\n" + out)
        if "listening" in out:
            fail("kmsd listened on a schema 4 store:\n" + out)
        with open(db, "rb") as f:
            if hashlib.sha256(f.read()).hexdigest() != before:
                fail("kmsd wrote into the schema 4 store it refused")
        if schema_version(newer_store) != "4":
            fail("schema_version of the refused store changed")
        print(f"ok: {len(expected['keys'])} keys migrated from schema 1, restart, "
              f"schema 4 refused (exit {r.returncode})")
    finally:
        for p in children:
            if p.poll() is None:
                p.kill()
                p.wait()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    try:
        main()
    except AssertionError as e:
        print("FAIL: " + str(e))
        sys.exit(1)
