//! The serializers and deserializers of the API: JSON values from a
//! request become record bytes, and stored bytes become JSON in a response.
//!
//! The bytes are exactly what Apache Kafka's Java `StringSerializer`,
//! `ByteArraySerializer`, `IntegerSerializer`, `LongSerializer`,
//! `FloatSerializer` and `DoubleSerializer` write (UTF-8 text, raw bytes,
//! big-endian two's complement, big-endian IEEE-754), so Java consumers read
//! what we write and we read what Java producers write.
//!
//! Choices where JSON and Java differ, made once here:
//!
//! - `string` writes a number as the literal sent (`1.50` stays `1.50`, big
//!   integers keep every digit) except for the exponent, which serde_json's
//!   parser respells in lower case with a sign (`1E5` becomes `1e+5`).
//! - A JSON `null` is a null key or value (a tombstone), for every serializer,
//!   `json` included: it never becomes the four bytes `null`.
//! - `integer`/`long` take a JSON integer or a decimal string (`"-12"`,
//!   `"+12"`); a fraction or exponent (`1.5`, `1.0`, `1e3`) is refused, as
//!   Java's `Integer.parseInt` refuses it.
//! - `float`/`double` take a JSON number or a string holding one, plus the
//!   strings `"NaN"`, `"Infinity"`, `"+Infinity"` and `"-Infinity"` (what the
//!   deserializers write, so values round-trip). The decimal text is rounded
//!   once, straight to the target width, as Java's `Float.parseFloat` and
//!   `Double.parseDouble` do. A finite literal too large for the type becomes
//!   an infinity and one too small becomes zero, again as in Java
//!   (`Float.parseFloat("1e39")` is `Infinity`). Java's other spellings
//!   (`"1.5f"`, hexadecimal, surrounding blanks) are refused.
//! - `string` decoding replaces each invalid UTF-8 sequence with U+FFFD
//!   following the Unicode "maximal subpart" practice. Java's decoder agrees
//!   except on encoded surrogates (`ED A0 80`), where it writes one U+FFFD and
//!   we write three; Java's encoder never produces such bytes.
//! - The Java deserializers throw on a wrong-sized `integer`, `long`, `float`
//!   or `double`; we return [`DeserializeError`], which the service answers
//!   with 422.

use std::borrow::Cow;
use std::fmt;

pub mod avro;
pub mod json;
pub mod json_schema;
pub mod protobuf;
pub mod registry;
pub mod schema;

use base64::display::Base64Display;
use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use serde_json::value::RawValue;
use serde_json::{Number, Value};

/// One of the (de)serializers of the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// UTF-8 text (Java `StringSerializer`).
    String,
    /// Raw bytes, base64 in JSON (Java `ByteArraySerializer`).
    ByteArray,
    /// 32-bit signed integer, 4 bytes big-endian (Java `IntegerSerializer`).
    Integer,
    /// 64-bit signed integer, 8 bytes big-endian (Java `LongSerializer`).
    Long,
    /// IEEE-754 binary32, 4 bytes big-endian (Java `FloatSerializer`).
    Float,
    /// IEEE-754 binary64, 8 bytes big-endian (Java `DoubleSerializer`).
    Double,
    /// Compact JSON text, UTF-8.
    Json,
    /// Avro in the Schema Registry wire format (magic byte 0, the schema id
    /// as 4 bytes big-endian, the Avro binary datum); JSON in Avro's JSON
    /// encoding. Needs `--schema-registry-url`; see [`schema`].
    Avro,
    /// Protobuf in the Schema Registry wire format (the header, the message
    /// indexes, the message); JSON in the proto3 JSON mapping. See
    /// [`protobuf`].
    Protobuf,
    /// JSON Schema in the Schema Registry wire format (the header, the JSON
    /// text); JSON as it is. See [`json_schema`].
    JsonSchema,
}

impl Format {
    /// Names accepted on the wire, lower case, for error messages.
    pub const NAMES: [&'static str; 10] = [
        "string",
        "bytearray",
        "integer",
        "long",
        "float",
        "double",
        "json",
        "avro",
        "protobuf",
        "jsonschema",
    ];

    /// Every variant, in the order of [`Format::NAMES`].
    const ALL: [Format; 10] = [
        Format::String,
        Format::ByteArray,
        Format::Integer,
        Format::Long,
        Format::Float,
        Format::Double,
        Format::Json,
        Format::Avro,
        Format::Protobuf,
        Format::JsonSchema,
    ];

    /// Case-insensitive parse; None when unknown.
    pub fn parse(name: &str) -> Option<Format> {
        Self::ALL
            .into_iter()
            .find(|format| format.name().eq_ignore_ascii_case(name))
    }

