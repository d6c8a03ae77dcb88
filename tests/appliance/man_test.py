#!/usr/bin/env python3
"""appliance-man: the man pages kmsd(8), tsmd(8) and kmsctl(1) format without a warning and
describe everything the programs offer, so an option or a command added without its
documentation fails here.

  man_test.py MAN_DIR KMSD TSMD KMSCTL

- `groff -man -ww -z` (every warning on, no output) prints nothing for each page, and
  `man --warnings -l` neither when man-db is installed;
- every option of `kmsd --help` is in kmsd.8's OPTIONS and `kmsd init` in its COMMANDS;
- every option of `tsmd --help` is in tsmd.8's OPTIONS;
- every command of `kmsctl --help` has its `.SS` subsection in kmsctl.1, holding every option
  of `kmsctl COMMAND --help`, and every global option is under GLOBAL OPTIONS;
- control: the same checks on a copy of kmsd.8 without its --so-pin-file entry and of
  kmsctl.1 without one command must fail (a check that finds nothing fails the test).
Costs about 1 to 2 s (60 short --help runs).
"""
import os
import re
import shutil
import subprocess
import sys

OPTION = re.compile(r"--[a-z][a-z0-9-]*")
# An option a --help lists: the first word of its line (not one its text mentions).
LISTED = re.compile(r"^\s*(--[a-z][a-z0-9-]*)", re.M)


def fail(msg):
    print("FAIL: " + msg)
    sys.exit(1)


_help_cache = {}


def run(args):
    """stdout of a --help run (each command line runs once: the controls reuse it)."""
    if tuple(args) in _help_cache:
        return _help_cache[tuple(args)]
    r = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if r.returncode != 0:
        fail(f"{' '.join(args)}: rc={r.returncode}\n{r.stderr}")
    _help_cache[tuple(args)] = r.stdout
    return r.stdout


def plain(roff):
    """The page's source with the escapes this project uses undone (\\- \\fB \\e \\& \\c)."""
    text = roff.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "").replace("\\c", "")
    return re.sub(r"\\f[BIRP]", "", text)


def sections(text, macro):
    """{title: body} of every `.SH` (macro "SH") or `.SS` subsection."""
    out, title, body = {}, None, []
    for line in text.splitlines():
        if line.startswith("." + macro + " ") or (macro == "SS" and line.startswith(".SH ")):
            if title is not None:
                out[title] = "\n".join(body)
            title, body = line[len(macro) + 2:].strip().strip('"'), []
            if macro == "SS" and line.startswith(".SH "):
                title = None
        elif title is not None:
            body.append(line)
    if title is not None:
        out[title] = "\n".join(body)
    return out


def entries(body):
    """The options an OPTIONS-like body describes: those on a `.TP` entry's tag line."""
    found = set()
    lines = body.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(".TP") and i + 1 < len(lines):
            found.update(OPTION.findall(lines[i + 1]))
    return found


def kmsd_missing(page, kmsd_help):
    sh = sections(plain(page), "SH")
    want = set(LISTED.findall(kmsd_help))
    missing = sorted(want - entries(sh.get("OPTIONS", "")))
    if "init" not in kmsd_help or ".B init" not in sh.get("COMMANDS", ""):
        missing.append("init")
    return missing


def kmsctl_missing(page, kmsctl, top_help):
    text = plain(page)
    subsections = sections(text, "SS")
    global_body = sections(text, "SH").get("GLOBAL OPTIONS", "")
    missing = []
    commands = re.search(r"\nCommands:\n(.*?)\n\n", top_help, re.S).group(1)
    count = 0
    for line in commands.splitlines():
        synopsis = re.match(r"  (\S.*?)\s{2,}", line).group(1)
        count += 1
        if synopsis not in subsections:
            missing.append(f"command '{synopsis}'")
            continue
        words = [w for w in synopsis.split() if re.fullmatch(r"[a-z][a-z-]*", w)]
        help_text = run([kmsctl] + words + ["--help"])
        own = help_text.split("\nOptions:\n", 1)
        opts = set(LISTED.findall(own[1].split("\nGlobal options")[0])) if len(own) == 2 else set()
        for o in sorted(opts - entries(subsections[synopsis])):
            missing.append(f"'{synopsis}' option {o}")
    globals_text = re.search(r"\nGlobal options[^\n]*\n(.*?)\n\n", top_help, re.S).group(1)
    for o in sorted(set(LISTED.findall(globals_text)) - entries(global_body)):
        missing.append(f"global option {o}")
    if count < 40:
        fail(f"kmsctl --help lists only {count} commands: the parser is out of step")
    return missing


