//! Protobuf records of the Schema Registry wire format, shown in the proto3
//! JSON mapping (as protobuf's own `JsonFormat` prints them: fields by their
//! JSON names, 64-bit integers as strings, enums by name, bytes in base64,
//! fields at their default value left out).
//!
//! After the magic byte and the schema id, Confluent's Protobuf serializers
//! write which message of the schema's file the datum is: the list of
//! indexes from a top-level message down through its nested messages, as a
//! count and the indexes in zig-zag varints, and the single byte 0 for the
//! list `[0]` (the first message, by far the most common).
//!
//! A registered schema is `.proto` text, or (as Confluent's Python
//! serializer registers it) a `FileDescriptorProto` in base64. Its imports
//! are the registry's references, by import name; Google's well-known types
//! (`google/protobuf/timestamp.proto` …) are built in. protox compiles the
//! files, prost-reflect reads and writes the messages.

use std::collections::HashMap;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use prost_reflect::prost::Message as _;
use prost_reflect::{
    DescriptorPool, DeserializeOptions, DynamicMessage, FileDescriptor, MessageDescriptor,
};
use protox::file::{ChainFileResolver, File, FileResolver, GoogleFileResolver};
use serde_json::Value;

/// How many message indexes a datum may name (messages nested that deep).
const MAX_INDEXES: usize = 64;

/// A compiled Protobuf schema: its file and the files it imports.
#[derive(Debug)]
pub struct ProtobufSchema {
    file: FileDescriptor,
}

/// The registry's files by import name: the schema's and its references'.
struct RegistryFiles {
    texts: HashMap<String, String>,
}

impl FileResolver for RegistryFiles {
    fn open_file(&self, name: &str) -> Result<File, protox::Error> {
        let text = self
            .texts
            .get(name)
            .ok_or_else(|| protox::Error::file_not_found(name))?;
        match descriptor_of(text) {
            Some(mut proto) => {
                proto.name = Some(name.to_string());
                Ok(File::from_file_descriptor_proto(proto))
            }
            None => File::from_source(name, text),
        }
    }
}

/// A schema text that is a `FileDescriptorProto` in base64, decoded.
fn descriptor_of(text: &str) -> Option<prost_reflect::prost_types::FileDescriptorProto> {
    let text = text.trim();
    if text.is_empty() || text.contains(|c: char| c.is_whitespace() || c == ';') {
        return None;
    }
    let bytes = STANDARD.decode(text).ok()?;
    prost_reflect::prost_types::FileDescriptorProto::decode(bytes.as_slice()).ok()
}