    /// Lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            Format::String => "string",
            Format::ByteArray => "bytearray",
            Format::Integer => "integer",
            Format::Long => "long",
            Format::Float => "float",
            Format::Double => "double",
            Format::Json => "json",
            Format::Avro => "avro",
            Format::Protobuf => "protobuf",
            Format::JsonSchema => "jsonschema",
        }
    }

    /// Whether this format needs a schema from the Schema Registry.
    pub fn needs_schema(self) -> bool {
        self.schema_type().is_some()
    }

    /// The registry's type of this format's schemas; `None` for the formats
    /// without a schema.
    pub fn schema_type(self) -> Option<registry::SchemaType> {
        match self {
            Format::Avro => Some(registry::SchemaType::Avro),
            Format::Protobuf => Some(registry::SchemaType::Protobuf),
            Format::JsonSchema => Some(registry::SchemaType::Json),
            _ => None,
        }
    }

    /// JSON value from a request -> bytes to store. `Value::Null` -> Ok(None).
    ///
    /// # Errors
    ///
    /// [`SerializeError`] when the value is not what this serializer takes
    /// (wrong JSON type, bad base64, a number out of range or not a number).
    pub fn serialize(self, value: &Value) -> Result<Option<Vec<u8>>, SerializeError> {
        if value.is_null() {
            return Ok(None);
        }
        let bytes = match self {
            Format::String => serialize_string(value)?,
            Format::ByteArray => serialize_bytearray(value)?,
            Format::Integer => serialize_integer(value)?.to_be_bytes().to_vec(),
            Format::Long => serialize_long(value)?.to_be_bytes().to_vec(),
            Format::Float => serialize_float(value)?.to_bits().to_be_bytes().to_vec(),
            Format::Double => serialize_double(value)?.to_bits().to_be_bytes().to_vec(),
            Format::Json => serde_json::to_vec(value)
                .map_err(|e| SerializeError(format!("json cannot be written: {e}")))?,
            Format::Avro | Format::Protobuf | Format::JsonSchema => {
                return Err(SerializeError(format!(
                    "{} needs a schema (keySchemaId/valueSchemaId, keySubject/valueSubject or keySchema/valueSchema)",
                    self.name()
                )))
            }
        };
        Ok(Some(bytes))
    }

    /// Stored bytes -> JSON output. None (a null key/value) -> Decoded::Null.
    ///
    /// # Errors
    ///
    /// [`DeserializeError`] when the bytes have the wrong size for `integer`,
    /// `long`, `float` or `double`, or are not one UTF-8 JSON value for `json`.
    pub fn deserialize(self, bytes: Option<&[u8]>) -> Result<Decoded<'_>, DeserializeError> {
        let Some(bytes) = bytes else {
            return Ok(Decoded::Null);
        };
        Ok(match self {
            // Valid text (the common case) is checked by the fast validator.
            Format::String => Decoded::Text(match std::str::from_utf8(bytes) {
                Ok(text) => Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(bytes),
            }),
            Format::ByteArray => Decoded::Bytes(bytes),
            Format::Integer => Decoded::Int(i32::from_be_bytes(exact_size(self, bytes)?).into()),
            Format::Long => Decoded::Int(i64::from_be_bytes(exact_size(self, bytes)?)),
            Format::Float => Decoded::F32(f32::from_be_bytes(exact_size(self, bytes)?)),
            Format::Double => Decoded::F64(f64::from_be_bytes(exact_size(self, bytes)?)),
            Format::Json => Decoded::Json(deserialize_json(bytes)?),
            Format::Avro | Format::Protobuf | Format::JsonSchema => {
                return Err(DeserializeError(format!(
                    "{} needs the schema registry (--schema-registry-url)",
                    self.name()
                )))
            }
        })
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a value can't be serialized: a message saying what the serializer
/// expected and what it got, suitable to append after
/// `"record 3 field value: "` (it does not name the field itself).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SerializeError(pub String);

/// Why stored bytes can't be decoded as asked, e.g.
/// `"integer needs 4 bytes, found 3"`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct DeserializeError(pub String);

/// A decoded key or value, serialized to JSON without intermediate copies.
#[derive(Debug, Clone)]
pub enum Decoded<'a> {
    /// A null key or value: JSON `null`.
    Null,
    /// Text: a JSON string.
    Text(Cow<'a, str>),
    /// Raw bytes: a JSON string in standard padded base64.
    Bytes(&'a [u8]),
    /// An `integer` or `long`: a JSON integer.
    Int(i64),
    /// A `float`: the shortest JSON number that reads back as the same
    /// `f32` (`0.1`, not `0.10000000149011612`); `"NaN"`, `"Infinity"` or
    /// `"-Infinity"` when not finite.
    F32(f32),
    /// A `double`: the shortest JSON number that reads back as the same
    /// `f64`; `"NaN"`, `"Infinity"` or `"-Infinity"` when not finite.
    F64(f64),
    /// Stored JSON text, embedded as is.
    Json(&'a RawValue),
    /// A value decoded with a schema.
    Value(Value),
    /// JSON text written by a schema's decoder (valid UTF-8), embedded as
    /// is.
    JsonText(Vec<u8>),
}

impl serde::Serialize for Decoded<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Decoded::Null => serializer.serialize_unit(),
            Decoded::Text(text) => serializer.serialize_str(text),
            // Streams the base64 into the output instead of building a String.
            Decoded::Bytes(bytes) => serializer.collect_str(&Base64Display::new(bytes, &STANDARD)),
            Decoded::Int(int) => serializer.serialize_i64(*int),
            Decoded::F32(float) => match non_finite_name(f64::from(*float)) {
                Some(name) => serializer.serialize_str(name),
                None => serializer.serialize_f32(*float),
            },
            Decoded::F64(double) => match non_finite_name(*double) {
                Some(name) => serializer.serialize_str(name),
                None => serializer.serialize_f64(*double),
            },
            Decoded::Json(raw) => serde::Serialize::serialize(raw, serializer),
            Decoded::Value(value) => serde::Serialize::serialize(value, serializer),
            Decoded::JsonText(text) => String::from_utf8(text.clone())
                .map_err(serde::ser::Error::custom)
                .and_then(|text| {
                    serde_json::value::RawValue::from_string(text)
                        .map_err(serde::ser::Error::custom)
                })?
                .serialize(serializer),
        }
    }
}

