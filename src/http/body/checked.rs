//! The checking parser of POST bodies: JSON syntax, keys given twice, then
//! every field of the body and of each record, with a message that names the
//! record index and field of the first thing wrong. The quick reader
//! ([`super::quick`]) hands it whatever it does not accept as it is. The
//! lines of an NDJSON body ([`parse_line`]) are records checked the same
//! way, named by their line number.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::{Map, Value};

use crate::codec::registry::SchemaReference;
use crate::codec::schema::{Pending, SchemaChoice};
use crate::codec::Format;
use crate::http::error::unknown_names;
use crate::kafka::Header;
use crate::records::post::{PostRecord, PostRequest, DEFAULT_TIMEOUT};
use crate::records::{check_id, check_topic_name, parse_duration, RecordsError};

/// Checks and parses a POST body: JSON syntax, then keys given more than
/// once in any object (which a JSON tree would silently collapse to the
/// last), then [`parse_value`].
pub fn parse(body: &[u8]) -> Result<PostRequest, RecordsError> {
    let json: Value = serde_json::from_slice(body)
        .map_err(|e| invalid(format!("the body is not valid JSON: {e}")))?;
    unique_keys::check(body).map_err(invalid)?;
    parse_value(&json)
}

const BODY_FIELDS: [&str; 4] = ["records", "transactionId", "async", "timeout"];
const RECORD_FIELDS: [&str; 18] = [
    "topic",
    "partition",
    "keySerializer",
    "valueSerializer",
    "key",
    "value",
    "timestamp",
    "headers",
    "keySchemaId",
    "keySubject",
    "keySchemaVersion",
    "keySchema",
    "keyMessage",
    "valueSchemaId",
    "valueSubject",
    "valueSchemaVersion",
    "valueSchema",
    "valueMessage",
];

/// The fields of a line of an NDJSON body: a record's, and the read-only
/// fields of the records GET returns, accepted (and ignored) so that a dump
/// made with GET loads as it is.
const LINE_FIELDS: [&str; 22] = [
    "topic",
    "partition",
    "keySerializer",
    "valueSerializer",
    "key",
    "value",
    "timestamp",
    "headers",
    "keySchemaId",
    "keySubject",
    "keySchemaVersion",
    "keySchema",
    "keyMessage",
    "valueSchemaId",
    "valueSubject",
    "valueSchemaVersion",
    "valueSchema",
    "valueMessage",
    "offset",
    "serializedKeySize",
    "serializedValueSize",
    "leaderEpoch",
];

/// What the query of an NDJSON load says of every line.
#[derive(Debug, Clone, Default)]
pub struct LineDefaults {
    /// Write every line to this topic, whatever the line names.
    pub topic: Option<Arc<str>>,
    /// The serializer of the keys of lines that name none (`string` when
    /// not given).
    pub key_serializer: Option<Format>,
    /// The serializer of the values of lines that name none.
    pub value_serializer: Option<Format>,
}

/// Where a record is in the request, for messages.
#[derive(Debug, Clone, Copy)]
enum Place {
    /// An entry of a JSON body's `records`.
    Record(usize),
    /// A line of an NDJSON body, from 1.
    Line(u64),
}

impl Place {
    /// The record itself: `records[3]`, `line 4`.
    fn whole(self) -> String {
        match self {
            Place::Record(i) => format!("records[{i}]"),
            Place::Line(n) => format!("line {n}"),
        }
    }

    /// One of its fields: `records[3].partition`, `line 4: partition`.
    fn field(self, field: &str) -> String {
        match self {
            Place::Record(i) => format!("records[{i}].{field}"),
            Place::Line(n) => format!("line {n}: {field}"),
        }
    }
}

/// Checks and parses line `number` (from 1) of an NDJSON body, a line that
/// is not blank: one record object, as an entry of a JSON body's `records`
/// (with GET's read-only fields allowed and ignored), `defaults` applying
/// where the query gives them.
pub fn parse_line(
    number: u64,
    line: &[u8],
    defaults: &LineDefaults,
) -> Result<PostRecord, RecordsError> {
    let json: Value = serde_json::from_slice(line).map_err(|e| {
        invalid(format!(
            "line {number}: not valid JSON: {}; each line must be one JSON object",
            json_error(&e)
        ))
    })?;
    unique_keys::check(line).map_err(|e| invalid(format!("line {number}: {e}")))?;
    record(Place::Line(number), &json, &LINE_FIELDS, defaults)
}

/// serde_json's message about one line, without the line serde counts (the
/// line of the body is named already).
fn json_error(e: &serde_json::Error) -> String {
    let text = e.to_string();
    match text.rsplit_once(" at line ") {
        Some((what, _)) => format!("{what} at column {}", e.column()),
        None => text,
    }
}

fn invalid(msg: String) -> RecordsError {
    RecordsError::Invalid(msg)
}

fn unknown_fields(obj: &Map<String, Value>, known: &[&str], at: &str) -> Result<(), RecordsError> {
    let unknown: Vec<&str> = obj
        .keys()
        .map(String::as_str)
        .filter(|k| !known.contains(k))
        .collect();
    if unknown.is_empty() {
        return Ok(());
    }
    Err(invalid(format!(
        "{at}{}; known fields: {}",
        unknown_names("field", &unknown),
        known.join(", ")
    )))
}

/// Finds a key given twice in one JSON object, anywhere in a document: a
/// JSON tree keeps only the last of them, so `{"partition": 1, "partition":
/// 2}` would silently write to partition 2. Refused instead, as a query
/// parameter given twice is.
pub use unique_keys::check as check_unique_keys;

