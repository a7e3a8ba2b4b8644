#!/usr/bin/python3
"""yaml2json.py — docs/openapi.json, the JSON twin of docs/openapi.yaml.

fitd serves GET /openapi.json from docs/openapi.json (it has no YAML parser);
this script writes that file from docs/openapi.yaml, and `make check-docs` runs
it with --check so that the two cannot drift.

  /usr/bin/python3 tests/docs/yaml2json.py           write docs/openapi.json
  /usr/bin/python3 tests/docs/yaml2json.py --check   exit 1 when docs/openapi.json
                                                     is not the conversion

The conversion is yaml.safe_load (PyYAML, Debian's python3-yaml) then
json.dumps with two-space indentation, keys in the document's order, UTF-8,
and a final newline. A mapping key that is not a string, or a value JSON has
no type for (a YAML date), is refused: OpenAPI has neither, and JSON would
silently turn them into something else.
"""
import json
import os
import sys

import yaml

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
SRC = os.path.join(ROOT, "docs", "openapi.yaml")
DST = os.path.join(ROOT, "docs", "openapi.json")


def plain(node, where="$"):
    """Raises ValueError naming the first key or value JSON cannot hold as is."""
    if isinstance(node, dict):
        for k, v in node.items():
            if not isinstance(k, str):
                raise ValueError("%s: key %r is not a string (quote it)" % (where, k))
            plain(v, "%s.%s" % (where, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            plain(v, "%s[%d]" % (where, i))
    elif not (node is None or isinstance(node, (str, bool, int, float))):
        raise ValueError("%s: %r is a %s, which JSON has not (quote it)" % (where, node, type(node).__name__))


def convert(text):
    doc = yaml.safe_load(text)
    plain(doc)
    # allow_nan=False: a YAML .nan or .inf is a ValueError, not invalid JSON.
    return json.dumps(doc, indent=2, ensure_ascii=False, allow_nan=False) + "\n"


def main(argv):
    check = argv[1:] == ["--check"]
    if argv[1:] and not check:
        print(__doc__, file=sys.stderr)
        return 2
    with open(SRC, encoding="utf-8") as fh:
        try:
            want = convert(fh.read())
        except ValueError as e:
            print("docs/openapi.yaml: %s" % e, file=sys.stderr)
            return 1
    if not check:
        with open(DST + ".tmp", "w", encoding="utf-8") as fh:
            fh.write(want)
        os.replace(DST + ".tmp", DST)
        print("docs/openapi.json written from docs/openapi.yaml")
        return 0
    try:
        with open(DST, encoding="utf-8") as fh:
            have = fh.read()
    except FileNotFoundError:
        have = None
    if have != want:
        print("docs/openapi.json is %s docs/openapi.yaml: run `make openapi-json` and commit both"
              % ("missing; it is generated from" if have is None else "not the conversion of"))
        return 1
    print("docs/openapi.json: the conversion of docs/openapi.yaml")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
