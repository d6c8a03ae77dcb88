#!/usr/bin/env python3
"""Sums GoogleTest case counts over meson's testlog.json and prints 'tests: N passed, N failed'
(and ', N skipped' when a test reported skipping, exit 77: it neither passed nor failed)."""
import json
import re
import sys

passed = failed = skipped = 0
try:
    with open(sys.argv[1], encoding="utf-8") as log:
        for line in log:
            entry = json.loads(line)
            out = entry.get("stdout") or ""
            p = re.findall(r"\[  PASSED  \] (\d+) test", out)
            f = re.findall(r"\[  FAILED  \] (\d+) test", out)
            if p or f:
                passed += sum(map(int, p))
                failed += sum(map(int, f))
            elif entry.get("result") == "OK":
                passed += 1
            elif entry.get("result") == "SKIP":
                skipped += 1
            else:
                failed += 1
except FileNotFoundError:
    pass
print(f"tests: {passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
