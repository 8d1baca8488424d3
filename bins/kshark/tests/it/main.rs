//! Tests of the `kshark` binary: flags, properties files, `--auto`, reports and
//! exit codes, against the real test broker (skipped locally without one, failed
//! in CI).

mod cli;
mod support;
