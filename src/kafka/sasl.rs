//! SASL authentication of a new connection, as the Java client does it: after
//! ApiVersions, a SaslHandshake (v1) names the mechanism, then SaslAuthenticate
//! (v2) requests carry the mechanism's messages, before any other request.
//!
//! Mechanisms: PLAIN (RFC 4616: the password in one message, so only over TLS
//! outside tests) and SCRAM-SHA-256/512 (RFC 5802, RFC 7677: a salted
//! challenge-response in which the password never crosses the wire and the
//! broker proves it knows the credentials too; a server signature that does
//! not verify fails the connection).
//!
//! Failures become [`KafkaError::Auth`] naming the broker and the reason;
//! neither the password nor anything derived from it ever appears in an error
//! or a log line.

use std::num::NonZeroU32;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, SaslAuthenticateRequest, SaslHandshakeRequest};
use kafka_protocol::protocol::StrBytes;
use rand::RngCore as _;
use ring::{digest, hmac, pbkdf2};

use super::conn::Connection;
use super::error::{KafkaError, ResponseError};
use super::versions;

/// A secret string (a password): its `Debug` and `Display` print `***`, so
/// that logging a configuration never reveals it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A SASL mechanism this service speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SaslMechanism {
    /// PLAIN: user name and password in clear (protect it with TLS).
    Plain,
    /// SCRAM-SHA-256 (RFC 7677).
    ScramSha256,
    /// SCRAM-SHA-512.
    ScramSha512,
}

impl SaslMechanism {
    /// The name Kafka knows it by.
    pub fn name(self) -> &'static str {
        match self {
            SaslMechanism::Plain => "PLAIN",
            SaslMechanism::ScramSha256 => "SCRAM-SHA-256",
            SaslMechanism::ScramSha512 => "SCRAM-SHA-512",
        }
    }
}

/// Who this service authenticates as, and how.
#[derive(Debug, Clone)]
pub struct SaslConfig {
    /// The mechanism.
    pub mechanism: SaslMechanism,
    /// The user name.
    pub username: String,
    /// The password; printed as `***`.
    pub password: Secret,
}

/// Authenticates the fresh connection `conn` to `addr`: SaslHandshake, then
/// the mechanism's SaslAuthenticate rounds.
pub(super) async fn authenticate(
    conn: &Connection,
    addr: &str,
    sasl: &SaslConfig,
) -> Result<(), KafkaError> {
    let fail =
        |reason: String| KafkaError::Auth(format!("authentication to {addr} failed: {reason}"));
    let mechanism = sasl.mechanism.name();
    if !conn.supports(ApiKey::SaslHandshake as i16, versions::SASL_HANDSHAKE)
        || !conn.supports(ApiKey::SaslAuthenticate as i16, versions::SASL_AUTHENTICATE)
    {
        return Err(fail(format!(
            "the broker does not support SaslHandshake v{} and SaslAuthenticate v{}",
            versions::SASL_HANDSHAKE,
            versions::SASL_AUTHENTICATE
        )));
    }
    let handshake = conn
        .call(
            SaslHandshakeRequest::default().with_mechanism(StrBytes::from_static_str(mechanism)),
            versions::SASL_HANDSHAKE,
        )
        .await?;
    if let Some(error) = ResponseError::try_from_code(handshake.error_code) {
        let offered: Vec<&str> = handshake.mechanisms.iter().map(|m| m.as_str()).collect();
        return Err(fail(match error {
            ResponseError::UnsupportedSaslMechanism => format!(
                "the broker does not enable {mechanism} on this listener (it offers {}); set --sasl-mechanism to one of those",
                if offered.is_empty() { "none".to_string() } else { offered.join(", ") }
            ),
            ResponseError::IllegalSaslState => format!(
                "the broker did not expect a SASL handshake ({error}); is this listener SASL_PLAINTEXT or SASL_SSL?"
            ),
            other => format!("SaslHandshake for {mechanism}: {other}"),
        }));
    }

    match sasl.mechanism {
        SaslMechanism::Plain => {
            // authzid NUL authcid NUL password, with an empty authzid.
            let user = sasl.username.as_bytes();
            let password = sasl.password.expose().as_bytes();
            let mut message = Vec::with_capacity(2 + user.len() + password.len());
            message.push(0);
            message.extend_from_slice(user);
            message.push(0);
            message.extend_from_slice(password);
            round(conn, message, mechanism)
                .await
                .map_err(|e| e.into_error(&fail))?;
            Ok(())
        }
        SaslMechanism::ScramSha256 | SaslMechanism::ScramSha512 => {
            let hash = match sasl.mechanism {
                SaslMechanism::ScramSha512 => ScramHash::Sha512,
                _ => ScramHash::Sha256,
            };
            let scram =
                ScramClient::new(hash, &sasl.username, sasl.password.expose(), client_nonce());
            let server_first = round(conn, scram.client_first().into_bytes(), mechanism)
                .await
                .map_err(|e| e.into_error(&fail))?;
            let server_first = std::str::from_utf8(&server_first)
                .map_err(|_| fail("the broker's server-first message is not UTF-8".into()))?;
            let (client_final, verifier) = scram.client_final(server_first).map_err(&fail)?;
            let server_final = round(conn, client_final.into_bytes(), mechanism)
                .await
                .map_err(|e| e.into_error(&fail))?;
            let server_final = std::str::from_utf8(&server_final)
                .map_err(|_| fail("the broker's server-final message is not UTF-8".into()))?;
            verifier.verify(server_final).map_err(&fail)
        }
    }
}

