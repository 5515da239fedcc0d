//! A record as reads show it: the JSON object of a GET page, an NDJSON line
//! or an SSE event, and what a `filter` program sees.

use std::borrow::Cow;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use jaq_json::{Map, Num, Val};
#[cfg(test)]
use serde::Serialize;

use super::RecordsError;
use crate::codec::json;
use crate::codec::schema::SchemaSet;
use crate::codec::{Decoded, Format};
use crate::kafka::FetchedRecord;

/// How the records of one read are shown.
#[derive(Debug, Clone, Copy)]
pub struct View<'a> {
    /// The topic read.
    pub topic: &'a str,
    /// How keys are decoded.
    pub key: Format,
    /// How values are decoded.
    pub value: Format,
    /// The schemas of the Schema Registry formats, resolved for the records
    /// shown.
    pub schemas: &'a SchemaSet,
}

/// One record as JSON, borrowing the fetched bytes. [`RecordOut::write`]
/// writes it; the derived `Serialize` is what the tests hold it to.
#[derive(Debug)]
#[cfg_attr(test, derive(Serialize))]
#[cfg_attr(test, serde(rename_all = "camelCase"))]
struct RecordOut<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    serialized_key_size: i64,
    serialized_value_size: i64,
    headers: Vec<HeaderOut<'a>>,
    key: Decoded<'a>,
    value: Decoded<'a>,
    leader_epoch: Option<i32>,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    key_schema_id: Option<u32>,
    #[cfg_attr(test, serde(skip_serializing_if = "Option::is_none"))]
    value_schema_id: Option<u32>,
}

impl RecordOut<'_> {
    /// Appends the record's JSON object: the fields of the derived
    /// `Serialize`, in its order, written directly (a stream writes millions
    /// of these; serde's field-by-field path cost a third of a record's time).
    fn write(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        out.extend_from_slice(b"{\"topic\":");
        json::string(out, self.topic);
        json::field_int(out, b"partition", self.partition.into());
        json::field_int(out, b"offset", self.offset);
        json::field_int(out, b"timestamp", self.timestamp);
        json::field_int(out, b"serializedKeySize", self.serialized_key_size);
        json::field_int(out, b"serializedValueSize", self.serialized_value_size);
        out.extend_from_slice(b",\"headers\":[");
        for (i, h) in self.headers.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            out.extend_from_slice(b"{\"key\":");
            json::string(out, &h.key);
            out.extend_from_slice(b",\"value\":");
            json::decoded(out, &h.value)?;
            out.push(b'}');
        }
        out.extend_from_slice(b"],\"key\":");
        json::decoded(out, &self.key)?;
        out.extend_from_slice(b",\"value\":");
        json::decoded(out, &self.value)?;
        match self.leader_epoch {
            Some(epoch) => json::field_int(out, b"leaderEpoch", epoch.into()),
            None => out.extend_from_slice(b",\"leaderEpoch\":null"),
        }
        if let Some(id) = self.key_schema_id {
            json::field_int(out, b"keySchemaId", id.into());
        }
        if let Some(id) = self.value_schema_id {
            json::field_int(out, b"valueSchemaId", id.into());
        }
        out.push(b'}');
        Ok(())
    }
}

/// One header of a record.
#[derive(Debug)]
#[cfg_attr(test, derive(Serialize))]
struct HeaderOut<'a> {
    key: Cow<'a, str>,
    value: Decoded<'a>,
}