pub(super) mod unique_keys {
    use std::borrow::Cow;
    use std::cell::RefCell;
    use std::collections::HashSet;
    use std::fmt;

    use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};

    /// Objects with more keys than this are checked with a hash set.
    const LINEAR: usize = 16;

    /// `Ok` when no object in the JSON text `json` repeats a key; else a
    /// message naming the first repeated key by its path
    /// (`records[0].partition`). `json` must be valid JSON.
    pub fn check(json: &[u8]) -> Result<(), String> {
        let found = RefCell::new(None);
        let node = Node {
            path: &Path::Root,
            found: &found,
        };
        let result = node.deserialize(&mut serde_json::Deserializer::from_slice(json));
        match (result, found.into_inner()) {
            (_, Some(path)) => Err(format!(
                "{path}: given more than once; give each field at most once"
            )),
            (Ok(()), None) => Ok(()),
            (Err(e), None) => Err(format!("the body is not valid JSON: {e}")),
        }
    }

    /// Where a value sits in the document, for the message.
    enum Path<'a> {
        Root,
        Key(&'a Path<'a>, &'a str),
        Index(&'a Path<'a>, usize),
    }

    impl fmt::Display for Path<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            match self {
                Path::Root => Ok(()),
                Path::Index(parent, i) => write!(f, "{parent}[{i}]"),
                Path::Key(parent, key) => {
                    let plain = !key.is_empty()
                        && key.len() <= 64
                        && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
                    match (parent, plain) {
                        (Path::Root, true) => f.write_str(key),
                        (_, true) => write!(f, "{parent}.{key}"),
                        (_, false) => {
                            let short: String = key.chars().take(64).collect();
                            let more = if short.len() < key.len() { "..." } else { "" };
                            write!(f, "{parent}[{}{more}]", serde_json::Value::from(short))
                        }
                    }
                }
            }
        }
    }

    /// Visits one value and everything inside it.
    #[derive(Clone, Copy)]
    struct Node<'p, 'f> {
        path: &'p Path<'p>,
        /// The path of the first repeated key.
        found: &'f RefCell<Option<String>>,
    }

    impl<'de> DeserializeSeed<'de> for Node<'_, '_> {
        type Value = ();

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
            d.deserialize_any(self)
        }
    }

    impl<'de> Visitor<'de> for Node<'_, '_> {
        type Value = ();

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a JSON value")
        }

        fn visit_bool<E>(self, _: bool) -> Result<(), E> {
            Ok(())
        }

        fn visit_i64<E>(self, _: i64) -> Result<(), E> {
            Ok(())
        }

        fn visit_u64<E>(self, _: u64) -> Result<(), E> {
            Ok(())
        }

        fn visit_f64<E>(self, _: f64) -> Result<(), E> {
            Ok(())
        }

        fn visit_str<E>(self, _: &str) -> Result<(), E> {
            Ok(())
        }

        fn visit_unit<E>(self) -> Result<(), E> {
            Ok(())
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
            let mut i = 0;
            while seq
                .next_element_seed(Node {
                    path: &Path::Index(self.path, i),
                    found: self.found,
                })?
                .is_some()
            {
                i += 1;
            }
            Ok(())
        }

        // (With serde_json's `arbitrary_precision`, a number arrives as a
        // map of one private key: nothing repeats there.)
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
            let mut few: Vec<Cow<'de, str>> = Vec::new();
            let mut many: Option<HashSet<Cow<'de, str>>> = None;
            while let Some(key) = map.next_key_seed(KeySeed)? {
                let path = Path::Key(self.path, &key);
                let repeated = match &many {
                    Some(set) => set.contains(&key),
                    None => few.contains(&key),
                };
                if repeated {
                    *self.found.borrow_mut() = Some(path.to_string());
                    return Err(de::Error::custom("a key is given more than once"));
                }
                map.next_value_seed(Node {
                    path: &path,
                    found: self.found,
                })?;
                match &mut many {
                    Some(set) => {
                        set.insert(key);
                    }
                    None => {
                        few.push(key);
                        if few.len() > LINEAR {
                            many = Some(few.drain(..).collect());
                        }
                    }
                }
            }
            Ok(())
        }
    }

    /// An object key, borrowed from the input unless it holds escapes.
    struct KeySeed;

    impl<'de> DeserializeSeed<'de> for KeySeed {
        type Value = Cow<'de, str>;

        fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Cow<'de, str>, D::Error> {
            d.deserialize_str(self)
        }
    }

    impl<'de> Visitor<'de> for KeySeed {
        type Value = Cow<'de, str>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object key")
        }

        fn visit_borrowed_str<E>(self, key: &'de str) -> Result<Cow<'de, str>, E> {
            Ok(Cow::Borrowed(key))
        }

        fn visit_str<E>(self, key: &str) -> Result<Cow<'de, str>, E> {
            Ok(Cow::Owned(key.to_owned()))
        }
    }
}

