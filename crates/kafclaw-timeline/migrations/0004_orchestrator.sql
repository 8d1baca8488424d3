-- Orchestrator state: the hierarchy of agent nodes, the zones and their members, so a
-- restarted agent and the command line see the last known graph without Kafka.

CREATE TABLE orchestrator_hierarchy (
    agent_id   TEXT    PRIMARY KEY,
    agent_name TEXT    NOT NULL DEFAULT '',
    parent_id  TEXT    NOT NULL DEFAULT '',
    role       TEXT    NOT NULL DEFAULT 'worker',
    endpoint   TEXT    NOT NULL DEFAULT '',
    zone_id    TEXT    NOT NULL DEFAULT '',
    status     TEXT    NOT NULL DEFAULT 'active',
    updated_at INTEGER NOT NULL
);

CREATE TABLE orchestrator_zones (
    zone_id     TEXT    PRIMARY KEY,
    name        TEXT    NOT NULL DEFAULT '',
    visibility  TEXT    NOT NULL DEFAULT 'public',
    owner_id    TEXT    NOT NULL DEFAULT '',
    parent_zone TEXT    NOT NULL DEFAULT '',
    allowed_ids TEXT    NOT NULL DEFAULT '[]',
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE orchestrator_zone_members (
    zone_id   TEXT    NOT NULL REFERENCES orchestrator_zones (zone_id) ON DELETE CASCADE,
    agent_id  TEXT    NOT NULL,
    role      TEXT    NOT NULL DEFAULT 'member',
    joined_at INTEGER NOT NULL,
    PRIMARY KEY (zone_id, agent_id)
);
