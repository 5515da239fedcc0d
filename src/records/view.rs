//! A record as reads show it: the JSON object of a GET page, an NDJSON line
//! or an SSE event, and what a `filter` program sees.

use std::borrow::Cow;

use serde::Serialize;

use super::RecordsError;
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

/// One record as JSON, borrowing the fetched bytes.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
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
    #[serde(skip_serializing_if = "Option::is_none")]
    key_schema_id: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_schema_id: Option<u32>,
}

/// One header of a record.
#[derive(Debug, Serialize)]
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
        serde_json::to_writer(out, &record).map_err(|e| {
            RecordsError::Undecodable(format!(
                "topic '{}' partition {partition} offset {}: cannot write the record as JSON: {e}",
                self.topic, r.offset
            ))
        })
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
                    .map(|(value, id)| (Decoded::Value(value), Some(id)))
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
