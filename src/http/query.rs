//! Strict query-string parsing: an unknown or repeated parameter is a 400,
//! so a typo never silently reads from, or deletes, the wrong place; and the
//! typed requests of GET and DELETE /records/{topic}, and the options of an
//! NDJSON POST /records, built from it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::body::LineDefaults;
use super::error::{unknown_names, ApiError};
use super::Limits;
use crate::codec::Format;
use crate::records::cursor::Cursor;
use crate::records::delete::DeleteRequest;
use crate::records::filter::Filter;
use crate::records::get::{self, GetRequest, OffsetReset, Seek, Until};
use crate::records::{check_id, check_topic_name, parse_duration, post};

/// The parameters of GET /records/{topic}.
pub const GET_PARAMS: [&str; 16] = [
    "partition",
    "groupId",
    "keyDeserializer",
    "valueDeserializer",
    "limit",
    "timeout",
    "distanceFromLatest",
    "distanceFromBeginning",
    "seekTo",
    "seekToTimestamp",
    "autoOffsetReset",
    "cursor",
    "untilOffset",
    "untilTimestamp",
    "filter",
    "format",
];

/// The parameters of DELETE /records/{topic}.
pub const DELETE_PARAMS: [&str; 2] = ["partition", "offset"];

/// How a GET answers: one JSON page, or a stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `{"records": [...], "next": cursor}`.
    Page,
    /// One JSON object per line.
    Ndjson,
    /// Server-Sent Events.
    Sse,
}

impl Output {
    /// From `format`, else from the `Accept` header.
    fn choose(format: Option<&str>, accept: Option<&str>) -> Result<Output, ApiError> {
        match format.map(str::to_ascii_lowercase).as_deref() {
            Some("json") => return Ok(Output::Page),
            Some("ndjson") => return Ok(Output::Ndjson),
            Some("sse") => return Ok(Output::Sse),
            Some(_) => {
                return Err(ApiError::bad_request(format!(
                    "format: unknown value '{}'; known: json, ndjson, sse",
                    format.unwrap_or_default()
                )))
            }
            None => {}
        }
        let accept = accept.unwrap_or("").to_ascii_lowercase();
        Ok(if accept.contains("text/event-stream") {
            Output::Sse
        } else if accept.contains("application/x-ndjson") {
            Output::Ndjson
        } else {
            Output::Page
        })
    }

    /// Whether records are written as they are read.
    pub fn is_stream(self) -> bool {
        self != Output::Page
    }
}

/// What a GET's headers add to its query: the `Accept` header and an SSE
/// client's `Last-Event-ID`.
#[derive(Debug, Clone, Copy, Default)]
pub struct GetHeaders<'a> {
    /// `Accept`.
    pub accept: Option<&'a str>,
    /// `Last-Event-ID`: resumes like `cursor`, and wins over it and over
    /// the seek parameters (a reconnecting client sends its first URL).
    pub last_event_id: Option<&'a str>,
}

/// The parameters of POST /records with an NDJSON body (a JSON body takes
/// none: its fields say it all).
pub const NDJSON_POST_PARAMS: [&str; 6] = [
    "transactionId",
    "async",
    "timeout",
    "topic",
    "keySerializer",
    "valueSerializer",
];

/// What the query of an NDJSON POST /records says.
#[derive(Debug)]
pub struct LoadOptions {
    /// Write the whole load in one transaction with this transactional id.
    pub transaction_id: Option<String>,
    /// Bounds each batch's write; with a transaction, the whole load.
    pub timeout: Duration,
    /// What applies to every line.
    pub defaults: LineDefaults,
}

