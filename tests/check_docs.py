#!/usr/bin/env python3
"""check_docs.py — the documents say what the code does.

  docs/API.md "Errors"        == the error table, API_ERRORS in api/api.h
                                 (status, code, Retry-After; API_OK aside)
  docs/API.md "Routes"        == route_table in server/routes/route.c
                                 (method, pattern, whether it needs the API key)
  docs/openapi.yaml paths     == the same route table (the dashboard's catch-all aside)
  docs/openapi.yaml query     == each route's query parameters (the table's last column)
  README.md "Configuration"   == the configuration table of `fitd --help`
                                 (flag, variable and default of every row, in order)
  compose.postgres.yaml       a postgres service and fitd-1..3 built from the
                                 Dockerfile, each with its own FITD_NODE_ID and a
                                 postgresql:// FITD_DB, published on 127.0.0.1

Usage: check_docs.py [--binary build/fitd]   (the binary prints the configuration table)
Exit status 0 when everything agrees, 1 with one line per difference.
"""
import os
import re
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")


def read(rel):
    with open(os.path.join(ROOT, rel), encoding="utf-8") as fh:
        return fh.read()


def md_section_table(text, heading):
    """The rows (lists of cells) of the first table under '## heading'."""
    m = re.search(r"^## " + re.escape(heading) + r"\s*$", text, re.M)
    if not m:
        raise SystemExit("no section '## %s'" % heading)
    rows = []
    started = False
    for line in text[m.end():].splitlines():
        if line.startswith("## "):
            break
        if line.startswith("|"):
            started = True
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if all(re.fullmatch(r"-+", c) for c in cells):
                continue
            rows.append(cells)
        elif started:
            break
    return rows[1:]  # the header row aside


def unquote(cell):
    return cell.strip().strip("`")


def code_errors():
    text = read("api/api.h")
    rows = re.findall(r'X\((API_\w+), (\d+), "([a-z_]+)", (\d+)\)', text)
    if not rows:
        raise SystemExit("api/api.h: no API_ERRORS rows found")
    return [(int(s), c, int(r)) for n, s, c, r in rows if n != "API_OK"]


def doc_errors():
    out = []
    for cells in md_section_table(read("docs/API.md"), "Errors"):
        retry = 0 if cells[2] == "-" else int(cells[2])
        out.append((int(cells[0]), unquote(cells[1]), retry))
    return out


def code_routes():
    text = read("server/routes/route.c")
    rows = re.findall(r'^\s*\{"(GET|POST|PUT|DELETE|PATCH)", "([^"]*)", \w+, \w+, ([^}]*)\}', text, re.M)
    if not rows:
        raise SystemExit("server/routes/route.c: no route_table rows found")
    return [(m, p, "HTTP_PUBLIC" not in flags) for m, p, flags in rows]


def code_queries():
    """{(METHOD, pattern): sorted query names} of route_table's last column."""
    text = read("server/routes/route.c")
    rows = re.findall(r'^\s*\{"(GET|POST|PUT|DELETE|PATCH)", "([^"]*)", \w+, \w+, [^,}]+, (NULL|"[^"]*")\}',
                      text, re.M)
    return {(m, p): sorted(q.strip('"').split()) if q != "NULL" else [] for m, p, q in rows if p != "/"}


def openapi_queries():
    """{(METHOD, path): sorted names of its `in: query` parameters}, $refs to
    components/parameters resolved, read without a YAML library."""
    lines = read("docs/openapi.yaml").splitlines()
    components, name = {}, None
    for i, line in enumerate(lines):
        m = re.match(r"^    (\w+):\s*$", line)
        if m:
            name = m.group(1)
        m = re.match(r"^      name: (\S+)", line)
        if m and name and i + 1 < len(lines) and re.match(r"^      in: query", lines[i + 1]):
            components[name] = m.group(1)
    out, path, op, in_paths = {}, None, None, False
    for i, line in enumerate(lines):
        if re.match(r"^paths:\s*$", line):
            in_paths = True
            continue
        if in_paths and re.match(r"^\S", line):
            break
        if not in_paths:
            continue
        m = re.match(r"^  (/\S*):\s*$", line)
        if m:
            path, op = m.group(1), None
            continue
        m = re.match(r"^    (get|post|put|delete|patch):\s*$", line)
        if m and path:
            op = (m.group(1).upper(), path)
            out[op] = []
            continue
        if not op:
            continue
        m = re.match(r"^\s+- name: (\S+)", line)
        if m and i + 1 < len(lines) and re.match(r"^\s+in: query", lines[i + 1]):
            out[op].append(m.group(1))
        m = re.match(r"^\s+- \$ref: '#/components/parameters/(\w+)'", line)
        if m and m.group(1) in components:
            out[op].append(components[m.group(1)])
    return {k: sorted(v) for k, v in out.items()}


def doc_routes():
    return [(c[0], unquote(c[1]), c[2] == "yes") for c in md_section_table(read("docs/API.md"), "Routes")]


def openapi_routes():
    """(METHOD, path) pairs of docs/openapi.yaml, read without a YAML library:
    paths are two-space-indented keys under 'paths:', methods four."""
    out, path, in_paths = [], None, False
    for line in read("docs/openapi.yaml").splitlines():
        if re.match(r"^paths:\s*$", line):
            in_paths = True
            continue
        if in_paths and re.match(r"^\S", line):
            break
        if not in_paths:
            continue
        m = re.match(r"^  (/\S*):\s*$", line)
        if m:
            path = m.group(1)
            continue
        m = re.match(r"^    (get|post|put|delete|patch):\s*$", line)
        if m and path:
            out.append((m.group(1).upper(), path))
    return out


