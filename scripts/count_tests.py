#!/usr/bin/env python3
"""Sums GoogleTest case counts over one or more meson testlog.json files (one per part of a CI
run) and prints ONE line: 'tests: N passed, N failed[, N skipped] (main M, asan A)'.

Usage: scripts/count_tests.py LOG                      (one part: no parenthesis)
       scripts/count_tests.py NAME=LOG [NAME=LOG ...]  (several parts, named in the line)

A test program whose output holds GoogleTest's "[  PASSED  ]"/"[  FAILED  ]" lines counts its
cases; any other test counts as one (meson result OK: passed, SKIP, exit 77: skipped, else
failed). A part whose log is missing counts one failure (the part did not run: a build or
set-up failure must not read as success). Sanitizer reports written next to a log
(meson-logs/sanitizer.<pid>, see docs/sanitizers.md) count one failure each, since a report
from a child process (kmsd, kmsctl) need not fail the test that started it.
Exit status: 0 when nothing failed, 1 otherwise."""
import glob
import json
import os
import re
import sys


def count(path):
    """(passed, failed, skipped, notes) of one testlog.json."""
    passed = failed = skipped = 0
    notes = []
    try:
        with open(path, encoding="utf-8") as log:
            for line in log:
                entry = json.loads(line)
                out = entry.get("stdout") or ""
                p = re.findall(r"\[  PASSED  \] (\d+) test", out)
                f = re.findall(r"\[  FAILED  \] (\d+) test", out)
                if p or f:
                    passed += sum(map(int, p))
                    failed += sum(map(int, f))
                    # A sanitizer abort after GoogleTest's summary still fails the program.
                    if not f and entry.get("result") not in ("OK", "SKIP"):
                        failed += 1
                elif entry.get("result") == "OK":
                    passed += 1
                elif entry.get("result") == "SKIP":
                    skipped += 1
                else:
                    failed += 1
    except FileNotFoundError:
        failed += 1
        notes.append("no test log")
    reports = glob.glob(os.path.join(os.path.dirname(path), "sanitizer.*"))
    if reports:
        failed += len(reports)
        notes.append(f"{len(reports)} sanitizer report" + ("s" if len(reports) > 1 else ""))
    return passed, failed, skipped, notes


def main():
    args = sys.argv[1:]
    if not args:
        sys.exit(__doc__)
    parts = [a.split("=", 1) if "=" in a else ["", a] for a in args]
    total = [0, 0, 0]
    named = []
    for name, path in parts:
        p, f, s, notes = count(path)
        total = [total[0] + p, total[1] + f, total[2] + s]
        if name:
            extras = ([f"{f} failed"] if f else []) + notes
            named.append(f"{name} {p + f + s}" + (f" [{', '.join(extras)}]" if extras else ""))
    line = f"tests: {total[0]} passed, {total[1]} failed"
    if total[2]:
        line += f", {total[2]} skipped"
    if named:
        line += " (" + ", ".join(named) + ")"
    print(line)
    return 1 if total[1] else 0


if __name__ == "__main__":
    sys.exit(main())
