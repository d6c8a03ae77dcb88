#!/usr/bin/python3
# KMIP Get of symmetric key material (docs/kmip.md "Get of secret keys") against a real kmsd
# over mutual TLS, started with --kmip-get-secret-keys owner: Debian's PyKMIP client
# (python3-pykmip, ProxyKmipClient) creates AES-256 keys in KMIP 1.2, 1.4 and 2.0 and Gets
# them (Raw); the value is checked by encrypting a block here with OpenSSL (python3-cryptography,
# AES-256-CBC, no padding, a given IV) and comparing with kmsd's own KMIP Encrypt of it. Raw
# TTLV asks for Transparent Symmetric Key, an unsupported format and a Key Wrapping
# Specification; Triple DES and HMAC-SHA256 keys are checked against OpenSSL's 3DES-CBC and
# Python's HMAC. Refusals (Permission Denied, audited): a key made over REST (exportable or
# not), a registered key, another client's key, an administrator, and every key once kmsd runs
# with kmip.get_secret_keys = never (the default, config file key). The audit log holds a
# key.reveal per Get and no key value; kmsd's log and store hold no value (hex or raw bytes).
# One kmsd data directory, two kmsd runs (about 4 s). kmsd is stopped by PID and the folder
# removed even on failure.
#
# Usage: kmip_get.py   (KMSD, KMSCTL: paths of kmsd and kmsctl)
import hashlib
import hmac
import json
import os
import struct
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pykmip_interop import (Kmsd, check, client, client_context, enrol, expect_failure,  # noqa: E402
                            kmip_exchange, kmsctl, run_test, ttlv)

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes  # noqa: E402
from kmip.core import enums  # noqa: E402
from kmip.pie import objects  # noqa: E402

U = enums.CryptographicUsageMask
DENIED = enums.ResultReason.PERMISSION_DENIED
# SP 800-38A F.2.5 (CBC-AES256.Encrypt): its IV and first plaintext block, as the data to
# encrypt with the got key (the key is kmsd's, so the ciphertext is compared, not published).
IV = bytes.fromhex("000102030405060708090a0b0c0d0e0f")
BLOCK = bytes.fromhex("6bc1bee22e409f96e93d7e117393172a")


def openssl_cbc(key, iv, data):
    e = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    return e.update(data) + e.finalize()


class Raw:
    """KMIP requests over raw TTLV (for what ProxyKmipClient cannot ask)."""

    def __init__(self, kmsd, cert_file, key_file):
        self.kmsd = kmsd
        self.ctx = client_context(kmsd, cert_file, key_file)

    def get(self, major, minor, uid, extra=()):
        version = ttlv(0x420069, 1, [ttlv(0x42006A, 2, major), ttlv(0x42006B, 2, minor)])
        msg = ttlv(0x420078, 1, [
            ttlv(0x420077, 1, [version, ttlv(0x42000D, 2, 1)]),
            ttlv(0x42000F, 1, [ttlv(0x42005C, 5, 0x0A), ttlv(0x420079, 1, [
                ttlv(0x420094, 7, uid)] + list(extra))])])
        return kmip_exchange(self.kmsd, self.ctx, msg)


def reason_of(resp):
    i = resp.find(bytes.fromhex("42007e050000000400"))
    return None if i < 0 else struct.unpack(">I", resp[i + 8:i + 12])[0]


def byte_string(tag, value):
    """The TTLV encoding of a Byte String (type 8), padded to 8 bytes."""
    return struct.pack(">I", tag)[1:] + b"\x08" + struct.pack(">I", len(value)) + value + \
        b"\0" * ((8 - len(value) % 8) % 8)


