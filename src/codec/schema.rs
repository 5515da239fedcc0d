//! The Schema Registry formats around the registry client: the wire format
//! (magic byte 0, the schema id as 4 bytes big-endian, the datum: Avro's
//! binary encoding, Protobuf's message indexes and message, or JSON text), the
//! schemas one read has resolved, and the keys and values of a POST that
//! wait for their schema.
//!
//! Reads resolve every schema id a round of fetched records names before
//! the records are rendered ([`SchemaSet::resolve`]), so rendering stays
//! synchronous; writes resolve each record's schema, validate and encode the
//! value before anything is sent ([`encode_pending`]).

use std::collections::HashMap;
use std::sync::Arc;

use bytes::Bytes;
use serde_json::Value;

use super::json_schema::JsonSchema;
use super::registry::{ParsedSchema, RegisteredSchema, Registry, RegistryError, SchemaReference};
use super::{Decoded, Format};

/// The wire format's first byte.
pub const MAGIC: u8 = 0;

/// The schema id and the datum of bytes in the wire format.
pub fn split_wire(bytes: &[u8]) -> Result<(u32, &[u8]), String> {
    match bytes {
        [MAGIC, a, b, c, d, rest @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        [MAGIC, ..] => Err(format!(
            "{} bytes are too short for the Schema Registry wire format (magic byte 0 and a 4-byte schema id)",
            bytes.len()
        )),
        [first, ..] => Err(format!(
            "not in the Schema Registry wire format: the first byte is {first}, not the magic byte 0"
        )),
        [] => Err("no bytes: the Schema Registry wire format needs at least 5".into()),
    }
}

/// The schemas one read has resolved, by id.
#[derive(Debug, Default, Clone)]
pub struct SchemaSet {
    by_id: HashMap<u32, Arc<RegisteredSchema>>,
}

/// Which field of a record a schema is for.
#[derive(Debug, Clone, Copy)]
pub enum Field {
    /// The key.
    Key,
    /// The value.
    Value,
}

impl Field {
    /// `key` or `value`.
    pub fn name(self) -> &'static str {
        match self {
            Field::Key => "key",
            Field::Value => "value",
        }
    }
}

/// Why a record's key or value could not be read with its schema.
#[derive(Debug)]
pub enum ReadError {
    /// The bytes are not in the wire format, the id is unknown, or the datum
    /// does not fit the schema.
    Undecodable(String),
    /// The registry could not be asked.
    Unavailable(String),
}

impl SchemaSet {
    /// Fetches (once, from the registry's cache) the schema `bytes` names,
    /// in `format`; `Ok` for null bytes.
    pub async fn resolve(
        &mut self,
        registry: &Registry,
        format: Format,
        bytes: Option<&[u8]>,
    ) -> Result<(), ReadError> {
        let Some(bytes) = bytes else {
            return Ok(());
        };
        if !format.needs_schema() {
            return Ok(());
        }
        let (id, _) = split_wire(bytes).map_err(ReadError::Undecodable)?;
        if self.by_id.contains_key(&id) {
            return Ok(());
        }
        let schema = registry.schema(id).await.map_err(|e| match e {
            e @ RegistryError::Unavailable(_) => ReadError::Unavailable(e.to_string()),
            e => ReadError::Undecodable(e.to_string()),
        })?;
        if format.schema_type() != Some(schema.schema_type) {
            return Err(ReadError::Undecodable(format!(
                "schema {id} is a {} schema, not one the {} deserializer reads",
                schema.schema_type.name(),
                format.name()
            )));
        }
        self.by_id.insert(id, schema);
        Ok(())
    }

    /// Decodes bytes in the wire format with a schema resolved before;
    /// returns the JSON and the schema id.
    pub fn decode(&self, bytes: &[u8]) -> Result<(Decoded<'static>, u32), String> {
        let (id, datum) = split_wire(bytes)?;
        let schema = self
            .by_id
            .get(&id)
            .ok_or_else(|| format!("schema {id} was not resolved"))?;
        let value = match &schema.parsed {
            ParsedSchema::Avro(avro) => avro
                .decode_json(datum)
                .map(Decoded::JsonText)
                .map_err(|e| format!("not an Avro datum of schema {id}: {e}"))?,
            ParsedSchema::Protobuf(proto) => proto
                .decode(datum)
                .map(Decoded::Value)
                .map_err(|e| format!("not a Protobuf message of schema {id}: {e}"))?,
            ParsedSchema::Json(_) => JsonSchema::decode(datum)
                .map(Decoded::Value)
                .map_err(|e| format!("not the JSON of schema {id}: {e}"))?,
        };
        Ok((value, id))
    }
}

/// Which schema a key or value of a POST is written with.
#[derive(Debug, Clone, PartialEq)]
pub enum SchemaChoice {
    /// `…SchemaId`.
    Id(u32),
    /// `…Subject`, with `…SchemaVersion` (`None`: the latest).
    Subject(String, Option<i32>),
    /// `…Schema`: the schema text, registered under `<topic>-key` or
    /// `<topic>-value`, with the schemas of other subjects it refers to
    /// (`{"schema": text, "references": [...]}`).
    Text(String, Vec<SchemaReference>),
}

