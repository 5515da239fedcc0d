//! The three use cases of the API, one file each, free of HTTP types:
//! [`post`] writes records, [`get`] reads them, [`delete`] truncates.

pub mod delete;
pub mod get;
pub mod post;

use crate::kafka::KafkaError;

/// Why a use case could not do what was asked. The HTTP layer maps each
/// variant to a status code in one place.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RecordsError {
    /// The request itself is wrong; nothing was done.
    #[error("{0}")]
    Invalid(String),
    /// Stored bytes cannot be decoded as the request asked.
    #[error("{0}")]
    Undecodable(String),
    /// The request needs something this version does not do yet.
    #[error("{0}")]
    Unsupported(String),
    /// A transaction failed and was aborted: none of its records is visible.
    #[error(
        "transaction '{transaction}' was aborted and none of its records became visible: {cause}"
    )]
    Aborted {
        /// The transactional id.
        transaction: String,
        /// Why it failed.
        cause: Box<RecordsError>,
    },
    /// Kafka refused, failed or did not answer in time.
    #[error(transparent)]
    Kafka(#[from] KafkaError),
}

/// Kafka's rules for a topic name: 1 to 249 characters of `[a-zA-Z0-9._-]`,
/// and not `.` or `..`.
pub fn check_topic_name(topic: &str) -> Result<(), String> {
    if topic.is_empty() {
        return Err("must not be empty".into());
    }
    if topic.len() > 249 {
        return Err(format!(
            "is {} characters long; Kafka allows at most 249",
            topic.len()
        ));
    }
    if topic == "." || topic == ".." {
        return Err("must not be '.' or '..'".into());
    }
    if let Some(c) = topic
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "contains {c:?}; Kafka allows only ASCII letters, digits, '.', '_' and '-'"
        ));
    }
    Ok(())
}

/// Parses a duration such as `5s`, `1500ms` or `1h` (humantime's syntax,
/// which accepts the API's units `days`, `day`, `h`, `m`, `s`, `ms`, `us`, `ns`).
pub fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|e| {
        format!(
            "'{text}' is not a duration ({e}); use a number and a unit such as 5s, 1500ms or 1h"
        )
    })
}

#[cfg(test)]
mod tests {
    use super::{check_topic_name, parse_duration};
    use std::time::Duration;

    #[test]
    fn durations_take_a_number_and_a_unit() {
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1000ms"), Ok(Duration::from_secs(1)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("2days"), Ok(Duration::from_secs(2 * 86400)));
        assert_eq!(parse_duration("1day"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("3m"), Ok(Duration::from_secs(180)));
        assert_eq!(parse_duration("7us"), Ok(Duration::from_micros(7)));
        assert_eq!(parse_duration("9ns"), Ok(Duration::from_nanos(9)));
        assert_eq!(parse_duration("0s"), Ok(Duration::ZERO));
        for bad in ["5", "s", "", "-1s", "five seconds", "5 parsecs", "1.5.2s"] {
            let e = parse_duration(bad).unwrap_err();
            assert!(e.contains("is not a duration"), "{bad}: {e}");
        }
    }

    #[test]
    fn topic_names_follow_kafkas_rules() {
        assert!(check_topic_name("orders.v1_eu-west").is_ok());
        assert!(check_topic_name(&"a".repeat(249)).is_ok());
        assert!(check_topic_name(&"a".repeat(250)).is_err());
        assert!(check_topic_name("").is_err());
        assert!(check_topic_name("..").is_err());
        assert!(check_topic_name("a b").is_err());
        assert!(check_topic_name("é").is_err());
    }
}
