#!/usr/bin/python3
# KMIP interop: Debian's PyKMIP client (python3-pykmip, ProxyKmipClient) against a real kmsd
# over mutual TLS, in the KMIP version given on the command line (1.0 to 1.4, 2.0). kmsd is
# started here on free ports with a temporary data directory; the client is enrolled with
# openssl and kmsctl exactly as docs/kmip.md tells an administrator.
# Every check can fail: values read back are compared with what was asked for, refusals with
# the exact KMIP Result Reason. kmsd is stopped by PID and the folder removed even on failure.
#
# Usage: pykmip_interop.py VERSION   (KMSD, KMSCTL: paths of kmsd and kmsctl)
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import warnings

warnings.filterwarnings("ignore")  # ssl.wrap_socket / PROTOCOL_TLS deprecation in PyKMIP 0.10

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kmip.core import enums
from kmip.core.factories import attributes as attribute_factory
from kmip.pie import client as pie_client
from kmip.pie import exceptions as pie_exceptions

VERSIONS = {
    "1.0": enums.KMIPVersion.KMIP_1_0,
    "1.1": enums.KMIPVersion.KMIP_1_1,
    "1.2": enums.KMIPVersion.KMIP_1_2,
    "1.3": enums.KMIPVersion.KMIP_1_3,
    "1.4": enums.KMIPVersion.KMIP_1_4,
    "2.0": enums.KMIPVersion.KMIP_2_0,
}


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def check(cond, what):
    if not cond:
        raise AssertionError(what)
    print("ok:", what)


