//! NDJSON bodies (`Content-Type: application/x-ndjson`): the decoded body
//! cut into lines as it arrives, each line at most `--max-body-bytes`, so
//! that a body of any size is read holding one line at a time. Each line is
//! then a record for [`super::checked::parse_line`].

use bytes::Bytes;
use hyper::header::{HeaderMap, CONTENT_TYPE};

/// The media type of NDJSON bodies.
pub(crate) const NDJSON: &str = "application/x-ndjson";

/// Whether `headers` say the body is NDJSON (any case, any parameters).
pub(crate) fn is_ndjson(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case(NDJSON))
}

/// A line longer than the limit: its number, from 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LineTooLong(pub(crate) u64);

/// The lines of a body, cut from its pieces as they are pushed.
pub(crate) struct Lines {
    /// The start of the current line, when it spans pieces.
    partial: Vec<u8>,
    /// Bytes pushed and not yet cut into lines.
    pending: Bytes,
    /// The number of the current line, from 1.
    number: u64,
    /// The most bytes a line may have (its newline not counted).
    limit: usize,
}

impl Lines {
    /// No line yet; lines of at most `limit` bytes.
    pub(crate) fn new(limit: usize) -> Lines {
        Lines {
            partial: Vec::new(),
            pending: Bytes::new(),
            number: 1,
            limit,
        }
    }

    /// Adds the next piece of the body. Every line of the previous piece
    /// must have been taken.
    pub(crate) fn push(&mut self, piece: Bytes) {
        debug_assert!(self.pending.is_empty(), "lines left untaken");
        self.pending = piece;
    }

    /// The next whole line of what was pushed, with its number and without
    /// its line end (`\n` or `\r\n`); `None` until more is pushed. A line
    /// that grows past the limit is an error as soon as it does.
    pub(crate) fn next_line(&mut self) -> Result<Option<(u64, Bytes)>, LineTooLong> {
        if self.pending.is_empty() {
            return Ok(None);
        }
        let Some(end) = self.pending.iter().position(|b| *b == b'\n') else {
            // (One byte more may be the \r of a \r\n.)
            if self.partial.len() + self.pending.len() > self.limit + 1 {
                return Err(LineTooLong(self.number));
            }
            self.partial.extend_from_slice(&self.pending);
            self.pending = Bytes::new();
            return Ok(None);
        };
        let rest = self.pending.split_off(end + 1);
        let mut line = std::mem::replace(&mut self.pending, rest);
        line.truncate(end);
        if !self.partial.is_empty() {
            self.partial.extend_from_slice(&line);
            line = Bytes::from(std::mem::take(&mut self.partial));
        }
        self.line(line).map(Some)
    }

    /// The last line, when the body does not end with a line end.
    pub(crate) fn last_line(&mut self) -> Result<Option<(u64, Bytes)>, LineTooLong> {
        if self.partial.is_empty() {
            return Ok(None);
        }
        let line = Bytes::from(std::mem::take(&mut self.partial));
        self.line(line).map(Some)
    }

    fn line(&mut self, mut line: Bytes) -> Result<(u64, Bytes), LineTooLong> {
        let number = self.number;
        if line.last() == Some(&b'\r') {
            line.truncate(line.len() - 1);
        }
        if line.len() > self.limit {
            return Err(LineTooLong(number));
        }
        self.number += 1;
        Ok((number, line))
    }
}

/// Whether a line holds nothing but white space (it is skipped).
pub(crate) fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| matches!(b, b' ' | b'\t' | b'\r'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    /// Every line of `pieces` pushed one after the other, then the last.
    fn cut(pieces: &[&str], limit: usize) -> Result<Vec<(u64, String)>, LineTooLong> {
        let mut lines = Lines::new(limit);
        let mut out = Vec::new();
        let text = |b: Bytes| String::from_utf8(b.to_vec()).unwrap();
        for piece in pieces {
            lines.push(Bytes::copy_from_slice(piece.as_bytes()));
            while let Some((n, line)) = lines.next_line()? {
                out.push((n, text(line)));
            }
        }
        if let Some((n, line)) = lines.last_line()? {
            out.push((n, text(line)));
        }
        Ok(out)
    }

    fn numbered(lines: &[&str]) -> Vec<(u64, String)> {
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| (i as u64 + 1, l.to_string()))
            .collect()
    }

    #[test]
    fn lines_are_cut_wherever_the_pieces_end() {
        let expected = numbered(&["{\"a\":1}", "", "{\"b\":2}", "  ", "{\"c\":3}"]);
        let text = "{\"a\":1}\n\n{\"b\":2}\r\n  \n{\"c\":3}";
        for size in [1, 2, 3, 7, 100] {
            let pieces: Vec<&str> = text
                .as_bytes()
                .chunks(size)
                .map(|c| std::str::from_utf8(c).unwrap())
                .collect();
            assert_eq!(cut(&pieces, 100).unwrap(), expected, "pieces of {size}");
        }
        // A last line end or none: the same lines.
        assert_eq!(cut(&["a\nb\n"], 10).unwrap(), numbered(&["a", "b"]));
        assert_eq!(cut(&["a\nb"], 10).unwrap(), numbered(&["a", "b"]));
        assert_eq!(cut(&[""], 10).unwrap(), numbered(&[]));
    }

    #[test]
    fn a_line_over_the_limit_is_named_as_soon_as_it_passes_it() {
        assert_eq!(cut(&["ab\n", "abcd\n", "x"], 3), Err(LineTooLong(2)));
        // Without its line end it is already too long: no need to wait for it.
        let mut lines = Lines::new(3);
        lines.push(Bytes::from_static(b"ok\nabcde"));
        assert_eq!(lines.next_line().unwrap().unwrap().0, 1);
        assert_eq!(lines.next_line(), Err(LineTooLong(2)));
        // At the limit is fine, its \r\n not counted.
        assert_eq!(
            cut(&["abc\r\n", "abc"], 3).unwrap(),
            numbered(&["abc", "abc"])
        );
        assert_eq!(cut(&["abcd"], 3), Err(LineTooLong(1)));
    }

    #[test]
    fn blank_lines_and_the_media_type() {
        assert!(is_blank(b""));
        assert!(is_blank(b" \t\r"));
        assert!(!is_blank(b" {}"));
        let with = |v: &str| {
            let mut h = HeaderMap::new();
            h.insert(CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
            is_ndjson(&h)
        };
        assert!(with("application/x-ndjson"));
        assert!(with("Application/X-NDJSON; charset=utf-8"));
        assert!(!with("application/json"));
        assert!(!with("application/x-ndjsonx"));
        assert!(!is_ndjson(&HeaderMap::new()));
    }
}
