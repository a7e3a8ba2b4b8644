#!/usr/bin/env python3
"""csv_ingest.py — CSV upload speed end to end, next to NumPy on the same file.

Generates three 60,000 x 785 CSV files (784 features and a label, like MNIST):
  dec4    random decimals of 4 places in [0, 1), "0.5488" (329 MB: the size of
          the file issue 12 names)
  ints    cells 0..255, 81% of them 0 as in MNIST's pixels (about 108 MB)
  floats  random decimals of 9 significant digits in [0, 1)  (about 565 MB)
then, for each file, uploads it to a fresh fitd (fresh database) twice over:
with `curl --data-binary @file` and with `curl -X POST -T file` (which streams
the file; --data-binary first reads it whole into curl's memory), and reports
MB/s end to end (curl's wall time, HTTP receive, parse, statistics and SQLite
writes included), the server's CPU seconds for it (user + system: the
one-core figure on a shared machine) and its peak RSS. The client's own floor
is measured too: each curl command sending the file to a sink that only reads
and discards it. NumPy's loadtxt (and np.fromstring, pandas.read_csv when
present) reads the same file, in the same run, on the same machine.

  /usr/bin/python3 bench/csv_ingest.py [--binary build/fitd] [--baseline OTHER_FITD]
        [--rows 60000] [--runs 3] [--keep DIR] [--only ints|floats] [--fromstring-max-mb 200]
        [--parse-only [--baseline-src OLD_TREE]]

--baseline uploads with a second binary too (e.g. a build of the commit
before), so "before" and "after" come from the same run. --parse-only adds
the CSV reader alone (bench/csv_parse.c, built here against api/; and against
--baseline-src's api/ too): its CPU time, without HTTP, hashing or SQLite. Figures: the best
of --runs (wall and CPU separately; the machine is shared); MB = 10^6 bytes;
ratios to loadtxt: of wall times and of CPU times (the speed-up ratios).
"""
import argparse
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LISTEN_RE = re.compile(r"fitd listening on http://127\.0\.0\.1:(\d+)")
FEATURES = 784


def cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    name = line.split(":", 1)[1].strip()
                    break
            else:
                name = "unknown CPU"
        with open("/proc/cpuinfo") as f:
            text = f.read()
        fam = re.search(r"^cpu family\s*:\s*(\d+)", text, re.M)
        model = re.search(r"^model\s*:\s*(\d+)", text, re.M)
        if fam and model:
            name += " (family %s model %s)" % (fam.group(1), model.group(1))
        return "%s, %d CPUs" % (name, os.cpu_count())
    except OSError:
        return "unknown CPU"


def generate(path, kind, rows, seed=1):
    """Writes the CSV in blocks of rows; returns its size in bytes."""
    rng = random.Random(seed)
    ints = [str(i) for i in range(256)]
    with open(path, "w") as f:
        f.write(",".join("p%d" % i for i in range(FEATURES)) + ",label\n")
        block = []
        for r in range(rows):
            if kind == "dec4":
                cells = ["0.%04d" % rng.randrange(10000) for _ in range(FEATURES)]
            elif kind == "ints":
                # MNIST: about 81% of the pixels are 0, the rest spread over 1..255
                cells = [ints[rng.randrange(1, 256)] if rng.random() < 0.19 else "0" for _ in range(FEATURES)]
            else:
                cells = ["0.%09d" % rng.randrange(1000000000) for _ in range(FEATURES)]
            cells.append(ints[rng.randrange(10)])
            block.append(",".join(cells))
            if len(block) == 500:
                f.write("\n".join(block) + "\n")
                block = []
        if block:
            f.write("\n".join(block) + "\n")
    return os.path.getsize(path)


