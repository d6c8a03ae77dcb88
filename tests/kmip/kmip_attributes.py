#!/usr/bin/python3
# KMIP attribute operations and Re-key against a real kmsd over mutual TLS, in KMIP 1.0, 1.4
# and 2.0 on one kmsd: Add / Modify / Delete Attribute (1.x and 2.0 forms), Set and Adjust
# Attribute (2.0), the Digest of a public key, Re-key with its Links, the state of both keys,
# the replacement usable, the audit records, and a second client refused. Debian's PyKMIP
# client (python3-pykmip) is used where it has the call (1.x Modify / Delete Attribute, 2.0
# Set / Modify / Delete Attribute, Re-key, Locate, MAC); the rest, and every check of a Result
# Reason PyKMIP would not surface, goes over raw TTLV (KMIP 1.4 §9.1).
# kmsd is started and stopped by pykmip_interop.Kmsd (free ports, a temporary folder removed
# even on failure).
#
# Usage: kmip_attributes.py   (KMSD, KMSCTL: paths of kmsd and kmsctl)
import hashlib
import json
import os
import socket
import ssl
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import pykmip_interop as base  # noqa: E402
from pykmip_interop import check, enums  # noqa: E402
from kmip.core import objects as cobjects  # noqa: E402
from kmip.core import primitives  # noqa: E402
from kmip.core.factories import attributes as attribute_factory  # noqa: E402

STRUCT, INT, LONG, ENUM, BOOL, TEXT, BYTES, DATE, INTERVAL = 1, 2, 3, 5, 6, 7, 8, 9, 10

# Tags (KMIP 1.4 §9.1.3.1; 2.0 §11)
T_ATTRIBUTE, T_ATTR_INDEX, T_ATTR_NAME, T_ATTR_VALUE = 0x420008, 0x420009, 0x42000A, 0x42000B
T_NAME, T_NAME_VALUE, T_NAME_TYPE = 0x420053, 0x420055, 0x420054
T_UID, T_CONTACT, T_GROUP, T_LINK, T_LINK_TYPE, T_LINKED = (
    0x420094, 0x420022, 0x420056, 0x42004A, 0x42004B, 0x42004C)
T_ATTRIBUTES, T_ATTR_REF, T_CURRENT, T_NEW = 0x420125, 0x42013B, 0x42013C, 0x42013D
T_ADJ_TYPE, T_ADJ_VALUE = 0x420158, 0x420162
T_DIGEST, T_DIGEST_VALUE, T_HASH_ALG = 0x420034, 0x420035, 0x420038
T_RESULT_STATUS, T_RESULT_REASON, T_PAYLOAD = 0x42007F, 0x42007E, 0x42007C

# Operations (§9.1.3.2.27) and Result Reasons (§9.1.3.2.29; 2.0 §11.39)
ADD, MODIFY, DELETE, GET_ATTRS, GET_LIST, ADJUST, SET, REKEY = (
    0x0D, 0x0E, 0x0F, 0x0B, 0x0C, 0x30, 0x31, 0x04)
ITEM_NOT_FOUND, OP_NOT_SUPPORTED, ILLEGAL, DENIED, EXISTS = 0x01, 0x05, 0x0B, 0x0C, 0x18
MULTI_VALUED, INSTANCE_NOT_FOUND, NOT_FOUND, READ_ONLY, SINGLE_VALUED, NON_UNIQUE = (
    0x1E, 0x20, 0x21, 0x22, 0x23, 0x35)


def enc(tag, typ, value):
    """One TTLV item: Structure (list of encoded items), Integer, Long, Enumeration, Boolean,
    Text String, Byte String, Date-Time, Interval."""
    if typ == STRUCT:
        body = b"".join(value)
    elif typ in (INT, ENUM, INTERVAL):
        body = struct.pack(">I", value & 0xFFFFFFFF)
    elif typ in (LONG, BOOL, DATE):
        body = struct.pack(">q", value)
    elif typ == TEXT:
        body = value.encode()
    else:
        body = bytes(value)
    return struct.pack(">I", tag)[1:] + bytes([typ]) + struct.pack(">I", len(body)) + body + \
        b"\0" * ((8 - len(body) % 8) % 8)


def dec(buf, off=0):
    """(tag, type, value, next offset); a Structure's value is a list of (tag, type, value)."""
    tag = struct.unpack(">I", b"\0" + buf[off:off + 3])[0]
    typ, length = buf[off + 3], struct.unpack(">I", buf[off + 4:off + 8])[0]
    body = buf[off + 8:off + 8 + length]
    end = off + 8 + length + (8 - length % 8) % 8
    if typ == STRUCT:
        kids, o = [], 0
        while o < len(body):
            t, ty, v, o = dec(body, o)
            kids.append((t, ty, v))
        return tag, typ, kids, end
    if typ in (INT, ENUM, INTERVAL):
        return tag, typ, struct.unpack(">I", body)[0], end
    if typ in (LONG, BOOL, DATE):
        return tag, typ, struct.unpack(">q", body)[0], end
    if typ == TEXT:
        return tag, typ, body.decode(), end
    return tag, typ, bytes(body), end


