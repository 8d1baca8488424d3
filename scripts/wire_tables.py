#!/usr/bin/env python3
"""Generate the field tables of docs/wire-protocol.md from schemas/.

Usage: python3 scripts/wire_tables.py [--check]

The tables sit between marker lines in the document:
    <!-- generated:NAME (scripts/wire_tables.py) -->
    ...
    <!-- end generated:NAME -->
NAME is `topics` (from schemas/index.json), `envelope` (the top-level fields of
group-envelope.schema.json) or a definition of that schema (`AgentIdentity`,
`TaskRequest`, ...). Every field of the schema gets a row, and nothing else.
Without --check the document is rewritten; with --check it exits 1 and names
each table that differs (run without --check, review, commit). Standard library
only.
"""

import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DOC = ROOT / "docs" / "wire-protocol.md"
SCHEMAS = ROOT / "schemas"
BLOCK = re.compile(
    r"(<!-- generated:(?P<name>[A-Za-z]+) \(scripts/wire_tables.py\) -->\n)(?P<body>.*?)"
    r"(<!-- end generated:(?P=name) -->)",
    re.S,
)


def type_of(prop):
    """A short type text for one property schema."""
    if "$ref" in prop:
        return prop["$ref"].rsplit("/", 1)[-1]
    if "anyOf" in prop:
        return " or ".join(type_of(p) for p in prop["anyOf"])
    kinds = prop.get("type", "any")
    kinds = kinds if isinstance(kinds, list) else [kinds]
    out = []
    for kind in kinds:
        if kind == "array":
            out.append(f"array of {type_of(prop.get('items', {}))}")
        elif kind == "object" and "additionalProperties" in prop:
            out.append(f"map of {type_of(prop['additionalProperties'])}")
        elif kind == "string" and prop.get("format") == "date-time":
            out.append("string (RFC 3339)")
        else:
            out.append(kind)
    return " or ".join(out)


def cell(text):
    return " ".join(text.split()).replace("|", "\\|")


def field_table(props, required, extensions=()):
    rows = ["| field | type | required | meaning |", "|---|---|---|---|"]
    for name, prop in props.items():
        note = prop.get("description", "")
        if "const" in prop:
            note = f"always `{prop['const']}`. {note}"
        elif "enum" in prop and not all(f"`{v}`" in note for v in prop["enum"] if v):
            note += " One of: " + ", ".join(f"`{v}`" for v in prop["enum"]) + "."
        req = "yes" if name in required else ("no (extension)" if name in extensions else "no")
        rows.append(f"| `{name}` | {cell(type_of(prop))} | {req} | {cell(note)} |")
    return "\n".join(rows) + "\n"


def topic_table(index):
    rows = ["| topic | category | envelope `type`s allowed |", "|---|---|---|"]
    for t in index["topics"]:
        if t["envelope"] != "group":
            continue
        types = ", ".join(f"`{k}`" for k in t["types"])
        rows.append(f"| `{t['topic']}` | {t.get('category', '')} | {types} |")
    return "\n".join(rows) + "\n"


def tables():
    envelope = json.loads((SCHEMAS / "group-envelope.schema.json").read_text(encoding="utf-8"))
    index = json.loads((SCHEMAS / "index.json").read_text(encoding="utf-8"))
    out = {
        "topics": topic_table(index),
        "envelope": field_table(envelope["properties"], envelope["required"],
                                index["envelopes"]["group"]["extension_fields"]),
    }
    for name, schema in envelope["$defs"].items():
        out[name] = field_table(schema.get("properties", {}), schema.get("required", []))
    return out


def main(argv):
    check = "--check" in argv[1:]
    if any(a != "--check" for a in argv[1:]):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    try:
        doc = DOC.read_text(encoding="utf-8")
        wanted = tables()
    except (OSError, ValueError, KeyError) as err:
        print(f"wire_tables: {err}", file=sys.stderr)
        return 2
    found, stale = set(), []

    def replace(m):
        name = m.group("name")
        found.add(name)
        if name not in wanted:
            stale.append(f"{name}: no such table in the schemas")
            return m.group(0)
        if m.group("body") != wanted[name]:
            stale.append(f"{name}: differs from schemas/")
        return m.group(1) + wanted[name] + m.group(4)

    new = BLOCK.sub(replace, doc)
    missing = sorted(set(wanted) - found)
    problems = stale + [f"{name}: not in the document" for name in missing]
    if check:
        for p in problems:
            print(f"docs/wire-protocol.md: table {p}")
        if problems:
            print("run `python3 scripts/wire_tables.py` and commit the result")
            return 1
        print(f"docs/wire-protocol.md: {len(found)} tables match schemas/")
        return 0
    DOC.write_text(new, encoding="utf-8")
    for name in missing:
        print(f"docs/wire-protocol.md: add a block for {name}", file=sys.stderr)
    return 1 if missing or any("no such table" in s for s in stale) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