impl ProtobufSchema {
    /// Compiles `text` (`.proto` source or a base64 `FileDescriptorProto`),
    /// whose imports are among `referenced` (import name, schema text).
    pub fn parse(text: &str, referenced: &[(String, String)]) -> Result<ProtobufSchema, String> {
        let mut name = descriptor_of(text)
            .and_then(|d| d.name)
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| "schema.proto".to_string());
        while referenced.iter().any(|(r, _)| r == &name) {
            name.insert(0, '_');
        }
        let mut texts: HashMap<String, String> = referenced.iter().cloned().collect();
        texts.insert(name.clone(), text.to_string());
        let mut resolver = ChainFileResolver::new();
        resolver.add(RegistryFiles { texts });
        resolver.add(GoogleFileResolver::new());
        let mut compiler = protox::Compiler::with_file_resolver(resolver);
        compiler.include_imports(true);
        compiler.open_file(&name).map_err(|e| compile_error(&e))?;
        let pool: DescriptorPool = compiler.descriptor_pool();
        let file = pool
            .get_file_by_name(&name)
            .ok_or_else(|| "the schema's file is missing after compiling it".to_string())?;
        if file.messages().len() == 0 {
            return Err("the schema defines no message".into());
        }
        Ok(ProtobufSchema { file })
    }

    /// The message `name` names (its full name, or without the package;
    /// `None`: the file's first message) and its indexes in the file.
    pub fn message(&self, name: Option<&str>) -> Result<(MessageDescriptor, Vec<i32>), String> {
        let message = match name {
            None => self
                .file
                .messages()
                .next()
                .ok_or_else(|| "the schema defines no message".to_string())?,
            Some(name) => {
                let name = name.trim_start_matches('.');
                let package = self.file.package_name();
                let full = if package.is_empty() || name.starts_with(&format!("{package}.")) {
                    name.to_string()
                } else {
                    format!("{package}.{name}")
                };
                let found = self
                    .all_messages()
                    .into_iter()
                    .find(|m| m.full_name() == full || m.full_name() == name);
                found.ok_or_else(|| {
                    let names: Vec<String> = self
                        .all_messages()
                        .iter()
                        .filter(|m| !m.is_map_entry())
                        .map(|m| m.full_name().to_string())
                        .collect();
                    format!(
                        "the schema has no message '{name}' (messages: {})",
                        names.join(", ")
                    )
                })?
            }
        };
        let indexes = indexes_of(&self.file, &message)?;
        Ok((message, indexes))
    }

    /// The file's messages, nested ones after their parent.
    fn all_messages(&self) -> Vec<MessageDescriptor> {
        fn walk(m: MessageDescriptor, out: &mut Vec<MessageDescriptor>) {
            let children: Vec<_> = m.child_messages().collect();
            out.push(m);
            for c in children {
                walk(c, out);
            }
        }
        let mut out = Vec::new();
        for m in self.file.messages() {
            walk(m, &mut out);
        }
        out
    }

    /// Decodes the bytes after the wire format's schema id: the message
    /// indexes, then the message, into the proto3 JSON mapping.
    pub fn decode(&self, bytes: &[u8]) -> Result<Value, String> {
        let (indexes, datum) = read_indexes(bytes)?;
        let message = self.message_at(&indexes)?;
        let decoded = DynamicMessage::decode(message.clone(), datum)
            .map_err(|e| format!("not a {} message: {e}", message.full_name()))?;
        serde_json::to_value(&decoded)
            .map_err(|e| format!("{} cannot be shown as JSON: {e}", message.full_name()))
    }

    /// The message at `indexes` (top-level index, then nested ones).
    fn message_at(&self, indexes: &[i32]) -> Result<MessageDescriptor, String> {
        let out_of_range = || {
            format!(
                "the message indexes {indexes:?} name no message of the schema (written with another schema?)"
            )
        };
        let (first, rest) = indexes.split_first().ok_or_else(out_of_range)?;
        let mut message = usize::try_from(*first)
            .ok()
            .and_then(|i| self.file.messages().nth(i))
            .ok_or_else(out_of_range)?;
        for i in rest {
            message = usize::try_from(*i)
                .ok()
                .and_then(|i| message.child_messages().nth(i))
                .ok_or_else(out_of_range)?;
        }
        Ok(message)
    }

    /// Appends the message indexes and `value` (proto3 JSON mapping) as
    /// message `name` to `out`; an error names the path of the value that
    /// does not fit (`.items[1].qty`).
    pub fn encode(
        &self,
        name: Option<&str>,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<(), String> {
        let (message, indexes) = self.message(name)?;
        let mut track = serde_path_to_error::Track::new();
        let deserializer = serde_path_to_error::Deserializer::new(value, &mut track);
        let decoded = DynamicMessage::deserialize_with_options(
            message.clone(),
            deserializer,
            &DeserializeOptions::new(),
        );
        let decoded = decoded.map_err(|e| {
            let path = track.path();
            let e = e.to_string();
            let e = strip_position(&e);
            let at = json_path(&path);
            if at.is_empty() {
                return format!("{e} (message {})", message.full_name());
            }
            // prost-reflect's messages do not always say what they found
            // ("invalid digit found in string"): show it.
            let found = value_at(value, &path)
                .filter(|v| !v.is_object() && !v.is_array())
                .map(|v| {
                    let text = v.to_string();
                    match text.char_indices().nth(60) {
                        Some((i, _)) => format!(", found {}...", &text[..i]),
                        None => format!(", found {text}"),
                    }
                })
                .unwrap_or_default();
            format!("{at}: {e}{found} (message {})", message.full_name())
        })?;
        write_indexes(out, &indexes);
        decoded
            .encode(out)
            .map_err(|e| format!("{} cannot be encoded: {e}", message.full_name()))
    }
}

/// protox's error with its place in the text, on one line.
fn compile_error(e: &protox::Error) -> String {
    let mut message = format!("not a valid Protobuf schema: {e}");
    if let Some(file) = e.file() {
        if !message.contains(file) {
            message.push_str(&format!(" (in {file})"));
        }
    }
    message
}

