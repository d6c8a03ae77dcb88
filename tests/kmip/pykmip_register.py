#!/usr/bin/python3
# KMIP Register against a real kmsd over mutual TLS: Debian's PyKMIP client (python3-pykmip,
# ProxyKmipClient) registers symmetric and public keys in KMIP 1.2, 1.4 and 2.0 and uses them
# (Encrypt with a registered AES key gives the published SP 800-38A ciphertext,
# register_vectors.json; Signature Verify of signatures OpenSSL made here through
# python3-cryptography), raw TTLV checks the 1.0 and 2.0 encodings and bad key material, and a
# second client is refused (Permission Denied, audited) on the first one's registered keys.
# One kmsd for all of it (about 4 s). kmsd is stopped by PID and the folder removed even on
# failure.
#
# Usage: pykmip_register.py   (KMSD, KMSCTL: paths of kmsd and kmsctl)
import datetime
import json
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pykmip_interop import (Kmsd, attribute_values, check, client, enrol,  # noqa: E402
                            expect_failure, kmsctl, raw_exchange, run_test, ttlv)

from cryptography import x509  # noqa: E402
from cryptography.hazmat.primitives import cmac, hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa  # noqa: E402
from cryptography.hazmat.primitives.ciphers import algorithms  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402
from kmip.core import enums, misc  # noqa: E402
from kmip.core.factories import attributes as attribute_factory  # noqa: E402
from kmip.pie import objects  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
U = enums.CryptographicUsageMask


def by_name(c, name):
    return c.locate(attributes=[attribute_factory.AttributeFactory().create_attribute(
        enums.AttributeType.NAME, name)])


def kcv_of(uid, kmsd):
    shown = json.loads(kmsctl(kmsd, "--json", "key", "show", uid))
    return shown.get("kcv") or shown.get("versions", [{}])[-1].get("kcv")


def symmetric_checks(c, version, kmsd, vectors):
    """Register the SP 800-38A keys, Encrypt/Decrypt with them, refusals of bad material."""
    tag = version.replace(".", "")
    for label, v in sorted(vectors.items()):
        if label.startswith("_"):
            continue
        key = bytes.fromhex(v["key"])
        name = "reg-%s-%s" % (label.replace("_", "-"), tag)
        uid = c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.AES, len(key) * 8,
                                              key, masks=[U.ENCRYPT, U.DECRYPT], name=name))
        check(uid.startswith("k-") and by_name(c, name) == [uid],
              version + ": Register of AES-%d (%s) -> %s, Locate by name finds it"
              % (len(key) * 8, v["source"], uid))
        a = attribute_values(c, uid, ["State", "Cryptographic Algorithm", "Cryptographic Length",
                                      "Object Type", "Cryptographic Usage Mask"])
        check(a["State"] == enums.State.PRE_ACTIVE and
              a["Cryptographic Algorithm"] == enums.CryptographicAlgorithm.AES and
              a["Cryptographic Length"] == len(key) * 8 and
              a["Object Type"] == enums.ObjectType.SYMMETRIC_KEY and
              a["Cryptographic Usage Mask"] == U.ENCRYPT.value | U.DECRYPT.value,
              version + ": the registered key reads back Pre-Active, AES, %d bits, Encrypt|Decrypt"
              % (len(key) * 8))
        # The KCV kmsd reports (AES: CMAC(K, 0^16), first 3 bytes), computed here on its own.
        check((kcv_of(uid, kmsd) or "").lower() == cmac_kcv(key),
              version + ": kmsctl key show reports the registered key's KCV")
        c.activate(uid)
        params = {"block_cipher_mode": enums.BlockCipherMode.CBC,
                  "padding_method": enums.PaddingMethod.NONE}
        ct, _ = c.encrypt(bytes.fromhex(v["plaintext"]), uid=uid, cryptographic_parameters=params,
                          iv_counter_nonce=bytes.fromhex(v["iv"]))
        check(ct.hex() == v["ciphertext"],
              version + ": Encrypt with the registered key gives %s's ciphertext" % v["source"])
        check(c.decrypt(ct, uid=uid, cryptographic_parameters=params,
                        iv_counter_nonce=bytes.fromhex(v["iv"])).hex() == v["plaintext"],
              version + ": Decrypt gives the plaintext back")
        expect_failure(lambda: c.get(uid), enums.ResultReason.PERMISSION_DENIED,
                       version + ": Get of a registered key's material")
        expect_failure(lambda: c.register(objects.SymmetricKey(
            enums.CryptographicAlgorithm.AES, len(key) * 8, key, name=name)),
            enums.ResultReason.ILLEGAL_OPERATION if version < "1.4"
            else enums.ResultReason.OBJECT_ALREADY_EXISTS, version + ": Register of a taken name")
    # Bad material (a length the bytes do not have) cannot be sent with PyKMIP, which checks
    # it itself: raw_checks() sends it.
    # Triple DES: 24 bytes (parity bits included) register as 168 bits.
    des = c.register(objects.SymmetricKey(enums.CryptographicAlgorithm.TRIPLE_DES, 192,
                                          bytes(range(1, 25)), name="reg-3des-" + tag))
    check(attribute_values(c, des, ["Cryptographic Length"])["Cryptographic Length"] == 168,
          version + ": Register of a 24-byte Triple DES key -> 168 bits")
    # A registered key is managed like a created one: Activate, Revoke, then Destroy.
    c.activate(des)
    c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, des)
    c.destroy(des)
    check(attribute_values(c, des, ["State"])["State"] == enums.State.DESTROYED,
          version + ": Activate, Revoke and Destroy of a registered key")