def get_checks(c, version, raw, values):
    """Create an AES-256 key, Get it (Raw), and prove the value is the key kmsd uses."""
    tag = version.replace(".", "")
    uid = c.create(enums.CryptographicAlgorithm.AES, 256, name="get-aes-" + tag,
                   cryptographic_usage_mask=[U.ENCRYPT, U.DECRYPT])
    key = c.get(uid)
    check(isinstance(key, objects.SymmetricKey) and len(key.value) == 32 and
          key.cryptographic_algorithm == enums.CryptographicAlgorithm.AES and
          key.cryptographic_length == 256 and key.key_format_type == enums.KeyFormatType.RAW,
          version + ": Get of a Pre-Active AES-256 key made over KMIP: 32 bytes, Raw")
    values.append(key.value)
    c.activate(uid)
    params = {"block_cipher_mode": enums.BlockCipherMode.CBC,
              "padding_method": enums.PaddingMethod.NONE}
    ct, _ = c.encrypt(BLOCK, uid=uid, cryptographic_parameters=params, iv_counter_nonce=IV)
    check(ct == openssl_cbc(key.value, IV, BLOCK),
          version + ": OpenSSL's AES-256-CBC with the got value equals kmsd's KMIP Encrypt")
    check(c.get(uid).value == key.value, version + ": a second Get (Active) gives the same value")
    major, minor = (int(x) for x in version.split("."))
    resp = raw.get(major, minor, uid, [ttlv(0x420042, 5, 0x07)])
    check(byte_string(0x42003F, key.value) in resp and reason_of(resp) is None,
          version + ": raw Get with Key Format Type Transparent Symmetric Key -> Key")
    resp = raw.get(major, minor, uid, [ttlv(0x420042, 5, 0x02)])
    check(reason_of(resp) == 0x10 and key.value not in resp,
          version + ": Key Format Type Opaque: Key Format Type Not Supported, no value")
    wrap = ttlv(0x420047, 1, [ttlv(0x42009E, 5, 1)])  # Wrapping Method Encrypt
    resp = raw.get(major, minor, uid, [wrap])
    check(reason_of(resp) == 0x08 and key.value not in resp,
          version + ": a Key Wrapping Specification: Feature Not Supported, no value")
    # Deactivated keys still decrypt (KMIP 1.4 §3.22): their value is still released.
    c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, uid)
    check(c.get(uid).value == key.value, version + ": Get of the Deactivated key")
    c.destroy(uid)
    expect_failure(lambda: c.get(uid), enums.ResultReason.PERMISSION_DENIED
                   if version < "2.0" else enums.ResultReason.WRONG_KEY_LIFECYCLE_STATE,
                   version + ": Get of the destroyed key")
    return uid


def other_algorithm_checks(c, raw, values):
    """Triple DES and HMAC-SHA256 keys made over KMIP (1.4): the got value gives kmsd's own
    Encrypt (OpenSSL's 3DES-CBC here) and MAC (Python's HMAC-SHA256 here)."""
    des = c.create(enums.CryptographicAlgorithm.TRIPLE_DES, 168, name="get-3des",
                   cryptographic_usage_mask=[U.ENCRYPT, U.DECRYPT])
    # PyKMIP 0.10 cannot take this answer (it wants Cryptographic Length 192 for 24 bytes;
    # kmsd says 168 as the KMIP test cases do): raw TTLV reads it.
    resp = raw.get(1, 4, des)
    at = resp.find(bytes.fromhex("4200430800000018"))  # Key Material, 24 bytes
    check(at > 0 and reason_of(resp) is None and ttlv(0x42002A, 2, 168) in resp,
          "1.4: raw Get of a Triple DES (168) key: 24 bytes of Raw Key Material, Length 168")
    value = resp[at + 8:at + 32]
    values.append(value)
    c.activate(des)
    params = {"block_cipher_mode": enums.BlockCipherMode.CBC,
              "padding_method": enums.PaddingMethod.NONE}
    ct, _ = c.encrypt(BLOCK, uid=des, cryptographic_parameters=params, iv_counter_nonce=IV[:8])
    e = Cipher(algorithms.TripleDES(value), modes.CBC(IV[:8])).encryptor()
    check(ct == e.update(BLOCK) + e.finalize(),
          "1.4: OpenSSL's 3DES-CBC with the got value equals kmsd's KMIP Encrypt")
    mac_uid = c.create(enums.CryptographicAlgorithm.HMAC_SHA256, 256, name="get-hmac",
                       cryptographic_usage_mask=[U.MAC_GENERATE, U.MAC_VERIFY])
    key = c.get(mac_uid)
    values.append(key.value)
    c.activate(mac_uid)
    _, tag = c.mac(BLOCK, uid=mac_uid, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)
    check(len(key.value) == 32 and tag == hmac.new(key.value, BLOCK, hashlib.sha256).digest(),
          "1.4: HMAC-SHA256 with the got value equals kmsd's KMIP MAC")
    return [des, mac_uid]