/// The options of `POST /records?{raw}` with an NDJSON body.
pub fn load_options(raw: Option<&str>, limits: &Limits) -> Result<LoadOptions, ApiError> {
    let q = Query::parse(raw, &NDJSON_POST_PARAMS)?;
    match q.str("async").map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") => {}
        Some("true") => {
            return Err(ApiError::bad_request(
                "async: is for JSON bodies; an NDJSON load streams and answers when its records are written, so leave async out (nothing was written)",
            ))
        }
        Some(_) => {
            return Err(ApiError::bad_request(format!(
                "async: must be true or false, got '{}'",
                q.str("async").unwrap_or_default()
            )))
        }
    }
    let transaction_id = q
        .str("transactionId")
        .map(|id| {
            check_id(id)
                .map(|()| id.to_string())
                .map_err(|e| ApiError::bad_request(format!("transactionId: {e}")))
        })
        .transpose()?;
    let topic = q
        .str("topic")
        .map(|topic| {
            check_topic_name(topic)
                .map(|()| Arc::<str>::from(topic))
                .map_err(|e| ApiError::bad_request(format!("topic: '{topic}' {e}")))
        })
        .transpose()?;
    Ok(LoadOptions {
        transaction_id,
        timeout: limits.check_timeout(q.duration("timeout")?.unwrap_or(post::DEFAULT_TIMEOUT))?,
        defaults: LineDefaults {
            topic,
            key_serializer: q.serializer("keySerializer")?,
            value_serializer: q.serializer("valueSerializer")?,
        },
    })
}

/// The typed request of `GET /records/{topic}?{raw}`, and how to answer it.
pub fn get_request(
    topic: String,
    raw: Option<&str>,
    limits: &Limits,
    headers: GetHeaders<'_>,
) -> Result<(GetRequest, Output), ApiError> {
    let q = Query::parse(raw, &GET_PARAMS)?;
    let output = Output::choose(q.str("format"), headers.accept)?;
    let seeks: Vec<Seek> = [
        q.int("distanceFromLatest", 0, i64::MAX)?
            .map(Seek::FromLatest),
        q.int("distanceFromBeginning", 0, i64::MAX)?
            .map(Seek::FromBeginning),
        q.int("seekTo", 0, i64::MAX)?.map(Seek::To),
        q.int("seekToTimestamp", 0, i64::MAX)?
            .map(Seek::ToTimestamp),
    ]
    .into_iter()
    .flatten()
    .collect();
    if seeks.len() > 1 {
        return Err(ApiError::bad_request(
            "give at most one of distanceFromLatest, distanceFromBeginning, seekTo and seekToTimestamp",
        ));
    }
    let resume = match (headers.last_event_id, q.str("cursor")) {
        (Some(id), _) => Some(
            Cursor::decode(id, &topic)
                .map_err(|e| ApiError::bad_request(format!("Last-Event-ID: {e}")))?,
        ),
        (None, Some(text)) => {
            if !seeks.is_empty() {
                return Err(ApiError::bad_request(
                    "cursor: a cursor says where the read starts; leave out distanceFromLatest, distanceFromBeginning, seekTo and seekToTimestamp",
                ));
            }
            Some(
                Cursor::decode(text, &topic)
                    .map_err(|e| ApiError::bad_request(format!("cursor: {e}")))?,
            )
        }
        (None, None) => None,
    };
    let until = match (
        q.int("untilOffset", 0, i64::MAX)?,
        q.int("untilTimestamp", 0, i64::MAX)?,
    ) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "untilOffset: give at most one of untilOffset and untilTimestamp",
            ))
        }
        (Some(o), None) => Some(Until::Offset(o)),
        (None, Some(t)) => Some(Until::Timestamp(t)),
        (None, None) => None,
    };
    let filter = q
        .str("filter")
        .map(|program| {
            Filter::compile(program).map(Arc::new).map_err(|e| {
                ApiError::bad_request(format!("filter: the jq program does not compile: {e}"))
            })
        })
        .transpose()?;
    let group_id = q
        .str("groupId")
        .map(|id| {
            check_id(id).map(|()| id.to_string()).map_err(|e| {
                ApiError::bad_request(format!(
                    "groupId: {e}; leave groupId out to read without a consumer group"
                ))
            })
        })
        .transpose()?;
    let reset = q.offset_reset(group_id.is_some())?;
    let (limit, timeout) = if output.is_stream() {
        // A stream runs until its limit, its bounds, its duration or its
        // client ends it; it holds one round of records at a time.
        let limit = q
            .int("limit", 1, i64::MAX)?
            .map_or(usize::MAX, |l| l as usize);
        let timeout = match q.duration("timeout")? {
            Some(t) if t > limits.stream_duration => {
                return Err(ApiError::bad_request(format!(
                    "timeout: {} is longer than a stream may last, {} (--max-stream-duration)",
                    humantime::format_duration(t),
                    humantime::format_duration(limits.stream_duration)
                )))
            }
            Some(t) => t,
            None => limits.stream_duration,
        };
        (limit, timeout)
    } else {
        (
            q.int("limit", 1, limits.limit as i64)?.unwrap_or(1) as usize,
            limits.check_timeout(q.duration("timeout")?.unwrap_or(get::DEFAULT_TIMEOUT))?,
        )
    };
    let request = GetRequest {
        topic,
        partition: q.partition()?,
        group_id,
        key: q.format("keyDeserializer")?,
        value: q.format("valueDeserializer")?,
        limit,
        timeout,
        seek: if headers.last_event_id.is_some() {
            None
        } else {
            seeks.first().copied()
        },
        resume,
        until,
        filter,
        max_scan: limits.scan_records,
        reset,
        max_bytes: limits.response_bytes,
        registry: None,
    };
    Ok((request, output))
}

