//! Strict query-string parsing: an unknown or repeated parameter is a 400,
//! so a typo never silently reads from, or deletes, the wrong place.

use std::collections::HashMap;
use std::time::Duration;

use super::error::ApiError;
use crate::codec::Serde;
use crate::records::parse_duration;

/// The decoded parameters of one request.
#[derive(Debug)]
pub struct Query {
    params: HashMap<String, String>,
}

impl Query {
    /// Decodes `raw` and checks every name against `known`.
    pub fn parse(raw: Option<&str>, known: &[&str]) -> Result<Query, ApiError> {
        let mut params = HashMap::new();
        let mut unknown = Vec::new();
        for (name, value) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            if !known.contains(&name.as_ref()) {
                unknown.push(name.into_owned());
                continue;
            }
            if params
                .insert(name.to_string(), value.into_owned())
                .is_some()
            {
                return Err(ApiError::bad_request(format!(
                    "{name}: given more than once; give each parameter at most once"
                )));
            }
        }
        if !unknown.is_empty() {
            let known = if known.is_empty() {
                "this endpoint takes no query parameters".to_string()
            } else {
                format!("known parameters: {}", known.join(", "))
            };
            return Err(ApiError::bad_request(format!(
                "unknown query parameter{} {}; {known}",
                if unknown.len() > 1 { "s" } else { "" },
                unknown
                    .iter()
                    .map(|u| format!("'{u}'"))
                    .collect::<Vec<_>>()
                    .join(", "),
            )));
        }
        Ok(Query { params })
    }

    /// The raw value of `name`, if given.
    pub fn str(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// An integer in `[min, max]`, if given.
    pub fn int(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, ApiError> {
        let Some(text) = self.str(name) else {
            return Ok(None);
        };
        match text.parse::<i64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(ApiError::bad_request(format!(
                "{name}: '{text}' is not a whole number from {min} to {max}"
            ))),
        }
    }

    /// A duration such as `5s`, if given.
    pub fn duration(&self, name: &str) -> Result<Option<Duration>, ApiError> {
        self.str(name)
            .map(|text| {
                parse_duration(text).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
            })
            .transpose()
    }

    /// A deserializer name, `string` when not given.
    pub fn serde(&self, name: &str) -> Result<Serde, ApiError> {
        match self.str(name) {
            None => Ok(Serde::String),
            Some(text) => Serde::parse(text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{name}: unknown deserializer '{text}'; known: {}",
                    Serde::NAMES.join(", ")
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [&str; 3] = ["limit", "timeout", "valueDeserializer"];

    fn message(raw: &str) -> String {
        Query::parse(Some(raw), &KNOWN).unwrap_err().message
    }

    #[test]
    fn unknown_parameters_are_named_with_the_known_ones() {
        let m = message("limit=1&distanceFromLastest=3");
        assert!(m.contains("'distanceFromLastest'"), "{m}");
        assert!(
            m.contains("known parameters: limit, timeout, valueDeserializer"),
            "{m}"
        );
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert!(message("limit=1&limit=2").starts_with("limit: given more than once"));
    }

    #[test]
    fn values_are_percent_decoded_and_typed() {
        let q = Query::parse(
            Some("limit=%32&timeout=1500ms&valueDeserializer=LONG"),
            &KNOWN,
        )
        .unwrap();
        assert_eq!(q.int("limit", 1, 10).unwrap(), Some(2));
        assert_eq!(
            q.duration("timeout").unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(q.serde("valueDeserializer").unwrap(), Serde::Long);
        assert_eq!(q.serde("keyDeserializer").unwrap(), Serde::String);
    }

    #[test]
    fn bad_values_name_the_parameter() {
        let q = Query::parse(Some("limit=0&timeout=soon&valueDeserializer=int"), &KNOWN).unwrap();
        assert!(q
            .int("limit", 1, 10)
            .unwrap_err()
            .message
            .starts_with("limit: '0' is not"));
        assert!(q
            .duration("timeout")
            .unwrap_err()
            .message
            .starts_with("timeout: 'soon'"));
        assert!(q
            .serde("valueDeserializer")
            .unwrap_err()
            .message
            .contains("unknown deserializer 'int'"));
        let q = Query::parse(Some("limit=99999999999999999999"), &KNOWN).unwrap();
        assert!(q.int("limit", 1, 10).is_err());
    }

    #[test]
    fn no_query_is_fine_and_an_endpoint_without_parameters_says_so() {
        assert!(Query::parse(None, &KNOWN).is_ok());
        let m = Query::parse(Some("x=1"), &[]).unwrap_err().message;
        assert!(m.contains("takes no query parameters"), "{m}");
    }
}