/// Validates a parsed POST body and serializes every key, value and header.
pub fn parse_value(body: &Value) -> Result<PostRequest, RecordsError> {
    let obj = body
        .as_object()
        .ok_or_else(|| invalid("the body must be a JSON object with a 'records' array".into()))?;
    unknown_fields(obj, &BODY_FIELDS, "")?;
    let transaction_id = match obj.get("transactionId") {
        None | Some(Value::Null) => None,
        Some(Value::String(id)) => {
            check_id(id).map_err(|e| invalid(format!("transactionId: {e}")))?;
            Some(id.clone())
        }
        Some(other) => {
            return Err(invalid(format!(
                "transactionId: must be a string, got {}",
                kind(other)
            )))
        }
    };
    let asynchronous = match obj.get("async") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(other) => {
            return Err(invalid(format!(
                "async: must be true or false, got {other}"
            )))
        }
    };
    let timeout = match obj.get("timeout") {
        None | Some(Value::Null) => DEFAULT_TIMEOUT,
        Some(Value::String(s)) => {
            parse_duration(s).map_err(|e| invalid(format!("timeout: {e}")))?
        }
        Some(other) => {
            return Err(invalid(format!(
                "timeout: must be a duration string such as \"5s\" or \"1500ms\", got {other}"
            )))
        }
    };
    let records = match obj.get("records") {
        Some(Value::Array(a)) if !a.is_empty() => a,
        Some(Value::Array(_)) => {
            return Err(invalid("records: must hold at least one record".into()))
        }
        None | Some(Value::Null) => {
            return Err(invalid("records: is required (an array of records)".into()))
        }
        Some(other) => {
            return Err(invalid(format!(
                "records: must be an array, got {}",
                kind(other)
            )))
        }
    };
    let records = records
        .iter()
        .enumerate()
        .map(|(i, r)| parse_record(i, r))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(PostRequest {
        records,
        transaction_id,
        asynchronous,
        timeout,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn parse_record(i: usize, r: &Value) -> Result<PostRecord, RecordsError> {
    record(
        Place::Record(i),
        r,
        &RECORD_FIELDS,
        &LineDefaults::default(),
    )
}

/// The record at `place`, whose fields may be `known`.
fn record(
    place: Place,
    r: &Value,
    known: &[&str],
    defaults: &LineDefaults,
) -> Result<PostRecord, RecordsError> {
    let obj = r.as_object().ok_or_else(|| {
        invalid(format!(
            "{}: must be an object, got {}",
            place.whole(),
            kind(r)
        ))
    })?;
    unknown_fields(obj, known, &format!("{}: ", place.whole()))?;
    // Checked in this order, so the first field at fault is the one named.
    let fields = RecordFields { place, obj };
    let topic = match &defaults.topic {
        Some(topic) => Arc::clone(topic),
        None => fields.topic()?,
    };
    let partition = fields.partition()?;
    let key_format = fields.format("keySerializer", defaults.key_serializer)?;
    let value_format = fields.format("valueSerializer", defaults.value_serializer)?;
    let key_pending = fields.pending("key", key_format)?;
    let value_pending = fields.pending("value", value_format)?;
    Ok(PostRecord {
        topic,
        partition,
        key: match key_pending {
            Some(_) => None,
            None => fields.serialized("key", key_format)?,
        },
        value: match value_pending {
            Some(_) => None,
            None => fields.serialized("value", value_format)?,
        },
        timestamp: fields.timestamp()?,
        headers: fields.headers()?,
        key_pending,
        value_pending,
    })
}

/// The fields of the record at `place`, each checked on its own.
struct RecordFields<'a> {
    place: Place,
    obj: &'a Map<String, Value>,
}

impl RecordFields<'_> {
    /// Where `field` is, for messages: `records[3].partition`.
    fn at(&self, field: &str) -> String {
        self.place.field(field)
    }

    /// `field` is of the wrong JSON type.
    fn wrong_type(&self, field: &str, expected: &str, got: &Value) -> RecordsError {
        invalid(format!(
            "{}: must be {expected}, got {}",
            self.at(field),
            kind(got)
        ))
    }

    fn topic(&self) -> Result<Arc<str>, RecordsError> {
        let topic = match self.obj.get("topic") {
            Some(Value::String(t)) => Arc::<str>::from(t.as_str()),
            None | Some(Value::Null) => {
                return Err(invalid(format!("{}: is required", self.at("topic"))))
            }
            Some(other) => return Err(self.wrong_type("topic", "a string", other)),
        };
        check_topic_name(&topic)
            .map_err(|e| invalid(format!("{}: '{topic}' {e}", self.at("topic"))))?;
        Ok(topic)
    }

    fn partition(&self) -> Result<Option<i32>, RecordsError> {
        match self.obj.get("partition") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n
                .as_i64()
                .and_then(|p| i32::try_from(p).ok())
                .filter(|p| *p >= 0)
                .map(Some)
                .ok_or_else(|| {
                    invalid(format!(
                        "{}: must be an integer from 0 to 2147483647, got {n}",
                        self.at("partition")
                    ))
                }),
            Some(other) => Err(self.wrong_type("partition", "an integer", other)),
        }
    }

    /// The format a serializer field names (`default`, else `string`, when
    /// absent).
    fn format(&self, field: &str, default: Option<Format>) -> Result<Format, RecordsError> {
        match self.obj.get(field) {
            None | Some(Value::Null) => Ok(default.unwrap_or(Format::String)),
            Some(Value::String(name)) => Format::parse(name).ok_or_else(|| {
                invalid(format!(
                    "{}: unknown serializer '{name}'; known: {}",
                    self.at(field),
                    Format::NAMES.join(", ")
                ))
            }),
            Some(other) => Err(self.wrong_type(field, "a string", other)),
        }
    }

    /// A key or value in a Schema Registry format, with the schema its
    /// `…SchemaId`, `…Subject` (+ `…SchemaVersion`) or `…Schema` field names;
    /// `None` for other formats (which take none of these fields) and for null.
    fn pending(&self, field: &str, format: Format) -> Result<Option<Box<Pending>>, RecordsError> {
        let name = |suffix: &str| format!("{field}{suffix}");
        let given = |suffix: &str| {
            let n = name(suffix);
            self.obj.get(&n).filter(|v| !v.is_null()).map(|v| (n, v))
        };
        let id = given("SchemaId");
        let subject = given("Subject");
        let version = given("SchemaVersion");
        let text = given("Schema");
        let message = given("Message");
        if !format.needs_schema() {
            if let Some((n, _)) = id
                .iter()
                .chain(&subject)
                .chain(&version)
                .chain(&text)
                .chain(&message)
                .next()
            {
                return Err(invalid(format!(
                    "{}: only with a Schema Registry serializer ({field}Serializer avro, protobuf or jsonschema)",
                    self.at(n)
                )));
            }
            return Ok(None);
        }
        let message = match message {
            None => None,
            Some((n, _)) if format != Format::Protobuf => {
                return Err(invalid(format!(
                    "{}: only with {field}Serializer protobuf",
                    self.at(&n)
                )))
            }
            Some((n, v)) => Some(
                v.as_str()
                    .filter(|s| !s.is_empty())
                    .ok_or_else(|| self.wrong_type(&n, "a message name", v))?
                    .to_string(),
            ),
        };
        let choices = [&id, &subject, &text]
            .iter()
            .filter(|c| c.is_some())
            .count();
        if choices != 1 {
            return Err(invalid(format!(
                "{}: the {} serializer needs exactly one of {field}SchemaId, {field}Subject (with {field}SchemaVersion) and {field}Schema",
                self.at(&name("Serializer")),
                format.name()
            )));
        }
        if let (Some((n, _)), None) = (&version, &subject) {
            return Err(invalid(format!("{}: only with {field}Subject", self.at(n))));
        }
        let schema = if let Some((n, v)) = id {
            let id = v
                .as_u64()
                .and_then(|i| u32::try_from(i).ok())
                .ok_or_else(|| {
                    self.wrong_type(&n, "a schema id (an integer from 0 to 4294967295)", v)
                })?;
            SchemaChoice::Id(id)
        } else if let Some((n, v)) = subject {
            let subject = v
                .as_str()
                .filter(|s| !s.is_empty())
                .ok_or_else(|| self.wrong_type(&n, "a subject name", v))?;
            let version = match version {
                None => None,
                Some((_, Value::String(s))) if s == "latest" => None,
                Some((n, v)) => Some(
                    v.as_i64()
                        .and_then(|i| i32::try_from(i).ok())
                        .filter(|i| *i >= 1)
                        .ok_or_else(|| {
                            self.wrong_type(&n, "a version (an integer from 1, or \"latest\")", v)
                        })?,
                ),
            };
            SchemaChoice::Subject(subject.to_string(), version)
        } else if let Some((n, v)) = text {
            let (v, references, n) = match v {
                // As the registry's own API takes it: the text with the
                // references of the schemas of other subjects it uses. No
                // Avro schema looks like this (Avro's have a "type"), nor a
                // JSON Schema of any use.
                Value::Object(o)
                    if o.contains_key("schema")
                        && o.keys().all(|k| k == "schema" || k == "references") =>
                {
                    let references = self.references(&format!("{n}.references"), o)?;
                    (&o["schema"], references, format!("{n}.schema"))
                }
                v => (v, Vec::new(), n),
            };
            let text = match v {
                Value::String(s) => s.clone(),
                // A schema given as JSON itself.
                Value::Object(_) | Value::Array(_) => v.to_string(),
                _ => return Err(self.wrong_type(&n, "the schema's text", v)),
            };
            SchemaChoice::Text(text, references)
        } else {
            unreachable!("one choice is given")
        };
        let value = self.obj.get(field).unwrap_or(&Value::Null);
        if value.is_null() {
            return Ok(None);
        }
        Ok(Some(Box::new(Pending {
            format,
            schema,
            value: value.clone(),
            message,
        })))
    }

    /// The `references` of a `…Schema` given as `{"schema", "references"}`:
    /// `[{"name", "subject", "version"}]`, as the registry's API takes them.
    fn references(
        &self,
        at: &str,
        wrapper: &Map<String, Value>,
    ) -> Result<Vec<SchemaReference>, RecordsError> {
        let list = match wrapper.get("references") {
            None | Some(Value::Null) => return Ok(Vec::new()),
            Some(Value::Array(list)) => list,
            Some(other) => {
                return Err(self.wrong_type(
                    at,
                    "an array of {\"name\", \"subject\", \"version\"}",
                    other,
                ))
            }
        };
        list.iter()
            .enumerate()
            .map(|(i, r)| {
                let at = format!("{at}[{i}]");
                let text = |key: &str| {
                    r.get(key)
                        .and_then(Value::as_str)
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .ok_or_else(|| {
                            self.wrong_type(
                                &format!("{at}.{key}"),
                                "a non-empty string",
                                r.get(key).unwrap_or(&Value::Null),
                            )
                        })
                };
                let version = r
                    .get("version")
                    .and_then(Value::as_i64)
                    .and_then(|v| i32::try_from(v).ok())
                    .filter(|v| *v >= 1)
                    .ok_or_else(|| {
                        self.wrong_type(
                            &format!("{at}.version"),
                            "a version (an integer from 1)",
                            r.get("version").unwrap_or(&Value::Null),
                        )
                    })?;
                if let Some(key) = r
                    .as_object()
                    .and_then(|o| o.keys().find(|k| !["name", "subject", "version"].contains(&k.as_str())))
                {
                    return Err(invalid(format!(
                        "{}: unknown field '{key}' (a reference is {{\"name\", \"subject\", \"version\"}})",
                        self.at(&at)
                    )));
                }
                Ok(SchemaReference {
                    name: text("name")?,
                    subject: text("subject")?,
                    version,
                })
            })
            .collect()
    }

    /// The key or value, serialized with `format`.
    fn serialized(&self, field: &str, format: Format) -> Result<Option<Bytes>, RecordsError> {
        let v = self.obj.get(field).unwrap_or(&Value::Null);
        format
            .serialize(v)
            .map(|b| b.map(Bytes::from))
            .map_err(|e| {
                invalid(format!(
                    "{} ({} serializer): {e}",
                    self.at(field),
                    format.name()
                ))
            })
    }

    fn timestamp(&self) -> Result<Option<i64>, RecordsError> {
        match self.obj.get("timestamp") {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => n.as_i64().filter(|t| *t >= 0).map(Some).ok_or_else(|| {
                invalid(format!(
                    "{}: must be a whole number of milliseconds since the epoch, 0 or more, got {n}",
                    self.at("timestamp")
                ))
            }),
            Some(other) => Err(self.wrong_type("timestamp", "an integer", other)),
        }
    }

    fn headers(&self) -> Result<Vec<Header>, RecordsError> {
        match self.obj.get("headers") {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::Array(hs)) => hs
                .iter()
                .enumerate()
                .map(|(j, h)| parse_header(&self.at(&format!("headers[{j}]")), h))
                .collect(),
            Some(other) => Err(self.wrong_type("headers", "an array", other)),
        }
    }
}

