-- Core agent state: event log, tasks, token usage, policy decisions, approvals, settings.
-- All timestamps are INTEGER milliseconds since the Unix epoch (UTC).

CREATE TABLE events (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT    NOT NULL UNIQUE,
    trace_id       TEXT,
    span_id        TEXT,
    parent_span_id TEXT,
    event_type     TEXT    NOT NULL,
    sender         TEXT    NOT NULL DEFAULT '',
    channel        TEXT    NOT NULL DEFAULT '',
    content        TEXT    NOT NULL DEFAULT '',
    metadata       TEXT    NOT NULL DEFAULT '{}',
    created_at     INTEGER NOT NULL
);
CREATE INDEX idx_events_created ON events (created_at);
CREATE INDEX idx_events_trace ON events (trace_id, created_at);
CREATE INDEX idx_events_sender ON events (sender, created_at);
CREATE INDEX idx_events_channel ON events (channel, created_at);

CREATE TABLE tasks (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id           TEXT    NOT NULL UNIQUE,
    idempotency_key   TEXT    UNIQUE,
    trace_id          TEXT,
    session_key       TEXT,
    channel           TEXT    NOT NULL,
    chat_id           TEXT,
    sender            TEXT    NOT NULL,
    trust_class       TEXT    NOT NULL CHECK (trust_class IN ('owner', 'peer', 'external')),
    status            TEXT    NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'processing', 'completed', 'failed')),
    attempts          INTEGER NOT NULL DEFAULT 0,
    content_in        TEXT    NOT NULL,
    content_out       TEXT,
    error             TEXT,
    tokens_in         INTEGER NOT NULL DEFAULT 0,
    tokens_out        INTEGER NOT NULL DEFAULT 0,
    cost_usd          REAL    NOT NULL DEFAULT 0,
    delivery_status   TEXT    NOT NULL DEFAULT 'pending'
                      CHECK (delivery_status IN ('pending', 'sent', 'failed', 'not_required')),
    delivery_attempts INTEGER NOT NULL DEFAULT 0,
    delivery_error    TEXT,
    metadata          TEXT    NOT NULL DEFAULT '{}',
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL,
    completed_at      INTEGER
);
CREATE INDEX idx_tasks_status ON tasks (status, created_at);
CREATE INDEX idx_tasks_trace ON tasks (trace_id);
CREATE INDEX idx_tasks_session ON tasks (session_key, created_at);
CREATE INDEX idx_tasks_channel ON tasks (channel, created_at);
CREATE INDEX idx_tasks_sender ON tasks (sender, created_at);
CREATE INDEX idx_tasks_created ON tasks (created_at);
CREATE INDEX idx_tasks_delivery ON tasks (delivery_status, status);

-- One row per model call. No foreign key to tasks: usage must be counted even when the
-- task row has been pruned or the call belonged to no task.
CREATE TABLE token_usage (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id    TEXT,
    provider   TEXT    NOT NULL,
    model      TEXT    NOT NULL,
    tokens_in  INTEGER NOT NULL CHECK (tokens_in >= 0),
    tokens_out INTEGER NOT NULL CHECK (tokens_out >= 0),
    cost_usd   REAL    NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);
CREATE INDEX idx_token_usage_created ON token_usage (created_at);
CREATE INDEX idx_token_usage_task ON token_usage (task_id);

CREATE TABLE policy_decisions (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    tool        TEXT    NOT NULL,
    tier        INTEGER CHECK (tier IS NULL OR tier BETWEEN 0 AND 2),
    sender      TEXT    NOT NULL,
    trust_class TEXT    NOT NULL CHECK (trust_class IN ('owner', 'peer', 'external')),
    channel     TEXT    NOT NULL,
    outcome     TEXT    NOT NULL CHECK (outcome IN ('allow', 'deny', 'approval_required')),
    reason      TEXT    NOT NULL,
    trace_id    TEXT,
    task_id     TEXT,
    created_at  INTEGER NOT NULL
);
CREATE INDEX idx_policy_decisions_created ON policy_decisions (created_at);
CREATE INDEX idx_policy_decisions_trace ON policy_decisions (trace_id);
CREATE INDEX idx_policy_decisions_task ON policy_decisions (task_id);

CREATE TABLE approvals (
    approval_id  TEXT    PRIMARY KEY,
    task_id      TEXT    REFERENCES tasks (task_id) ON DELETE SET NULL,
    trace_id     TEXT,
    tool         TEXT    NOT NULL,
    tier         INTEGER CHECK (tier IS NULL OR tier BETWEEN 0 AND 2),
    args         TEXT    NOT NULL DEFAULT '{}',
    sender       TEXT    NOT NULL DEFAULT '',
    channel      TEXT    NOT NULL DEFAULT '',
    status       TEXT    NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'approved', 'denied', 'expired')),
    requested_at INTEGER NOT NULL,
    decided_at   INTEGER,
    decided_by   TEXT
);
CREATE INDEX idx_approvals_status ON approvals (status, requested_at);
CREATE INDEX idx_approvals_task ON approvals (task_id);
CREATE INDEX idx_approvals_trace ON approvals (trace_id);

CREATE TABLE settings (
    key        TEXT    PRIMARY KEY,
    value      TEXT    NOT NULL,
    updated_at INTEGER NOT NULL
);
