//! The crate's error type: what can stop the gateway from starting or serving.

use std::net::SocketAddr;

/// Errors of the gateway.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The configured bind address would expose the gateway beyond this machine
    /// without an auth token.
    #[error(
        "refusing to start in {mode} mode on {host} without an auth token: set gateway.authToken \
         (or KAFCLAW_GATEWAY_AUTH_TOKEN){hint}"
    )]
    TokenRequired {
        /// The operating mode.
        mode: &'static str,
        /// The host the gateway was asked to bind.
        host: String,
        /// What else the operator can do.
        hint: &'static str,
    },
    /// An option has a value the gateway cannot use.
    #[error("invalid gateway option {name}: {reason}")]
    InvalidOption {
        /// Which option (config key or flag).
        name: &'static str,
        /// What is wrong.
        reason: String,
    },
    /// A listener could not be opened.
    #[error("cannot listen on {addr} ({server} server): {source}")]
    Bind {
        /// Which listener (`api` or `dashboard`).
        server: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// A server stopped with an IO error.
    #[error("{server} server failed: {source}")]
    Serve {
        /// Which listener (`api` or `dashboard`).
        server: &'static str,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

/// Result with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;
