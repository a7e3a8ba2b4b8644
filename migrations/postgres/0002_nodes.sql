-- 0002_nodes.sql (PostgreSQL) — nodes and job leases (issue 15), the same
-- change as migrations/sqlite/0009_nodes.sql (read it for what each column
-- means). The revision trigger is a PL/pgSQL BEFORE UPDATE trigger here: it
-- sets the new row's revision instead of updating it again.
ALTER TABLE jobs ADD COLUMN node TEXT;
ALTER TABLE jobs ADD COLUMN lease_expires_ms BIGINT;
ALTER TABLE jobs ADD COLUMN nodes TEXT NOT NULL DEFAULT '';
ALTER TABLE datasets ADD COLUMN upload_node TEXT;
ALTER TABLE models ADD COLUMN revision BIGINT NOT NULL DEFAULT 0;
CREATE FUNCTION models_revision() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.revision := OLD.revision + 1;
    RETURN NEW;
END;
$$;
CREATE TRIGGER models_revision BEFORE UPDATE OF state, definition, name, version ON models
    FOR EACH ROW EXECUTE FUNCTION models_revision();
CREATE TABLE nodes (
    id            TEXT    PRIMARY KEY,
    workers       BIGINT  NOT NULL,
    started_at    TEXT    NOT NULL,
    heartbeat_at  TEXT    NOT NULL,
    heartbeat_ms  BIGINT  NOT NULL,
    stopped       BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX jobs_node ON jobs(node) WHERE node IS NOT NULL;
