#!/usr/bin/env python3
"""Writes the seed corpora of fuzz/corpus/<target>/ from the project's test vectors, its
service scripts and real messages built here byte by byte (the same shapes the unit tests use).
Run from anywhere: python3 fuzz/make_seeds.py. Deterministic: the CSRs are generated once with
openssl and kept (re-running does not rewrite fuzz_csr seeds that exist)."""
import os
import pathlib
import subprocess
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
CORPUS = ROOT / "fuzz" / "corpus"


def write(target, name, data):
    d = CORPUS / target
    d.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    (d / name).write_bytes(data)


def h(s):
    return bytes.fromhex(s.replace(" ", ""))


def lv(b):
    return bytes([len(b)]) + b


def vectors(path, key):
    out = []
    for line in (ROOT / "tests" / "vectors" / path).read_text().splitlines():
        if line.startswith(key + " = "):
            out.append(line.split(" = ", 1)[1].strip())
    return out


# ---- fuzz_apdu: command and response APDUs, INITIALIZE UPDATE answers
apdus = {
    "case1": "80CA9F7F",
    "case2-short": "80CA9F7F00",
    "case2-ext": "80CA9F7F000100",
    "case3-short": "00A4040008A000000151000000",
    "case4-short": "00A4040008A00000015100000000",
    "case3-ext": "00DA0000000003010203",
    "case4-ext": "00DA00000000030102030100",
    "external-authenticate": "848233001012345678901234561122334455667788",
}
for name, a in apdus.items():
    write("fuzz_apdu", name, h(a))
for k, v in enumerate(vectors("gp_scp03.txt", "initialize_update_response")[:3]):
    write("fuzz_apdu", f"scp03-iu-response-{k}", h(v))
for k, v in enumerate(vectors("gp_scp02.txt", "iu_response")[:2]):
    write("fuzz_apdu", f"scp02-iu-response-{k}", h(v))
write("fuzz_apdu", "response-9000", h("9000"))

# ---- fuzz_card: mode byte, level byte, then APDUs with a 1-byte length
ISD = h("A000000151000000")
PKG = h("A00000055910")
MOD = h("A0000005591010")
INST = h("A0000005591010FFFF")


def cmd(cla, ins, p1, p2, data=b"", le=None):
    out = bytes([cla, ins, p1, p2])
    if data:
        out += bytes([len(data)]) + data
    if le is not None:
        out += bytes([le & 0xFF])
    return out


def chunks(*apdus):
    return b"".join(lv(a) for a in apdus)


load_block = b"\xC4" + lv(b"\x01\x02\x03\x04" * 8)
content = chunks(
    cmd(0x80, 0xE6, 0x02, 0x00, lv(PKG) + lv(b"") + lv(b"") + b"\x00\x00", 0),
    cmd(0x80, 0xE8, 0x80, 0x00, load_block, 0),
    cmd(0x80, 0xE6, 0x0C, 0x00, lv(PKG) + lv(MOD) + lv(INST) + lv(b"\x00") + lv(b"\xC9\x00") + b"\x00", 0),
    cmd(0x80, 0xF2, 0x40, 0x02, b"\x4F\x00", 0),
    cmd(0x80, 0xF2, 0x10, 0x00, b"\x4F\x00", 0),
    cmd(0x80, 0xF0, 0x40, 0x80, INST),
    cmd(0x80, 0xF0, 0x40, 0x00, INST),
    cmd(0x80, 0xE6, 0x20, 0x00, b"\x00\x00" + lv(INST) + b"\x00\x00\x00", 0),
    cmd(0x80, 0xE2, 0x80, 0x00, h("DF01020000")),
    cmd(0x80, 0xE4, 0x00, 0x80, b"\x4F" + lv(PKG), 0),
)
write("fuzz_card", "raw-select-get-data", bytes([0, 0]) + chunks(
    cmd(0x00, 0xA4, 0x04, 0x00, ISD, 0), cmd(0x80, 0xCA, 0x9F, 0x7F, le=0),
    cmd(0x80, 0xCA, 0x00, 0xE0, le=0), cmd(0x80, 0x50, 0x30, 0x00, bytes(8), 0)))
