-- Group tasks this agent committed to work on: `claimed` (its claim sent, the outcome
-- not yet read), `running` (targeted at it, or its claim won), `done` (answered; kept
-- a day so a late write of the same task cannot bring it back). A restarted agent
-- resumes the claimed and running ones.

CREATE TABLE group_open_tasks (
    task_id     TEXT    PRIMARY KEY,
    group_name  TEXT    NOT NULL,
    request     TEXT    NOT NULL,
    traceparent TEXT,
    targeted    INTEGER NOT NULL DEFAULT 0,
    state       TEXT    NOT NULL CHECK (state IN ('claimed', 'running', 'done')),
    saved_at    INTEGER NOT NULL
);

CREATE INDEX idx_group_open_tasks_group_state ON group_open_tasks (group_name, state);
