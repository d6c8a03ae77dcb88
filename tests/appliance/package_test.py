#!/usr/bin/env python3
"""appliance-package: appliance-image/build-debs.sh builds kms-appliance and kms-tools from this
build; their control data, maintainer scripts and files are where and how the appliance needs
them; once extracted (dpkg-deb -x) every binary runs and every ELF file finds its libraries,
each of which comes from a package the control file names in Depends.

  package_test.py BUILD_DEBS BUILD_DIR PROJECT_VERSION
"""
import ctypes
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

APPLIANCE_FILES = {  # path in the package: mode (dpkg-deb --contents), all root/root
    "./usr/bin/kmsd": "-rwxr-xr-x", "./usr/bin/kmsctl": "-rwxr-xr-x",
    "./usr/bin/tsmd": "-rwxr-xr-x",
    "./usr/lib/kms/libse_tsm.so": "-rwxr-xr-x", "./usr/lib/kms/libsp_tsm.so": "-rwxr-xr-x",
    "./usr/lib/kms/libtsm_front.so": "-rwxr-xr-x",
    "./usr/share/kms/se-tsm/scripts/card-lock.json": "-rw-r--r--",
    "./usr/share/kms/sp-tsm/scripts/transit-top-up.json": "-rw-r--r--",
    "./lib/systemd/system/kmsd.service": "-rw-r--r--",
    "./lib/systemd/system/tsmd@.service": "-rw-r--r--",
    "./lib/systemd/system/kmsd-init.service": "-rw-r--r--",
    "./usr/share/man/man8/kmsd.8.gz": "-rw-r--r--", "./usr/share/man/man8/tsmd.8.gz": "-rw-r--r--",
    "./usr/share/man/man1/kmsctl.1.gz": "-rw-r--r--",
    "./usr/share/doc/kms-appliance/credentials.conf": "-rw-r--r--",
    "./usr/share/doc/kms-appliance/credentials-init.conf": "-rw-r--r--",
    "./etc/kms/": "drwxr-x---", "./etc/kms/tsmd/": "drwxr-x---",
    "./etc/kms/kmsd.env": "-rw-r--r--",
    "./usr/share/doc/kms-appliance/README.md": "-rw-r--r--",
}
TOOLS_FILES = {"./usr/bin/wallet": "-rwxr-xr-x", "./usr/bin/virtual-se": "-rwxr-xr-x"}
# Loaded with dlopen (never seen by dpkg-shlibdeps) or called by the maintainer scripts.
EXTRA_DEPENDS = {"kms-appliance": ["libsofthsm2", "adduser"], "kms-tools": []}


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


def run(args, **kw):
    r = subprocess.run(args, capture_output=True, text=True, **kw)
    if r.returncode != 0:
        fail(f"{' '.join(args)}: rc={r.returncode}\n{r.stdout}{r.stderr}")
    return r.stdout


def contents(deb):
    """{path: (mode, owner)} of dpkg-deb --contents."""
    out = {}
    for line in run(["dpkg-deb", "--contents", deb]).splitlines():
        f = line.split()
        out[f[5]] = (f[0], f[1])
    return out


def check_files(deb, want, other):
    files = contents(deb)
    for path, mode in want.items():
        if path not in files:
            fail(f"{os.path.basename(deb)}: {path} is missing")
        if files[path][0] != mode:
            fail(f"{os.path.basename(deb)}: {path} has mode {files[path][0]}, expected {mode}")
    for path, (mode, owner) in files.items():
        if owner != "root/root":
            fail(f"{os.path.basename(deb)}: {path} owned by {owner} (--root-owner-group)")
        if path.startswith("./usr/local"):
            fail(f"{os.path.basename(deb)}: {path} under /usr/local")
        if path in other:
            fail(f"{os.path.basename(deb)}: {path} belongs to the other package")
    print(f"ok: {os.path.basename(deb)}: {len(files)} entries, {len(want)} checked")