class Kmsd:
    def __init__(self, root, extra_args=()):
        self.root = root
        self.data = os.path.join(root, "data")
        self.port = free_port()
        self.kmip_port = free_port()
        self.log = os.path.join(root, "kmsd.log")
        with open(self.log, "wb") as log:
            self.proc = subprocess.Popen(
                [os.environ["KMSD"], "--data-dir", self.data, "--listen",
                 "127.0.0.1:%d" % self.port, "--kmip-listen", "127.0.0.1:%d" % self.kmip_port,
                 *extra_args],
                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.time() + 60
        # kmsd writes DIR/kmsd.url (which kmsctl reads) just before "listening on https://",
        # after the KMIP listener's line: wait for both.
        while "KMIP listening on" not in self.output() or \
                "listening on https://" not in self.output():
            if self.proc.poll() is not None or time.time() > deadline:
                raise RuntimeError("kmsd did not start:\n" + self.output())
            time.sleep(0.05)
        self.ca = os.path.join(self.data, "tls", "ca.pem")

    def output(self):
        with open(self.log, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def enrol(kmsd, root, name, role="key-officer", with_openssl=False):
    """A principal with a KMS-issued client certificate, enrolled as docs/kmip.md tells an
    administrator: kmsctl makes the key, the CSR and the principal (--key-out), or, with
    @with_openssl, openssl makes the key and CSR (--csr-file). Returns (certificate, key)."""
    key_file = os.path.join(root, name + ".key")
    csr_file = os.path.join(root, name + ".csr")
    cert_file = os.path.join(root, name + ".crt")
    args = [os.environ["KMSCTL"], "--data-dir", kmsd.data, "principal", "create", name,
            "--role", role, "--cert-out", cert_file, "--token-out",
            os.path.join(root, name + ".token")]
    if with_openssl:
        subprocess.run(["openssl", "req", "-new", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout", key_file, "-subj",
                        "/CN=" + name, "-out", csr_file],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        args += ["--csr-file", csr_file]
    else:
        args += ["--key-out", key_file]
    r = subprocess.run(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    check(r.returncode == 0 and os.path.exists(cert_file) and os.path.exists(key_file) and
          (with_openssl or os.stat(key_file).st_mode & 0o777 == 0o600),
          "kmsctl principal create %s %s: %s" % (
              name, "--csr-file" if with_openssl else "--key-out (key file 0600)",
              r.stdout.strip()[:120]))
    return cert_file, key_file


def expect_failure(fn, reason, what):
    try:
        fn()
    except pie_exceptions.KmipOperationFailure as e:
        check(e.reason == reason, "%s refused with %s (got %s: %s)" %
              (what, reason.name, e.reason, e.message))
        return
    raise AssertionError(what + " was not refused")


def attribute_values(c, uid, names):
    _, attrs = c.get_attributes(uid, names)
    out = {}
    for a in attrs:
        v = a.attribute_value
        if hasattr(v, "name_value"):
            out[a.attribute_name.value] = v.name_value.value
        else:
            out[a.attribute_name.value] = getattr(v, "value", v)
    return out


def run(version, kmsd, cert_file, key_file, root):
    c = client(kmsd, cert_file, key_file, root, version)
    tag = version.replace(".", "")
    with c:
        # Discover Versions and Query go through the lower-level proxy.
        r = c.proxy.discover_versions()
        check(r.result_status.value == enums.ResultStatus.SUCCESS and
              [(p.major, p.minor) for p in r.protocol_versions][:2] == [(2, 0), (1, 4)],
              version + ": Discover Versions lists 2.0, 1.4, ...")
        q = c.proxy.query(query_functions=[enums.QueryFunction.QUERY_OPERATIONS,
                                           enums.QueryFunction.QUERY_OBJECTS])
        # Encrypt to RNG Retrieve are KMIP 1.2 operations: not offered to older clients.
        crypto = version >= "1.2"
        check(enums.Operation.CREATE in q.operations and
              (enums.Operation.ENCRYPT in q.operations) == crypto and
              enums.ObjectType.SYMMETRIC_KEY in q.object_types,
              version + ": Query lists Create, Symmetric Key, and Encrypt only from 1.2 on")

        name = "kmip-interop-" + tag
        uid = c.create(enums.CryptographicAlgorithm.AES, 256, name=name,
                       cryptographic_usage_mask=[enums.CryptographicUsageMask.ENCRYPT,
                                                 enums.CryptographicUsageMask.DECRYPT])
        check(uid.startswith("k-"), version + ": Create AES-256 -> " + uid)
        a = attribute_values(c, uid, ["State", "Cryptographic Algorithm",
                                      "Cryptographic Length", "Name"])
        check(a.get("State") == enums.State.PRE_ACTIVE and
              a.get("Cryptographic Algorithm") == enums.CryptographicAlgorithm.AES and
              a.get("Cryptographic Length") == 256 and a.get("Name") == name,
              version + ": Get Attributes reads back a Pre-Active AES-256 key named " + name)
        a = attribute_values(c, uid, [])
        check("Initial Date" in a and "Cryptographic Usage Mask" in a,
              version + ": Get Attributes without names returns all (%d)" % len(a))

        located = c.locate(attributes=[attribute_factory.AttributeFactory().create_attribute(
            enums.AttributeType.NAME, name)])
        check(located == [uid], version + ": Locate by name finds exactly the key")
        located = c.locate(attributes=[attribute_factory.AttributeFactory().create_attribute(
            enums.AttributeType.NAME, "no-such-" + name)])
        check(located == [], version + ": Locate of an unknown name finds nothing")

        # kmsd's default kmip.get_secret_keys = never (kmip_get.py tests "owner").
        expect_failure(lambda: c.get(uid), enums.ResultReason.PERMISSION_DENIED,
                       version + ": Get of key material (kmip.get_secret_keys = never)")
        if crypto:
            expect_failure(lambda: c.encrypt(b"x", uid=uid),
                           enums.ResultReason.PERMISSION_DENIED if version != "2.0"
                           else enums.ResultReason.WRONG_KEY_LIFECYCLE_STATE,
                           version + ": Encrypt with a Pre-Active key")
        else:
            expect_failure(lambda: c.encrypt(b"x", uid=uid),
                           enums.ResultReason.OPERATION_NOT_SUPPORTED,
                           version + ": Encrypt (a KMIP 1.2 operation)")

        c.activate(uid)
        check(attribute_values(c, uid, ["State"])["State"] == enums.State.ACTIVE,
              version + ": Activate -> Active")
        if crypto:
            params = {"block_cipher_mode": enums.BlockCipherMode.CBC,
                      "padding_method": enums.PaddingMethod.PKCS5}
            plain = b"interop plaintext for kmsd over KMIP " + version.encode()
            ct, iv = c.encrypt(plain, uid=uid, cryptographic_parameters=params)
            check(len(ct) == 48 and len(iv) == 16 and plain not in ct,
                  version + ": Encrypt AES-CBC-PKCS5 (IV from the HSM)")
            check(c.decrypt(ct, uid=uid, cryptographic_parameters=params, iv_counter_nonce=iv)
                  == plain, version + ": Decrypt returns the plaintext")

        expect_failure(lambda: c.destroy(uid),
                       enums.ResultReason.PERMISSION_DENIED if version != "2.0"
                       else enums.ResultReason.WRONG_KEY_LIFECYCLE_STATE,
                       version + ": Destroy of an Active key")
        when = int(time.time()) - 3600
        c.revoke(enums.RevocationReasonCode.KEY_COMPROMISE, uid,
                 revocation_message="interop test", compromise_occurrence_date=when)
        a = attribute_values(c, uid, ["State", "Compromise Occurrence Date"])
        check(a["State"] == enums.State.COMPROMISED and
              a["Compromise Occurrence Date"] == when,
              version + ": Revoke (key compromise) -> Compromised, with its date")
        c.destroy(uid)
        check(attribute_values(c, uid, ["State"])["State"] ==
              enums.State.DESTROYED_COMPROMISED, version + ": Destroy -> Destroyed Compromised")

        pair = key_pair_checks(c, version, crypto)

        expect_failure(lambda: c.get_attributes("k-" + "0" * 32, ["State"]),
                       enums.ResultReason.ITEM_NOT_FOUND, version + ": unknown identifier")
        expect_failure(lambda: c.get_attributes(uid + "-pub", ["State"]),
                       enums.ResultReason.ITEM_NOT_FOUND,
                       version + ": the 'public half' of a symmetric key")
        expect_failure(lambda: c.create(enums.CryptographicAlgorithm.AES, 100),
                       enums.ResultReason.INVALID_FIELD, version + ": AES key of 100 bits")
        return pair


def key_pair_checks(c, version, crypto):
    """Create Key Pair (EC P-256, as ECDSA, which every version knows), the halves' Links, Get
    of the public half, Sign checked by an outside verifier (python3-cryptography), Signature
    Verify, and MAC with an HMAC key."""
    tag = version.replace(".", "")
    pub, priv = c.create_key_pair(
        enums.CryptographicAlgorithm.ECDSA, 256,
        public_name="kmip-pair-" + tag, public_usage_mask=[enums.CryptographicUsageMask.VERIFY],
        private_name="kmip-pair-" + tag, private_usage_mask=[enums.CryptographicUsageMask.SIGN])
    check(pub == priv + "-pub", version + ": Create Key Pair -> %s, %s" % (priv, pub))
    # "EC" is a KMIP 1.4 value: a 1.2 client reads the key as ECDSA.
    alg = attribute_values(c, priv, ["Cryptographic Algorithm"])["Cryptographic Algorithm"]
    check(alg == (enums.CryptographicAlgorithm.ECDSA if version < "1.4"
                  else enums.CryptographicAlgorithm.EC),
          version + ": Cryptographic Algorithm reads %s" % alg)
    # PyKMIP 0.10 cannot read a Link attribute value (NotImplementedError in its attribute
    # factory): its presence is checked here, its value over raw TTLV in link_checks().
    _, attrs = c.get_attributes(priv, ["Object Type"])
    check(attrs[0].attribute_value.value == enums.ObjectType.PRIVATE_KEY and
          "Link" in c.get_attribute_list(priv), version + ": a Private Key with a Link")
    _, attrs = c.get_attributes(pub, ["Object Type", "Cryptographic Usage Mask"])
    got = {a.attribute_name.value: a.attribute_value for a in attrs}
    check(got["Object Type"].value == enums.ObjectType.PUBLIC_KEY and
          got["Cryptographic Usage Mask"].value == enums.CryptographicUsageMask.VERIFY.value and
          "Link" in c.get_attribute_list(pub), version + ": a Public Key, usage Verify, with a Link")
    located = c.locate(attributes=[
        attribute_factory.AttributeFactory().create_attribute(enums.AttributeType.NAME,
                                                              "kmip-pair-" + tag),
        attribute_factory.AttributeFactory().create_attribute(enums.AttributeType.OBJECT_TYPE,
                                                              enums.ObjectType.PUBLIC_KEY)])
    check(located == [pub], version + ": Locate by name and Object Type Public Key")
    c.activate(priv)
    c.activate(pub)  # the halves share one lifecycle: a no-op now
    public = c.get(pub)
    spki = serialization.load_der_public_key(public.value)
    check(isinstance(spki, ec.EllipticCurvePublicKey) and spki.curve.name == "secp256r1",
          version + ": Get of the public key: an X.509 SubjectPublicKeyInfo of a P-256 key")
    if not crypto:
        return priv, pub
    params = {"digital_signature_algorithm": enums.DigitalSignatureAlgorithm.ECDSA_WITH_SHA256}
    message = b"signed over KMIP " + version.encode()
    signature = c.sign(message, uid=priv, cryptographic_parameters=params)
    spki.verify(signature, message, ec.ECDSA(hashes.SHA256()))  # raises when invalid
    check(True, version + ": Sign: a DER ECDSA signature that python3-cryptography verifies")
    check(c.signature_verify(message, signature, uid=pub, cryptographic_parameters=params)
          == enums.ValidityIndicator.VALID, version + ": Signature Verify: valid")
    check(c.signature_verify(message + b"!", signature, uid=pub, cryptographic_parameters=params)
          == enums.ValidityIndicator.INVALID, version + ": Signature Verify of another message: invalid")

    hmac_uid = c.create(enums.CryptographicAlgorithm.HMAC_SHA256, 256,
                        cryptographic_usage_mask=[enums.CryptographicUsageMask.MAC_GENERATE,
                                                  enums.CryptographicUsageMask.MAC_VERIFY])
    c.activate(hmac_uid)
    _, m1 = c.mac(b"mac me", uid=hmac_uid, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)
    _, m2 = c.mac(b"mac me", uid=hmac_uid, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)
    _, m3 = c.mac(b"mac me too", uid=hmac_uid, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)
    check(len(m1) == 32 and m1 == m2 and m1 != m3, version + ": MAC with HMAC-SHA256")
    return priv, pub


def ttlv(tag, typ, value):
    """One TTLV item (KMIP 1.4 §9.1): Structure (1, a list), Integer (2), Enumeration (5),
    Text String (7)."""
    if typ == 1:
        body = b"".join(value)
    elif typ in (2, 5):
        body = struct.pack(">I", value)
    else:
        body = value.encode()
    return struct.pack(">I", tag)[1:] + bytes([typ]) + struct.pack(">I", len(body)) + body + \
        b"\0" * ((8 - len(body) % 8) % 8)


def client_context(kmsd, cert_file, key_file):
    """A TLS client context for kmsd's KMIP port: kmsd's CA, the client's certificate."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(kmsd.ca)
    ctx.load_cert_chain(cert_file, key_file)
    return ctx


def kmip_exchange(kmsd, ctx, data):
    """Sends @data (one request message, or any bytes) on a new TLS connection to kmsd's KMIP
    port and returns what comes back: one whole response message, or less when the server
    closes first."""
    with socket.create_connection(("127.0.0.1", kmsd.kmip_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(data)
            out = b""
            while len(out) < 8 or len(out) < 8 + struct.unpack(">I", out[4:8])[0]:
                chunk = s.recv(65536)
                if not chunk:
                    break
                out += chunk
            return out


def raw_exchange(kmsd, cert_file, key_file, data):
    """kmip_exchange() as the client with this certificate and key."""
    return kmip_exchange(kmsd, client_context(kmsd, cert_file, key_file), data)


def link_checks(kmsd, cert_file, key_file, priv, pub):
    """Get Attributes "Link" over raw TTLV (KMIP 1.4): each half names the other."""
    ctx = client_context(kmsd, cert_file, key_file)
    for uid, other, link_type in ((priv, pub, 0x102), (pub, priv, 0x103)):
        version = ttlv(0x420069, 1, [ttlv(0x42006A, 2, 1), ttlv(0x42006B, 2, 4)])
        msg = ttlv(0x420078, 1, [
            ttlv(0x420077, 1, [version, ttlv(0x42000D, 2, 1)]),
            ttlv(0x42000F, 1, [ttlv(0x42005C, 5, 0x0B), ttlv(0x420079, 1, [
                ttlv(0x420094, 7, uid), ttlv(0x42000A, 7, "Link")])])])
        resp = kmip_exchange(kmsd, ctx, msg)
        link = ttlv(0x42000B, 1, [ttlv(0x42004B, 5, link_type), ttlv(0x42004C, 7, other)])
        check(link in resp, "raw Get Attributes: %s has a Link (type 0x%x) to %s" %
              (uid, link_type, other))


def raw_checks(kmsd, cert_file, key_file):
    """Bad input on the wire: the server answers or closes, and keeps serving."""
    ctx = client_context(kmsd, cert_file, key_file)

    def exchange(data):
        return kmip_exchange(kmsd, ctx, data)

    def reason(resp):
        i = resp.find(bytes.fromhex("42007e050000000400"))
        return None if i < 0 else struct.unpack(">I", resp[i + 8:i + 12])[0]

    # An inner item whose length runs past its Request Message: Invalid Message (4).
    resp = exchange(bytes.fromhex("4200780100000010" "42007701000000f0") + b"\0" * 8)
    check(reason(resp) == 4, "an item longer than its structure: Invalid Message")
    # Nesting past the depth limit (40 structures inside each other).
    deep = b""
    for i in range(40):
        deep = bytes.fromhex("42007701") + struct.pack(">I", len(deep)) + deep
    resp = exchange(bytes.fromhex("42007801") + struct.pack(">I", len(deep)) + deep)
    check(reason(resp) == 4, "structures nested 40 deep: Invalid Message")
    # Over the 1 MiB limit: refused from the header alone.
    resp = exchange(bytes.fromhex("4200780100200000"))
    check(reason(resp) == 4, "a 2 MiB message is refused with Invalid Message")
    # Not a structure at all.
    resp = exchange(bytes.fromhex("42007802000000040000000100000000"))
    check(reason(resp) == 4, "a message that is not a Structure: Invalid Message")
    # A client without a certificate does not get through the handshake.
    bare = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    bare.load_verify_locations(kmsd.ca)
    try:
        with socket.create_connection(("127.0.0.1", kmsd.kmip_port), timeout=10) as raw:
            with bare.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(bytes.fromhex("4200780100000000"))
                got = s.recv(100)
        check(got == b"", "no client certificate: connection closed")
    except (ssl.SSLError, ConnectionResetError, BrokenPipeError):
        check(True, "no client certificate: handshake refused")
    # Well-formed messages the server refuses item by item.
    def request(major, minor, items, count=None):
        version = ttlv(0x420069, 1, [ttlv(0x42006A, 2, major), ttlv(0x42006B, 2, minor)])
        header = ttlv(0x420077, 1, [version, ttlv(0x42000D, 2, len(items) if count is None else count)])
        return ttlv(0x420078, 1, [header] + items)

    def item(op, payload=()):
        return ttlv(0x42000F, 1, [ttlv(0x42005C, 5, op), ttlv(0x420079, 1, list(payload))])

    resp = exchange(request(1, 4, [item(0x29)]))  # Join Split Key: not implemented
    check(reason(resp) == 5, "an operation kmsd does not implement: Operation Not Supported")
    resp = exchange(request(1, 4, [item(0x1E)] * 33))
    check(reason(resp) == 4, "33 batch items (limit 32): Invalid Message")
    resp = exchange(request(1, 4, [item(0x1E)] * 2, count=3))
    check(reason(resp) == 4, "Batch Count that does not match the items: Invalid Message")
    resp = exchange(request(3, 0, [item(0x1E)]))
    check(reason(resp) == 4 and bytes.fromhex("42006a02000000040000000200000000") in resp,
          "protocol version 3.0: Invalid Message, answered in 2.0")
    resp = exchange(request(1, 5, [item(0x1E)]))
    check(reason(resp) == 4 and bytes.fromhex("42006b02000000040000000400000000") in resp,
          "protocol version 1.5: Invalid Message, answered in 1.4")
    resp = exchange(request(1, 4, [item(0x0B, [ttlv(0x420094, 2, 7)])]))
    check(reason(resp) == 7, "a Unique Identifier that is an Integer: Invalid Field")
    two = exchange(request(1, 4, [item(0x1E), item(0x18, [ttlv(0x420074, 5, 1)])]))
    check(two.count(bytes.fromhex("42007f05000000040000000000000000")) == 2,
          "a batch of Discover Versions and Query: two successful items")
    # ID Placeholder (§3.1.1): Create, then Activate and Get Attributes naming no object.
    def attr(name, typ, value):
        return ttlv(0x420008, 1, [ttlv(0x42000A, 7, name), ttlv(0x42000B, typ, value)])
    create = item(0x01, [ttlv(0x420057, 5, 2), ttlv(0x420091, 1, [
        attr("Cryptographic Algorithm", 5, 3), attr("Cryptographic Length", 2, 128),
        attr("Cryptographic Usage Mask", 2, 12)])])
    resp = exchange(request(1, 4, [create, item(0x12), item(0x0B, [ttlv(0x42000A, 7, "State")])]))
    check(resp.count(bytes.fromhex("42007f05000000040000000000000000")) == 3 and
          bytes.fromhex("42000b05000000040000000200000000") in resp,
          "one request: Create, Activate and Get Attributes through the ID Placeholder -> Active")
    # Batch Error Continuation Option (§6.15): Stop (default) ends at the first failure.
    missing = item(0x0B, [ttlv(0x420094, 7, "k-" + "0" * 32)])
    resp = exchange(request(1, 4, [missing, item(0x1E)]))
    check(resp.count(bytes.fromhex("42000f01")) == 1 and reason(resp) == 1,
          "Stop (default): a failed first item, the second not processed")
    cont = ttlv(0x420078, 1, [
        ttlv(0x420077, 1, [ttlv(0x420069, 1, [ttlv(0x42006A, 2, 1), ttlv(0x42006B, 2, 4)]),
                           ttlv(0x42000E, 5, 1), ttlv(0x42000D, 2, 2)]),
        missing, item(0x1E)])
    resp = exchange(cont)
    check(resp.count(bytes.fromhex("42000f01")) == 2 and
          bytes.fromhex("42007f05000000040000000000000000") in resp,
          "Continue: the second item runs after a failed first one")
    check(kmsd.proc.poll() is None, "kmsd still running after bad input")


def kmsctl(kmsd, *args):
    r = subprocess.run([os.environ["KMSCTL"], "--data-dir", kmsd.data, *args],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        raise AssertionError("kmsctl %s: %s" % (" ".join(args), r.stdout))
    return r.stdout


def client(kmsd, cert_file, key_file, root, version):
    """PyKMIP's client with every setting given here (an empty config file keeps
    ~/.pykmip/pykmip.conf and /etc/pykmip out)."""
    conf = os.path.join(root, "pykmip.conf")
    open(conf, "w").close()
    return pie_client.ProxyKmipClient(
        hostname="127.0.0.1", port=kmsd.kmip_port, cert=cert_file, key=key_file, ca=kmsd.ca,
        ssl_version="PROTOCOL_TLS", config_file=conf, kmip_version=VERSIONS[version])


def enrol_refused(kmsd, root):
    """A refused enrolment (the name is taken) leaves no key file behind."""
    key_file = os.path.join(root, "again.key")
    r = subprocess.run([os.environ["KMSCTL"], "--data-dir", kmsd.data, "principal", "create",
                        "kmip-client", "--role", "key-officer", "--key-out", key_file,
                        "--cert-out", os.path.join(root, "again.crt")],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    check(r.returncode != 0 and not os.path.exists(key_file) and
          not os.path.exists(os.path.join(root, "again.crt")),
          "kmsctl principal create of a taken name: exit %d, no key or certificate file left (%s)"
          % (r.returncode, r.stdout.strip()[:100]))


def ownership_checks(kmsd, root, theirs):
    """Another key-officer client neither sees nor manages the first client's key (refusals
    audited); an administrator's REST view still shows it."""
    cert_file, key_file = enrol(kmsd, root, "kmip-other")
    with client(kmsd, cert_file, key_file, root, "1.4") as c:
        expect_failure(lambda: c.get_attributes(theirs, ["State"]),
                       enums.ResultReason.PERMISSION_DENIED, "another client's key: Get Attributes")
        expect_failure(lambda: c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, theirs),
                       enums.ResultReason.PERMISSION_DENIED, "another client's key: Revoke")
        check(c.locate(attributes=[attribute_factory.AttributeFactory().create_attribute(
            enums.AttributeType.NAME, "kmip-pair-14")]) == [],
            "another client's key: Locate does not find it")
        mine = c.create(enums.CryptographicAlgorithm.AES, 128, name="kmip-other-key")
        check(c.locate(attributes=[attribute_factory.AttributeFactory().create_attribute(
            enums.AttributeType.NAME, "kmip-other-key")]) == [mine],
            "its own key: Locate finds it")
    audit = json.loads(kmsctl(kmsd, "--json", "audit", "list", "--all"))
    denied = [r for r in audit["records"] if r.get("actor") == "kmip-other" and
              r.get("target") == theirs and r.get("outcome") == "denied"]
    check(len(denied) == 2, "both refusals are audited with the key named")
    check(theirs in kmsctl(kmsd, "key", "show", theirs), "the administrator still sees the key")


def identity_checks(kmsd, root):
    """A plugin principal is held to its policy (refusal audited); a revoked certificate is
    refused at the next message of an open connection."""
    cert_file, key_file = enrol(kmsd, root, "kmip-plugin", role="plugin", with_openssl=True)
    with client(kmsd, cert_file, key_file, root, "1.4") as c:
        expect_failure(lambda: c.create(enums.CryptographicAlgorithm.AES, 128),
                       enums.ResultReason.PERMISSION_DENIED, "plugin principal: Create")
    audit = json.loads(kmsctl(kmsd, "--json", "audit", "list", "--all"))
    denied = [r for r in audit["records"] if r.get("actor") == "kmip-plugin" and
              r.get("action") == "kmip.op1" and r.get("outcome") == "denied"]
    check(len(denied) == 1, "the refused KMIP Create is in the audit log: %s" % denied)

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(kmsd.ca)
    ctx.load_cert_chain(cert_file, key_file)
    # KMIP 1.1 Test Cases 6.1: Discover Versions, no versions provided (tests/vectors).
    discover = bytes.fromhex(
        "42007801000000604200770100000038420069010000002042006a02000000040000000100000000"
        "42006b0200000004000000010000000042000d02000000040000000100000000"
        "42000f010000001842005c05000000040000001e000000004200790100000000")

    def read_message(s):
        out = b""
        while len(out) < 8 or len(out) < 8 + struct.unpack(">I", out[4:8])[0]:
            chunk = s.recv(65536)
            if not chunk:
                break
            out += chunk
        return out

    with socket.create_connection(("127.0.0.1", kmsd.kmip_port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as s:
            s.sendall(discover)
            first = read_message(s)
            check(bytes.fromhex("42007f05000000040000000000000000") in first,
                  "raw Discover Versions (test case 6.1) succeeds")
            serial = None
            listing = json.loads(kmsctl(kmsd, "--json", "ca", "list", "--principal", "kmip-plugin"))
            serial = listing["certificates"][0]["serial"]
            kmsctl(kmsd, "ca", "revoke", serial, "--reason", "keyCompromise")
            s.sendall(discover)
            second = read_message(s)
            check(bytes.fromhex("42007e05000000040000000300000000") in second,
                  "after kmsctl ca revoke, the same connection's next message: "
                  "Authentication Not Successful")
    audit = json.loads(kmsctl(kmsd, "--json", "audit", "list", "--all"))
    refused = [r for r in audit["records"] if r.get("action") == "kmip.authenticate"]
    check(len(refused) == 1 and refused[0]["actor"] == "-" and
          "revoked" in refused[0]["detail"] and "KMIP from 127.0.0.1" in refused[0]["detail"],
          "the refused authentication is audited: %s" % [r.get("detail") for r in refused])


class TestRun:
    """What a test script's body works in: a new temporary folder (root) and the kmsd to report
    on and stop (kmsd, set by the body once it starts one); earlier_logs holds the logs of a
    kmsd the body stopped and replaced, printed first on a failure."""

    def __init__(self, root):
        self.root = root
        self.kmsd = None
        self.earlier_logs = b""


def run_test(prefix, body, what):
    """A test script's main(): body(TestRun) in a new temporary folder. Prints "PASS: what", or
    "FAIL: ..." with kmsd's log; always stops kmsd and removes the folder. Returns the exit
    status."""
    t = TestRun(tempfile.mkdtemp(prefix=prefix))
    try:
        body(t)
        print("PASS: " + what)
        return 0
    except Exception as e:  # report with kmsd's log, then fail
        print("FAIL: %s: %s" % (type(e).__name__, e))
        if t.kmsd is not None:
            print("---- kmsd log ----\n" + t.earlier_logs.decode(errors="replace") +
                  t.kmsd.output())
        return 1
    finally:
        if t.kmsd is not None:
            t.kmsd.stop()
        shutil.rmtree(t.root, ignore_errors=True)


def main():
    version = sys.argv[1]

    def body(t):
        t.kmsd = kmsd = Kmsd(t.root)
        root = t.root
        cert_file, key_file = enrol(kmsd, root, "kmip-client")
        priv, pub = run(version, kmsd, cert_file, key_file, root)
        if version == "1.4":
            link_checks(kmsd, cert_file, key_file, priv, pub)
            ownership_checks(kmsd, root, priv)
            enrol_refused(kmsd, root)
            raw_checks(kmsd, cert_file, key_file)
            identity_checks(kmsd, root)

    return run_test("kms-kmip-", body, "KMIP " + version)


if __name__ == "__main__":
    sys.exit(main())