/// Why a SaslAuthenticate round failed: the connection (passed on as it is) or
/// the broker's refusal (an authentication failure).
enum RoundError {
    Kafka(KafkaError),
    Refused(String),
}

impl RoundError {
    fn into_error(self, fail: &impl Fn(String) -> KafkaError) -> KafkaError {
        match self {
            RoundError::Kafka(e) => e,
            RoundError::Refused(reason) => fail(reason),
        }
    }
}

/// One SaslAuthenticate exchange: our message out, the broker's back.
async fn round(conn: &Connection, message: Vec<u8>, mechanism: &str) -> Result<Bytes, RoundError> {
    let response = conn
        .call(
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from(message)),
            versions::SASL_AUTHENTICATE,
        )
        .await
        .map_err(RoundError::Kafka)?;
    match ResponseError::try_from_code(response.error_code) {
        None => Ok(response.auth_bytes),
        Some(error) => {
            // The broker's message says what failed (e.g. "invalid credentials
            // with SASL mechanism SCRAM-SHA-256"); it never repeats a secret.
            let detail = response
                .error_message
                .as_ref()
                .map(|m| m.as_str())
                .filter(|m| !m.is_empty())
                .map(str::to_string)
                .unwrap_or_else(|| error.to_string());
            let hint = match error {
                ResponseError::SaslAuthenticationFailed => {
                    "; check --sasl-username, the password and --sasl-mechanism"
                }
                _ => "",
            };
            Err(RoundError::Refused(format!(
                "{mechanism}: the broker says: {detail}{hint}"
            )))
        }
    }
}

/// A fresh client nonce: 24 random bytes from a cryptographically secure
/// generator, as base64 (printable, never a comma).
fn client_nonce() -> String {
    let mut bytes = [0u8; 24];
    rand::rng().fill_bytes(&mut bytes);
    BASE64.encode(bytes)
}

/// The fewest PBKDF2 iterations accepted from a broker, as Kafka's own client
/// insists (RFC 7677 recommends at least 4096): a broker (or someone in the
/// middle) must not make the salted password cheap to attack.
const MIN_ITERATIONS: u32 = 4096;
/// The most iterations accepted: Kafka stores SCRAM credentials with at most
/// 16384, and more would let a broker make each connection burn CPU.
const MAX_ITERATIONS: u32 = 16384;

/// The hash function of a SCRAM mechanism.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ScramHash {
    /// SCRAM-SHA-1, only to check the shared logic against RFC 5802's example.
    #[cfg(test)]
    Sha1,
    Sha256,
    Sha512,
}

impl ScramHash {
    fn pbkdf2(self) -> pbkdf2::Algorithm {
        match self {
            #[cfg(test)]
            ScramHash::Sha1 => pbkdf2::PBKDF2_HMAC_SHA1,
            ScramHash::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            ScramHash::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn hmac(self) -> hmac::Algorithm {
        match self {
            #[cfg(test)]
            ScramHash::Sha1 => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
            ScramHash::Sha256 => hmac::HMAC_SHA256,
            ScramHash::Sha512 => hmac::HMAC_SHA512,
        }
    }

    fn digest(self) -> &'static digest::Algorithm {
        match self {
            #[cfg(test)]
            ScramHash::Sha1 => &digest::SHA1_FOR_LEGACY_USE_ONLY,
            ScramHash::Sha256 => &digest::SHA256,
            ScramHash::Sha512 => &digest::SHA512,
        }
    }
}

/// The client side of one SCRAM exchange (RFC 5802 section 3), without
/// channel binding (`n,,`), as Kafka does it.
struct ScramClient<'a> {
    hash: ScramHash,
    password: &'a str,
    client_nonce: String,
    /// `n=<user>,r=<client nonce>`, part of the signed AuthMessage.
    client_first_bare: String,
}

