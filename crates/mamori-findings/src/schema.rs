//! The findings schema, shared by SQLite and PostgreSQL.

pub(crate) const SCHEMA_COMMON: &str = "
CREATE TABLE IF NOT EXISTS findings (
    id TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL,
    title TEXT NOT NULL,
    severity BIGINT NOT NULL,
    kind TEXT NOT NULL,
    source TEXT NOT NULL,
    group_key TEXT NOT NULL,
    status TEXT NOT NULL,
    assignee TEXT,
    first_seen BIGINT NOT NULL,
    last_seen BIGINT NOT NULL,
    count BIGINT NOT NULL,
    created BIGINT NOT NULL,
    updated BIGINT NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS findings_dedup ON findings (rule_id, group_key, last_seen);
CREATE INDEX IF NOT EXISTS findings_last_seen ON findings (last_seen);
CREATE TABLE IF NOT EXISTS finding_entities (
    finding_id TEXT NOT NULL REFERENCES findings (id),
    kind TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (finding_id, kind, value)
);
CREATE INDEX IF NOT EXISTS finding_entities_value ON finding_entities (value);
CREATE TABLE IF NOT EXISTS finding_events (
    rule_id TEXT NOT NULL,
    event_uid TEXT NOT NULL,
    finding_id TEXT NOT NULL REFERENCES findings (id),
    PRIMARY KEY (rule_id, event_uid)
);
CREATE INDEX IF NOT EXISTS finding_events_finding ON finding_events (finding_id);
CREATE INDEX IF NOT EXISTS finding_events_event ON finding_events (event_uid);
CREATE TABLE IF NOT EXISTS finding_history (
    finding_id TEXT NOT NULL REFERENCES findings (id),
    seq BIGINT NOT NULL,
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    from_status TEXT,
    to_status TEXT,
    detail TEXT,
    PRIMARY KEY (finding_id, seq)
);
CREATE TABLE IF NOT EXISTS deliveries (
    channel TEXT NOT NULL,
    finding_id TEXT NOT NULL REFERENCES findings (id),
    state TEXT NOT NULL,
    sent_phase TEXT,
    sent_count BIGINT NOT NULL,
    external_ref TEXT,
    attempts BIGINT NOT NULL,
    next_attempt BIGINT NOT NULL,
    last_error TEXT,
    updated BIGINT NOT NULL,
    PRIMARY KEY (channel, finding_id)
);
CREATE TABLE IF NOT EXISTS suppressions (
    id TEXT PRIMARY KEY,
    rule_id TEXT,
    entity_kind TEXT,
    entity_value TEXT,
    author TEXT NOT NULL,
    reason TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT
);
";

// History is evidence: the database itself refuses to change or delete it.
pub(crate) const SCHEMA_SQLITE: &str = "
CREATE TRIGGER IF NOT EXISTS finding_history_no_update BEFORE UPDATE ON finding_history
BEGIN SELECT RAISE(ABORT, 'finding history is append-only'); END;
CREATE TRIGGER IF NOT EXISTS finding_history_no_delete BEFORE DELETE ON finding_history
BEGIN SELECT RAISE(ABORT, 'finding history is append-only'); END;
";

pub(crate) const SCHEMA_POSTGRES: &str = "
CREATE OR REPLACE FUNCTION mamori_append_only() RETURNS trigger LANGUAGE plpgsql AS
$$ BEGIN RAISE EXCEPTION 'finding history is append-only'; END $$;
DROP TRIGGER IF EXISTS finding_history_append_only ON finding_history;
CREATE TRIGGER finding_history_append_only BEFORE UPDATE OR DELETE ON finding_history
FOR EACH ROW EXECUTE FUNCTION mamori_append_only();
";

pub(crate) const COLUMNS: &str = "id, rule_id, title, severity, kind, source, group_key, status, assignee, first_seen, last_seen, count, created, updated, body";