def cmac_kcv(key):
    m = cmac.CMAC(algorithms.AES(key))
    m.update(b"\0" * 16)
    return m.finalize()[:3].hex()


def public_key_checks(c, version):
    """Register EC (X.509 SubjectPublicKeyInfo) and RSA (PKCS#1) public keys made by OpenSSL
    (python3-cryptography) and verify that key's signatures over KMIP."""
    tag = version.replace(".", "")
    crypto = version >= "1.2"
    ec_key = ec.generate_private_key(ec.SECP256R1())
    spki = ec_key.public_key().public_bytes(serialization.Encoding.DER,
                                            serialization.PublicFormat.SubjectPublicKeyInfo)
    name = "reg-ec-pub-" + tag
    uid = c.register(objects.PublicKey(enums.CryptographicAlgorithm.ECDSA, 256, spki,
                                       masks=[U.VERIFY], name=name))
    check(uid.endswith("-pub") and by_name(c, name) == [uid],
          version + ": Register of an EC P-256 public key (X.509) -> " + uid)
    a = attribute_values(c, uid, ["Object Type", "Cryptographic Length", "State"])
    check(a["Object Type"] == enums.ObjectType.PUBLIC_KEY and a["Cryptographic Length"] == 256
          and "Link" not in c.get_attribute_list(uid),
          version + ": it reads back as a Public Key of 256 bits, without a Link")
    expect_failure(lambda: c.get_attributes(uid[:-4], ["State"]), enums.ResultReason.ITEM_NOT_FOUND,
                   version + ": a registered public key has no private half")
    check(c.get(uid).value == spki, version + ": Get returns the registered SubjectPublicKeyInfo")
    c.activate(uid)
    if crypto:
        message = b"signed by OpenSSL for KMIP " + version.encode()
        sig = ec_key.sign(message, ec.ECDSA(hashes.SHA256()))
        params = {"digital_signature_algorithm":
                  enums.DigitalSignatureAlgorithm.ECDSA_WITH_SHA256}
        check(c.signature_verify(message, sig, uid=uid, cryptographic_parameters=params) ==
              enums.ValidityIndicator.VALID, version + ": Signature Verify of OpenSSL's ECDSA "
              "signature with the registered key: valid")
        check(c.signature_verify(message + b"!", sig, uid=uid, cryptographic_parameters=params)
              == enums.ValidityIndicator.INVALID, version + ": ... of another message: invalid")

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pkcs1 = rsa_key.public_key().public_bytes(serialization.Encoding.DER,
                                              serialization.PublicFormat.PKCS1)
    rsa_uid = c.register(objects.PublicKey(enums.CryptographicAlgorithm.RSA, 2048, pkcs1,
                                           format_type=enums.KeyFormatType.PKCS_1,
                                           masks=[U.VERIFY], name="reg-rsa-pub-" + tag))
    got = c.get(rsa_uid, key_wrapping_specification=None)
    want = rsa_key.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo)
    check(got.value == want, version + ": Register of an RSA-2048 key in PKCS#1; Get gives its "
          "X.509 SubjectPublicKeyInfo")
    r = c.proxy.get(rsa_uid, key_format_type=misc.KeyFormatType(enums.KeyFormatType.PKCS_1))
    check(r.result_status.value == enums.ResultStatus.SUCCESS and
          r.secret.key_block.key_format_type.value == enums.KeyFormatType.PKCS_1 and
          r.secret.key_block.key_value.key_material.value == pkcs1,
          version + ": Get with Key Format Type PKCS#1 gives the registered RSAPublicKey back")
    r = c.proxy.get(uid, key_format_type=misc.KeyFormatType(enums.KeyFormatType.PKCS_1))
    check(r.result_reason.value == enums.ResultReason.KEY_FORMAT_TYPE_NOT_SUPPORTED,
          version + ": Get of an EC key as PKCS#1: Key Format Type Not Supported")
    c.activate(rsa_uid)
    if crypto:
        message = b"RSA over KMIP " + version.encode()
        sig = rsa_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
        params = {"padding_method": enums.PaddingMethod.PKCS1v15,
                  "hashing_algorithm": enums.HashingAlgorithm.SHA_256}
        check(c.signature_verify(message, sig, uid=rsa_uid, cryptographic_parameters=params) ==
              enums.ValidityIndicator.VALID, version + ": Signature Verify of OpenSSL's RSA "
              "PKCS#1 v1.5 signature: valid")
    expect_failure(lambda: c.register(objects.PublicKey(
        enums.CryptographicAlgorithm.RSA, 256, spki, name="reg-claim-" + tag)),
        enums.ResultReason.INVALID_FIELD, version + ": an EC key registered as RSA")
    expect_failure(lambda: c.register(objects.PublicKey(
        enums.CryptographicAlgorithm.RSA, 2048, b"\x30\x03\x02\x01\x01", name="reg-junk-" + tag)),
        enums.ResultReason.INVALID_FIELD, version + ": a public key that does not parse")
    return uid


