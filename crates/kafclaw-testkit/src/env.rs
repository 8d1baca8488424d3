//! Finding the test broker (and the test Python) from the `KAFCLAW_TEST_*` environment.
//!
//! Locally a missing broker skips the test with a printed reason; in CI
//! (`CI=true` or `CI=1`) it is a failure. The decision is made by functions
//! that take an environment lookup, so it is unit-tested without touching the
//! process environment.

use std::path::PathBuf;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::broker::{Broker, StartOutcome, StopOutcome};
use crate::error::Result;

/// Names of the environment variables that `cargo xtask test` exports.
pub mod vars {
    /// PLAINTEXT bootstrap address(es), comma-separated: `127.0.0.1:P`.
    pub const BROKERS: &str = "KAFCLAW_TEST_BROKERS";
    /// SASL_PLAINTEXT listener (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512).
    pub const SASL_BROKERS: &str = "KAFCLAW_TEST_SASL_BROKERS";
    /// The default SASL user.
    pub const SASL_USER: &str = "KAFCLAW_TEST_SASL_USER";
    /// Its password.
    pub const SASL_PASSWORD: &str = "KAFCLAW_TEST_SASL_PASSWORD";
    /// A second SASL user (a peer).
    pub const SASL_PEER_USER: &str = "KAFCLAW_TEST_SASL_PEER_USER";
    /// Its password.
    pub const SASL_PEER_PASSWORD: &str = "KAFCLAW_TEST_SASL_PEER_PASSWORD";
    /// TLS listener (server certificate only).
    pub const TLS_BROKERS: &str = "KAFCLAW_TEST_TLS_BROKERS";
    /// Mutual-TLS listener (client certificate required).
    pub const MTLS_BROKERS: &str = "KAFCLAW_TEST_MTLS_BROKERS";
    /// PEM file of the CA that signed the broker's (and the client's) certificate.
    pub const TLS_CA: &str = "KAFCLAW_TEST_TLS_CA";
    /// PEM client certificate for the mTLS listener.
    pub const TLS_CLIENT_CERT: &str = "KAFCLAW_TEST_TLS_CLIENT_CERT";
    /// PEM (PKCS#8) key of that certificate.
    pub const TLS_CLIENT_KEY: &str = "KAFCLAW_TEST_TLS_CLIENT_KEY";
    /// The PLAINTEXT port P of the managed broker.
    pub const KAFKA_PORT: &str = "KAFCLAW_TEST_KAFKA_PORT";
    /// The managed broker's directory (lets tests stop and restart it).
    pub const BROKER_DIR: &str = "KAFCLAW_TEST_BROKER_DIR";
    /// The managed broker's `broker.json`.
    pub const BROKER_JSON: &str = "KAFCLAW_TEST_BROKER_JSON";
    /// A Python interpreter with the packages of `scripts/requirements-test.txt`.
    pub const PYTHON: &str = "KAFCLAW_TEST_PYTHON";
    /// The xtask binary that runs the tests (for tests of `cargo xtask` itself).
    pub const XTASK: &str = "KAFCLAW_TEST_XTASK";
    /// Set to `true` or `1` by CI systems.
    pub const CI: &str = "CI";
}

/// The SASL_PLAINTEXT listener and its users.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaslEndpoint {
    /// Bootstrap address(es).
    pub brokers: String,
    /// Default user.
    pub user: String,
    /// Its password.
    pub password: String,
    /// A second user and password, when exported.
    pub peer: Option<(String, String)>,
}

/// The TLS listeners and the PEM files to talk to them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsEndpoint {
    /// TLS listener address(es).
    pub brokers: String,
    /// Mutual-TLS listener address(es), when exported.
    pub mtls_brokers: Option<String>,
    /// The CA certificate.
    pub ca: PathBuf,
    /// Client certificate for mTLS, when exported.
    pub client_cert: Option<PathBuf>,
    /// Client key for mTLS, when exported.
    pub client_key: Option<PathBuf>,
}

