#!/usr/bin/python3
# KMIP objects of kmsd's public keys only, against a real kmsd over mutual TLS: a public key
# imported over REST (SPKI) by a KMIP client's principal is one KMIP object, a Public Key, with
# no Private Key half and no Link (about 3 s). kmsd is stopped by PID and the folder removed
# even on failure.
#
# Usage: pykmip_register.py   (KMSD, KMSCTL: paths of kmsd and kmsctl)
import json
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from pykmip_interop import (Kmsd, attribute_values, check, client, enrol,  # noqa: E402
                            expect_failure, kmsctl)

from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from kmip.core import enums  # noqa: E402
from kmip.core.factories import attributes as attribute_factory  # noqa: E402


def by_name(c, name):
    return c.locate(attributes=[attribute_factory.AttributeFactory().create_attribute(
        enums.AttributeType.NAME, name)])


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


def main():
    root = tempfile.mkdtemp(prefix="kms-kmip-reg-")
    kmsd = None
    try:
        kmsd = Kmsd(root)
        cert_file, key_file = enrol(kmsd, root, "reg-client")
        spki_import_checks(kmsd, root, cert_file, key_file)
        print("PASS: KMIP public keys only")
        return 0
    except Exception as e:  # report with kmsd's log, then fail
        print("FAIL: %s: %s" % (type(e).__name__, e))
        if kmsd is not None:
            print("---- kmsd log ----\n" + kmsd.output())
        return 1
    finally:
        if kmsd is not None:
            kmsd.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