/// JSON has no NaN or infinities; we write Java's `toString` of them.
/// (`f32` widens to `f64` exactly, NaN and infinities included.)
fn non_finite_name(number: f64) -> Option<&'static str> {
    if number.is_nan() {
        Some("NaN")
    } else if number == f64::INFINITY {
        Some("Infinity")
    } else if number == f64::NEG_INFINITY {
        Some("-Infinity")
    } else {
        None
    }
}

fn serialize_string(value: &Value) -> Result<Vec<u8>, SerializeError> {
    match value {
        Value::String(text) => Ok(text.as_bytes().to_vec()),
        // With `arbitrary_precision` this is the literal as sent (`1.50` stays
        // `1.50`), except that serde_json writes an exponent as `e+5`/`e-5`.
        Value::Number(number) => Ok(number.as_str().as_bytes().to_vec()),
        Value::Bool(flag) => Ok(flag.to_string().into_bytes()),
        Value::Null | Value::Array(_) | Value::Object(_) => Err(SerializeError(format!(
            "string expects a JSON string, number or boolean, got {}",
            describe(value)
        ))),
    }
}

fn serialize_bytearray(value: &Value) -> Result<Vec<u8>, SerializeError> {
    const EXPECTED: &str = "bytearray expects a base64 string (standard alphabet, padded)";
    match value {
        Value::String(text) => STANDARD
            .decode(text)
            .map_err(|e| SerializeError(format!("{EXPECTED}, got {}: {e}", describe(value)))),
        _ => Err(SerializeError(format!(
            "{EXPECTED}, got {}",
            describe(value)
        ))),
    }
}

/// The decimal text of a JSON number, or of a string that should hold one.
fn numeric_text(value: &Value) -> Option<&str> {
    match value {
        Value::Number(number) => Some(Number::as_str(number)),
        Value::String(text) => Some(text),
        _ => None,
    }
}

fn serialize_integer(value: &Value) -> Result<i32, SerializeError> {
    numeric_text(value)
        .and_then(|text| text.parse::<i32>().ok())
        .ok_or_else(|| {
            SerializeError(format!(
                "integer expects a whole number from {} to {} (JSON integer or decimal string), got {}",
                i32::MIN,
                i32::MAX,
                describe(value)
            ))
        })
}

fn serialize_long(value: &Value) -> Result<i64, SerializeError> {
    numeric_text(value)
        .and_then(|text| text.parse::<i64>().ok())
        .ok_or_else(|| {
            SerializeError(format!(
                "long expects a whole number from {} to {} (JSON integer or decimal string), got {}",
                i64::MIN,
                i64::MAX,
                describe(value)
            ))
        })
}

fn serialize_float(value: &Value) -> Result<f32, SerializeError> {
    numeric_text(value)
        .and_then(parse_decimal::<f32>)
        .ok_or_else(|| {
            SerializeError(format!(
                "float expects a number (JSON number, numeric string, \"NaN\", \"Infinity\" or \"-Infinity\"), got {}",
                describe(value)
            ))
        })
}

fn serialize_double(value: &Value) -> Result<f64, SerializeError> {
    numeric_text(value)
        .and_then(parse_decimal::<f64>)
        .ok_or_else(|| {
            SerializeError(format!(
                "double expects a number (JSON number, numeric string, \"NaN\", \"Infinity\" or \"-Infinity\"), got {}",
                describe(value)
            ))
        })
}

/// Parses decimal text straight to the target width, so it is rounded once
/// (correctly), as Java's `parseFloat`/`parseDouble` do; a detour through
/// `f64` would round twice for `float`.
fn parse_decimal<F: std::str::FromStr>(text: &str) -> Option<F> {
    match text {
        "NaN" | "Infinity" | "+Infinity" | "-Infinity" => text.parse().ok(),
        // Rust also reads "inf", "nan" and "infinity" in any case; Java and
        // our own output never spell them so, so only digits, signs, '.' and
        // exponents reach the parser.
        _ if text
            .bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b'+' | b'-' | b'.' | b'e' | b'E')) =>
        {
            text.parse().ok()
        }
        _ => None,
    }
}

/// What the request sent, short enough for an error message.
fn describe(value: &Value) -> String {
    const MAX_CHARS: usize = 40;
    fn shorten(text: &str) -> (&str, bool) {
        match text.char_indices().nth(MAX_CHARS) {
            Some((end, _)) => (text.get(..end).unwrap_or(text), true),
            None => (text, false),
        }
    }
    let ellipsis = |cut: bool| if cut { "..." } else { "" };
    match value {
        Value::Null => "null".to_owned(),
        Value::Bool(flag) => flag.to_string(),
        Value::Number(number) => {
            let (text, cut) = shorten(number.as_str());
            format!("{text}{}", ellipsis(cut))
        }
        Value::String(text) => {
            let (text, cut) = shorten(text);
            format!("the string {}{}", Value::from(text), ellipsis(cut))
        }
        Value::Array(_) => "an array".to_owned(),
        Value::Object(_) => "an object".to_owned(),
    }
}

/// The bytes as an array of the size the deserializer needs, or why not.
fn exact_size<const N: usize>(format: Format, bytes: &[u8]) -> Result<[u8; N], DeserializeError> {
    bytes
        .try_into()
        .map_err(|_| DeserializeError(format!("{format} needs {N} bytes, found {}", bytes.len())))
}

