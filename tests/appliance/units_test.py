#!/usr/bin/env python3
"""appliance-units: every systemd unit of appliance-image/systemd passes `systemd-analyze verify`
with no message and carries the hardening the appliance promises (issue 7).

  units_test.py UNIT_DIR KMSD TSMD

systemd-analyze verify requires ExecStart's binary to exist, so each unit is verified as a copy
whose /usr/bin/kmsd and /usr/bin/tsmd point at the build tree's binaries (nothing else changes).
A deliberately broken copy must be reported, so a verify that checks nothing fails this test.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile

# Lines every unit must carry exactly (issue 7 and appliance-image/README.md give the reasons).
REQUIRED = [
    "User=kms", "UMask=0077",
    "ProtectSystem=strict", "ReadWritePaths=/var/lib/kms", "ProtectHome=yes", "PrivateTmp=yes",
    "NoNewPrivileges=yes", "MemoryDenyWriteExecute=yes", "LockPersonality=yes",
    "SystemCallArchitectures=native", "CapabilityBoundingSet=", "AmbientCapabilities=",
    "LimitCORE=0", "ProtectKernelTunables=yes", "ProtectKernelModules=yes",
    "ProtectKernelLogs=yes", "ProtectControlGroups=yes",
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX", "RestrictNamespaces=yes",
    "RestrictRealtime=yes", "RestrictSUIDSGID=yes", "SystemCallFilter=@system-service",
    "SystemCallFilter=~@privileged", "PrivateDevices=yes", "ProtectClock=yes",
    "ProtectHostname=yes", "StartLimitBurst=5",
]
# Per unit: the daemons notify readiness (sd_notify) from their main PID and restart on
# failure; the first boot is a oneshot that runs `kmsd init` and that kmsd requires.
PER_UNIT = {
    "kmsd.service": ["Type=notify", "NotifyAccess=main", "Restart=on-failure", "WatchdogSec=30s",
                     "Requires=kmsd-init.service", "After=kmsd-init.service"],
    "tsmd@.service": ["Type=notify", "NotifyAccess=main", "Restart=on-failure"],
    "kmsd-init.service": ["Type=oneshot", "RemainAfterExit=yes", "Before=kmsd.service"],
}
# Drop-ins shipped in /usr/share/doc/kms-appliance for PINs from encrypted credentials.
DROPINS = {"kmsd.service": "credentials.conf", "kmsd-init.service": "credentials-init.conf"}
# A PIN never goes on a command line or into the environment of a service.
FORBIDDEN = ["Type=simple", "--pin-env", "KMSD_PIN", "hsm.pin="]


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def verify(path):
    """systemd-analyze verify's combined output (empty when clean) and return code."""
    r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True,
                       cwd=os.path.dirname(path))
    return r.returncode, (r.stdout + r.stderr).strip()


def main():
    if len(sys.argv) != 4:
        fail("usage: units_test.py UNIT_DIR KMSD TSMD")
    unit_dir, kmsd, tsmd = (os.path.abspath(a) for a in sys.argv[1:])
    if shutil.which("systemd-analyze") is None:
        fail("systemd-analyze is missing (apt install systemd; scripts/deps.sh installs it)")
    units = sorted(u for u in os.listdir(unit_dir) if u.endswith(".service"))
    if sorted(units) != sorted(PER_UNIT):
        fail(f"expected {sorted(PER_UNIT)} in {unit_dir}, found {units}")
    with tempfile.TemporaryDirectory() as tmp:
        for unit in units:
            text = open(os.path.join(unit_dir, unit)).read()
            lines = [l.strip() for l in text.splitlines()]
            for want in REQUIRED + PER_UNIT[unit]:
                if want not in lines:
                    fail(f"{unit}: missing the line '{want}'")
            for bad in FORBIDDEN:
                if any(bad in l for l in lines if not l.startswith("#")):
                    fail(f"{unit}: '{bad}' (see FORBIDDEN)")
            limit = [l for l in lines if l.startswith("LimitMEMLOCK=")]
            if not limit or not re.fullmatch(r"LimitMEMLOCK=(\d+)M", limit[0]) or \
                    int(limit[0].split("=")[1][:-1]) < 1:
                fail(f"{unit}: LimitMEMLOCK=<n>M (at least one MiB for the locked arena) missing")
            exec_lines = [l for l in lines if l.startswith("ExecStart=")]
            if len(exec_lines) != 1:
                fail(f"{unit}: expected one ExecStart=, found {exec_lines}")
            binary = exec_lines[0].split("=", 1)[1].split()[0]
            if (unit == "kmsd-init.service") != (exec_lines[0].split()[1:2] == ["init"]):
                fail(f"{unit}: only kmsd-init.service runs 'kmsd init': {exec_lines[0]}")
            real = {"/usr/bin/kmsd": kmsd, "/usr/bin/tsmd": tsmd}.get(binary)
            if real is None:
                fail(f"{unit}: ExecStart runs {binary}, which the package does not install")
            copy = text.replace(binary, real)
            # A template is verified as an instance (its %i expanded).
            name = unit.replace("@.", "@verify.")
            path = os.path.join(tmp, name)
            with open(path, "w") as f:
                f.write(copy)
            rc, out = verify(path)
            if rc != 0 or out:
                fail(f"{unit}: systemd-analyze verify rc={rc}:\n{out}")
            # The credential drop-in the documentation installs (appliance-image/config)
            # must verify with the unit too.
            dropin = DROPINS.get(unit)
            if dropin:
                with_dropin = os.path.join(tmp, "dropin-" + name)
                with open(with_dropin, "w") as f:
                    f.write(copy + "\n" + open(os.path.join(unit_dir, "..", "config",
                                                            dropin)).read())
                rc, out = verify(with_dropin)
                if rc != 0 or out:
                    fail(f"{unit} with {dropin}: systemd-analyze verify rc={rc}:\n{out}")
                os.remove(with_dropin)
            print(f"ok: {unit}: systemd-analyze verify clean, {len(REQUIRED)} hardening lines")
            # The control: the same unit with one bad value must be reported.
            broken = os.path.join(tmp, "broken-" + name)
            with open(broken, "w") as f:
                f.write(copy.replace("ProtectSystem=strict", "ProtectSystem=bogus"))
            rc, out = verify(broken)
            if not out:
                fail(f"{unit}: systemd-analyze verify did not report ProtectSystem=bogus")
            os.remove(broken)
    print("PASS")


if __name__ == "__main__":
    main()
