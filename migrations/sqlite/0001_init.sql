-- 0001_init.sql — fitd's first schema.
-- Applied in one transaction by server/db.c, which then sets PRAGMA user_version = 1.
-- Float arrays are little-endian float32 row-major blobs. Times are RFC 3339 UTC text.

CREATE TABLE datasets (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,   -- ids are never reused
    name          TEXT    NOT NULL,
    -- 'uploading' while a streamed upload is in progress: invisible to the API,
    -- deleted at start-up if the process died mid-upload.
    state         TEXT    NOT NULL DEFAULT 'ready' CHECK (state IN ('uploading', 'ready')),
    n_samples     INTEGER NOT NULL DEFAULT 0,
    n_features    INTEGER NOT NULL,
    y_dim         INTEGER NOT NULL,            -- 0: one target per row; k: rows of k targets
    y_kind        TEXT    NOT NULL DEFAULT 'real' CHECK (y_kind IN ('class', 'one_hot', 'real')),
    n_classes     INTEGER NOT NULL DEFAULT 0,  -- 0 for real targets
    y_min         REAL    NOT NULL DEFAULT 0,
    y_max         REAL    NOT NULL DEFAULT 0,
    y_integral    INTEGER NOT NULL DEFAULT 0,
    created_at    TEXT    NOT NULL
);

-- Rows in chunks, so a dataset is not bound by SQLite's 1 GB value limit.
CREATE TABLE dataset_chunks (
    dataset_id    INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    n_rows        INTEGER NOT NULL,
    x             BLOB    NOT NULL,            -- n_rows x n_features
    y             BLOB    NOT NULL,            -- n_rows x max(1, y_dim)
    UNIQUE (dataset_id, seq)
);

CREATE TABLE models (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,   -- ids are never reused
    name          TEXT    NOT NULL,
    definition    TEXT    NOT NULL,            -- canonical JSON (api_model_def_encode)
    n_params      INTEGER NOT NULL,
    status        TEXT    NOT NULL DEFAULT 'untrained'
                          CHECK (status IN ('untrained', 'training', 'trained')),
    state         BLOB    NOT NULL,            -- nn_model_state blob: weights + optimizer state
    created_at    TEXT    NOT NULL,
    updated_at    TEXT    NOT NULL
);

CREATE TABLE jobs (
    id                    INTEGER PRIMARY KEY AUTOINCREMENT,
    model_id              INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    dataset_id            INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
    validation_dataset_id INTEGER REFERENCES datasets(id) ON DELETE SET NULL,
    options               TEXT    NOT NULL,    -- canonical JSON (api_job_req_encode)
    status                TEXT    NOT NULL DEFAULT 'queued'
                                  CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
    epoch                 INTEGER NOT NULL DEFAULT 0,   -- epochs committed
    epochs                INTEGER NOT NULL,
    loss                  REAL,
    accuracy              REAL,
    val_loss              REAL,
    val_accuracy          REAL,
    samples_per_second    REAL,
    error                 TEXT,
    attempts              INTEGER NOT NULL DEFAULT 0,   -- runs started; a run the process died in counts
    cancel_requested      INTEGER NOT NULL DEFAULT 0,
    model_was_trained     INTEGER NOT NULL DEFAULT 0,   -- the model's status when the job was submitted
    checkpoint            BLOB,                         -- nn_train_state blob after the last committed epoch
    weights_sha256        TEXT,
    created_at            TEXT    NOT NULL,
    started_at            TEXT,
    finished_at           TEXT
);
CREATE INDEX jobs_status ON jobs(status, id);
CREATE INDEX jobs_model ON jobs(model_id, status);

CREATE TABLE job_epochs (
    job_id        INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    epoch         INTEGER NOT NULL,
    loss          REAL    NOT NULL,
    accuracy      REAL,
    val_loss      REAL,
    val_accuracy  REAL,
    seconds       REAL    NOT NULL,
    PRIMARY KEY (job_id, epoch)
);

-- What the SSE stream replays: epoch rows and status changes, numbered per job.
CREATE TABLE job_events (
    job_id        INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    seq           INTEGER NOT NULL,
    kind          TEXT    NOT NULL CHECK (kind IN ('epoch', 'status')),
    data          TEXT    NOT NULL,            -- one line of JSON
    PRIMARY KEY (job_id, seq)
);

CREATE TABLE predictions (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,   -- ids are never reused
    model_id      INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    n             INTEGER NOT NULL,
    input_dim     INTEGER NOT NULL,
    outputs       INTEGER NOT NULL,
    inputs        BLOB    NOT NULL,            -- n x input_dim
    predictions   BLOB    NOT NULL,            -- n x outputs
    classes       BLOB,                        -- n int32, NULL for regression
    created_at    TEXT    NOT NULL
);
CREATE INDEX predictions_model ON predictions(model_id, id);

-- Idempotency-Key: the first response's resource, for retries within 24 h.
CREATE TABLE idempotency_keys (
    route         TEXT    NOT NULL,            -- 'datasets' | 'models' | 'jobs'
    key           TEXT    NOT NULL,
    request_hash  BLOB    NOT NULL,            -- SHA-256 of the body
    resource_id   INTEGER NOT NULL,
    created_at    INTEGER NOT NULL,            -- unix seconds
    PRIMARY KEY (route, key)
);
CREATE INDEX idempotency_age ON idempotency_keys(created_at);
