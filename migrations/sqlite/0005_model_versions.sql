-- 0005_model_versions.sql — models addressed by name, an immutable version of
-- a model's weights per change, and job lineage that outlives its datasets.

-- A model's name addresses it (/v1/models/{name}) when named = 1, and is then
-- unique. Databases from before this migration may hold duplicate names: those
-- stay labels (shown, not addressable); a name that is unique and valid as a
-- name today (not all digits, no '/') becomes addressable at once.
ALTER TABLE models ADD COLUMN named INTEGER NOT NULL DEFAULT 0;
UPDATE models SET named = 1
 WHERE name <> '' AND name GLOB '*[^0-9]*' AND instr(name, '/') = 0
   AND (SELECT count(*) FROM models AS other WHERE other.name = models.name) = 1;
CREATE UNIQUE INDEX models_name ON models(name) WHERE named = 1;
-- The version the current weights are; NULL while a job trains them or after
-- a failed job left weights that are no version.
ALTER TABLE models ADD COLUMN version INTEGER;

-- Every change of a model's current weights leaves a version, never rewritten:
-- a job that changed weights (succeeded, early-stopped, or cancelled after an
-- epoch; written in the job's final commit), PUT weights, or a restore.
CREATE TABLE model_versions (
    model_id       INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
    version        INTEGER NOT NULL,                    -- 1, 2, ... per model
    source         TEXT    NOT NULL CHECK (source IN ('job', 'weights', 'restore')),
    job_id         INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    restored_from  INTEGER,                             -- restore: the version made current again
    weights_sha256 TEXT    NOT NULL,
    epoch          INTEGER,                             -- job: epochs it committed
    loss           REAL,
    accuracy       REAL,
    val_loss       REAL,
    val_accuracy   REAL,
    state          BLOB    NOT NULL,                    -- nn_model_state blob, as models.state
    created_at     TEXT    NOT NULL,
    PRIMARY KEY (model_id, version)
);
CREATE INDEX model_versions_job ON model_versions(job_id);

-- Lineage: jobs.dataset_id becomes NULL when its dataset is deleted (ON DELETE
-- SET NULL); the dataset's id and name stay here.
ALTER TABLE jobs ADD COLUMN dataset_ref INTEGER;
ALTER TABLE jobs ADD COLUMN dataset_name TEXT;
ALTER TABLE jobs ADD COLUMN validation_dataset_ref INTEGER;
ALTER TABLE jobs ADD COLUMN validation_dataset_name TEXT;
UPDATE jobs SET dataset_ref = dataset_id,
                dataset_name = (SELECT name FROM datasets WHERE id = jobs.dataset_id),
                validation_dataset_ref = validation_dataset_id,
                validation_dataset_name = (SELECT name FROM datasets WHERE id = jobs.validation_dataset_id);
CREATE TRIGGER jobs_lineage AFTER INSERT ON jobs BEGIN
    UPDATE jobs SET dataset_ref = NEW.dataset_id,
                    dataset_name = (SELECT name FROM datasets WHERE id = NEW.dataset_id),
                    validation_dataset_ref = NEW.validation_dataset_id,
                    validation_dataset_name = (SELECT name FROM datasets WHERE id = NEW.validation_dataset_id)
     WHERE id = NEW.id;
END;
