//! Integration tests of the test-broker manager, against the broker `cargo xtask test` starts.

mod cli;
mod lifecycle;
mod listeners;

use std::time::Duration;

/// Timeout for one probe connection.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
