//! Avro records straight between Avro's binary encoding and its JSON
//! encoding, as Confluent's REST Proxy and Avro console consumer show them
//! (Java's `JsonEncoder`):
//!
//! - a union is `null`, or `{"<branch>": value}` where the branch is the
//!   type's full name (`"string"`, `"long"`, `"com.example.Address"`);
//! - `bytes` and `fixed` are strings of code points U+0000 to U+00FF, one
//!   per byte;
//! - an enum is its symbol, a map an object, a record an object with its
//!   fields in schema order;
//! - logical types are shown as the type they annotate: a `decimal` as its
//!   bytes, `date` and `time-millis` as the int, timestamps as the long,
//!   `uuid` as the string (`avro.use.logical.type.converters` off, the
//!   default of Confluent's tools);
//! - `float` and `double` NaN and infinities as the strings `"NaN"`,
//!   `"Infinity"` and `"-Infinity"` (JSON has no such numbers).
//!
//! Writing takes the same JSON and checks it against the schema, naming the
//! path of the first value that does not fit (`.address.zip`,
//! `.items[2]`). A record field left out takes its default, when it has one.
//!
//! Schemas are parsed by the `apache-avro` crate (names, namespaces,
//! references, logical types); the records are read and written here, so
//! that the JSON is exactly the encoding above. The crate turns a `uuid` on
//! `fixed(16)` into a plain `uuid`: such fields are read as strings.

use std::collections::HashMap;

use apache_avro::schema::{Name, RecordSchema, Schema};
use serde_json::Value;

mod plan;
use plan::Plan;

/// How deep values may nest (records in records, arrays in arrays).
const MAX_DEPTH: usize = 128;

/// A parsed Avro schema and the named types it can use.
#[derive(Debug)]
pub struct AvroSchema {
    root: Schema,
    names: HashMap<String, Schema>,
    /// The schema compiled for reads.
    plan: Plan,
}

impl AvroSchema {
    /// Parses `text`, whose named types may come from `referenced` (the
    /// texts of the schemas it references).
    pub fn parse(text: &str, referenced: &[String]) -> Result<AvroSchema, String> {
        let (root, others) = if referenced.is_empty() {
            (
                Schema::parse_str(text).map_err(|e| e.to_string())?,
                Vec::new(),
            )
        } else {
            Schema::parse_str_with_list(text, referenced).map_err(|e| e.to_string())?
        };
        let mut names = HashMap::new();
        for s in others.iter().chain(std::iter::once(&root)) {
            collect_names(s, &mut names);
        }
        let plan = Plan::new(&root, &names);
        Ok(AvroSchema { root, names, plan })
    }

    /// Decodes one datum of this schema (the bytes after the wire format's
    /// header) into its JSON encoding; every byte must be used.
    pub fn decode(&self, bytes: &[u8]) -> Result<Value, String> {
        let text = self.decode_json(bytes)?;
        serde_json::from_slice(&text).map_err(|e| e.to_string())
    }

    /// [`AvroSchema::decode`] as JSON text (valid UTF-8: strings and map
    /// keys are checked, bytes written as code points), written straight
    /// from the bytes with no values built: a read shows thousands of
    /// records a second.
    pub fn decode_json(&self, bytes: &[u8]) -> Result<Vec<u8>, String> {
        // The JSON encoding is usually two to four times the binary one.
        let mut out = Vec::with_capacity(bytes.len() * 4 + 16);
        let used = self.plan.read(bytes, &mut out)?;
        if used != bytes.len() {
            return Err(format!(
                "{} bytes left over after the Avro datum (written with another schema?)",
                bytes.len() - used
            ));
        }
        Ok(out)
    }

    /// Encodes `value` (Avro's JSON encoding) after `out`; an error names
    /// the path of the value that does not fit.
    pub fn encode(&self, value: &Value, out: &mut Vec<u8>) -> Result<(), String> {
        let mut path = String::new();
        self.write(&self.root, value, out, &mut path, false, 0)
            .map_err(|e| {
                if path.is_empty() {
                    e
                } else {
                    format!("{path}: {e}")
                }
            })
    }

    fn resolve<'a>(&'a self, schema: &'a Schema) -> Result<&'a Schema, String> {
        match schema {
            Schema::Ref { name } => {
                let full = name.fullname(None);
                self.names
                    .get(&full)
                    .ok_or_else(|| format!("the schema names '{full}' without defining it"))
            }
            s => Ok(s),
        }
    }