write("fuzz_card", "raw-scp02-initialize-update", bytes([0, 1]) + chunks(
    cmd(0x80, 0x50, 0x00, 0x00, bytes(8), 0), cmd(0x84, 0x82, 0x01, 0x00, bytes(16))))
for level_index in (0, 5):
    write("fuzz_card", f"scp03-content-level{level_index}", bytes([1, level_index]) + content)
write("fuzz_card", "scp02-content", bytes([2, 0]) + content)
write("fuzz_card", "scp03-host-unwrap", bytes([3, 0]) + chunks(h("9000"), h("6A82"),
                                                                bytes(24) + h("9000")))

# ---- fuzz_tr31: the published key blocks and a few headers
for k, b in enumerate(vectors("tr31.txt", "block_ascii")):
    write("fuzz_tr31", f"vector-{k}", b)
write("fuzz_tr31", "header-optional-blocks", "D0112P0AE00E0200KS1800604B120F9292800000PB0C00000000")

# ---- fuzz_rest_json: request bodies of the routes
bodies = {
    "key-create": '{"name":"k1","algorithm":"AES-256","usage":["encrypt","decrypt"],"activate":true}',
    "key-revoke": '{"reason":"keyCompromise","compromiseDate":"2026-01-31T12:00:00.123Z","message":"x"}',
    "mac": '{"algorithm":"AES-CMAC","data":"00112233"}',
    "decrypt": '{"algorithm":"AES-GCM","ciphertext":"00","iv":"000102030405060708090A0B","aad":"","version":2}',
    "random": '{"length":32}',
    "principal": '{"name":"sp-plugin","roles":["plugin"],"csr":"-----BEGIN CERTIFICATE REQUEST-----\\n"}',
    "quorum": '{"approvals":2,"approverRoles":["admin","key-officer"],"ttlSeconds":3600}',
    "ceremony": '{"name":"kek","algorithm":"DES3-2K","usage":["wrap"],"components":3,"kcv":"ABCDEF","expiresInSeconds":600}',
    "import": '{"name":"i","algorithm":"AES-128","usage":["mac"],"format":"tr31","kek":"kek1","keyBlock":"D0112P0AE00E0000"}',
    "gp-session": '{"protocol":"SCP03","i":"70","keys":"isd","keyVersion":48,"hostChallenge":"0001020304050607"}',
    "put-key": '{"keys":["a","b","c"],"newKeyVersion":2,"replaceKeyVersion":1,"keyId":1}',
    "diversify": '{"kmc":"kmc1","diversification":"EMV-CPS","kdd":"00112233445566778899","name":"card"}',
    "nested": '{"a":[[[[{"b":{"c":[1,2.5e300,-9223372036854775809,null,true]}}]]]]}',
    "time-only": "2026-11-26T07:30:00Z",
}
for name, body in bodies.items():
    write("fuzz_rest_json", name, body)

# ---- fuzz_script: the service scripts of sp-tsm and se-tsm
for folder in ("tsm-services/sp-tsm/scripts", "tsm-services/se-tsm/scripts"):
    for p in sorted((ROOT / folder).glob("*.json")):
        write("fuzz_script", p.stem, p.read_bytes())
top_up = (ROOT / "tsm-services/sp-tsm/scripts/transit-top-up.json").read_bytes()
write("fuzz_script", "transit-top-up-with-answers",
      top_up + b"\x00" + chunks(h("9000"), h("9000"), h("000003E800079000"), h("9000")))

