#!/usr/bin/env python3
"""run.py — mutation checks of fitd's error paths (make test-mutants).

    python3 tests/mutants/run.py [--list] [-k NAME] [--keep]

Copies the sources into a scratch folder, builds them once (the same
objects as `make`, warnings not fatal so that a mutant may leave a variable
unused), runs every test the mutants name on the unmutated build (each must
pass there, or the run fails: a test that fails anyway kills nothing), then
for each mutant of tests/mutants/mutants.py: puts the original file back,
applies the mutant's snippets, rebuilds (only that file recompiles), and
runs its tests. A mutant whose tests all pass SURVIVED. Exits 1 when a
mutant survives, does not build, or names a snippet that is not exactly
once in its file; prints which test killed each mutant.
"""
import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True
from mutants import MUTANTS  # noqa: E402

SOURCE_DIRS = ("server", "api", "core")
COPY = ("Makefile", "api", "core", "server", "migrations", "web", "docs", "tests")
MAKE_VARS = ["CFLAGS=-O2 -g -Wno-error"]
TEST_TIMEOUT = 300


def locate(root, basename):
    """The one file named basename under the source folders (find)."""
    out = subprocess.run(["find"] + [os.path.join(root, d) for d in SOURCE_DIRS] + ["-name", basename, "-type", "f"],
                         capture_output=True, text=True, check=True).stdout.split()
    if len(out) != 1:
        raise SystemExit("test-mutants: %s found %d times under %s: %s" % (basename, len(out), "/".join(SOURCE_DIRS),
                                                                             out))
    return out[0]


def edits_of(m):
    return [(m["find"], m["replace"])] + list(m.get("also", []))


def check_snippets(root):
    """Every snippet is in its file exactly once, before anything runs."""
    bad = []
    for m in MUTANTS:
        path = locate(root, m["file"])
        text = open(path).read()
        for find, _ in edits_of(m):
            n = text.count(find)
            if n != 1:
                bad.append("  %s: %s holds the snippet %d times (want 1):\n    %r" % (m["name"], path, n, find))
    if bad:
        print("test-mutants: snippets that no longer match the sources — update tests/mutants/mutants.py:",
              file=sys.stderr)
        print("\n".join(bad), file=sys.stderr)
        raise SystemExit(1)


