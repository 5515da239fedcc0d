//! `GET /groups`, `GET /groups/{group}`, `POST /groups/{group}/offsets`:
//! request → [`groups`] → JSON.

use hyper::{Request, StatusCode};
use serde::Serialize;
use serde_json::Value;

use super::HttpResponse;
use crate::http::body::{read_body, strict_object};
use crate::http::error::ApiError;
use crate::http::query::Query;
use crate::http::response::json_response;
use crate::http::router::App;
use crate::http::BoxError;
use crate::records::check_topic_name;
use crate::records::groups::{self, ResetTo};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ListedOut<'a> {
    group_id: &'a str,
    state: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
}

#[derive(Serialize)]
struct ListOut<'a> {
    groups: Vec<ListedOut<'a>>,
}

#[derive(Serialize)]
struct AssignmentOut<'a> {
    topic: &'a str,
    partition: i32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct MemberOut<'a> {
    member_id: &'a str,
    client_id: &'a str,
    host: &'a str,
    assignments: Vec<AssignmentOut<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct OffsetOut<'a> {
    topic: &'a str,
    partition: i32,
    committed_offset: i64,
    end_offset: Option<i64>,
    lag: Option<i64>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupOut<'a> {
    group_id: &'a str,
    state: &'a str,
    #[serde(rename = "type")]
    kind: &'a str,
    members: Vec<MemberOut<'a>>,
    offsets: Vec<OffsetOut<'a>>,
    lag: i64,
}

#[derive(Serialize)]
struct ResetOffsetOut {
    partition: i32,
    offset: i64,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ResetOut<'a> {
    group_id: &'a str,
    topic: &'a str,
    offsets: Vec<ResetOffsetOut>,
}

/// GET /groups.
pub(crate) async fn list_groups(
    app: &App,
    raw_query: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    Query::parse(raw_query, &[])?;
    let list = groups::list(&app.cluster).await?;
    let groups = list
        .iter()
        .map(|g| ListedOut {
            group_id: &g.group,
            state: &g.state,
            kind: &g.kind,
        })
        .collect();
    Ok(json_response(StatusCode::OK, &ListOut { groups }))
}

/// GET /groups/{group}.
pub(crate) async fn get_group(
    app: &App,
    group: String,
    raw_query: Option<&str>,
) -> Result<HttpResponse, ApiError> {
    Query::parse(raw_query, &[])?;
    let view = groups::describe(&app.cluster, &group).await?;
    let offsets: Vec<OffsetOut<'_>> = view
        .offsets
        .iter()
        .map(|o| OffsetOut {
            topic: &o.topic,
            partition: o.partition,
            committed_offset: o.committed,
            end_offset: o.end,
            lag: o.lag(),
        })
        .collect();
    let lag = offsets.iter().filter_map(|o| o.lag).sum();
    let out = GroupOut {
        group_id: &view.group,
        state: &view.state,
        kind: &view.kind,
        members: view
            .members
            .iter()
            .map(|m| MemberOut {
                member_id: &m.member,
                client_id: &m.client,
                host: &m.host,
                assignments: m
                    .assignments
                    .iter()
                    .map(|(topic, partition)| AssignmentOut {
                        topic,
                        partition: *partition,
                    })
                    .collect(),
            })
            .collect(),
        offsets,
        lag,
    };
    Ok(json_response(StatusCode::OK, &out))
}

const FIELDS: [&str; 3] = ["topic", "partitions", "to"];

/// What a reset asks for.
#[derive(Debug)]
struct Reset {
    topic: String,
    partitions: Option<Vec<i32>>,
    to: ResetTo,
}

