#!/usr/bin/env python3
"""appliance-notify: kmsd and tsmd speak systemd's readiness protocol (sd_notify(3)) over a real
unix datagram socket, as systemd would hand it to a Type=notify service.

  notify_test.py KMSD TSMD ECHO_PLUGIN

kmsd (a first start on a fresh SoftHSM2 token in a temporary folder, NOTIFY_SOCKET a socket
path): STATUS lines during the first start, then READY=1, and when READY=1 arrives the
"listening" line is already written and the HTTPS port answers GET /healthz at once; WATCHDOG=1
at half of WATCHDOG_USEC; STOPPING=1 on SIGTERM, then exit 0. Second start without
NOTIFY_SOCKET: nothing arrives and nothing is reported. Third start with NOTIFY_SOCKET naming
no socket: one warning, kmsd serves anyway. tsmd (the echo test plugin, NOTIFY_SOCKET an
abstract name "@..."): READY=1 after "listening" with the port answering, STOPPING=1 on SIGTERM;
a relative or too long NOTIFY_SOCKET is reported and tsmd serves. Costs about 4 s. Every
process is stopped by PID and the folder removed, also on failure.
"""
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import urllib.request

children = []


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def start(cmd, log_path, env):
    log = open(log_path, "w")
    p = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
    children.append(p)
    return p


def stop(p, timeout=30):
    """SIGTERM, as systemd sends it; the exit code."""
    p.send_signal(signal.SIGTERM)
    try:
        return p.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        fail(f"{p.args[0]} did not stop within {timeout} s of SIGTERM")


def receive(sock, until, deadline_s=60, proc=None, log_path=None):
    """Datagrams until one contains the line `until`; returns (all, text of the log at the
    moment that one arrived)."""
    got = []
    deadline = time.time() + deadline_s
    sock.settimeout(0.2)
    while time.time() < deadline:
        try:
            data = sock.recv(4096).decode()
        except socket.timeout:
            if proc is not None and proc.poll() is not None:
                fail(f"{proc.args[0]} exited rc={proc.returncode} before {until}:\n" +
                     (open(log_path).read() if log_path else ""))
            continue
        got.append(data)
        if until in data.split("\n"):
            return got, open(log_path).read() if log_path else ""
    fail(f"no {until} within {deadline_s} s; received {got}")


def healthz(port, cafile):
    ctx = ssl.create_default_context(cafile=cafile)
    ctx.check_hostname = False
    with urllib.request.urlopen(f"https://127.0.0.1:{port}/healthz", context=ctx,
                                timeout=10) as r:
        return r.status


def port_of(log_text):
    for line in log_text.splitlines():
        if "listening on https://" in line:
            return int(line.rsplit(":", 1)[1])
    fail(f"no 'listening on' line in:\n{log_text}")


def check_ready(name, datagrams, log_text, port, cafile):
    ready = [d for d in datagrams if "READY=1" in d.split("\n")]
    if len(ready) != 1 or ready[0] != datagrams[-1]:
        fail(f"{name}: expected READY=1 once, last: {datagrams}")
    if "listening" not in log_text:
        fail(f"{name}: READY=1 arrived before the 'listening' line:\n{log_text}")
    # The port accepted connections before READY=1 was sent: it answers right away.
    if healthz(port, cafile) != 200:
        fail(f"{name}: /healthz did not answer 200 right after READY=1")