def find(node, tag):
    return [k for k in node[2] if k[0] == tag]


def name_value(n):
    return enc(T_NAME, STRUCT, [enc(T_NAME_VALUE, TEXT, n), enc(T_NAME_TYPE, ENUM, 1)])


def attr1x(name, value_item, index=None):
    """A 1.x Attribute: @value_item is an encoded item whose tag is replaced by Attribute Value."""
    value = struct.pack(">I", T_ATTR_VALUE)[1:] + value_item[3:]
    parts = [enc(T_ATTR_NAME, TEXT, name)]
    if index is not None:
        parts.append(enc(T_ATTR_INDEX, INT, index))
    return enc(T_ATTRIBUTE, STRUCT, parts + [value])


class Raw:
    """One mutual-TLS connection speaking raw TTLV in one protocol version."""

    def __init__(self, kmsd, cert_file, key_file, version):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.load_verify_locations(kmsd.ca)
        ctx.load_cert_chain(cert_file, key_file)
        raw = socket.create_connection(("127.0.0.1", kmsd.kmip_port), timeout=10)
        self.s = ctx.wrap_socket(raw, server_hostname="localhost")
        self.major, self.minor = (int(x) for x in version.split("."))

    def close(self):
        self.s.close()

    def call(self, op, payload):
        """One batch item: (status, reason, payload node)."""
        pv = enc(0x420069, STRUCT, [enc(0x42006A, INT, self.major), enc(0x42006B, INT, self.minor)])
        msg = enc(0x420078, STRUCT, [
            enc(0x420077, STRUCT, [pv, enc(0x42000D, INT, 1)]),
            enc(0x42000F, STRUCT, [enc(0x42005C, ENUM, op), enc(0x420079, STRUCT, payload)])])
        self.s.sendall(msg)
        out = b""
        while len(out) < 8 or len(out) < 8 + struct.unpack(">I", out[4:8])[0]:
            chunk = self.s.recv(65536)
            if not chunk:
                raise AssertionError("kmsd closed the connection")
            out += chunk
        _, _, kids, _ = dec(out)
        item = [k for k in kids if k[0] == 0x42000F][0]
        status = find(item, T_RESULT_STATUS)[0][2]
        reason = find(item, T_RESULT_REASON)[0][2] if find(item, T_RESULT_REASON) else None
        payload = find(item, T_PAYLOAD)
        return status, reason, (payload[0] if payload else None)

    def ok(self, op, payload, what):
        status, reason, p = self.call(op, payload)
        check(status == 0, "%d.%d: %s (reason %s)" % (self.major, self.minor, what, reason))
        return p

    def refused(self, op, payload, want, what):
        status, reason, _ = self.call(op, payload)
        check(status == 1 and reason == want, "%d.%d: %s refused with reason 0x%x (got 0x%x)" %
              (self.major, self.minor, what, want, reason or 0))

    def attributes(self, uid, names=()):
        """{attribute name or tag: [values]} from Get Attributes."""
        v2 = self.major >= 2
        req = [enc(T_UID, TEXT, uid)]
        if v2:
            tags = {"Name": T_NAME, "Contact Information": T_CONTACT, "Object Group": T_GROUP,
                    "Link": T_LINK, "Digest": T_DIGEST, "State": 0x42008D}
            req += [enc(T_ATTR_REF, ENUM, tags[n]) for n in names]
        else:
            req += [enc(T_ATTR_NAME, TEXT, n) for n in names]
        p = self.ok(GET_ATTRS, req, "Get Attributes of " + uid)
        out = {}
        if v2:
            for t, ty, v in find(p, T_ATTRIBUTES)[0][2]:
                out.setdefault(t, []).append(v)
        else:
            for a in find(p, T_ATTRIBUTE):
                out.setdefault(find(a, T_ATTR_NAME)[0][2], []).append(find(a, T_ATTR_VALUE)[0][2])
        return out


def names_of(raw, uid):
    a = raw.attributes(uid, ["Name"])
    vals = a.get(T_NAME if raw.major >= 2 else "Name", [])
    return [[k[2] for k in v if k[0] == T_NAME_VALUE][0] for v in vals]


def texts(raw, uid, name, tag):
    return raw.attributes(uid, [name]).get(tag if raw.major >= 2 else name, [])


def locate(c, name):
    return c.locate(attributes=[attribute_factory.AttributeFactory().create_attribute(
        enums.AttributeType.NAME, name)])


