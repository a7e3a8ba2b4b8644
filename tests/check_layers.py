#!/usr/bin/env python3
"""check_layers.py — fails when an include or a piece of SQL is in the wrong room.

The rules (docs/STYLE.md, "Shape"), for core/, api/ and server/:

  core/            includes nothing from api/ or server/, no cJSON, SQLite or libmicrohttpd
  api/             includes nothing from server/, no SQLite or libmicrohttpd
  server/http/     the only place that includes microhttpd.h; nothing from routes/, store/, jobs/
  server/store/    the only place with SQL (sqlite3.h, sqlite3_* calls, SQL strings);
                   nothing from http/, routes/, jobs/
  server/jobs/     never http/ or routes/
  server/*.c|h     (cfg, log, metrics, hash: shared by every room) no sub-folder;
                   server/main.c wires them all and is exempt
  server/routes/   the only code that sees everything: nobody else includes it

Usage: check_layers.py [ROOT]     check the tree at ROOT (default: the repository)
       check_layers.py --self-test break each rule in a scratch tree and make
                                   sure the check notices (a check that cannot fail
                                   proves nothing)
Exit status 0 when every rule holds, 1 otherwise (one line per violation).
"""
import os
import re
import sys
import tempfile

INCLUDE = re.compile(r'^\s*#\s*include\s*([<"])([^>"]+)[>"]', re.M)
SQL = re.compile(r'"\s*(SELECT|INSERT|UPDATE|DELETE\s+FROM|CREATE\s+(TABLE|INDEX)|BEGIN|COMMIT|ROLLBACK|PRAGMA|VACUUM)\b')
SQLITE_CALL = re.compile(r'\bsqlite3_\w+\s*\(')
SUBROOMS = ("http", "routes", "store", "jobs")


def room(path):
    """core, api, server, server/http, ... for a path relative to the root."""
    parts = path.split("/")
    if parts[0] == "server" and len(parts) > 2:
        return "server/" + parts[1]
    return parts[0]


def target_room(inc):
    """The room a quoted include points into ("server/http/http.h" -> server/http)."""
    parts = inc.split("/")
    if parts[0] == "server" and len(parts) > 2:
        return "server/" + parts[1]
    if parts[0] in ("core", "api", "server"):
        return parts[0]
    return None


def forbidden(src, quoted, inc):
    """Why src may not include inc, or None."""
    system = not quoted
    name = os.path.basename(inc)
    if name == "microhttpd.h" and src != "server/http":
        return "only server/http/ includes microhttpd.h"
    if name == "sqlite3.h" and src != "server/store":
        return "only server/store/ includes sqlite3.h"
    if src == "core" and name == "cJSON.h":
        return "core/ does not read JSON"
    if system:
        return None
    dst = target_room(inc)
    if dst is None or dst == src:
        return None
    if src == "core" and dst != "core":
        return "core/ includes nothing from api/ or server/"
    if src == "api" and dst.startswith("server"):
        return "api/ includes nothing from server/"
    if dst == "server/routes":
        return "only server/routes/ and server/main.c see the routes"
    if src == "server/http" and dst in ("server/store", "server/jobs"):
        return "server/http/ knows nothing of the store or the jobs"
    if src == "server/store" and dst in ("server/http", "server/jobs"):
        return "server/store/ knows nothing of HTTP or the jobs"
    if src == "server/jobs" and dst == "server/http":
        return "server/jobs/ never includes HTTP"
    if src == "server" and dst.startswith("server/"):
        return "the shared server/*.c|h services include no sub-folder"
    return None


def strip_comments(text):
    return re.sub(r"/\*.*?\*/|//[^\n]*", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)


