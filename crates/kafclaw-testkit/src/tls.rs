//! Test certificates: a throwaway CA, a server certificate for 127.0.0.1/localhost and a client certificate.
//!
//! All PEM, ECDSA P-256, generated with rcgen the first time a broker directory
//! is started and kept afterwards, so clients holding the CA keep working
//! across broker restarts.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};

use crate::error::{Error, Result};

/// The PEM files of a broker's TLS setup (all under `<broker dir>/tls/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// CA certificate: trust this to talk to the TLS listeners.
    pub ca_cert: PathBuf,
    /// CA private key (lets a test sign further certificates).
    pub ca_key: PathBuf,
    /// Server certificate (SAN: IP 127.0.0.1, DNS localhost), signed by the CA.
    pub server_cert: PathBuf,
    /// Server private key (PKCS#8).
    pub server_key: PathBuf,
    /// Client certificate (CN `kafclaw-test-client`), signed by the CA, for the mTLS listener.
    pub client_cert: PathBuf,
    /// Client private key (PKCS#8).
    pub client_key: PathBuf,
}

impl TlsFiles {
    /// The file names under `dir`.
    pub fn in_dir(dir: &Path) -> Self {
        TlsFiles {
            ca_cert: dir.join("ca.pem"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.pem"),
            server_key: dir.join("server.key"),
            client_cert: dir.join("client.pem"),
            client_key: dir.join("client.key"),
        }
    }

    fn all(&self) -> [&Path; 6] {
        [
            &self.ca_cert,
            &self.ca_key,
            &self.server_cert,
            &self.server_key,
            &self.client_cert,
            &self.client_key,
        ]
    }

    /// Generates the files unless all of them exist already.
    pub(crate) fn ensure(&self) -> Result<()> {
        if self.all().iter().all(|p| p.is_file()) {
            return Ok(());
        }
        let dir = self.ca_cert.parent().unwrap_or(Path::new(".")).to_owned();
        let pems = generate().map_err(|e| Error::Certificates {
            dir: dir.clone(),
            detail: e.to_string(),
        })?;
        std::fs::create_dir_all(&dir).map_err(|e| Error::io("create directory", &dir, e))?;
        for (path, pem) in self.all().into_iter().zip(pems) {
            std::fs::write(path, pem).map_err(|e| Error::io("write", path, e))?;
        }
        Ok(())
    }
}

/// Returns PEM texts in the order of [`TlsFiles::all`].
fn generate() -> std::result::Result<[String; 6], rcgen::Error> {
    let ca_key = KeyPair::generate()?;
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, "KafClaw test CA");
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let ca_cert = ca.self_signed(&ca_key)?;
    let ca_cert_pem = ca_cert.pem();
    let ca_key_pem = ca_key.serialize_pem();
    let issuer = Issuer::new(ca, ca_key);

    let server_key = KeyPair::generate()?;
    let mut server = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])?;
    server
        .distinguished_name
        .push(DnType::CommonName, "kafclaw-test-broker");
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let server_cert = server.signed_by(&server_key, &issuer)?;

    let client_key = KeyPair::generate()?;
    let mut client = CertificateParams::new(Vec::<String>::new())?;
    client
        .distinguished_name
        .push(DnType::CommonName, "kafclaw-test-client");
    client.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let client_cert = client.signed_by(&client_key, &issuer)?;

    Ok([
        ca_cert_pem,
        ca_key_pem,
        server_cert.pem(),
        server_key.serialize_pem(),
        client_cert.pem(),
        client_key.serialize_pem(),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generates_all_files_once_and_keeps_them() {
        let tmp = tempfile::tempdir().unwrap();
        let files = TlsFiles::in_dir(&tmp.path().join("tls"));
        files.ensure().unwrap();
        for p in files.all() {
            let text = std::fs::read_to_string(p).unwrap();
            assert!(text.starts_with("-----BEGIN "), "{}: {text}", p.display());
        }
        let ca_before = std::fs::read_to_string(&files.ca_cert).unwrap();
        files.ensure().unwrap();
        assert_eq!(std::fs::read_to_string(&files.ca_cert).unwrap(), ca_before);
        // A missing file regenerates the whole set (a lone new key would not match its certificate).
        std::fs::remove_file(&files.client_key).unwrap();
        files.ensure().unwrap();
        assert_ne!(std::fs::read_to_string(&files.ca_cert).unwrap(), ca_before);
    }
}