impl View<'_> {
    /// Appends the record's JSON object to `out`. A key or value that does
    /// not decode as asked is an error naming topic, partition, offset and
    /// field, so nothing is skipped silently.
    pub fn write(
        &self,
        out: &mut Vec<u8>,
        partition: i32,
        r: &FetchedRecord,
    ) -> Result<(), RecordsError> {
        let record = self.record(partition, r)?;
        record.write(out).map_err(|e| {
            RecordsError::Undecodable(format!(
                "topic '{}' partition {partition} offset {}: cannot write the record as JSON: {e}",
                self.topic, r.offset
            ))
        })
    }

    /// The record as a `filter` program sees it: the value that parsing
    /// [`View::write`]'s JSON gives, built without writing and parsing it.
    pub fn filter_input(&self, partition: i32, r: &FetchedRecord) -> Result<Val, RecordsError> {
        let record = self.record(partition, r)?;
        let fail = |e: String| {
            RecordsError::Undecodable(format!(
                "topic '{}' partition {partition} offset {}: cannot read the record as JSON: {e}",
                self.topic, r.offset
            ))
        };
        let mut object = Map::with_capacity_and_hasher(12, Default::default());
        let mut put = |name: &'static str, value: Val| {
            object.insert(Val::utf8_str(name.as_bytes()), value);
        };
        let int = |n: i64| Val::Num(Num::from_integral(n));
        put("topic", Val::utf8_str(record.topic.to_string()));
        put("partition", int(record.partition.into()));
        put("offset", int(record.offset));
        put("timestamp", int(record.timestamp));
        put("serializedKeySize", int(record.serialized_key_size));
        put("serializedValueSize", int(record.serialized_value_size));
        let headers = record
            .headers
            .iter()
            .map(|h| {
                let mut header = Map::with_capacity_and_hasher(2, Default::default());
                header.insert(Val::utf8_str(&b"key"[..]), Val::utf8_str(h.key.to_string()));
                header.insert(Val::utf8_str(&b"value"[..]), decoded_val(&h.value)?);
                Ok(Val::obj(header))
            })
            .collect::<Result<Val, String>>()
            .map_err(fail)?;
        put("headers", headers);
        put("key", decoded_val(&record.key).map_err(fail)?);
        put("value", decoded_val(&record.value).map_err(fail)?);
        put(
            "leaderEpoch",
            record.leader_epoch.map_or(Val::Null, |e| int(e.into())),
        );
        if let Some(id) = record.key_schema_id {
            put("keySchemaId", int(id.into()));
        }
        if let Some(id) = record.value_schema_id {
            put("valueSchemaId", int(id.into()));
        }
        Ok(Val::obj(object))
    }

    fn record<'r>(
        &self,
        partition: i32,
        r: &'r FetchedRecord,
    ) -> Result<RecordOut<'r>, RecordsError>
    where
        Self: 'r,
    {
        let field = |name, format: Format, bytes: Option<&'r [u8]>| {
            let fail = |e: String| {
                RecordsError::Undecodable(format!(
                    "topic '{}' partition {partition} offset {}: the {name} cannot be read with the {} deserializer: {e}; choose another {name}Deserializer",
                    self.topic, r.offset, format.name()
                ))
            };
            match bytes {
                Some(bytes) if format.needs_schema() => self
                    .schemas
                    .decode(bytes)
                    .map(|(value, id)| (value, Some(id)))
                    .map_err(fail),
                _ => format
                    .deserialize(bytes)
                    .map(|d| (d, None))
                    .map_err(|e| fail(e.to_string())),
            }
        };
        let (key, key_schema_id) = field("key", self.key, r.key.as_deref())?;
        let (value, value_schema_id) = field("value", self.value, r.value.as_deref())?;
        Ok(RecordOut {
            topic: self.topic,
            partition,
            offset: r.offset,
            timestamp: r.timestamp,
            serialized_key_size: r.key.as_ref().map_or(-1, |k| k.len() as i64),
            serialized_value_size: r.value.as_ref().map_or(-1, |v| v.len() as i64),
            headers: r
                .headers
                .iter()
                .map(|h| HeaderOut {
                    key: String::from_utf8_lossy(&h.key),
                    value: h.value.as_deref().map_or(Decoded::Null, Decoded::Bytes),
                })
                .collect(),
            key,
            value,
            leader_epoch: r.leader_epoch,
            key_schema_id,
            value_schema_id,
        })
    }
}

