#!/usr/bin/python3
# KMIP benchmark (issue 9, docs/benchmarks.md "KMIP"): kmsd's KMIP listener and PyKMIP's own
# server (pykmip-server, the same python3-pykmip package) side by side in one run, driven by the
# same two clients (KMIP 1.4, TLS 1.2+ with client certificates from kmsd's CA for both):
# PyKMIP's Python client (CLIENTS processes) and the C++ load client benchmarks/kmip_load
# (THREADS threads, one connection each, the same request bytes as PyKMIP's). For each server,
# client and operation: operations per second over DURATION seconds, and the server's CPU time
# per operation (utime + stime from /proc, so the client's own cost is not counted). The C++
# client's errors are counted and its first error printed: a row with errors is not a result.
#
# Operations: Get of an RSA-2048 public key (kmsd refuses Get of secret key material, so the
# comparable Get is a public key's on both servers) and Encrypt of 64 bytes with AES-256 CBC,
# PKCS#5 padding, a given IV.
#
# Usage: benchmarks/kmip_bench.py [DURATION_S] [CLIENTS] [THREADS]
#        (KMS_BUILD: build folder, default build; defaults 5 s, 2 processes, 2 threads)
# Starts and stops both servers itself (free ports on 127.0.0.1, a temporary folder).
import multiprocessing
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")

from kmip.core import enums
from kmip.pie import client as pie_client

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.environ.get("KMS_BUILD", os.path.join(ROOT, "build"))
KMSD = os.path.join(BUILD, "kms-core", "daemon", "kmsd")
KMSCTL = os.path.join(BUILD, "kms-core", "cli", "kmsctl")
KMIP_LOAD = os.path.join(BUILD, "benchmarks", "kmip_load")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_port(port, proc, what):
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(what + " exited")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(what + " did not listen")


def openssl_key_csr(key, csr, cn, san=None):
    cmd = ["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
           "-nodes", "-keyout", key, "-subj", "/CN=" + cn, "-out", csr]
    if san:
        cmd += ["-addext", "subjectAltName=" + san]
    subprocess.run(cmd, check=True, capture_output=True)


def client(port, files, ca):
    return pie_client.ProxyKmipClient(
        hostname="127.0.0.1", port=port, cert=files[0], key=files[1], ca=ca,
        ssl_version="PROTOCOL_TLS", config_file=files[2],
        kmip_version=enums.KMIPVersion.KMIP_1_4)


PARAMS = {"cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
          "block_cipher_mode": enums.BlockCipherMode.CBC,
          "padding_method": enums.PaddingMethod.PKCS5}
IV = bytes(range(16))
DATA = bytes(64)


def worker(port, files, ca, op, uid, seconds, out):
    n = 0
    with client(port, files, ca) as c:
        end = time.time() + seconds
        while time.time() < end:
            if op == "get":
                c.get(uid)
            else:
                c.encrypt(DATA, uid=uid, cryptographic_parameters=PARAMS, iv_counter_nonce=IV)
            n += 1
    out.put(n)


def measure(name, pid, port, files, ca, op, uid, seconds, clients):
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=worker, args=(port, files, ca, op, uid, seconds, q))
             for _ in range(clients)]
    cpu0, t0 = cpu_seconds(pid), time.time()
    for p in procs:
        p.start()
    total = sum(q.get() for _ in procs)
    for p in procs:
        p.join()
    cpu, wall = cpu_seconds(pid) - cpu0, time.time() - t0
    return {"server": name, "client": "PyKMIP x%d" % clients, "op": op, "ops": total,
            "errors": 0, "rate": total / wall, "p50": "", "p99": "",
            "cpu_us": cpu / total * 1e6 if total else float("nan")}