# ---- fuzz_plugin_msgs: selector byte, then the text
msgs = [
    (0, "start", '{"script":"transit-top-up","variables":{"amount":500,"purseAid":"A0000005591010FFFF"},"seid":"0102030405060708","productId":"transit","actionCode":"T1"}'),
    (1, "response", '{"seq":3,"response":"000003E800079000"}'),
    (2, "attribute-update", '{"seq":7,"seid":"0102030405060708","product":"transit","valid":false,"event":"loss-report","source":"se-tsm"}'),
    (3, "operation-record", '{"id":"op-1","script":"transit-top-up","state":"00","seq":2,"waiting":0,"engineSeq":1,"secure":false,"session":"","level":1,"action":"{}","answeredSeq":1,"answeredResponse":"9000","outcome":""}'),
    (4, "instance-record", '{"aid":"A0000005591010FFFF","loadFile":"transit-purse","state":"installed","operation":"op-1","script":"transit-install","updated":"2026-11-26T07:30:00Z"}'),
    (5, "attribute-record", '{"seid":"0102030405060708","product":"transit","valid":true,"seq":3,"source":"se-tsm","event":"attribute-set","updated":"2026-11-26T07:30:00Z"}'),
    (6, "index", '["A0000005591010FFFF","A0000005591011FFFF"]'),
    (7, "se-product", "se-tsm/1 product\nid=transit\n"),
    (8, "se-se", "se-tsm/1 se\nseid=0102030405060708\n"),
    (9, "se-attribute", "se-tsm/1 attribute\nseid=AABBCCDD\nproduct=transit-purse\nvalid=false\n"),
    (10, "se-outbox", "se-tsm/1 outbox\nseq=4\nseid=AABBCCDD\nproduct=transit\nevent=attribute-invalidated\nstatus=pending\nattempts=2\n"),
    (11, "se-list", "0102030405060708\n0A0B0C0D\n"),
]
for sel, name, text in msgs:
    write("fuzz_plugin_msgs", name, bytes([sel]) + text.encode())

# ---- fuzz_plugin_abi: requests (method byte, path, query, client: 1-byte length each; body:
# 2-byte length); "{op}" is the last operation the plugin created
def req(method, path, body="", query="", client=""):
    m = {"GET": 0, "POST": 1, "PUT": 2, "DELETE": 3}[method]
    path, body, query, client = path.encode(), body.encode(), query.encode(), client.encode()
    return (bytes([m]) + lv(path) + lv(query) + lv(client) + len(body).to_bytes(2, "big") + body)


abi = {
    "top-up-conversation":
        req("POST", "/attributes", '{"seq":1,"seid":"0102030405060708","product":"transit",'
            '"valid":true,"event":"attribute-set","source":"se"}', client="se-tsm")
        + req("POST", "/operations", '{"script":"transit-top-up","variables":{"purseAid":'
              '"A0000005591010FFFF","amount":500,"balanceCeiling":10000},"seid":'
              '"0102030405060708","productId":"transit"}')
        + req("POST", "/operations/{op}/responses", '{"seq":1,"response":"9000"}')
        + req("GET", "/operations/{op}") + req("DELETE", "/operations/{op}"),
    "balance-unchecked":
        req("POST", "/operations", '{"script":"transit-balance","variables":{"purseAid":'
            '"A0000005591010FFFF"}}')
        + req("POST", "/operations/{op}/responses", '{"seq":1,"response":"6A82"}'),
    "attribute-state": req("GET", "/attributes/0102030405060708/transit")
        + req("GET", "/ses/0102030405060708/instances"),
    "wrong-methods": req("PUT", "/operations") + req("GET", "/attributes") + req("DELETE", "/nothing"),
}
for name, data in abi.items():
    write("fuzz_plugin_abi", name, data)