/// The broker a test runs against, as described by the environment.
///
/// Obtained from [`broker`] (shared: many tests at once) or
/// [`TestBroker::exclusive`] (alone: may stop and restart the broker).
#[derive(Debug)]
pub struct TestBroker {
    /// PLAINTEXT bootstrap address(es), comma-separated.
    pub brokers: String,
    /// The SASL listener, when exported.
    pub sasl: Option<SaslEndpoint>,
    /// The TLS listeners, when exported.
    pub tls: Option<TlsEndpoint>,
    control: Option<Broker>,
    access: Option<Access>,
}

/// Tests that stop the broker must not overlap with tests that use it.
static BROKER_USE: RwLock<()> = RwLock::new(());

#[derive(Debug)]
enum Access {
    Shared(#[allow(dead_code)] RwLockReadGuard<'static, ()>),
    Exclusive(#[allow(dead_code)] RwLockWriteGuard<'static, ()>),
}

impl TestBroker {
    /// The bootstrap addresses as a list (what rskafka's `ClientBuilder::new` takes).
    pub fn bootstrap(&self) -> Vec<String> {
        split_list(&self.brokers)
    }

    /// The managed broker, when the environment names its directory and port.
    pub fn control(&self) -> Option<&Broker> {
        self.control.as_ref()
    }

    /// Like [`broker`], but waits until no other test in this process uses the
    /// broker and keeps others out until the returned handle is dropped. Only
    /// such a handle may [`stop`](Self::stop), [`start`](Self::start) or
    /// [`restart`](Self::restart) the broker. Do not call it while holding a
    /// shared handle in the same test (that would wait forever).
    ///
    /// With one process per test (cargo-nextest) the lock does not span
    /// processes: run broker-restarting tests in a serial test group there.
    pub fn exclusive() -> Option<TestBroker> {
        let mut broker = from_process_env()?;
        let guard = BROKER_USE.write().unwrap_or_else(|e| e.into_inner());
        broker.access = Some(Access::Exclusive(guard));
        Some(broker)
    }

    fn controlled(&self) -> &Broker {
        assert!(
            matches!(self.access, Some(Access::Exclusive(_))),
            "stopping or starting the test broker needs TestBroker::exclusive(), so no other test is using it"
        );
        match &self.control {
            Some(c) => c,
            None => panic!(
                "{} and {} are not set: the broker was not started by `cargo xtask test` and cannot be controlled",
                vars::BROKER_DIR,
                vars::KAFKA_PORT
            ),
        }
    }

    /// Stops the managed broker (exclusive handles only).
    pub fn stop(&self) -> Result<StopOutcome> {
        self.controlled().stop()
    }

    /// Starts the managed broker again (exclusive handles only).
    pub fn start(&self) -> Result<StartOutcome> {
        self.controlled().start()
    }

    /// Stops and starts the managed broker (exclusive handles only).
    pub fn restart(&self) -> Result<StartOutcome> {
        self.stop()?;
        self.start()
    }
}

impl Drop for TestBroker {
    fn drop(&mut self) {
        // An exclusive test that failed half-way must not leave the broker down for the others.
        if let (Some(Access::Exclusive(_)), Some(control)) = (&self.access, &self.control)
            && control.status().is_err()
            && let Err(e) = control.start()
        {
            eprintln!("kafclaw-testkit: could not restart the test broker: {e}");
        }
    }
}

/// The test broker, or `None` (with the reason on stderr) when none is
/// configured locally. Panics in CI, where a missing broker is a failure, and
/// on unusable `KAFCLAW_TEST_*` values.
///
/// The handle is shared: any number of tests may hold one at once, but not
/// while a test holds [`TestBroker::exclusive`].
pub fn broker() -> Option<TestBroker> {
    let mut broker = from_process_env()?;
    let guard = BROKER_USE.read().unwrap_or_else(|e| e.into_inner());
    broker.access = Some(Access::Shared(guard));
    Some(broker)
}

fn from_process_env() -> Option<TestBroker> {
    match broker_from_env(|k| std::env::var(k).ok()) {
        Ok(found) => found,
        Err(message) => panic!("{message}"),
    }
}

/// Whether the lookup says we run in CI (`CI` is `true` or `1`).
pub fn is_ci(lookup: impl Fn(&str) -> Option<String>) -> bool {
    lookup(vars::CI).is_some_and(|v| {
        let v = v.trim();
        v == "1" || v.eq_ignore_ascii_case("true")
    })
}

/// The decision behind [`broker`], with the environment as a lookup function:
/// `Ok(Some)` when configured, `Ok(None)` to skip locally (the reason is
/// printed), `Err(message)` when CI lacks a broker or a value is unusable.
pub fn broker_from_env(
    lookup: impl Fn(&str) -> Option<String>,
) -> std::result::Result<Option<TestBroker>, String> {
    let get = |k: &str| {
        lookup(k)
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
    };
    let Some(brokers) = get(vars::BROKERS) else {
        return skip_or_fail(&lookup, vars::BROKERS);
    };
    let required = |needed: &'static str, because: &'static str| {
        get(needed).ok_or_else(|| format!("{because} is set but {needed} is not"))
    };

    let sasl = match get(vars::SASL_BROKERS) {
        Some(brokers) => Some(SaslEndpoint {
            brokers,
            user: required(vars::SASL_USER, vars::SASL_BROKERS)?,
            password: required(vars::SASL_PASSWORD, vars::SASL_BROKERS)?,
            peer: get(vars::SASL_PEER_USER).zip(get(vars::SASL_PEER_PASSWORD)),
        }),
        None => None,
    };
    let tls = match get(vars::TLS_BROKERS) {
        Some(brokers) => Some(TlsEndpoint {
            brokers,
            mtls_brokers: get(vars::MTLS_BROKERS),
            ca: PathBuf::from(required(vars::TLS_CA, vars::TLS_BROKERS)?),
            client_cert: get(vars::TLS_CLIENT_CERT).map(PathBuf::from),
            client_key: get(vars::TLS_CLIENT_KEY).map(PathBuf::from),
        }),
        None => None,
    };
    let control = match (get(vars::BROKER_DIR), get(vars::KAFKA_PORT)) {
        (Some(dir), Some(port)) => {
            let port: u16 = port
                .parse()
                .map_err(|_| format!("{}={port:?} is not a port number", vars::KAFKA_PORT))?;
            Some(Broker::new(dir, port).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    Ok(Some(TestBroker {
        brokers,
        sasl,
        tls,
        control,
        access: None,
    }))
}

/// The Python interpreter prepared by `cargo xtask test` (with the pinned test
/// packages), or `None` locally when it is not set; panics in CI.
pub fn python() -> Option<PathBuf> {
    match python_from_env(|k| std::env::var(k).ok()) {
        Ok(found) => found,
        Err(message) => panic!("{message}"),
    }
}

/// The decision behind [`python`], with the environment as a lookup function.
pub fn python_from_env(
    lookup: impl Fn(&str) -> Option<String>,
) -> std::result::Result<Option<PathBuf>, String> {
    match lookup(vars::PYTHON).filter(|v| !v.trim().is_empty()) {
        Some(p) => Ok(Some(PathBuf::from(p.trim()))),
        None => skip_or_fail(&lookup, vars::PYTHON),
    }
}

fn skip_or_fail<T>(
    lookup: &impl Fn(&str) -> Option<String>,
    var: &str,
) -> std::result::Result<Option<T>, String> {
    if is_ci(lookup) {
        Err(format!(
            "{var} is not set and CI is true: in CI a missing test broker is a failure, not a skip; run the tests with `cargo xtask test`"
        ))
    } else {
        eprintln!("skipping: {var} is not set; run `cargo xtask test`");
        Ok(None)
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn no_broker_skips_locally() {
        assert!(matches!(broker_from_env(env(&[])), Ok(None)));
        assert!(matches!(broker_from_env(env(&[("CI", "false")])), Ok(None)));
        assert!(matches!(
            broker_from_env(env(&[(vars::BROKERS, "  ")])),
            Ok(None)
        ));
    }

    #[test]
    fn no_broker_fails_in_ci() {
        for ci in ["true", "TRUE", "1", " true "] {
            let err = broker_from_env(env(&[("CI", ci)])).unwrap_err();
            assert!(err.contains(vars::BROKERS), "{err}");
            assert!(err.contains("cargo xtask test"), "{err}");
        }
        assert!(python_from_env(env(&[("CI", "1")])).is_err());
        assert!(matches!(python_from_env(env(&[])), Ok(None)));
    }

    #[test]
    fn a_full_environment_is_read_completely() {
        let b = broker_from_env(env(&[
            (vars::BROKERS, "127.0.0.1:39092, 127.0.0.2:39092"),
            (vars::SASL_BROKERS, "127.0.0.1:39094"),
            (vars::SASL_USER, "kafclaw"),
            (vars::SASL_PASSWORD, "kafclaw-secret"),
            (vars::SASL_PEER_USER, "peer"),
            (vars::SASL_PEER_PASSWORD, "peer-secret"),
            (vars::TLS_BROKERS, "127.0.0.1:39095"),
            (vars::MTLS_BROKERS, "127.0.0.1:39096"),
            (vars::TLS_CA, "/t/ca.pem"),
            (vars::TLS_CLIENT_CERT, "/t/client.pem"),
            (vars::TLS_CLIENT_KEY, "/t/client.key"),
            (vars::BROKER_DIR, "/ws/target/kafka/39092"),
            (vars::KAFKA_PORT, "39092"),
        ]))
        .unwrap()
        .unwrap();
        assert_eq!(b.bootstrap(), ["127.0.0.1:39092", "127.0.0.2:39092"]);
        let sasl = b.sasl.as_ref().unwrap();
        assert_eq!(sasl.user, "kafclaw");
        assert_eq!(sasl.peer, Some(("peer".into(), "peer-secret".into())));
        let tls = b.tls.as_ref().unwrap();
        assert_eq!(tls.mtls_brokers.as_deref(), Some("127.0.0.1:39096"));
        assert_eq!(
            tls.client_key.as_deref(),
            Some(std::path::Path::new("/t/client.key"))
        );
        let control = b.control().unwrap();
        assert_eq!(control.port(), 39092);
        assert_eq!(
            control.dir(),
            std::path::Path::new("/ws/target/kafka/39092")
        );
    }

    #[test]
    fn a_plain_broker_alone_is_enough() {
        let b = broker_from_env(env(&[(vars::BROKERS, "localhost:9092")]))
            .unwrap()
            .unwrap();
        assert!(b.sasl.is_none() && b.tls.is_none() && b.control().is_none());
    }

    #[test]
    fn incomplete_or_bad_values_are_errors_even_locally() {
        let err = broker_from_env(env(&[
            (vars::BROKERS, "127.0.0.1:9092"),
            (vars::SASL_BROKERS, "127.0.0.1:9094"),
            (vars::SASL_USER, "u"),
        ]))
        .unwrap_err();
        assert!(err.contains(vars::SASL_PASSWORD), "{err}");
        let err = broker_from_env(env(&[
            (vars::BROKERS, "127.0.0.1:9092"),
            (vars::TLS_BROKERS, "127.0.0.1:9095"),
        ]))
        .unwrap_err();
        assert!(err.contains(vars::TLS_CA), "{err}");
        let err = broker_from_env(env(&[
            (vars::BROKERS, "127.0.0.1:9092"),
            (vars::BROKER_DIR, "/x"),
            (vars::KAFKA_PORT, "ninety"),
        ]))
        .unwrap_err();
        assert!(err.contains("ninety"), "{err}");
    }

    #[test]
    #[should_panic(expected = "TestBroker::exclusive")]
    fn a_shared_handle_cannot_stop_the_broker() {
        let b = broker_from_env(env(&[
            (vars::BROKERS, "127.0.0.1:9"),
            (vars::BROKER_DIR, "/nonexistent"),
            (vars::KAFKA_PORT, "9"),
        ]))
        .unwrap()
        .unwrap();
        let _ = b.stop();
    }
}
