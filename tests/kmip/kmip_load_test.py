#!/usr/bin/python3
# The C++ KMIP load client (benchmarks/kmip_load, which benchmarks/kmip_bench.py uses) against a
# real kmsd over mutual TLS, so that the benchmark's counts mean something: 2 threads of
# Encrypt for 1 s with an active AES key give successes and no error; Get of an EC public key
# likewise (0.5 s); a key id kmsd does not know gives only errors, reported with Item Not Found
# and a non-zero exit; a bad option is a usage error (exit 2). The request bytes kmip_load sends
# (caught by a TLS server here that then hangs up, which kmip_load counts as an error) are
# byte for byte those PyKMIP encodes for the same Get and Encrypt (PyKMIP's encoder called
# without a connection), so kmip_bench.py compares the servers on the same requests as with
# PyKMIP's client. kmsd is started and the client enrolled as tests/kmip/pykmip_interop.py does
# (kmsctl, KMS CA); kmsd is stopped by PID and the folder removed even on failure. About 4 s
# with kmsd's start.
#
# Usage: kmip_load_test.py   (KMSD, KMSCTL, KMIP_LOAD: paths of kmsd, kmsctl and kmip_load)
import os
import socket
import ssl
import struct
import subprocess
import sys
import threading
import warnings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pykmip_interop import Kmsd, check, client, enrol, kmsctl, run_test  # noqa: E402

from kmip.core import enums, utils  # noqa: E402
from kmip.pie import client as pie_client  # noqa: E402
from kmip.services import kmip_client  # noqa: E402

warnings.filterwarnings("ignore")


def load(kmsd, cert_file, key_file, *args):
    """Runs kmip_load; returns (exit status, its key=value fields, its whole output)."""
    r = subprocess.run([os.environ["KMIP_LOAD"], "--port", str(kmsd.kmip_port), "--cert",
                        cert_file, "--key", key_file, "--ca", kmsd.ca, *args],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    fields = dict(f.split("=", 1) for f in r.stdout.splitlines()[0].split() if "=" in f) \
        if r.stdout and r.stdout.startswith("op=") else {}
    return r.returncode, fields, r.stdout.strip()


def pykmip_request(root, op, uid):
    """The Request Message PyKMIP 0.10's ProxyKmipClient encodes (KMIP 1.4) for @p op, taken
    at its send step (no connection is made)."""
    caught = []

    class Caught(Exception):
        pass

    def send(proxy, message):
        stream = utils.BytearrayStream()
        message.write(stream, kmip_version=proxy.kmip_version)
        caught.append(bytes(stream.buffer))
        raise Caught()

    conf = os.path.join(root, "capture.conf")
    open(conf, "w").close()
    saved = kmip_client.KMIPProxy._send_message
    kmip_client.KMIPProxy._send_message = send
    try:
        c = pie_client.ProxyKmipClient(hostname="127.0.0.1", port=1, config_file=conf,
                                       kmip_version=enums.KMIPVersion.KMIP_1_4)
        c._is_open = True  # the send step is replaced: nothing is connected
        try:
            if op == "get":
                c.get(uid)
            else:
                c.encrypt(bytes(64), uid=uid, iv_counter_nonce=bytes(range(16)),
                          cryptographic_parameters={
                              "cryptographic_algorithm": enums.CryptographicAlgorithm.AES,
                              "block_cipher_mode": enums.BlockCipherMode.CBC,
                              "padding_method": enums.PaddingMethod.PKCS5})
        except Caught:
            pass
    finally:
        kmip_client.KMIPProxy._send_message = saved
    return caught[0]


def kmip_load_request(kmsd, root, cert_file, key_file, op, uid):
    """The first Request Message kmip_load sends, read by a TLS server here (certificate from
    kmsd's CA for 127.0.0.1, client certificate required) that then closes the connection;
    also checks that kmip_load counts the closed connection as an error."""
    key, csr, crt = (os.path.join(root, "catcher." + e) for e in ("key", "csr", "crt"))
    if not os.path.exists(crt):
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-subj",
                        "/CN=catcher", "-addext", "subjectAltName=IP:127.0.0.1", "-out", csr],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kmsctl(kmsd, "ca", "issue", "--csr-file", csr, "--profile", "server", "--out", crt)
        with open(os.path.join(root, "chain.pem"), "w") as f:
            f.write(kmsctl(kmsd, "ca", "chain"))
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(crt, key)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.load_verify_locations(kmsd.ca)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    listener.settimeout(20)
    got = []

    def serve():
        try:
            conn, _ = listener.accept()
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.settimeout(20)
                data = b""
                while len(data) < 8 or len(data) < 8 + struct.unpack(">I", data[4:8])[0]:
                    chunk = tls.recv(65536)
                    if not chunk:
                        break
                    data += chunk
                got.append(data)
        except OSError as e:
            got.append(("error", e))

    t = threading.Thread(target=serve)
    t.start()
    try:
        r = subprocess.run([os.environ["KMIP_LOAD"], "--port", str(listener.getsockname()[1]),
                            "--cert", cert_file, "--key", key_file, "--ca",
                            os.path.join(root, "chain.pem"), "--op", op, "--id", uid,
                            "--threads", "1", "--seconds", "5"],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=30)
    finally:
        t.join()
        listener.close()
    check(r.returncode == 1 and " ok=0 errors=1 " in r.stdout and "closed" in r.stdout,
          "%s: a server that hangs up is one error, exit 1: %s" % (op, r.stdout.strip()))
    return got[0]


