#!/usr/bin/python3
"""check_schema.py — is fitd's PostgreSQL schema the SQLite one?

Builds a SQLite database from the SQLite migrations (migrations/sqlite/ when
that folder exists, else migrations/NNNN_*.sql), and a PostgreSQL database from
migrations/postgres/NNNN_*.sql (each file in one transaction through psql, as
fitd's runner applies them, in a PostgreSQL 15 that tests/pg/pgserver.py
starts and stops; or an existing database given by --pg-uri), then compares:

  - the tables, and each table's column NAMES AND ORDER;
  - each column's type by the mapping of migrations/postgres/0001_init.sql
    (INTEGER -> bigint, REAL -> double precision, BLOB -> bytea, TEXT -> text;
    an INTEGER PRIMARY KEY -> an identity), NOT NULL, and default;
  - primary keys, UNIQUE constraints, foreign keys (columns, target, ON DELETE),
    CHECK (col IN (...)) constraints, named indexes (name, columns, unique,
    partial or not) and triggers (name, table).

Prints every difference and exits 1 if there is one, 0 otherwise (2: usage or
a database that could not be built). Standard library only.

    /usr/bin/python3 tests/pg/check_schema.py [--pg-uri URI]
        [--sqlite-migrations DIR] [--pg-migrations DIR]
"""

import argparse
import os
import re
import sqlite3
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, HERE)
import pgserver  # noqa: E402

TYPE_MAP = {"INTEGER": "bigint", "REAL": "double precision", "BLOB": "bytea", "TEXT": "text"}
ON_DELETE_PG = {"a": "NO ACTION", "r": "RESTRICT", "c": "CASCADE", "n": "SET NULL", "d": "SET DEFAULT"}
RUNNER_TABLE = "fitd_schema_version"   # the PostgreSQL runner's own table
SEP = "\x1f"
MIGRATION_NAME = re.compile(r"^(\d{4})_.+\.sql$")
TRANSACTION_STMT = re.compile(r"^\s*(BEGIN|COMMIT|ROLLBACK|START\s+TRANSACTION)\s*;",
                              re.IGNORECASE | re.MULTILINE)
CHECK_IN = re.compile(r"CHECK\s*\(\s*(\w+)\s+IN\s*\(([^)]*)\)\s*\)", re.IGNORECASE)


def migration_files(folder):
    """NNNN_name.sql files of folder in version order (the runner's naming rule)."""
    files = []
    for name in os.listdir(folder):
        m = MIGRATION_NAME.match(name)
        if m and os.path.isfile(os.path.join(folder, name)):
            files.append((int(m.group(1)), os.path.join(folder, name)))
    files.sort()
    for (a, pa), (b, pb) in zip(files, files[1:]):
        if a == b:
            raise SystemExit("check_schema: two migrations numbered %04d: %s, %s" % (a, pa, pb))
    return [p for _, p in files]


def default_sqlite_dir():
    d = os.path.join(ROOT, "migrations", "sqlite")
    return d if os.path.isdir(d) else os.path.join(ROOT, "migrations")


# -- SQLite -----------------------------------------------------------------------

