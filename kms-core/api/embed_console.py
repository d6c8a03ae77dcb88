#!/usr/bin/env python3
"""Embeds the web console's assets (console/www/) into kmsd as a table of C++ constants.

embed_console.py OUT.cpp ASSET...

Each ASSET is served as /console/BASENAME: so names must be unique, flat (no folders) and
have a known extension (the Content-Type comes from it). The strong ETag is the first 128
bits of the SHA-256 of the content, in hex, so it changes exactly when the bytes do. Bytes
are written as escaped string literals, so any content (text or binary) round-trips.
"""
import hashlib
import os
import sys

TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
}


def literal(data):
    """A C++ string literal (split over lines) holding exactly @p data."""
    out, line = [], []
    for b in data:
        c = chr(b)
        if c in '\\"?':
            line.append("\\" + c)
        elif 0x20 <= b < 0x7F:
            line.append(c)
        else:
            line.append("\\%03o" % b)  # octal: at most 3 digits, unlike \x that runs on
        if b == 0x0A or len(line) >= 96:
            out.append('"' + "".join(line) + '"')
            line = []
    if line or not out:
        out.append('"' + "".join(line) + '"')
    return "\n    ".join(out)


def main():
    dst, assets = sys.argv[1], sys.argv[2:]
    seen = set()
    rows = []
    for path in assets:
        name = os.path.basename(path)
        ext = os.path.splitext(name)[1]
        if ext not in TYPES:
            sys.exit("%s: unknown extension %r (known: %s)" % (path, ext, ", ".join(TYPES)))
        if name in seen:
            sys.exit("%s: a second asset named %s" % (path, name))
        seen.add(name)
        data = open(path, "rb").read()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        rows.append((name, TYPES[ext], etag, data))
    with open(dst, "w", encoding="ascii") as out:
        out.write("// Generated from console/www by embed_console.py; do not edit.\n")
        out.write('#include "api/console_assets.hpp"\n\n')
        out.write("namespace kms::api {\n\nnamespace {\n")
        for i, (name, ctype, etag, data) in enumerate(rows):
            out.write("constexpr char kBody%d[] =\n    %s;\n" % (i, literal(data)))
        out.write("constexpr ConsoleAsset kAssets[] = {\n")
        for i, (name, ctype, etag, data) in enumerate(rows):
            out.write('    {"%s", "%s", %s, {kBody%d, %d}},\n'
                      % (name, ctype, literal(etag.encode()), i, len(data)))
        out.write("};\n}  // namespace\n\n")
        out.write("std::span<const ConsoleAsset> console_assets() {\n    return kAssets;\n}\n\n")
        out.write("}  // namespace kms::api\n")


if __name__ == "__main__":
    main()