/// A key or value of a POST waiting for its schema.
#[derive(Debug, Clone, PartialEq)]
pub struct Pending {
    /// The format.
    pub format: Format,
    /// The schema.
    pub schema: SchemaChoice,
    /// The value, in the format's JSON mapping (not null).
    pub value: Value,
    /// For Protobuf, the message type (`…Message`; `None`: the first).
    pub message: Option<String>,
}

/// Why a pending key or value could not be written.
#[derive(Debug)]
pub enum WriteError {
    /// The value does not fit its schema, or the schema cannot be had.
    Invalid(String),
    /// The registry could not be asked.
    Unavailable(String),
}

/// Checks a value given with its schema's text against that schema, before
/// the schema is registered: a value that does not fit registers nothing.
/// The schemas the text refers to are fetched for it. Values given by id or
/// subject are checked by [`encode_pending`].
pub async fn check_pending(registry: &Registry, pending: &Pending) -> Result<(), WriteError> {
    let SchemaChoice::Text(text, references) = &pending.schema else {
        return Ok(());
    };
    let Some(schema_type) = pending.format.schema_type() else {
        return Ok(());
    };
    let referenced = if references.is_empty() {
        Vec::new()
    } else {
        registry
            .referenced_texts(references)
            .await
            .map_err(|e| match e {
                e @ RegistryError::Unavailable(_) => WriteError::Unavailable(e.to_string()),
                e => WriteError::Invalid(e.to_string()),
            })?
    };
    let schema = ParsedSchema::parse(schema_type, text, &referenced).map_err(|e| {
        WriteError::Invalid(format!(
            "the {} schema given cannot be used: {e}",
            pending.format.name()
        ))
    })?;
    encode_datum(&schema, pending, &mut Vec::new())
        .map_err(|e| WriteError::Invalid(format!("{e} (the schema given)")))
}

/// Appends `pending`'s value, encoded with `schema`, to `out`.
fn encode_datum(schema: &ParsedSchema, pending: &Pending, out: &mut Vec<u8>) -> Result<(), String> {
    match schema {
        ParsedSchema::Avro(avro) => avro.encode(&pending.value, out),
        ParsedSchema::Protobuf(proto) => {
            proto.encode(pending.message.as_deref(), &pending.value, out)
        }
        ParsedSchema::Json(json) => {
            json.check(&pending.value)?;
            serde_json::to_writer(out, &pending.value)
                .map_err(|e| format!("cannot be written as JSON: {e}"))
        }
    }
}

/// Resolves `pending`'s schema for `topic`'s `field` and returns the bytes
/// in the wire format.
pub async fn encode_pending(
    registry: &Registry,
    topic: &str,
    field: Field,
    pending: &Pending,
    latest: &mut HashMap<String, u32>,
) -> Result<Bytes, WriteError> {
    let from_registry = |e: RegistryError| match e {
        e @ RegistryError::Unavailable(_) => WriteError::Unavailable(e.to_string()),
        e => WriteError::Invalid(e.to_string()),
    };
    let id = match &pending.schema {
        SchemaChoice::Id(id) => *id,
        SchemaChoice::Subject(subject, Some(v)) => registry
            .id_of_version(subject, Some(*v))
            .await
            .map_err(from_registry)?,
        SchemaChoice::Subject(subject, None) => match latest.get(subject) {
            Some(id) => *id,
            None => {
                let id = registry
                    .id_of_version(subject, None)
                    .await
                    .map_err(from_registry)?;
                latest.insert(subject.clone(), id);
                id
            }
        },
        SchemaChoice::Text(text, references) => {
            let subject = format!("{topic}-{}", field.name());
            let schema_type = pending.format.schema_type().ok_or_else(|| {
                WriteError::Invalid(format!("{} takes no schema", pending.format.name()))
            })?;
            registry
                .id_of_text(&subject, schema_type, text, references)
                .await
                .map_err(from_registry)?
        }
    };
    let schema = registry.schema(id).await.map_err(from_registry)?;
    if pending.format.schema_type() != Some(schema.schema_type) {
        return Err(WriteError::Invalid(format!(
            "schema {id} is a {} schema, not one the {} serializer writes",
            schema.schema_type.name(),
            pending.format.name()
        )));
    }
    let mut out = Vec::with_capacity(64);
    out.push(MAGIC);
    out.extend_from_slice(&id.to_be_bytes());
    encode_datum(&schema.parsed, pending, &mut out).map_err(|e| {
        WriteError::Invalid(format!("{e} ({} schema {id})", schema.schema_type.name()))
    })?;
    Ok(Bytes::from(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_wire_format_is_checked() {
        assert_eq!(split_wire(&[0, 0, 0, 1, 2, 9]).unwrap(), (258, &[9][..]));
        assert!(split_wire(&[1, 0, 0, 0, 1])
            .unwrap_err()
            .contains("first byte is 1"));
        assert!(split_wire(&[0, 0, 1]).unwrap_err().contains("too short"));
        assert!(split_wire(&[]).is_err());
    }
}
