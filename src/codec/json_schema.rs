//! JSON Schema records of the Schema Registry wire format: after the magic
//! byte and the schema id, the value's JSON text (compact, UTF-8, as
//! Confluent's serializers write it). Reads show that JSON as it is; writes
//! check the value against the schema first, naming the path of the first
//! value that does not fit.
//!
//! The draft is the schema's `$schema`, and draft 7 when it has none, as in
//! Confluent's serializers (a draft-7 tuple `"items": [...]` is refused by
//! 2020-12, whose `items` takes one schema). A `$ref`
//! to another registered schema uses the registry reference's name
//! (`"$ref": "address.json"`), resolved against the schema's `$id` or, as
//! here, the default base `json-schema:///`; each referenced schema is given
//! to the validator under that name. Nothing is fetched from the network.

use jsonschema::{Draft, Registry, Validator};
use serde_json::Value;

/// The base a schema without `$id` resolves its `$ref`s against.
const DEFAULT_BASE: &str = "json-schema:///";

/// A compiled JSON Schema.
#[derive(Debug)]
pub struct JsonSchema {
    validator: Validator,
}

impl JsonSchema {
    /// Compiles `text`, whose `$ref`s may name `referenced` (reference name,
    /// schema text).
    pub fn parse(text: &str, referenced: &[(String, String)]) -> Result<JsonSchema, String> {
        let schema: Value =
            serde_json::from_str(text).map_err(|e| format!("not a valid JSON Schema: {e}"))?;
        let mut builder = Registry::new();
        for (name, text) in referenced {
            let value: Value = serde_json::from_str(text)
                .map_err(|e| format!("the referenced schema '{name}' is not valid JSON: {e}"))?;
            let uri = if name.contains("://") {
                name.clone()
            } else {
                format!("{DEFAULT_BASE}{}", name.trim_start_matches('/'))
            };
            builder = builder
                .add(uri, value)
                .map_err(|e| format!("the referenced schema '{name}' cannot be used: {e}"))?;
        }
        let registry = builder
            .prepare()
            .map_err(|e| format!("the referenced schemas cannot be used: {e}"))?;
        let mut options = jsonschema::options().with_registry(&registry);
        let draft = Draft::Draft7.detect(&schema);
        if draft != Draft::Unknown {
            options = options.with_draft(draft);
        }
        let validator = options
            .build(&schema)
            .map_err(|e| format!("not a valid JSON Schema: {e}"))?;
        Ok(JsonSchema { validator })
    }

    /// Checks `value` against the schema; an error names the path of the
    /// value that does not fit (`.items[1].qty`).
    pub fn check(&self, value: &Value) -> Result<(), String> {
        match self.validator.iter_errors(value).next() {
            None => Ok(()),
            Some(e) => {
                let pointer = e.instance_path().as_str().to_string();
                let path = json_path(value, &pointer);
                let message = e.to_string();
                if path.is_empty() {
                    Err(format!("does not match the JSON Schema: {message}"))
                } else {
                    Err(format!("{path}: does not match the JSON Schema: {message}"))
                }
            }
        }
    }

    /// The JSON after the wire format's schema id.
    pub fn decode(bytes: &[u8]) -> Result<Value, String> {
        serde_json::from_slice(bytes).map_err(|e| format!("not one JSON value: {e}"))
    }
}

/// A JSON pointer into `value` (`/items/1/qty`) as the API writes paths
/// (`.items[1].qty`): indexes of arrays in brackets.
fn json_path(value: &Value, pointer: &str) -> String {
    let mut out = String::new();
    let mut current = Some(value);
    for raw in pointer.split('/').skip(1) {
        let token = raw.replace("~1", "/").replace("~0", "~");
        match current {
            Some(Value::Array(items)) => {
                out.push_str(&format!("[{token}]"));
                current = token.parse::<usize>().ok().and_then(|i| items.get(i));
            }
            other => {
                if !token.is_empty() && token.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    out.push('.');
                    out.push_str(&token);
                } else {
                    out.push('[');
                    out.push_str(&Value::String(token.clone()).to_string());
                    out.push(']');
                }
                current = other.and_then(|v| v.get(&token));
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn refs_to_referenced_schemas_are_followed_and_errors_name_the_path() {
        let address = json!({"type": "object", "properties": {"zip": {"type": "string"}},
                             "required": ["zip"]});
        let order = json!({"type": "object", "properties": {
            "id": {"type": "integer"},
            "items": {"type": "array", "items": {"$ref": "address.json"}}}});
        let s = JsonSchema::parse(
            &order.to_string(),
            &[("address.json".into(), address.to_string())],
        )
        .unwrap();
        assert!(s.check(&json!({"id": 1, "items": [{"zip": "1"}]})).is_ok());
        let e = s
            .check(&json!({"id": 1, "items": [{"zip": "1"}, {"zip": 2}]}))
            .unwrap_err();
        assert!(e.starts_with(".items[1].zip: "), "{e}");
        let e = s.check(&json!({"id": "x"})).unwrap_err();
        assert!(e.starts_with(".id: "), "{e}");
        assert!(JsonSchema::parse(&order.to_string(), &[]).is_err());
        assert!(JsonSchema::parse("{", &[]).is_err());
    }

    #[test]
    fn schemas_without_a_draft_are_draft_7() {
        let tuple = json!({"type": "array", "items": [{"type": "integer"}, {"type": "string"}]});
        let s = JsonSchema::parse(&tuple.to_string(), &[]).unwrap();
        assert!(s.check(&json!([1, "a"])).is_ok());
        assert!(s.check(&json!(["a", 1])).unwrap_err().starts_with("[0]: "));
        let newer = json!({"$schema": "https://json-schema.org/draft/2020-12/schema",
                           "type": "array", "prefixItems": [{"type": "integer"}]});
        let s = JsonSchema::parse(&newer.to_string(), &[]).unwrap();
        assert!(s.check(&json!(["a"])).is_err());
        // Draft 7 asserts formats.
        let dated = json!({"properties": {"at": {"type": "string", "format": "date-time"}}});
        let s = JsonSchema::parse(&dated.to_string(), &[]).unwrap();
        assert!(s.check(&json!({"at": "2024-01-01T00:00:00Z"})).is_ok());
        assert!(s
            .check(&json!({"at": "soon"}))
            .unwrap_err()
            .starts_with(".at: "));
    }

    #[test]
    fn pointers_become_paths() {
        let v = json!({"a b": [{"c": 1}]});
        assert_eq!(json_path(&v, "/a b/0/c"), "[\"a b\"][0].c");
        assert_eq!(json_path(&v, ""), "");
    }
}
