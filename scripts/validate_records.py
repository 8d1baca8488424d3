#!/usr/bin/env python3
"""Validate Kafka records against KafClaw's published JSON Schemas.

Usage: python3 scripts/validate_records.py SCHEMAS_DIR RECORDS.jsonl

RECORDS.jsonl holds one record per line: {"topic": ..., "partition": ...,
"offset": ..., "value": "<the record value as a string>"}. Each value must be a
JSON object; an LFS pointer (a top-level `kfs_lfs` member) is checked against
the LFS pointer schema, anything else against the schema of its `type` and the
envelope schema, and its type must be one that index.json allows on its topic.
Prints one line per invalid record and a final "N valid, M invalid"; exits 1
when a record is invalid or there are none, 2 on usage errors. Date-time formats
are checked when `rfc3339-validator` is installed.
"""

import json
import re
import sys
from pathlib import Path

try:
    from jsonschema import Draft202012Validator, FormatChecker
except ImportError:  # pragma: no cover - depends on the environment
    print("validate_records: the `jsonschema` package is required", file=sys.stderr)
    sys.exit(2)


def pointer(error):
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path]
    return "/" + "/".join(parts) if parts else "(record)"


def topic_pattern(template):
    """group.{group}.skill.{skill}.requests -> an anchored regex."""
    out = ""
    for piece in re.split(r"(\{[a-z_]+\})", template):
        out += "[A-Za-z0-9_-]+" if piece.startswith("{") else re.escape(piece)
    return re.compile(f"^{out}$")


def main(argv):
    if len(argv) != 3:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    root, records_path = Path(argv[1]), Path(argv[2])
    try:
        index = json.loads((root / "index.json").read_text(encoding="utf-8"))
        lines = records_path.read_text(encoding="utf-8").splitlines()
    except (OSError, ValueError) as err:
        print(f"validate_records: {err}", file=sys.stderr)
        return 2
    validators = {}

    def validator(name):
        if name not in validators:
            schema = json.loads((root / name).read_text(encoding="utf-8"))
            validators[name] = Draft202012Validator(schema, format_checker=FormatChecker())
        return validators[name]

    topics = [(topic_pattern(t["topic"]), t) for t in index["topics"]]
    valid = invalid = 0
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        problems = []
        try:
            rec = json.loads(line)
            where = f"{rec['topic']}[{rec['partition']}]@{rec['offset']}"
            value = json.loads(rec["value"])
        except (ValueError, KeyError, TypeError) as err:
            print(f"INVALID {records_path.name}:{n}: cannot read the record: {err}")
            invalid += 1
            continue
        entry = next((t for pattern, t in topics if pattern.match(rec["topic"])), None)
        if entry is None:
            problems.append(f"topic {rec['topic']} is not a KafClaw topic")
        elif not isinstance(value, dict):
            problems.append("the value is not a JSON object")
        elif "kfs_lfs" in value:
            schemas = [index["lfs_pointer"]["schema"]]
        else:
            kind = value.get("type")
            if kind not in entry["types"]:
                problems.append(f"type {kind!r} is not allowed on {entry['topic']} "
                                f"(allowed: {', '.join(entry['types'])})")
            else:
                envelope = index["envelopes"][index["types"][kind]["envelope"]]["schema"]
                schemas = [index["types"][kind]["schema"], envelope]
        if not problems:
            for name in schemas:
                for error in validator(name).iter_errors(value):
                    problems.append(f"{name}: {pointer(error)}: {error.message}")
        if problems:
            invalid += 1
            for p in problems:
                print(f"INVALID {where}: {p}")
        else:
            valid += 1
    print(f"{valid} valid, {invalid} invalid")
    return 1 if invalid or not valid else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