/// Reads a `POST /groups/{group}/offsets` body, naming the field that is wrong.
fn reset_request(body: &[u8]) -> Result<Reset, ApiError> {
    let fields = strict_object(body, &FIELDS, "{\"topic\": \"t\", \"to\": \"earliest\"}")?;
    let topic = match fields.get("topic") {
        Some(Value::String(t)) => t.clone(),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "topic: {other} is not a string"
            )))
        }
        None => {
            return Err(ApiError::bad_request(
                "topic: missing; give the topic whose offsets to reset",
            ))
        }
    };
    check_topic_name(&topic).map_err(|e| ApiError::bad_request(format!("topic: '{topic}' {e}")))?;
    let partitions = match fields.get("partitions") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) if !items.is_empty() => Some(
            items
                .iter()
                .map(|p| {
                    p.as_i64()
                        .filter(|p| (0..=i64::from(i32::MAX)).contains(p))
                        .map(|p| p as i32)
                        .ok_or_else(|| ApiError::bad_request(format!("partitions: {p} is not a partition number")))
                })
                .collect::<Result<Vec<i32>, ApiError>>()?,
        ),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "partitions: {other} is not a non-empty list of partition numbers (leave it out for every partition)"
            )))
        }
    };
    let bad_to = |v: &Value| {
        ApiError::bad_request(format!(
            "to: {v} is not \"earliest\", \"latest\", {{\"offset\": n}} or {{\"timestamp\": ms}}"
        ))
    };
    let to = match fields.get("to") {
        None => return Err(ApiError::bad_request(
            "to: missing; give \"earliest\", \"latest\", {\"offset\": n} or {\"timestamp\": ms}",
        )),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("earliest") => ResetTo::Earliest,
        Some(Value::String(s)) if s.eq_ignore_ascii_case("latest") => ResetTo::Latest,
        Some(Value::Object(o)) if o.len() == 1 => match o.iter().next() {
            Some((k, v)) if k == "offset" => {
                ResetTo::Offset(v.as_i64().filter(|n| *n >= 0).ok_or_else(|| bad_to(v))?)
            }
            Some((k, v)) if k == "timestamp" => {
                ResetTo::Timestamp(v.as_i64().filter(|n| *n >= 0).ok_or_else(|| bad_to(v))?)
            }
            _ => return Err(bad_to(&Value::Object(o.clone()))),
        },
        Some(other) => return Err(bad_to(other)),
    };
    Ok(Reset {
        topic,
        partitions,
        to,
    })
}

/// POST /groups/{group}/offsets.
pub(crate) async fn reset_offsets<B>(
    app: &App,
    group: String,
    request: Request<B>,
) -> Result<HttpResponse, ApiError>
where
    B: hyper::body::Body,
    B::Error: Into<BoxError>,
{
    Query::parse(request.uri().query(), &[])?;
    let body = read_body(&app.limits, request).await?;
    let reset = reset_request(&body)?;
    let offsets = groups::reset(
        &app.cluster,
        &group,
        &reset.topic,
        reset.partitions,
        reset.to,
    )
    .await?;
    let out = ResetOut {
        group_id: &group,
        topic: &reset.topic,
        offsets: offsets
            .into_iter()
            .map(|(partition, offset)| ResetOffsetOut { partition, offset })
            .collect(),
    };
    Ok(json_response(StatusCode::OK, &out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reset_body_is_read_strictly_naming_the_field() {
        let r =
            reset_request(br#"{"topic": "t", "partitions": [0, 2], "to": {"offset": 5}}"#).unwrap();
        assert_eq!((r.partitions, r.to), (Some(vec![0, 2]), ResetTo::Offset(5)));
        assert_eq!(
            reset_request(br#"{"topic": "t", "to": "EARLIEST"}"#)
                .unwrap()
                .to,
            ResetTo::Earliest
        );
        assert_eq!(
            reset_request(br#"{"topic": "t", "to": {"timestamp": 1700000000000}}"#)
                .unwrap()
                .to,
            ResetTo::Timestamp(1_700_000_000_000)
        );
        for (body, needle) in [
            (&br#"{"to": "latest"}"#[..], "topic: missing"),
            (br#"{"topic": "t"}"#, "to: missing"),
            (br#"{"topic": "t", "to": "soon"}"#, "to: \"soon\""),
            (br#"{"topic": "t", "to": {"offset": -1}}"#, "to: -1"),
            (
                br#"{"topic": "t", "to": {"offset": 1, "timestamp": 2}}"#,
                "to:",
            ),
            (
                br#"{"topic": "t", "to": "latest", "partitions": []}"#,
                "partitions:",
            ),
            (
                br#"{"topic": "t", "to": "latest", "partitions": [-1]}"#,
                "partitions: -1",
            ),
            (
                br#"{"topic": "t", "to": "latest", "partiton": 1}"#,
                "'partiton'",
            ),
            (br#"{"topic": "a b", "to": "latest"}"#, "topic: 'a b'"),
        ] {
            let e = reset_request(body).unwrap_err();
            assert!(
                e.message.contains(needle),
                "{}: {}",
                String::from_utf8_lossy(body),
                e.message
            );
        }
    }
}
