//! `GET /topics`, `GET /topics/{topic}`, `POST /topics`,
//! `DELETE /topics/{topic}`: request → [`topics`] → JSON.

use std::collections::BTreeMap;

use hyper::{Request, StatusCode};
use serde::Serialize;
use serde_json::Value;

use super::HttpResponse;
use crate::http::body::{read_body, strict_object};
use crate::http::error::ApiError;
use crate::http::query::Query;
use crate::http::response::{empty_response, json_response};
use crate::http::router::App;
use crate::http::BoxError;
use crate::records::topics::{self, NewTopic, TopicView};

#[derive(Serialize)]
struct SummaryOut<'a> {
    name: &'a str,
    partitions: usize,
    internal: bool,
}

#[derive(Serialize)]
struct ListOut<'a> {
    topics: Vec<SummaryOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct PartitionOut<'a> {
    partition: i32,
    leader: Option<i32>,
    leader_epoch: i32,
    replicas: &'a [i32],
    isr: &'a [i32],
    offline: &'a [i32],
    start_offset: Option<i64>,
    end_offset: Option<i64>,
    last_stable_offset: Option<i64>,
}

#[derive(Serialize)]
struct TopicOut<'a> {
    name: &'a str,
    internal: bool,
    partitions: Vec<PartitionOut<'a>>,
    configs: BTreeMap<&'a str, Option<&'a str>>,
}

fn topic_out(t: &TopicView) -> TopicOut<'_> {
    TopicOut {
        name: &t.name,
        internal: t.internal,
        partitions: t
            .partitions
            .iter()
            .map(|p| PartitionOut {
                partition: p.layout.partition,
                leader: p.layout.leader,
                leader_epoch: p.layout.leader_epoch,
                replicas: &p.layout.replicas,
                isr: &p.layout.isr,
                offline: &p.layout.offline,
                start_offset: p.start_offset,
                end_offset: p.end_offset,
                last_stable_offset: p.last_stable_offset,
            })
            .collect(),
        configs: t
            .configs
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_deref()))
            .collect(),
    }
}

/// GET /topics: every topic by name; `internal=true` adds Kafka's own.
pub(crate) async fn list_topics(
    app: &App,
    raw_query: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    let query = Query::parse(raw_query, &["internal"])?;
    let internal = match query.str("internal") {
        None | Some("false") => false,
        Some("true") => true,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "internal: '{other}' is not true or false"
            )))
        }
    };
    let list = topics::list(&app.cluster, internal).await?;
    let topics = list
        .iter()
        .map(|t| SummaryOut {
            name: &t.name,
            partitions: t.partitions,
            internal: t.internal,
        })
        .collect();
    Ok(json_response(StatusCode::OK, &ListOut { topics }))
}

/// GET /topics/{topic}.
pub(crate) async fn get_topic(
    app: &App,
    topic: String,
    raw_query: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    Query::parse(raw_query, &[])?;
    let view = topics::describe(&app.cluster, &topic).await?;
    Ok(json_response(StatusCode::OK, &topic_out(&view)))
}

/// DELETE /topics/{topic}.
pub(crate) async fn delete_topic(
    app: &App,
    topic: String,
    raw_query: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    Query::parse(raw_query, &[])?;
    topics::delete(&app.cluster, &topic).await?;
    Ok(empty_response(StatusCode::NO_CONTENT))
}

/// POST /topics: `{"name", "partitions", "replicationFactor", "configs"}`.
pub(crate) async fn create_topic<B>(
    app: &App,
    request: Request<B>,
) -> Result<HttpResponse, ApiError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    Query::parse(request.uri().query(), &[])?;
    let body = read_body(&app.limits, request).await?;
    let new = new_topic(&body)?;
    let view = topics::create(&app.cluster, &new).await?;
    Ok(json_response(StatusCode::CREATED, &topic_out(&view)))
}

const FIELDS: [&str; 4] = ["name", "partitions", "replicationFactor", "configs"];

/// Reads a `POST /topics` body, naming the field that is wrong.
fn new_topic(body: &[u8]) -> Result<NewTopic, ApiError> {
    let fields = strict_object(body, &FIELDS, "{\"name\": \"t\", \"partitions\": 3}")?;
    let name = match fields.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "name: {other} is not a string"
            )))
        }
        None => {
            return Err(ApiError::bad_request(
                "name: missing; give the topic's name",
            ))
        }
    };
    let count = |field: &str, max: i64| -> Result<Option<i64>, ApiError> {
        match fields.get(field) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Number(n)) => match n.as_i64() {
                Some(v) if v <= max => Ok(Some(v)),
                _ => Err(ApiError::bad_request(format!(
                    "{field}: {n} is not a whole number of at most {max}"
                ))),
            },
            Some(other) => Err(ApiError::bad_request(format!(
                "{field}: {other} is not a whole number"
            ))),
        }
    };
    let partitions =
        count("partitions", i64::from(i32::MAX))?.map(|v| v.max(i64::from(i32::MIN)) as i32);
    let replication_factor =
        count("replicationFactor", i64::from(i16::MAX))?.map(|v| v.max(i64::from(i16::MIN)) as i16);
    let configs = match fields.get("configs") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(configs)) => configs
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                Value::Number(n) => Ok((k.clone(), n.to_string())),
                Value::Bool(b) => Ok((k.clone(), b.to_string())),
                other => Err(ApiError::bad_request(format!(
                    "configs.{k}: {other} is not a config value; give a string, number or boolean"
                ))),
            })
            .collect::<Result<_, _>>()?,
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "configs: {other} is not an object of config names and values"
            )))
        }
    };
    let new = NewTopic {
        name,
        partitions,
        replication_factor,
        configs,
    };
    new.check()?;
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_topic_body_is_read_strictly_naming_the_field() {
        let ok = new_topic(br#"{"name": "t", "partitions": 3, "replicationFactor": 1, "configs": {"retention.ms": 1000, "cleanup.policy": "compact"}}"#).unwrap();
        assert_eq!((ok.partitions, ok.replication_factor), (Some(3), Some(1)));
        assert_eq!(
            ok.configs,
            vec![
                ("retention.ms".to_string(), "1000".to_string()),
                ("cleanup.policy".to_string(), "compact".to_string())
            ]
        );
        let defaults = new_topic(br#"{"name": "t"}"#).unwrap();
        assert_eq!(
            (defaults.partitions, defaults.replication_factor),
            (None, None)
        );
        for (body, needle) in [
            (&br#"{"name": "t", "partitons": 3}"#[..], "'partitons'"),
            (br#"{"partitions": 3}"#, "name: missing"),
            (br#"{"name": "a b"}"#, "name: 'a b'"),
            (br#"{"name": "t", "partitions": 0}"#, "partitions: 0"),
            (br#"{"name": "t", "partitions": -1}"#, "partitions: -1"),
            (br#"{"name": "t", "partitions": "3"}"#, "partitions:"),
            (
                br#"{"name": "t", "replicationFactor": 40000}"#,
                "replicationFactor:",
            ),
            (br#"{"name": "t", "configs": {"a": [1]}}"#, "configs.a"),
            (br#"{"name": "t", "name": "u"}"#, "name"),
            (br#"[1]"#, "JSON object"),
        ] {
            let e = new_topic(body).unwrap_err();
            assert_eq!(e.status, StatusCode::BAD_REQUEST);
            assert!(
                e.message.contains(needle),
                "{}: {}",
                String::from_utf8_lossy(body),
                e.message
            );
        }
    }
}
