//! How connections to brokers are secured: TLS (rustls with the ring
//! provider) and SASL (see `sasl`), in Kafka's four combinations
//! PLAINTEXT, SSL, SASL_PLAINTEXT and SASL_SSL.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use super::error::KafkaError;
use super::sasl::SaslConfig;

/// TLS and SASL settings shared by every connection. Cheap to clone. The
/// default is plaintext without authentication.
#[derive(Clone, Default)]
pub struct Security {
    pub(super) tls: Option<TlsConfig>,
    pub(super) sasl: Option<Arc<SaslConfig>>,
}

impl Security {
    /// TLS when `tls` is given, SASL authentication when `sasl` is.
    pub fn new(tls: Option<TlsConfig>, sasl: Option<SaslConfig>) -> Security {
        Security {
            tls,
            sasl: sasl.map(Arc::new),
        }
    }
}

impl std::fmt::Debug for Security {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Security")
            .field("tls", &self.tls.is_some())
            .field("sasl", &self.sasl)
            .finish()
    }
}

/// Which file a TLS setting came from, for the error that names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFile {
    /// The CA bundle (or, without one, the platform's roots).
    Ca,
    /// The client certificate chain.
    Cert,
    /// The client private key.
    Key,
}

/// A TLS file that cannot be used, and why.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct TlsSetupError {
    /// The file at fault.
    pub file: TlsFile,
    /// What is wrong with it.
    pub message: String,
}

/// A TLS client configuration: the trusted roots and, for mutual TLS, a
/// client certificate and key.
#[derive(Clone)]
pub struct TlsConfig {
    connector: TlsConnector,
}

impl TlsConfig {
    /// Trusts the CA certificates in the PEM file `ca_file`, or the
    /// platform's roots without one; presents `client` (a PEM certificate
    /// chain and a PEM private key) when the broker asks for a certificate.
    pub fn from_files(
        ca_file: Option<&Path>,
        client: Option<(&Path, &Path)>,
    ) -> Result<TlsConfig, TlsSetupError> {
        let ca_error = |message: String| TlsSetupError {
            file: TlsFile::Ca,
            message,
        };
        let mut roots = RootCertStore::empty();
        match ca_file {
            Some(path) => {
                for cert in read_certs(path).map_err(ca_error)? {
                    roots.add(cert).map_err(|e| {
                        ca_error(format!(
                            "{}: not a usable CA certificate: {e}",
                            path.display()
                        ))
                    })?;
                }
            }
            None => {
                let found = rustls_native_certs::load_native_certs();
                let (added, _) = roots.add_parsable_certificates(found.certs);
                if added == 0 {
                    let why = found
                        .errors
                        .first()
                        .map(|e| format!(" ({e})"))
                        .unwrap_or_default();
                    return Err(ca_error(format!(
                        "no trusted CA certificates found on this system{why}; give the brokers' CA as a PEM file"
                    )));
                }
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| ca_error(format!("TLS setup: {e}")))?
            .with_root_certificates(roots);
        let config = match client {
            None => builder.with_no_client_auth(),
            Some((cert_file, key_file)) => {
                let chain = read_certs(cert_file).map_err(|message| TlsSetupError {
                    file: TlsFile::Cert,
                    message,
                })?;
                let key = PrivateKeyDer::from_pem_file(key_file).map_err(|e| TlsSetupError {
                    file: TlsFile::Key,
                    message: format!(
                        "{}: no usable PEM private key (PKCS#8, PKCS#1 or SEC1): {e}",
                        key_file.display()
                    ),
                })?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| TlsSetupError {
                        file: TlsFile::Key,
                        message: match e {
                            rustls::Error::InconsistentKeys(_) => format!(
                                "{} does not go with the certificate in {}: {e}",
                                key_file.display(),
                                cert_file.display()
                            ),
                            // ring needs EC keys with their public key inside,
                            // as openssl writes them (Java's keytool does not).
                            _ => format!(
                                "{}: cannot use this private key ({e}); RSA, ECDSA (P-256/P-384, with the public key included) and Ed25519 keys work",
                                key_file.display()
                            ),
                        },
                    })?
            }
        };
        Ok(TlsConfig {
            connector: TlsConnector::from(Arc::new(config)),
        })
    }

    /// The TLS handshake over a fresh TCP connection to `addr` (`host:port`),
    /// verifying the broker's certificate for `host`. A certificate the
    /// roots do not vouch for is [`KafkaError::Auth`]; a connection that
    /// breaks meanwhile is [`KafkaError::Unreachable`].
    pub(super) async fn handshake(
        &self,
        addr: &str,
        stream: TcpStream,
    ) -> Result<TlsStream<TcpStream>, KafkaError> {
        let host = host_of(addr);
        let name = ServerName::try_from(host.to_string()).map_err(|_| {
            KafkaError::Auth(format!(
                "TLS to {addr}: '{host}' is not a valid host name to verify a certificate for"
            ))
        })?;
        self.connector.connect(name, stream).await.map_err(|e| {
            // The TLS error's text, and whether the certificate was refused.
            let tls = e
                .get_ref()
                .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                .map(|tls| (tls.to_string(), matches!(tls, rustls::Error::InvalidCertificate(_))));
            match tls {
                Some((tls, true)) => KafkaError::Auth(format!(
                    "TLS handshake with {addr} failed: {tls} (does the CA of --tls-ca-file sign the broker's certificate, for this host name?)"
                )),
                Some((tls, false)) => {
                    KafkaError::Auth(format!("TLS handshake with {addr} failed: {tls}"))
                }
                None => {
                    KafkaError::unreachable_by(format!("TLS handshake with {addr} failed: {e}"), e)
                }
            }
        })
    }
}

/// Every certificate of the PEM file at `path`; at least one.
fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
        .map_err(|e| format!("{}: cannot read PEM certificates: {e}", path.display()))?;
    if certs.is_empty() {
        return Err(format!(
            "{}: no PEM certificate (-----BEGIN CERTIFICATE-----) in it",
            path.display()
        ));
    }
    Ok(certs)
}

/// The host of `host:port` (`[v6]:port` too), to verify the certificate for.
fn host_of(addr: &str) -> &str {
    let host = addr.rsplit_once(':').map_or(addr, |(host, _)| host);
    host.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_of_addresses() {
        assert_eq!(host_of("broker-1.example.com:9093"), "broker-1.example.com");
        assert_eq!(host_of("127.0.0.1:9093"), "127.0.0.1");
        assert_eq!(host_of("[::1]:9093"), "::1");
    }

    #[test]
    fn unusable_files_are_named() {
        let missing = Path::new("/nonexistent/ca.pem");
        let e = TlsConfig::from_files(Some(missing), None).err().unwrap();
        assert_eq!(e.file, TlsFile::Ca);
        assert!(e.message.contains("/nonexistent/ca.pem"), "{e}");

        let empty = std::env::temp_dir().join(format!("kr-empty-{}.pem", std::process::id()));
        std::fs::write(&empty, "not a certificate\n").unwrap();
        let e = TlsConfig::from_files(Some(&empty), None).err().unwrap();
        assert_eq!(e.file, TlsFile::Ca);
        assert!(e.message.contains("no PEM certificate"), "{e}");
        std::fs::remove_file(&empty).ok();
    }
}
