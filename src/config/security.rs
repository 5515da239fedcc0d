//! The flags that secure connections to Kafka: TLS and SASL, named as Kafka
//! names them. [`SecurityArgs::load`] checks them together and reads their
//! files at start-up, so that a mistake stops the process (exit code 2,
//! naming the flag) instead of failing every request later.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};

use crate::kafka::{SaslConfig, SaslMechanism, Secret, Security, TlsConfig, TlsFile};

/// Kafka's `security.protocol`: TLS or not, SASL or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SecurityProtocol {
    /// No TLS, no authentication.
    #[value(name = "plaintext")]
    Plaintext,
    /// TLS.
    #[value(name = "ssl")]
    Ssl,
    /// SASL authentication without TLS.
    #[value(name = "sasl_plaintext", alias = "sasl-plaintext")]
    SaslPlaintext,
    /// SASL authentication over TLS.
    #[value(name = "sasl_ssl", alias = "sasl-ssl")]
    SaslSsl,
}

impl SecurityProtocol {
    fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// Kafka's `sasl.mechanism`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SaslMechanismArg {
    /// PLAIN: the password is sent as it is (use it with sasl_ssl).
    #[value(name = "plain")]
    Plain,
    /// SCRAM-SHA-256: a challenge-response; the password never crosses the wire.
    #[value(name = "scram-sha-256")]
    ScramSha256,
    /// SCRAM-SHA-512.
    #[value(name = "scram-sha-512")]
    ScramSha512,
}

/// The security flags, part of [`crate::Config`].
#[derive(Debug, Clone, Args)]
#[command(next_help_heading = "Kafka security (TLS and SASL)")]
pub struct SecurityArgs {
    /// How to talk to the brokers, as Kafka's security.protocol names it:
    /// plaintext, ssl (TLS), sasl_plaintext (SASL without TLS) or sasl_ssl.
    #[arg(
        long,
        env = "KAFKA_RECORDS_SECURITY_PROTOCOL",
        value_enum,
        ignore_case = true,
        default_value_t = SecurityProtocol::Plaintext
    )]
    pub security_protocol: SecurityProtocol,

    /// SASL mechanism (needed with sasl_plaintext and sasl_ssl).
    #[arg(
        long,
        env = "KAFKA_RECORDS_SASL_MECHANISM",
        value_enum,
        ignore_case = true
    )]
    pub sasl_mechanism: Option<SaslMechanismArg>,

    /// SASL user name.
    #[arg(long, env = "KAFKA_RECORDS_SASL_USERNAME")]
    pub sasl_username: Option<String>,

    /// SASL password. Prefer the environment variable or --sasl-password-file:
    /// a command line is visible to other users of the machine.
    #[arg(
        long,
        env = "KAFKA_RECORDS_SASL_PASSWORD",
        hide_env_values = true,
        value_parser = secret
    )]
    pub sasl_password: Option<Secret>,

    /// File holding the SASL password (one trailing newline is ignored), e.g. a
    /// mounted Kubernetes secret.
    #[arg(long, env = "KAFKA_RECORDS_SASL_PASSWORD_FILE", value_name = "PATH")]
    pub sasl_password_file: Option<PathBuf>,

    /// PEM file of the CA certificates that sign the brokers' certificates.
    /// Without it, the platform's trusted roots are used.
    #[arg(long, env = "KAFKA_RECORDS_TLS_CA_FILE", value_name = "PATH")]
    pub tls_ca_file: Option<PathBuf>,

    /// PEM certificate (chain) to present to brokers that ask for one
    /// (mutual TLS); needs --tls-key-file.
    #[arg(long, env = "KAFKA_RECORDS_TLS_CERT_FILE", value_name = "PATH")]
    pub tls_cert_file: Option<PathBuf>,

    /// PEM private key of --tls-cert-file (PKCS#8, PKCS#1 or SEC1, unencrypted).
    #[arg(long, env = "KAFKA_RECORDS_TLS_KEY_FILE", value_name = "PATH")]
    pub tls_key_file: Option<PathBuf>,
}