# ---- fuzz_csr: CSRs made by openssl (RSA and EC, with and without SANs), PEM and DER
csr_dir = CORPUS / "fuzz_csr"
if not csr_dir.exists() or not any(csr_dir.iterdir()):
    with tempfile.TemporaryDirectory() as tmp:
        specs = [
            ("ec-p256-san", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"],
             ["-addext", "subjectAltName=DNS:kms.example,IP:127.0.0.1"], "/CN=kms.example"),
            ("ec-p256-client", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"], [],
             "/CN=sp-plugin/O=TSM"),
            ("rsa-1024", ["-newkey", "rsa:1024"], [], "/CN=legacy"),
        ]
        for name, key, ext, subj in specs:
            pem = os.path.join(tmp, name + ".pem")
            subprocess.run(["openssl", "req", "-new", "-nodes", "-keyout", os.devnull, "-out", pem,
                            "-subj", subj, *key, *ext], check=True, capture_output=True)
            data = pathlib.Path(pem).read_bytes()
            write("fuzz_csr", name + ".pem", data)
            der = subprocess.run(["openssl", "req", "-in", pem, "-outform", "DER"], check=True,
                                 capture_output=True).stdout
            write("fuzz_csr", name + ".der", der)

# ---- fuzz_kmip_ttlv: the encodings of tests/vectors/kmip_ttlv.txt (KMIP spec §9.1.2 examples,
# test case 6.1) and KMIP request messages of the shapes PyKMIP sends to kmsd.
def ttlv(tag, typ, value):
    if typ == 1:
        body = b"".join(value)
    elif typ in (2, 5):
        body = value.to_bytes(4, "big", signed=(typ == 2))
    elif typ in (3, 6, 9):
        body = value.to_bytes(8, "big", signed=True)
    else:
        body = value.encode() if isinstance(value, str) else value
    pad = b"\0" * ((8 - len(body) % 8) % 8)
    return tag.to_bytes(3, "big") + bytes([typ]) + len(body).to_bytes(4, "big") + body + pad


def request(major, minor, op, payload):
    version = ttlv(0x420069, 1, [ttlv(0x42006A, 2, major), ttlv(0x42006B, 2, minor)])
    header = ttlv(0x420077, 1, [version, ttlv(0x42000D, 2, 1)])
    item = ttlv(0x42000F, 1, [ttlv(0x42005C, 5, op), ttlv(0x420079, 1, payload)])
    return ttlv(0x420078, 1, [header, item])


def attribute(name, value):
    return ttlv(0x420008, 1, [ttlv(0x42000A, 7, name), value])


block = []
for line in (ROOT / "tests" / "vectors" / "kmip_ttlv.txt").read_text().splitlines():
    if line.startswith("hex = "):
        block.append(line[6:])
    elif block and line.startswith("      "):
        block[-1] += line
for i, hx in enumerate(block):
    write("fuzz_kmip_ttlv", "spec-%02d" % i, h(hx))
uid = ttlv(0x420094, 7, "k-0123456789abcdef0123456789abcdef")
create_14 = request(1, 4, 0x01, [
    ttlv(0x420057, 5, 2),
    ttlv(0x420091, 1, [
        attribute("Cryptographic Algorithm", ttlv(0x42000B, 5, 3)),
        attribute("Cryptographic Length", ttlv(0x42000B, 2, 256)),
        attribute("Cryptographic Usage Mask", ttlv(0x42000B, 2, 12)),
        attribute("Name", ttlv(0x42000B, 1, [ttlv(0x420055, 7, "disk-key"), ttlv(0x420054, 5, 1)]))])])
write("fuzz_kmip_ttlv", "create-1.4", create_14)
write("fuzz_kmip_ttlv", "create-2.0", request(2, 0, 0x01, [
    ttlv(0x420057, 5, 2),
    ttlv(0x420125, 1, [ttlv(0x420028, 5, 3), ttlv(0x42002A, 2, 128), ttlv(0x42002C, 2, 12)])]))
write("fuzz_kmip_ttlv", "get-attributes-2.0", request(2, 0, 0x0B, [uid, ttlv(0x42013B, 5, 0x42008D)]))
write("fuzz_kmip_ttlv", "revoke-1.2", request(1, 2, 0x13, [
    uid, ttlv(0x420081, 1, [ttlv(0x420082, 5, 2), ttlv(0x420080, 7, "lost")]),
    ttlv(0x420021, 9, 1700000000)]))