fn parse_header(at: &str, h: &Value) -> Result<Header, RecordsError> {
    let obj = h.as_object().ok_or_else(|| {
        invalid(format!(
            "{at}: must be an object {{\"key\": ..., \"value\": ...}}, got {}",
            kind(h)
        ))
    })?;
    unknown_fields(obj, &["key", "value"], &format!("{at}: "))?;
    let key = match obj.get("key") {
        Some(Value::String(k)) => Bytes::copy_from_slice(k.as_bytes()),
        None | Some(Value::Null) => return Err(invalid(format!("{at}.key: is required"))),
        Some(other) => {
            return Err(invalid(format!(
                "{at}.key: must be a string, got {}",
                kind(other)
            )))
        }
    };
    let value =
        match obj.get("value") {
            None | Some(Value::Null) => None,
            Some(Value::String(v)) => Some(Bytes::from(STANDARD.decode(v).map_err(|e| {
                invalid(format!("{at}.value: must be standard padded base64: {e}"))
            })?)),
            Some(other) => {
                return Err(invalid(format!(
                    "{at}.value: must be a base64 string or null, got {}",
                    kind(other)
                )))
            }
        };
    Ok(Header { key, value })
}

#[cfg(test)]
mod tests {
    use super::super::{quick, read_post_body};
    use super::*;
    use serde_json::json;

