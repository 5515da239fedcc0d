//! Entry points of the fuzz targets under `fuzz/` (`scripts/fuzz.sh`), not
//! part of the API. Each one runs a request parser on arbitrary input and
//! panics when a property of the parser does not hold; the parsers
//! themselves must never panic.

use crate::http::body::ndjson::{is_blank, LineTooLong, Lines};
use crate::http::body::{checked, parse_line, quick, read_post_body, LineDefaults};
use crate::http::query::{self, Query, DELETE_PARAMS, GET_PARAMS};
use crate::http::Limits;
use crate::records::get::{OffsetReset, Seek};
use crate::records::post::PostRequest;
use crate::records::{check_id, check_topic_name, RecordsError, MAX_DURATION};
use std::time::Duration;

/// A POST /records body: [`read_post_body`], and its two readers agree.
///
/// - the quick reader accepts only bodies the checking parser accepts, and
///   reads them the same way;
/// - an accepted body holds at least one record, every one valid as the
///   checking parser demands (topic name, partition and timestamp ranges,
///   timeout, transactional id);
/// - a refused body is a 400 with a message.
pub fn post_body(data: &[u8]) {
    let data = bytes::Bytes::copy_from_slice(data);
    let result = read_post_body(&data);
    if let Some(typed) = quick::read(&data) {
        match checked::parse(&data) {
            Ok(checked) => assert_eq!(
                format!("{typed:?}"),
                format!("{checked:?}"),
                "the quick reader and the checking parser read the body differently"
            ),
            Err(e) => panic!("the quick reader accepted a body the checking parser refuses: {e}"),
        }
    }
    match result {
        Ok(request) => check_post(&request),
        Err(RecordsError::Invalid(message)) => assert!(!message.is_empty()),
        Err(other) => panic!("a parse error that is not a 400: {other:?}"),
    }
}

fn check_post(request: &PostRequest) {
    assert!(!request.records.is_empty(), "no record");
    assert!(request.timeout <= MAX_DURATION);
    if let Some(id) = &request.transaction_id {
        assert_eq!(check_id(id), Ok(()));
    }
    for r in &request.records {
        assert_eq!(check_topic_name(&r.topic), Ok(()));
        assert!(r.partition.is_none_or(|p| p >= 0));
        assert!(r.timestamp.is_none_or(|t| t >= 0));
    }
}

/// The most bytes a line of [`ndjson_body`] may have: small, so that the
/// limit is hit often.
const FUZZ_LINE_LIMIT: usize = 64;

/// An NDJSON body, its first byte saying where its pieces are cut, read as
/// a load reads it: cut into lines as the pieces arrive, then each line
/// checked as a record.
///
/// - the lines are the body's lines (`\n` or `\r\n` ends), numbered from 1,
///   wherever the pieces were cut;
/// - a line over the limit is an error naming the first such line, and no
///   line over it is ever given;
/// - a line that is not blank is a record valid as the checking parser
///   demands, or a 400 whose message starts with its line number.
pub fn ndjson_body(data: &[u8]) {
    let Some((&cut, body)) = data.split_first() else {
        return;
    };
    let defaults = LineDefaults::default();
    let mut lines = Lines::new(FUZZ_LINE_LIMIT);
    let mut got: Vec<Vec<u8>> = Vec::new();
    let mut too_long = None;
    let take = |number: u64, line: &[u8], got: &mut Vec<Vec<u8>>| {
        assert_eq!(number, got.len() as u64 + 1, "lines numbered in order");
        assert!(line.len() <= FUZZ_LINE_LIMIT, "a line over the limit");
        got.push(line.to_vec());
        if is_blank(line) {
            return;
        }
        match parse_line(number, line, &defaults) {
            Ok(r) => {
                assert_eq!(check_topic_name(&r.topic), Ok(()));
                assert!(r.partition.is_none_or(|p| p >= 0));
                assert!(r.timestamp.is_none_or(|t| t >= 0));
            }
            Err(RecordsError::Invalid(m)) => {
                assert!(m.starts_with(&format!("line {number}")), "{m}")
            }
            Err(other) => panic!("a line's error that is not a 400: {other:?}"),
        }
    };
    'pieces: for piece in body.chunks(usize::from(cut).max(1)) {
        lines.push(bytes::Bytes::copy_from_slice(piece));
        loop {
            match lines.next_line() {
                Ok(Some((number, line))) => take(number, &line, &mut got),
                Ok(None) => break,
                Err(LineTooLong(number)) => {
                    too_long = Some(number);
                    break 'pieces;
                }
            }
        }
    }
    if too_long.is_none() {
        match lines.last_line() {
            Ok(Some((number, line))) => take(number, &line, &mut got),
            Ok(None) => {}
            Err(LineTooLong(number)) => too_long = Some(number),
        }
    }
    // The body's own lines, cut at once.
    let mut expected: Vec<&[u8]> = body
        .split(|b| *b == b'\n')
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    if body.is_empty() || body.ends_with(b"\n") {
        expected.pop();
    }
    let first_too_long = expected.iter().position(|l| l.len() > FUZZ_LINE_LIMIT);
    assert_eq!(
        too_long,
        first_too_long.map(|i| i as u64 + 1),
        "the line named too long"
    );
    let whole = first_too_long.unwrap_or(expected.len());
    assert_eq!(got, expected[..whole].to_vec(), "the lines read");
}