def attribute_checks(kmsd, cert, key, root, version):
    v2 = version == "2.0"
    tag = version.replace(".", "")
    raw = Raw(kmsd, cert, key, version)
    c = base.client(kmsd, cert, key, root, version)
    with c:
        uid = c.create(enums.CryptographicAlgorithm.AES, 128, name="attr-" + tag)
        other = c.create(enums.CryptographicAlgorithm.AES, 128, name="attr-other-" + tag)
        alias = "attr-alias-" + tag

        def add(value_item, name):
            if v2:
                return raw.call(ADD, [enc(T_UID, TEXT, uid), enc(T_NEW, STRUCT, [value_item])])
            return raw.call(ADD, [enc(T_UID, TEXT, uid), attr1x(name, value_item)])

        # Add a Name, then Locate by it (PyKMIP's Locate).
        status, _, p = add(name_value(alias), "Name")
        check(status == 0, version + ": Add Attribute Name " + alias)
        if not v2:
            a = find(p, T_ATTRIBUTE)[0]
            check(find(a, T_ATTR_INDEX)[0][2] == 1, version + ": the added Name has index 1")
        check(locate(c, alias) == [uid], version + ": Locate by the added Name finds the key")
        check(names_of(raw, uid) == ["attr-" + tag, alias], version + ": both Names read back")
        # Names are unique among live keys over REST too: the added Name is taken there.
        r = base.subprocess.run([os.environ["KMSCTL"], "--data-dir", kmsd.data, "key", "create",
                                 alias, "--algorithm", "AES-128", "--usage", "encrypt"],
                                stdout=base.subprocess.PIPE, stderr=base.subprocess.STDOUT,
                                text=True)
        check(r.returncode != 0 and "already exists" in r.stdout,
              version + ": kmsctl key create with the added Name is refused (%s)" %
              r.stdout.strip()[:80])
        # A Name another key has: refused, nothing written.
        taken = NON_UNIQUE if v2 else (EXISTS if version >= "1.4" else ILLEGAL)
        status, reason, _ = add(name_value("attr-other-" + tag), "Name")
        check(status == 1 and reason == taken,
              version + ": Add of a Name another key has: reason 0x%x" % (reason or 0))
        check(names_of(raw, uid) == ["attr-" + tag, alias], version + ": ... and nothing changed")

        # Contact Information: single-instance.
        status, _, _ = add(enc(T_CONTACT, TEXT, "ops@example.com"), "Contact Information")
        check(status == 0, version + ": Add Attribute Contact Information")
        status, reason, _ = add(enc(T_CONTACT, TEXT, "other@example.com"), "Contact Information")
        check(status == 1 and reason == (SINGLE_VALUED if v2 else ILLEGAL),
              version + ": a second Contact Information: reason 0x%x" % (reason or 0))
        # Modify it with PyKMIP (1.x Attribute / 2.0 Set Attribute) and read it back.
        if v2:
            c.set_attribute(uid, attribute_name="Contact Information",
                            attribute_value="sec@example.com")
        else:
            attr = attribute_factory.AttributeFactory().create_attribute(
                enums.AttributeType.CONTACT_INFORMATION, "sec@example.com")
            got_uid, got = c.modify_attribute(uid, attribute=attr)
            check(got_uid == uid and got.attribute_value.value == "sec@example.com",
                  version + ": PyKMIP modify_attribute answers the new value")
        check(texts(raw, uid, "Contact Information", T_CONTACT) == ["sec@example.com"],
              version + ": Contact Information reads back modified")

        # Modify the first Name (the key's name): REST shows the new name.
        renamed = "attr-renamed-" + tag
        if v2:
            raw.ok(MODIFY, [enc(T_UID, TEXT, uid), enc(T_CURRENT, STRUCT, [name_value("attr-" + tag)]),
                            enc(T_NEW, STRUCT, [name_value(renamed)])],
                   "Modify Attribute Name (Current Attribute -> New Attribute)")
        else:
            raw.ok(MODIFY, [enc(T_UID, TEXT, uid), attr1x("Name", name_value(renamed), 0)],
                   "Modify Attribute Name index 0")
        check(names_of(raw, uid) == [renamed, alias], version + ": the Names after Modify")
        shown = json.loads(base.kmsctl(kmsd, "--json", "key", "show", uid))
        check(shown.get("name") == renamed, version + ": REST (kmsctl key show) reads the new name")

        # Delete the added Name (PyKMIP), then it no longer locates.
        if v2:
            raw.ok(DELETE, [enc(T_UID, TEXT, uid), enc(T_CURRENT, STRUCT, [name_value(alias)])],
                   "Delete Attribute Name by Current Attribute")
        else:
            got_uid, got = c.delete_attribute(uid, attribute_name="Name", attribute_index=1)
            check(got_uid == uid and got.attribute_value.name_value.value == alias,
                  version + ": PyKMIP delete_attribute answers the deleted Name")
        check(locate(c, alias) == [], version + ": Locate by the deleted Name finds nothing")
        # Deleting what is not there.
        if v2:
            raw.refused(DELETE, [enc(T_UID, TEXT, uid), enc(T_CURRENT, STRUCT, [name_value(alias)])],
                        INSTANCE_NOT_FOUND, "Delete of a Name the key does not have")
            raw.ok(DELETE, [enc(T_UID, TEXT, uid), enc(T_ATTR_REF, ENUM, T_CONTACT)],
                   "Delete Attribute Contact Information by Attribute Reference")
            raw.refused(DELETE, [enc(T_UID, TEXT, uid), enc(T_ATTR_REF, ENUM, T_CONTACT)],
                        NOT_FOUND, "Delete of an absent Contact Information")
        else:
            raw.refused(DELETE, [enc(T_UID, TEXT, uid), enc(T_ATTR_NAME, TEXT, "Name"),
                                 enc(T_ATTR_INDEX, INT, 1)], ITEM_NOT_FOUND,
                        "Delete of Name index 1 (no longer there)")
            raw.ok(DELETE, [enc(T_UID, TEXT, uid), enc(T_ATTR_NAME, TEXT, "Contact Information")],
                   "Delete Attribute Contact Information")
            raw.refused(DELETE, [enc(T_UID, TEXT, uid), enc(T_ATTR_NAME, TEXT, "Contact Information")],
                        ITEM_NOT_FOUND, "Delete of an absent Contact Information")
        check(texts(raw, uid, "Contact Information", T_CONTACT) == [],
              version + ": Contact Information is gone")
        # The last Name stays: a kmsd key always has one.
        if v2:
            raw.refused(DELETE, [enc(T_UID, TEXT, uid), enc(T_ATTR_REF, ENUM, T_NAME)], ILLEGAL,
                        "Delete of every Name")
        else:
            raw.refused(DELETE, [enc(T_UID, TEXT, uid), enc(T_ATTR_NAME, TEXT, "Name")], ILLEGAL,
                        "Delete of the last Name")

        # Object Group: multi-instance, in order.
        for g in ("tier-1", "tier-2-" + tag):
            status, _, _ = add(enc(T_GROUP, TEXT, g), "Object Group")
            check(status == 0, version + ": Add Attribute Object Group " + g)
        check(texts(raw, uid, "Object Group", T_GROUP) == ["tier-1", "tier-2-" + tag],
              version + ": two Object Groups read back in order")
        group = attribute_factory.AttributeFactory().create_attribute(
            enums.AttributeType.OBJECT_GROUP, "tier-2-" + tag)
        check(c.locate(attributes=[group]) == [uid], version + ": Locate by Object Group")
        # PyKMIP's own forms: 2.0 Current / New Attribute and Attribute Reference, 1.x index.
        if v2:
            c.modify_attribute(uid, current_attribute=cobjects.CurrentAttribute(
                attribute=primitives.TextString("tier-1", enums.Tags.OBJECT_GROUP)),
                new_attribute=cobjects.NewAttribute(
                attribute=primitives.TextString("tier-1b", enums.Tags.OBJECT_GROUP)))
        else:
            c.modify_attribute(uid, attribute=attribute_factory.AttributeFactory().create_attribute(
                enums.AttributeType.OBJECT_GROUP, "tier-1b", index=0))
        check(texts(raw, uid, "Object Group", T_GROUP) == ["tier-1b", "tier-2-" + tag],
              version + ": PyKMIP modify_attribute of the first Object Group")
        if v2:
            c.delete_attribute(uid, attribute_reference=cobjects.AttributeReference(
                vendor_identification="", attribute_name="Object Group"))
            check(texts(raw, uid, "Object Group", T_GROUP) == [],
                  version + ": PyKMIP delete_attribute by Attribute Reference: every Object Group")
            for g in ("tier-1", "tier-2-" + tag):
                add(enc(T_GROUP, TEXT, g), "Object Group")

        # Server-maintained attributes: Attribute Read Only (2.0) / Permission Denied (1.x).
        ro = READ_ONLY if v2 else DENIED
        status, reason, _ = add(enc(0x420039, DATE, 1700000000), "Initial Date")
        check(status == 1 and reason == ro,
              version + ": Add of Initial Date: reason 0x%x" % (reason or 0))
        if v2:
            raw.refused(SET, [enc(T_UID, TEXT, uid), enc(T_NEW, STRUCT, [enc(0x42008D, ENUM, 2)])],
                        READ_ONLY, "Set Attribute State")
            raw.refused(SET, [enc(T_UID, TEXT, uid), enc(T_NEW, STRUCT, [name_value("x-" + tag)])],
                        MULTI_VALUED, "Set Attribute Name (multi-instance)")
            raw.refused(ADJUST, [enc(T_UID, TEXT, uid), enc(T_ATTR_REF, ENUM, 0x42002A),
                                 enc(T_ADJ_TYPE, ENUM, 1)], READ_ONLY,
                        "Adjust Attribute Cryptographic Length")
            raw.refused(DELETE, [enc(T_UID, TEXT, uid), enc(T_ATTR_REF, ENUM, T_UID)], READ_ONLY,
                        "Delete Attribute Unique Identifier")
        else:
            raw.refused(MODIFY, [enc(T_UID, TEXT, uid), attr1x("Cryptographic Usage Mask",
                                                              enc(0x42002C, INT, 4))],
                        DENIED, "Modify of Cryptographic Usage Mask")
            raw.refused(DELETE, [enc(T_UID, TEXT, uid), enc(T_ATTR_NAME, TEXT, "Unique Identifier")],
                        DENIED, "Delete of Unique Identifier")
            raw.refused(SET, [enc(T_UID, TEXT, uid), enc(T_NEW, STRUCT, [name_value("a")])],
                        OP_NOT_SUPPORTED, "Set Attribute (a KMIP 2.0 operation)")
            # Custom attributes (§3.39): "x-" a client's, any type; "y-" the server's.
            status, _, _ = add(enc(T_ATTR_VALUE, INT, 42), "x-app-id")
            check(status == 0, version + ": Add Attribute x-app-id (Integer)")
            got = raw.attributes(uid, ["x-app-id"])
            check(got.get("x-app-id") == [42], version + ": x-app-id reads back 42")
            lst = raw.ok(GET_LIST, [enc(T_UID, TEXT, uid)], "Get Attribute List")
            listed = [k[2] for k in find(lst, T_ATTR_NAME)]
            check("x-app-id" in listed and "Object Group" in listed and listed.count("Name") == 1,
                  version + ": Get Attribute List names x-app-id and Object Group, Name once")
            status, reason, _ = add(enc(T_ATTR_VALUE, TEXT, "v"), "y-server")
            check(status == 1 and reason == DENIED, version + ": Add of a y- attribute: denied")
        raw.close()
    return uid