/// What checks the broker's server-final message: its expected signature.
struct ServerVerifier {
    server_key: hmac::Key,
    auth_message: String,
}

/// The GS2 header: no channel binding, no authorization identity.
const GS2_HEADER: &str = "n,,";

impl<'a> ScramClient<'a> {
    fn new(hash: ScramHash, username: &str, password: &'a str, client_nonce: String) -> Self {
        // RFC 5802 saslname: '=' and ',' are escaped. Like Kafka's client, the
        // name and password are used as they are (no SASLprep).
        let user = username.replace('=', "=3D").replace(',', "=2C");
        ScramClient {
            hash,
            password,
            client_first_bare: format!("n={user},r={client_nonce}"),
            client_nonce,
        }
    }

    /// client-first-message.
    fn client_first(&self) -> String {
        format!("{GS2_HEADER}{}", self.client_first_bare)
    }

    /// Checks server-first-message and answers it with client-final-message
    /// (which carries the proof of the password, not the password).
    fn client_final(&self, server_first: &str) -> Result<(String, ServerVerifier), String> {
        let mut nonce = None;
        let mut salt = None;
        let mut iterations = None;
        for (i, attribute) in server_first.split(',').enumerate() {
            let (key, value) = attribute.split_once('=').ok_or_else(|| {
                "the broker's server-first message is malformed (an attribute without '=')"
                    .to_string()
            })?;
            match key {
                "m" if i == 0 => {
                    return Err(
                        "the broker requires a SCRAM extension this client does not know".into(),
                    )
                }
                "r" => nonce = Some(value),
                "s" => salt = Some(value),
                "i" => iterations = Some(value),
                _ => {} // extensions this client may ignore
            }
        }
        let (Some(nonce), Some(salt), Some(iterations)) = (nonce, salt, iterations) else {
            return Err(
                "the broker's server-first message lacks the nonce, salt or iteration count".into(),
            );
        };
        // The server's nonce must extend ours: anything else is a replay or a
        // message meant for another exchange.
        if !nonce.starts_with(&self.client_nonce) || nonce.len() == self.client_nonce.len() {
            return Err("the broker's SCRAM nonce does not extend the client's nonce".into());
        }
        let salt = BASE64
            .decode(salt)
            .map_err(|_| "the broker's SCRAM salt is not base64".to_string())?;
        let iterations: u32 = iterations
            .parse()
            .map_err(|_| "the broker's SCRAM iteration count is not a number".to_string())?;
        if !(MIN_ITERATIONS..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!(
                "the broker asks for {iterations} SCRAM iterations; accepted are {MIN_ITERATIONS} to {MAX_ITERATIONS}"
            ));
        }

        let len = self.hash.digest().output_len();
        let mut salted_password = vec![0u8; len];
        pbkdf2::derive(
            self.hash.pbkdf2(),
            NonZeroU32::new(iterations).expect("at least MIN_ITERATIONS"),
            &salt,
            self.password.as_bytes(),
            &mut salted_password,
        );
        let salted = hmac::Key::new(self.hash.hmac(), &salted_password);
        let client_key = hmac::sign(&salted, b"Client Key");
        let stored_key = digest::digest(self.hash.digest(), client_key.as_ref());

        // c=biws is base64 of the GS2 header "n,,".
        let without_proof = format!("c={},r={nonce}", BASE64.encode(GS2_HEADER));
        let auth_message = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let client_signature = hmac::sign(
            &hmac::Key::new(self.hash.hmac(), stored_key.as_ref()),
            auth_message.as_bytes(),
        );
        let proof: Vec<u8> = client_key
            .as_ref()
            .iter()
            .zip(client_signature.as_ref())
            .map(|(k, s)| k ^ s)
            .collect();
        let server_key = hmac::sign(&salted, b"Server Key");
        Ok((
            format!("{without_proof},p={}", BASE64.encode(proof)),
            ServerVerifier {
                server_key: hmac::Key::new(self.hash.hmac(), server_key.as_ref()),
                auth_message,
            },
        ))
    }
}