/// A query string of GET and DELETE /records/{topic} (and of POST, which
/// takes none). An accepted query holds only known parameters, each once,
/// and gives values in range; a refused one names the parameter at fault
/// (or lists the known ones, or the seek parameters that clash).
pub fn query_string(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let raw = Some(text.as_ref());
    let names: Vec<String> = form_urlencoded::parse(text.as_bytes())
        .map(|(name, _)| name.into_owned())
        .collect();
    let named = |message: &str| {
        message.starts_with("unknown query parameter")
            || names.iter().any(|n| message.starts_with(&format!("{n}: ")))
    };
    let only_known = |known: &[&str]| {
        let mut seen = std::collections::HashSet::new();
        names
            .iter()
            .all(|n| known.contains(&n.as_str()) && seen.insert(n))
    };

    // The widest limits the flags allow: the parser's own bounds are tested.
    let limits = Limits {
        body_bytes: usize::MAX,
        records_per_request: usize::MAX,
        limit: u32::MAX as usize,
        timeout: MAX_DURATION,
        response_bytes: usize::MAX,
        client_timeout: Duration::from_secs(10),
        scan_records: crate::records::get::DEFAULT_MAX_SCAN,
        stream_duration: MAX_DURATION,
    };
    match query::get_request("t".into(), raw, &limits, Default::default()) {
        Ok((r, output)) => {
            assert!(only_known(&GET_PARAMS), "accepted {names:?}");
            assert!(r.partition.is_none_or(|p| p >= 0));
            // A stream's limit is unbounded by default.
            assert!(r.limit >= 1 && (output.is_stream() || r.limit <= u32::MAX as usize));
            assert!(r.timeout <= MAX_DURATION);
            if let Some(id) = &r.group_id {
                assert_eq!(check_id(id), Ok(()));
            }
            if let Some(Seek::FromLatest(n) | Seek::FromBeginning(n) | Seek::To(n)) = r.seek {
                assert!(n >= 0);
            }
            if let Some(Seek::ToTimestamp(t)) = r.seek {
                assert!(t >= 0);
            }
            if r.reset != OffsetReset::Latest {
                assert!(r.group_id.is_some(), "autoOffsetReset without a group");
            }
        }
        Err(e) => {
            assert_eq!(e.status, hyper::StatusCode::BAD_REQUEST);
            assert!(
                named(&e.message) || e.message.starts_with("give at most one of"),
                "the message names no parameter: {}",
                e.message
            );
        }
    }
    match query::delete_request("t".into(), raw) {
        Ok(r) => {
            assert!(only_known(&DELETE_PARAMS), "accepted {names:?}");
            assert!(r.partition.is_none_or(|p| p >= 0));
            assert!(r.offset.is_none_or(|o| o >= 0));
        }
        Err(e) => assert!(
            named(&e.message),
            "the message names no parameter: {}",
            e.message
        ),
    }
    match Query::parse(raw, &[]) {
        Ok(_) => assert!(names.is_empty(), "accepted {names:?}"),
        Err(e) => assert!(
            e.message.contains("takes no query parameters"),
            "{}",
            e.message
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuzz_properties_hold_for_the_seed_inputs() {
        for body in [
            &br#"{"records": [{"topic": "t", "value": "v"}]}"#[..],
            br#"{"records": [{"topic": "t", "key": 1, "keySerializer": "long", "value": {"a": 1}, "valueSerializer": "json", "headers": [{"key": "h", "value": "YQ=="}]}], "async": true, "timeout": "2s", "transactionId": "x"}"#,
            br#"{"records": [{"topic": "t", "partition": 1, "partition": 2}]}"#,
            br#"{"records": []}"#,
            b"{\"records\": [{\"topic\": \"t\xff\"}]}",
            b"[[[[[[[[[[",
            b"",
        ] {
            post_body(body);
        }
        for body in [
            &b""[..],
            b"\x03{\"topic\": \"t\"}\n\r\n\n{\"topic\": \"t\", \"offset\": 1}",
            b"\x01{\"value\": 1}\r\n[1]\nnot json",
            b"\x07short\nthis line is much longer than the sixty-four bytes one line may have\nx",
            b"\x00\r\n\r",
        ] {
            ndjson_body(body);
        }
        for query in [
            &b""[..],
            b"limit=1&limit=2",
            b"partition=0&offset=5",
            b"seekTo=1&distanceFromLatest=2",
            b"groupId=g&limit=10&timeout=1s&valueDeserializer=JSON",
            b"%FF=1&timeout=18446744073709551615s",
            b"groupId=&x",
        ] {
            query_string(query);
        }
    }
}
