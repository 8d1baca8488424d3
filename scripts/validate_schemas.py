#!/usr/bin/env python3
"""Check KafClaw's published JSON Schemas with the Python `jsonschema` library.

Usage: python3 scripts/validate_schemas.py [SCHEMAS_DIR]   (default: schemas/)

Every *.schema.json is checked against the draft 2020-12 metaschema, and every
golden example listed in index.json is validated against its message schema
and against its envelope schema. Examples not listed in the index fail too.
Prints one line per file and a final line "N passed, N failed"; exits 1 when
anything failed, 2 when the directory or the library is missing. Date-time
formats are checked when `rfc3339-validator` is installed as well.
"""

import json
import sys
from pathlib import Path

try:
    from jsonschema import Draft202012Validator, FormatChecker
    from jsonschema.exceptions import SchemaError
except ImportError:  # pragma: no cover - depends on the environment
    print("validate_schemas: the `jsonschema` package is required (pip install jsonschema)", file=sys.stderr)
    sys.exit(2)


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def pointer(error):
    parts = [str(p).replace("~", "~0").replace("/", "~1") for p in error.absolute_path]
    return "/" + "/".join(parts) if parts else "(record)"


class Report:
    def __init__(self):
        self.passed = 0
        self.failed = 0

    def ok(self, name, detail):
        self.passed += 1
        print(f"ok   {name} ({detail})")

    def fail(self, name, detail):
        self.failed += 1
        print(f"FAIL {name}: {detail}")


def main(argv):
    root = Path(argv[1]) if len(argv) > 1 else Path("schemas")
    if not root.is_dir():
        print(f"validate_schemas: {root} is not a directory", file=sys.stderr)
        return 2
    report = Report()
    if FormatChecker().conforms("noon", "date-time"):
        print(
            "validate_schemas: note: date-time formats are not checked "
            "(pip install rfc3339-validator to check them)",
            file=sys.stderr,
        )

    schemas = {}
    for path in sorted(root.glob("*.schema.json")):
        try:
            schema = load(path)
            Draft202012Validator.check_schema(schema)
        except (OSError, ValueError) as err:
            report.fail(path.name, f"cannot read: {err}")
            continue
        except SchemaError as err:
            report.fail(path.name, f"not a valid draft 2020-12 schema: {err.message}")
            continue
        schemas[path.name] = Draft202012Validator(schema, format_checker=FormatChecker())
        report.ok(path.name, "metaschema")

    try:
        index = load(root / "index.json")
    except (OSError, ValueError) as err:
        report.fail("index.json", f"cannot read: {err}")
        print(f"{report.passed} passed, {report.failed} failed")
        return 1

    # example file -> list of schema files it must satisfy
    expected = {}
    problems = []
    for type_name, entry in sorted(index.get("types", {}).items()):
        envelope = index["envelopes"][entry["envelope"]]["schema"]
        for example in entry.get("examples", []):
            expected.setdefault(example, (type_name, []))[1].extend([entry["schema"], envelope])
    lfs = index.get("lfs_pointer", {})
    for example in lfs.get("examples", []):
        expected.setdefault(example, ("lfs_pointer", []))[1].append(lfs["schema"])
    referenced = {s for _, files in expected.values() for s in files}
    referenced.update(index.get("payload_schemas", {}).values())
    for name in sorted(referenced - schemas.keys()):
        problems.append(f"refers to {name}, which is missing or invalid")
    known_types = set(index.get("types", {}))
    for topic in index.get("topics", []):
        for type_name in topic.get("types", []):
            if type_name not in known_types:
                problems.append(f"topic {topic['topic']} allows unknown type {type_name}")
    if problems:
        report.fail("index.json", "; ".join(problems))
    else:
        report.ok("index.json", f"{len(known_types)} types, {len(index.get('topics', []))} topics")

    for example, (type_name, files) in sorted(expected.items()):
        try:
            value = load(root / example)
        except (OSError, ValueError) as err:
            report.fail(example, f"cannot read: {err}")
            continue
        errors = []
        if type_name != "lfs_pointer" and value.get("type") != type_name:
            errors.append(f"type is {value.get('type')!r}, index says {type_name!r}")
        for name in files:
            validator = schemas.get(name)
            if validator is None:
                continue
            for error in sorted(validator.iter_errors(value), key=lambda e: list(e.absolute_path)):
                errors.append(f"against {name}: {pointer(error)}: {error.message}")
        if errors:
            report.fail(example, "; ".join(errors))
        else:
            report.ok(example, ", ".join(files))

    listed = set(expected)
    for path in sorted((root / "examples").glob("*")):
        relative = f"examples/{path.name}"
        if relative not in listed:
            report.fail(relative, "not listed in index.json, so never validated")

    print(f"{report.passed} passed, {report.failed} failed")
    return 1 if report.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
