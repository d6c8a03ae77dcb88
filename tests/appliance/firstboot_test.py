#!/usr/bin/env python3
"""appliance-firstboot: `kmsd init`, the appliance's first-boot command, with the token's PINs
from systemd credentials ($CREDENTIALS_DIRECTORY/hsm-pin and hsm-so-pin, as LoadCredential=
places them), from --pin-file/--so-pin-file, or generated; and the running kmsd's PIN never on
its command line or in its environment.

  firstboot_test.py KMSD

Real SoftHSM2 tokens in a temporary folder, kmsd on 127.0.0.1 port 0, stopped by PID.
1. credentials: init initializes the token and exits (no PIN file written, nothing served),
   a second init does nothing, with or without the credentials; kmsd then serves with the credential (the first administrator's
   token works) and /proc/PID/cmdline and /proc/PID/environ hold neither PIN; without the
   credential kmsd refuses to start naming it, and generates no PIN; a wrong PIN names
   CKR_PIN_INCORRECT and the credential; an empty one is refused by name. No output holds a PIN.
2. before any token exists: a user PIN without an SO PIN, a 3-byte and a 256-byte PIN are
   refused with their reason, and nothing is half-written (no token, no PIN file, no admin
   token).
3. no credential: init generates DIR/hsm.pin and hsm-so.pin (0600, 48 hex digits); kmsd runs
   with them and its /proc entries hold no PIN; with hsm.pin lost, kmsd refuses to start and
   leaves hsm-so.pin as it was (it used to generate new PINs over the existing token's).
4. --pin-file and --so-pin-file: init and a start use them.
Costs about 4 s (four first starts, three served starts).
"""
import os
import secrets
import signal
import ssl
import stat
import subprocess
import sys
import tempfile
import time
import urllib.request

children = []


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def base_env():
    return {k: v for k, v in os.environ.items()
            if k not in ("CREDENTIALS_DIRECTORY", "NOTIFY_SOCKET", "SOFTHSM2_CONF")}


def kmsd_once(kmsd, args, creds=None):
    """Runs kmsd to completion: (rc, combined output)."""
    env = base_env()
    if creds is not None:
        env["CREDENTIALS_DIRECTORY"] = creds
    r = subprocess.run([kmsd] + args, capture_output=True, text=True, env=env, timeout=120)
    return r.returncode, r.stdout + r.stderr


def credentials(root, name, **files):
    """A credentials folder as systemd makes it: one file per credential, mode 0400."""
    d = os.path.join(root, name)
    os.mkdir(d, 0o700)
    for cred, value in files.items():
        path = os.path.join(d, cred.replace("_", "-"))
        with open(path, "w") as f:
            f.write(value)
        os.chmod(path, 0o400)
    return d


def no_secret(what, text, pins):
    for pin in pins:
        if pin.strip() and pin.strip() in text:
            fail(f"{what} holds a PIN:\n{text}")


def serve_and_check(kmsd, data, args, creds, pins):
    """Starts kmsd, checks its /proc entries hold none of `pins` and that the first
    administrator's token works, stops it with SIGTERM."""
    env = base_env()
    if creds is not None:
        env["CREDENTIALS_DIRECTORY"] = creds
    log_path = os.path.join(data + ".log")
    log = open(log_path, "w")
    p = subprocess.Popen([kmsd, "--data-dir", data, "--listen", "127.0.0.1:0"] + args,
                         stdout=log, stderr=subprocess.STDOUT, env=env)
    children.append(p)
    deadline = time.time() + 60
    while "listening on" not in open(log_path).read():
        if p.poll() is not None or time.time() > deadline:
            fail(f"kmsd did not start (rc={p.poll()}):\n{open(log_path).read()}")
        time.sleep(0.05)
    for entry in ["cmdline", "environ"]:
        with open(f"/proc/{p.pid}/{entry}", "rb") as f:
            raw = f.read()
        for pin in pins:
            if pin.strip().encode() in raw:
                fail(f"/proc/{p.pid}/{entry} of the running kmsd holds a PIN")
    url = open(os.path.join(data, "kmsd.url")).read().strip()
    ctx = ssl.create_default_context(cafile=os.path.join(data, "tls", "ca.pem"))
    token = open(os.path.join(data, "admin.token")).read().strip()
    req = urllib.request.Request(url + "/v1/whoami", headers={"Authorization": "Bearer " + token})
    with urllib.request.urlopen(req, context=ctx, timeout=10) as r:
        if r.status != 200:
            fail(f"whoami: {r.status}")
    p.send_signal(signal.SIGTERM)
    if p.wait(timeout=30) != 0:
        fail(f"kmsd exit {p.returncode} after SIGTERM:\n{open(log_path).read()}")
    no_secret("kmsd's log", open(log_path).read(), pins)


