//! The quick reader of [`super::read_post_body`]: a hand-written reader of the
//! common, plainly valid body, answering `None` for anything else.
//!
//! It reads the JSON once, straight into records, without a tree and
//! without format's per-field machinery; a string without escapes becomes a
//! slice of the request body, not a copy. Whenever a body is not plainly
//! valid, or uses something rare (an escape in a field name or a topic, a
//! `null` for `transactionId`, `async` or `timeout`, a value nested deeper
//! than [`MAX_DEPTH`]), it gives up, and the checking parser decides and
//! says what is wrong. So the two paths accept exactly the same bodies; the
//! `post_body` fuzz target checks that they also read them the same way.

use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::Value;

use super::checked::unique_keys;
use crate::codec::Format;
use crate::kafka::Header;
use crate::records::post::{PostRecord, PostRequest, DEFAULT_TIMEOUT};
use crate::records::{check_id, check_topic_name, parse_duration};

/// Keys and values nested deeper than this go to the checking parser
/// (serde_json's limit of 128 counts the body's own levels too).
const MAX_DEPTH: usize = 100;

/// The request, when `raw` is plainly valid.
pub(crate) fn read(raw: &Bytes) -> Option<PostRequest> {
    // Validated once, so every slice of it below is a `str`.
    let text = std::str::from_utf8(raw).ok()?;
    let mut r = Reader { text, at: 0 };
    let request = r.body(raw)?;
    r.space();
    (r.at == text.len()).then_some(request)
}

/// A JSON string as it appears in the body.
struct JsonStr<'a> {
    /// The string with its quotes.
    quoted: &'a str,
    /// Whether it has escapes (then the bytes between the quotes are not
    /// the string itself).
    escaped: bool,
}

impl<'a> JsonStr<'a> {
    /// The string itself when it has no escapes.
    fn plain(&self) -> Option<&'a str> {
        (!self.escaped).then(|| &self.quoted[1..self.quoted.len() - 1])
    }

    /// The string, as shared bytes of `body` when it has no escapes.
    fn bytes(&self, body: &Bytes) -> Option<Bytes> {
        match self.plain() {
            Some(plain) => Some(body.slice_ref(plain.as_bytes())),
            None => {
                let s: String = serde_json::from_str(self.quoted).ok()?;
                Some(Bytes::from(s.into_bytes()))
            }
        }
    }

    /// The string itself, unescaped.
    fn text(&self) -> Option<String> {
        match self.plain() {
            Some(plain) => Some(plain.to_string()),
            None => serde_json::from_str(self.quoted).ok(),
        }
    }
}

/// The fields of one record, as written.
#[derive(Default)]
struct RecordIn<'a> {
    topic: Option<&'a str>,
    partition: Option<i64>,
    key_serializer: Option<&'a str>,
    value_serializer: Option<&'a str>,
    key: Option<Raw<'a>>,
    value: Option<Raw<'a>>,
    timestamp: Option<i64>,
    headers: Vec<(JsonStr<'a>, Option<JsonStr<'a>>)>,
}