impl ServerVerifier {
    /// Checks server-final-message: the broker proves it holds the
    /// credentials by signing the exchange (compared in constant time).
    fn verify(&self, server_final: &str) -> Result<(), String> {
        let first = server_final.split(',').next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            return Err(format!("the broker refused the SCRAM proof: {error}"));
        }
        let signature = first
            .strip_prefix("v=")
            .ok_or_else(|| "the broker's server-final message has no signature".to_string())?;
        let signature = BASE64
            .decode(signature)
            .map_err(|_| "the broker's server signature is not base64".to_string())?;
        hmac::verify(&self.server_key, self.auth_message.as_bytes(), &signature).map_err(|_| {
            "the broker's SCRAM server signature does not verify: it does not know these credentials (is this the right broker?)".to_string()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the exchange of an RFC example and checks both messages we derive.
    fn rfc_example(
        hash: ScramHash,
        client_nonce: &str,
        server_first: &str,
        client_final: &str,
        server_final: &str,
    ) {
        let scram = ScramClient::new(hash, "user", "pencil", client_nonce.to_string());
        assert_eq!(scram.client_first(), format!("n,,n=user,r={client_nonce}"));
        let (ours, verifier) = scram.client_final(server_first).unwrap();
        assert_eq!(ours, client_final);
        verifier.verify(server_final).unwrap();
    }

    #[test]
    fn rfc_7677_scram_sha_256_example() {
        rfc_example(
            ScramHash::Sha256,
            "rOprNGfwEbeRWgbNEkqO",
            "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=",
            "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=",
        );
    }

    #[test]
    fn rfc_5802_scram_sha_1_example() {
        rfc_example(
            ScramHash::Sha1,
            "fyko+d2lbbFgONRv9qkxdawL",
            "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096",
            "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=",
            "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=",
        );
    }

    const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";

    fn client() -> ScramClient<'static> {
        ScramClient::new(
            ScramHash::Sha256,
            "user",
            "pencil",
            "rOprNGfwEbeRWgbNEkqO".into(),
        )
    }

    #[test]
    fn a_wrong_server_signature_fails() {
        let (_, verifier) = client().client_final(SERVER_FIRST).unwrap();
        // The RFC's signature with one bit of its last byte flipped.
        let mut signature = BASE64
            .decode("6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .unwrap();
        *signature.last_mut().unwrap() ^= 1;
        let err = verifier
            .verify(&format!("v={}", BASE64.encode(&signature)))
            .unwrap_err();
        assert!(err.contains("does not verify"), "{err}");
        // A server that signs with another password's keys fails too.
        let other = ScramClient::new(
            ScramHash::Sha256,
            "user",
            "other",
            "rOprNGfwEbeRWgbNEkqO".into(),
        );
        let (_, other_verifier) = other.client_final(SERVER_FIRST).unwrap();
        assert!(other_verifier
            .verify("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=")
            .is_err());
        assert!(verifier
            .verify("e=invalid-proof")
            .unwrap_err()
            .contains("invalid-proof"));
        assert!(verifier.verify("x=1").is_err());
        assert!(verifier.verify("v=!!!").is_err());
    }

    #[test]
    fn server_first_is_checked() {
        let c = client();
        for (server_first, needle) in [
            // A nonce that does not start with ours.
            (
                "r=somethingElse%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                "nonce",
            ),
            // Our nonce alone: the server added nothing.
            (
                "r=rOprNGfwEbeRWgbNEkqO,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                "nonce",
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=1000",
                "1000 SCRAM iterations",
            ),
            (
                "r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=999999",
                "999999",
            ),
            ("r=rOprNGfwEbeRWgbNEkqO%hv,s=***,i=4096", "salt"),
            ("r=rOprNGfwEbeRWgbNEkqO%hv,i=4096", "lacks"),
            (
                "m=ext,r=rOprNGfwEbeRWgbNEkqO%hv,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096",
                "extension",
            ),
            ("garbage", "malformed"),
        ] {
            let err = c
                .client_final(server_first)
                .err()
                .unwrap_or_else(|| panic!("{server_first} was accepted"));
            assert!(err.contains(needle), "{server_first}: {err}");
            assert!(!err.contains("pencil"), "{err}");
        }
    }

    #[test]
    fn user_names_are_escaped_and_nonces_are_fresh() {
        let c = ScramClient::new(ScramHash::Sha512, "a=b,c", "pw", "nonce".into());
        assert_eq!(c.client_first(), "n,,n=a=3Db=2Cc,r=nonce");
        let (a, b) = (client_nonce(), client_nonce());
        assert_ne!(a, b);
        assert_eq!(a.len(), 32);
        assert!(!a.contains(','));
    }

    #[test]
    fn secrets_never_print() {
        let secret = Secret::new("hunter2");
        assert_eq!(format!("{secret:?} {secret}"), "*** ***");
        let config = SaslConfig {
            mechanism: SaslMechanism::Plain,
            username: "alice".into(),
            password: secret,
        };
        assert!(!format!("{config:?}").contains("hunter2"));
    }
}