/// The typed request of `DELETE /records/{topic}?{raw}`.
pub fn delete_request(topic: String, raw: Option<&str>) -> Result<DeleteRequest, ApiError> {
    let q = Query::parse(raw, &DELETE_PARAMS)?;
    Ok(DeleteRequest {
        topic,
        partition: q.partition()?,
        offset: q.int("offset", 0, i64::MAX)?,
    })
}

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
                "{}; {known}",
                unknown_names("query parameter", &unknown)
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

    /// `partition`, a partition number, if given.
    pub fn partition(&self) -> Result<Option<i32>, ApiError> {
        Ok(self
            .int("partition", 0, i64::from(i32::MAX))?
            .map(|p| p as i32))
    }

    /// A duration such as `5s`, if given.
    pub fn duration(&self, name: &str) -> Result<Option<Duration>, ApiError> {
        self.str(name)
            .map(|text| {
                parse_duration(text).map_err(|e| ApiError::bad_request(format!("{name}: {e}")))
            })
            .transpose()
    }

    /// `autoOffsetReset`: where a group without a committed offset starts,
    /// `latest` when not given. It needs a group (`with_group`): without
    /// one there is no committed offset to fall back from.
    pub fn offset_reset(&self, with_group: bool) -> Result<OffsetReset, ApiError> {
        let Some(text) = self.str("autoOffsetReset") else {
            return Ok(OffsetReset::Latest);
        };
        let reset = match text.to_ascii_lowercase().as_str() {
            "earliest" => OffsetReset::Earliest,
            "latest" => OffsetReset::Latest,
            _ => {
                return Err(ApiError::bad_request(format!(
                    "autoOffsetReset: unknown value '{text}'; known: earliest, latest"
                )))
            }
        };
        if !with_group {
            return Err(ApiError::bad_request(
                "autoOffsetReset: applies only to a consumer group without a committed offset; \
                 give groupId too, or leave autoOffsetReset out (a read without a group starts \
                 at the end, or where a seek parameter says)",
            ));
        }
        Ok(reset)
    }

    /// A serializer name, if given.
    pub fn serializer(&self, name: &str) -> Result<Option<Format>, ApiError> {
        self.str(name)
            .map(|text| {
                Format::parse(text).ok_or_else(|| {
                    ApiError::bad_request(format!(
                        "{name}: unknown serializer '{text}'; known: {}",
                        Format::NAMES.join(", ")
                    ))
                })
            })
            .transpose()
    }

    /// A deserializer name, `string` when not given.
    pub fn format(&self, name: &str) -> Result<Format, ApiError> {
        match self.str(name) {
            None => Ok(Format::String),
            Some(text) => Format::parse(text).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "{name}: unknown deserializer '{text}'; known: {}",
                    Format::NAMES.join(", ")
                ))
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        body_bytes: 1 << 20,
        records_per_request: 1000,
        limit: 1000,
        timeout: Duration::from_secs(60),
        response_bytes: 1 << 20,
        client_timeout: Duration::from_secs(10),
        scan_records: 1000,
        stream_duration: Duration::from_secs(3600),
    };

    const KNOWN: [&str; 3] = ["limit", "timeout", "valueDeserializer"];

    fn page_request(
        topic: String,
        raw: Option<&str>,
        limits: &Limits,
    ) -> Result<GetRequest, ApiError> {
        get_request(topic, raw, limits, GetHeaders::default()).map(|(r, _)| r)
    }

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
        assert_eq!(q.format("valueDeserializer").unwrap(), Format::Long);
        assert_eq!(q.format("keyDeserializer").unwrap(), Format::String);
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
            .format("valueDeserializer")
            .unwrap_err()
            .message
            .contains("unknown deserializer 'int'"));
        let q = Query::parse(Some("limit=99999999999999999999"), &KNOWN).unwrap();
        assert!(q.int("limit", 1, 10).is_err());
    }

    #[test]
    fn a_get_query_becomes_a_typed_request() {
        let r = page_request(
            "t".into(),
            Some("partition=2&groupId=g&keyDeserializer=long&limit=7&timeout=1500ms&seekTo=9"),
            &LIMITS,
        )
        .unwrap();
        assert_eq!(r.partition, Some(2));
        assert_eq!(r.group_id.as_deref(), Some("g"));
        assert_eq!((r.key, r.value), (Format::Long, Format::String));
        assert_eq!(r.limit, 7);
        assert_eq!(r.timeout, Duration::from_millis(1500));
        assert_eq!(r.seek, Some(Seek::To(9)));
        assert_eq!(r.reset, OffsetReset::Latest);
        let r = page_request("t".into(), None, &LIMITS).unwrap();
        assert_eq!((r.partition, r.limit, r.seek), (None, 1, None));
        assert_eq!(r.reset, OffsetReset::Latest);
        assert_eq!(r.timeout, get::DEFAULT_TIMEOUT);
    }

    #[test]
    fn a_group_id_is_neither_empty_nor_longer_than_kafka_can_carry() {
        let m = page_request("t".into(), Some("groupId="), &LIMITS)
            .unwrap_err()
            .message;
        assert!(m.starts_with("groupId: must not be empty"), "{m}");
        let long = format!("groupId={}", "g".repeat(crate::records::MAX_ID_BYTES + 1));
        let m = page_request("t".into(), Some(&long), &LIMITS)
            .unwrap_err()
            .message;
        assert!(m.starts_with("groupId: is 4097 bytes long"), "{m}");
    }

    #[test]
    fn a_get_takes_one_seek_and_only_its_own_parameters() {
        let m = page_request("t".into(), Some("seekTo=1&distanceFromLatest=2"), &LIMITS)
            .unwrap_err()
            .message;
        assert!(m.starts_with("give at most one of"), "{m}");
        let m = page_request("t".into(), Some("offset=1"), &LIMITS)
            .unwrap_err()
            .message;
        assert!(
            m.contains("'offset'") && m.contains("seekToTimestamp"),
            "{m}"
        );
        let m = page_request("t".into(), Some("timeout=400days"), &LIMITS)
            .unwrap_err()
            .message;
        assert!(m.starts_with("timeout: '400days' is longer"), "{m}");
    }

    #[test]
    fn auto_offset_reset_is_earliest_or_latest_in_any_case_and_needs_a_group() {
        for (raw, reset) in [
            ("groupId=g&autoOffsetReset=earliest", OffsetReset::Earliest),
            ("groupId=g&autoOffsetReset=EARLIEST", OffsetReset::Earliest),
            ("groupId=g&autoOffsetReset=Latest", OffsetReset::Latest),
            ("groupId=g", OffsetReset::Latest),
        ] {
            let r = page_request("t".into(), Some(raw), &LIMITS).unwrap();
            assert_eq!(r.reset, reset, "{raw}");
        }
        let m = page_request(
            "t".into(),
            Some("groupId=g&autoOffsetReset=oldest"),
            &LIMITS,
        )
        .unwrap_err()
        .message;
        assert!(
            m.starts_with("autoOffsetReset: unknown value 'oldest'; known: earliest, latest"),
            "{m}"
        );
        let m = page_request("t".into(), Some("autoOffsetReset=earliest"), &LIMITS)
            .unwrap_err()
            .message;
        assert!(
            m.starts_with("autoOffsetReset: applies only to a consumer group")
                && m.contains("groupId"),
            "{m}"
        );
    }

    #[test]
    fn a_delete_query_becomes_a_typed_request() {
        let r = delete_request("t".into(), Some("partition=1&offset=5")).unwrap();
        assert_eq!((r.partition, r.offset), (Some(1), Some(5)));
        let r = delete_request("t".into(), None).unwrap();
        assert_eq!((r.partition, r.offset), (None, None));
        let m = delete_request("t".into(), Some("Offset=1"))
            .unwrap_err()
            .message;
        assert!(
            m.contains("'Offset'; known parameters: partition, offset"),
            "{m}"
        );
        let m = delete_request("t".into(), Some("offset=-1"))
            .unwrap_err()
            .message;
        assert!(m.starts_with("offset: '-1' is not"), "{m}");
    }

    #[test]
    fn an_ndjson_query_gives_the_load_its_options_and_the_lines_their_defaults() {
        let o = load_options(
            Some("transactionId=tx&timeout=30s&topic=copy&keySerializer=BYTEARRAY&valueSerializer=json&async=false"),
            &LIMITS,
        )
        .unwrap();
        assert_eq!(o.transaction_id.as_deref(), Some("tx"));
        assert_eq!(o.timeout, Duration::from_secs(30));
        assert_eq!(o.defaults.topic.as_deref(), Some("copy"));
        assert_eq!(o.defaults.key_serializer, Some(Format::ByteArray));
        assert_eq!(o.defaults.value_serializer, Some(Format::Json));
        let o = load_options(None, &LIMITS).unwrap();
        assert_eq!((o.transaction_id, o.timeout), (None, post::DEFAULT_TIMEOUT));
        assert!(o.defaults.topic.is_none() && o.defaults.key_serializer.is_none());
        for (raw, start) in [
            ("async=true", "async: is for JSON bodies"),
            ("async=yes", "async: must be true or false, got 'yes'"),
            ("topic=a%2Fb", "topic: 'a/b' contains '/'"),
            ("keySerializer=lng", "keySerializer: unknown serializer 'lng'; known: string,"),
            ("transactionId=", "transactionId: must not be empty"),
            ("timeout=2h", "timeout: 2h is longer than the longest allowed"),
            ("partition=1", "unknown query parameter 'partition'; known parameters: transactionId, async, timeout, topic, keySerializer, valueSerializer"),
        ] {
            let m = load_options(Some(raw), &LIMITS).unwrap_err().message;
            assert!(m.starts_with(start), "{raw}: {m}");
        }
    }

    #[test]
    fn no_query_is_fine_and_an_endpoint_without_parameters_says_so() {
        assert!(Query::parse(None, &KNOWN).is_ok());
        let m = Query::parse(Some("x=1"), &[]).unwrap_err().message;
        assert!(m.contains("takes no query parameters"), "{m}");
    }
}