def refusal_checks(kmsd, root, c, values):
    """Keys that are not released: made over REST (exportable or not), registered, another
    client's, and an administrator's Get of this client's key. Returns the releasable key
    and the keys to try again under `never` (the REST-made ones and that key)."""
    token = os.path.join(root, "get-client.token")
    refused = []
    for name, extra in (("get-rest-exportable", ["--exportable"]), ("get-rest-plain", [])):
        shown = json.loads(kmsctl(kmsd, "--json", "--token-file", token, "key", "create", name,
                                  "--algorithm", "AES-256", "--usage", "encrypt,decrypt", *extra))
        uid = shown.get("id") or shown.get("keyId")
        check(shown.get("exportable") == bool(extra) and shown.get("createdBy", "get-client") ==
              "get-client", "kmsctl key create %s as get-client (exportable: %s)" %
              (name, bool(extra)))
        expect_failure(lambda: c.get(uid), DENIED,
                       "KMIP Get of the REST-made key %s by its creator" % name)
        refused.append(uid)
    reg = c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.AES, 128,
                                          bytes(range(16)), name="get-registered"))
    expect_failure(lambda: c.get(reg), DENIED, "Get of a registered key")
    mine = c.create(enums.CryptographicAlgorithm.AES, 256, name="get-mine",
                    cryptographic_usage_mask=[U.ENCRYPT, U.DECRYPT])
    values.append(c.get(mine).value)
    refused.append(mine)
    cert2, key2 = enrol(kmsd, root, "get-other")
    with client(kmsd, cert2, key2, root, "1.4") as other:
        expect_failure(lambda: other.get(mine), DENIED, "another key-officer client's Get")
    cert3, key3 = enrol(kmsd, root, "get-admin", role="admin")
    with client(kmsd, cert3, key3, root, "1.4") as admin:
        expect_failure(lambda: admin.get(mine), DENIED, "an administrator's Get of a client's key")
    return mine, refused


def main():
    def body(t):
        root = t.root
        r = subprocess.run([os.environ["KMSD"], "--data-dir", os.path.join(root, "data"),
                            "--kmip-get-secret-keys", "always"], capture_output=True, text=True,
                           timeout=30)
        check(r.returncode != 0 and "expected owner or never" in r.stderr and
              not os.path.exists(os.path.join(root, "data")),
              "--kmip-get-secret-keys always: refused before anything is made (%s)" %
              r.stderr.strip()[:90])
        t.kmsd = kmsd = Kmsd(root, ["--kmip-get-secret-keys", "owner"])
        cert_file, key_file = enrol(kmsd, root, "get-client")
        raw = Raw(kmsd, cert_file, key_file)
        values, got = [], []
        for version in ("1.2", "1.4", "2.0"):
            with client(kmsd, cert_file, key_file, root, version) as c:
                got.append(get_checks(c, version, raw, values))
        with client(kmsd, cert_file, key_file, root, "1.4") as c:
            got += other_algorithm_checks(c, raw, values)
            mine, refused = refusal_checks(kmsd, root, c, values)
        kmsd.stop()
        with open(kmsd.log, "rb") as f:
            t.earlier_logs += f.read()
        # The same store under kmip.get_secret_keys = never (config file): nothing is released,
        # keys made before included, and a new key is not exportable.
        conf = os.path.join(root, "kmsd.conf")
        with open(conf, "w") as f:
            f.write("kmip.get_secret_keys = never\n")
        t.kmsd = kmsd = Kmsd(root, ["--config", conf])
        with client(kmsd, cert_file, key_file, root, "2.0") as c:
            for uid in refused:
                expect_failure(lambda: c.get(uid), DENIED,
                               "kmip.get_secret_keys = never: Get of " + uid)
            new = c.create(enums.CryptographicAlgorithm.AES, 256, name="get-never",
                           cryptographic_usage_mask=[U.ENCRYPT, U.DECRYPT])
            expect_failure(lambda: c.get(new), DENIED, "never: Get of a new key")
        shown = json.loads(kmsctl(kmsd, "--json", "key", "show", new))
        check(shown.get("exportable") is False, "never: a key made over KMIP is not exportable")
        audit = json.loads(kmsctl(kmsd, "--json", "audit", "list", "--all"))["records"]
        reveals = [r for r in audit if r.get("action") == "key.reveal"]
        check(len(reveals) == 3 * 4 + 2 + 1 and all(r.get("actor") == "get-client" for r in reveals)
              and {r.get("target") for r in reveals} == set(got + [mine]),
              "every released value has its key.reveal audit record (%d)" % len(reveals))
        denials = [r for r in audit if r.get("outcome") == "denied" and
                   r.get("action") == "kmip.op10"]
        check(len(denials) >= 7 and any(r.get("target") == mine and r.get("actor") == "get-other"
                                        for r in denials),
              "the refused Gets are audited as denials (%d)" % len(denials))
        dump = json.dumps(audit).lower()
        check(not any(v.hex() in dump for v in values), "no audit record holds a key value")
        kmsd.stop()
        with open(kmsd.log, "rb") as f:
            t.earlier_logs += f.read()
        check(not any(v.hex().encode() in t.earlier_logs.lower() or v in t.earlier_logs
                      for v in values),
              "kmsd's logs (both runs) hold no key value (hex or raw)")
        store = b""
        for base, _, files in os.walk(kmsd.data):
            for name in files:
                with open(os.path.join(base, name), "rb") as f:
                    store += f.read()
        check(not any(v in store or v.hex().encode() in store for v in values),
              "no file of kmsd's data directory holds a key value (raw or hex)")

    return run_test("kms-kmip-get-", body, "KMIP Get of secret keys")

if __name__ == "__main__":
    sys.exit(main())
