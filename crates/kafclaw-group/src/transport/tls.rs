//! rustls client configuration from PEM files, with an explicit crypto provider (ring).

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};

use crate::error::{Error, Result};
use crate::settings::TlsFiles;

fn tls_err(context: impl Into<String>, reason: impl ToString) -> Error {
    Error::Tls {
        context: context.into(),
        reason: reason.to_string(),
    }
}

fn read_certs(path: &Path, key: &str) -> Result<Vec<CertificateDer<'static>>> {
    let ctx = format!("{key} {}", path.display());
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| tls_err(&ctx, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| tls_err(&ctx, e))?;
    if certs.is_empty() {
        return Err(tls_err(ctx, "no PEM certificate found in the file"));
    }
    Ok(certs)
}

/// Builds the client configuration: roots from the CA file (or the system store when
/// none is given), and a client certificate for mutual TLS when both files are set.
pub(crate) fn client_config(files: &TlsFiles) -> Result<Arc<rustls::ClientConfig>> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    match &files.ca_file {
        Some(ca) => {
            for cert in read_certs(ca, "group.kafkaTlsCAFile")? {
                roots
                    .add(cert)
                    .map_err(|e| tls_err(format!("group.kafkaTlsCAFile {}", ca.display()), e))?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            for cert in native.certs {
                // A system store may hold certificates rustls cannot parse; skip those.
                let _ = roots.add(cert);
            }
            if roots.is_empty() {
                return Err(tls_err(
                    "system certificate store",
                    "no CA certificate found; set group.kafkaTlsCAFile",
                ));
            }
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| tls_err("protocol versions", e))?
        .with_root_certificates(roots);
    let config = match (&files.cert_file, &files.key_file) {
        (Some(cert), Some(key)) => {
            let chain = read_certs(cert, "group.kafkaTlsCertFile")?;
            let key_der = PrivateKeyDer::from_pem_file(key)
                .map_err(|e| tls_err(format!("group.kafkaTlsKeyFile {}", key.display()), e))?;
            builder
                .with_client_auth_cert(chain, key_der)
                .map_err(|e| tls_err("client certificate and key", e))?
        }
        _ => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}