class Server:
    def __init__(self, binary, workdir):
        self.dir = tempfile.mkdtemp(dir=workdir)
        self.log = open(os.path.join(self.dir, "out"), "wb")
        self.proc = subprocess.Popen([binary, "--port", "0", "--db", os.path.join(self.dir, "fitd.db"),
                                      "--workers", "1", "--share-dir", ROOT],
                                     stdout=self.log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        deadline = time.monotonic() + 30
        while True:
            with open(os.path.join(self.dir, "out")) as f:
                m = LISTEN_RE.search(f.read())
            if m:
                self.port = int(m.group(1))
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fitd did not start: " + open(os.path.join(self.dir, "out")).read())
            time.sleep(0.05)

    def peak_rss_mb(self):
        with open("/proc/%d/status" % self.proc.pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
        return float("nan")

    def cpu_seconds(self):
        """user + system CPU time of the server so far"""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rpartition(")")[2].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


CURL = {"data-binary": lambda path: ["--data-binary", "@" + path],
        "stream": lambda path: ["-X", "POST", "-T", path]}

SINK = r"""
import socket, sys
s = socket.socket()
s.bind(("127.0.0.1", 0))
s.listen(1)
print(s.getsockname()[1], flush=True)
c, _ = s.accept()
buf = bytearray(1 << 20)
head = b""
while b"\r\n\r\n" not in head:
    head += c.recv(65536)
h, _, rest = head.partition(b"\r\n\r\n")
length = int([l.split(b":")[1] for l in h.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
if b"100-continue" in h.lower():
    c.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
left = length - len(rest)
while left > 0:
    n = c.recv_into(buf)
    if not n:
        break
    left -= n
c.sendall(b"HTTP/1.1 201 Created\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
c.close()
"""


def curl(port, path, mode):
    """Wall seconds of one curl upload of path; raises unless it answers 201."""
    t0 = time.perf_counter()
    out = subprocess.run(["curl", "-sS", "-o", "-", "-w", "\n%{http_code}"] + CURL[mode](path) +
                         ["-H", "Content-Type: text/csv",
                          "http://127.0.0.1:%d/v1/datasets?name=bench&label=label" % port],
                         capture_output=True, check=True)
    secs = time.perf_counter() - t0
    body, _, code = out.stdout.decode().rpartition("\n")
    if code != "201":
        raise RuntimeError("upload answered %s: %s" % (code, body[:300]))
    return secs


def client_floor(path, mode):
    """Wall seconds of curl sending path to a sink that reads and discards it."""
    sink = subprocess.Popen([sys.executable, "-c", SINK], stdout=subprocess.PIPE, text=True)
    try:
        return curl(int(sink.stdout.readline()), path, mode)
    finally:
        sink.wait(timeout=30)


def upload(binary, path, workdir, mode):
    """Wall seconds of one upload to a fresh server, the server's CPU seconds
    for it, and its peak RSS in MB."""
    srv = Server(binary, workdir)
    try:
        time.sleep(0.2)
        cpu0 = srv.cpu_seconds()
        secs = curl(srv.port, path, mode)
        return secs, srv.cpu_seconds() - cpu0, srv.peak_rss_mb()
    finally:
        srv.stop()


def build_parser(src, out):
    """bench/csv_parse.c against the api/ sources of the tree src (this one, or
    an older checkout for a before/after pair)."""
    import glob
    cflags = subprocess.run(["pkg-config", "--cflags", "libcjson"], capture_output=True, text=True).stdout.split()
    libs = subprocess.run(["pkg-config", "--libs", "libcjson"], capture_output=True, text=True).stdout.split()
    srcs = [os.path.join(ROOT, "bench", "csv_parse.c")]
    for pat in ("api_csv*.c", "api_float*.c", "api_err.c", "api_alloc.c", "api_json.c"):
        srcs += sorted(glob.glob(os.path.join(src, "api", pat)))
    subprocess.run(["cc", "-O2", "-std=c11", "-D_GNU_SOURCE", "-I" + src] + cflags + ["-o", out] + srcs + libs +
                   ["-lm"], check=True)


def parse_only(parser, path):
    """CPU seconds of the CSV reader alone on path (best of 3 in-process passes)."""
    out = subprocess.run([parser, path], capture_output=True, text=True, check=True).stdout.split()
    return float(out[0])


def best(fn, runs):
    """the best (wall, cpu) of runs calls of fn, which returns wall seconds"""
    out = []
    for _ in range(runs):
        c0 = time.process_time()
        wall = fn()
        out.append((wall, time.process_time() - c0))
    return (min(w for w, _ in out), min(c for _, c in out))


def numpy_figures(path, runs, fromstring_max_mb):
    out = []
    try:
        import numpy as np
    except ImportError:
        return [("numpy", "not installed")]

    def loadtxt():
        t0 = time.perf_counter()
        a = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
        assert a.shape[1] == FEATURES + 1
        return time.perf_counter() - t0

    def fromstring():
        t0 = time.perf_counter()
        with open(path, "rb") as f:
            f.readline()
            text = f.read().replace(b"\n", b",").decode()
        a = np.fromstring(text, dtype=np.float32, sep=",")
        assert a.size % (FEATURES + 1) == 0
        return time.perf_counter() - t0

    out.append(("numpy %s loadtxt" % np.__version__, best(loadtxt, runs)))
    import warnings
    if os.path.getsize(path) <= fromstring_max_mb * 1e6:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append(("numpy fromstring(sep=',')", best(fromstring, runs)))
    else:
        out.append(("numpy fromstring(sep=',')", "skipped (--fromstring-max-mb)"))
    try:
        import pandas as pd

        def read_csv():
            t0 = time.perf_counter()
            pd.read_csv(path, dtype="float32")
            return time.perf_counter() - t0
        out.append(("pandas %s read_csv" % pd.__version__, best(read_csv, runs)))
    except ImportError:
        out.append(("pandas", "not installed"))
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--binary", default=os.path.join(ROOT, "build", "fitd"))
    ap.add_argument("--baseline", help="a second fitd binary to upload with (before/after in one run)")
    ap.add_argument("--rows", type=int, default=60000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--keep", help="folder for the generated files (kept and reused)")
    ap.add_argument("--only", choices=("dec4", "ints", "floats"))
    ap.add_argument("--parse-only", action="store_true",
                    help="also the CSV reader alone, in process (bench/csv_parse.c), MB per CPU-second")
    ap.add_argument("--baseline-src", help="with --parse-only: the tree of the baseline (its api/ sources)")
    ap.add_argument("--fromstring-max-mb", type=float, default=200,
                    help="np.fromstring is slow: only on files up to this size")
    args = ap.parse_args()

    workdir = args.keep or tempfile.mkdtemp(prefix="csv_ingest.")
    os.makedirs(workdir, exist_ok=True)
    print("CPU: %s" % cpu_name())
    print("rows %d x %d features + label; best of %d runs; MB = 10^6 bytes" % (args.rows, FEATURES, args.runs))
    binaries = [("fitd", args.binary)] + ([("fitd baseline", args.baseline)] if args.baseline else [])
    parsers = []
    if args.parse_only:
        trees = [("reader alone", ROOT)] + ([("reader alone, baseline", args.baseline_src)] if args.baseline_src else [])
        for label, tree in trees:
            out = os.path.join(workdir, "csv_parse_%d" % len(parsers))
            build_parser(tree, out)
            parsers.append((label, out))
    try:
        for kind in ("dec4", "ints", "floats"):
            if args.only and kind != args.only:
                continue
            path = os.path.join(workdir, "%s_%d.csv" % (kind, args.rows))
            if not os.path.exists(path):
                generate(path, kind, args.rows)
            size = os.path.getsize(path)
            print("\n%s: %s, %.1f MB" % (kind, os.path.basename(path), size / 1e6))
            rows = []
            for mode, flag in (("data-binary", "--data-binary"), ("stream", "-T")):
                for label, binary in binaries:
                    results = [upload(binary, path, workdir, mode) for _ in range(args.runs)]
                    secs = (min(r[0] for r in results), min(r[1] for r in results))
                    rss = max(r[2] for r in results)
                    rows.append(("%s (curl %s)" % (label, flag), secs, "server peak RSS %.0f MB" % rss))
                wall = min(client_floor(path, mode) for _ in range(args.runs))
                rows.append(("curl %s to a sink" % flag, (wall, float("nan")), "the client's own floor"))
            for label, parser in parsers:
                cpu = parse_only(parser, path)
                rows.append((label + " (in process)", (cpu, cpu), "CPU time, no HTTP/SQLite"))
            for label, secs in numpy_figures(path, args.runs, args.fromstring_max_mb):
                rows.append((label, secs, ""))
            ref = next((s for l, s, _ in rows if "loadtxt" in l and not isinstance(s, str)), None)
            print("  %-40s %8s %9s %8s %9s %12s %12s" % ("", "wall s", "MB/s", "CPU s", "MB/CPU-s",
                                                          "wall/loadtxt", "CPU/loadtxt"))
            for label, secs, note in rows:
                if isinstance(secs, str):
                    print("  %-40s %s" % (label, secs))
                    continue
                in_process = "in process" in label
                wall_ratio = "%5.2fx" % (ref[0] / secs[0]) if ref and not in_process else "-"
                no_cpu = secs[1] != secs[1]  # NaN: not measured
                cpu_ratio = "-" if no_cpu else "%5.2fx" % (ref[1] / secs[1]) if ref else ""
                print("  %-40s %8s %9s %8s %9s %12s %12s  %s" % (
                    label, "-" if in_process else "%.2f" % secs[0],
                    "-" if in_process else "%.1f" % (size / 1e6 / secs[0]),
                    "-" if no_cpu else "%.2f" % secs[1], "-" if no_cpu else "%.1f" % (size / 1e6 / secs[1]),
                    wall_ratio, cpu_ratio, note))
            sys.stdout.flush()
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
