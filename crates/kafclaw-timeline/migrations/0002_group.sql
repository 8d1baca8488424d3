-- Group state (roster, traces, audit, delegation, skills) and the Kafka transport's
-- de-duplication marks and consumer offsets.

CREATE TABLE group_members (
    agent_id   TEXT    PRIMARY KEY,
    identity   TEXT    NOT NULL DEFAULT '{}',
    role       TEXT    NOT NULL DEFAULT 'member',
    zone       TEXT,
    status     TEXT    NOT NULL DEFAULT 'active',
    first_seen INTEGER NOT NULL,
    last_seen  INTEGER NOT NULL
);
CREATE INDEX idx_group_members_status ON group_members (status, last_seen);

CREATE TABLE roster_history (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id    TEXT    NOT NULL,
    action      TEXT    NOT NULL CHECK (action IN ('joined', 'changed')),
    identity    TEXT    NOT NULL DEFAULT '{}',
    role        TEXT    NOT NULL,
    zone        TEXT,
    status      TEXT    NOT NULL,
    happened_at INTEGER NOT NULL
);
CREATE INDEX idx_roster_history_agent ON roster_history (agent_id, happened_at);
CREATE INDEX idx_roster_history_time ON roster_history (happened_at);

CREATE TABLE group_traces (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    trace_id        TEXT    NOT NULL,
    span_id         TEXT    NOT NULL UNIQUE,
    parent_span_id  TEXT,
    source_agent_id TEXT    NOT NULL,
    span_type       TEXT    NOT NULL,
    title           TEXT    NOT NULL DEFAULT '',
    content         TEXT    NOT NULL DEFAULT '',
    started_at      INTEGER,
    ended_at        INTEGER,
    duration_ms     INTEGER,
    created_at      INTEGER NOT NULL
);
CREATE INDEX idx_group_traces_trace ON group_traces (trace_id, created_at);
CREATE INDEX idx_group_traces_agent ON group_traces (source_agent_id, created_at);
CREATE INDEX idx_group_traces_created ON group_traces (created_at);

CREATE TABLE group_audit (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id   TEXT    NOT NULL UNIQUE,
    agent_id   TEXT    NOT NULL,
    action     TEXT    NOT NULL,
    subject    TEXT,
    detail     TEXT    NOT NULL DEFAULT '{}',
    trace_id   TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX idx_group_audit_agent ON group_audit (agent_id, created_at);
CREATE INDEX idx_group_audit_created ON group_audit (created_at);

CREATE TABLE delegation_events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id        TEXT    NOT NULL,
    parent_task_id TEXT,
    event_type     TEXT    NOT NULL,
    sender_id      TEXT    NOT NULL,
    receiver_id    TEXT,
    depth          INTEGER NOT NULL DEFAULT 0 CHECK (depth >= 0),
    deadline_at    INTEGER,
    summary        TEXT    NOT NULL DEFAULT '',
    trace_id       TEXT,
    created_at     INTEGER NOT NULL
);
CREATE INDEX idx_delegation_task ON delegation_events (task_id);
CREATE INDEX idx_delegation_parent ON delegation_events (parent_task_id);
CREATE INDEX idx_delegation_created ON delegation_events (created_at);

CREATE TABLE group_skills (
    group_name      TEXT    NOT NULL,
    skill_name      TEXT    NOT NULL,
    requests_topic  TEXT    NOT NULL,
    responses_topic TEXT    NOT NULL,
    registered_by   TEXT    NOT NULL,
    local_provider  INTEGER NOT NULL DEFAULT 0 CHECK (local_provider IN (0, 1)),
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    PRIMARY KEY (group_name, skill_name)
);

CREATE TABLE seen_messages (
    agent_id   TEXT    NOT NULL,
    message_id TEXT    NOT NULL,
    topic      TEXT    NOT NULL,
    first_seen INTEGER NOT NULL,
    PRIMARY KEY (agent_id, message_id)
);
CREATE INDEX idx_seen_messages_first_seen ON seen_messages (first_seen);

CREATE TABLE consumer_offsets (
    agent_id    TEXT    NOT NULL,
    topic       TEXT    NOT NULL,
    partition   INTEGER NOT NULL CHECK (partition >= 0),
    next_offset INTEGER NOT NULL CHECK (next_offset >= 0),
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (agent_id, topic, partition)
);
