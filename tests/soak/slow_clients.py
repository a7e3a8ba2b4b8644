#!/usr/bin/env python3
"""slow_clients.py — slow and broken clients against the real fitd.

    python3 tests/soak/slow_clients.py [--binary build/fitd] [--quick]
        [--connections 500] [--seconds 20] [--uploads 24]

1. Slowloris: CONNECTIONS sockets send request headers one byte at a time
   (a round over every socket every ~100 ms, the headers never ending) for
   SECONDS, from a separate process, while this process asks GET /healthz on a
   fresh connection every 20 ms. Every /healthz must answer 200; the
   median, p99 and maximum latency are reported as figures (not checked:
   latency belongs to benchmarks, and one CPU-quota stall would fail it).
2. Idle connections close at the configured timeout (fitd runs with
   --timeout 2 here): a connection that sends nothing, one that sent half a
   request line, and a keep-alive connection after a request, each closed by
   the server between 1.5 and 4 s.
3. A client that vanishes mid-CSV-upload (an RST after ~10 MB of a body
   announced as 200 MB, so that at least one 4 MiB block was committed under
   an invisible dataset row) leaves no dataset row and no chunk behind (the
   sqlite file, read-only), no socket left open, descriptors and RSS that
   reach a plateau instead of growing (UPLOADS times, 16 or more; 24 by
   default, --quick too), and the
   server keeps working (a CSV upload then succeeds).

Exit status 0 when every check passes.
"""
import argparse
import multiprocessing
import os
import socket
import sys
import threading
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fitdlib  # noqa: E402
from fitdlib import Fitd, Report, connect, db_ro, reset  # noqa: E402


# ---- 1. slowloris --------------------------------------------------------------------------------

def slowloris(port, n, seconds, ready, stats):
    """Runs in its own process: n connections, one header byte per socket
    per round, rounds ~100 ms apart. stats[0] = connections opened,
    stats[1] = still open at the end, stats[2] = bytes sent."""
    fitdlib.raise_fd_limit()
    socks = []
    for i in range(n):
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setblocking(False)
            socks.append([s, b"GET /healthz HTTP/1.1\r\nHost: slow\r\n", 0, i])
        except OSError:
            break
    stats[0] = len(socks)
    ready.set()
    deadline = time.monotonic() + seconds
    sent = 0
    while time.monotonic() < deadline:
        t0 = time.monotonic()
        for entry in socks:
            s, data, pos, i = entry
            if s is None:
                continue
            if pos >= len(data):
                # the headers never end: one more header line, byte by byte
                entry[1] = data = data + b"X-Slow-%d: %d\r\n" % (i, pos)
            try:
                s.send(data[pos:pos + 1])
                entry[2] = pos + 1
                sent += 1
            except BlockingIOError:
                pass
            except OSError:
                s.close()
                entry[0] = None
        time.sleep(max(0.0, 0.1 - (time.monotonic() - t0)))
    open_ = 0
    for entry in socks:
        s = entry[0]
        if s is None:
            continue
        try:  # a server that closed us reads as EOF
            data = s.recv(1)
            if data == b"":
                s.close()
                continue
        except BlockingIOError:
            pass
        except OSError:
            continue
        open_ += 1
        s.close()
    stats[1] = open_
    stats[2] = sent


def healthz_once(port):
    """Latency of one GET /healthz on a new connection (connect included)."""
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: probe\r\nConnection: close\r\n\r\n")
        data = b""
        while True:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
            if b"\r\n\r\n" in data and data.endswith(b"}"):
                break
    finally:
        s.close()
    ok = data.startswith(b"HTTP/1.1 200")
    return ok, time.perf_counter() - t0