def digest_check(kmsd, cert, key, root):
    """The Digest of a public key (KMIP 1.4 §3.17): SHA-256 over the X.509 bytes Get returns."""
    raw = Raw(kmsd, cert, key, "1.4")
    with base.client(kmsd, cert, key, root, "1.4") as c:
        pub, priv = c.create_key_pair(enums.CryptographicAlgorithm.EC, 256,
                                      public_name="digest-pair", private_name="digest-pair")
        der = c.get(pub).value
        d = raw.attributes(pub, ["Digest"]).get("Digest", [])
        check(len(d) == 1 and [k[2] for k in d[0] if k[0] == T_HASH_ALG] == [6] and
              [k[2] for k in d[0] if k[0] == T_DIGEST_VALUE] == [hashlib.sha256(der).digest()],
              "1.4: Digest of the public key = SHA-256 of its X.509 encoding")
        _, got = c.get_attributes(pub, ["Digest"])
        check(len(got) == 1 and got[0].attribute_value.digest_value.value ==
              hashlib.sha256(der).digest(), "1.4: PyKMIP reads the same Digest")
        raw10 = Raw(kmsd, cert, key, "1.0")
        d10 = raw10.attributes(pub, ["Digest"]).get("Digest", [])
        check(len(d10) == 1 and not [k for k in d10[0] if k[0] == 0x420042],
              "1.0: the Digest without Key Format Type (a KMIP 1.1 field)")
        raw10.close()
        check(raw.attributes(priv, ["Digest"]).get("Digest") is None,
              "1.4: no Digest for the private key (its value is only in the HSM)")
    raw.close()