def measure_cpp(name, pid, port, files, ca, op, uid, seconds, threads):
    """The C++ client (benchmarks/kmip_load): its own count of successes, errors, rate and
    latency percentiles; the server's CPU over the whole run."""
    cpu0 = cpu_seconds(pid)
    r = subprocess.run([KMIP_LOAD, "--port", str(port), "--cert", files[0], "--key", files[1],
                        "--ca", ca, "--op", op, "--id", uid, "--threads", str(threads),
                        "--seconds", str(seconds), "--version", "1.4"],
                       capture_output=True, text=True, timeout=seconds + 60)
    cpu = cpu_seconds(pid) - cpu0
    lines = r.stdout.splitlines()
    if not lines or not lines[0].startswith("op="):
        raise RuntimeError("kmip_load against %s: %s %s" % (name, r.stdout, r.stderr))
    f = dict(x.split("=", 1) for x in lines[0].split())
    if len(lines) > 1:
        print("%s, kmip_load %s: %s" % (name, op, lines[1]))
    ok = int(f["ok"])
    return {"server": name, "client": "kmip_load x%d" % threads, "op": op, "ops": ok,
            "errors": int(f["errors"]), "rate": float(f["ops_per_s"]), "p50": f["p50_us"],
            "p99": f["p99_us"], "cpu_us": cpu / ok * 1e6 if ok else float("nan")}


def setup_objects(port, files, ca):
    with client(port, files, ca) as c:
        aes = c.create(enums.CryptographicAlgorithm.AES, 256)
        c.activate(aes)
        pub, priv = c.create_key_pair(
            enums.CryptographicAlgorithm.RSA, 2048,
            public_usage_mask=[enums.CryptographicUsageMask.VERIFY],
            private_usage_mask=[enums.CryptographicUsageMask.SIGN])
        c.activate(priv)
        c.activate(pub)
        c.get(pub)
        c.encrypt(DATA, uid=aes, cryptographic_parameters=PARAMS, iv_counter_nonce=IV)
    return aes, pub


