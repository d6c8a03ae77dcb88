#!/usr/bin/env python3
"""appliance-syscalls: kmsd and tsmd, traced with strace through a first start, requests (REST,
and KMIP for kmsd, as kmsd.service turns it on) and a SIGTERM stop, make only system calls their unit's SystemCallFilter= allows. Without systemd as
PID 1 the units cannot be started here; this is how the filter is checked against the real
daemons instead (a call outside the filter would kill the service or fail with EPERM).

  syscalls_test.py UNIT_DIR KMSD TSMD ECHO_PLUGIN
"""
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def expand(group, seen=None):
    """The system calls of a systemd-analyze syscall-filter group, nested groups expanded."""
    seen = set() if seen is None else seen
    if group in seen:
        return set()
    seen.add(group)
    out = subprocess.run(["systemd-analyze", "syscall-filter", group], capture_output=True,
                         text=True, check=True).stdout.splitlines()[1:]
    calls = set()
    for line in out:
        name = line.strip()
        if not name or name.startswith("#"):
            continue
        calls |= expand(name, seen) if name.startswith("@") else {name}
    return calls


def allowed_by(unit_path):
    """The allow list the unit's SystemCallFilter= lines make (systemd.exec(5): the first line
    without ~ starts an allow list, ~ lines remove from it)."""
    allow, deny = set(), set()
    for line in open(unit_path):
        line = line.strip()
        if not line.startswith("SystemCallFilter="):
            continue
        value = line.split("=", 1)[1]
        target = deny if value.startswith("~") else allow
        for item in value.lstrip("~").split():
            target |= expand(item) if item.startswith("@") else {item}
    if not allow:
        fail(f"{unit_path}: no allow-list SystemCallFilter=")
    return allow - deny


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def traced(cmd, log_path, summary_path, exercise):
    """Runs cmd under strace -f -c until it logs "listening", calls exercise(), stops it with
    SIGTERM and returns the set of system calls made by every thread."""
    log = open(log_path, "w")
    # As under systemd (Type=notify, WatchdogSec=): the readiness and watchdog datagrams are
    # traced too, to a socket that reads nothing (a full one is fine: MSG_DONTWAIT).
    env = dict(os.environ, NOTIFY_SOCKET=os.path.join(os.path.dirname(log_path), "notify.sock"),
               WATCHDOG_USEC="1000000")
    tracer = subprocess.Popen(["strace", "-f", "-qq", "-c", "-o", summary_path] + cmd,
                              stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.time() + 90
        while "listening" not in open(log_path).read():
            if tracer.poll() is not None or time.time() > deadline:
                fail(f"{cmd[0]} did not start:\n{open(log_path).read()}")
            time.sleep(0.2)
        exercise()
        # The daemon is strace's child; SIGTERM goes to it, as systemd would send it.
        child = int(open(f"/proc/{tracer.pid}/task/{tracer.pid}/children").read().split()[0])
        os.kill(child, signal.SIGTERM)
        tracer.wait(timeout=60)
    finally:
        if tracer.poll() is None:
            # Killing strace alone would leave the traced daemon running, detached.
            try:
                for pid in open(f"/proc/{tracer.pid}/task/{tracer.pid}/children").read().split():
                    os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
            tracer.kill()
            tracer.wait()
    calls = set()
    for line in open(summary_path):
        f = line.split()
        if len(f) >= 5 and re.fullmatch(r"[0-9.]+", f[0]) and f[-1] != "total":
            calls.add(f[-1])
    if len(calls) < 10:
        fail(f"strace saw only {sorted(calls)}")
    return calls


def kmip_discover_versions(ctx, port):
    """Sends one KMIP 1.2 Discover Versions request message (KMIP 1.4 §4.26, TTLV §9.1) and
    returns the response message's bytes."""
    def item(tag, typ, body):
        return (tag.to_bytes(3, "big") + bytes([typ]) + len(body).to_bytes(4, "big") + body +
                b"\0" * ((8 - len(body) % 8) % 8))

    def integer(tag, typ, v):
        return item(tag, typ, v.to_bytes(4, "big"))
    version = item(0x420069, 1, integer(0x42006A, 2, 1) + integer(0x42006B, 2, 2))
    header = item(0x420077, 1, version + integer(0x42000D, 2, 1))
    batch = item(0x42000F, 1, integer(0x42005C, 5, 0x1E) + item(0x420079, 1, b""))
    message = item(0x420078, 1, header + batch)
    with socket.create_connection(("127.0.0.1", port), timeout=30) as raw:
        with ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            tls.sendall(message)
            head = b""
            while len(head) < 8:
                chunk = tls.recv(8 - len(head))
                if not chunk:
                    fail("KMIP: the connection closed before a response")
                head += chunk
            body = b""
            while len(body) < int.from_bytes(head[4:8], "big"):
                chunk = tls.recv(65536)
                if not chunk:
                    fail("KMIP: the response was cut short")
                body += chunk
            return head + body


def check(name, calls, allowed):
    outside = sorted(calls - allowed)
    if outside:
        fail(f"{name} made system calls its unit's SystemCallFilter= denies: {outside}")
    print(f"ok: {name}: {len(calls)} distinct system calls, all allowed by its unit")


def main():
    if len(sys.argv) != 5:
        fail("usage: syscalls_test.py UNIT_DIR KMSD TSMD ECHO_PLUGIN")
    unit_dir, kmsd, tsmd, echo = (os.path.abspath(a) for a in sys.argv[1:])
    for tool in ["strace", "systemd-analyze", "openssl"]:
        if shutil.which(tool) is None:
            fail(f"{tool} is missing (scripts/deps.sh installs it)")
    with tempfile.TemporaryDirectory() as tmp:
        notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        notify.bind(os.path.join(tmp, "notify.sock"))
        # kmsd: first start (token, master keys, store, CA), then a key and a MAC with it.
        data = os.path.join(tmp, "kmsd")
        port = free_port()

        def use_kmsd():
            ctx = ssl.create_default_context(cafile=os.path.join(data, "tls", "ca.pem"))
            token = open(os.path.join(data, "admin.token")).read().strip()

            def call(method, path, body=None):
                req = urllib.request.Request(
                    f"https://127.0.0.1:{port}{path}", method=method,
                    data=None if body is None else json.dumps(body).encode(),
                    headers={"Authorization": "Bearer " + token,
                             "Content-Type": "application/json"})
                with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                    return json.loads(r.read())
            if call("GET", "/healthz")["status"] != "ok":
                fail("kmsd /healthz not ok")
            key = call("POST", "/v1/keys", {"name": "k", "algorithm": "AES-256",
                                            "usage": ["mac", "verify"]})
            call("POST", f"/v1/keys/{key['id']}/mac", {"algorithm": "AES-CMAC",
                                                      "data": "00112233445566778899"})
            # KMIP, which kmsd.service turns on: a client certificate from the KMS CA, then one
            # Discover Versions over mutual TLS.
            subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=kmip-client",
                            "-keyout", os.path.join(tmp, "c.key"), "-out",
                            os.path.join(tmp, "c.csr")], check=True, capture_output=True)
            made = call("POST", "/v1/principals", {"name": "kmip-client", "roles": ["key-officer"],
                                                   "csr": open(os.path.join(tmp, "c.csr")).read()})
            open(os.path.join(tmp, "c.crt"), "w").write(made["certificate"])
            ctx.load_cert_chain(os.path.join(tmp, "c.crt"), os.path.join(tmp, "c.key"))
            answer = kmip_discover_versions(ctx, kmip_port)
            # A Response Message (42007B, a Structure) whose Result Status (42007F) is Success.
            if answer[:4] != bytes.fromhex("42007B01") or \
                    bytes.fromhex("42007F05000000040000000000000000") not in answer:
                fail(f"KMIP: not a successful response: {answer[:64].hex()}")
        kmip_port = free_port()
        calls = traced([kmsd, "--data-dir", data, "--listen", f"127.0.0.1:{port}",
                        "--kmip-listen", f"127.0.0.1:{kmip_port}"],
                       os.path.join(tmp, "kmsd.log"), os.path.join(tmp, "kmsd.strace"), use_kmsd)
        check("kmsd", calls, allowed_by(os.path.join(unit_dir, "kmsd.service")))
        if "sendto" not in calls:
            fail("kmsd sent no sd_notify datagram under strace (NOTIFY_SOCKET was set)")

        # tsmd: the echo test plugin, a stored value and the health check.
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1", "-days",
                        "1", "-keyout", os.path.join(tmp, "t.key"), "-out",
                        os.path.join(tmp, "t.crt")], check=True, capture_output=True)
        tport = free_port()
        cfg = os.path.join(tmp, "tsmd.json")
        json.dump({"listen": f"127.0.0.1:{tport}", "tls": {"certificate": "t.crt",
                   "key": "t.key"}, "store": "tsm-store",
                   "plugins": [{"instance": "echo", "library": echo}]}, open(cfg, "w"))

        def use_tsmd():
            ctx = ssl.create_default_context(cafile=os.path.join(tmp, "t.crt"))
            ctx.check_hostname = False
            for method, path, body in [("GET", "/healthz", None),
                                       ("PUT", "/echo/kv/t/k", b"value"),
                                       ("GET", "/echo/kv/t/k", None)]:
                req = urllib.request.Request(f"https://127.0.0.1:{tport}{path}", method=method,
                                             data=body)
                with urllib.request.urlopen(req, context=ctx, timeout=30) as r:
                    r.read()
        calls = traced([tsmd, "--config", cfg], os.path.join(tmp, "tsmd.log"),
                       os.path.join(tmp, "tsmd.strace"), use_tsmd)
        check("tsmd", calls, allowed_by(os.path.join(unit_dir, "tsmd@.service")))
    print("PASS")


if __name__ == "__main__":
    main()