/// A key or value as written: a string, or any other JSON value's text.
enum Raw<'a> {
    Str(JsonStr<'a>),
    Other(&'a str),
}

struct Reader<'a> {
    text: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn space(&mut self) {
        let b = self.text.as_bytes();
        while self.at < b.len() && matches!(b[self.at], b' ' | b'\t' | b'\n' | b'\r') {
            self.at += 1;
        }
    }

    /// The next byte after white space, not consumed.
    fn peek(&mut self) -> Option<u8> {
        self.space();
        self.text.as_bytes().get(self.at).copied()
    }

    fn eat(&mut self, c: u8) -> Option<()> {
        (self.peek()? == c).then(|| self.at += 1)
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.space();
        self.text[self.at..]
            .starts_with(word)
            .then(|| self.at += word.len())
    }

    /// A JSON string.
    fn string(&mut self) -> Option<JsonStr<'a>> {
        self.eat(b'"')?;
        let b = self.text.as_bytes();
        let start = self.at - 1;
        let mut escaped = false;
        loop {
            self.at += plain_run(&b[self.at..]);
            match *b.get(self.at)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    match *b.get(self.at + 1)? {
                        b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't' => self.at += 2,
                        b'u' => {
                            let hex = b.get(self.at + 2..self.at + 6)?;
                            if !hex.iter().all(u8::is_ascii_hexdigit) {
                                return None;
                            }
                            self.at += 6;
                        }
                        _ => return None,
                    }
                }
                0..=0x1f => return None,
                _ => self.at += 1,
            }
        }
        self.at += 1;
        Some(JsonStr {
            quoted: &self.text[start..self.at],
            escaped,
        })
    }

    /// A field name; `None` for one with escapes (rare, left to the
    /// checking parser).
    fn name(&mut self) -> Option<&'a str> {
        let name = self.string()?.plain()?;
        self.eat(b':')?;
        Some(name)
    }

    /// A JSON integer of 0 or more (no sign, fraction or exponent) that
    /// fits an `i64`. Negative numbers are refused anyway (a partition, a
    /// timestamp), and `-0` is a float to serde_json.
    fn integer(&mut self) -> Option<i64> {
        self.space();
        let b = self.text.as_bytes();
        let start = self.at;
        while b.get(self.at).is_some_and(u8::is_ascii_digit) {
            self.at += 1;
        }
        let n = self.at - start;
        if n == 0 || (n > 1 && b[start] == b'0') {
            return None;
        }
        if matches!(b.get(self.at), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        self.text[start..self.at].parse().ok()
    }

    /// Any JSON value but a string or `null`, as its text: checked by
    /// serde_json, which also says where it ends.
    fn other_value(&mut self) -> Option<&'a str> {
        self.space();
        let rest = &self.text[self.at..];
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<&RawValue>();
        let value = values.next()?.ok()?;
        let end = values.byte_offset();
        self.at += end;
        Some(value.get())
    }

    /// `{` fields `}`, each field read by `field`, which answers `None` to
    /// refuse; a name given twice is refused by the caller's bookkeeping.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            let name = self.name()?;
            field(self, name)?;
            match self.peek()? {
                b',' => self.at += 1,
                b'}' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    /// `[` items `]`, each read by `item`.
    fn array(&mut self, mut item: impl FnMut(&mut Self) -> Option<()>) -> Option<()> {
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            item(self)?;
            match self.peek()? {
                b',' => self.at += 1,
                b']' => {
                    self.at += 1;
                    return Some(());
                }
                _ => return None,
            }
        }
    }

    fn boolean(&mut self) -> Option<bool> {
        match self.peek()? {
            b't' => self.literal("true").map(|()| true),
            b'f' => self.literal("false").map(|()| false),
            _ => None,
        }
    }

    /// A key or value: `null` (none), a string, or any other value.
    fn raw(&mut self) -> Option<Option<Raw<'a>>> {
        match self.peek()? {
            b'n' => self.literal("null").map(|()| None),
            b'"' => self.string().map(|s| Some(Raw::Str(s))),
            _ => {
                let value = self.other_value()?;
                // The checking parser says how deep is too deep.
                (nesting(value) <= MAX_DEPTH).then_some(Some(Raw::Other(value)))
            }
        }
    }

    fn body(&mut self, raw: &Bytes) -> Option<PostRequest> {
        let mut seen = 0u8;
        let mut records = None;
        let mut transaction_id = None;
        let mut asynchronous = false;
        let mut timeout = DEFAULT_TIMEOUT;
        self.object(|r, name| {
            let bit = match name {
                "records" => {
                    records = Some(r.records(raw)?);
                    1
                }
                "transactionId" => {
                    let id = r.string()?.plain()?;
                    check_id(id).ok()?;
                    transaction_id = Some(id.to_string());
                    2
                }
                "async" => {
                    asynchronous = r.boolean()?;
                    4
                }
                "timeout" => {
                    timeout = parse_duration(r.string()?.plain()?).ok()?;
                    8
                }
                _ => return None,
            };
            once(&mut seen, bit)
        })?;
        let records = records.filter(|r| !r.is_empty())?;
        Some(PostRequest {
            records,
            transaction_id,
            asynchronous,
            timeout,
        })
    }

    fn records(&mut self, raw: &Bytes) -> Option<Vec<PostRecord>> {
        let mut out = Vec::new();
        // Records of one request mostly share a topic: check each name
        // once, and share one copy of it.
        let mut last: Option<Arc<str>> = None;
        self.array(|r| {
            let fields = r.record()?;
            let name = fields.topic?;
            let topic = match &last {
                Some(t) if **t == *name => Arc::clone(t),
                _ => {
                    check_topic_name(name).ok()?;
                    let t: Arc<str> = Arc::from(name);
                    last = Some(Arc::clone(&t));
                    t
                }
            };
            out.push(into_record(raw, fields, topic)?);
            Some(())
        })?;
        Some(out)
    }

    fn record(&mut self) -> Option<RecordIn<'a>> {
        let mut seen = 0u8;
        let mut f = RecordIn::default();
        self.object(|r, name| {
            let bit = match name {
                "topic" => {
                    f.topic = Some(r.string()?.plain()?);
                    1
                }
                "partition" => {
                    f.partition = Some(r.integer()?);
                    2
                }
                "keySerializer" => {
                    f.key_serializer = Some(r.string()?.plain()?);
                    4
                }
                "valueSerializer" => {
                    f.value_serializer = Some(r.string()?.plain()?);
                    8
                }
                "key" => {
                    f.key = r.raw()?;
                    16
                }
                "value" => {
                    f.value = r.raw()?;
                    32
                }
                "timestamp" => {
                    f.timestamp = Some(r.integer()?);
                    64
                }
                "headers" => {
                    r.array(|r| {
                        let mut seen = 0u8;
                        let (mut key, mut value) = (None, None);
                        r.object(|r, name| {
                            let bit = match name {
                                "key" => {
                                    key = Some(r.string()?);
                                    1
                                }
                                "value" => {
                                    value = match r.peek()? {
                                        b'n' => r.literal("null").map(|()| None)?,
                                        _ => Some(r.string()?),
                                    };
                                    2
                                }
                                _ => return None,
                            };
                            once(&mut seen, bit)
                        })?;
                        f.headers.push((key?, value));
                        Some(())
                    })?;
                    128
                }
                _ => return None,
            };
            once(&mut seen, bit)
        })?;
        Some(f)
    }
}

