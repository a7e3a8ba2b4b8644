#!/usr/bin/env python3
"""disk_full.py — a full disk and a read-only database under a live fitd.

    python3 tests/soak/disk_full.py [--binary build/fitd] [--mb 32]

Needs root for the loop mount and chattr; without them only part 3 runs.

1. Disk full: the database lives on a small ext4 filesystem (truncate,
   mkfs.ext4 -m 0, mount -o loop; unmounted and removed however the run
   ends). A long job trains (commits every 100 ms) while a filler file takes
   every free block. Then: writes (datasets, models, jobs, stored
   predictions) answer 503 with a message that says the disk is full — never
   a 500, never a hang; reads (lists, items, history, weights, predict with
   ?store=false, /healthz) keep answering 200; the training job's commits
   fail and are retried. The filler is removed: writes succeed again, the job
   commits again; it is then cancelled and its history is exactly 1..epoch.
   SIGTERM exits 0, integrity_check is ok, and no refused write left a row.
2. Read-only database: chattr +i on the database and its WAL (root cannot
   write them; open descriptors included): writes answer 503 with a clear
   message, reads keep working; chattr -i: writes succeed again (SQLite opens
   a file it cannot write read-only, silently: such a connection must not
   stay so). Then fitd is
   started on a read-only mount (mount -o remount,ro): it must either serve
   reads with 503 for writes or refuse to start with a clear message (which
   of the two is reported); when it serves, the mount goes back to rw and
   writes and a job must succeed without a restart. Last, a fresh fitd whose
   HTTP threads first read while the files are immutable: once writable,
   concurrent writes must all succeed.
3. A file-size limit (RLIMIT_FSIZE, set on the running fitd with prlimit;
   fitd ignores SIGXFSZ): writes answer 503, the process survives, reads work;
   the limit lifted, writes succeed.

Exit status 0 when every check passes.
"""
import argparse
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
import traceback

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fitdlib  # noqa: E402
from fitdlib import Fitd, Report, db_snapshot, integrity  # noqa: E402

MOUNTS = []
IMMUTABLE = []