fn deserialize_json(bytes: &[u8]) -> Result<&RawValue, DeserializeError> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        DeserializeError(format!(
            "json needs UTF-8 text, found an invalid byte at offset {}",
            e.valid_up_to()
        ))
    })?;
    serde_json::from_str::<&RawValue>(text)
        .map_err(|e| DeserializeError(format!("json needs one valid JSON value: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ser(format: Format, json_text: &str) -> Result<Option<Vec<u8>>, SerializeError> {
        let value: Value = serde_json::from_str(json_text).unwrap();
        format.serialize(&value)
    }

    fn ser_ok(format: Format, json_text: &str) -> Vec<u8> {
        ser(format, json_text).unwrap().unwrap()
    }

    fn ser_err(format: Format, json_text: &str) -> String {
        ser(format, json_text).unwrap_err().0
    }

    fn de(format: Format, bytes: &[u8]) -> String {
        serde_json::to_string(&format.deserialize(Some(bytes)).unwrap()).unwrap()
    }

    fn de_err(format: Format, bytes: &[u8]) -> String {
        format.deserialize(Some(bytes)).unwrap_err().0
    }

    // --- names ---

    #[test]
    fn parse_is_case_insensitive() {
        assert_eq!(Format::parse("LONG"), Some(Format::Long));
        assert_eq!(Format::parse("ByteArray"), Some(Format::ByteArray));
        assert_eq!(Format::parse("json"), Some(Format::Json));
    }

    #[test]
    fn parse_rejects_unknown_names() {
        assert_eq!(Format::parse("int"), None);
        assert_eq!(Format::parse(""), None);
        assert_eq!(Format::parse("string "), None);
        assert_eq!(Format::parse("thrift"), None);
        assert_eq!(Format::parse("AVRO"), Some(Format::Avro));
        assert_eq!(Format::parse("Protobuf"), Some(Format::Protobuf));
        assert_eq!(Format::parse("JSONSCHEMA"), Some(Format::JsonSchema));
    }

    #[test]
    fn every_name_parses_back_to_its_format() {
        for name in Format::NAMES {
            let format = Format::parse(name).unwrap();
            assert_eq!(format.name(), name);
            assert_eq!(format.to_string(), name);
        }
    }

    // --- null ---

    #[test]
    fn json_null_is_a_null_record_for_every_serializer() {
        for name in Format::NAMES {
            let format = Format::parse(name).unwrap();
            assert_eq!(format.serialize(&Value::Null).unwrap(), None, "{name}");
        }
    }

    #[test]
    fn null_bytes_decode_to_json_null_for_every_deserializer() {
        for name in Format::NAMES {
            let format = Format::parse(name).unwrap();
            let decoded = format.deserialize(None).unwrap();
            assert_eq!(serde_json::to_string(&decoded).unwrap(), "null", "{name}");
        }
    }

    // --- string ---

    #[test]
    fn string_is_written_as_utf8() {
        assert_eq!(ser_ok(Format::String, r#""héllo""#), b"h\xc3\xa9llo");
        assert_eq!(ser_ok(Format::String, r#""""#), b"");
    }

    #[test]
    fn string_writes_numbers_and_booleans_as_their_json_text() {
        assert_eq!(ser_ok(Format::String, "1.50"), b"1.50");
        assert_eq!(ser_ok(Format::String, "-7"), b"-7");
        // serde_json's parser keeps digits as sent but spells the exponent
        // `e` with an explicit sign.
        assert_eq!(ser_ok(Format::String, "1E5"), b"1e+5");
        assert_eq!(
            ser_ok(Format::String, "12345678901234567890123"),
            b"12345678901234567890123"
        );
        assert_eq!(ser_ok(Format::String, "true"), b"true");
        assert_eq!(ser_ok(Format::String, "false"), b"false");
    }

    #[test]
    fn string_rejects_objects_and_arrays() {
        assert_eq!(
            ser_err(Format::String, r#"{"a":1}"#),
            "string expects a JSON string, number or boolean, got an object"
        );
        assert_eq!(
            ser_err(Format::String, "[1]"),
            "string expects a JSON string, number or boolean, got an array"
        );
    }

    #[test]
    fn string_decodes_utf8_borrowing_the_bytes() {
        let bytes = "héllo".as_bytes();
        match Format::String.deserialize(Some(bytes)).unwrap() {
            Decoded::Text(Cow::Borrowed(text)) => assert_eq!(text, "héllo"),
            other => panic!("expected borrowed text, got {other:?}"),
        }
        assert_eq!(de(Format::String, bytes), r#""héllo""#);
        assert_eq!(de(Format::String, b"say \"hi\"\n"), r#""say \"hi\"\n""#);
    }

    #[test]
    fn string_decode_replaces_invalid_utf8_with_replacement_character() {
        assert_eq!(de(Format::String, b"a\xffb\xc3"), "\"a\u{fffd}b\u{fffd}\"");
        // A truncated sequence is one U+FFFD, as in Java.
        assert_eq!(
            de(Format::String, b"\xe2\x82x\xf0\x9f\x98"),
            "\"\u{fffd}x\u{fffd}\""
        );
    }

    // --- bytearray ---

    #[test]
    fn bytearray_writes_the_decoded_base64_bytes() {
        assert_eq!(ser_ok(Format::ByteArray, r#""AAH/""#), [0x00, 0x01, 0xff]);
        assert_eq!(ser_ok(Format::ByteArray, r#""aGk=""#), b"hi");
        assert_eq!(ser_ok(Format::ByteArray, r#""""#), b"");
    }

    #[test]
    fn bytearray_rejects_bad_base64() {
        for bad in [
            r#""aGk""#,
            r#""a-_=""#,
            r#""a G k=""#,
            r#""aGl=""#,
            r#""!!!!""#,
        ] {
            let message = ser_err(Format::ByteArray, bad);
            assert!(
                message.starts_with(
                    "bytearray expects a base64 string (standard alphabet, padded), got the string"
                ),
                "{bad}: {message}"
            );
        }
    }

    #[test]
    fn bytearray_rejects_non_strings() {
        assert_eq!(
            ser_err(Format::ByteArray, "12"),
            "bytearray expects a base64 string (standard alphabet, padded), got 12"
        );
        assert_eq!(
            ser_err(Format::ByteArray, "[1,2]"),
            "bytearray expects a base64 string (standard alphabet, padded), got an array"
        );
    }

    #[test]
    fn bytearray_decodes_to_padded_standard_base64() {
        assert_eq!(de(Format::ByteArray, &[0x00, 0x01, 0xff]), r#""AAH/""#);
        assert_eq!(de(Format::ByteArray, b"hi"), r#""aGk=""#);
        assert_eq!(de(Format::ByteArray, &[0xfb, 0xff]), r#""+/8=""#);
        assert_eq!(de(Format::ByteArray, b""), r#""""#);
    }

    // --- integer ---

    #[test]
    fn integer_is_four_bytes_big_endian() {
        assert_eq!(ser_ok(Format::Integer, "7"), [0x00, 0x00, 0x00, 0x07]);
        assert_eq!(ser_ok(Format::Integer, "-1"), [0xff, 0xff, 0xff, 0xff]);
        assert_eq!(ser_ok(Format::Integer, "256"), [0x00, 0x00, 0x01, 0x00]);
        assert_eq!(
            ser_ok(Format::Integer, "2147483647"),
            [0x7f, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            ser_ok(Format::Integer, "-2147483648"),
            [0x80, 0x00, 0x00, 0x00]
        );
    }

    #[test]
    fn integer_accepts_decimal_strings() {
        assert_eq!(ser_ok(Format::Integer, r#""-12""#), (-12i32).to_be_bytes());
        assert_eq!(ser_ok(Format::Integer, r#""+12""#), 12i32.to_be_bytes());
        assert_eq!(
            ser_ok(Format::Integer, r#""2147483647""#),
            i32::MAX.to_be_bytes()
        );
    }

    #[test]
    fn integer_rejects_values_just_outside_i32_naming_the_range() {
        assert_eq!(
            ser_err(Format::Integer, "2147483648"),
            "integer expects a whole number from -2147483648 to 2147483647 (JSON integer or decimal string), got 2147483648"
        );
        assert!(ser_err(Format::Integer, "-2147483649").contains("-2147483648 to 2147483647"));
        assert!(
            ser_err(Format::Integer, r#""2147483648""#).contains("got the string \"2147483648\"")
        );
    }

    #[test]
    fn integer_rejects_fractions_exponents_and_non_numbers() {
        for bad in [
            "1.5", "1.0", "1e3", r#""abc""#, r#""""#, r#"" 1""#, "true", "[]", "{}",
        ] {
            assert!(
                ser_err(Format::Integer, bad).starts_with("integer expects a whole number"),
                "{bad}"
            );
        }
        assert!(ser_err(Format::Integer, "1.5").ends_with("got 1.5"));
        assert!(ser_err(Format::Integer, r#""abc""#).ends_with(r#"got the string "abc""#));
    }

    #[test]
    fn integer_decodes_four_big_endian_bytes() {
        assert_eq!(de(Format::Integer, &[0x00, 0x00, 0x00, 0x07]), "7");
        assert_eq!(de(Format::Integer, &[0xff, 0xff, 0xff, 0xff]), "-1");
        assert_eq!(
            de(Format::Integer, &[0x80, 0x00, 0x00, 0x00]),
            "-2147483648"
        );
    }

    #[test]
    fn integer_decode_rejects_wrong_size() {
        assert_eq!(
            de_err(Format::Integer, &[0, 0, 7]),
            "integer needs 4 bytes, found 3"
        );
        assert_eq!(
            de_err(Format::Integer, &[0; 5]),
            "integer needs 4 bytes, found 5"
        );
        assert_eq!(
            de_err(Format::Integer, b""),
            "integer needs 4 bytes, found 0"
        );
    }

    // --- long ---

    #[test]
    fn long_is_eight_bytes_big_endian() {
        assert_eq!(ser_ok(Format::Long, "1"), [0, 0, 0, 0, 0, 0, 0, 1]);
        assert_eq!(ser_ok(Format::Long, "-1"), [0xff; 8]);
        assert_eq!(
            ser_ok(Format::Long, "9223372036854775807"),
            [0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(
            ser_ok(Format::Long, "-9223372036854775808"),
            [0x80, 0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            ser_ok(Format::Long, r#""-12""#),
            [0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xf4]
        );
    }

    #[test]
    fn long_rejects_values_just_outside_i64_naming_the_range() {
        assert_eq!(
            ser_err(Format::Long, "9223372036854775808"),
            "long expects a whole number from -9223372036854775808 to 9223372036854775807 (JSON integer or decimal string), got 9223372036854775808"
        );
        assert!(ser_err(Format::Long, "-9223372036854775809")
            .contains("-9223372036854775808 to 9223372036854775807"));
        assert!(ser_err(Format::Long, r#""9223372036854775808""#).contains("long expects"));
        assert!(ser_err(Format::Long, "1.5").contains("long expects"));
    }

    #[test]
    fn long_decodes_eight_big_endian_bytes() {
        assert_eq!(de(Format::Long, &[0, 0, 0, 0, 0, 0, 0, 1]), "1");
        assert_eq!(de(Format::Long, &[0xff; 8]), "-1");
        assert_eq!(
            de(
                Format::Long,
                &[0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
            ),
            "9223372036854775807"
        );
    }

    #[test]
    fn long_decode_rejects_wrong_size() {
        assert_eq!(de_err(Format::Long, &[0; 4]), "long needs 8 bytes, found 4");
        assert_eq!(de_err(Format::Long, &[0; 9]), "long needs 8 bytes, found 9");
    }

    // --- float ---

    #[test]
    fn float_is_ieee754_binary32_big_endian() {
        // Expected bytes are Java's Float.floatToRawIntBits(Float.parseFloat(..)).
        assert_eq!(ser_ok(Format::Float, "1.5"), [0x3f, 0xc0, 0x00, 0x00]);
        assert_eq!(ser_ok(Format::Float, "0.1"), [0x3d, 0xcc, 0xcc, 0xcd]);
        assert_eq!(ser_ok(Format::Float, "-0.0"), [0x80, 0x00, 0x00, 0x00]);
        assert_eq!(
            ser_ok(Format::Float, "3.4028235e38"),
            [0x7f, 0x7f, 0xff, 0xff]
        );
        assert_eq!(ser_ok(Format::Float, "1.4e-45"), [0x00, 0x00, 0x00, 0x01]);
        assert_eq!(ser_ok(Format::Float, "16777217"), [0x4b, 0x80, 0x00, 0x00]);
        assert_eq!(ser_ok(Format::Float, r#""1.5""#), [0x3f, 0xc0, 0x00, 0x00]);
        assert_eq!(ser_ok(Format::Float, r#""-2""#), [0xc0, 0x00, 0x00, 0x00]);
    }

    #[test]
    fn float_rounds_the_decimal_text_once_like_java() {
        // Just below the midpoint between two floats; rounding to f64 first
        // lands exactly on the midpoint, which then rounds up (to 3f800002).
        // Java's Float.parseFloat gives 3f800001.
        assert_eq!(
            ser_ok(Format::Float, "1.00000017881393432617187499"),
            [0x3f, 0x80, 0x00, 0x01]
        );
    }

    #[test]
    fn float_overflow_and_underflow_follow_java() {
        // Float.parseFloat("3.4028236e38") and ("1e39") are Infinity in Java.
        assert_eq!(
            ser_ok(Format::Float, "3.4028236e38"),
            [0x7f, 0x80, 0x00, 0x00]
        );
        assert_eq!(ser_ok(Format::Float, "1e39"), [0x7f, 0x80, 0x00, 0x00]);
        assert_eq!(ser_ok(Format::Float, "-1e39"), [0xff, 0x80, 0x00, 0x00]);
        assert_eq!(ser_ok(Format::Float, "1e-46"), [0x00, 0x00, 0x00, 0x00]);
    }

    #[test]
    fn float_accepts_nan_and_infinity_strings() {
        assert_eq!(ser_ok(Format::Float, r#""NaN""#), [0x7f, 0xc0, 0x00, 0x00]);
        assert_eq!(
            ser_ok(Format::Float, r#""Infinity""#),
            [0x7f, 0x80, 0x00, 0x00]
        );
        assert_eq!(
            ser_ok(Format::Float, r#""+Infinity""#),
            [0x7f, 0x80, 0x00, 0x00]
        );
        assert_eq!(
            ser_ok(Format::Float, r#""-Infinity""#),
            [0xff, 0x80, 0x00, 0x00]
        );
    }

    #[test]
    fn float_rejects_non_numbers_and_non_java_spellings() {
        for bad in [
            r#""abc""#,
            r#""inf""#,
            r#""nan""#,
            r#""infinity""#,
            r#""1.5f""#,
            r#"" 1.5""#,
            r#""""#,
            r#"".""#,
            "true",
            "[1.5]",
            "{}",
        ] {
            assert!(
                ser_err(Format::Float, bad).starts_with("float expects a number"),
                "{bad}"
            );
        }
    }

    #[test]
    fn float_decodes_to_the_shortest_text_of_the_f32() {
        assert_eq!(de(Format::Float, &[0x3d, 0xcc, 0xcc, 0xcd]), "0.1");
        assert_eq!(de(Format::Float, &[0x3f, 0xc0, 0x00, 0x00]), "1.5");
        assert_eq!(de(Format::Float, &[0x80, 0x00, 0x00, 0x00]), "-0.0");
    }

    #[test]
    fn float_decodes_nan_and_infinities_to_strings() {
        assert_eq!(de(Format::Float, &[0x7f, 0xc0, 0x00, 0x00]), r#""NaN""#);
        // A NaN with another payload (FloatSerializer keeps raw bits) too.
        assert_eq!(de(Format::Float, &[0xff, 0xc0, 0x00, 0x01]), r#""NaN""#);
        assert_eq!(
            de(Format::Float, &[0x7f, 0x80, 0x00, 0x00]),
            r#""Infinity""#
        );
        assert_eq!(
            de(Format::Float, &[0xff, 0x80, 0x00, 0x00]),
            r#""-Infinity""#
        );
    }

    #[test]
    fn float_decode_rejects_wrong_size() {
        assert_eq!(
            de_err(Format::Float, &[0; 8]),
            "float needs 4 bytes, found 8"
        );
        assert_eq!(
            de_err(Format::Float, &[0; 3]),
            "float needs 4 bytes, found 3"
        );
    }

    // --- double ---

    #[test]
    fn double_is_ieee754_binary64_big_endian() {
        assert_eq!(
            ser_ok(Format::Double, "0.1"),
            [0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]
        );
        assert_eq!(
            ser_ok(Format::Double, "1.5"),
            [0x3f, 0xf8, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(ser_ok(Format::Double, "-0.0"), [0x80, 0, 0, 0, 0, 0, 0, 0]);
        assert_eq!(
            ser_ok(Format::Double, "1.7976931348623157e308"),
            [0x7f, 0xef, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]
        );
        assert_eq!(ser_ok(Format::Double, "4.9e-324"), [0, 0, 0, 0, 0, 0, 0, 1]);
        // 2^53 + 1 rounds to even, as Double.parseDouble does.
        assert_eq!(
            ser_ok(Format::Double, "9007199254740993"),
            [0x43, 0x40, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            ser_ok(Format::Double, r#""0.1""#),
            [0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]
        );
    }

    #[test]
    fn double_overflow_and_underflow_follow_java() {
        assert_eq!(
            ser_ok(Format::Double, "1e309"),
            [0x7f, 0xf0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            ser_ok(Format::Double, "-1e309"),
            [0xff, 0xf0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(ser_ok(Format::Double, "2e-324"), [0; 8]);
    }

    #[test]
    fn double_accepts_nan_and_infinity_strings() {
        // Java's DoubleSerializer writes the canonical NaN (doubleToLongBits).
        assert_eq!(
            ser_ok(Format::Double, r#""NaN""#),
            [0x7f, 0xf8, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            ser_ok(Format::Double, r#""Infinity""#),
            [0x7f, 0xf0, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(
            ser_ok(Format::Double, r#""-Infinity""#),
            [0xff, 0xf0, 0, 0, 0, 0, 0, 0]
        );
    }

    #[test]
    fn double_rejects_non_numbers() {
        for bad in [r#""abc""#, r#""Inf""#, r#""1d""#, "false", "[]"] {
            assert!(
                ser_err(Format::Double, bad).starts_with("double expects a number"),
                "{bad}"
            );
        }
    }

    #[test]
    fn double_decodes_to_the_shortest_text_of_the_f64() {
        assert_eq!(
            de(
                Format::Double,
                &[0x3f, 0xb9, 0x99, 0x99, 0x99, 0x99, 0x99, 0x9a]
            ),
            "0.1"
        );
        assert_eq!(de(Format::Double, &[0x3f, 0xf8, 0, 0, 0, 0, 0, 0]), "1.5");
    }

    #[test]
    fn double_decodes_nan_and_infinities_to_strings() {
        assert_eq!(
            de(Format::Double, &[0x7f, 0xf8, 0, 0, 0, 0, 0, 0]),
            r#""NaN""#
        );
        assert_eq!(
            de(Format::Double, &[0x7f, 0xf0, 0, 0, 0, 0, 0, 0]),
            r#""Infinity""#
        );
        assert_eq!(
            de(Format::Double, &[0xff, 0xf0, 0, 0, 0, 0, 0, 0]),
            r#""-Infinity""#
        );
    }

    #[test]
    fn double_decode_rejects_wrong_size() {
        assert_eq!(
            de_err(Format::Double, &[0; 4]),
            "double needs 8 bytes, found 4"
        );
        assert_eq!(
            de_err(Format::Double, &[0; 7]),
            "double needs 8 bytes, found 7"
        );
    }

    // --- json ---

    #[test]
    fn json_round_trip_keeps_key_order_and_big_numbers() {
        let text = r#"{"b":1,"a":12345678901234567890123}"#;
        let bytes = ser_ok(Format::Json, text);
        assert_eq!(bytes, text.as_bytes());
        assert_eq!(de(Format::Json, &bytes), text);
    }

    #[test]
    fn json_is_written_compact() {
        assert_eq!(
            ser_ok(Format::Json, "{ \"x\" : [ 1.50 , true , \"é\" ] }"),
            "{\"x\":[1.50,true,\"é\"]}".as_bytes()
        );
        assert_eq!(ser_ok(Format::Json, r#""text""#), br#""text""#);
        assert_eq!(ser_ok(Format::Json, "false"), b"false");
    }

    #[test]
    fn json_decode_embeds_the_stored_value_without_surrounding_whitespace() {
        assert_eq!(
            de(Format::Json, b" \n{\"k\": [1, 2]}\r\n "),
            r#"{"k": [1, 2]}"#
        );
        assert_eq!(de(Format::Json, b"42"), "42");
        let record = json!({"value": "placeholder"});
        let raw = Format::Json.deserialize(Some(br#"[1,"two"]"#)).unwrap();
        let mut out = serde_json::to_string(&record).unwrap();
        out.push_str(&serde_json::to_string(&raw).unwrap());
        assert!(out.ends_with(r#"[1,"two"]"#));
    }

    #[test]
    fn json_decode_rejects_invalid_json() {
        for bad in [
            &b"{"[..],
            b"",
            b"   ",
            b"1 2",
            b"{\"a\":1}}",
            b"nul",
            b"'a'",
        ] {
            let message = de_err(Format::Json, bad);
            assert!(
                message.starts_with("json needs one valid JSON value: "),
                "{message}"
            );
        }
    }

    #[test]
    fn json_decode_rejects_invalid_utf8() {
        assert_eq!(
            de_err(Format::Json, b"\"a\xffb\""),
            "json needs UTF-8 text, found an invalid byte at offset 2"
        );
    }

    // --- Decoded to JSON text ---

    #[test]
    fn decoded_serializes_to_json_text() {
        let cases: [(Decoded<'_>, &str); 10] = [
            (Decoded::Null, "null"),
            (Decoded::Text(Cow::Borrowed("a\"b")), r#""a\"b""#),
            (Decoded::Bytes(&[0xff, 0xfe]), r#""//4=""#),
            (Decoded::Int(i64::MIN), "-9223372036854775808"),
            (Decoded::F32(0.1), "0.1"),
            (Decoded::F64(0.1), "0.1"),
            (Decoded::F64(f64::NAN), r#""NaN""#),
            (Decoded::F32(f32::INFINITY), r#""Infinity""#),
            (Decoded::F64(f64::NEG_INFINITY), r#""-Infinity""#),
            (
                Decoded::Json(serde_json::from_str(r#"{"z":1,"a":2}"#).unwrap()),
                r#"{"z":1,"a":2}"#,
            ),
        ];
        for (decoded, expected) in cases {
            assert_eq!(
                serde_json::to_string(&decoded).unwrap(),
                expected,
                "{decoded:?}"
            );
        }
    }

    #[test]
    fn errors_display_their_message() {
        assert_eq!(SerializeError("x".into()).to_string(), "x");
        assert_eq!(DeserializeError("y".into()).to_string(), "y");
    }

    #[test]
    fn long_strings_are_shortened_in_error_messages() {
        let long = format!("\"{}\"", "é".repeat(1000));
        let message = ser_err(Format::Integer, &long);
        assert!(message.len() < 250, "{message}");
        assert!(
            message.ends_with("...\"") || message.ends_with("\"..."),
            "{message}"
        );
    }

    // --- round trips over a deterministic spread of values ---

    /// xorshift64: a fixed, dependency-free sequence of well-mixed bits.
    fn bit_patterns(count: usize) -> impl Iterator<Item = u64> {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        std::iter::repeat_with(move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        })
        .take(count)
    }

    fn round_trip(format: Format, value: &Value) -> (Vec<u8>, String) {
        let bytes = format.serialize(value).unwrap().unwrap();
        let text = serde_json::to_string(&format.deserialize(Some(&bytes)).unwrap()).unwrap();
        (bytes, text)
    }

    #[test]
    fn integer_and_long_round_trip_as_numbers_and_strings() {
        let edges = [
            0u64,
            1,
            u64::MAX,
            i32::MAX as u64,
            i32::MIN as u64,
            i64::MAX as u64,
            i64::MIN as u64,
        ];
        for bits in edges.into_iter().chain(bit_patterns(2000)) {
            let int = bits as i32;
            for value in [json!(int), json!(int.to_string())] {
                let (bytes, text) = round_trip(Format::Integer, &value);
                assert_eq!(bytes, int.to_be_bytes());
                assert_eq!(text, int.to_string());
            }
            let long = bits as i64;
            for value in [json!(long), json!(long.to_string())] {
                let (bytes, text) = round_trip(Format::Long, &value);
                assert_eq!(bytes, long.to_be_bytes());
                assert_eq!(text, long.to_string());
            }
        }
    }

    #[test]
    fn float_and_double_round_trip_bit_for_bit() {
        for bits in bit_patterns(5000) {
            let double = f64::from_bits(bits);
            if double.is_finite() {
                let text = serde_json::to_string(&double).unwrap();
                let value: Value = serde_json::from_str(&text).unwrap();
                let (bytes, decoded) = round_trip(Format::Double, &value);
                assert_eq!(bytes, bits.to_be_bytes(), "{text}");
                assert_eq!(decoded, text);
            }
            let float = f32::from_bits(bits as u32);
            if float.is_finite() {
                let text = serde_json::to_string(&float).unwrap();
                let value: Value = serde_json::from_str(&text).unwrap();
                let (bytes, decoded) = round_trip(Format::Float, &value);
                assert_eq!(bytes, (bits as u32).to_be_bytes(), "{text}");
                assert_eq!(decoded, text);
            }
        }
    }

    #[test]
    fn special_floats_round_trip_through_their_strings() {
        for name in ["NaN", "Infinity", "-Infinity"] {
            for format in [Format::Float, Format::Double] {
                let (_, text) = round_trip(format, &json!(name));
                assert_eq!(text, format!("\"{name}\""));
            }
        }
    }

    #[test]
    fn string_and_bytearray_round_trip() {
        for bits in bit_patterns(500) {
            let bytes = bits.to_le_bytes();
            let (_, text) = round_trip(Format::ByteArray, &json!(STANDARD.encode(bytes)));
            assert_eq!(text, format!("\"{}\"", STANDARD.encode(bytes)));
        }
        for sample in [
            "",
            "plain",
            "héllo wörld",
            "日本語",
            "emoji 🦀",
            "tab\tquote\"",
        ] {
            let (bytes, text) = round_trip(Format::String, &json!(sample));
            assert_eq!(bytes, sample.as_bytes());
            assert_eq!(text, serde_json::to_string(sample).unwrap());
        }
    }
}
