#!/usr/bin/python3
# The C++ KMIP load client (benchmarks/kmip_load, which benchmarks/kmip_bench.py uses) against a
# real kmsd over mutual TLS, so that the benchmark's counts mean something: 2 threads of
# Encrypt for 1 s with an active AES key give successes and no error; Get of an EC public key
# likewise (0.5 s); a key id kmsd does not know gives only errors, reported with Item Not Found
# and a non-zero exit; a bad option is a usage error (exit 2). kmsd is started and the client
# enrolled as tests/kmip/pykmip_interop.py does (kmsctl, KMS CA); kmsd is stopped by PID and the
# folder removed even on failure. About 3 s with kmsd's start.
#
# Usage: kmip_load_test.py   (KMSD, KMSCTL, KMIP_LOAD: paths of kmsd, kmsctl and kmip_load)
import os
import shutil
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pykmip_interop import Kmsd, check, client, enrol  # noqa: E402

from kmip.core import enums  # noqa: E402


def load(kmsd, cert_file, key_file, *args):
    """Runs kmip_load; returns (exit status, its key=value fields, its whole output)."""
    r = subprocess.run([os.environ["KMIP_LOAD"], "--port", str(kmsd.kmip_port), "--cert",
                        cert_file, "--key", key_file, "--ca", kmsd.ca, *args],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    fields = dict(f.split("=", 1) for f in r.stdout.splitlines()[0].split() if "=" in f) \
        if r.stdout and r.stdout.startswith("op=") else {}
    return r.returncode, fields, r.stdout.strip()


def main():
    root = tempfile.mkdtemp(prefix="kms-kmip-load-")
    kmsd = None
    try:
        kmsd = Kmsd(root)
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
        rc, _, out = load(kmsd, cert_file, key_file, "--op", "sign", "--id", aes)
        check(rc == 2 and "--op must be get or encrypt" in out, "a bad --op: usage error: " + out)
        print("PASS: kmip_load")
        return 0
    except Exception as e:  # report with kmsd's log, then fail
        print("FAIL: %s: %s" % (type(e).__name__, e))
        if kmsd is not None:
            print("---- kmsd log ----\n" + kmsd.output()[-4000:])
        return 1
    finally:
        if kmsd is not None:
            kmsd.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
