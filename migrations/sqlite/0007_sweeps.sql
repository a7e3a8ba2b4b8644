-- 0007_sweeps.sql — hyper-parameter sweeps (POST /v1/sweeps).
-- A sweep is a set of points; each point is an ordinary model and job, made in
-- the same transaction as the sweep, so the jobs table stays the one queue and
-- a sweep is as durable as its jobs. Its status and counts are read from them.

CREATE TABLE sweeps (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,   -- ids are never reused
    name             TEXT    NOT NULL,
    kind             TEXT    NOT NULL CHECK (kind IN ('grid', 'random')),
    metric           TEXT    NOT NULL CHECK (metric IN ('loss', 'val_loss', 'accuracy', 'val_accuracy')),
    mode             TEXT    NOT NULL CHECK (mode IN ('min', 'max')),
    definition       TEXT    NOT NULL,            -- {"model", "job", "grid" | "random"} as given (random seed filled in)
    n_points         INTEGER NOT NULL,
    cancel_requested INTEGER NOT NULL DEFAULT 0,
    created_at       TEXT    NOT NULL
);

CREATE TABLE sweep_points (
    sweep_id      INTEGER NOT NULL REFERENCES sweeps(id) ON DELETE CASCADE,
    idx           INTEGER NOT NULL,            -- 0-based, in expansion order
    params        TEXT    NOT NULL,            -- {"path": value, ...}
    model_id      INTEGER REFERENCES models(id) ON DELETE SET NULL,
    job_id        INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    PRIMARY KEY (sweep_id, idx)
);
CREATE INDEX sweep_points_job ON sweep_points(job_id);
CREATE INDEX sweep_points_model ON sweep_points(model_id);
