#!/usr/bin/env python3
"""run.py — fitd's HTTP integration tests against the real binary.

    python3 tests/integration/run.py --binary ./build/fitd [-k PATTERN] [--slow-ok] [-v] [--backend postgres]

Every test_*.py next to this file is loaded (unittest). -k keeps the tests
whose full name (module.Class.test_name) contains PATTERN (shell wildcards
allowed; repeat -k for several). --slow-ok widens every timeout five times,
for ThreadSanitizer builds. A failing test prints its traceback and the
logs of the fitd processes it started. Exits 1 when any test fails.
--backend postgres runs the same tests with each server on a fresh database
of one real PostgreSQL 15 (tests/pg/pgserver.py); tests of SQLite's own
files are skipped there (harness.sqlite_only).
"""
import argparse
import glob
import importlib
import os
import shutil
import signal
import sys
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.dont_write_bytecode = True  # no __pycache__ in the source tree

import harness  # noqa: E402


class Result(unittest.TestResult):
    """Prints one line per test, and the server logs of each failure."""

    def __init__(self, stream, verbose):
        super().__init__()
        self.stream = stream
        self.verbose = verbose
        self.mark = 0           # servers made before the current test (or class)
        self.started = {}
        self.lines = []         # (name, outcome, seconds)

    def write(self, text):
        self.stream.write(text)
        self.stream.flush()

    def startTest(self, test):
        super().startTest(test)
        self.started[test.id()] = time.monotonic()
        if self.verbose:
            self.write("%s ... " % test.id())

    def stopTest(self, test):
        super().stopTest(test)
        self.mark = len(harness.ALL_SERVERS)

    def elapsed(self, test):
        return time.monotonic() - self.started.get(test.id(), time.monotonic())

    def outcome(self, test, word):
        secs = self.elapsed(test)
        self.lines.append((test.id(), word, secs))
        if self.verbose:
            self.write("%s (%.1fs)\n" % (word, secs))
        else:
            self.write("%-6s %5.1fs  %s\n" % (word, secs, test.id()))

    def report(self, test, err, word):
        servers = []
        if isinstance(test, harness.FitdCase):
            servers.extend(test.all_servers())
        for s in harness.ALL_SERVERS[self.mark:]:
            if s not in servers:
                servers.append(s)
        text = "".join(traceback.format_exception(*err))
        self.write("\n" + "=" * 78 + "\n%s: %s\n" % (word, test.id()) + "-" * 78 + "\n" + text)
        for s in servers:
            log = s.log_text(tail=80)
            if log:
                self.write(log + "\n")
        self.write("=" * 78 + "\n")

    def addSuccess(self, test):
        super().addSuccess(test)
        self.outcome(test, "ok")

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcome(test, "FAIL")
        self.report(test, err, "FAIL")

    def addError(self, test, err):
        super().addError(test, err)
        if not hasattr(test, "id") or test.id() not in self.started:
            self.started[test.id()] = time.monotonic()
        self.outcome(test, "ERROR")
        self.report(test, err, "ERROR")

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcome(test, "skip")

    def addSubTest(self, test, subtest, err):
        super().addSubTest(test, subtest, err)
        if err is not None:
            word = "FAIL" if issubclass(err[0], test.failureException) else "ERROR"
            self.started.setdefault(subtest.id(), self.started.get(test.id(), time.monotonic()))
            self.outcome(subtest, word)
            self.report(subtest, err, word)


def load(patterns):
    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = [p if any(c in p for c in "*?[") else "*%s*" % p for p in patterns]
    suite = unittest.TestSuite()
    for path in sorted(glob.glob(os.path.join(HERE, "test_*.py"))):
        module = importlib.import_module(os.path.splitext(os.path.basename(path))[0])
        suite.addTests(loader.loadTestsFromModule(module))
    return suite


def count(suite):
    return suite.countTestCases()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(harness.ROOT, "build", "fitd"), help="the fitd binary")
    ap.add_argument("--slow-ok", action="store_true", help="widen every timeout 5x (sanitizer builds)")
    ap.add_argument("-k", dest="patterns", action="append", default=[], metavar="PATTERN",
                    help="run only tests whose name contains PATTERN (repeatable)")
    ap.add_argument("-v", "--verbose", action="store_true")
    ap.add_argument("--keep", action="store_true", help="keep the temporary folders (databases, logs)")
    ap.add_argument("--list", action="store_true", help="list the tests and exit")
    ap.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite",
                    help="postgres: every server gets a fresh database of one real PostgreSQL 15 started for the run")
    args = ap.parse_args()
    # A runner stopped with SIGTERM (a CI timeout) still stops its servers.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(143))

    binary = os.path.abspath(args.binary)
    if not os.access(binary, os.X_OK):
        print("run.py: %s is not an executable (build it: make build/fitd)" % binary, file=sys.stderr)
        return 2
    harness.Config.binary = binary
    harness.Config.slow = args.slow_ok
    harness.Config.scale = 5.0 if args.slow_ok else 1.0
    harness.Config.verbose = args.verbose

    suite = load(args.patterns)
    if args.list:
        for group in iter_tests(suite):
            print(group.id())
        return 0
    n = count(suite)
    if n == 0:
        print("run.py: no test matches %s" % " ".join(args.patterns), file=sys.stderr)
        return 2
    if args.backend == "postgres":
        harness.start_postgres()
    print("fitd integration tests: %d tests against %s on %s%s" % (n, binary, args.backend,
                                                                   " (slow: timeouts x5)" if args.slow_ok else ""))
    start = time.monotonic()
    result = Result(sys.stdout, args.verbose)
    try:
        suite.run(result)
    finally:
        for s in harness.ALL_SERVERS:
            s.cleanup()
        harness.stop_postgres()
    wall = time.monotonic() - start

    bad = [(name, word) for name, word, _ in result.lines if word in ("FAIL", "ERROR")]
    passed = sum(1 for _, word, _ in result.lines if word == "ok")
    skipped = sum(1 for _, word, _ in result.lines if word == "skip")
    print("\n" + "-" * 78)
    slowest = sorted(result.lines, key=lambda l: -l[2])[:5]
    print("slowest: " + ", ".join("%s %.1fs" % (name.split(".", 1)[-1], s) for name, _, s in slowest))
    print("%d passed, %d failed, %d skipped in %.1f s" % (passed, len(bad), skipped, wall))
    for name, word in bad:
        print("  %s %s" % (word, name))
    if harness.Config.tmp_root:
        if bad or args.keep:
            print("logs and databases kept in %s" % harness.Config.tmp_root)
        else:
            shutil.rmtree(harness.Config.tmp_root, ignore_errors=True)
    return 1 if bad or not result.wasSuccessful() else 0


def iter_tests(suite):
    for t in suite:
        if isinstance(t, unittest.TestSuite):
            yield from iter_tests(t)
        else:
            yield t


if __name__ == "__main__":
    sys.exit(main())
