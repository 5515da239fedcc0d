//! A client of a Schema Registry's Confluent-compatible REST API: schemas by
//! id (for reads), ids by subject and version, and registration or look-up
//! of schema text (for writes).
//!
//! - Schemas by id are immutable, so each is fetched once and kept, parsed,
//!   in a bounded cache; however many records of however many requests need
//!   one id at once, one request for it is in flight (the others wait for
//!   its answer). A failed fetch is not kept: the next record asks again.
//! - Ids of a fixed subject version and of registered schema text are kept
//!   the same way; `latest` is asked each time (it moves), once per POST.
//! - References (`{"name", "subject", "version"}`) are followed, depth
//!   first, and handed to the format's parser beside the schema with their
//!   names (Avro's named types, Protobuf's imports, JSON Schema's `$ref`s).
//!
//! Each call is one HTTP/1.1 request on a fresh connection (plain TCP, or
//! TLS with the platform's roots or `--schema-registry-ca-file`), bounded by
//! [`CALL_TIMEOUT`]: schemas are cached, so calls are rare.

use std::collections::{HashMap, VecDeque};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, StatusCode, Uri};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::net::TcpStream;
use tokio::sync::OnceCell;

use super::avro::AvroSchema;
use super::json_schema::JsonSchema;
use super::protobuf::ProtobufSchema;

/// The longest one registry call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(10);

/// How many times a call is tried again after a transient failure.
const RETRIES: usize = 2;

/// Statuses that say to try again later (the ones Confluent's client retries).
fn is_transient(status: StatusCode) -> bool {
    matches!(status.as_u16(), 408 | 429 | 500 | 502 | 503 | 504)
}

/// How many entries each cache keeps at most (the oldest go first).
pub const CACHE_ENTRIES: usize = 1000;

/// How deep references may nest before the schema is refused.
const MAX_REFERENCE_DEPTH: usize = 32;

/// Which kind of schema a registry entry holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SchemaType {
    /// Apache Avro (the registry's default).
    Avro,
    /// Protocol Buffers.
    Protobuf,
    /// JSON Schema.
    Json,
}

impl SchemaType {
    /// The registry's name of the type.
    pub fn name(self) -> &'static str {
        match self {
            SchemaType::Avro => "AVRO",
            SchemaType::Protobuf => "PROTOBUF",
            SchemaType::Json => "JSON",
        }
    }

    fn parse(name: Option<&str>) -> SchemaType {
        match name {
            Some("PROTOBUF") => SchemaType::Protobuf,
            Some("JSON") => SchemaType::Json,
            _ => SchemaType::Avro,
        }
    }
}

/// A schema of the registry, parsed.
#[derive(Debug)]
pub struct RegisteredSchema {
    /// Its id.
    pub id: u32,
    /// Its type.
    pub schema_type: SchemaType,
    /// The schema, with the schemas it references.
    pub parsed: ParsedSchema,
}

/// A schema parsed by its type's parser.
#[derive(Debug)]
pub enum ParsedSchema {
    /// An Avro schema.
    Avro(AvroSchema),
    /// A Protobuf file.
    Protobuf(ProtobufSchema),
    /// A JSON Schema.
    Json(JsonSchema),
}

impl ParsedSchema {
    /// Parses `text` of type `schema_type`, with the schemas it references
    /// (reference name, text; theirs first).
    pub fn parse(
        schema_type: SchemaType,
        text: &str,
        referenced: &[(String, String)],
    ) -> Result<ParsedSchema, String> {
        Ok(match schema_type {
            SchemaType::Avro => {
                let texts: Vec<String> = referenced.iter().map(|(_, t)| t.clone()).collect();
                ParsedSchema::Avro(AvroSchema::parse(text, &texts)?)
            }
            SchemaType::Protobuf => {
                ParsedSchema::Protobuf(ProtobufSchema::parse(text, referenced)?)
            }
            SchemaType::Json => ParsedSchema::Json(JsonSchema::parse(text, referenced)?),
        })
    }
}

/// Why the registry could not help.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// It did not answer, or answered with a server error: try again later.
    #[error("the schema registry is unavailable: {0}")]
    Unavailable(String),
    /// It does not know what was asked for (an id, subject or version).
    #[error("{0}")]
    NotFound(String),
    /// It refused a schema (invalid, or incompatible with the subject's
    /// earlier versions), or the schema cannot be used.
    #[error("{0}")]
    Refused(String),
}