def check_slowloris(rep, srv, n, seconds):
    print("slowloris: %d connections sending headers byte by byte for %d s" % (n, seconds), flush=True)
    ready = multiprocessing.Event()
    stats = multiprocessing.Array("l", 3)
    p = multiprocessing.Process(target=slowloris, args=(srv.port, n, seconds, ready, stats))
    p.start()
    ready.wait(30)
    time.sleep(0.3)  # the first bytes are in
    lat, bad = [], 0
    deadline = time.monotonic() + seconds - 0.8
    while time.monotonic() < deadline:
        try:
            ok, t = healthz_once(srv.port)
        except OSError:
            ok, t = False, 5.0
        lat.append(t)
        bad += not ok
        time.sleep(0.02)
    p.join(seconds + 30)
    lat.sort()
    mx = lat[-1] * 1000 if lat else float("nan")
    p99 = lat[int(len(lat) * 0.99) - 1] * 1000 if lat else float("nan")
    med = lat[len(lat) // 2] * 1000 if lat else float("nan")
    rep.figure("slowloris connections opened / still open at the end", "%d / %d" % (stats[0], stats[1]))
    rep.figure("slowloris header bytes sent", stats[2])
    rep.figure("/healthz under slowloris: probes, median, p99, max",
               "%d, %.2f ms, %.2f ms, %.2f ms" % (len(lat), med, p99, mx))
    rep.check("slowloris: all %d connections opened" % n, stats[0] == n, "%d" % stats[0])
    rep.check("/healthz answered 200 every time under slowloris", bad == 0 and lat, "%d failures" % bad)
    rep.check("server alive after slowloris", srv.running() and srv.get("/healthz").status == 200)
    return mx


# ---- 2. idle timeout -------------------------------------------------------------------------------

def check_idle_timeout_parallel(rep, srv, timeout_s):
    socks = [connect(srv.port), connect(srv.port), connect(srv.port)]
    socks[1].sendall(b"GET /heal")
    socks[2].sendall(b"GET /healthz HTTP/1.1\r\nHost: idle\r\n\r\n")
    t0 = time.monotonic()
    closed = [None, None, None]
    for s in socks:
        s.setblocking(False)
    seen_reply = False
    while time.monotonic() - t0 < timeout_s * 5 and None in closed:
        for i, s in enumerate(socks):
            if closed[i] is not None:
                continue
            try:
                data = s.recv(65536)
                if data == b"":
                    closed[i] = time.monotonic() - t0
                elif i == 2:
                    seen_reply = True
            except BlockingIOError:
                pass
            except ConnectionResetError:
                closed[i] = time.monotonic() - t0
        time.sleep(0.01)
    for s in socks:
        s.close()
    names = ("silent", "half a request line", "keep-alive after a request")
    for name, t in zip(names, closed):
        ok = t is not None and timeout_s * 0.75 <= t <= timeout_s + 2
        rep.check("idle connection (%s) closed at --timeout %d" % (name, timeout_s), ok,
                  "closed after %s" % ("%.2f s" % t if t is not None else "never"))
    rep.check("the keep-alive connection got its reply first", seen_reply)
    return closed


# ---- 3. vanishing uploads -------------------------------------------------------------------------

def csv_rows(n_rows, features=8, start=0):
    row = ",".join("0.%d" % j for j in range(features))
    return "".join("%s,%d\n" % (row, (start + i) % 3) for i in range(n_rows)).encode()


def vanish_once(srv, name, send_bytes, announce=200 << 20):
    s = connect(srv.port)
    head = ("POST /v1/datasets?name=%s&header=false HTTP/1.1\r\nHost: vanish\r\nContent-Type: text/csv\r\n"
            "Content-Length: %d\r\n\r\n" % (name, announce)).encode()
    s.sendall(head)
    block = csv_rows(5000)
    sent = 0
    while sent < send_bytes:
        s.sendall(block)
        sent += len(block)
    return s, sent


def uploading_rows(db, name):
    with db_ro(db) as c:
        rows = c.execute("SELECT id, state FROM datasets WHERE name = ?", (name,)).fetchall()
        chunks = c.execute("SELECT count(*) FROM dataset_chunks WHERE dataset_id NOT IN "
                           "(SELECT id FROM datasets WHERE state = 'ready')").fetchone()[0]
    return rows, chunks


def check_vanish(rep, srv, uploads):
    print("vanishing uploads: %d clients reset the connection mid-CSV" % uploads, flush=True)
    seen_partial = 0
    leftovers = []
    rss, fds, sockets = [], [], []
    # Every HTTP thread opens its database connection (2 descriptors) on
    # its first request: concurrent reads make them all do it first, so that
    # the plateau below is not a late thread's first request
    warm = []
    threads = [threading.Thread(target=lambda: warm.append(srv.get("/v1/datasets").status)) for _ in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    base_sockets = srv.fd_kinds().get("socket", 0)
    for i in range(uploads):
        name = "vanish-%d" % i
        s, sent = vanish_once(srv, name, 10 << 20)
        # the first 4 MiB block is committed under an invisible row
        try:
            fitdlib.wait_for(lambda: uploading_rows(srv.db, name)[0], 10, "the partial upload's row")
            seen_partial += 1
        except AssertionError:
            pass
        if i % 2 == 0:
            reset(s)       # RST
        else:
            s.close()      # FIN mid-body
        try:
            fitdlib.wait_for(lambda: not uploading_rows(srv.db, name)[0], 15, "the partial row to go")
        except AssertionError:
            pass
        rows, chunks = uploading_rows(srv.db, name)
        leftovers.append((name, rows, chunks))
        try:
            fitdlib.wait_for(lambda: srv.fd_kinds().get("socket", 0) <= base_sockets, 5, "the socket to close")
        except AssertionError:
            pass
        kinds = srv.fd_kinds()
        rss.append(srv.rss_kb())
        fds.append(sum(kinds.values()))
        sockets.append(kinds.get("socket", 0))
    bad = [(n, r, c) for n, r, c in leftovers if r or c]
    rep.check("a partial upload was visible in the database before the client vanished",
              seen_partial == uploads, "%d of %d" % (seen_partial, uploads))
    rep.check("vanished uploads leave no dataset row and no chunk", not bad, repr(bad[:3]))
    with db_ro(srv.db) as c:
        n_ds = c.execute("SELECT count(*) FROM datasets").fetchone()[0]
    rep.check("no dataset row at all after the vanished uploads", n_ds == 0, "%d rows" % n_ds)
    r = srv.get("/v1/datasets")
    rep.check("GET /v1/datasets lists none", r.status == 200 and r.json["total"] == 0, repr(r)[:200])
    # the server keeps working: a real upload
    body = b"a,b,c\n" + csv_rows(3000, features=2)
    r = srv.post("/v1/datasets?name=after-vanish&label=c", body, headers={"Content-Type": "text/csv"})
    rep.check("a CSV upload succeeds after the vanished ones", r.status == 201 and r.json["n_samples"] == 3000,
              repr(r)[:200])
    rep.figure("fitd RSS after each vanished upload (KiB)", " ".join(str(x) for x in rss))
    rep.figure("fitd open descriptors after each vanished upload", " ".join(str(x) for x in fds))
    rep.check("no socket left open by a vanished upload", max(sockets) <= base_sockets,
              "sockets %d at the start, %s after each" % (base_sockets, sockets))
    # The 4 HTTP threads (--http-threads 4, whatever the cores) opened their
    # database connections before the uploads; an upload's 4 MiB blocks are
    # mapped and unmapped (fitd sets M_MMAP_THRESHOLD). What a thread keeps
    # after its first upload (its SQLite page cache, ~3 MiB) is one step of
    # RSS per thread, whenever its first upload comes: at most 4 steps of
    # more than 1 MiB, and between them less than 2 MiB of growth over the
    # last quarter of the uploads. A leak of a block or of the body per upload
    # is a step at every upload; a small one is growth between steps.
    # 16 uploads at least (main() refuses fewer): the check never silently skips
    tail = uploads // 4
    deltas = [b - a for a, b in zip(rss, rss[1:])]
    steps = [i + 1 for i, d in enumerate(deltas) if d > 1024]
    creep = sum(d for d in deltas[-(tail - 1):] if d <= 1024)
    rep.check("descriptors and RSS reach a plateau (descriptors flat over the last %d uploads; at most 4 "
              "first-use steps of RSS, < 2 MiB between them over the last %d)" % (tail, tail),
              fds[-1] <= fds[-tail] and len(steps) <= 4 and creep < 2048,
              "descriptors %d -> %d, RSS steps after uploads %s, RSS %+d KiB between steps over the last %d" %
              (fds[-tail], fds[-1], steps, creep, tail))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=fitdlib.BINARY)
    ap.add_argument("--quick", action="store_true", help="5 s of slowloris, 24 vanishing uploads")
    ap.add_argument("--connections", type=int, default=500)
    ap.add_argument("--seconds", type=int, default=None)
    ap.add_argument("--uploads", type=int, default=None)
    a = ap.parse_args()
    seconds = a.seconds or (5 if a.quick else 20)
    uploads = a.uploads or 24
    if uploads < 16:
        ap.error("--uploads must be 16 or more: the RSS and descriptor plateau needs them")
    fitdlib.raise_fd_limit()
    rep = Report("slow and broken clients")
    try:
        d = fitdlib.tmpdir("slow")
        srv = Fitd(os.path.join(d, "fitd.db"), binary=a.binary, args=["--timeout", "2", "--http-threads", "4"]).start()
        check_slowloris(rep, srv, a.connections, seconds)
        check_idle_timeout_parallel(rep, srv, 2)
        check_vanish(rep, srv, uploads)
        code = srv.stop()
        rep.check("SIGTERM: exit 0", code == 0, "exit %s" % code)
    except Exception as e:  # a crash of the suite itself is a failure too
        import traceback
        traceback.print_exc()
        rep.check("suite ran to the end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        fitdlib.cleanup_all()
    print(rep.summary())
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