def sh(*cmd, check=True):
    r = subprocess.run(cmd, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("%s: %s" % (" ".join(cmd), r.stderr.strip()))
    return r


def cleanup():
    for f in IMMUTABLE:
        sh("chattr", "-i", f, check=False)
    del IMMUTABLE[:]
    fitdlib.cleanup_all_procs()
    for mnt in reversed(MOUNTS):
        for _ in range(20):
            if sh("umount", mnt, check=False).returncode == 0 or not os.path.ismount(mnt):
                break
            time.sleep(0.2)
    del MOUNTS[:]


def loop_fs(d, mb):
    img, mnt = os.path.join(d, "disk.img"), os.path.join(d, "mnt")
    os.makedirs(mnt)
    sh("truncate", "-s", "%dM" % mb, img)
    sh("mkfs.ext4", "-q", "-F", "-m", "0", img)
    sh("mount", "-o", "loop", img, mnt)
    MOUNTS.append(mnt)
    return mnt


def fill(path):
    """Takes every free block; returns bytes written."""
    n = 0
    with open(path, "wb", buffering=0) as f:
        for size in (1 << 20, 64 << 10, 4 << 10, 512):
            block = b"\0" * size
            while True:
                try:
                    f.write(block)
                    n += size
                except OSError:
                    break
        try:
            os.fsync(f.fileno())
        except OSError:
            pass
    return n


def small_dataset(i):
    x, y = fitdlib.blobs(n=300, seed=100 + i)
    return {"name": "while-full-%d" % i, "x": x, "y": y}


def try_writes(srv, model_id, tag, rounds=60):
    """Writes until one is refused. Returns (list of (what, status, body)), first refusal or None)."""
    results = []
    for i in range(rounds):
        for what, method, path, body in (
                ("dataset", "POST", "/v1/datasets", small_dataset(i)),
                ("model", "POST", "/v1/models", fitdlib.tutorial_model()),
                ("stored prediction", "POST", "/v1/models/%d/predict" % model_id,
                 {"instances": [[0.1, 0.2, 0.3, 0.4]] * 50})):
            try:
                r = srv.request(method, path, body, timeout=30)
                results.append((what, r.status, r.body[:300]))
            except OSError as e:
                results.append((what, "error", repr(e)))
        refused = [x for x in results if x[1] != 201 and x[1] != 200]
        if refused:
            return results, refused[0]
    return results, None


def reads_work(srv, model_id, dataset_id, job_id):
    paths = ["/healthz", "/v1/models", "/v1/datasets", "/v1/jobs", "/v1/models/%d" % model_id,
             "/v1/datasets/%d" % dataset_id, "/v1/jobs/%d" % job_id, "/v1/jobs/%d/history" % job_id,
             "/v1/models/%d/weights" % model_id, "/v1/models/%d/predictions" % model_id, "/metrics"]
    bad = []
    for p in paths:
        try:
            r = srv.get(p, timeout=30)
            if r.status != 200:
                bad.append((p, r.status, r.body[:120]))
        except OSError as e:
            bad.append((p, repr(e)))
    try:
        r = srv.post("/v1/models/%d/predict?store=false" % model_id, {"instances": [[0.1, 0.2, 0.3, 0.4]]})
        if r.status != 200:
            bad.append(("predict ?store=false", r.status, r.body[:120]))
    except OSError as e:
        bad.append(("predict ?store=false", repr(e)))
    return bad


def refusal_ok(refused, words):
    """A 503 whose body is the error shape with a message naming the cause."""
    if not refused or refused[1] != 503:
        return False
    try:
        import json
        e = json.loads(refused[2])["error"]
    except (ValueError, KeyError, TypeError):
        return False
    return e.get("code") == "unavailable" and any(w in e.get("message", "").lower() for w in words)


def job_epoch(srv, job_id):
    return srv.get("/v1/jobs/%d" % job_id).json["epoch"]


def setup(srv):
    x, y = fitdlib.blobs(n=1000)
    ds = srv.post("/v1/datasets", {"name": "train", "x": x, "y": y}).json["id"]
    m = srv.post("/v1/models", fitdlib.tutorial_model()).json["id"]
    long_model = srv.post("/v1/models", fitdlib.tutorial_model()).json["id"]
    job = srv.post("/v1/jobs", {"model_id": long_model, "dataset_id": ds, "epochs": 1000000,
                                "batch_size": 8}).json["id"]
    fitdlib.wait_for(lambda: job_epoch(srv, job) > 3, 30, "the long job to commit epochs")
    return ds, m, job


def count_rows(db_path, d):
    conn = db_snapshot(db_path, os.path.join(d, "snap"))
    try:
        ok, detail = integrity(conn)
        counts = {t: conn.execute("SELECT count(*) FROM %s" % t).fetchone()[0]
                  for t in ("datasets", "models", "predictions", "jobs")}
        partial = conn.execute("SELECT count(*) FROM datasets WHERE state != 'ready'").fetchone()[0]
    finally:
        conn.close()
    return ok, detail, counts, partial


def burst(fn, n=32):
    """fn() from n threads at once, so that every HTTP thread of fitd serves
    some; returns the results."""
    out = []

    def one():
        try:
            out.append(fn())
        except OSError as e:
            out.append(repr(e))
    threads = [threading.Thread(target=one) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return out


def finish_job(rep, srv, job, label):
    r = srv.post("/v1/jobs/%d/cancel" % job)
    rep.check("%s: the cancel is accepted" % label, r.status == 200, "%s %s" % (r.status, r.body[:200]))
    if r.status != 200:
        srv.post("/v1/jobs/%d/cancel" % job)  # the job must end for the checks that follow
    j = fitdlib.wait_job(srv, job, 60)
    hist = [e["epoch"] for e in srv.get("/v1/jobs/%d/history" % job).json["epochs"]]
    rep.check("%s: the long job cancels cleanly with history 1..epoch, each once" % label,
              j["status"] == "cancelled" and hist == list(range(1, j["epoch"] + 1)),
              "status %s, epoch %d, %d rows (cancel: %s)" % (j["status"], j["epoch"], len(hist), r.status))


def disk_full(rep, binary, d, mb):
    mnt = loop_fs(d, mb)
    db = os.path.join(mnt, "fitd.db")
    srv = Fitd(db, binary=binary, workers=1, log_dir=d, args=["--commit-interval-ms", "100"]).start()
    ds, m, job = setup(srv)
    acked = {"dataset": 0, "model": 0, "stored prediction": 0}
    filled = fill(os.path.join(mnt, "filler"))
    rep.figure("disk full: filler bytes on the %d MiB filesystem" % mb, filled)
    results, refused = try_writes(srv, m, "full")
    for what, st, _ in results:
        if st in (200, 201):
            acked[what] += 1
    statuses = sorted(set(str(s) for _, s, _ in results))
    rep.check("disk full: a write is refused with 503 'unavailable' naming the full disk",
              refusal_ok(refused, ("full", "space")), "first refusal %r after %d writes" % (refused, len(results)))
    rep.check("disk full: only 2xx and 503 answers (no 500, no hang)", set(statuses) <= {"200", "201", "503"},
              "statuses %s" % statuses)
    if refused:
        rep.figure("disk full: the refusal", "%s %s" % (refused[1], refused[2].decode("utf-8", "replace")))
    # every kind of write, now that the disk is surely full
    kinds = {}
    other = srv.post("/v1/models", fitdlib.tutorial_model()).status
    kinds["POST /v1/models"] = other
    kinds["POST /v1/datasets"] = srv.post("/v1/datasets", small_dataset(999)).status
    kinds["POST predict (stored)"] = srv.post("/v1/models/%d/predict" % m, {"instances": [[1, 2, 3, 4]] * 200}).status
    kinds["POST /v1/jobs"] = srv.post("/v1/jobs", {"model_id": m, "dataset_id": ds, "epochs": 1}).status
    kinds["PUT weights"] = srv.request("PUT", "/v1/models/%d/weights" % m,
                                       srv.get("/v1/models/%d/weights" % m).json).status
    rep.figure("disk full: statuses of each kind of write", ", ".join("%s %s" % kv for kv in kinds.items()))
    rep.check("disk full: writes answer 503 (or succeed), never 500", all(s in (200, 201, 202, 503)
                                                                         for s in kinds.values()), repr(kinds))
    bad = reads_work(srv, m, ds, job)
    rep.check("disk full: reads keep working (lists, items, history, weights, predict ?store=false)", not bad,
              repr(bad[:3]))
    e1 = job_epoch(srv, job)
    time.sleep(1.0)
    e2 = job_epoch(srv, job)
    rep.figure("disk full: the long job's committed epoch over 1 s", "%d -> %d" % (e1, e2))
    ready = srv.get("/readyz")
    rep.figure("disk full: /readyz", "%s %s" % (ready.status, ready.body[:120].decode()))
    rep.check("disk full: the server is alive", srv.running())
    # space returns
    os.unlink(os.path.join(mnt, "filler"))
    t0 = time.monotonic()
    ok_after = None
    while time.monotonic() - t0 < 20:
        r = srv.post("/v1/datasets", small_dataset(1000))
        if r.status == 201:
            ok_after = time.monotonic() - t0
            acked["dataset"] += 1
            break
        time.sleep(0.2)
    rep.check("disk full: writes succeed again once space returns", ok_after is not None,
              "after %.2f s" % ok_after if ok_after is not None else "still refused after 20 s")
    e3 = job_epoch(srv, job)
    try:
        fitdlib.wait_for(lambda: job_epoch(srv, job) > e3, 20, "the job to commit again")
        committing = True
    except AssertionError:
        committing = False
    rep.check("disk full: the training job commits again once space returns", committing,
              "epoch %d -> %d" % (e3, job_epoch(srv, job)))
    rep.figure("disk full: the job's log", ", ".join(sorted(set(
        w for w in ("commit-failed", "commit-recovered") if w in srv.log()))) or "no commit failure logged")
    finish_job(rep, srv, job, "disk full")
    code = srv.stop()
    rep.check("disk full: SIGTERM exits 0", code == 0, "exit %s" % code)
    ok, detail, counts, partial = count_rows(db, d)
    rep.check("disk full: integrity_check ok afterwards", ok, repr(detail))
    expected_ds = 1 + acked["dataset"]
    rep.check("disk full: no refused write left a row (datasets = acknowledged)",
              counts["datasets"] == expected_ds and partial == 0,
              "%d datasets stored, %d acknowledged, %d partial" % (counts["datasets"], expected_ds, partial))
    return mnt, db


def read_only(rep, binary, d, mnt, db):
    srv = Fitd(db, binary=binary, workers=1, log_dir=d, args=["--commit-interval-ms", "100"]).start()
    ds, m, job = setup(srv)
    files = [f for f in (db, db + "-wal") if os.path.exists(f)]
    for f in files:
        sh("chattr", "+i", f)
        IMMUTABLE.append(f)
    results, refused = try_writes(srv, m, "ro", rounds=5)
    rep.check("read-only database: a write answers 503 'unavailable' with a clear message",
              refusal_ok(refused, ("read-only", "readonly", "read only", "i/o", "cannot be written")),
              "first refusal %r" % (refused,))
    if refused:
        rep.figure("read-only database: the refusal", "%s %s" % (refused[1], refused[2].decode("utf-8", "replace")))
    statuses = sorted(set(str(s) for _, s, _ in results))
    rep.check("read-only database: only 2xx and 503 answers", set(statuses) <= {"200", "201", "503"},
              "statuses %s" % statuses)
    bad = reads_work(srv, m, ds, job)
    rep.check("read-only database: reads keep working", not bad, repr(bad[:3]))
    for f in files:
        sh("chattr", "-i", f)
        IMMUTABLE.remove(f)
    t0 = time.monotonic()
    ok_after = None
    while time.monotonic() - t0 < 20:
        if srv.post("/v1/datasets", small_dataset(2000)).status == 201:
            ok_after = time.monotonic() - t0
            break
        time.sleep(0.2)
    rep.check("read-only database: writes succeed again once writable", ok_after is not None,
              "after %.2f s" % ok_after if ok_after is not None else "still refused after 20 s")
    finish_job(rep, srv, job, "read-only")
    code = srv.stop()
    rep.check("read-only database: SIGTERM exits 0", code == 0, "exit %s" % code)
    ok, detail, counts, partial = count_rows(db, d)
    rep.check("read-only database: integrity_check ok afterwards", ok, repr(detail))

    # a read-only mount at start-up
    sh("mount", "-o", "remount,ro", mnt)
    try:
        srv = Fitd(db, binary=binary, workers=1, log_dir=d)
        srv.spawn()
        try:
            srv.wait_listening(15)
            started = True
        except RuntimeError:
            started = False
        if started:
            bad = reads_work(srv, m, ds, job)
            r = srv.post("/v1/datasets", small_dataset(3000))
            rep.check("read-only mount at start-up: serves reads, refuses writes with 503",
                      not bad and r.status == 503, "reads %r, write %s %s" % (bad[:2], r.status, r.body[:160]))
            rep.figure("read-only mount at start-up", "starts; write -> %s %s" % (r.status, r.body[:200].decode()))
            # every connection was opened read-only: remounted rw, fitd writes again
            # and its worker trains, without a restart
            sh("mount", "-o", "remount,rw", mnt)
            writes = burst(lambda: srv.post("/v1/models", fitdlib.tutorial_model()).status)
            rep.check("read-only mount at start-up: remounted rw, concurrent POSTs all 201 without a restart",
                      set(writes) == {201}, "statuses %s" % sorted(map(str, writes)))
            r = srv.post("/v1/jobs", {"model_id": m, "dataset_id": ds, "epochs": 2})
            j = fitdlib.wait_job(srv, r.json["id"], 60) if r.status == 202 else {"status": r.status}
            rep.check("read-only mount at start-up: remounted rw, a job trains to the end",
                      j["status"] == "succeeded", "job %s" % j.get("status"))
            srv.stop()
        else:
            msg = srv.log().strip().splitlines()[-1:] or ["(no message)"]
            clear = srv.proc.returncode != 0 and any(w in msg[0].lower() for w in ("read", "write", "database"))
            rep.check("read-only mount at start-up: refuses to start with a clear message", clear,
                      "exit %s: %s" % (srv.proc.returncode, msg[0]))
            rep.figure("read-only mount at start-up", "refuses to start (exit %s): %s" % (srv.proc.returncode,
                                                                                        msg[0]))
    finally:
        sh("mount", "-o", "remount,rw", mnt, check=False)


def read_only_first_use(rep, binary, d, db):
    """A fresh fitd whose HTTP threads first touch the database while it is
    read-only: SQLite then opens their connections read-only, silently."""
    srv = Fitd(db, binary=binary, workers=1, log_dir=d).start()
    m = srv.post("/v1/models", fitdlib.tutorial_model()).json["id"]
    files = [f for f in (db, db + "-wal") if os.path.exists(f)]
    for f in files:
        sh("chattr", "+i", f)
        IMMUTABLE.append(f)
    reads = burst(lambda: srv.get("/v1/models/%d" % m).status)
    rep.check("read-only at first use: concurrent reads answer 200", set(reads) == {200},
              "statuses %s" % sorted(set(map(str, reads))))
    for f in files:
        sh("chattr", "-i", f)
        IMMUTABLE.remove(f)
    writes = burst(lambda: srv.post("/v1/models", fitdlib.tutorial_model()).status)
    rep.check("read-only at first use: once writable, every HTTP thread writes (concurrent POSTs all 201)",
              set(writes) == {201}, "statuses %s" % " ".join(map(str, sorted(writes))))
    code = srv.stop()
    rep.check("read-only at first use: SIGTERM exits 0", code == 0, "exit %s" % code)


def fsize_limit(rep, binary, d):
    db = os.path.join(d, "fsize.db")
    srv = Fitd(db, binary=binary, workers=1, log_dir=d, args=["--commit-interval-ms", "100"]).start()
    ds, m, job = setup(srv)
    sizes = [os.path.getsize(f) for f in (db, db + "-wal") if os.path.exists(f)]
    limit = max(sizes) + (64 << 10)
    # the soft limit only: raising a hard limit again needs CAP_SYS_RESOURCE
    hard = resource.prlimit(srv.pid, resource.RLIMIT_FSIZE)[1]
    resource.prlimit(srv.pid, resource.RLIMIT_FSIZE, (limit, hard))
    results, refused = try_writes(srv, m, "fsize", rounds=80)
    rep.check("file-size limit: a write answers 503 'unavailable'", refusal_ok(refused, ("full", "i/o", "written",
                                                                                       "large", "space")),
              "first refusal %r after %d writes" % (refused, len(results)))
    if refused:
        rep.figure("file-size limit: the refusal", "%s %s" % (refused[1], refused[2].decode("utf-8", "replace")))
    statuses = sorted(set(str(s) for _, s, _ in results))
    rep.check("file-size limit: only 2xx and 503 answers, the process survives (SIGXFSZ ignored)",
              set(statuses) <= {"200", "201", "503"} and srv.running(), "statuses %s" % statuses)
    bad = reads_work(srv, m, ds, job)
    rep.check("file-size limit: reads keep working", not bad, repr(bad[:3]))
    resource.prlimit(srv.pid, resource.RLIMIT_FSIZE, (hard, hard))
    t0 = time.monotonic()
    ok_after = None
    while time.monotonic() - t0 < 20:
        if srv.post("/v1/datasets", small_dataset(4000)).status == 201:
            ok_after = time.monotonic() - t0
            break
        time.sleep(0.2)
    rep.check("file-size limit: writes succeed once the limit is lifted", ok_after is not None,
              "after %.2f s" % ok_after if ok_after is not None else "still refused after 20 s")
    finish_job(rep, srv, job, "file-size limit")
    code = srv.stop()
    rep.check("file-size limit: SIGTERM exits 0", code == 0, "exit %s" % code)
    ok, detail, counts, partial = count_rows(db, d)
    rep.check("file-size limit: integrity_check ok afterwards", ok, repr(detail))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--binary", default=fitdlib.BINARY)
    ap.add_argument("--mb", type=int, default=32, help="size of the loop filesystem")
    a = ap.parse_args()
    rep = Report("disk full and read-only database")
    d = fitdlib.tmpdir("disk")
    try:
        can_mount = os.geteuid() == 0 and shutil.which("mkfs.ext4") and shutil.which("chattr")
        if can_mount:
            try:
                mnt, db = disk_full(rep, a.binary, d, a.mb)
                read_only(rep, a.binary, d, mnt, db)
                read_only_first_use(rep, a.binary, d, db)
            except RuntimeError as e:
                if "mount" in str(e) and not MOUNTS:
                    print("cannot loop-mount here (%s): disk-full part skipped" % e)
                else:
                    raise
        else:
            print("not root (or no mkfs.ext4 / chattr): the loop-mount parts are skipped")
        fsize_limit(rep, a.binary, d)
    except Exception as e:
        traceback.print_exc()
        rep.check("suite ran to the end", False, "%s: %s" % (type(e).__name__, e))
    finally:
        cleanup()
        fitdlib.cleanup_all()
    print(rep.summary())
    return 0 if rep.ok else 1


if __name__ == "__main__":
    sys.exit(main())