def check(root):
    problems = []
    for top in ("core", "api", "server"):
        for dirpath, _, files in os.walk(os.path.join(root, top)):
            for f in sorted(files):
                if not f.endswith((".c", ".h")):
                    continue
                full = os.path.join(dirpath, f)
                rel = os.path.relpath(full, root).replace(os.sep, "/")
                if rel == "server/main.c":
                    continue
                src = room(rel)
                with open(full, encoding="utf-8", errors="replace") as fh:
                    text = fh.read()
                code = strip_comments(text)
                for m in INCLUDE.finditer(code):
                    why = forbidden(src, m.group(1) == '"', m.group(2))
                    if why:
                        line = code.count("\n", 0, m.start()) + 1
                        problems.append("%s:%d: includes %s: %s" % (rel, line, m.group(2), why))
                if src != "server/store":
                    for rx, what in ((SQL, "SQL"), (SQLITE_CALL, "a SQLite call")):
                        m = rx.search(code)
                        if m:
                            line = code.count("\n", 0, m.start()) + 1
                            problems.append("%s:%d: %s outside server/store/" % (rel, line, what))
    return problems


def self_test():
    """Each broken rule must be reported; the clean tree must pass."""
    clean = {
        "core/nn.h": "#include <stddef.h>\n",
        "api/api.h": '#include "core/nn.h"\n',
        "server/cfg.h": '#include "api/api.h"\n',
        "server/http/http.h": '#include <microhttpd.h>\n#include "server/cfg.h"\n',
        "server/store/db.c": '#include <sqlite3.h>\nstatic const char *q = "SELECT 1";\n',
        "server/jobs/worker.c": '#include "server/store/db.h"\n',
        "server/routes/route.c": '#include "server/http/http.h"\n#include "server/jobs/worker.h"\n',
        "server/main.c": '#include "server/routes/route.h"\n',
    }
    broken = [
        ("core/nn.c", '#include "api/api.h"\n'),
        ("core/nn.c", "#include <cJSON.h>\n"),
        ("api/api.c", '#include "server/cfg.h"\n'),
        ("api/api.c", "#include <microhttpd.h>\n"),
        ("server/jobs/worker.c", '#include "server/http/http.h"\n'),
        ("server/jobs/worker.c", '#include "server/routes/route.h"\n'),
        ("server/store/db.c", '#include "server/http/http.h"\n'),
        ("server/http/http.c", '#include "server/store/db.h"\n'),
        ("server/metrics.c", '#include "server/http/http.h"\n'),
        ("server/metrics.c", "#include <microhttpd.h>\n"),
        ("server/routes/route.c", "#include <sqlite3.h>\n"),
        ("server/routes/route.c", 'static const char *q = "DELETE FROM jobs";\n'),
        ("server/jobs/worker.c", "int f(void) { return sqlite3_step(0); }\n"),
    ]
    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        def write(files):
            for rel, text in files.items():
                os.makedirs(os.path.dirname(os.path.join(tmp, rel)), exist_ok=True)
                with open(os.path.join(tmp, rel), "w") as fh:
                    fh.write(text)
        write(clean)
        if check(tmp):
            print("self-test: the clean tree fails: %s" % check(tmp))
            failures += 1
        for rel, text in broken:
            original = clean.get(rel)
            write({rel: (original or "") + text})
            if not check(tmp):
                print("self-test: not caught: %s in %s" % (text.strip(), rel))
                failures += 1
            if original is None:
                os.remove(os.path.join(tmp, rel))
            else:
                write({rel: original})
        # a comment that mentions a forbidden include is not an include
        write({"core/nn.h": "/* never #include \"server/http/http.h\" here */\n"})
        if check(tmp):
            print("self-test: a comment counted as an include")
            failures += 1
    print("check_layers self-test: %d rule(s) broken on purpose, %s" %
          (len(broken), "all caught" if not failures else "%d problem(s)" % failures))
    return 1 if failures else 0


def main(argv):
    if argv[1:] == ["--self-test"]:
        return self_test()
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    problems = check(root)
    for p in problems:
        print(p)
    print("check_layers: %s" % ("every include points the right way" if not problems
                                 else "%d violation(s)" % len(problems)))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