def sh(cmd, cwd, log, env=None, timeout=None):
    with open(log, "ab") as f:
        f.write(("\n$ %s\n" % " ".join(cmd)).encode())
        f.flush()
        try:
            return subprocess.run(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, env=env, timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            f.write(b"\n(timed out)\n")
            return 124


def targets(tests):
    t = ["build/fitd"]
    if any(kind == "unit" for kind, *_ in tests):
        t.append("build/unit")
    return t


def run_test(scratch, test, log):
    kind, *args = test
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    if kind == "it":
        cmd = [sys.executable, "tests/integration/run.py", "--binary", "./build/fitd"]
        for a in args:
            cmd += ["-k", a]
    elif kind == "unit":
        cmd = ["./build/unit"]
        env["CK_RUN_SUITE"] = args[0]
    else:
        raise SystemExit("test-mutants: unknown test kind %r" % kind)
    return sh(cmd, scratch, log, env=env, timeout=TEST_TIMEOUT)


def describe(test):
    kind, *args = test
    return ("integration -k %s" % " -k ".join(args)) if kind == "it" else "unit suite %s" % args[0]


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--list", action="store_true", help="list the mutants and their tests")
    ap.add_argument("-k", dest="only", default=None, help="only the mutants whose name contains this")
    ap.add_argument("--keep", action="store_true", help="keep the scratch folder")
    a = ap.parse_args()
    mutants = [m for m in MUTANTS if not a.only or a.only in m["name"]]
    if a.list:
        for m in mutants:
            print("%-70s %-16s %s" % (m["name"], m["file"], "; ".join(describe(t) for t in m["tests"])))
        return 0
    if not mutants:
        print("test-mutants: no mutant matches %r" % a.only, file=sys.stderr)
        return 2
    for m in mutants:
        if not m["tests"]:
            raise SystemExit("test-mutants: %s names no test" % m["name"])
    check_snippets(ROOT)

    t0 = time.monotonic()
    scratch = tempfile.mkdtemp(prefix="fitd-mutants-")
    log_dir = os.path.join(ROOT, "build", "mutants")
    shutil.rmtree(log_dir, ignore_errors=True)
    os.makedirs(log_dir)
    print("test-mutants: %d mutants, scratch copy %s, logs %s" % (len(mutants), scratch, log_dir), flush=True)
    try:
        for name in COPY:
            src = os.path.join(ROOT, name)
            dst = os.path.join(scratch, name)
            if os.path.isdir(src):
                shutil.copytree(src, dst, ignore=shutil.ignore_patterns("node_modules", "__pycache__"))
            else:
                shutil.copy2(src, dst)
        # the objects of an earlier `make` here, so that only what differs compiles
        for variant in ("rel",):
            built = os.path.join(ROOT, "build", variant)
            if os.path.isdir(built):
                shutil.copytree(built, os.path.join(scratch, "build", variant))
        all_tests = []
        for m in mutants:
            for t in m["tests"]:
                if t not in all_tests:
                    all_tests.append(t)
        need = sorted({x for m in mutants for x in targets(m["tests"])})
        base_log = os.path.join(log_dir, "baseline.log")
        if sh(["make", "-j2"] + MAKE_VARS + need, scratch, base_log) != 0:
            print("test-mutants: the unmutated sources do not build; see %s" % base_log, file=sys.stderr)
            return 1
        for t in all_tests:
            if run_test(scratch, t, base_log) != 0:
                print("test-mutants: %s fails on the unmutated sources; see %s" % (describe(t), base_log),
                      file=sys.stderr)
                return 1
        print("test-mutants: baseline built and its %d tests pass (%.0f s)" % (len(all_tests), time.monotonic() - t0),
              flush=True)

        rows, failed = [], False
        for i, m in enumerate(mutants, 1):
            start = time.monotonic()
            path = locate(scratch, m["file"])
            original = open(path).read()
            text = original
            for find, replace in edits_of(m):
                if text.count(find) != 1:
                    raise SystemExit("test-mutants: %s: snippet not once in %s: %r" % (m["name"], path, find))
                text = text.replace(find, replace)
            log = os.path.join(log_dir, "%02d.log" % i)
            try:
                with open(path, "w") as f:
                    f.write(text)
                if sh(["make", "-j2"] + MAKE_VARS + targets(m["tests"]), scratch, log) != 0:
                    outcome, by = "DID NOT BUILD", "see %s" % log
                    failed = True
                else:
                    outcome, by = "SURVIVED", "-"
                    for t in m["tests"]:
                        rc = run_test(scratch, t, log)
                        if rc != 0:
                            outcome, by = "killed", describe(t) + (" (timed out)" if rc == 124 else "")
                            break
                    failed |= outcome != "killed"
            finally:
                with open(path, "w") as f:
                    f.write(original)
                # newer than the mutant's object, so the next build recompiles it
                os.utime(path, None)
            rows.append((m["name"], m["file"], outcome, by, time.monotonic() - start))
            print("  %-8s %5.1fs  %-62s %s" % (outcome, rows[-1][4], m["name"], by), flush=True)
        print("\ntest-mutants: %d mutants, %d killed, in %.0f s" % (
            len(rows), sum(r[2] == "killed" for r in rows), time.monotonic() - t0))
        for name, file, outcome, by, _ in rows:
            if outcome != "killed":
                print("  %s: %s (%s)" % (outcome, name, file), file=sys.stderr)
        return 1 if failed else 0
    finally:
        if a.keep:
            print("scratch kept in %s" % scratch)
        else:
            shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