/// A key, value or header value as a filter sees it: what parsing its JSON
/// gives.
fn decoded_val(decoded: &Decoded<'_>) -> Result<Val, String> {
    match decoded {
        Decoded::Null => Ok(Val::Null),
        Decoded::Text(text) => Ok(Val::utf8_str(text.to_string())),
        Decoded::Bytes(bytes) => Ok(Val::utf8_str(STANDARD.encode(bytes))),
        Decoded::Int(n) => Ok(Val::Num(Num::from_integral(*n))),
        Decoded::Json(raw) => {
            jaq_json::read::parse_single(raw.get().as_bytes()).map_err(|e| e.to_string())
        }
        Decoded::JsonText(text) => jaq_json::read::parse_single(text).map_err(|e| e.to_string()),
        // Numbers as written (the shortest that reads back), and values of
        // schemas: through their JSON.
        Decoded::F32(_) | Decoded::F64(_) | Decoded::Value(_) => {
            let json = serde_json::to_vec(decoded).map_err(|e| e.to_string())?;
            jaq_json::read::parse_single(&json).map_err(|e| e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kafka::Header;
    use bytes::Bytes;

    fn record(
        key: Option<&[u8]>,
        value: Option<&[u8]>,
        headers: &[(&[u8], Option<&[u8]>)],
    ) -> FetchedRecord {
        FetchedRecord {
            offset: 41,
            timestamp: 1_700_000_000_123,
            key: key.map(Bytes::copy_from_slice),
            value: value.map(Bytes::copy_from_slice),
            headers: headers
                .iter()
                .map(|(k, v)| Header {
                    key: Bytes::copy_from_slice(k),
                    value: v.map(Bytes::copy_from_slice),
                })
                .collect(),
            leader_epoch: Some(3),
        }
    }

    /// The filter sees exactly what the answer shows: the value built
    /// directly equals the parse of the written JSON, for every format.
    #[test]
    fn a_filter_sees_what_the_answer_shows() {
        let schemas = SchemaSet::default();
        let cases: Vec<(Format, Format, FetchedRecord)> = vec![
            (
                Format::String,
                Format::Json,
                record(
                    Some("k\u{e9}\"y\n".as_bytes()),
                    Some(br#" {"id": 7, "amount": 1.50, "big": 123456789012345678901234567890, "e": 1E5, "nested": {"a": [true, null, "x"]}} "#),
                    &[(b"trace", Some(b"\x00\xff")), (b"trace", None), (b"\xff bad utf8", Some(b"v"))],
                ),
            ),
            (Format::ByteArray, Format::String, record(Some(b"\x00\x01\xfe"), None, &[])),
            (
                Format::Integer,
                Format::Long,
                record(Some(&(-7i32).to_be_bytes()), Some(&i64::MIN.to_be_bytes()), &[]),
            ),
            (
                Format::Float,
                Format::Double,
                record(Some(&0.1f32.to_be_bytes()), Some(&f64::NAN.to_be_bytes()), &[]),
            ),
            (Format::Double, Format::Float, record(Some(&1e300f64.to_be_bytes()), Some(&f32::NEG_INFINITY.to_be_bytes()), &[])),
            (Format::String, Format::String, record(None, Some("\u{1F600} text".as_bytes()), &[])),
        ];
        for (key, value, r) in cases {
            let view = View {
                topic: "a-topic",
                key,
                value,
                schemas: &schemas,
            };
            let mut json = Vec::new();
            view.write(&mut json, 5, &r).unwrap();
            // Written directly, byte for byte what the derived Serialize writes.
            let derived = serde_json::to_vec(&view.record(5, &r).unwrap()).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&json),
                String::from_utf8_lossy(&derived)
            );
            let no_epoch = FetchedRecord {
                leader_epoch: None,
                ..r.clone()
            };
            let mut written = Vec::new();
            view.write(&mut written, 5, &no_epoch).unwrap();
            let derived = serde_json::to_vec(&view.record(5, &no_epoch).unwrap()).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&written),
                String::from_utf8_lossy(&derived)
            );
            let parsed = jaq_json::read::parse_single(&json).unwrap();
            let built = view.filter_input(5, &r).unwrap();
            assert_eq!(built, parsed, "{}", String::from_utf8_lossy(&json));
            // Equal as JSON text too (order of fields, number spellings).
            assert_eq!(built.to_string(), parsed.to_string());
        }
    }

    #[test]
    fn a_value_that_is_not_json_fails_the_same_way_for_the_filter() {
        let schemas = SchemaSet::default();
        let view = View {
            topic: "t",
            key: Format::String,
            value: Format::Json,
            schemas: &schemas,
        };
        let r = record(None, Some(b"{not json"), &[]);
        assert!(view.write(&mut Vec::new(), 0, &r).is_err());
        assert!(view.filter_input(0, &r).is_err());
    }
}