def main():
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 5
    clients = int(sys.argv[2]) if len(sys.argv) > 2 else 2
    threads = int(sys.argv[3]) if len(sys.argv) > 3 else 2
    root = tempfile.mkdtemp(prefix="kms-kmip-bench-")
    procs = []
    try:
        data = os.path.join(root, "kmsd")
        kport, rest = free_port(), free_port()
        with open(os.path.join(root, "kmsd.log"), "wb") as log:
            kmsd = subprocess.Popen([KMSD, "--data-dir", data, "--listen", "127.0.0.1:%d" % rest,
                                     "--kmip-listen", "127.0.0.1:%d" % kport],
                                    stdout=log, stderr=subprocess.STDOUT)
        procs.append(kmsd)
        wait_port(kport, kmsd, "kmsd")
        kmsctl = [KMSCTL, "--data-dir", data]
        # One client identity for both servers, from kmsd's CA.
        ckey, ccsr, ccrt = (os.path.join(root, "client." + e) for e in ("key", "csr", "crt"))
        openssl_key_csr(ckey, ccsr, "bench")
        subprocess.run(kmsctl + ["principal", "create", "bench", "--role", "key-officer",
                                 "--csr-file", ccsr, "--cert-out", ccrt, "--token-out",
                                 os.path.join(root, "bench.token")], check=True,
                       capture_output=True)
        conf = os.path.join(root, "pykmip.conf")
        open(conf, "w").close()
        files = (ccrt, ckey, conf)
        chain = os.path.join(root, "chain.pem")
        with open(chain, "w") as f:
            f.write(subprocess.run(kmsctl + ["ca", "chain"], check=True, capture_output=True,
                                   text=True).stdout)
        # pykmip-server's certificate from the same CA (server profile, 127.0.0.1).
        skey, scsr, scrt = (os.path.join(root, "pykmip." + e) for e in ("key", "csr", "crt"))
        openssl_key_csr(skey, scsr, "pykmip-server", "IP:127.0.0.1")
        subprocess.run(kmsctl + ["ca", "issue", "--csr-file", scsr, "--profile", "server",
                                 "--out", scrt], check=True, capture_output=True)
        pport = free_port()
        policies = os.path.join(root, "policies")
        os.mkdir(policies)
        sconf = os.path.join(root, "server.conf")
        with open(sconf, "w") as f:
            f.write("[server]\nhostname=127.0.0.1\nport=%d\ncertificate_path=%s\n"
                    "key_path=%s\nca_path=%s\nauth_suite=TLS1.2\npolicy_path=%s\n"
                    "enable_tls_client_auth=True\nlogging_level=WARNING\ndatabase_path=%s\n"
                    % (pport, scrt, skey, chain, policies, os.path.join(root, "pykmip.sqlite")))
        with open(os.path.join(root, "pykmip-server.out"), "wb") as log:
            pyk = subprocess.Popen(
                ["/usr/bin/pykmip-server", "-f", sconf,
                 "-l", os.path.join(root, "pykmip-server.log")],
                stdout=log, stderr=subprocess.STDOUT)
        procs.append(pyk)
        wait_port(pport, pyk, "pykmip-server")

        rows = []
        for name, pid, port in (("kmsd", kmsd.pid, kport), ("pykmip-server", pyk.pid, pport)):
            aes, pub = setup_objects(port, files, chain)
            for op, uid in (("get", pub), ("encrypt", aes)):
                rows.append(measure(name, pid, port, files, chain, op, uid, seconds, clients))
                rows.append(measure_cpp(name, pid, port, files, chain, op, uid, seconds,
                                        threads))
        print("| server | client | operation | ops | errors | ops/s | p50 / p99 (us) "
              "| server CPU per op (us) |")
        print("|---|---|---|---|---|---|---|---|")
        for r in rows:
            lat = "%s / %s" % (r["p50"], r["p99"]) if r["p50"] else "-"
            print("| %s | %s | %s | %d | %d | %.0f | %s | %.0f |" % (
                r["server"], r["client"], r["op"], r["ops"], r["errors"], r["rate"], lat,
                r["cpu_us"]))
        errors = sum(r["errors"] for r in rows)
        if errors:
            print("ERRORS: %d responses were not Success (see above)" % errors)
            return 1
        by = {(r["server"], r["client"], r["op"]): r for r in rows}
        for cl in ("PyKMIP x%d" % clients, "kmip_load x%d" % threads):
            for op in ("get", "encrypt"):
                k, p = by[("kmsd", cl, op)], by[("pykmip-server", cl, op)]
                print("%s, %s: kmsd/pykmip-server throughput x%.1f, CPU per op 1/%.1f" %
                      (cl, op, k["rate"] / p["rate"], p["cpu_us"] / k["cpu_us"]))
        # Best throughput each server reached with either client, and its CPU per op then.
        for op in ("get", "encrypt"):
            best = {s: max((r for r in rows if r["server"] == s and r["op"] == op),
                           key=lambda r: r["rate"])
                    for s in ("kmsd", "pykmip-server")}
            k, p = best["kmsd"], best["pykmip-server"]
            print("best, %s: kmsd %.0f/s (%s) vs pykmip-server %.0f/s (%s): throughput x%.1f, "
                  "CPU per op 1/%.1f" % (op, k["rate"], k["client"], p["rate"], p["client"],
                                         k["rate"] / p["rate"], p["cpu_us"] / k["cpu_us"]))
        return 0
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
            # Once, a pykmip-server outlived this loop (seen as an orphan afterwards): make
            # sure by PID that nothing started here is left running.
            cmdline = "/proc/%d/cmdline" % p.pid
            try:
                with open(cmdline, "rb") as f:
                    alive = root.encode() in f.read()
            except OSError:
                alive = False
            if alive:
                os.kill(p.pid, signal.SIGKILL)
        if os.environ.get("BENCH_KEEP") is None:
            shutil.rmtree(root, ignore_errors=True)
        else:
            print("kept", root)


if __name__ == "__main__":
    sys.exit(main())
