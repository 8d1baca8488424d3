//! Integration tests of kafclaw-tools: real files in temp dirs, real processes,
//! real HTTP servers on 127.0.0.1.

mod confine_prop;
mod exec_corpus;
mod exec_run;
mod fs_corpus;
mod fs_tools;
mod race;
mod registry;
mod support;
mod web;
