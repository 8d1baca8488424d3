//! Integration tests of the `kafclaw` binary: each module drives the real executable.

mod agent;
mod collab;
mod config;
mod dashboard;
mod envelope;
mod fullmode;
mod gateway;
mod group;
mod kshark;
mod models;
mod orchestrator;
mod tools;
