-- Sweep streams number their events by job_events' rowid, which SQLite
-- reuses once the rows holding the largest ones are deleted (a sweep
-- point's model deleted with ?cascade=true): a client resuming with
-- Last-Event-ID would then skip the events that took those ids again. The
-- table is rebuilt with an id that is never reused (AUTOINCREMENT), every
-- row keeping its id, so a stream in progress resumes where it was.
CREATE TABLE job_events_new (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id        INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('epoch', 'status')),
    data          TEXT    NOT NULL,            -- one line of JSON
    UNIQUE (job_id, seq)
);
INSERT INTO job_events_new (id, job_id, seq, kind, data)
    SELECT rowid, job_id, seq, kind, data FROM job_events ORDER BY rowid;
DROP TABLE job_events;
ALTER TABLE job_events_new RENAME TO job_events;