def help_options(binary):
    text = subprocess.run([binary, "--help"], capture_output=True, text=True, check=True).stdout
    rows = []
    for line in text.splitlines():
        m = re.match(r"^\s+(--[a-z-]+)\s+(FITD_[A-Z_]+)\s+(.*)$", line)
        if m:
            d = re.search(r"\[default: (.*)\]\s*$", m.group(3))
            rows.append((m.group(1), m.group(2), d.group(1) if d else None))
    return rows


def normal(default):
    """README's default cell and the help text's default, compared without
    backticks, thousands separators or case."""
    return re.sub(r"[`,]", "", default).strip().lower()


def readme_options():
    return [(unquote(c[0]), unquote(c[1]), c[2]) for c in md_section_table(read("README.md"), "Configuration")]


def compare(what, doc, code, problems):
    if doc == code:
        return
    for item in code:
        if item not in doc:
            problems.append("%s: the code has %s, the document does not" % (what, item))
    for item in doc:
        if item not in code:
            problems.append("%s: the document has %s, the code does not" % (what, item))
    if sorted(doc) == sorted(code):
        problems.append("%s: same rows, different order" % what)


def load_yaml(rel):
    """A YAML file as Python data: PyYAML here, or Debian's python3-yaml
    through /usr/bin/python3 when this interpreter has no yaml module."""
    try:
        import yaml
    except ImportError:
        import json
        out = subprocess.run(["/usr/bin/python3", "-c",
                              "import json, sys, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
                              os.path.join(ROOT, rel)], capture_output=True, text=True, check=True).stdout
        return json.loads(out)
    with open(os.path.join(ROOT, rel), encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def compose_postgres_problems(rel="compose.postgres.yaml"):
    """compose.postgres.yaml: PostgreSQL and three fitd nodes over it."""
    problems = []
    services = (load_yaml(rel) or {}).get("services") or {}
    want = ["postgres", "fitd-1", "fitd-2", "fitd-3"]
    for name in want:
        if name not in services:
            problems.append("%s: no service %s" % (rel, name))
    pg = services.get("postgres") or {}
    if not str(pg.get("image", "")).startswith("postgres:15"):
        problems.append("%s: postgres runs %r, expected postgres:15" % (rel, pg.get("image")))
    if "pg_isready" not in " ".join(map(str, (pg.get("healthcheck") or {}).get("test") or [])):
        problems.append("%s: postgres has no pg_isready health check" % rel)
    node_ids = []
    for name in want[1:]:
        if name not in services:
            continue
        svc = services[name] or {}
        env = svc.get("environment") or {}
        if isinstance(env, list):
            env = dict(item.split("=", 1) for item in env)
        node_ids.append(env.get("FITD_NODE_ID"))
        if not env.get("FITD_NODE_ID"):
            problems.append("%s: %s has no FITD_NODE_ID" % (rel, name))
        if not str(env.get("FITD_DB", "")).startswith("postgresql://"):
            problems.append("%s: %s's FITD_DB %r is not a postgresql:// URI" % (rel, name, env.get("FITD_DB")))
        if svc.get("build") not in (".", {"context": "."}):
            problems.append("%s: %s is not built from the Dockerfile (build: .)" % (rel, name))
        if (((svc.get("depends_on") or {}).get("postgres") or {}).get("condition")) != "service_healthy":
            problems.append("%s: %s does not wait for postgres to be healthy" % (rel, name))
        ports = [str(p) for p in svc.get("ports") or []]
        if not ports or not all(p.startswith("127.0.0.1:") for p in ports):
            problems.append("%s: %s publishes %s, expected 127.0.0.1 only" % (rel, name, ports))
    given = [n for n in node_ids if n]
    if len(set(given)) != len(given):
        problems.append("%s: FITD_NODE_ID repeats: %s" % (rel, node_ids))
    return problems


def main(argv):
    binary = os.path.join(ROOT, "build", "fitd")
    if len(argv) == 3 and argv[1] == "--binary":
        binary = argv[2]
    problems = []
    compare("docs/API.md errors", doc_errors(), code_errors(), problems)
    routes = code_routes()
    compare("docs/API.md routes", doc_routes(), routes, problems)
    api_routes = [(m, p) for m, p, _ in routes if p != "/"]
    compare("docs/openapi.yaml paths", sorted(openapi_routes()), sorted(api_routes), problems)
    oq = openapi_queries()
    for route, names in sorted(code_queries().items()):
        if route in oq and oq[route] != names:
            problems.append("docs/openapi.yaml %s %s: query parameters %s, the route table says %s"
                            % (route[0], route[1], oq[route], names))
    opts = help_options(binary)
    if not opts:
        problems.append("%s --help lists no options" % binary)
    readme = [(f, e, normal(d)) for f, e, d in readme_options()]
    code = [(f, e, normal(d) if d is not None else None) for f, e, d in opts]
    compare("README.md configuration", readme, code, problems)
    problems += compose_postgres_problems()
    for p in problems:
        print(p)
    print("check_docs: %s" % ("docs/API.md, docs/openapi.yaml, README.md and compose.postgres.yaml match the code" if not problems
                              else "%d difference(s)" % len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
