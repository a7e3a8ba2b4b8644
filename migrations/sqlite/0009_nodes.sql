-- Nodes and job leases (issue 15): several fitd processes over one database
-- (PostgreSQL) share its queue. Each process is a node with an id and a
-- heartbeat row; a running job holds a lease: the node running it and when
-- the lease ends (unix milliseconds of the node's clock), renewed by the
-- node's heartbeat. On PostgreSQL a running job whose lease has ended is
-- claimed by another node; on SQLite the one process's start-up recovery
-- requeues what a dead process left running, as before.
ALTER TABLE jobs ADD COLUMN node TEXT;                        -- running it; NULL when not running
ALTER TABLE jobs ADD COLUMN lease_expires_ms INTEGER;         -- NULL when not running
ALTER TABLE jobs ADD COLUMN nodes TEXT NOT NULL DEFAULT '';   -- the nodes it ran on, comma-separated, in order
-- A streamed upload's node: a node's start-up drops only its own dead uploads.
ALTER TABLE datasets ADD COLUMN upload_node TEXT;
-- Bumped by every change of a model's state, definition, name or version: a node's model
-- cache asks it to tell whether another node changed the model.
ALTER TABLE models ADD COLUMN revision INTEGER NOT NULL DEFAULT 0;
CREATE TRIGGER models_revision AFTER UPDATE OF state, definition, name, version ON models
BEGIN
    UPDATE models SET revision = revision + 1 WHERE id = NEW.id;
END;
CREATE TABLE nodes (
    id            TEXT    PRIMARY KEY,         -- --node-id
    workers       INTEGER NOT NULL,
    started_at    TEXT    NOT NULL,
    heartbeat_at  TEXT    NOT NULL,            -- RFC 3339, the last heartbeat
    heartbeat_ms  INTEGER NOT NULL,            -- the same in unix milliseconds
    stopped       INTEGER NOT NULL DEFAULT 0   -- 1 once it stopped gracefully
);
CREATE INDEX jobs_node ON jobs(node) WHERE node IS NOT NULL;