/// Where the registry is and how to authenticate to it.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// The base URL of the Confluent-compatible API.
    pub url: String,
    /// `USER:PASSWORD` for HTTP basic authentication.
    pub user_info: Option<String>,
    /// A bearer token.
    pub bearer_token: Option<String>,
    /// A PEM file of the CA certificates to trust for an https URL.
    pub ca_file: Option<std::path::PathBuf>,
    /// Whether schema text given on a write is registered when its subject
    /// does not have it yet.
    pub auto_register: bool,
}

/// The shared registry client; cheap to clone.
#[derive(Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

struct Inner {
    url: String,
    scheme_https: bool,
    authority: String,
    host: String,
    port: u16,
    base_path: String,
    authorization: Option<HeaderValue>,
    tls: Option<tokio_rustls::TlsConnector>,
    /// `--schema-registry-ca-file`, named when the registry's certificate
    /// is not trusted.
    ca_file: Option<std::path::PathBuf>,
    auto_register: bool,
    by_id: SingleFlight<u32, Arc<RegisteredSchema>>,
    by_version: SingleFlight<(String, i32), u32>,
    by_text: SingleFlight<(String, String, Vec<SchemaReference>), u32>,
}

/// A bounded map of values computed once per key, with one computation in
/// flight per key.
struct SingleFlight<K, V> {
    entries: Mutex<Entries<K, V>>,
}

/// The cells by key, and the keys oldest first.
type Entries<K, V> = (HashMap<K, Arc<OnceCell<V>>>, VecDeque<K>);

impl<K: std::hash::Hash + Eq + Clone, V: Clone> SingleFlight<K, V> {
    fn new() -> Self {
        SingleFlight {
            entries: Mutex::new((HashMap::new(), VecDeque::new())),
        }
    }

    fn cell(&self, key: &K) -> Arc<OnceCell<V>> {
        let mut guard = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let (map, order) = &mut *guard;
        if let Some(cell) = map.get(key) {
            return Arc::clone(cell);
        }
        while map.len() >= CACHE_ENTRIES {
            match order.pop_front() {
                Some(old) => {
                    map.remove(&old);
                }
                None => break,
            }
        }
        let cell = Arc::new(OnceCell::new());
        map.insert(key.clone(), Arc::clone(&cell));
        order.push_back(key.clone());
        cell
    }

    async fn get<F, Fut>(&self, key: K, compute: F) -> Result<V, RegistryError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<V, RegistryError>>,
    {
        let cell = self.cell(&key);
        cell.get_or_try_init(compute).await.cloned()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries.lock().unwrap().0.len()
    }
}

/// The answer to `GET /schemas/ids/{id}` and `GET /subjects/{s}/versions/{v}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SchemaAnswer {
    schema: String,
    #[serde(default)]
    schema_type: Option<String>,
    #[serde(default)]
    references: Vec<SchemaReference>,
    #[serde(default)]
    id: Option<u32>,
}

/// A reference of a schema to a schema of another subject, as the
/// registry's API spells it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Deserialize, serde::Serialize)]
pub struct SchemaReference {
    /// The name the schema refers to it by: an Avro named type's full name,
    /// a Protobuf import's file name, a JSON Schema `$ref`.
    pub name: String,
    /// The subject it is registered under.
    pub subject: String,
    /// Its version there.
    pub version: i32,
}

