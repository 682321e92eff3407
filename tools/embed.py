#!/usr/bin/env python3
"""embed.py IN OUT NAME - a data file as a C string constant (for build-time embedding)."""
import sys

src, out, name = sys.argv[1:4]
data = open(src, "rb").read()
with open(out, "w") as f:
    f.write(f"/* generated from {src.split('/')[-1]} by tools/embed.py; do not edit */\n")
    f.write("#include <stddef.h>\n")
    f.write(f"extern const char {name}[];\nextern const size_t {name}_len;\n")
    f.write(f"const char {name}[] = {{")
    f.write(",".join(str(b) for b in data) + ",0};\n")
    f.write(f"const size_t {name}_len = {len(data)};\n")