/// serde_path_to_error's path (`items[1].qty`) as the API writes paths
/// (`.items[1].qty`).
fn json_path(path: &serde_path_to_error::Path) -> String {
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            serde_path_to_error::Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            serde_path_to_error::Segment::Map { key } => {
                if !key.is_empty() && key.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    out.push('.');
                    out.push_str(key);
                } else {
                    out.push('[');
                    out.push_str(&Value::String(key.clone()).to_string());
                    out.push(']');
                }
            }
            serde_path_to_error::Segment::Enum { variant } => {
                out.push('.');
                out.push_str(variant);
            }
            serde_path_to_error::Segment::Unknown => {}
        }
    }
    out
}

/// The value at `path` in `value`, if it is there.
fn value_at<'v>(value: &'v Value, path: &serde_path_to_error::Path) -> Option<&'v Value> {
    let mut current = value;
    for segment in path.iter() {
        current = match segment {
            serde_path_to_error::Segment::Seq { index } => current.get(*index)?,
            serde_path_to_error::Segment::Map { key } => current.get(key.as_str())?,
            _ => return None,
        };
    }
    Some(current)
}

/// serde_json's " at line 1 column 5", meaningless for a value of a body.
fn strip_position(e: &str) -> &str {
    match e.rfind(" at line ") {
        Some(i) if e[i..].contains(" column ") => &e[..i],
        _ => e,
    }
}

/// The message indexes of `message` in `file`.
fn indexes_of(file: &FileDescriptor, message: &MessageDescriptor) -> Result<Vec<i32>, String> {
    let mut indexes = Vec::new();
    let mut current = message.clone();
    while let Some(parent) = current.parent_message() {
        let i = parent
            .child_messages()
            .position(|c| c.full_name() == current.full_name())
            .ok_or_else(|| format!("{} is not among its parent's messages", current.full_name()))?;
        indexes.push(i as i32);
        current = parent;
    }
    let i = file
        .messages()
        .position(|m| m.full_name() == current.full_name())
        .ok_or_else(|| {
            format!(
                "{} is not a message of the schema's file",
                current.full_name()
            )
        })?;
    indexes.push(i as i32);
    indexes.reverse();
    Ok(indexes)
}

/// Confluent's message indexes: `[0]` as the single byte 0, else the count
/// and the indexes, each a zig-zag varint.
pub fn write_indexes(out: &mut Vec<u8>, indexes: &[i32]) {
    if indexes == [0] {
        out.push(0);
        return;
    }
    super::avro::write_long(out, indexes.len() as i64);
    for i in indexes {
        super::avro::write_long(out, i64::from(*i));
    }
}