def main():
    def body(t):
        root = t.root
        t.kmsd = kmsd = Kmsd(root)
        cert_file, key_file = enrol(kmsd, root, "kmip-load")
        with client(kmsd, cert_file, key_file, root, "1.4") as c:
            aes = c.create(enums.CryptographicAlgorithm.AES, 256)
            c.activate(aes)
            pub, priv = c.create_key_pair(
                enums.CryptographicAlgorithm.ECDSA, 256,
                public_usage_mask=[enums.CryptographicUsageMask.VERIFY],
                private_usage_mask=[enums.CryptographicUsageMask.SIGN])

        rc, f, out = load(kmsd, cert_file, key_file, "--op", "encrypt", "--id", aes,
                          "--threads", "2", "--seconds", "1")
        check(rc == 0 and f.get("threads") == "2" and int(f.get("ok", 0)) > 0 and
              f.get("errors") == "0" and int(f.get("p99_us", 0)) >= int(f.get("p50_us", 0)) > 0,
              "encrypt, 2 threads, 1 s: successes, no error: " + out)
        rc, f, out = load(kmsd, cert_file, key_file, "--op", "get", "--id", pub,
                          "--threads", "1", "--seconds", "0.5", "--version", "2.0")
        check(rc == 0 and int(f.get("ok", 0)) > 0 and f.get("errors") == "0",
              "get of a public key in KMIP 2.0, 0.5 s: successes, no error: " + out)
        rc, f, out = load(kmsd, cert_file, key_file, "--op", "encrypt", "--id", "k-no-such-key",
                          "--threads", "2", "--seconds", "0.5")
        check(rc == 1 and f.get("ok") == "0" and int(f.get("errors", 0)) > 0 and
              "first_error: status=1 reason=0x01" in out,
              "encrypt with an unknown key id: every response an error, Item Not Found: " + out)
        for op in ("get", "encrypt"):
            sent = kmip_load_request(kmsd, root, cert_file, key_file, op, "k-some-id")
            check(sent == pykmip_request(root, op, "k-some-id"),
                  "%s: kmip_load sends PyKMIP's Request Message byte for byte (%d bytes)"
                  % (op, len(sent) if isinstance(sent, bytes) else -1))
        rc, _, out = load(kmsd, cert_file, key_file, "--op", "sign", "--id", aes)
        check(rc == 2 and "--op must be get or encrypt" in out, "a bad --op: usage error: " + out)

    return run_test("kms-kmip-load-", body, "kmip_load")

if __name__ == "__main__":
    sys.exit(main())
