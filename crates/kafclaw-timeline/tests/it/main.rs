//! Integration tests for kafclaw-timeline, each on a real SQLite file in a temp dir.

mod approvals;
mod concurrency;
mod decisions;
mod events;
mod group;
mod logged;
mod offsets;
mod open;
mod settings;
mod support;
mod tasks;
mod transport;
mod usage;