def expect(rc_out, rc, *needles, pins=()):
    got_rc, out = rc_out
    if got_rc != rc or any(n not in out for n in needles):
        fail(f"expected rc={rc} and {needles}, got rc={got_rc}:\n{out}")
    no_secret("kmsd's output", out, pins)
    return out


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def with_credentials(kmsd, tmp):
    user, so = "fb-user-" + secrets.token_hex(10), "fb-so-" + secrets.token_hex(10)
    pins = [user, so]
    good = credentials(tmp, "cred", hsm_pin=user + "\n", hsm_so_pin=so)
    data = os.path.join(tmp, "d1")
    init = [kmsd, "init", "--data-dir", data, "--listen", "127.0.0.1:0"][1:]
    expect(kmsd_once(kmsd, init, good), 0, "init: done", pins=pins)
    for f in ["hsm.pin", "hsm-so.pin", "kmsd.url"]:
        if os.path.exists(os.path.join(data, f)):
            fail(f"init with credentials left {f}")
    if mode(data) != 0o700 or mode(os.path.join(data, "tokens")) != 0o700 or \
            mode(os.path.join(data, "admin.token")) != 0o600:
        fail("init: data 0700, tokens 0700, admin.token 0600 expected")
    expect(kmsd_once(kmsd, init, good), 0, "initialized already", pins=pins)
    # Once initialized, init reads no PIN: it needs no credential (the SO PIN may go offline).
    expect(kmsd_once(kmsd, init), 0, "initialized already", pins=pins)
    print("ok: kmsd init with the credentials hsm-pin and hsm-so-pin, idempotent, no PIN file")

    serve_and_check(kmsd, data, [], good, pins)
    print("ok: kmsd serves with the credential; /proc/PID/cmdline and environ hold no PIN")

    run = ["--data-dir", data, "--listen", "127.0.0.1:0"]
    expect(kmsd_once(kmsd, run), 64, "credential hsm-pin is missing",
           "$CREDENTIALS_DIRECTORY is not set", pins=pins)
    expect(kmsd_once(kmsd, run, credentials(tmp, "none")), 64, "credential hsm-pin is missing",
           "not in $CREDENTIALS_DIRECTORY", pins=pins)
    if os.path.exists(os.path.join(data, "hsm.pin")):
        fail("kmsd without its credential generated a PIN file")
    wrong = "fb-wrong-" + secrets.token_hex(8)
    expect(kmsd_once(kmsd, run, credentials(tmp, "wrong", hsm_pin=wrong)), 70,
           "CKR_PIN_INCORRECT", "user PIN from credential hsm-pin", pins=pins + [wrong])
    expect(kmsd_once(kmsd, run, credentials(tmp, "empty", hsm_pin="")), 64,
           "credential hsm-pin", "empty", pins=pins)
    print("ok: missing, wrong and empty credentials are refused by name")


def before_the_token(kmsd, tmp):
    data = os.path.join(tmp, "d2")
    init = ["init", "--data-dir", data, "--listen", "127.0.0.1:0"]
    user = "fb-only-" + secrets.token_hex(8)
    expect(kmsd_once(kmsd, init, credentials(tmp, "only-user", hsm_pin=user)), 64,
           "hsm-so-pin", pins=[user])
    expect(kmsd_once(kmsd, init, credentials(tmp, "short", hsm_pin="abc", hsm_so_pin="abcd")),
           64, "credential hsm-pin", "3 bytes", "4 to 255")
    long_pin = "x" * 256
    expect(kmsd_once(kmsd, init, credentials(tmp, "long", hsm_pin="abcd", hsm_so_pin=long_pin)),
           64, "credential hsm-so-pin", "256 bytes", "4 to 255", pins=[long_pin])
    tokens = os.path.join(data, "tokens")
    left = [f for f in ["hsm.pin", "hsm-so.pin", "admin.token", "kmsd.url"]
            if os.path.exists(os.path.join(data, f))]
    if os.listdir(tokens) or left:
        fail(f"refused inits left a token {os.listdir(tokens)} or files {left}")
    print("ok: SO PIN missing, 3-byte and 256-byte PINs refused before any token is made")