def main():
    if len(sys.argv) != 5:
        fail("usage: man_test.py MAN_DIR KMSD TSMD KMSCTL")
    man_dir, kmsd, tsmd, kmsctl = (os.path.abspath(a) for a in sys.argv[1:])
    if shutil.which("groff") is None:
        fail("groff is missing (apt install groff-base; scripts/deps.sh installs it)")
    pages = {n: open(os.path.join(man_dir, n)).read() for n in ["kmsd.8", "tsmd.8", "kmsctl.1"]}
    for name in pages:
        path = os.path.join(man_dir, name)
        r = subprocess.run(["groff", "-man", "-ww", "-z", path], capture_output=True, text=True)
        if r.returncode != 0 or r.stdout or r.stderr:
            fail(f"groff -man -ww -z {name}: rc={r.returncode}\n{r.stdout}{r.stderr}")
        if shutil.which("man") is not None:
            r = subprocess.run(["man", "--warnings", "-l", path], capture_output=True, text=True,
                               env=dict(os.environ, MANWIDTH="80", MAN_KEEP_FORMATTING="0"))
            if r.returncode != 0 or r.stderr:
                fail(f"man --warnings -l {name}: rc={r.returncode}\n{r.stderr}")
        print(f"ok: {name}: no groff warning")

    kmsd_help = run([kmsd, "--help"])
    missing = kmsd_missing(pages["kmsd.8"], kmsd_help)
    if missing:
        fail(f"kmsd.8 does not describe {missing} (kmsd --help has them)")
    n_kmsd = len(set(LISTED.findall(kmsd_help)))
    print(f"ok: kmsd.8: all {n_kmsd} options of kmsd --help and 'kmsd init'")

    tsmd_help = run([tsmd, "--help"])
    tsmd_opts = set(OPTION.findall(tsmd_help)) | {"--help"}
    lost = sorted(tsmd_opts - entries(sections(plain(pages["tsmd.8"]), "SH").get("OPTIONS", "")))
    if lost or "--config" not in tsmd_opts:
        fail(f"tsmd.8 does not describe {lost} (tsmd --help: {tsmd_help.strip()})")
    print(f"ok: tsmd.8: {sorted(tsmd_opts)}")

    top = run([kmsctl, "--help"])
    missing = kmsctl_missing(pages["kmsctl.1"], kmsctl, top)
    if missing:
        fail(f"kmsctl.1 does not describe: {missing}")
    print("ok: kmsctl.1: every command, its options and the global options")

    # Controls: the checks must notice a missing entry.
    cut = re.sub(r"\.TP\n\.BI \\-\\-so\\-pin\\-file= FILE\n", "", pages["kmsd.8"])
    if cut == pages["kmsd.8"] or "--so-pin-file" not in kmsd_missing(cut, kmsd_help):
        fail("control: kmsd.8 without --so-pin-file was not reported")
    cut = pages["kmsctl.1"].replace('.SS "hsm info"', ".PP")
    if cut == pages["kmsctl.1"] or "command 'hsm info'" not in kmsctl_missing(cut, kmsctl, top):
        fail("control: kmsctl.1 without 'hsm info' was not reported")
    print("ok: controls: a page without an option or a command is reported")
    print("PASS")


if __name__ == "__main__":
    main()