def kmsd_runs(kmsd, tmp):
    data = os.path.join(tmp, "kmsd-data")
    path = os.path.join(tmp, "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC",
                                                            "WATCHDOG_PID")}
    cmd = [kmsd, "--data-dir", data, "--listen", "127.0.0.1:0"]
    cafile = os.path.join(data, "tls", "ca.pem")

    # 1. First start under a notify socket with a 1 s watchdog.
    log1 = os.path.join(tmp, "kmsd-1.log")
    p = start(cmd, log1, dict(env, NOTIFY_SOCKET=path, WATCHDOG_USEC="1000000"))
    got, text = receive(sock, "READY=1", proc=p, log_path=log1)
    statuses = [line for d in got for line in d.split("\n") if line.startswith("STATUS=")]
    if not any("first start" in s for s in statuses) or not any("self-tests" in s for s in
                                                                 statuses):
        fail(f"kmsd: no STATUS lines for the first start and self-tests before READY: {got}")
    check_ready("kmsd", got, text, port_of(text), cafile)
    print(f"ok: kmsd: {len(statuses)} STATUS lines, READY=1 after 'listening', port answers")
    # Half of WATCHDOG_USEC: at least two pings in 1.6 s, each from the health check.
    pings = 0
    sock.settimeout(0.2)
    until = time.time() + 1.6
    while time.time() < until:
        try:
            if sock.recv(4096) == b"WATCHDOG=1":
                pings += 1
        except socket.timeout:
            pass
    if pings < 2:
        fail(f"kmsd: {pings} WATCHDOG=1 in 1.6 s with WATCHDOG_USEC=1000000 (expected >= 2)")
    print(f"ok: kmsd: {pings} WATCHDOG=1 in 1.6 s")
    rc = stop(p)
    got, _ = receive(sock, "STOPPING=1", deadline_s=5)
    if rc != 0:
        fail(f"kmsd: exit {rc} after SIGTERM:\n{open(log1).read()}")
    print("ok: kmsd: STOPPING=1 on SIGTERM, exit 0")

    # 2. No NOTIFY_SOCKET: nothing sent, nothing reported, serves and stops as before.
    log2 = os.path.join(tmp, "kmsd-2.log")
    p = start(cmd, log2, env)
    deadline = time.time() + 60
    while "listening" not in open(log2).read():
        if p.poll() is not None or time.time() > deadline:
            fail(f"kmsd without NOTIFY_SOCKET did not start:\n{open(log2).read()}")
        time.sleep(0.05)
    if healthz(port_of(open(log2).read()), cafile) != 200:
        fail("kmsd without NOTIFY_SOCKET: /healthz")
    rc = stop(p)
    sock.settimeout(0.3)
    try:
        fail(f"kmsd without NOTIFY_SOCKET sent {sock.recv(4096)!r}")
    except socket.timeout:
        pass
    text = open(log2).read()
    if rc != 0 or "notify" in text:
        fail(f"kmsd without NOTIFY_SOCKET: rc={rc}:\n{text}")
    print("ok: kmsd: without NOTIFY_SOCKET nothing sent, nothing reported, exit 0")

    # 3. NOTIFY_SOCKET naming no socket: one warning, kmsd serves anyway.
    log3 = os.path.join(tmp, "kmsd-3.log")
    p = start(cmd, log3, dict(env, NOTIFY_SOCKET=os.path.join(tmp, "absent.sock")))
    deadline = time.time() + 60
    while "listening" not in open(log3).read():
        if p.poll() is not None or time.time() > deadline:
            fail(f"kmsd with a dead NOTIFY_SOCKET did not start:\n{open(log3).read()}")
        time.sleep(0.05)
    if healthz(port_of(open(log3).read()), cafile) != 200:
        fail("kmsd with a dead NOTIFY_SOCKET: /healthz")
    rc = stop(p)
    text = open(log3).read()
    if rc != 0 or text.count("cannot notify the service manager") != 1:
        fail(f"kmsd with a dead NOTIFY_SOCKET: rc={rc}, expected one warning:\n{text}")
    print("ok: kmsd: an unusable NOTIFY_SOCKET gives one warning and kmsd serves")
    sock.close()


def tsmd_run(tsmd, echo, tmp):
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-subj", "/CN=127.0.0.1", "-days", "1",
                    "-keyout", os.path.join(tmp, "t.key"), "-out", os.path.join(tmp, "t.crt")],
                   check=True, capture_output=True)
    cfg = os.path.join(tmp, "tsmd.json")
    with open(cfg, "w") as f:
        json.dump({"listen": "127.0.0.1:0", "tls": {"certificate": "t.crt", "key": "t.key"},
                   "store": "tsm-store", "plugins": [{"instance": "echo", "library": echo}]}, f)
    name = f"@kms-notify-test-{os.getpid()}-{time.time_ns()}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name[1:])  # Python writes the abstract namespace with a NUL byte
    log = os.path.join(tmp, "tsmd.log")
    p = start([tsmd, "--config", cfg], log, dict(os.environ, NOTIFY_SOCKET=name))
    got, text = receive(sock, "READY=1", proc=p, log_path=log)
    check_ready("tsmd", got, text, port_of(text), os.path.join(tmp, "t.crt"))
    rc = stop(p)
    receive(sock, "STOPPING=1", deadline_s=5)
    if rc != 0:
        fail(f"tsmd: exit {rc} after SIGTERM:\n{open(log).read()}")
    sock.close()
    print("ok: tsmd: READY=1 after 'listening' (abstract socket), STOPPING=1 on SIGTERM")

    # Unusable names: a relative path and one longer than sun_path. Reported, tsmd serves.
    for bad, why in [("notify.sock", "neither an absolute path nor an abstract name"),
                     ("/" + "x" * 120, "longer than a unix socket address")]:
        log = os.path.join(tmp, "tsmd-bad.log")
        p = start([tsmd, "--config", cfg], log, dict(os.environ, NOTIFY_SOCKET=bad))
        deadline = time.time() + 30
        while "listening" not in open(log).read():
            if p.poll() is not None or time.time() > deadline:
                fail(f"tsmd with NOTIFY_SOCKET={bad!r} did not start:\n{open(log).read()}")
            time.sleep(0.05)
        if healthz(port_of(open(log).read()), os.path.join(tmp, "t.crt")) != 200:
            fail(f"tsmd with NOTIFY_SOCKET={bad!r}: /healthz")
        rc = stop(p)
        if rc != 0 or why not in open(log).read():
            fail(f"tsmd with NOTIFY_SOCKET={bad!r}: rc={rc}, expected '{why}':\n"
                 f"{open(log).read()}")
    print("ok: tsmd: a relative or too long NOTIFY_SOCKET is reported, tsmd serves")


def main():
    if len(sys.argv) != 4:
        fail("usage: notify_test.py KMSD TSMD ECHO_PLUGIN")
    kmsd, tsmd, echo = (os.path.abspath(a) for a in sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        try:
            kmsd_runs(kmsd, tmp)
            tsmd_run(tsmd, echo, tmp)
        finally:
            for p in children:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    print("PASS")


if __name__ == "__main__":
    main()