def rekey_checks(kmsd, cert, key, root, version):
    """Re-key an active HMAC key: a new object, the Links both ways, the old key's state kept,
    the names moved, the replacement active and usable (MAC, 1.2+), audited."""
    tag = version.replace(".", "")
    raw = Raw(kmsd, cert, key, version)
    v2 = version == "2.0"
    with base.client(kmsd, cert, key, root, version) as c:
        old = c.create(enums.CryptographicAlgorithm.HMAC_SHA256, 256, name="rekey-" + tag,
                       cryptographic_usage_mask=[enums.CryptographicUsageMask.MAC_GENERATE,
                                                 enums.CryptographicUsageMask.MAC_VERIFY])
        c.activate(old)
        new = c.rekey(uid=old, offset=0)
        check(new != old and new.startswith("k-"), version + ": Re-key -> a new object " + new)

        def links(uid):
            got = raw.attributes(uid, ["Link"]).get(T_LINK if v2 else "Link", [])
            return [([k[2] for k in l if k[0] == T_LINK_TYPE][0],
                     [k[2] for k in l if k[0] == T_LINKED][0]) for l in got]
        check(links(old) == [(0x106, new)], version + ": the old key: Replacement Object Link")
        check(links(new) == [(0x107, old)], version + ": the new key: Replaced Object Link")
        st = {u: raw.attributes(u, ["State"]).get(0x42008D if v2 else "State") for u in (old, new)}
        check(st[old] == [2] and st[new] == [2],
              version + ": both Active (Re-key leaves the old key's state; Offset 0 activates)")
        check(names_of(raw, new) == ["rekey-" + tag] and names_of(raw, old) == [old],
              version + ": the Name moved to the replacement (the old key is named by its id)")
        check(locate(c, "rekey-" + tag) == [new], version + ": Locate by the name finds the new key")
        if version >= "1.2":
            data = b"rekey known data"
            _, m_old = c.mac(data, uid=old, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)
            _, m_new = c.mac(data, uid=new, algorithm=enums.CryptographicAlgorithm.HMAC_SHA256)
            check(len(m_new) == 32 and m_new != m_old,
                  version + ": the replacement MACs, with a key of its own")
        raw.refused(REKEY, [enc(T_UID, TEXT, old)], EXISTS if version >= "1.4" else ILLEGAL,
                    "a second Re-key of the replaced key")
        new2 = raw.ok(REKEY, [enc(T_UID, TEXT, new)], "Re-key without Offset")
        new2 = find(new2, T_UID)[0][2]
        check(raw.attributes(new2, ["State"]).get(0x42008D if v2 else "State") == [1],
              version + ": without Offset the replacement is Pre-Active")
    raw.close()
    audit = json.loads(base.kmsctl(kmsd, "--json", "audit", "list", "--all"))
    rk = [r for r in audit["records"] if r.get("action") == "key.rekey" and r.get("target") == old]
    check(len(rk) == 1 and ("replacement=" + new) in rk[0]["detail"],
          version + ": the Re-key is audited (key.rekey, replacement named)")
    return old


