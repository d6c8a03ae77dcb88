#!/usr/bin/env python3
"""Prints the ninja targets (output files, relative to the build folder) that the tests of the
given meson suites need: each test's program and the targets its test() lists in depends.

Usage: scripts/suite_targets.py BUILD_DIR SUITE [SUITE...]
       ninja -C BUILD_DIR $(scripts/suite_targets.py BUILD_DIR unit rest)
Exits 1 (and prints nothing) when no test belongs to the suites, so a renamed suite is noticed."""
import json
import os
import subprocess
import sys


def introspect(build, what):
    out = subprocess.run(["meson", "introspect", build, what], check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def main():
    if len(sys.argv) < 3:
        sys.exit(__doc__)
    build, suites = os.path.abspath(sys.argv[1]), set(sys.argv[2:])
    files = {t["id"]: t["filename"] for t in introspect(build, "--targets")}
    wanted = []
    for test in introspect(build, "--tests"):
        # meson names suites "project:suite" (and also lists the bare name in some versions).
        names = {s.split(":")[-1] for s in test["suite"]}
        if names & suites:
            wanted += test.get("depends", [])
    outputs = sorted({os.path.relpath(f, build) for tid in wanted for f in files.get(tid, [])})
    if not outputs:
        sys.exit(f"suite_targets: no test in suites {sorted(suites)} under {build}")
    print("\n".join(outputs))


if __name__ == "__main__":
    main()