impl Registry {
    /// A client of the registry at `config.url`; the URL and the CA file are
    /// checked here, nothing is sent yet.
    pub fn new(config: &RegistryConfig) -> Result<Registry, String> {
        let url = config.url.trim_end_matches('/').to_string();
        let uri: Uri = url
            .parse()
            .map_err(|e| format!("--schema-registry-url '{url}' is not a URL: {e}"))?;
        let scheme_https = match uri.scheme_str() {
            Some("http") => false,
            Some("https") => true,
            _ => {
                return Err(format!(
                    "--schema-registry-url '{url}' must start with http:// or https://"
                ))
            }
        };
        let authority = uri
            .authority()
            .ok_or_else(|| format!("--schema-registry-url '{url}' has no host"))?;
        let host = authority.host().trim_matches(['[', ']']).to_string();
        let port = authority
            .port_u16()
            .unwrap_or(if scheme_https { 443 } else { 80 });
        let authorization =
            match (&config.user_info, &config.bearer_token) {
                (Some(_), Some(_)) => return Err(
                    "give --schema-registry-user-info or --schema-registry-bearer-token, not both"
                        .into(),
                ),
                (Some(info), None) => {
                    if !info.contains(':') {
                        return Err("--schema-registry-user-info must be USER:PASSWORD".into());
                    }
                    Some(format!("Basic {}", STANDARD.encode(info)))
                }
                (None, Some(token)) => Some(format!("Bearer {}", token.trim())),
                (None, None) => None,
            };
        let authorization = authorization
            .map(|v| {
                let mut v = HeaderValue::from_str(&v).map_err(|_| {
                    "the schema registry credentials hold characters a header cannot carry"
                        .to_string()
                })?;
                v.set_sensitive(true);
                Ok::<_, String>(v)
            })
            .transpose()?;
        let tls = if scheme_https {
            Some(tls_connector(config.ca_file.as_deref())?)
        } else {
            if config.ca_file.is_some() {
                return Err(
                    "--schema-registry-ca-file needs an https:// --schema-registry-url".into(),
                );
            }
            None
        };
        Ok(Registry {
            inner: Arc::new(Inner {
                url: url.clone(),
                scheme_https,
                authority: authority.as_str().to_string(),
                host,
                port,
                base_path: uri.path().trim_end_matches('/').to_string(),
                authorization,
                tls,
                ca_file: config.ca_file.clone(),
                auto_register: config.auto_register,
                by_id: SingleFlight::new(),
                by_version: SingleFlight::new(),
                by_text: SingleFlight::new(),
            }),
        })
    }

    /// The schema with this id, parsed; fetched once.
    pub async fn schema(&self, id: u32) -> Result<Arc<RegisteredSchema>, RegistryError> {
        self.inner
            .by_id
            .get(id, || async move {
                let answer: SchemaAnswer = self
                    .call(Method::GET, &format!("/schemas/ids/{id}"), None)
                    .await
                    .map_err(|e| match e {
                        RegistryError::NotFound(_) => RegistryError::NotFound(format!(
                            "the schema registry has no schema with id {id}"
                        )),
                        e => e,
                    })?;
                self.parse(id, answer).await.map(Arc::new)
            })
            .await
    }

    /// The id of `subject`'s version `version` (`None`: the latest).
    pub async fn id_of_version(
        &self,
        subject: &str,
        version: Option<i32>,
    ) -> Result<u32, RegistryError> {
        let fetch = || async {
            let v = version.map_or("latest".to_string(), |v| v.to_string());
            let path = format!("/subjects/{}/versions/{v}", encode(subject));
            let answer: SchemaAnswer =
                self.call(Method::GET, &path, None)
                    .await
                    .map_err(|e| match e {
                        RegistryError::NotFound(m) => RegistryError::NotFound(format!(
                            "the schema registry has no version {v} of subject '{subject}' ({m})"
                        )),
                        e => e,
                    })?;
            answer.id.ok_or_else(|| {
                RegistryError::Unavailable(format!(
                    "its answer for subject '{subject}' version {v} has no id"
                ))
            })
        };
        match version {
            Some(v) => {
                self.inner
                    .by_version
                    .get((subject.to_string(), v), fetch)
                    .await
            }
            None => fetch().await,
        }
    }

    /// The id of schema text `schema`, with the schemas of other subjects
    /// it refers to, under `subject`: registered there (when
    /// auto-registration is on), else looked up.
    pub async fn id_of_text(
        &self,
        subject: &str,
        schema_type: SchemaType,
        schema: &str,
        references: &[SchemaReference],
    ) -> Result<u32, RegistryError> {
        let register = self.inner.auto_register;
        let key = (subject.to_string(), schema.to_string(), references.to_vec());
        self.inner
            .by_text
            .get(key, || async move {
                let mut body = json!({ "schema": schema });
                if schema_type != SchemaType::Avro {
                    body["schemaType"] = json!(schema_type.name());
                }
                if !references.is_empty() {
                    body["references"] = json!(references);
                }
                #[derive(Deserialize)]
                struct IdAnswer {
                    id: u32,
                }
                let subject_path = encode(subject);
                let answer: Result<IdAnswer, _> = if register {
                    self.call(Method::POST, &format!("/subjects/{subject_path}/versions"), Some(body))
                        .await
                } else {
                    self.call(Method::POST, &format!("/subjects/{subject_path}"), Some(body))
                        .await
                };
                answer.map(|a| a.id).map_err(|e| match e {
                    RegistryError::NotFound(m) if !register => RegistryError::NotFound(format!(
                        "subject '{subject}' does not have this schema, and registration is off (--schema-registry-auto-register=false): {m}"
                    )),
                    e => e,
                })
            })
            .await
    }