fn secret(text: &str) -> Result<Secret, String> {
    Ok(Secret::new(text))
}

/// A security flag that cannot work, and why; the message names the flag.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub struct SecurityError {
    /// The flag at fault, e.g. `--tls-ca-file`.
    pub flag: &'static str,
    /// What is wrong, naming the flag.
    pub message: String,
}

fn refuse(flag: &'static str, message: String) -> SecurityError {
    SecurityError { flag, message }
}

impl SecurityArgs {
    /// Checks the flags together and reads their files into the Kafka
    /// layer's settings.
    pub fn load(&self) -> Result<Security, SecurityError> {
        let protocol = self.security_protocol;
        let name = protocol
            .to_possible_value()
            .map(|v| v.get_name().to_string())
            .unwrap_or_default();
        if !protocol.sasl() {
            let given = [
                ("--sasl-mechanism", self.sasl_mechanism.is_some()),
                ("--sasl-username", self.sasl_username.is_some()),
                ("--sasl-password", self.sasl_password.is_some()),
                ("--sasl-password-file", self.sasl_password_file.is_some()),
            ];
            if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
                return Err(refuse(
                    flag,
                    format!("{flag} needs --security-protocol sasl_plaintext or sasl_ssl (it is {name})"),
                ));
            }
        }
        if !protocol.tls() {
            let given = [
                ("--tls-ca-file", self.tls_ca_file.is_some()),
                ("--tls-cert-file", self.tls_cert_file.is_some()),
                ("--tls-key-file", self.tls_key_file.is_some()),
            ];
            if let Some((flag, _)) = given.iter().find(|(_, set)| *set) {
                return Err(refuse(
                    flag,
                    format!("{flag} needs --security-protocol ssl or sasl_ssl (it is {name})"),
                ));
            }
        }
        let sasl = if protocol.sasl() {
            Some(self.sasl(&name)?)
        } else {
            None
        };
        let tls = if protocol.tls() {
            Some(self.tls()?)
        } else {
            None
        };
        Ok(Security::new(tls, sasl))
    }

    fn sasl(&self, protocol: &str) -> Result<SaslConfig, SecurityError> {
        let mechanism = self.sasl_mechanism.ok_or_else(|| {
            refuse(
                "--sasl-mechanism",
                format!("--security-protocol {protocol} needs --sasl-mechanism (plain, scram-sha-256 or scram-sha-512)"),
            )
        })?;
        let username = self
            .sasl_username
            .clone()
            .filter(|u| !u.is_empty())
            .ok_or_else(|| {
                refuse(
                    "--sasl-username",
                    format!("--security-protocol {protocol} needs --sasl-username"),
                )
            })?;
        let password = match (&self.sasl_password, &self.sasl_password_file) {
            (Some(_), Some(_)) => {
                return Err(refuse(
                    "--sasl-password-file",
                    "give either --sasl-password or --sasl-password-file, not both".into(),
                ))
            }
            (Some(p), None) => p.clone(),
            (None, Some(path)) => read_password(path)?,
            (None, None) => {
                return Err(refuse(
                    "--sasl-password",
                    format!(
                    "--security-protocol {protocol} needs --sasl-password or --sasl-password-file"
                ),
                ))
            }
        };
        Ok(SaslConfig {
            mechanism: match mechanism {
                SaslMechanismArg::Plain => SaslMechanism::Plain,
                SaslMechanismArg::ScramSha256 => SaslMechanism::ScramSha256,
                SaslMechanismArg::ScramSha512 => SaslMechanism::ScramSha512,
            },
            username,
            password,
        })
    }

    fn tls(&self) -> Result<TlsConfig, SecurityError> {
        let client = match (&self.tls_cert_file, &self.tls_key_file) {
            (Some(cert), Some(key)) => Some((cert.as_path(), key.as_path())),
            (None, None) => None,
            (Some(_), None) => {
                return Err(refuse(
                    "--tls-key-file",
                    "--tls-cert-file needs --tls-key-file (the certificate's private key)".into(),
                ))
            }
            (None, Some(_)) => {
                return Err(refuse(
                    "--tls-cert-file",
                    "--tls-key-file needs --tls-cert-file (the certificate it signs for)".into(),
                ))
            }
        };
        TlsConfig::from_files(self.tls_ca_file.as_deref(), client).map_err(|e| {
            let flag = match e.file {
                TlsFile::Ca => "--tls-ca-file",
                TlsFile::Cert => "--tls-cert-file",
                TlsFile::Key => "--tls-key-file",
            };
            refuse(flag, format!("{flag}: {}", e.message))
        })
    }
}