def bad_input_checks(kmsd, cert, key, uid):
    """Malformed attribute and Re-key requests: Invalid Field (7), nothing changed."""
    INVALID = 0x07
    for version in ("1.4", "2.0"):
        raw = Raw(kmsd, cert, key, version)
        before = raw.attributes(uid)
        u = enc(T_UID, TEXT, uid)
        if version == "2.0":
            raw.refused(ADD, [u, enc(T_NEW, STRUCT, [name_value("a"), name_value("b")])], INVALID,
                        "a New Attribute holding two attributes")
            raw.refused(ADD, [u], INVALID, "Add Attribute without a New Attribute")
            raw.refused(ADD, [u, enc(T_NEW, STRUCT, [enc(T_CONTACT, INT, 5)])], INVALID,
                        "Contact Information that is an Integer")
            raw.refused(MODIFY, [u, enc(T_CURRENT, STRUCT, [enc(T_CONTACT, TEXT, "a")]),
                                 enc(T_NEW, STRUCT, [name_value("b")])], INVALID,
                        "Current and New Attribute of different attributes")
            raw.refused(ADJUST, [u, enc(T_ATTR_REF, ENUM, T_CONTACT), enc(T_ADJ_TYPE, ENUM, 9)],
                        INVALID, "Adjustment Type 9")
            raw.refused(DELETE, [u], INVALID, "Delete Attribute naming nothing")
        else:
            raw.refused(ADD, [u, enc(T_ATTRIBUTE, STRUCT, [enc(T_ATTR_NAME, TEXT, "Name")])],
                        INVALID, "an Attribute without a value")
            raw.refused(ADD, [u, attr1x("Name", enc(T_NAME, STRUCT, [enc(T_NAME_VALUE, INT, 1)]))],
                        INVALID, "a Name whose value is an Integer")
            raw.refused(ADD, [u, attr1x("Name", name_value("bad name with spaces"))], INVALID,
                        "a Name kmsd does not allow")
            raw.refused(MODIFY, [u, attr1x("Object Group", enc(T_GROUP, TEXT, "x"), -1)], INVALID,
                        "a negative Attribute Index")
            raw.refused(ADD, [u, attr1x("x-big", enc(T_ATTR_VALUE, BYTES, b"\0" * 5000))],
                        INVALID, "a custom value over 4096 bytes")
            raw.refused(REKEY, [u, enc(0x420058, INT, 0)], INVALID, "an Offset that is an Integer")
            raw.refused(ADD, [u, attr1x("x-a\nb", enc(T_ATTR_VALUE, INT, 1))], INVALID,
                        "a custom attribute name with a newline")
        check(raw.attributes(uid) == before, version + ": the key is unchanged after bad input")
        raw.close()
    check(kmsd.proc.poll() is None, "kmsd still running after bad attribute requests")


