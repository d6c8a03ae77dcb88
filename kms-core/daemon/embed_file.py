#!/usr/bin/env python3
"""Embeds a text file into a C++ source as a string constant: embed_file.py IN OUT SYMBOL."""
import sys

src, dst, symbol = sys.argv[1], sys.argv[2], sys.argv[3]
text = open(src, encoding="utf-8").read()
delim = "KMSEMBED"
assert ")" + delim + '"' not in text
with open(dst, "w", encoding="utf-8") as out:
    out.write("// Generated from %s by embed_file.py; do not edit.\n" % src.split("/")[-1])
    out.write("#include <string_view>\n")
    out.write("namespace kms::daemon {\n")
    out.write('extern const std::string_view %s = R"%s(%s)%s";\n' % (symbol, delim, text, delim))
    out.write("}\n")