/// How many bytes at the start of `b` need no look inside a JSON string:
/// none is a quote, a backslash or a control character. Strings are most
/// of a body, so this is the reader's inner loop: eight bytes at a time, as
/// one `u64` (a library's vectorized search costs more than it saves on
/// strings this short, by callgrind).
fn plain_run(b: &[u8]) -> usize {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    /// The high bit of the first byte equal to zero is set (bytes above it
    /// may be marked wrongly, by the borrow; only the first one counts).
    fn zero_bytes(x: u64) -> u64 {
        x.wrapping_sub(ONES) & !x & HIGH
    }
    let mut n = 0;
    for chunk in b.chunks_exact(8) {
        let x = u64::from_le_bytes(chunk.try_into().expect("8 bytes"));
        let special = zero_bytes(x ^ (ONES * u64::from(b'"')))
            | zero_bytes(x ^ (ONES * u64::from(b'\\')))
            // Below 0x20: subtracting 0x20 borrows, and the byte's high bit was clear.
            | (x.wrapping_sub(ONES * 0x20) & !x & HIGH);
        if special != 0 {
            return n + special.trailing_zeros() as usize / 8;
        }
        n += 8;
    }
    n
}

/// How deeply the arrays and objects of valid JSON `text` nest.
fn nesting(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escape) = (0usize, 0, false, false);
    for c in text.bytes() {
        if in_string {
            match c {
                _ if escape => escape = false,
                b'\\' => escape = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// Marks a field as seen; `None` when it already was (a name given twice).
fn once(seen: &mut u8, bit: u8) -> Option<()> {
    (*seen & bit == 0).then(|| *seen |= bit)
}

/// A record whose topic name is already checked; `raw` is the body it was
/// read from.
fn into_record(raw: &Bytes, r: RecordIn<'_>, topic: Arc<str>) -> Option<PostRecord> {
    let partition = match r.partition {
        None => None,
        Some(p) => Some(i32::try_from(p).ok().filter(|p| *p >= 0)?),
    };
    if r.timestamp.is_some_and(|t| t < 0) {
        return None;
    }
    let format = |name: Option<&str>| match name {
        None => Some(Format::String),
        // The Schema Registry formats go to the checking parser.
        Some(n) => Format::parse(n).filter(|f| !f.needs_schema()),
    };
    let key = serialize(raw, format(r.key_serializer)?, r.key)?;
    let value = serialize(raw, format(r.value_serializer)?, r.value)?;
    let headers = r
        .headers
        .into_iter()
        .map(|(key, value)| {
            let value = match value {
                None => None,
                Some(v) => Some(Bytes::from(STANDARD.decode(v.plain()?).ok()?)),
            };
            Some(Header {
                key: key.bytes(raw)?,
                value,
            })
        })
        .collect::<Option<Vec<_>>>()?;
    Some(PostRecord {
        topic,
        partition,
        key,
        value,
        timestamp: r.timestamp,
        headers,
        key_pending: None,
        value_pending: None,
    })
}

/// Serializes a key or value; a JSON string for the `string` serializer
/// (the common case) is the body's own bytes.
fn serialize(body: &Bytes, format: Format, raw: Option<Raw<'_>>) -> Option<Option<Bytes>> {
    let text = match raw {
        None => return Some(None),
        Some(Raw::Str(s)) if format == Format::String => return s.bytes(body).map(Some),
        Some(Raw::Str(s)) => {
            // Other serializers read the string's value (base64, a number
            // in text): through a JSON value, as the checking parser does.
            let value = Value::String(s.text()?);
            return format.serialize(&value).ok().map(|b| b.map(Bytes::from));
        }
        Some(Raw::Other(text)) => text,
    };
    // Only objects hold keys; values need the same check for names given
    // twice as the body itself.
    if text.starts_with(['{', '[']) {
        unique_keys::check(text.as_bytes()).ok()?;
    }
    let value: Value = serde_json::from_str(text).ok()?;
    format.serialize(&value).ok().map(|b| b.map(Bytes::from))
}

#[cfg(test)]
mod tests {
    use super::plain_run;

    #[test]
    fn a_plain_run_stops_at_the_first_byte_a_string_must_look_at() {
        for special in [b'"', b'\\', 0x00, 0x1f, b'\n'] {
            for at in 0..20 {
                let mut b = vec![b'a'; 20];
                b[at] = special;
                // Bytes that look special only through a borrow come after it.
                for later in b.iter_mut().skip(at + 1) {
                    *later = 0x01;
                }
                assert_eq!(plain_run(&b), at.min(16), "{special:#x} at {at}");
            }
        }
        // Neither DEL nor any byte of a multi-byte character is special.
        let text = "é\u{7f}€😀 !#[]{}~abcdefgh";
        assert_eq!(plain_run(text.as_bytes()), text.len() / 8 * 8);
    }
}
