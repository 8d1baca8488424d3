-- Admissions to a gated group: which sponsor admitted which agent, so a restarted
-- agent knows its fellow members without replaying the onboarding topic.

CREATE TABLE group_admissions (
    agent_id    TEXT    PRIMARY KEY,
    sponsor_id  TEXT    NOT NULL,
    admitted_at INTEGER NOT NULL
);
