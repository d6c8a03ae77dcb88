#!/usr/bin/env python3
"""appliance-notify-watchdog: kmsd's WATCHDOG=1 pings come from its HSM health check, not from
a blind timer: when the module hangs in that check, the pings stop (so systemd's WatchdogSec=
would restart kmsd), and they resume when the module answers again.

  notify_watchdog_test.py KMSD FAULTSHIM SOFTHSM2_UTIL

A SoftHSM2 token made with softhsm2-util in a temporary folder, reached through the fault shim
(hsm-adapters/faultshim) as a vendor HSM whose user PIN comes from the systemd credential
hsm-pin ($CREDENTIALS_DIRECTORY, no --pin-file). kmsd runs with NOTIFY_SOCKET (a real unix
datagram socket) and WATCHDOG_USEC=500000, so it pings at every 250 ms health check. Then the
control file delays C_GetSessionInfo (the check's one PKCS#11 call) by 1.5 s for one check: a
gap of at least 1.2 s without a ping must appear; once the module answers again, so do pings.
Costs about 5 s. kmsd is stopped by PID and the folder removed, also on failure.
"""
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

PIN = "wd-87654321"


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def pings(sock, seconds):
    """Arrival times of WATCHDOG=1 datagrams during `seconds`."""
    times = []
    end = time.time() + seconds
    while time.time() < end:
        sock.settimeout(max(0.01, end - time.time()))
        try:
            if sock.recv(4096) == b"WATCHDOG=1":
                times.append(time.time())
        except socket.timeout:
            pass
    return times


def control(path, text):
    with open(path + ".new", "w") as f:  # atomically, as the shim asks
        f.write(text + "\n")
    os.rename(path + ".new", path)


def main():
    if len(sys.argv) != 4:
        fail("usage: notify_watchdog_test.py KMSD FAULTSHIM SOFTHSM2_UTIL")
    kmsd, shim, util = (os.path.abspath(a) for a in sys.argv[1:])
    with tempfile.TemporaryDirectory() as tmp:
        conf = os.path.join(tmp, "softhsm2.conf")
        os.mkdir(os.path.join(tmp, "tokens"))
        with open(conf, "w") as f:
            f.write(f"directories.tokendir = {tmp}/tokens\nobjectstore.backend = file\n"
                    "log.level = ERROR\n")
        ctl = os.path.join(tmp, "control")
        control(ctl, "")
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_PID")}
        env.update(SOFTHSM2_CONF=conf, KMS_FAULTSHIM_CONTROL=ctl)
        subprocess.run([util, "--init-token", "--free", "--label", "kms-wd", "--so-pin",
                        "12345678", "--pin", PIN], env=env, check=True, capture_output=True,
                       timeout=60)
        creds = os.path.join(tmp, "creds")
        os.mkdir(creds, 0o700)
        with open(os.path.join(creds, "hsm-pin"), "w") as f:
            f.write(PIN)
        os.chmod(os.path.join(creds, "hsm-pin"), 0o400)

        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(os.path.join(tmp, "notify.sock"))
        env.update(NOTIFY_SOCKET=os.path.join(tmp, "notify.sock"), WATCHDOG_USEC="500000",
                   CREDENTIALS_DIRECTORY=creds)
        log_path = os.path.join(tmp, "kmsd.log")
        p = subprocess.Popen([kmsd, "--data-dir", os.path.join(tmp, "data"), "--listen",
                              "127.0.0.1:0", "--hsm-module", shim, "--token-label", "kms-wd"],
                             stdout=open(log_path, "w"), stderr=subprocess.STDOUT, env=env)
        try:
            deadline = time.time() + 60
            sock.settimeout(0.2)
            while True:
                if p.poll() is not None or time.time() > deadline:
                    fail(f"kmsd did not become ready (rc={p.poll()}):\n{open(log_path).read()}")
                try:
                    if b"READY=1" in sock.recv(4096):
                        break
                except socket.timeout:
                    pass
            before = pings(sock, 1.0)
            if len(before) < 2:
                fail(f"{len(before)} WATCHDOG=1 in 1 s with WATCHDOG_USEC=500000")
            print(f"ok: {len(before)} pings in 1 s while the HSM answers")

            control(ctl, "delay C_GetSessionInfo 1500")
            start = time.time()
            during = pings(sock, 1.0)
            # The delayed check started within 250 ms and is still sleeping: the next one
            # finds the delay gone.
            control(ctl, "")
            during += pings(sock, 1.0)
            stamps = [start] + during + [time.time()]
            gap = max(b - a for a, b in zip(stamps, stamps[1:]))
            if gap < 1.2:
                fail(f"the HSM check hung 1.5 s but the pings went on (largest gap {gap:.2f} s)")
            print(f"ok: a hung health check stops the pings (gap {gap:.2f} s)")

            after = pings(sock, 1.0)
            if not after:
                fail("no WATCHDOG=1 after the module answered again")
            print(f"ok: pings resume ({len(after)} in 1 s)")
            p.send_signal(signal.SIGTERM)
            if p.wait(timeout=30) != 0:
                fail(f"kmsd exit {p.returncode}:\n{open(log_path).read()}")
            if PIN in open(log_path).read():
                fail("kmsd's log holds the PIN")
        finally:
            if p.poll() is None:
                p.kill()
                p.wait()
            sock.close()
    print("PASS")


if __name__ == "__main__":
    main()