write("fuzz_kmip_ttlv", "encrypt-1.4", request(1, 4, 0x1F, [
    uid, ttlv(0x42002B, 1, [ttlv(0x420011, 5, 1), ttlv(0x42005F, 5, 3)]),
    ttlv(0x4200C2, 8, b"plaintext"), ttlv(0x420006, 6, 1)]))
write("fuzz_kmip_ttlv", "locate-1.4", request(1, 4, 0x08, [
    ttlv(0x42004F, 2, 10), attribute("Name", ttlv(0x42000B, 1, [ttlv(0x420055, 7, "disk-key"),
                                                                ttlv(0x420054, 5, 1)]))]))
write("fuzz_kmip_ttlv", "big-integer", ttlv(0x420020, 4, bytes(16)))
# Register (KMIP 1.4 §4.3): a Raw AES key (SP 800-38A F.2.1's, public), a Transparent
# Symmetric Key in 1.0, a Transparent RSA Public Key (Big Integers) and a 2.0 Register.
def key_block(fmt, material, alg, length):
    return ttlv(0x420040, 1, [ttlv(0x420042, 5, fmt), ttlv(0x420045, 1, [material]),
                              ttlv(0x420028, 5, alg), ttlv(0x42002A, 2, length)])
aes = h("2b7e151628aed2a6abf7158809cf4f3c")
write("fuzz_kmip_ttlv", "register-raw-1.4", request(1, 4, 0x03, [
    ttlv(0x420057, 5, 2), ttlv(0x420091, 1, [
        attribute("Cryptographic Usage Mask", ttlv(0x42000B, 2, 12)),
        attribute("Name", ttlv(0x42000B, 1, [ttlv(0x420055, 7, "array-key"),
                                             ttlv(0x420054, 5, 1)]))]),
    ttlv(0x42008F, 1, [key_block(0x01, ttlv(0x420043, 8, aes), 3, 128)])]))
write("fuzz_kmip_ttlv", "register-transparent-1.0", request(1, 0, 0x03, [
    ttlv(0x420057, 5, 2), ttlv(0x420091, 1, []),
    ttlv(0x42008F, 1, [key_block(0x07, ttlv(0x420043, 1, [ttlv(0x42003F, 8, aes)]), 3, 128)])]))
write("fuzz_kmip_ttlv", "register-rsa-public-1.4", request(1, 4, 0x03, [
    ttlv(0x420057, 5, 3),
    ttlv(0x42006D, 1, [key_block(0x0B, ttlv(0x420043, 1, [
        ttlv(0x420052, 4, b"\0" + b"\xc3" * 255), ttlv(0x42006C, 4, (65537).to_bytes(8, "big"))]),
        4, 2048)])]))
write("fuzz_kmip_ttlv", "register-secret-data-1.4", request(1, 4, 0x03, [
    ttlv(0x420057, 5, 7), ttlv(0x420091, 1, []),
    ttlv(0x420085, 1, [ttlv(0x420086, 5, 1), ttlv(0x420040, 1, [
        ttlv(0x420042, 5, 2), ttlv(0x420045, 1, [ttlv(0x420043, 8, b"array password")])])])]))
write("fuzz_kmip_ttlv", "register-certificate-2.0", request(2, 0, 0x03, [
    ttlv(0x420057, 5, 1), ttlv(0x420125, 1, []),
    ttlv(0x420013, 1, [ttlv(0x42001D, 5, 1), ttlv(0x42001E, 8, bytes.fromhex("3003020101"))])]))
write("fuzz_kmip_ttlv", "register-2.0", request(2, 0, 0x03, [
    ttlv(0x420057, 5, 2), ttlv(0x420125, 1, [ttlv(0x42002C, 2, 12)]),
    ttlv(0x42008F, 1, [key_block(0x01, ttlv(0x420043, 8, aes), 3, 128)])]))
print("seeds written under", CORPUS)