    /// The names and texts of the schemas `references` name and of those
    /// they name in turn, theirs first: what [`ParsedSchema::parse`] takes
    /// beside a schema that refers to them.
    pub async fn referenced_texts(
        &self,
        references: &[SchemaReference],
    ) -> Result<Vec<(String, String)>, RegistryError> {
        let mut out = Vec::new();
        self.collect_references(references, &mut out, 0).await?;
        Ok(out)
    }

    /// Parses a schema, following its references.
    async fn parse(
        &self,
        id: u32,
        answer: SchemaAnswer,
    ) -> Result<RegisteredSchema, RegistryError> {
        let schema_type = SchemaType::parse(answer.schema_type.as_deref());
        let mut referenced = Vec::new();
        self.collect_references(&answer.references, &mut referenced, 0)
            .await?;
        let parsed =
            ParsedSchema::parse(schema_type, &answer.schema, &referenced).map_err(|e| {
                RegistryError::Refused(format!(
                    "schema {id} ({}) cannot be used: {e}",
                    schema_type.name()
                ))
            })?;
        Ok(RegisteredSchema {
            id,
            schema_type,
            parsed,
        })
    }

    /// The names and texts of the schemas `references` name, theirs first.
    fn collect_references<'a>(
        &'a self,
        references: &'a [SchemaReference],
        out: &'a mut Vec<(String, String)>,
        depth: usize,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), RegistryError>> + Send + 'a>>
    {
        Box::pin(async move {
            if depth > MAX_REFERENCE_DEPTH {
                return Err(RegistryError::Refused(format!(
                    "schema references nest more than {MAX_REFERENCE_DEPTH} deep"
                )));
            }
            for r in references {
                let path = format!("/subjects/{}/versions/{}", encode(&r.subject), r.version);
                let answer: SchemaAnswer =
                    self.call(Method::GET, &path, None)
                        .await
                        .map_err(|e| match e {
                            RegistryError::NotFound(m) => RegistryError::NotFound(format!(
                                "the schema registry has no version {} of subject '{}', which reference '{}' names ({m})",
                                r.version, r.subject, r.name
                            )),
                            e => e,
                        })?;
                self.collect_references(&answer.references, out, depth + 1)
                    .await?;
                if !out.iter().any(|(name, _)| name == &r.name) {
                    out.push((r.name.clone(), answer.schema));
                }
            }
            Ok(())
        })
    }

    /// One call: JSON in, JSON out; 404 is `NotFound`, 4xx `Refused`, the rest `Unavailable`.
    async fn call<T: serde::de::DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<T, RegistryError> {
        let what = format!("{method} {}{path}", self.inner.url);
        let call = self.send_retrying(method, path, body);
        let (status, bytes) = match tokio::time::timeout(CALL_TIMEOUT, call).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return Err(RegistryError::Unavailable(format!("{what}: {e}"))),
            Err(_) => {
                return Err(RegistryError::Unavailable(format!(
                    "{what}: no answer within {}s",
                    CALL_TIMEOUT.as_secs()
                )))
            }
        };
        let message = || {
            serde_json::from_slice::<serde_json::Value>(&bytes)
                .ok()
                .and_then(|v| {
                    v.get("message")
                        .and_then(|m| m.as_str())
                        .map(str::to_string)
                })
                .unwrap_or_else(|| String::from_utf8_lossy(&bytes).chars().take(300).collect())
        };
        match status {
            s if s.is_success() => serde_json::from_slice(&bytes)
                .map_err(|e| RegistryError::Unavailable(format!("{what}: unexpected answer: {e}"))),
            StatusCode::NOT_FOUND => Err(RegistryError::NotFound(message())),
            // The service's credentials, not the client's request, are
            // wrong: the registry is unavailable to it. A proxy's answer is
            // often an HTML page, left out.
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => {
                let detail = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v.get("message")?.as_str().map(|m| format!(": {m}")))
                    .unwrap_or_default();
                Err(RegistryError::Unavailable(format!(
                    "{what}: the registry answered {status}{detail} (check --schema-registry-user-info or --schema-registry-bearer-token)"
                )))
            }
            s if s.is_client_error() => Err(RegistryError::Refused(format!(
                "the schema registry refused it ({status}): {}",
                message()
            ))),
            _ => Err(RegistryError::Unavailable(format!(
                "{what}: {status}: {}",
                message()
            ))),
        }
    }

    /// [`Self::send`], tried again (at most [`RETRIES`] times, after a
    /// short pause that doubles) when the registry could not be reached or
    /// answered with a status that says to try later, as Confluent's own
    /// client does: a proxy in front of the registry answers 502 when one
    /// connection to it fails. Registering a schema again gives the same id.
    async fn send_retrying(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, Bytes), String> {
        let mut pause = Duration::from_millis(50);
        for _ in 0..RETRIES {
            match self.send(method.clone(), path, body.clone()).await {
                Ok((status, _)) if is_transient(status) => {}
                Err(_) => {}
                answer => return answer,
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        self.send(method, path, body).await
    }

    async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<(StatusCode, Bytes), String> {
        let inner = &self.inner;
        let tcp = TcpStream::connect((inner.host.as_str(), inner.port))
            .await
            .map_err(|e| format!("cannot connect: {e}"))?;
        let _ = tcp.set_nodelay(true);
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", inner.base_path))
            .header(HOST, inner.authority.as_str())
            .header(
                "accept",
                "application/vnd.schemaregistry.v1+json, application/json",
            );
        if let Some(auth) = &inner.authorization {
            request = request.header(AUTHORIZATION, auth.clone());
        }
        let body = match body {
            Some(b) => {
                request = request.header(CONTENT_TYPE, "application/vnd.schemaregistry.v1+json");
                Full::new(Bytes::from(b.to_string()))
            }
            None => Full::new(Bytes::new()),
        };
        let request = request.body(body).map_err(|e| e.to_string())?;
        let response = if let (true, Some(tls)) = (inner.scheme_https, &inner.tls) {
            let name = rustls::pki_types::ServerName::try_from(inner.host.clone())
                .map_err(|e| format!("'{}' is not a TLS server name: {e}", inner.host))?;
            let stream = tls.connect(name, tcp).await.map_err(|e| {
                let hint = match (&inner.ca_file, is_certificate_error(&e)) {
                    (_, false) => String::new(),
                    (None, true) => " (the platform's CA certificates do not trust the registry's certificate: give the CA that signed it with --schema-registry-ca-file)".to_string(),
                    (Some(file), true) => format!(
                        " (the CA certificates of --schema-registry-ca-file {} do not trust the registry's certificate)",
                        file.display()
                    ),
                };
                format!("TLS handshake failed: {e}{hint}")
            })?;
            exchange(TokioIo::new(stream), request).await?
        } else {
            exchange(TokioIo::new(tcp), request).await?
        };
        Ok(response)
    }
}

async fn exchange<IO>(io: IO, request: Request<Full<Bytes>>) -> Result<(StatusCode, Bytes), String>
where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    let response = sender
        .send_request(request)
        .await
        .map_err(|e| e.to_string())?;
    let status = response.status();
    let bytes = response
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, bytes))
}

