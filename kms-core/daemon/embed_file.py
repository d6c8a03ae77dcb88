#!/usr/bin/env python3
"""Embeds a text file into a C++ source as a string constant.

embed_file.py IN OUT SYMBOL [FRAGMENT.json ...]

With fragments, IN is an OpenAPI document and each fragment's "paths" and
"components" → "schemas" entries are merged into it (a name defined twice is an error),
so each area of the API documents its endpoints in its own file.
"""
import json
import sys

src, dst, symbol, fragments = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
text = open(src, encoding="utf-8").read()
if fragments:
    doc = json.loads(text)
    for frag_path in fragments:
        frag = json.load(open(frag_path, encoding="utf-8"))
        for section, target in (("paths", doc.setdefault("paths", {})),
                                ("schemas", doc.setdefault("components", {}).setdefault("schemas", {}))):
            items = frag.get(section, {}) if section == "paths" else frag.get("components", {}).get("schemas", {})
            for name, value in items.items():
                if name in target:
                    sys.exit("%s: %s %s is defined twice" % (frag_path, section, name))
                target[name] = value
        for tag in frag.get("tags", []):
            doc.setdefault("tags", []).append(tag)
    text = json.dumps(doc, indent=1, ensure_ascii=False)
delim = "KMSEMBED"
assert ")" + delim + '"' not in text
with open(dst, "w", encoding="utf-8") as out:
    out.write("// Generated from %s by embed_file.py; do not edit.\n" % src.split("/")[-1])
    out.write("#include <string_view>\n")
    out.write("namespace kms::daemon {\n")
    out.write('extern const std::string_view %s = R"%s(%s)%s";\n' % (symbol, delim, text, delim))
    out.write("}\n")