    /// Writes `value`; `default` reads a field default (a union's default is
    /// its first branch's value, unwrapped).
    fn write(
        &self,
        schema: &Schema,
        value: &Value,
        out: &mut Vec<u8>,
        path: &mut String,
        default: bool,
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nest more than {MAX_DEPTH} deep"));
        }
        let schema = self.resolve(schema)?;
        let expected = |what: &str| format!("expected {what}, found {}", kind(value));
        match schema {
            Schema::Null => {
                if !value.is_null() {
                    return Err(expected("null"));
                }
            }
            Schema::Boolean => {
                let b = value.as_bool().ok_or_else(|| expected("a boolean"))?;
                out.push(b as u8);
            }
            Schema::Int | Schema::Date | Schema::TimeMillis => {
                let v = value
                    .as_i64()
                    .and_then(|v| i32::try_from(v).ok())
                    .ok_or_else(|| expected("an integer in the int range"))?;
                write_long(out, v as i64);
            }
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => {
                let v = value
                    .as_i64()
                    .ok_or_else(|| expected("an integer in the long range"))?;
                write_long(out, v);
            }
            Schema::Float => {
                let v = float_of(value).ok_or_else(|| expected("a number"))?;
                out.extend_from_slice(&(v as f32).to_le_bytes());
            }
            Schema::Double => {
                let v = float_of(value).ok_or_else(|| expected("a number"))?;
                out.extend_from_slice(&v.to_le_bytes());
            }
            Schema::Bytes | Schema::BigDecimal => {
                let b = bytes_of(value)?;
                write_long(out, b.len() as i64);
                out.extend_from_slice(&b);
            }
            Schema::String | Schema::Uuid => {
                let s = value.as_str().ok_or_else(|| expected("a string"))?;
                write_long(out, s.len() as i64);
                out.extend_from_slice(s.as_bytes());
            }
            Schema::Fixed(f) => write_fixed(out, value, f.size)?,
            Schema::Duration => write_fixed(out, value, 12)?,
            Schema::Decimal(d) => {
                return self.write(&d.inner, value, out, path, default, depth + 1)
            }
            Schema::Enum(e) => {
                let s = value.as_str().ok_or_else(|| expected("an enum symbol"))?;
                let i = e.symbols.iter().position(|x| x == s).ok_or_else(|| {
                    format!(
                        "'{s}' is not a symbol of enum {} ({})",
                        e.name.fullname(None),
                        e.symbols.join(", ")
                    )
                })?;
                write_long(out, i as i64);
            }
            Schema::Array(a) => {
                let items = value.as_array().ok_or_else(|| expected("an array"))?;
                if !items.is_empty() {
                    write_long(out, items.len() as i64);
                    let len = path.len();
                    for (i, item) in items.iter().enumerate() {
                        path.push_str(&format!("[{i}]"));
                        self.write(&a.items, item, out, path, default, depth + 1)?;
                        path.truncate(len);
                    }
                }
                out.push(0);
            }
            Schema::Map(m) => {
                let map = value
                    .as_object()
                    .ok_or_else(|| expected("an object (a map)"))?;
                if !map.is_empty() {
                    write_long(out, map.len() as i64);
                    let len = path.len();
                    for (k, v) in map {
                        write_long(out, k.len() as i64);
                        out.extend_from_slice(k.as_bytes());
                        push_key(path, k);
                        self.write(&m.types, v, out, path, default, depth + 1)?;
                        path.truncate(len);
                    }
                }
                out.push(0);
            }
            Schema::Union(u) => {
                let variants = u.variants();
                if default {
                    let first = variants.first().ok_or("an empty union has no value")?;
                    out.push(0);
                    return self.write(first, value, out, path, true, depth + 1);
                }
                if value.is_null() {
                    let i = variants
                        .iter()
                        .position(|v| matches!(v, Schema::Null))
                        .ok_or_else(|| {
                            format!(
                                "null is not allowed: the union is {}",
                                self.union_names(variants)
                            )
                        })?;
                    write_long(out, i as i64);
                    return Ok(());
                }
                let single = value.as_object().filter(|m| m.len() == 1);
                let Some((name, inner)) = single.and_then(|m| m.iter().next()) else {
                    return Err(format!(
                        "a union value is null or {{\"<branch>\": value}} with one of {}; found {}",
                        self.union_names(variants),
                        kind(value)
                    ));
                };
                let mut found = None;
                for (i, v) in variants.iter().enumerate() {
                    let v = self.resolve(v)?;
                    if &branch_name(v) == name || short_name(v).as_deref() == Some(name.as_str()) {
                        found = Some((i, v));
                        break;
                    }
                }
                let (i, branch) = found.ok_or_else(|| {
                    format!(
                        "'{name}' is not a branch of the union ({})",
                        self.union_names(variants)
                    )
                })?;
                write_long(out, i as i64);
                let len = path.len();
                push_key(path, name);
                self.write(branch, inner, out, path, false, depth + 1)?;
                path.truncate(len);
            }
            Schema::Record(rec) => self.write_record(rec, value, out, path, default, depth)?,
            Schema::Ref { .. } => unreachable!("resolved above"),
        }
        Ok(())
    }

    fn write_record(
        &self,
        rec: &RecordSchema,
        value: &Value,
        out: &mut Vec<u8>,
        path: &mut String,
        default: bool,
        depth: usize,
    ) -> Result<(), String> {
        let map = value.as_object().ok_or_else(|| {
            format!(
                "expected an object (record {}), found {}",
                rec.name.fullname(None),
                kind(value)
            )
        })?;
        if let Some(unknown) = map.keys().find(|k| !rec.lookup.contains_key(k.as_str())) {
            let known: Vec<&str> = rec.fields.iter().map(|f| f.name.as_str()).collect();
            return Err(format!(
                "'{unknown}' is not a field of record {} (fields: {})",
                rec.name.fullname(None),
                known.join(", ")
            ));
        }
        let len = path.len();
        for field in &rec.fields {
            path.push('.');
            path.push_str(&field.name);
            match (map.get(&field.name), &field.default) {
                (Some(v), _) => self.write(&field.schema, v, out, path, default, depth + 1)?,
                (None, Some(d)) => self.write(&field.schema, d, out, path, true, depth + 1)?,
                (None, None) => return Err("missing, and the field has no default".into()),
            }
            path.truncate(len);
        }
        Ok(())
    }

    fn union_names(&self, variants: &[Schema]) -> String {
        variants
            .iter()
            .map(|v| self.resolve(v).map(branch_name).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The name Avro's JSON encoding gives a union branch: the full name of a
/// named type, else the type's name (a logical type: the type it annotates).
fn branch_name(schema: &Schema) -> String {
    match schema {
        Schema::Null => "null".into(),
        Schema::Boolean => "boolean".into(),
        Schema::Int | Schema::Date | Schema::TimeMillis => "int".into(),
        Schema::Long
        | Schema::TimeMicros
        | Schema::TimestampMillis
        | Schema::TimestampMicros
        | Schema::TimestampNanos
        | Schema::LocalTimestampMillis
        | Schema::LocalTimestampMicros
        | Schema::LocalTimestampNanos => "long".into(),
        Schema::Float => "float".into(),
        Schema::Double => "double".into(),
        Schema::Bytes | Schema::BigDecimal => "bytes".into(),
        Schema::String | Schema::Uuid => "string".into(),
        Schema::Array(_) => "array".into(),
        Schema::Map(_) => "map".into(),
        Schema::Union(_) => "union".into(),
        Schema::Record(r) => r.name.fullname(None),
        Schema::Enum(e) => e.name.fullname(None),
        Schema::Fixed(f) => f.name.fullname(None),
        Schema::Decimal(d) => branch_name(&d.inner),
        Schema::Duration => "duration".into(),
        Schema::Ref { name } => name.fullname(None),
    }
}

/// A named type's name without its namespace (accepted on writes too).
fn short_name(schema: &Schema) -> Option<String> {
    let name: &Name = match schema {
        Schema::Record(r) => &r.name,
        Schema::Enum(e) => &e.name,
        Schema::Fixed(f) => &f.name,
        _ => return None,
    };
    Some(name.name.clone())
}

fn collect_names(schema: &Schema, names: &mut HashMap<String, Schema>) {
    match schema {
        Schema::Record(r) => {
            names.insert(r.name.fullname(None), schema.clone());
            for f in &r.fields {
                collect_names(&f.schema, names);
            }
        }
        Schema::Enum(e) => {
            names.insert(e.name.fullname(None), schema.clone());
        }
        Schema::Fixed(f) => {
            names.insert(f.name.fullname(None), schema.clone());
        }
        Schema::Array(a) => collect_names(&a.items, names),
        Schema::Map(m) => collect_names(&m.types, names),
        Schema::Union(u) => {
            for v in u.variants() {
                collect_names(v, names);
            }
        }
        Schema::Decimal(d) => collect_names(&d.inner, names),
        _ => {}
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn push_key(path: &mut String, key: &str) {
    path.push('[');
    path.push_str(&Value::String(key.to_string()).to_string());
    path.push(']');
}

fn bytes_of(value: &Value) -> Result<Vec<u8>, String> {
    let s = value.as_str().ok_or_else(|| {
        format!(
            "expected a string of code points U+0000 to U+00FF (one per byte), found {}",
            kind(value)
        )
    })?;
    s.chars()
        .map(|c| {
            u8::try_from(u32::from(c)).map_err(|_| {
                format!("'{c}' is not a byte: bytes are strings of code points U+0000 to U+00FF")
            })
        })
        .collect()
}

fn write_fixed(out: &mut Vec<u8>, value: &Value, size: usize) -> Result<(), String> {
    let b = bytes_of(value)?;
    if b.len() != size {
        return Err(format!("expected {size} bytes, found {}", b.len()));
    }
    out.extend_from_slice(&b);
    Ok(())
}

fn float_of(value: &Value) -> Option<f64> {
    match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => match s.as_str() {
            "NaN" => Some(f64::NAN),
            "Infinity" | "+Infinity" => Some(f64::INFINITY),
            "-Infinity" => Some(f64::NEG_INFINITY),
            _ => None,
        },
        _ => None,
    }
}

/// Avro's variable-length zig-zag long.
pub fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SCHEMA: &str = r#"{"type": "record", "name": "Order", "namespace": "shop",
      "fields": [
        {"name": "id", "type": "long"},
        {"name": "note", "type": ["null", "string"], "default": null},
        {"name": "status", "type": {"type": "enum", "name": "Status", "symbols": ["NEW", "DONE"]}},
        {"name": "tags", "type": {"type": "array", "items": "string"}},
        {"name": "counts", "type": {"type": "map", "values": "int"}},
        {"name": "price", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "hash", "type": {"type": "fixed", "name": "Hash", "size": 2}},
        {"name": "raw", "type": "bytes"},
        {"name": "ratio", "type": "float"},
        {"name": "next", "type": ["null", "Order"], "default": null}
      ]}"#;

    fn order() -> Value {
        json!({"id": 7, "note": {"string": "hi"}, "status": "DONE", "tags": ["a", "b"],
               "counts": {"x": 1}, "price": "\u{0}\u{ff}", "at": 1700000000000i64,
               "hash": "\u{1}\u{2}", "raw": "\u{0}A\u{ff}", "ratio": 1.5,
               "next": {"shop.Order": {"id": -1, "note": null, "status": "NEW", "tags": [],
                        "counts": {}, "price": "", "at": 0, "hash": "ab", "raw": "",
                        "ratio": "NaN", "next": null}}})
    }

    #[test]
    fn values_round_trip_in_the_json_encoding() {
        let s = AvroSchema::parse(SCHEMA, &[]).unwrap();
        let mut out = Vec::new();
        s.encode(&order(), &mut out).unwrap();
        assert_eq!(s.decode(&out).unwrap(), order());
    }

    #[test]
    fn bytes_are_as_java_writes_them() {
        let s = AvroSchema::parse(
            r#"{"type": "record", "name": "R", "fields": [
            {"name": "a", "type": "int"}, {"name": "b", "type": ["null", "string"]}]}"#,
            &[],
        )
        .unwrap();
        let mut out = Vec::new();
        s.encode(&json!({"a": -2, "b": {"string": "x"}}), &mut out)
            .unwrap();
        assert_eq!(out, [3, 2, 2, b'x']);
    }

    #[test]
    fn defaults_fill_missing_fields_and_errors_name_the_path() {
        let s = AvroSchema::parse(SCHEMA, &[]).unwrap();
        let mut v = order();
        v.as_object_mut().unwrap().remove("note");
        let mut out = Vec::new();
        s.encode(&v, &mut out).unwrap();
        assert_eq!(s.decode(&out).unwrap()["note"], Value::Null);
        v["next"]["shop.Order"]["tags"] = json!(["ok", 5]);
        let e = s.encode(&v, &mut Vec::new()).unwrap_err();
        assert!(
            e.starts_with(".next[\"shop.Order\"].tags[1]: expected a string"),
            "{e}"
        );
        let e = s.encode(&json!({"id": 1}), &mut Vec::new()).unwrap_err();
        assert!(e.starts_with(".status: missing"), "{e}");
        let e = s
            .encode(&json!({"id": 1, "bogus": 2}), &mut Vec::new())
            .unwrap_err();
        assert!(e.contains("'bogus' is not a field"), "{e}");
    }

    #[test]
    fn json_text_is_written_directly_and_a_repeated_map_key_keeps_its_place_and_last_value() {
        let s = AvroSchema::parse(
            r#"{"type": "record", "name": "R", "fields": [
                {"name": "m", "type": {"type": "map", "values": "int"}},
                {"name": "f", "type": "float"},
                {"name": "d", "type": ["null", "double"]},
                {"name": "t", "type": "string"}]}"#,
            &[],
        )
        .unwrap();
        // Map: one block of three entries ("a" 1, "b" 2, "a" 3), then the end.
        let mut datum = vec![6, 2, b'a', 2, 2, b'b', 4, 2, b'a', 6, 0];
        datum.extend(1.5f32.to_le_bytes());
        datum.push(2); // the union's second branch
        datum.extend((-0.1f64).to_le_bytes());
        datum.extend([6, b'"', b'\n', 0x01]);
        assert_eq!(
            String::from_utf8(s.decode_json(&datum).unwrap()).unwrap(),
            r#"{"m":{"a":3,"b":2},"f":1.5,"d":{"double":-0.1},"t":"\"\n\u0001"}"#
        );
    }

    #[test]
    fn floats_are_written_as_java_writes_them_and_bad_text_is_an_error() {
        let s = AvroSchema::parse(
            r#"{"type": "record", "name": "R", "fields": [
                {"name": "f", "type": "float"}, {"name": "d", "type": "double"},
                {"name": "n", "type": "double"}, {"name": "b", "type": "bytes"}]}"#,
            &[],
        )
        .unwrap();
        let mut datum = 5f32.to_le_bytes().to_vec();
        datum.extend(0.1f64.to_le_bytes());
        datum.extend(f64::NEG_INFINITY.to_le_bytes());
        datum.extend([4, 0xc3, 0xa9]);
        assert_eq!(
            String::from_utf8(s.decode_json(&datum).unwrap()).unwrap(),
            "{\"f\":5.0,\"d\":0.1,\"n\":\"-Infinity\",\"b\":\"\u{c3}\u{a9}\"}"
        );
        let s = AvroSchema::parse(r#"{"type": "map", "values": "string"}"#, &[]).unwrap();
        let e = s.decode_json(&[2, 2, b'k', 2, 0xff, 0]).unwrap_err();
        assert_eq!(e, "a string is not valid UTF-8");
        let e = s.decode_json(&[2, 2, 0xff, 2, b'v', 0]).unwrap_err();
        assert_eq!(e, "a map key is not valid UTF-8");
    }

    #[test]
    fn a_few_bytes_cannot_claim_millions_of_empty_items() {
        let s = AvroSchema::parse(r#"{"type": "array", "items": "null"}"#, &[]).unwrap();
        // A block of 1,000 nulls is fine; blocks of 2^20 nulls, three bytes
        // each, would be megabytes of JSON per byte.
        let mut datum = Vec::new();
        write_long(&mut datum, 1000);
        datum.push(0);
        assert_eq!(s.decode_json(&datum).unwrap().len(), 1000 * 5 + 1);
        let mut datum = Vec::new();
        for _ in 0..100 {
            write_long(&mut datum, 1 << 20);
        }
        datum.push(0);
        let e = s.decode_json(&datum).unwrap_err();
        assert!(e.contains("more than the data can hold"), "{e}");
    }

    #[test]
    fn short_and_bad_data_is_an_error() {
        let s = AvroSchema::parse(SCHEMA, &[]).unwrap();
        let mut out = Vec::new();
        s.encode(&order(), &mut out).unwrap();
        assert!(s.decode(&out[..out.len() - 1]).is_err());
        out.push(0);
        assert!(s.decode(&out).unwrap_err().contains("left over"));
    }
}
