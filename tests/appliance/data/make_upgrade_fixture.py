#!/usr/bin/env python3
"""Makes tests/appliance/data/upgrade-schema1.tar.xz and upgrade-schema1.json: a kmsd data
directory written by the kmsd of the previous store format (store schema 1, key records and
key blocks format 1), and what that kmsd answered about it. Not run by CI: the fixture is
committed; this script says exactly how it was made (see upgrade-schema1.README.md).

  make_upgrade_fixture.py OLD_KMSD OUT_DIR

OLD_KMSD is kmsd built from commit 8210bd6 (the parent of 431b55d, which introduced schema 2).
It runs on 127.0.0.1 on a free port with a temporary data directory, gets several keys and
operations through its REST API, is stopped with SIGTERM, and the store is compacted with
`mdb_copy -c` before the directory is archived (sorted names, fixed times and owners).
"""
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

DATA = "00112233445566778899aabbccddeeff" * 2  # 32 bytes of fixed input
IV16 = "000102030405060708090a0b0c0d0e0f"
IV8 = "0001020304050607"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class Api:
    def __init__(self, port, data_dir):
        self.base = f"https://127.0.0.1:{port}"
        self.ctx = ssl.create_default_context(cafile=os.path.join(data_dir, "tls", "ca.pem"))
        with open(os.path.join(data_dir, "admin.token")) as f:
            self.token = f.read().strip()

    def call(self, method, path, body=None):
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(self.base + path, data=data, method=method)
        req.add_header("Authorization", "Bearer " + self.token)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, context=self.ctx, timeout=30) as r:
                return r.status, json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read() or b"null")