/// The message indexes at the start of `bytes`, and the bytes after them.
pub fn read_indexes(bytes: &[u8]) -> Result<(Vec<i32>, &[u8]), String> {
    let mut pos = 0;
    let mut next = || -> Result<i64, String> {
        let mut z: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *bytes
                .get(pos)
                .ok_or("the data ends in the message indexes")?;
            pos += 1;
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err("a message index is longer than 10 bytes".into())
    };
    let count = next()?;
    if count == 0 {
        return Ok((vec![0], &bytes[pos..]));
    }
    let count = usize::try_from(count)
        .ok()
        .filter(|c| *c <= MAX_INDEXES)
        .ok_or_else(|| {
            format!("{count} message indexes: not the Protobuf wire format (at most {MAX_INDEXES})")
        })?;
    let mut indexes = Vec::with_capacity(count);
    for _ in 0..count {
        let i = next()?;
        let i = i32::try_from(i).map_err(|_| format!("message index {i} is out of range"))?;
        indexes.push(i);
    }
    Ok((indexes, &bytes[pos..]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const COMMON: &str = r#"syntax = "proto3"; package shop.common;
        message Address { string street = 1; string zip = 2; }"#;
    const ORDER: &str = r#"syntax = "proto3"; package shop;
        import "common.proto";
        import "google/protobuf/timestamp.proto";
        message Order {
          int64 id = 1;
          shop.common.Address ship_to = 2;
          repeated Item items = 3;
          map<string, string> attributes = 4;
          oneof payment { string card = 5; int32 voucher = 6; }
          google.protobuf.Timestamp placed_at = 7;
          message Item { string sku = 1; int32 qty = 2; }
        }
        message Refund { int64 order_id = 1; Order.Item item = 2; }"#;

    fn schema() -> ProtobufSchema {
        ProtobufSchema::parse(ORDER, &[("common.proto".into(), COMMON.into())]).unwrap()
    }

    #[test]
    fn indexes_are_written_as_confluent_writes_them() {
        let mut out = Vec::new();
        write_indexes(&mut out, &[0]);
        assert_eq!(out, [0]);
        out.clear();
        write_indexes(&mut out, &[1]);
        assert_eq!(out, [2, 2]);
        out.clear();
        write_indexes(&mut out, &[0, 0]);
        assert_eq!(out, [4, 0, 0]);
        assert_eq!(read_indexes(&[0, 9]).unwrap(), (vec![0], &[9][..]));
        assert_eq!(read_indexes(&[4, 0, 2, 9]).unwrap(), (vec![0, 1], &[9][..]));
        assert!(read_indexes(&[]).is_err());
        assert!(read_indexes(&[0xfe, 0x01]).is_err());
    }

    #[test]
    fn messages_are_found_by_name_with_their_indexes() {
        let s = schema();
        assert_eq!(s.message(None).unwrap().1, vec![0]);
        assert_eq!(s.message(Some("Refund")).unwrap().1, vec![1]);
        // The map's entry message is nested too, where the map field is
        // declared (as protoc puts it): AttributesEntry is 0, Item 1.
        assert_eq!(s.message(Some("shop.Order.Item")).unwrap().1, vec![0, 1]);
        let e = s.message(Some("Nope")).unwrap_err();
        assert!(e.contains("shop.Order.Item") && !e.contains("Entry"), "{e}");
    }

    #[test]
    fn values_round_trip_in_the_json_mapping() {
        let s = schema();
        let order = json!({"id": "7", "shipTo": {"street": "Main"}, "items": [{"sku": "a", "qty": 2}],
                           "attributes": {"k": "v"}, "voucher": 5, "placedAt": "2024-01-01T00:00:00Z"});
        let mut out = Vec::new();
        s.encode(None, &order, &mut out).unwrap();
        assert_eq!(out[0], 0);
        assert_eq!(s.decode(&out).unwrap(), order);
        let item = json!({"sku": "b"});
        let mut out = Vec::new();
        s.encode(Some("Order.Item"), &item, &mut out).unwrap();
        assert_eq!(&out[..3], [4, 0, 2]);
        assert_eq!(s.decode(&out).unwrap(), item);
        // Proto field names and 64-bit integers as numbers are taken too.
        let mut out = Vec::new();
        s.encode(None, &json!({"id": 7, "ship_to": {"zip": "1"}}), &mut out)
            .unwrap();
        assert_eq!(
            s.decode(&out).unwrap(),
            json!({"id": "7", "shipTo": {"zip": "1"}})
        );
    }

    #[test]
    fn errors_name_the_path() {
        let s = schema();
        let e = s
            .encode(
                None,
                &json!({"items": [{"sku": "a"}, {"qty": "x"}]}),
                &mut Vec::new(),
            )
            .unwrap_err();
        assert!(e.starts_with(".items[1].qty: "), "{e}");
        let e = s
            .encode(None, &json!({"bogus": 1}), &mut Vec::new())
            .unwrap_err();
        assert!(e.contains("bogus"), "{e}");
        assert!(ProtobufSchema::parse("message {", &[]).is_err());
        assert!(ProtobufSchema::parse(ORDER, &[])
            .unwrap_err()
            .contains("common.proto"));
    }

    #[test]
    fn arbitrary_bytes_are_an_error_never_a_panic() {
        let s = schema();
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut valid = Vec::new();
        s.encode(None, &json!({"id": 1, "items": [{"sku": "a"}]}), &mut valid)
            .unwrap();
        for _ in 0..5000 {
            let len = (next() % 24) as usize;
            let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            if next() % 2 == 0 {
                // A valid start, then noise: the message's own checks.
                bytes.splice(0..0, valid.iter().copied());
            }
            let _ = s.decode(&bytes);
        }
    }

    #[test]
    fn base64_descriptors_are_schemas_too() {
        let s = schema();
        let proto = s.file.file_descriptor_proto().clone();
        let text = STANDARD.encode(proto.encode_to_vec());
        let again =
            ProtobufSchema::parse(&text, &[("common.proto".into(), COMMON.into())]).unwrap();
        assert_eq!(again.message(Some("Refund")).unwrap().1, vec![1]);
    }
}