def sqlite_schema(folder):
    files = migration_files(folder)
    if not files:
        raise SystemExit("check_schema: no NNNN_*.sql migrations in %s" % folder)
    db = sqlite3.connect(":memory:")
    db.execute("PRAGMA foreign_keys=ON")
    for path in files:
        with open(path) as f:
            sql = f.read()
        try:
            db.executescript("BEGIN;\n" + sql + "\nCOMMIT;")
        except sqlite3.Error as e:
            raise SystemExit("check_schema: SQLite migration %s: %s" % (path, e))
    s = {"tables": {}, "indexes": {}, "triggers": {}}
    tables = [r[0] for r in db.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        " ORDER BY name")]
    for t in tables:
        info = db.execute("PRAGMA table_info(%s)" % quote_ident(t)).fetchall()
        pk = [r[1] for r in sorted((r for r in info if r[5] > 0), key=lambda r: r[5])]
        cols = []
        for cid, name, ctype, notnull, dflt, pkpos in info:
            ctype = ctype.upper()
            identity = ctype == "INTEGER" and pk == [name]
            cols.append({"name": name, "type": TYPE_MAP.get(ctype, "?" + ctype),
                         "notnull": bool(notnull or pkpos), "default": norm_default(dflt),
                         "identity": identity})
        uniques = set()
        for _, iname, unique, origin, partial in db.execute(
                "PRAGMA index_list(%s)" % quote_ident(t)):
            if origin == "u":
                uniques.add(tuple(index_columns(db, iname)))
            elif origin == "c":
                s["indexes"][iname] = {"table": t, "columns": index_columns(db, iname),
                                       "unique": bool(unique), "partial": bool(partial)}
        fks = set()
        for r in db.execute("PRAGMA foreign_key_list(%s)" % quote_ident(t)):
            # (id, seq, table, from, to, on_update, on_delete, match); one column each here
            fks.add((r[3], r[2], r[4], r[6]))
        sql = db.execute("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                         (t,)).fetchone()[0]
        s["tables"][t] = {"columns": cols, "pk": pk, "uniques": uniques, "fks": fks,
                          "checks": checks_of(sql)}
    for name, table in db.execute("SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger'"):
        s["triggers"][name] = table
    db.close()
    return s


def quote_ident(name):
    return '"%s"' % name.replace('"', '""')


def index_columns(db, iname):
    return [r[2] for r in sorted(db.execute("PRAGMA index_info(%s)" % quote_ident(iname)))]


def checks_of(sql):
    """{(column, (values...))} of the CHECK (col IN ('a', 'b')) constraints, and
    the number of CHECKs of any other form."""
    found = set()
    for col, values in CHECK_IN.findall(sql):
        found.add((col, tuple(v.strip().strip("'") for v in values.split(","))))
    other = len(re.findall(r"\bCHECK\s*\(", sql, re.IGNORECASE)) - len(found)
    return found, other


def norm_default(d):
    if d is None:
        return None
    d = d.strip()
    # PostgreSQL shows a literal with its type: 'ready'::text, 0::bigint
    d = re.sub(r"::(text|bigint|integer|double precision|numeric|bytea)$", "", d)
    if d.startswith("(") and d.endswith(")"):
        d = d[1:-1].strip()
    return d


# -- PostgreSQL ---------------------------------------------------------------------

def psql_rows(uri, sql):
    p = subprocess.run([pgserver.PSQL, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1",
                        "-F", SEP, "-d", uri, "-c", sql],
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True)
    if p.returncode != 0:
        raise SystemExit("check_schema: psql: %s" % p.stderr.strip())
    return [line.split(SEP) for line in p.stdout.splitlines() if line]


def pg_schema(uri):
    s = {"tables": {}, "indexes": {}, "triggers": {}}
    for t, name, dtype, nullable, dflt, identity in psql_rows(uri, """
            SELECT table_name, column_name, data_type, is_nullable,
                   coalesce(column_default, '<none>'), is_identity
              FROM information_schema.columns
             WHERE table_schema = 'public'
             ORDER BY table_name, ordinal_position"""):
        if t == RUNNER_TABLE:
            continue
        tab = s["tables"].setdefault(t, {"columns": [], "pk": [], "uniques": set(),
                                         "fks": set(), "checks": (set(), 0)})
        tab["columns"].append({"name": name, "type": dtype, "notnull": nullable == "NO",
                               "default": None if dflt == "<none>" else norm_default(dflt),
                               "identity": identity == "YES"})
    cons = psql_rows(uri, """
        SELECT c.conrelid::regclass::text, c.contype, c.confdeltype,
               coalesce(c.confrelid::regclass::text, ''),
               (SELECT string_agg(a.attname, ',' ORDER BY k.i)
                  FROM unnest(c.conkey) WITH ORDINALITY AS k(n, i)
                  JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.n),
               coalesce((SELECT string_agg(a.attname, ',' ORDER BY k.i)
                  FROM unnest(c.confkey) WITH ORDINALITY AS k(n, i)
                  JOIN pg_attribute a ON a.attrelid = c.confrelid AND a.attnum = k.n), ''),
               pg_get_constraintdef(c.oid)
          FROM pg_constraint c
         WHERE c.connamespace = 'public'::regnamespace AND c.conrelid <> 0""")
    checks = {}
    for t, ctype, deltype, target, cols, tcols, definition in cons:
        if t == RUNNER_TABLE or t not in s["tables"]:
            continue
        tab = s["tables"][t]
        if ctype == "p":
            tab["pk"] = cols.split(",")
        elif ctype == "u":
            tab["uniques"].add(tuple(cols.split(",")))
        elif ctype == "f":
            tab["fks"].add((cols, target, tcols, ON_DELETE_PG.get(deltype, deltype)))
        elif ctype == "c":
            found, other = checks.setdefault(t, (set(), [0]))
            m = re.match(r"CHECK \(\((\w+) = ANY \(ARRAY\[(.*)\]\)\)\)$", definition)
            if m:
                found.add((m.group(1), tuple(re.findall(r"'((?:[^']|'')*)'::text", m.group(2)))))
            else:
                other[0] += 1
    for t, (found, other) in checks.items():
        s["tables"][t]["checks"] = (found, other[0])
    for name, t, unique, partial, cols in psql_rows(uri, """
            SELECT ic.relname, i.indrelid::regclass::text, i.indisunique, i.indpred IS NOT NULL,
                   (SELECT string_agg(a.attname, ',' ORDER BY k.i)
                      FROM unnest(i.indkey::int2[]) WITH ORDINALITY AS k(n, i)
                      JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.n)
              FROM pg_index i
              JOIN pg_class ic ON ic.oid = i.indexrelid
             WHERE ic.relnamespace = 'public'::regnamespace
               AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid
                                                               AND c.contype IN ('p', 'u'))"""):
        if t == RUNNER_TABLE:
            continue
        s["indexes"][name] = {"table": t, "columns": cols.split(","), "unique": unique == "t",
                              "partial": partial == "t"}
    for name, t in psql_rows(uri, """
            SELECT t.tgname, t.tgrelid::regclass::text FROM pg_trigger t
              JOIN pg_class c ON c.oid = t.tgrelid
             WHERE NOT t.tgisinternal AND c.relnamespace = 'public'::regnamespace"""):
        s["triggers"][name] = t
    return s


def build_pg(pg, folder, dbname="fitd_schema_check"):
    """A fresh database with every migration of folder applied, as the runner
    applies them: each file in one transaction."""
    files = migration_files(folder)
    if not files:
        raise SystemExit("check_schema: no NNNN_*.sql migrations in %s" % folder)
    problems = []
    for path in files:
        with open(path) as f:
            text = f.read()
        if TRANSACTION_STMT.search(text):
            problems.append("%s: holds a transaction statement (the runner wraps each file "
                            "in one transaction)" % path)
    uri = pg.create_database(dbname)
    for path in files:
        try:
            pg.psql_file(dbname, path, single_transaction=True)
        except pgserver.PgError as e:
            raise SystemExit("check_schema: PostgreSQL migration %s: %s" % (path, e))
    if pg.psql(dbname, "SELECT to_regclass('%s') IS NOT NULL" % RUNNER_TABLE).strip() == "t":
        problems.append("%s: the migrations create %s, which the runner owns"
                        % (folder, RUNNER_TABLE))
    return uri, problems


# -- comparing ------------------------------------------------------------------------

def compare(lite, pg):
    diffs = []
    lt, pt = set(lite["tables"]), set(pg["tables"])
    for t in sorted(lt - pt):
        diffs.append("table %s: in SQLite only" % t)
    for t in sorted(pt - lt):
        diffs.append("table %s: in PostgreSQL only" % t)
    for t in sorted(lt & pt):
        a, b = lite["tables"][t], pg["tables"][t]
        an = [c["name"] for c in a["columns"]]
        bn = [c["name"] for c in b["columns"]]
        if an != bn:
            diffs.append("table %s: columns differ\n  SQLite:     %s\n  PostgreSQL: %s"
                         % (t, ", ".join(an), ", ".join(bn)))
        bcols = {c["name"]: c for c in b["columns"]}
        for ca in a["columns"]:
            cb = bcols.get(ca["name"])
            if cb is None:
                continue
            for key in ("type", "notnull", "default", "identity"):
                if ca[key] != cb[key]:
                    diffs.append("column %s.%s: %s %r in SQLite, %r in PostgreSQL"
                                 % (t, ca["name"], key, ca[key], cb[key]))
        for key, what in (("pk", "primary key"), ("uniques", "UNIQUE constraints"),
                          ("fks", "foreign keys"), ("checks", "CHECK constraints")):
            if a[key] != b[key]:
                diffs.append("table %s: %s differ\n  SQLite:     %s\n  PostgreSQL: %s"
                             % (t, what, show(a[key]), show(b[key])))
    for kind in ("indexes", "triggers"):
        la, pa = lite[kind], pg[kind]
        for name in sorted(set(la) | set(pa)):
            if name not in pa:
                diffs.append("%s %s: in SQLite only" % (kind[:-1] if kind == "triggers" else "index", name))
            elif name not in la:
                diffs.append("%s %s: in PostgreSQL only" % (kind[:-1] if kind == "triggers" else "index", name))
            elif la[name] != pa[name]:
                diffs.append("%s %s differs\n  SQLite:     %s\n  PostgreSQL: %s"
                             % (kind[:-1] if kind == "triggers" else "index", name,
                                la[name], pa[name]))
    return diffs


def show(v):
    if isinstance(v, set):
        return sorted(v)
    if isinstance(v, tuple) and len(v) == 2 and isinstance(v[0], set):
        return "%s + %d of other forms" % (sorted(v[0]), v[1])
    return v


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pg-uri", help="an existing PostgreSQL database to check "
                    "(default: start one and apply --pg-migrations)")
    ap.add_argument("--sqlite-migrations", default=default_sqlite_dir(),
                    help="default: migrations/sqlite if it exists, else migrations")
    ap.add_argument("--pg-migrations", default=os.path.join(ROOT, "migrations", "postgres"))
    args = ap.parse_args(argv)

    lite = sqlite_schema(args.sqlite_migrations)
    problems = []
    if args.pg_uri:
        pgs = pg_schema(args.pg_uri)
    else:
        with pgserver.PgServer() as pg:
            uri, problems = build_pg(pg, args.pg_migrations)
            pgs = pg_schema(uri)
    diffs = problems + compare(lite, pgs)
    for d in diffs:
        print(d)
    ncols = sum(len(t["columns"]) for t in lite["tables"].values())
    if diffs:
        print("check_schema: %d difference(s) between %s and %s"
              % (len(diffs), args.sqlite_migrations, args.pg_uri or args.pg_migrations))
        return 1
    print("check_schema: %d tables, %d columns, %d indexes, %d triggers: the same in SQLite (%s) "
          "and PostgreSQL (%s)" % (len(lite["tables"]), ncols, len(lite["indexes"]),
                                   len(lite["triggers"]), args.sqlite_migrations,
                                   args.pg_uri or args.pg_migrations))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