def main():
    old_kmsd, out_dir = sys.argv[1], sys.argv[2]
    root = tempfile.mkdtemp(prefix="kms-upgrade-fixture-")
    data = os.path.join(root, "data")
    port = free_port()
    log = open(os.path.join(root, "kmsd.log"), "w+")
    env = {k: v for k, v in os.environ.items()
           if k not in ("CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "SOFTHSM2_CONF")}
    proc = subprocess.Popen([old_kmsd, "--data-dir", data, "--listen", f"127.0.0.1:{port}"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + 60
        while True:
            log.seek(0)
            if "listening" in log.read():
                break
            if proc.poll() is not None or time.time() > deadline:
                log.seek(0)
                sys.exit("old kmsd did not start:\n" + log.read())
            time.sleep(0.05)
        api = Api(port, data)
        keys, ops = {}, []

        def create(name, algorithm, usage, activate=True):
            st, k = api.call("POST", "/v1/keys", {"name": name, "algorithm": algorithm,
                                                   "usage": usage, "activate": activate})
            assert st == 201, (st, k)
            keys[name] = k["id"]

        def op(name, suffix, body, replay=True):
            st, r = api.call("POST", f"/v1/keys/{keys[name]}/{suffix}", body)
            ops.append({"key": name, "op": suffix, "request": body, "status": st,
                        "response": r if st < 300 else None,
                        "error": r.get("error") if st >= 300 else None, "replay": replay})
            return r

        create("upg-aes128-mac", "AES-128", ["mac"])
        op("upg-aes128-mac", "mac", {"algorithm": "AES-CMAC", "data": DATA})
        create("upg-aes256-enc", "AES-256", ["encrypt", "decrypt"])
        ct = op("upg-aes256-enc", "encrypt",
                {"algorithm": "AES-CBC", "plaintext": DATA, "iv": IV16})["ciphertext"]
        op("upg-aes256-enc", "decrypt", {"algorithm": "AES-CBC", "ciphertext": ct, "iv": IV16})
        op("upg-aes256-enc", "encrypt",
           {"algorithm": "AES-GCM", "plaintext": DATA, "iv": IV16[:24], "aad": "a0a1"})
        create("upg-aes256-rotated", "AES-256", ["mac"])
        # Version 1's MAC is checked through mac/verify with "version": 1 after the rotation.
        v1 = op("upg-aes256-rotated", "mac", {"algorithm": "AES-CMAC", "data": DATA},
                replay=False)["mac"]
        st, _ = api.call("POST", f"/v1/keys/{keys['upg-aes256-rotated']}/rotate")
        assert st == 200, st
        op("upg-aes256-rotated", "mac", {"algorithm": "AES-CMAC", "data": DATA})
        op("upg-aes256-rotated", "mac/verify",
           {"algorithm": "AES-CMAC", "data": DATA, "mac": v1, "version": 1})
        create("upg-des3", "DES3-3K", ["mac", "encrypt", "decrypt"])
        op("upg-des3", "mac", {"algorithm": "DES3-RETAIL", "data": DATA})
        op("upg-des3", "encrypt", {"algorithm": "DES3-CBC", "plaintext": DATA, "iv": IV8})
        create("upg-hmac", "HMAC-SHA256", ["mac"])
        op("upg-hmac", "mac", {"algorithm": "HMAC-SHA256", "data": DATA})
        create("upg-ec", "EC-P256", ["sign", "verify"])
        sig = op("upg-ec", "sign", {"algorithm": "ECDSA-SHA256", "data": DATA},
                 replay=False)["signature"]
        op("upg-ec", "verify", {"algorithm": "ECDSA-SHA256", "data": DATA, "signature": sig})
        create("upg-deactivated", "AES-128", ["encrypt", "decrypt"])
        # Encrypted while active; after the deactivation only its decryption is replayed.
        ct = op("upg-deactivated", "encrypt",
                {"algorithm": "AES-CBC", "plaintext": DATA, "iv": IV16}, replay=False)["ciphertext"]
        st, _ = api.call("POST", f"/v1/keys/{keys['upg-deactivated']}/deactivate",
                         {"reason": "upgrade fixture"})
        assert st == 200, st
        op("upg-deactivated", "decrypt", {"algorithm": "AES-CBC", "ciphertext": ct, "iv": IV16})
        op("upg-deactivated", "encrypt",
           {"algorithm": "AES-CBC", "plaintext": DATA, "iv": IV16})  # refused: deactivated
        create("upg-suspended", "AES-128", ["mac"])
        st, _ = api.call("POST", f"/v1/keys/{keys['upg-suspended']}/suspend")
        assert st == 200, st
        op("upg-suspended", "mac", {"algorithm": "AES-CMAC", "data": DATA})  # refused
        create("upg-preactive", "AES-128", ["mac"], activate=False)
        op("upg-preactive", "mac", {"algorithm": "AES-CMAC", "data": DATA})  # refused
        create("upg-revoked", "AES-128", ["mac"])
        st, _ = api.call("POST", f"/v1/keys/{keys['upg-revoked']}/revoke",
                         {"reason": "keyCompromise"})
        assert st == 200, st
        op("upg-revoked", "mac", {"algorithm": "AES-CMAC", "data": DATA})  # refused
        create("upg-destroyed", "AES-128", ["mac"])
        st, _ = api.call("POST", f"/v1/keys/{keys['upg-destroyed']}/deactivate")
        assert st == 200, st  # an active key is deactivated before it can be destroyed
        st, _ = api.call("POST", f"/v1/keys/{keys['upg-destroyed']}/destroy",
                         {"reason": "upgrade fixture"})
        assert st == 200, st
        op("upg-destroyed", "mac", {"algorithm": "AES-CMAC", "data": DATA})  # refused

        expected = {"madeBy": "kmsd at commit 8210bd6ef94688498fde495d57b206fbc46e1e3e "
                              "(store schema 1)",
                    "data": DATA, "keys": [], "operations": ops}
        for name, kid in keys.items():
            st, k = api.call("GET", f"/v1/keys/{kid}")
            assert st == 200, (st, k)
            expected["keys"].append({f: k.get(f) for f in (
                "id", "name", "algorithm", "usage", "state", "version", "kcv", "publicKey")}
                | {"versions": [{"version": v["version"], "kcv": v["kcv"]}
                                for v in k["versions"]]})
        st, v = api.call("GET", "/v1/audit/verify")
        assert st == 200, (st, v)
        expected["auditVerify"] = v
        st, a = api.call("GET", "/v1/audit?limit=1000")
        assert st == 200, (st, a)
        # The records verified above, then audit.verify's own record: all written by the old kmsd.
        expected["auditRecords"] = a["records"]
    except BaseException:
        proc.kill()
        proc.wait()
        shutil.rmtree(root, ignore_errors=True)
        raise
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(timeout=30)
    if rc != 0:
        log.seek(0)
        sys.exit(f"old kmsd exited {rc}:\n" + log.read())

    # Compact the store (a consistent copy; the environment is closed now anyway).
    store = os.path.join(data, "store")
    compact = os.path.join(root, "compact")
    os.mkdir(compact, 0o700)
    subprocess.run(["mdb_copy", "-c", store, compact], check=True)
    for f in os.listdir(store):
        os.remove(os.path.join(store, f))
    shutil.move(os.path.join(compact, "data.mdb"), os.path.join(store, "data.mdb"))
    os.chmod(os.path.join(store, "data.mdb"), 0o600)
    for f in ("kmsd.url",):
        if os.path.exists(os.path.join(data, f)):
            os.remove(os.path.join(data, f))

    os.makedirs(out_dir, exist_ok=True)
    subprocess.run(["tar", "-C", root, "--sort=name", "--mtime=@0", "--owner=0", "--group=0",
                    "--numeric-owner", "-cJf",
                    os.path.join(out_dir, "upgrade-schema1.tar.xz"), "data"], check=True)
    with open(os.path.join(out_dir, "upgrade-schema1.json"), "w") as f:
        json.dump(expected, f, indent=1, sort_keys=True)
        f.write("\n")
    shutil.rmtree(root)


if __name__ == "__main__":
    main()