/// The password in `path`, without one trailing newline. The error names the
/// file, never its content.
fn read_password(path: &Path) -> Result<Secret, SecurityError> {
    let flag = "--sasl-password-file";
    let text = std::fs::read_to_string(path)
        .map_err(|e| refuse(flag, format!("{flag}: cannot read {}: {e}", path.display())))?;
    let password = text
        .strip_suffix("\r\n")
        .or_else(|| text.strip_suffix('\n'))
        .unwrap_or(&text);
    if password.is_empty() {
        return Err(refuse(flag, format!("{flag}: {} is empty", path.display())));
    }
    Ok(Secret::new(password))
}

#[cfg(test)]
mod tests {
    use clap::Parser as _;

    use crate::Config;

    fn load(args: &[&str]) -> Result<crate::kafka::Security, super::SecurityError> {
        let mut argv = vec!["kafka-records"];
        argv.extend_from_slice(args);
        Config::try_parse_from(argv).unwrap().security.load()
    }

    #[test]
    fn plaintext_is_the_default() {
        let security = load(&[]).unwrap();
        assert_eq!(
            format!("{security:?}"),
            "Security { tls: false, sasl: None }"
        );
    }

    #[test]
    fn the_password_never_prints() {
        let config = Config::try_parse_from([
            "kafka-records",
            "--security-protocol",
            "SASL_SSL",
            "--sasl-mechanism",
            "SCRAM-SHA-512",
            "--sasl-username",
            "alice",
            "--sasl-password",
            "hunter2-secret",
        ])
        .unwrap();
        let debug = format!("{config:?}");
        assert!(!debug.contains("hunter2"), "{debug}");
        assert!(debug.contains("alice"), "{debug}");
        let security = config.security.load();
        // No CA file: the platform roots, if this machine has any; either way
        // nothing prints the password.
        let shown = format!("{security:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn combinations_that_cannot_work_name_the_flag() {
        for (args, flag) in [
            (vec!["--sasl-username", "alice"], "--sasl-username"),
            (vec!["--tls-ca-file", "/x"], "--tls-ca-file"),
            (
                vec![
                    "--security-protocol",
                    "sasl_plaintext",
                    "--sasl-username",
                    "a",
                    "--sasl-password",
                    "p",
                ],
                "--sasl-mechanism",
            ),
            (
                vec![
                    "--security-protocol",
                    "sasl_plaintext",
                    "--sasl-mechanism",
                    "plain",
                    "--sasl-password",
                    "p",
                ],
                "--sasl-username",
            ),
            (
                vec![
                    "--security-protocol",
                    "sasl_plaintext",
                    "--sasl-mechanism",
                    "plain",
                    "--sasl-username",
                    "a",
                ],
                "--sasl-password",
            ),
            (
                vec!["--security-protocol", "ssl", "--tls-cert-file", "/c.pem"],
                "--tls-key-file",
            ),
            (
                vec![
                    "--security-protocol",
                    "ssl",
                    "--tls-ca-file",
                    "/nonexistent.pem",
                ],
                "--tls-ca-file",
            ),
        ] {
            let e = load(&args).expect_err(&format!("{args:?} was accepted"));
            assert_eq!(e.flag, flag, "{args:?}: {e}");
            assert!(e.message.contains(flag), "{args:?}: {e}");
        }
    }
}