def package_of(lib):
    """The Debian package that installed the shared library at @p lib (usr-merge aware)."""
    candidates = [lib, os.path.realpath(lib)]
    for c in list(candidates):
        if c.startswith("/usr/lib/"):
            candidates.append(c[4:])
        elif c.startswith("/lib/"):
            candidates.append("/usr" + c)
    for c in candidates:
        r = subprocess.run(["dpkg", "-S", c], capture_output=True, text=True)
        if r.returncode == 0:
            return r.stdout.split(":")[0].strip()
    fail(f"no Debian package owns {lib}")


def elf_files(root):
    for dirpath, _, names in os.walk(root):
        for n in names:
            p = os.path.join(dirpath, n)
            if not os.path.islink(p) and open(p, "rb").read(4) == b"\x7fELF":
                yield p


def check_extracted(deb, name, depends):
    with tempfile.TemporaryDirectory() as root:
        run(["dpkg-deb", "-x", deb, root])
        elves = list(elf_files(root))
        if not elves:
            fail(f"{name}: no ELF file")
        for elf in elves:
            out = run(["ldd", elf])
            if "not found" in out:
                fail(f"{name}: {elf[len(root):]}: a library is not found:\n{out}")
            # Direct needs only (readelf NEEDED): libraries of libraries come with the Depends
            # of the packages that need them.
            needed = re.findall(r"\(NEEDED\).*\[(.+)\]", run(["readelf", "-d", elf]))
            resolved = dict(re.findall(r"^\s*(\S+) => (/\S+) \(", out, re.M))
            for lib in needed:
                if lib not in resolved:
                    fail(f"{name}: {elf[len(root):]}: ldd does not resolve {lib}:\n{out}")
                pkg = package_of(resolved[lib]).split(":")[0]
                if pkg not in depends:
                    fail(f"{name}: {elf[len(root):]} needs {resolved[lib]} from {pkg}, "
                         f"not in Depends {sorted(depends)}")
        # MemoryDenyWriteExecute=yes: an executable stack (GNU_STACK RWE) in the daemons or in
        # the module kmsd dlopens would need writable executable memory and fail to load.
        for elf in elves + (["/usr/lib/softhsm/libsofthsm2.so"] if name == "kms-appliance"
                            else []):
            stack = re.search(r"GNU_STACK.*", run(["readelf", "-lW", elf]))
            if stack is None or "RWE" in stack.group(0):
                fail(f"{name}: {elf}: executable or unknown stack ({stack and stack.group(0)})")
        print(f"ok: {name}: {len(elves)} ELF files, every library found and in Depends, "
              "no executable stack")
        if name == "kms-appliance":
            for cmd, expect in [("kmsd", "Key management daemon"), ("kmsctl", "kmsctl"),
                                ("tsmd", "usage: tsmd --config FILE")]:
                out = run([os.path.join(root, "usr/bin", cmd), "--help"])
                if expect not in out:
                    fail(f"{cmd} --help printed no '{expect}':\n{out}")
            # Each plugin loads with every symbol bound (ctypes dlopens with RTLD_NOW) and
            # exports the entry point tsmd looks for.
            for lib in ["libse_tsm.so", "libsp_tsm.so", "libtsm_front.so"]:
                handle = ctypes.CDLL(os.path.join(root, "usr/lib/kms", lib))
                if not hasattr(handle, "tsm_plugin_entry"):
                    fail(f"{lib} does not export tsm_plugin_entry")
            print("ok: kmsd, kmsctl, tsmd --help ran from the extracted package; 3 plugins load")
        else:
            for cmd in ["wallet", "virtual-se"]:
                r = subprocess.run([os.path.join(root, "usr/bin", cmd), "--help"],
                                   capture_output=True, text=True)
                if r.returncode != 0 or "usage" not in (r.stdout + r.stderr).lower():
                    fail(f"{cmd} --help: rc={r.returncode}\n{r.stdout}{r.stderr}")
            print("ok: wallet and virtual-se --help ran from the extracted package")