def generated(kmsd, tmp):
    data = os.path.join(tmp, "d3")
    expect(kmsd_once(kmsd, ["init", "--data-dir", data, "--listen", "127.0.0.1:0"]), 0,
           "init: done")
    pins = []
    for f in ["hsm.pin", "hsm-so.pin"]:
        path = os.path.join(data, f)
        text = open(path).read()
        if mode(path) != 0o600 or len(text.strip()) != 48 or \
                text.strip().strip("0123456789abcdefABCDEF"):
            fail(f"{f}: mode {oct(mode(path))}, expected 0600 and 48 hex digits")
        pins.append(text.strip())
    serve_and_check(kmsd, data, [], None, pins)
    print("ok: without credentials init generates hsm.pin and hsm-so.pin (0600); kmsd uses them")
    # A lost hsm.pin must not make kmsd generate new PINs over an existing token: that would
    # overwrite hsm-so.pin, the one PIN that can reset the user PIN (the bug this fixed).
    os.rename(os.path.join(data, "hsm.pin"), os.path.join(data, "hsm.pin.moved"))
    expect(kmsd_once(kmsd, ["--data-dir", data, "--listen", "127.0.0.1:0"]), 64,
           "credential hsm-pin is missing", pins=pins)
    if os.path.exists(os.path.join(data, "hsm.pin")) or \
            open(os.path.join(data, "hsm-so.pin")).read().strip() != pins[1]:
        fail("kmsd without hsm.pin wrote new PINs over the existing token's")
    os.rename(os.path.join(data, "hsm.pin.moved"), os.path.join(data, "hsm.pin"))
    print("ok: a lost hsm.pin is reported; no new PIN overwrites hsm-so.pin")


def pin_files(kmsd, tmp):
    data = os.path.join(tmp, "d4")
    folder = credentials(tmp, "files", user_pin="fb-file-" + secrets.token_hex(8),
                         so_pin="fb-fso-" + secrets.token_hex(8))
    user_file, so_file = os.path.join(folder, "user-pin"), os.path.join(folder, "so-pin")
    pins = [open(user_file).read(), open(so_file).read()]
    expect(kmsd_once(kmsd, ["init", "--data-dir", data, "--listen", "127.0.0.1:0", "--pin-file",
                            user_file, "--so-pin-file", so_file]), 0, "init: done", pins=pins)
    if os.path.exists(os.path.join(data, "hsm.pin")):
        fail("init with --pin-file wrote DIR/hsm.pin")
    serve_and_check(kmsd, data, ["--pin-file", user_file], None, pins)
    print("ok: --pin-file and --so-pin-file at init, --pin-file at every start")


def no_pin_from_the_environment(kmsd, tmp):
    """The former --pin-env and hsm.pin_env are refused: a PIN in the environment would show in
    /proc/PID/environ for the life of kmsd."""
    data = os.path.join(tmp, "d5")
    expect(kmsd_once(kmsd, ["--data-dir", data, "--listen", "127.0.0.1:0", "--pin-env",
                            "KMS_PIN"]), 64, "pin-env")
    conf = os.path.join(tmp, "pin-env.conf")
    with open(conf, "w") as f:
        f.write("hsm.pin_env = KMS_PIN\n")
    expect(kmsd_once(kmsd, ["--data-dir", data, "--listen", "127.0.0.1:0", "--config", conf]), 64,
           "hsm.pin_env is no longer read", "/proc/PID/environ")
    if os.path.exists(data):
        fail("a refused start created the data directory")
    print("ok: --pin-env and hsm.pin_env are refused before anything is written")


def main():
    if len(sys.argv) != 2:
        fail("usage: firstboot_test.py KMSD")
    kmsd = os.path.abspath(sys.argv[1])
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with_credentials(kmsd, tmp)
            before_the_token(kmsd, tmp)
            generated(kmsd, tmp)
            pin_files(kmsd, tmp)
            no_pin_from_the_environment(kmsd, tmp)
        finally:
            for p in children:
                if p.poll() is None:
                    p.kill()
                    p.wait()
    print("PASS")


if __name__ == "__main__":
    main()