    fn err(body: Value) -> String {
        match parse_value(&body) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected {body} to be refused"),
        }
    }

    #[test]
    fn validation_names_the_record_and_field() {
        assert!(err(
            json!({"records": [{"topic": "t"}, {"topic": "t", "valueSerializer": "lng"}]})
        )
        .starts_with("records[1].valueSerializer: unknown serializer 'lng'"));
        assert!(err(
            json!({"records": [{"topic": "t", "value": "x", "valueSerializer": "integer"}]})
        )
        .starts_with("records[0].value (integer serializer):"));
        assert!(err(
            json!({"records": [{"topic": "t", "headers": [{"key": "a", "value": "!!"}]}]})
        )
        .starts_with("records[0].headers[0].value: must be standard padded base64"));
        assert!(
            err(json!({"records": [{"value": 1}]})).starts_with("records[0].topic: is required")
        );
        assert!(err(json!({"records": [{"topic": "t", "partiton": 1}]})).contains("'partiton'"));
        assert!(err(json!({"records": []})).starts_with("records: must hold at least one"));
        assert!(
            err(json!({"records": [{"topic": "t"}], "timeout": "5 parsecs"}))
                .starts_with("timeout:")
        );
        assert!(err(json!({"records": [{"topic": "t", "partition": -1}]}))
            .starts_with("records[0].partition"));
        assert!(err(json!({"records": [{"topic": "t", "timestamp": -5}]}))
            .starts_with("records[0].timestamp"));
        assert!(err(json!({"records": [{"topic": "a/b"}]}))
            .starts_with("records[0].topic: 'a/b' contains '/'"));
    }

    #[test]
    fn schema_text_may_come_with_references() {
        let refs = json!([{"name": "shop.Customer", "subject": "customers-value", "version": 2}]);
        let schema = |value_schema: Value| {
            let body = json!({"records": [{"topic": "t", "valueSerializer": "avro", "value": {},
                                           "valueSchema": value_schema}]});
            let mut request = parse_value(&body).unwrap();
            request.records.remove(0).value_pending.unwrap().schema
        };
        let order = json!({"type": "record", "name": "Order", "fields": []});
        assert_eq!(
            schema(json!({"schema": order, "references": refs})),
            SchemaChoice::Text(
                order.to_string(),
                vec![SchemaReference {
                    name: "shop.Customer".into(),
                    subject: "customers-value".into(),
                    version: 2
                }]
            )
        );
        assert_eq!(
            schema(json!({"schema": "\"string\""})),
            SchemaChoice::Text("\"string\"".into(), vec![])
        );
        // A schema given as JSON is not taken for the wrapper.
        assert_eq!(
            schema(order.clone()),
            SchemaChoice::Text(order.to_string(), vec![])
        );
        for (references, message) in [
            (
                json!({"name": "x"}),
                "records[0].valueSchema.references: must be an array",
            ),
            (
                json!([{"name": "x", "subject": "s"}]),
                "records[0].valueSchema.references[0].version: must be a version",
            ),
            (
                json!([{"name": "", "subject": "s", "version": 1}]),
                "records[0].valueSchema.references[0].name: must be a non-empty string",
            ),
            (
                json!([{"name": "x", "subject": "s", "version": 1, "schema": "{}"}]),
                "records[0].valueSchema.references[0]: unknown field 'schema'",
            ),
        ] {
            let e = err(
                json!({"records": [{"topic": "t", "valueSerializer": "avro", "value": {},
                "valueSchema": {"schema": order, "references": references}}]}),
            );
            assert!(e.starts_with(message), "{e}");
        }
        let e = err(
            json!({"records": [{"topic": "t", "keySerializer": "protobuf", "key": {},
            "keySchema": {"schema": 5, "references": []}}]}),
        );
        assert!(
            e.starts_with("records[0].keySchema.schema: must be the schema's text"),
            "{e}"
        );
    }

    fn explained(body: &str) -> String {
        assert!(
            quick::read(&Bytes::copy_from_slice(body.as_bytes())).is_none(),
            "the quick reader accepted {body}"
        );
        match read_post_body(&Bytes::copy_from_slice(body.as_bytes())) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected {body} to be refused"),
        }
    }

    fn line_err(line: &str, defaults: &LineDefaults) -> String {
        match parse_line(57, line.as_bytes(), defaults) {
            Err(e) => e.to_string(),
            Ok(_) => panic!("expected {line} to be refused"),
        }
    }

    #[test]
    fn a_line_is_a_record_named_by_its_line_number() {
        let none = LineDefaults::default();
        for (line, start) in [
            (r#"{"value": 1}"#, "line 57: topic: is required"),
            (
                r#"{"topic": "t", "valueSerializer": "lng"}"#,
                "line 57: valueSerializer: unknown serializer 'lng'",
            ),
            (
                r#"{"topic": "t", "value": "x", "valueSerializer": "integer"}"#,
                "line 57: value (integer serializer):",
            ),
            (
                r#"{"topic": "t", "headers": [{"key": "a", "value": "!!"}]}"#,
                "line 57: headers[0].value: must be standard padded base64",
            ),
            (
                r#"{"topic": "t", "partiton": 1}"#,
                "line 57: unknown field 'partiton'; known fields: topic, partition, keySerializer, valueSerializer, key, value, timestamp, headers, keySchemaId, keySubject, keySchemaVersion, keySchema, keyMessage, valueSchemaId, valueSubject, valueSchemaVersion, valueSchema, valueMessage, offset, serializedKeySize, serializedValueSize, leaderEpoch",
            ),
            (
                r#"{"topic": "t", "partition": 1, "partition": 2}"#,
                "line 57: partition: given more than once",
            ),
            (r#"[{"topic": "t"}]"#, "line 57: must be an object, got an array"),
            (
                r#"{"topic": "t",}"#,
                "line 57: not valid JSON: trailing comma at column 15; each line must be one JSON object",
            ),
            (
                r#"{"topic": "t"} {"topic": "u"}"#,
                "line 57: not valid JSON: trailing characters at column 16",
            ),
        ] {
            let m = line_err(line, &none);
            assert!(m.starts_with(start), "{line}: {m}");
        }
    }

    #[test]
    fn a_line_may_carry_what_get_returns_and_the_query_fills_in_the_rest() {
        // A line of a dump made with keyDeserializer=bytearray&valueDeserializer=bytearray.
        let dumped = r#"{"topic": "orders", "partition": 2, "offset": 7, "timestamp": 1700000000000,
            "serializedKeySize": 1, "serializedValueSize": -1, "headers": [{"key": "h", "value": null},
            {"key": "h", "value": "Yg=="}], "key": "aw==", "value": null, "leaderEpoch": 0}"#;
        let defaults = LineDefaults {
            topic: Some("copy".into()),
            key_serializer: Some(Format::ByteArray),
            value_serializer: Some(Format::ByteArray),
        };
        let r = parse_line(1, dumped.as_bytes(), &defaults).unwrap();
        assert_eq!(&*r.topic, "copy");
        assert_eq!(r.partition, Some(2));
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value, None);
        assert_eq!(r.timestamp, Some(1_700_000_000_000));
        assert_eq!(r.headers.len(), 2);
        assert_eq!(r.headers[0].value, None);
        assert_eq!(r.headers[1].value.as_deref(), Some(&b"b"[..]));
        // The line's own serializer wins over the query's.
        let r = parse_line(
            1,
            br#"{"value": "aw==", "valueSerializer": "string"}"#,
            &defaults,
        )
        .unwrap();
        assert_eq!(r.value.as_deref(), Some(&b"aw=="[..]));
        // Without the query's serializers the dump's base64 is written as text.
        let r = parse_line(1, dumped.as_bytes(), &LineDefaults::default()).unwrap();
        assert_eq!(&*r.topic, "orders");
        assert_eq!(r.key.as_deref(), Some(&b"aw=="[..]));
        // GET's fields are the only read-only ones accepted.
        let m = line_err(r#"{"topic": "t", "topicId": 1}"#, &defaults);
        assert!(m.starts_with("line 57: unknown field 'topicId'"), "{m}");
        // And a JSON body's records do not take them.
        assert!(err(json!({"records": [{"topic": "t", "offset": 1}]}))
            .starts_with("records[0]: unknown field 'offset'"));
    }

    #[test]
    fn a_field_given_twice_is_refused_and_named_by_its_path() {
        for (body, path) in [
            (
                r#"{"records": [{"topic": "t"}], "records": [{"topic": "u"}]}"#,
                "records",
            ),
            (
                r#"{"records": [{"topic": "t", "partition": 1, "partition": 2}]}"#,
                "records[0].partition",
            ),
            (
                r#"{"records": [{"topic": "t"}, {"topic": "t", "headers": [{"key": "a", "key": "b"}]}]}"#,
                "records[1].headers[0].key",
            ),
            (
                r#"{"timeout": "1s", "records": [{"topic": "t"}], "timeout": "2s"}"#,
                "timeout",
            ),
            // A JSON tree would keep only the last: the stored JSON would lose a key.
            (
                r#"{"records": [{"topic": "t", "valueSerializer": "json", "value": {"a": [{"b": 1, "b": 2}]}}]}"#,
                "records[0].value.a[0].b",
            ),
            (
                r#"{"records": [{"topic": "t", "valueSerializer": "json", "value": {"a b": 1, "a\u0020b": 2}}]}"#,
                r#"records[0].value["a b"]"#,
            ),
        ] {
            let m = explained(body);
            assert_eq!(
                m,
                format!("{path}: given more than once; give each field at most once"),
                "{body}"
            );
        }
        // Objects with many keys take the hash-set path.
        let keys: Vec<String> = (0..40).map(|i| format!("\"k{i}\": {i}")).collect();
        let body = format!(
            r#"{{"records": [{{"topic": "t", "valueSerializer": "json", "value": {{{}, "k33": 0}}}}]}}"#,
            keys.join(", ")
        );
        assert!(explained(&body).starts_with("records[0].value.k33: given more than once"));
        // The same key in different objects is fine, on both paths.
        let body = r#"{"records": [{"topic": "t", "valueSerializer": "json", "value": {"a": {"a": 1}, "b": [{"a": 1}, {"a": 2}]}}]}"#;
        assert!(quick::read(&Bytes::copy_from_slice(body.as_bytes())).is_some());
        assert!(parse(body.as_bytes()).is_ok());
    }

    #[test]
    fn a_transaction_id_is_neither_empty_nor_longer_than_kafka_can_carry() {
        assert!(
            explained(r#"{"records": [{"topic": "t"}], "transactionId": ""}"#)
                .starts_with("transactionId: must not be empty")
        );
        let long = format!(
            r#"{{"records": [{{"topic": "t"}}], "transactionId": "{}"}}"#,
            "x".repeat(crate::records::MAX_ID_BYTES + 1)
        );
        assert!(explained(&long).starts_with("transactionId: is 4097 bytes long"));
        let fine = format!(
            r#"{{"records": [{{"topic": "t"}}], "transactionId": "{}"}}"#,
            "x".repeat(crate::records::MAX_ID_BYTES)
        );
        assert!(quick::read(&Bytes::copy_from_slice(fine.as_bytes())).is_some());
    }

    #[test]
    fn a_timeout_beyond_a_year_is_refused_instead_of_overflowing_the_deadline() {
        let m = explained(r#"{"records": [{"topic": "t"}], "timeout": "18446744073709551615s"}"#);
        assert!(
            m.starts_with("timeout: '18446744073709551615s' is longer than the maximum"),
            "{m}"
        );
    }

    #[test]
    fn a_valid_body_is_serialized_with_defaults() {
        let req = parse_value(
            &json!({"records": [{"topic": "t", "key": "k", "value": 7, "valueSerializer": "INTEGER",
            "headers": [{"key": "h", "value": null}, {"key": "h", "value": "Yg=="}]}]}),
        )
        .unwrap();
        assert_eq!(req.timeout, DEFAULT_TIMEOUT);
        assert!(!req.asynchronous);
        let r = &req.records[0];
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&[0u8, 0, 0, 7][..]));
        assert_eq!(r.headers.len(), 2);
        assert_eq!(r.headers[0].value, None);
        assert_eq!(r.headers[1].value.as_deref(), Some(&b"b"[..]));
    }

    #[test]
    fn the_quick_reader_agrees_with_the_checking_parser() {
        let bodies = [
            json!({"records": [{"topic": "t", "value": "v"}]}),
            json!({"records": [{"topic": "t", "key": "k", "value": 7, "valueSerializer": "INTEGER", "partition": 2,
                "timestamp": 5, "headers": [{"key": "h", "value": null}, {"key": "h", "value": "Yg=="}]}],
                "async": true, "timeout": "2s", "transactionId": "x"}),
            json!({"records": [{"topic": "t", "value": {"b": 1, "a": [1.50, "é", null]}, "valueSerializer": "json"},
                {"topic": "u", "key": null, "value": 1.50}, {"topic": "u", "value": true},
                {"topic": "u", "value": "AQID", "valueSerializer": "bytearray"},
                {"topic": "u", "value": "0.1", "valueSerializer": "float"},
                {"topic": "u", "value": "\u{e9}\n\"", "keySerializer": "string"}]}),
        ];
        for body in bodies {
            let bytes = Bytes::from(body.to_string());
            let fast =
                quick::read(&bytes).unwrap_or_else(|| panic!("the quick reader refused {body}"));
            let slow = parse_value(&body).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{body}");
        }
    }

    #[test]
    fn bodies_the_quick_reader_refuses_are_explained() {
        for body in [
            json!({"records": []}),
            json!({"records": [{"topic": "t", "partiton": 1}]}),
            json!({"records": [{"topic": "t", "partition": -1}]}),
            json!({"records": [{"topic": "t", "partition": 1.5}]}),
            json!({"records": [{"topic": "t", "value": "x", "valueSerializer": "integer"}]}),
            json!({"records": [{"topic": "t", "headers": [{"key": "h", "value": "!!"}]}]}),
            json!({"records": [{"topic": "a b"}]}),
            json!({"records": [{"topic": "t"}], "timeout": 5}),
            json!({"records": [{"topic": "t"}], "transactionId": ""}),
            json!({"records": [{"topic": "t", "timestamp": -1}]}),
        ] {
            let bytes = Bytes::from(body.to_string());
            assert!(quick::read(&bytes).is_none(), "{body}");
            let message = read_post_body(&bytes).unwrap_err().to_string();
            assert!(!message.is_empty(), "{body}");
        }
    }

    /// Bodies as text, where the typed reader must agree with the
    /// checking parser: escapes, white space, nesting and number forms
    /// a JSON serializer would not produce. What the reader leaves alone
    /// (`-0`, an escaped name) the checking parser decides.
    #[test]
    fn the_quick_reader_agrees_on_spelling_the_serializers_do_not_use() {
        let deep = |n: usize| format!("{}1{}", "[".repeat(n), "]".repeat(n));
        let accepted = [
            r#" { "records" : [ { "topic" : "t" , "value" : "v" } ] } "#.to_string(),
            "{\n\t\"records\":[{\"topic\":\"t\",\r\n\"value\":\"v\"}]}\n".to_string(),
            r#"{"records":[{"topic":"t","value":"a\"b\\c\/\u00e9\ud83d\ude00\n"}]}"#.to_string(),
            r#"{"records":[{"topic":"t","key":"k\u0000","headers":[{"key":"h\tx","value":"YQ=="}]}]}"#.to_string(),
            r#"{"records":[{"topic":"t","value":"\u0031","valueSerializer":"integer"}]}"#.to_string(),
            r#"{"records":[{"topic":"t","partition":0,"timestamp":0,"key":null,"value":null}]}"#.to_string(),
            r#"{"records":[{"topic":"t","value":{"a":{"b":[1,2,{"c":"}]"}]}},"valueSerializer":"json"}]}"#.to_string(),
            r#"{"records":[{"topic":"t","value":-0},{"topic":"t","value":1E5}]}"#.to_string(),
            r#"{"records":[{"topic":"t","value":[],"valueSerializer":"json"}]}"#.to_string(),
            format!(r#"{{"records":[{{"topic":"t","value":{},"valueSerializer":"json"}}]}}"#, deep(100)),
            r#"{"async":false,"timeout":"1s","records":[{"topic":"t"}]}"#.to_string(),
        ];
        for body in accepted {
            let bytes = Bytes::from(body.clone());
            let fast =
                quick::read(&bytes).unwrap_or_else(|| panic!("the quick reader refused {body}"));
            let slow = parse(&bytes).unwrap();
            assert_eq!(format!("{fast:?}"), format!("{slow:?}"), "{body}");
        }
        // Left to the checking parser, which accepts them.
        for body in [
            format!(
                r#"{{"records":[{{"topic":"t","value":{},"valueSerializer":"json"}}]}}"#,
                deep(101)
            ),
            r#"{"records":[{"topic":"\u0074","value":"v"}]}"#.to_string(),
            r#"{"records":[{"\u0074opic":"t"}]}"#.to_string(),
            r#"{"records":[{"topic":"t","partition":-0}]}"#.to_string(),
        ] {
            let bytes = Bytes::from(body.clone());
            assert!(quick::read(&bytes).is_none(), "{body}");
            assert!(parse(&bytes).is_ok(), "{body}");
        }
        // Refused by both.
        for body in [
            r#"{"records":[{"topic":"t","partition":01}]}"#,
            r#"{"records":[{"topic":"t","partition":1e0}]}"#,
            r#"{"records":[{"topic":"t","partition":9223372036854775808}]}"#,
            r#"{"records":[{"topic":"t",}]}"#,
            r#"{"records":[{"topic":"t"},]}"#,
            r#"{"records":[{"topic":"t"}]}x"#,
            r#"{"records":[{"topic":"t","value":"a	b"}]}"#,
            r#"{"records":[{"topic":"t","value":"\x"}]}"#,
            r#"{"records":[{"topic":"t","value":"\u12"}]}"#,
            r#"{"records":[{"topic":"t","value":"\ud800"}]}"#,
            r#"{"records":[{"topic":"t","value":tru}]}"#,
            r#"{"records":[{"topic":"t","value":{"a":1,"a":2},"valueSerializer":"json"}]}"#,
            r#"{"records":[{"topic":"t","headers":[{"key":"h","key":"i"}]}]}"#,
            r#"{"records":[{"topic":"t","topic":"u"}]}"#,
            r#"{"records":[{"topic":"t"}],"records":[{"topic":"u"}]}"#,
            r#"{"records":null}"#,
        ] {
            let bytes = Bytes::from(body);
            assert!(quick::read(&bytes).is_none(), "{body}");
            assert!(read_post_body(&bytes).is_err(), "{body}");
        }
    }
}
