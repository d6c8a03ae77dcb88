#!/usr/bin/env python3
"""GlobalPlatform benchmark set-up against a running kmsd (benchmarks/gp.sh).

Loads the published pySim SCP03 AES-128 static keys (tests/vectors/gp_scp03.txt,
SCP03_Test_AES128_33; DEK 2021..2F as in tests/rest/rest_gp_test.cpp) by key ceremony: two
custodian principals each enter one component (K = C1 xor C2) with its CMAC KCV. Creates a plugin
principal allowed "gp" on "gp/*", checks one session against pySim's published APDUs (level 33,
including the unwrap of the card's answer), then opens and authenticates N sessions at level 03
for the wrap benchmark. Prints shell assignments for gp.sh.

Usage: gp_setup.py URL CA_FILE ADMIN_TOKEN WRAP_SESSIONS
"""
import http.client
import json
import ssl
import sys
import urllib.parse

from cryptography.hazmat.primitives.cmac import CMAC
from cryptography.hazmat.primitives.ciphers import algorithms

# pySim SCP03_Test_AES128_33 (tests/vectors/gp_scp03.txt)
ENC = "000102030405060708090A0B0C0D0E0F"
MAC = "101112131415161718191A1B1C1D1E1F"
DEK = "202122232425262728292A2B2C2D2E2F"
HOST_CHALLENGE = "FDF38259A1E0DE44"
INITIALIZE_UPDATE = "8050300008FDF38259A1E0DE4400"
IU_RESPONSE = "000000000000000000003003703B1ACA81E821F219081CDC01C26B372D0000039000"
EXTERNAL_AUTHENTICATE = "84823300108C36F96BCC00724A4E13AD591D7DA3F0"
AID = "A0000005591010FFFFFFFF8900000100"
PLAIN_1 = "80E2910006BF3E035C015A00"
WRAPPED_1 = "84E2910018267A85DFE4A98FCA6FB0527E0DFECCE4914E40401433C87F00"
RESPONSE_1 = ("F3BA2B1013AA6224F5E1C138D71805C569E5439B47576260B75FC021B25097CB2E68F8A0144975B9"
              "9000")
UNWRAPPED_1 = "BF3E125A10898821199000000000000000000000059000"
C2 = "0F1E2D3C4B5A69788796A5B4C3D2E1F0"

url, ca, admin, n_wrap = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
u = urllib.parse.urlparse(url)
ctx = ssl.create_default_context(cafile=ca)
conn = http.client.HTTPSConnection(u.hostname, u.port, context=ctx)


def call(method, path, body, token, want):
    conn.request(method, path, body=None if body is None else json.dumps(body),
                 headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"})
    r = conn.getresponse()
    data = r.read()
    if r.status != want:
        sys.exit(f"gp_setup: {method} {path} -> {r.status} {data.decode()}")
    return json.loads(data) if data else {}


def kcv(hexkey):
    c = CMAC(algorithms.AES(bytes.fromhex(hexkey)))
    c.update(bytes(16))
    return c.finalize()[:3].hex().upper()


def xor(a, b):
    return bytes(x ^ y for x, y in zip(bytes.fromhex(a), bytes.fromhex(b))).hex().upper()


def principal(name, roles):
    return call("POST", "/v1/principals", {"name": name, "roles": roles}, admin, 201)["token"]


alice = principal("gp-bench-alice", ["custodian"])
bob = principal("gp-bench-bob", ["custodian"])
officer = principal("gp-bench-officer", ["key-officer"])
tsm = principal("gp-bench-tsm", ["plugin"])
call("PUT", "/v1/principals/gp-bench-tsm/policy", {"keys": ["gp/*"], "operations": ["gp"]},
     admin, 200)


def ceremony(name, key, usage):
    c = call("POST", "/v1/ceremonies", {"name": name, "algorithm": "AES-128", "usage": usage,
                                         "components": 2, "kcv": kcv(key)}, officer, 201)
    key_id = None
    for comp, who in ((xor(key, C2), alice), (C2, bob)):
        r = call("POST", f"/v1/ceremonies/{c['id']}/components",
                 {"component": comp, "kcv": kcv(comp)}, who, 200)
        key_id = r.get("key", {}).get("id", key_id)
    if not key_id:
        sys.exit(f"gp_setup: ceremony {name} gave no key")
    return key_id


enc = ceremony("gp/bench/enc", ENC, ["derive"])
mac = ceremony("gp/bench/mac", MAC, ["derive"])
dek = ceremony("gp/bench/dek", DEK, ["derive", "wrap"])
open_body = {"protocol": "SCP03", "i": "70", "keys": {"enc": enc, "mac": mac, "dek": dek},
             "keyVersion": 48, "hostChallenge": HOST_CHALLENGE, "aid": AID}
auth_body = {"initializeUpdateResponse": IU_RESPONSE, "securityLevel": "33"}

# One session exactly as pySim's (level 33): INITIALIZE UPDATE, EXTERNAL AUTHENTICATE, the first
# wrap and the unwrap of the card's answer must match the published bytes.
o = call("POST", "/v1/gp/scp/sessions", open_body, tsm, 201)
if o["initializeUpdate"] != INITIALIZE_UPDATE:
    sys.exit("gp_setup: unexpected INITIALIZE UPDATE " + o["initializeUpdate"])
a = call("POST", f"/v1/gp/scp/sessions/{o['session']}/authenticate", auth_body, tsm, 200)
if a["externalAuthenticate"] != EXTERNAL_AUTHENTICATE:
    sys.exit("gp_setup: unexpected EXTERNAL AUTHENTICATE " + a["externalAuthenticate"])
w = call("POST", f"/v1/gp/scp/sessions/{o['session']}/wrap", {"apdus": [PLAIN_1]}, tsm, 200)
if w["apdus"] != [WRAPPED_1]:
    sys.exit("gp_setup: first wrap differs from pySim: " + str(w["apdus"]))
u = call("POST", f"/v1/gp/scp/sessions/{o['session']}/unwrap", {"responses": [RESPONSE_1]}, tsm,
         200)
if u["responses"] != [UNWRAPPED_1]:
    sys.exit("gp_setup: unwrap differs from pySim: " + str(u["responses"]))
call("DELETE", f"/v1/gp/scp/sessions/{o['session']}", None, tsm, 200)

# The wrap benchmark's sessions: level 03, C-MAC and C-DECRYPTION on every command as at 33, but
# no R-MAC, so no command waits for its response to be unwrapped (at R-MAC levels at most 256
# may wait per session, and the benchmark sends no card answers).
sessions = []
for n in range(n_wrap):
    o = call("POST", "/v1/gp/scp/sessions", open_body, tsm, 201)
    call("POST", f"/v1/gp/scp/sessions/{o['session']}/authenticate",
         dict(auth_body, securityLevel="03"), tsm, 200)
    sessions.append(o["session"])

print(f"GP_TOKEN={tsm}")
print(f"GP_ENC={enc}")
print(f"GP_MAC={mac}")
print(f"GP_DEK={dek}")
print(f"GP_SESSIONS={','.join(sessions)}")