/// Whether a failed TLS handshake failed on the server's certificate.
fn is_certificate_error(e: &std::io::Error) -> bool {
    e.get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|e| {
            matches!(
                e,
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented
            )
        })
}

/// A subject as one path segment.
fn encode(subject: &str) -> String {
    percent_encoding::utf8_percent_encode(subject, percent_encoding::NON_ALPHANUMERIC).to_string()
}

fn tls_connector(ca_file: Option<&Path>) -> Result<tokio_rustls::TlsConnector, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let mut roots = rustls::RootCertStore::empty();
    match ca_file {
        Some(path) => {
            let certs = CertificateDer::pem_file_iter(path)
                .and_then(|iter| iter.collect::<Result<Vec<_>, _>>())
                .map_err(|e| format!("--schema-registry-ca-file {}: {e}", path.display()))?;
            if certs.is_empty() {
                return Err(format!(
                    "--schema-registry-ca-file {}: no PEM certificate in it",
                    path.display()
                ));
            }
            for cert in certs {
                roots
                    .add(cert)
                    .map_err(|e| format!("--schema-registry-ca-file {}: {e}", path.display()))?;
            }
        }
        None => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| e.to_string())?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A registry on loopback that answers each connection's request with
    /// the next of `answers` (status, body), then 404s; how many it served.
    async fn scripted_registry(answers: Vec<(u16, &'static str)>) -> (String, Arc<AtomicUsize>) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let served = Arc::new(AtomicUsize::new(0));
        let count = Arc::clone(&served);
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let (status, body) = answers
                    .get(count.fetch_add(1, Ordering::SeqCst))
                    .copied()
                    .unwrap_or((404, "{}"));
                let answer = format!(
                    "HTTP/1.1 {status} X\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = socket.write_all(answer.as_bytes()).await;
            }
        });
        (url, served)
    }

    fn client_of(url: &str) -> Registry {
        Registry::new(&RegistryConfig {
            url: url.to_string(),
            user_info: None,
            bearer_token: None,
            ca_file: None,
            auto_register: false,
        })
        .unwrap()
    }

    #[tokio::test]
    async fn a_busy_registry_is_asked_again_and_a_refusal_is_not() {
        let schema = r#"{"schema": "\"string\""}"#;
        let (url, served) = scripted_registry(vec![
            (502, "<html>bad gateway</html>"),
            (503, "{}"),
            (200, schema),
        ])
        .await;
        let schema = client_of(&url).schema(1).await;
        assert!(schema.is_ok(), "{:?}", schema.err());
        assert_eq!(served.load(Ordering::SeqCst), 3);

        // Past the retries: unavailable, after three tries.
        let (url, served) = scripted_registry(vec![(502, ""), (502, ""), (502, "")]).await;
        let e = client_of(&url).schema(1).await.unwrap_err();
        assert!(matches!(e, RegistryError::Unavailable(_)), "{e:?}");
        assert_eq!(served.load(Ordering::SeqCst), 3);

        // A 404 is an answer, not tried again.
        let (url, served) = scripted_registry(vec![]).await;
        let e = client_of(&url).schema(1).await.unwrap_err();
        assert!(matches!(e, RegistryError::NotFound(_)), "{e:?}");
        assert_eq!(served.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn one_computation_per_key_however_many_wait() {
        let cache: Arc<SingleFlight<u32, u32>> = Arc::new(SingleFlight::new());
        let runs = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..50)
            .map(|_| {
                let cache = Arc::clone(&cache);
                let runs = Arc::clone(&runs);
                tokio::spawn(async move {
                    cache
                        .get(7, || async move {
                            runs.fetch_add(1, Ordering::SeqCst);
                            tokio::task::yield_now().await;
                            Ok(42)
                        })
                        .await
                })
            })
            .collect();
        for t in tasks {
            assert_eq!(t.await.unwrap().unwrap(), 42);
        }
        assert_eq!(runs.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn failures_are_not_kept_and_the_cache_is_bounded() {
        let cache: SingleFlight<u32, u32> = SingleFlight::new();
        let failed = cache
            .get(1, || async {
                Err(RegistryError::Unavailable("down".into()))
            })
            .await;
        assert!(failed.is_err());
        assert_eq!(cache.get(1, || async { Ok(5) }).await.unwrap(), 5);
        for k in 0..(CACHE_ENTRIES as u32 + 10) {
            cache.get(k, || async move { Ok(k) }).await.unwrap();
        }
        assert_eq!(cache.len(), CACHE_ENTRIES);
    }

    #[test]
    fn urls_and_credentials_are_checked() {
        let config = |url: &str| RegistryConfig {
            url: url.into(),
            ..Default::default()
        };
        assert!(Registry::new(&config("http://127.0.0.1:8081/apis/ccompat/v7")).is_ok());
        assert!(Registry::new(&config("ftp://x")).is_err());
        assert!(Registry::new(&config("not a url")).is_err());
        let both = RegistryConfig {
            user_info: Some("u:p".into()),
            bearer_token: Some("t".into()),
            ..config("http://h:1")
        };
        assert!(Registry::new(&both).is_err());
        let r = Registry::new(&config("http://h:1/base/")).unwrap();
        assert_eq!(r.inner.base_path, "/base");
        assert_eq!(r.inner.port, 1);
    }
}