def check_control(deb, name, version):
    with tempfile.TemporaryDirectory() as ctl:
        run(["dpkg-deb", "-e", deb, ctl])
        fields = {}
        for line in open(os.path.join(ctl, "control")):
            if not line.startswith(" ") and ":" in line:
                k, v = line.split(":", 1)
                fields[k] = v.strip()
        arch = run(["dpkg", "--print-architecture"]).strip()
        for k, v in {"Package": name, "Version": version, "Architecture": arch}.items():
            if fields.get(k) != v:
                fail(f"{name}: control {k}: {fields.get(k)!r}, expected {v!r}")
        for k in ["Maintainer", "Installed-Size", "Depends", "Description", "Section"]:
            if not fields.get(k):
                fail(f"{name}: control field {k} missing")
        depends = {d.split()[0] for d in fields["Depends"].split(", ")}
        for d in EXTRA_DEPENDS[name]:
            if d not in depends:
                fail(f"{name}: Depends lacks {d}")
        scripts = sorted(s for s in os.listdir(ctl) if s in ("preinst", "postinst", "prerm",
                                                             "postrm"))
        if name == "kms-appliance":
            if scripts != ["postinst", "postrm", "prerm"]:
                fail(f"{name}: maintainer scripts {scripts}")
            if open(os.path.join(ctl, "conffiles")).read().split() != ["/etc/kms/kmsd.env"]:
                fail(f"{name}: conffiles should list /etc/kms/kmsd.env")
            post = open(os.path.join(ctl, "postinst")).read()
            for want in ["adduser --system", "--home /var/lib/kms", "--shell /usr/sbin/nologin",
                         "chown root:kms /etc/kms", "chmod 0750 /etc/kms",
                         "chown kms:kms /var/lib/kms", "chmod 0700 /var/lib/kms"]:
                if want not in post:
                    fail(f"{name}: postinst lacks '{want}'")
            # The package installs units but never enables or starts them (comments may
            # tell the administrator how to).
            code = "\n".join(l for l in post.splitlines() if not l.lstrip().startswith("#"))
            for bad in ["systemctl enable", "systemctl start", "systemctl restart",
                        "deb-systemd-invoke"]:
                if bad in code:
                    fail(f"{name}: postinst runs '{bad}'")
        elif scripts:
            fail(f"{name}: unexpected maintainer scripts {scripts}")
        for s in scripts:
            path = os.path.join(ctl, s)
            if stat.S_IMODE(os.stat(path).st_mode) != 0o755:
                fail(f"{name}: {s} mode {oct(os.stat(path).st_mode)}, expected 0755")
            run(["sh", "-n", path])  # syntax
        print(f"ok: {name}: control fields, Depends, {len(scripts)} maintainer scripts")
        return depends


def main():
    if len(sys.argv) != 4:
        fail("usage: package_test.py BUILD_DEBS BUILD_DIR PROJECT_VERSION")
    script, build, project_version = sys.argv[1:]
    for tool in ["dpkg-deb", "dpkg-shlibdeps", "ldd", "readelf"]:
        if shutil.which(tool) is None:
            fail(f"{tool} is missing (apt install dpkg-dev; scripts/deps.sh installs it)")
    version = project_version + "-1"
    with tempfile.TemporaryDirectory() as out:
        r = subprocess.run([script, build, out], capture_output=True, text=True,
                           env=dict(os.environ, KMS_DEB_REVISION="1"))
        if r.returncode != 0 or r.stderr.strip():
            fail(f"build-debs.sh rc={r.returncode}:\n{r.stdout}{r.stderr}")
        arch = run(["dpkg", "--print-architecture"]).strip()
        debs = sorted(os.listdir(out))
        want = sorted(f"{n}_{version}_{arch}.deb" for n in ["kms-appliance", "kms-tools"])
        if debs != want:
            fail(f"build-debs.sh made {debs}, expected {want}")
        app = os.path.join(out, want[0])
        tools = os.path.join(out, want[1])
        check_files(app, APPLIANCE_FILES, TOOLS_FILES)
        check_files(tools, TOOLS_FILES, APPLIANCE_FILES)
        for deb, name in [(app, "kms-appliance"), (tools, "kms-tools")]:
            depends = check_control(deb, name, version)
            check_extracted(deb, name, depends)
    print("PASS")


if __name__ == "__main__":
    main()