def gcm_vector(name):
    """One AES-GCM known answer from tests/hsm/vectors/aes_gcm.txt (McGrew and Viega, "The
    Galois/Counter Mode of Operation (GCM)", Appendix B; cited in the file)."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "hsm", "vectors",
                        "aes_gcm.txt")
    vectors, cur = [], None
    for line in open(path):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        k, _, v = (x.strip() for x in line.partition("="))
        if k == "name":
            cur = {"name": v}
            vectors.append(cur)
        else:
            cur[k] = v
    return [v for v in vectors if v["name"] == name][0]


def known_key(kmsd, root, name, key_hex):
    """An AES key of known value in kmsd, made by a two-custodian key ceremony
    (docs/key-ceremony.md): C1 random, C2 = K xor C1, each with its AES-CMAC KCV."""
    from cryptography.hazmat.primitives import cmac
    from cryptography.hazmat.primitives.ciphers import algorithms
    key = bytes.fromhex(key_hex)
    c1 = os.urandom(len(key))
    comps = [c1, bytes(a ^ b for a, b in zip(key, c1))]
    made = json.loads(base.kmsctl(kmsd, "--json", "ceremony", "create", name, "--algorithm",
                                  "AES-%d" % (8 * len(key)), "--usage", "encrypt,decrypt",
                                  "--components", "2"))
    for i, comp in enumerate(comps):
        cust = "gcm-custodian-%d" % i
        token = os.path.join(root, cust + ".token")
        base.kmsctl(kmsd, "principal", "create", cust, "--role", "custodian", "--token-out", token)
        mac = cmac.CMAC(algorithms.AES(comp))
        mac.update(b"\0" * 16)
        comp_file = os.path.join(root, cust + ".component")
        with open(comp_file, "w") as f:
            f.write(comp.hex())
        env = dict(os.environ, KMS_URL="https://127.0.0.1:%d" % kmsd.port, KMS_CA=kmsd.ca,
                   KMS_TOKEN_FILE=token)
        r = base.subprocess.run([os.environ["KMSCTL"], "ceremony", "component", made["id"],
                                 "--component-file", comp_file, "--kcv", mac.finalize()[:3].hex()],
                                env=env, stdout=base.subprocess.PIPE,
                                stderr=base.subprocess.STDOUT, text=True)
        os.remove(comp_file)
        check(r.returncode == 0, "ceremony component %d accepted (%s)" % (i, r.stdout.strip()[:80]))
    shown = json.loads(base.kmsctl(kmsd, "--json", "ceremony", "show", made["id"]))
    check(shown.get("keyId", "").startswith("k-"), "the ceremony made key " + shown.get("keyId", "?"))
    return shown["keyId"]


def gcm_checks(kmsd, root):
    """AES-GCM Encrypt / Decrypt (KMIP 1.4 §4.29, §4.30: Authenticated Encryption Additional
    Data and Tag) with a known key: McGrew-Viega test case 4 answered exactly."""
    v = gcm_vector("McGrew-Viega test case 4")
    uid = known_key(kmsd, root, "gcm-known", v["key"])
    cert, key = base.enrol(kmsd, root, "kmip-admin", role="admin")
    T_DATA, T_IV, T_PARAMS, T_MODE, T_TAGLEN, T_AAD, T_TAG = (
        0x4200C2, 0x42003D, 0x42002B, 0x420011, 0x4200CE, 0x4200FE, 0x4200FF)
    ENCRYPT, DECRYPT, ACTIVATE = 0x1F, 0x20, 0x12
    gcm = enc(T_PARAMS, STRUCT, [enc(T_MODE, ENUM, 9), enc(T_TAGLEN, INT, 16)])
    raw = Raw(kmsd, cert, key, "1.4")
    if raw.attributes(uid, ["State"])["State"] == [1]:
        raw.ok(ACTIVATE, [enc(T_UID, TEXT, uid)], "Activate the ceremony key")
    aad, iv = bytes.fromhex(v["aad"]), bytes.fromhex(v["iv"])
    plain, tag = bytes.fromhex(v["plaintext"]), bytes.fromhex(v["tag"])
    ct = bytes.fromhex(v["ciphertext"])
    p = raw.ok(ENCRYPT, [enc(T_UID, TEXT, uid), gcm, enc(T_DATA, BYTES, plain),
                         enc(T_IV, BYTES, iv), enc(T_AAD, BYTES, aad)], "Encrypt AES-GCM")
    check(find(p, T_DATA)[0][2] == ct and find(p, T_TAG)[0][2] == tag and not find(p, T_IV),
          "1.4: AES-GCM Encrypt answers McGrew-Viega test case 4's ciphertext and tag")
    p = raw.ok(DECRYPT, [enc(T_UID, TEXT, uid), gcm, enc(T_DATA, BYTES, ct), enc(T_IV, BYTES, iv),
                         enc(T_AAD, BYTES, aad), enc(T_TAG, BYTES, tag)], "Decrypt AES-GCM")
    check(find(p, T_DATA)[0][2] == plain, "1.4: AES-GCM Decrypt returns test case 4's plaintext")
    bad = bytes([tag[0] ^ 1]) + tag[1:]
    raw.refused(DECRYPT, [enc(T_UID, TEXT, uid), gcm, enc(T_DATA, BYTES, ct), enc(T_IV, BYTES, iv),
                          enc(T_AAD, BYTES, aad), enc(T_TAG, BYTES, bad)], 0x0A,
                "a wrong tag (Cryptographic Failure)")
    raw.refused(DECRYPT, [enc(T_UID, TEXT, uid), gcm, enc(T_DATA, BYTES, ct), enc(T_IV, BYTES, iv),
                          enc(T_AAD, BYTES, aad + b"!"), enc(T_TAG, BYTES, tag)], 0x0A,
                "other Additional Data (Cryptographic Failure)")
    raw.refused(DECRYPT, [enc(T_UID, TEXT, uid), gcm, enc(T_DATA, BYTES, ct), enc(T_IV, BYTES, iv)],
                0x07, "Decrypt AES-GCM without a tag (Invalid Field)")
    raw.refused(ENCRYPT, [enc(T_UID, TEXT, uid), enc(T_PARAMS, STRUCT, [enc(T_MODE, ENUM, 9),
                                                                        enc(T_TAGLEN, INT, 8)]),
                          enc(T_DATA, BYTES, plain)], 0x08, "a Tag Length of 8 (Feature Not Supported)")
    raw.refused(ENCRYPT, [enc(T_UID, TEXT, uid), enc(T_DATA, BYTES, plain), enc(T_AAD, BYTES, aad)],
                0x07, "Additional Data with CBC (Invalid Field)")
    p = raw.ok(ENCRYPT, [enc(T_UID, TEXT, uid), gcm, enc(T_DATA, BYTES, plain)],
               "Encrypt AES-GCM, IV from the HSM")
    check(len(find(p, T_IV)[0][2]) == 12 and len(find(p, T_TAG)[0][2]) == 16,
          "1.4: without an IV the HSM draws a 12-byte one, returned with the tag")
    raw.close()
    raw = Raw(kmsd, cert, key, "1.2")
    raw.refused(ENCRYPT, [enc(T_UID, TEXT, uid), gcm, enc(T_DATA, BYTES, plain)], 0x08,
                "AES-GCM to a KMIP 1.2 client (Feature Not Supported)")
    raw.close()


def other_client_checks(kmsd, root, theirs):
    cert, key = base.enrol(kmsd, root, "kmip-attr-other")
    raw = Raw(kmsd, cert, key, "1.4")
    raw.refused(ADD, [enc(T_UID, TEXT, theirs), attr1x("Name", name_value("stolen"))], DENIED,
                "another client's key: Add Attribute")
    raw.refused(REKEY, [enc(T_UID, TEXT, theirs)], DENIED, "another client's key: Re-key")
    raw.close()
    audit = json.loads(base.kmsctl(kmsd, "--json", "audit", "list", "--all"))
    denied = [r for r in audit["records"] if r.get("actor") == "kmip-attr-other" and
              r.get("target") == theirs and r.get("outcome") == "denied"]
    check(len(denied) == 2 and {r["action"] for r in denied} == {"kmip.op13", "kmip.op4"},
          "both refusals are audited (kmip.op13, kmip.op4)")
    changes = [r for r in audit["records"] if r.get("action") == "key.attributes" and
               r.get("target") == theirs]
    check(len(changes) >= 5 and all(r["actor"] == "kmip-client" for r in changes),
          "the attribute changes are audited as key.attributes (%d)" % len(changes))


def main():
    def body(t):
        root = t.root
        t.kmsd = kmsd = base.Kmsd(root)
        cert, key = base.enrol(kmsd, root, "kmip-client")
        for version in ("1.0", "1.4", "2.0"):
            uid = attribute_checks(kmsd, cert, key, root, version)
            rekey_checks(kmsd, cert, key, root, version)
        digest_check(kmsd, cert, key, root)
        bad_input_checks(kmsd, cert, key, uid)
        gcm_checks(kmsd, root)
        other_client_checks(kmsd, root, uid)
        check(kmsd.proc.poll() is None, "kmsd still running")

    return base.run_test("kms-kmip-attr-", body, "KMIP attributes and Re-key")

if __name__ == "__main__":
    sys.exit(main())