SECRET = b"storage array password %s"


def self_signed(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = x509.CertificateBuilder().subject_name(name).issuer_name(name) \
        .public_key(key.public_key()).serial_number(x509.random_serial_number()) \
        .not_valid_before(now).not_valid_after(now + datetime.timedelta(days=1)) \
        .sign(key, hashes.SHA256())
    return cert.public_bytes(serialization.Encoding.DER)


def object_checks(c, version):
    """Secret Data (a password a storage array keeps) and an X.509 Certificate: Register, Get
    (their purpose), attributes, Locate, and the lifecycle."""
    tag = version.replace(".", "")
    secret = SECRET % tag.encode()
    sd = c.register(objects.SecretData(secret, enums.SecretDataType.PASSWORD,
                                       name="reg-secret-" + tag))
    check(sd.startswith("o-") and c.get(sd).value == secret,
          version + ": Register of Secret Data -> %s; Get gives the password back" % sd)
    a = attribute_values(c, sd, ["Object Type", "State"])
    check(a["Object Type"] == enums.ObjectType.SECRET_DATA and
          a["State"] == enums.State.PRE_ACTIVE, version + ": it is Pre-Active Secret Data")
    located = c.locate(attributes=[attribute_factory.AttributeFactory().create_attribute(
        enums.AttributeType.OBJECT_TYPE, enums.ObjectType.SECRET_DATA)])
    check(by_name(c, "reg-secret-" + tag) == [sd] and sd in located,
          version + ": Locate by name and by Object Type Secret Data finds it")
    der = self_signed("reg-cert-" + tag)
    cert = c.register(objects.X509Certificate(der, name="reg-cert-" + tag))
    got = c.get(cert)
    check(cert.startswith("o-") and got.value == der and
          attribute_values(c, cert, ["Object Type"])["Object Type"] ==
          enums.ObjectType.CERTIFICATE,
          version + ": Register of an X.509 Certificate; Get gives its DER back")
    expect_failure(lambda: c.register(objects.X509Certificate(b"\x30\x03\x02\x01\x01",
                                                              name="reg-junk-cert-" + tag)),
                   enums.ResultReason.INVALID_FIELD, version + ": a certificate that does not parse")
    c.activate(sd)
    c.revoke(enums.RevocationReasonCode.CESSATION_OF_OPERATION, sd)
    check(attribute_values(c, sd, ["State"])["State"] == enums.State.DEACTIVATED,
          version + ": Activate, Revoke -> Deactivated")
    c.destroy(sd)
    check(attribute_values(c, sd, ["State"])["State"] == enums.State.DESTROYED,
          version + ": Destroy -> Destroyed")
    expect_failure(lambda: c.get(sd),
                   enums.ResultReason.WRONG_KEY_LIFECYCLE_STATE if version == "2.0"
                   else enums.ResultReason.PERMISSION_DENIED,
                   version + ": Get of destroyed Secret Data")
    c.activate(cert)
    expect_failure(lambda: c.destroy(cert),
                   enums.ResultReason.WRONG_KEY_LIFECYCLE_STATE if version == "2.0"
                   else enums.ResultReason.PERMISSION_DENIED,
                   version + ": Destroy of an Active certificate")
    keep = c.register(objects.SecretData(secret + b" kept", enums.SecretDataType.SEED,
                                         name="reg-secret-kept-" + tag))
    return keep, cert


def spki_import_checks(kmsd, root, cert_file, key_file):
    """A public key imported over REST (SPKI) by the KMIP client's own principal is one KMIP
    object, its Public Key "ID-pub": no Private Key "ID", no Link to one."""
    pem = os.path.join(root, "rest-spki.pem")
    with open(pem, "wb") as f:
        f.write(ec.generate_private_key(ec.SECP256R1()).public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    out = json.loads(kmsctl(kmsd, "--json", "--token-file", os.path.join(root, "reg-client.token"),
                            "key", "import", "reg-rest-spki", "--algorithm", "EC-P256",
                            "--usage", "verify", "--format", "SPKI", "--public-key-file", pem))
    uid = out["id"]
    with client(kmsd, cert_file, key_file, root, "1.4") as c:
        expect_failure(lambda: c.get_attributes(uid, ["Object Type"]),
                       enums.ResultReason.ITEM_NOT_FOUND,
                       "a public key imported over REST: no Private Key " + uid)
        a = attribute_values(c, uid + "-pub", ["Object Type"])
        check(a["Object Type"] == enums.ObjectType.PUBLIC_KEY and
              "Link" not in c.get_attribute_list(uid + "-pub") and
              by_name(c, "reg-rest-spki") == [uid + "-pub"],
              "... its one object is the Public Key %s-pub, without a Link; Locate finds only it"
              % uid)


def bytes_item(tag, value):
    body = bytes(value)
    return struct.pack(">I", tag)[1:] + b"\x08" + struct.pack(">I", len(body)) + body + \
        b"\0" * ((8 - len(body) % 8) % 8)


def big_item(tag, value):
    """Big Integer (§9.1.1.4): two's complement, big-endian, a multiple of 8 bytes."""
    n = (value.bit_length() + 8) // 8
    n = (n + 7) // 8 * 8
    body = value.to_bytes(n, "big")
    return struct.pack(">I", tag)[1:] + b"\x04" + struct.pack(">I", n) + body


def raw_checks(kmsd, cert_file, key_file):
    """Register over raw TTLV in KMIP 1.0 (Template-Attribute) and 2.0 (Attributes), the
    Transparent formats, and refusals with their Result Reasons."""
    def request(major, minor, payload):
        version = ttlv(0x420069, 1, [ttlv(0x42006A, 2, major), ttlv(0x42006B, 2, minor)])
        header = ttlv(0x420077, 1, [version, ttlv(0x42000D, 2, 1)])
        return ttlv(0x420078, 1, [header, ttlv(0x42000F, 1, [
            ttlv(0x42005C, 5, 0x03), ttlv(0x420079, 1, payload)])])

    def attr(name, typ, value):
        return ttlv(0x420008, 1, [ttlv(0x42000A, 7, name), ttlv(0x42000B, typ, value)])

    def key_block(fmt, material, alg=None, length=None):
        kb = [ttlv(0x420042, 5, fmt), ttlv(0x420045, 1, [material])]
        if alg is not None:
            kb.append(ttlv(0x420028, 5, alg))
        if length is not None:
            kb.append(ttlv(0x42002A, 2, length))
        return ttlv(0x420040, 1, kb)

    def reason(resp):
        i = resp.find(bytes.fromhex("42007e050000000400"))
        return None if i < 0 else struct.unpack(">I", resp[i + 8:i + 12])[0]

    ok = bytes.fromhex("42007f05000000040000000000000000")

    def uid_in(resp):
        i = resp.find(bytes.fromhex("42009407"))
        n = struct.unpack(">I", resp[i + 4:i + 8])[0]
        return resp[i + 8:i + 8 + n].decode()

    def get_request(major, minor, uid, fmt):
        version = ttlv(0x420069, 1, [ttlv(0x42006A, 2, major), ttlv(0x42006B, 2, minor)])
        header = ttlv(0x420077, 1, [version, ttlv(0x42000D, 2, 1)])
        return ttlv(0x420078, 1, [header, ttlv(0x42000F, 1, [
            ttlv(0x42005C, 5, 0x0A), ttlv(0x420079, 1, [ttlv(0x420094, 7, uid),
                                                        ttlv(0x420042, 5, fmt)])])])
    key = bytes.fromhex("2b7e151628aed2a6abf7158809cf4f3c")
    # KMIP 1.0: a Transparent Symmetric Key (§2.1.7.1), Name in a Template-Attribute.
    transparent = key_block(0x07, ttlv(0x420043, 1, [bytes_item(0x42003F, key)]), 3, 128)
    name = ttlv(0x420053, 1, [ttlv(0x420055, 7, "reg-raw-10"), ttlv(0x420054, 5, 1)])
    resp = raw_exchange(kmsd, cert_file, key_file, request(1, 0, [
        ttlv(0x420057, 5, 2), ttlv(0x420091, 1, [attr("Name", 1, [
            ttlv(0x420055, 7, "reg-raw-10"), ttlv(0x420054, 5, 1)])]),
        ttlv(0x42008F, 1, [transparent])]))
    check(ok in resp and b"k-" in resp and bytes.fromhex("42006b02000000040000000000000000")
          in resp, "raw 1.0: Register of a Transparent Symmetric Key succeeds, answered in 1.0")
    # KMIP 2.0: a Raw key, its attributes tagged in an Attributes structure (2.0 §6.1.43).
    resp = raw_exchange(kmsd, cert_file, key_file, request(2, 0, [
        ttlv(0x420057, 5, 2), ttlv(0x420125, 1, [
            ttlv(0x420028, 5, 3), ttlv(0x42002A, 2, 128), ttlv(0x42002C, 2, 12),
            ttlv(0x420053, 1, [ttlv(0x420055, 7, "reg-raw-20"), ttlv(0x420054, 5, 1)])]),
        ttlv(0x42008F, 1, [key_block(0x01, bytes_item(0x420043, key))])]))
    check(ok in resp and bytes.fromhex("42006a02000000040000000200000000") in resp,
          "raw 2.0: Register of a Raw key with 2.0 Attributes succeeds")
    del name
    # Transparent EC Public Key (§2.1.7.12) and Transparent RSA Public Key (§2.1.7.5), 1.4.
    ec_pub = ec.generate_private_key(ec.SECP256R1()).public_key()
    q = ec_pub.public_bytes(serialization.Encoding.X962,
                            serialization.PublicFormat.UncompressedPoint)
    ec_block = key_block(0x15, ttlv(0x420043, 1, [ttlv(0x420075, 5, 7), bytes_item(0x420072, q)]),
                         0x1A, 256)
    resp = raw_exchange(kmsd, cert_file, key_file, request(1, 4, [
        ttlv(0x420057, 5, 3), ttlv(0x42006D, 1, [ec_block])]))
    check(ok in resp and b"-pub" in resp, "raw 1.4: Register of a Transparent EC Public Key")
    ec_uid = uid_in(resp)
    resp = raw_exchange(kmsd, cert_file, key_file, get_request(1, 4, ec_uid, 0x15))
    check(ok in resp and bytes_item(0x420072, q) in resp,
          "raw 1.4: Get as Transparent EC Public Key gives the registered point back")
    resp = raw_exchange(kmsd, cert_file, key_file, get_request(1, 2, ec_uid, 0x15))
    check(reason(resp) == 0x10, "raw 1.2: Get as Transparent EC Public Key (a 1.3 format): Key "
          "Format Type Not Supported")
    resp = raw_exchange(kmsd, cert_file, key_file, request(1, 0, [
        ttlv(0x420057, 5, 3), ttlv(0x42006D, 1, [ec_block])]))
    check(reason(resp) == 0x10, "raw 1.0: Transparent EC Public Key (a 1.3 format): Key Format "
          "Type Not Supported")
    nums = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key() \
        .public_numbers()
    rsa_block = key_block(0x0B, ttlv(0x420043, 1, [big_item(0x420052, nums.n),
                                                    big_item(0x42006C, nums.e)]), 4, 2048)
    resp = raw_exchange(kmsd, cert_file, key_file, request(1, 4, [
        ttlv(0x420057, 5, 3), ttlv(0x42006D, 1, [rsa_block])]))
    check(ok in resp, "raw 1.4: Register of a Transparent RSA Public Key (Big Integers)")
    resp = raw_exchange(kmsd, cert_file, key_file, get_request(2, 0, uid_in(resp), 0x0B))
    check(ok in resp and big_item(0x420052, nums.n) in resp and
          big_item(0x42006C, nums.e) in resp,
          "raw 2.0: Get as Transparent RSA Public Key gives the modulus and exponent back")
    # Refusals.
    def refused(payload, major, minor, want, what):
        resp = raw_exchange(kmsd, cert_file, key_file, request(major, minor, payload))
        check(reason(resp) == want, "%s: Result Reason 0x%x (got %s)" % (what, want, reason(resp)))

    refused([ttlv(0x420057, 5, 3), ttlv(0x42006D, 1, [key_block(
        0x0F, ttlv(0x420043, 1, [ttlv(0x420075, 5, 7), bytes_item(0x420072, q)]), 0x1A, 256)])],
        1, 2, 0x07, "raw 1.2: Cryptographic Algorithm EC (a 1.4 value)")
    refused([ttlv(0x420057, 5, 0x99), ttlv(0x42008F, 1, [])], 1, 4, 0x07,
            "raw: an unknown Object Type")
    refused([ttlv(0x420057, 5, 2), ttlv(0x42008F, 1, [
        key_block(0x01, ttlv(0x420043, 1, [bytes_item(0x42003F, key)]), 3, 128)])], 1, 4, 0x07,
        "raw: Raw format with a Structure as Key Material")
    refused([ttlv(0x420057, 5, 2), ttlv(0x42008F, 1, [
        key_block(0x02, bytes_item(0x420043, key), 3, 128)])], 1, 4, 0x10,
        "raw: an Opaque symmetric key")
    refused([ttlv(0x420057, 5, 2), ttlv(0x42008F, 1, [
        key_block(0x01, bytes_item(0x420043, key), 3, 256)])], 2, 0, 0x07,
        "raw 2.0: 16 bytes claimed as AES-256")
    refused([ttlv(0x420057, 5, 2), ttlv(0x42008F, 1, [
        key_block(0x01, bytes_item(0x420043, key[:15]), 3, 128)])], 1, 4, 0x07,
        "raw: an AES-128 key of 15 bytes")
    refused([ttlv(0x420057, 5, 2), ttlv(0x42008F, 1, [
        key_block(0x01, bytes_item(0x420043, key), 3, 128)]),
        ttlv(0x420091, 1, [attr("Cryptographic Algorithm", 5, 2)])], 1, 4, 0x07,
        "raw: Key Block says AES, the attributes Triple DES")
    refused([ttlv(0x420057, 5, 2), ttlv(0x42008F, 1, [
        key_block(0x01, bytes_item(0x420043, b"\x01" * 4096), 3, 128)])], 1, 4, 0x07,
        "raw: a 4096-byte 'AES-128 key'")
    refused([ttlv(0x420057, 5, 2)], 1, 4, 0x07, "raw: Register without the object")
    refused([ttlv(0x420057, 5, 3), ttlv(0x42006D, 1, [
        key_block(0x0F, ttlv(0x420043, 1, [ttlv(0x420075, 5, 7), bytes_item(0x420072, q)]))])],
        2, 0, 0x10, "raw 2.0: Transparent ECDSA Public Key (reserved in 2.0)")
    refused([ttlv(0x420057, 5, 3), ttlv(0x42006D, 1, [
        key_block(0x15, ttlv(0x420043, 1, [ttlv(0x420075, 5, 7),
                                            bytes_item(0x420072, b"\x04" + b"\x01" * 64)]))])],
        1, 4, 0x07, "raw: an EC point that is not on the curve")
    # Secret Data (§2.2.7): 2.0 Attributes, Opaque key block; then bad ones.
    def secret(kind, fmt=0x02, extra=()):
        return ttlv(0x420085, 1, [ttlv(0x420086, 5, kind), ttlv(0x420040, 1, [
            ttlv(0x420042, 5, fmt), ttlv(0x420045, 1, [bytes_item(0x420043, b"raw secret")])] +
            list(extra))])
    resp = raw_exchange(kmsd, cert_file, key_file, request(2, 0, [
        ttlv(0x420057, 5, 7), ttlv(0x420125, 1, [
            ttlv(0x420053, 1, [ttlv(0x420055, 7, "reg-raw-secret-20"), ttlv(0x420054, 5, 1)])]),
        secret(1)]))
    check(ok in resp and b"o-" in resp, "raw 2.0: Register of Secret Data (Password, Opaque)")
    refused([ttlv(0x420057, 5, 7), secret(9)], 1, 4, 0x07, "raw: Secret Data Type 9")
    huge = ttlv(0x420085, 1, [ttlv(0x420086, 5, 1), ttlv(0x420040, 1, [
        ttlv(0x420042, 5, 0x02), ttlv(0x420045, 1, [bytes_item(0x420043, b"x" * 70000)])])])
    refused([ttlv(0x420057, 5, 7), huge], 1, 4, 0x07, "raw: 70000 bytes of Secret Data "
            "(at most 64 KiB)")
    refused([ttlv(0x420057, 5, 7), secret(1, 0x05)], 1, 4, 0x10,
            "raw: Secret Data in Key Format Type X.509")
    refused([ttlv(0x420057, 5, 7), secret(1, 0x02, [ttlv(0x420028, 5, 3)])], 1, 4, 0x07,
            "raw: Secret Data with a Cryptographic Algorithm")
    refused([ttlv(0x420057, 5, 1), ttlv(0x420013, 1, [ttlv(0x42001D, 5, 2),
                                                      bytes_item(0x42001E, b"pgp")])], 1, 4, 0x08,
            "raw: a PGP certificate")
    refused([ttlv(0x420057, 5, 4), ttlv(0x420064, 1, [])], 1, 4, 0x08,
            "raw: Register of a Private Key (made in the HSM only)")
    check(kmsd.proc.poll() is None, "kmsd still running after the bad Register requests")


def other_client_checks(kmsd, root, theirs):
    cert_file, key_file = enrol(kmsd, root, "reg-other")
    with client(kmsd, cert_file, key_file, root, "1.4") as c:
        for uid in theirs:
            expect_failure(lambda: c.get_attributes(uid, ["State"]),
                           enums.ResultReason.PERMISSION_DENIED,
                           "another client's registered object %s: Get Attributes" % uid)
        expect_failure(lambda: c.encrypt(b"x" * 16, uid=theirs[0]),
                       enums.ResultReason.PERMISSION_DENIED,
                       "another client's registered key: Encrypt")
        expect_failure(lambda: c.get(theirs[2]), enums.ResultReason.PERMISSION_DENIED,
                       "another client's Secret Data: Get")
        check(by_name(c, "reg-aes128-cbc-14") == [] and by_name(c, "reg-secret-kept-14") == [],
              "another client's registered key and Secret Data: Locate does not find them")
    audit = json.loads(kmsctl(kmsd, "--json", "audit", "list", "--all"))
    denied = [r for r in audit["records"] if r.get("actor") == "reg-other" and
              r.get("outcome") == "denied"]
    check(len(denied) == len(theirs) + 2, "the refusals are audited (%d)" % len(denied))


def dual_control_checks(kmsd, root, cert_file, key_file):
    """With key.import under dual control, Register is refused (KMIP carries no approvals)
    and the refusal audited. Last: the quorum cannot be lifted without an approval."""
    kmsctl(kmsd, "quorum", "set", "key.import", "--approvals", "1")
    with client(kmsd, cert_file, key_file, root, "1.4") as c:
        expect_failure(lambda: c.register(objects.SymmetricKey(
            enums.CryptographicAlgorithm.AES, 128, b"\x02" * 16, name="reg-dual")),
            enums.ResultReason.PERMISSION_DENIED, "Register while key.import is under dual control")
    audit = json.loads(kmsctl(kmsd, "--json", "audit", "list", "--all"))
    check(any(r.get("action") == "kmip.op3" and r.get("outcome") == "denied"
              for r in audit["records"]), "the refused Register is audited (kmip.op3)")


def main():
    def body(t):
        root = t.root
        with open(os.path.join(HERE, "register_vectors.json")) as f:
            vectors = json.load(f)
        t.kmsd = kmsd = Kmsd(root)
        cert_file, key_file = enrol(kmsd, root, "reg-client")
        theirs = []
        for version in ("1.2", "1.4", "2.0"):
            with client(kmsd, cert_file, key_file, root, version) as c:
                symmetric_checks(c, version, kmsd, vectors)
                pub = public_key_checks(c, version)
                secret, cert = object_checks(c, version)
                if version == "1.4":
                    theirs = [by_name(c, "reg-aes128-cbc-14")[0], pub, secret, cert]
        raw_checks(kmsd, cert_file, key_file)
        spki_import_checks(kmsd, root, cert_file, key_file)
        other_client_checks(kmsd, root, theirs)
        audit = json.loads(kmsctl(kmsd, "--json", "audit", "list", "--all"))
        registered = [r for r in audit["records"] if r.get("action") == "key.register"]
        leaked = [r for r in audit["records"]
                  if any(v["key"] in json.dumps(r).lower() for k, v in vectors.items()
                         if not k.startswith("_")) or "storage array password" in json.dumps(r)]
        check(len(registered) >= 12 and not leaked,
              "%d key.register audit records, none holding a key value" % len(registered))
        with open(os.path.join(kmsd.data, "store", "data.mdb"), "rb") as f:
            store = f.read()
        check(all((SECRET % v.encode()) not in store for v in ("12", "14", "20")) and
              b"reg-secret-kept-14" in store,
              "the store holds the Secret Data's names, never a password in clear")
        log = kmsd.output().lower()
        check(all(v["key"] not in log for k, v in vectors.items() if not k.startswith("_")) and
              "storage array password" not in log, "no key value or password in kmsd's log")
        reveals = [r for r in audit["records"] if r.get("action") == "object.reveal"]
        check(len(reveals) == 3 and all(r["actor"] == "reg-client" for r in reveals),
              "each Get of Secret Data is audited (object.reveal): %d" % len(reveals))
        dual_control_checks(kmsd, root, cert_file, key_file)

    return run_test("kms-kmip-reg-", body, "KMIP Register")

if __name__ == "__main__":
    sys.exit(main())
