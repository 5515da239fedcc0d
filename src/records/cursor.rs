//! Resume cursors: where a read goes on, as an opaque, URL-safe string.
//!
//! A cursor holds, for every partition a read covered, the next offset to
//! read; whether it covers every partition of the topic (then a partition
//! it does not name, added since, is read from its start) or only those it
//! names (a read of one partition); and a checksum of the topic's name, so
//! that a cursor given to another topic is refused rather than read at
//! offsets that mean nothing there.
//!
//! Layout before base64url (no padding): a version byte; a CRC-32C of what
//! follows; the CRC-32C of the topic name; a flags byte (bit 0: every
//! partition); the number of partitions; then per partition, in increasing
//! order, the gap from the previous partition number and the offset, all
//! as LEB128 varints. A 64-partition cursor is about 250 characters.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

const VERSION: u8 = 1;
const EVERY_PARTITION: u8 = 1;

/// Where a read goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor {
    /// The next offset of each partition, by partition number.
    pub positions: Vec<(i32, i64)>,
    /// Whether the read covered every partition of the topic.
    pub every_partition: bool,
}

impl Cursor {
    /// A cursor of `topic` at `positions`.
    pub fn new(mut positions: Vec<(i32, i64)>, every_partition: bool) -> Cursor {
        positions.sort_unstable();
        positions.dedup_by_key(|(p, _)| *p);
        Cursor {
            positions,
            every_partition,
        }
    }

    /// The cursor as text, for `topic`.
    pub fn encode(&self, topic: &str) -> String {
        let mut body = Vec::with_capacity(10 + 6 * self.positions.len());
        body.extend_from_slice(&crc32c::crc32c(topic.as_bytes()).to_be_bytes());
        body.push(if self.every_partition {
            EVERY_PARTITION
        } else {
            0
        });
        put_varint(&mut body, self.positions.len() as u64);
        let mut previous = -1i64;
        for (partition, offset) in &self.positions {
            put_varint(&mut body, (i64::from(*partition) - previous) as u64);
            put_varint(&mut body, (*offset).max(0) as u64);
            previous = i64::from(*partition);
        }
        let mut bytes = Vec::with_capacity(5 + body.len());
        bytes.push(VERSION);
        bytes.extend_from_slice(&crc32c::crc32c(&body).to_be_bytes());
        bytes.extend_from_slice(&body);
        URL_SAFE_NO_PAD.encode(bytes)
    }

    /// The cursor `text` of `topic`; an error says what is wrong with it.
    pub fn decode(text: &str, topic: &str) -> Result<Cursor, String> {
        let damaged = "is not a cursor this service gave (it is damaged or cut short); \
                       use the `next` of a response as it is";
        let bytes = URL_SAFE_NO_PAD
            .decode(text.trim_end_matches('='))
            .map_err(|_| damaged.to_string())?;
        let Some((&version, rest)) = bytes.split_first() else {
            return Err(damaged.into());
        };
        if version != VERSION || rest.len() < 9 {
            return Err(damaged.into());
        }
        let (sum, body) = rest.split_at(4);
        if sum != crc32c::crc32c(body).to_be_bytes() {
            return Err(damaged.into());
        }
        if body[..4] != crc32c::crc32c(topic.as_bytes()).to_be_bytes() {
            return Err(format!(
                "is a cursor of another topic, not of '{topic}'; a cursor resumes the topic it came from"
            ));
        }
        let every_partition = body[4] & EVERY_PARTITION != 0;
        let mut at = &body[5..];
        let count = take_varint(&mut at).ok_or(damaged)?;
        let mut positions = Vec::with_capacity(count.min(100_000) as usize);
        let mut previous = -1i64;
        for _ in 0..count {
            let gap = take_varint(&mut at).ok_or(damaged)?;
            let offset = take_varint(&mut at).ok_or(damaged)?;
            let partition = previous.saturating_add(gap.min(i64::MAX as u64) as i64);
            if gap == 0 || partition > i64::from(i32::MAX) || offset > i64::MAX as u64 {
                return Err(damaged.into());
            }
            positions.push((partition as i32, offset as i64));
            previous = partition;
        }
        if !at.is_empty() {
            return Err(damaged.into());
        }
        Ok(Cursor {
            positions,
            every_partition,
        })
    }

    /// The next offset of `partition`, if the cursor names it.
    pub fn position(&self, partition: i32) -> Option<i64> {
        self.positions
            .binary_search_by_key(&partition, |(p, _)| *p)
            .ok()
            .map(|i| self.positions[i].1)
    }
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn take_varint(at: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = at.split_first()?;
        *at = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_is_url_safe() {
        let c = Cursor::new(vec![(3, 0), (0, 17), (1, i64::MAX), (1_000, 5)], true);
        let text = c.encode("orders");
        assert!(
            text.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{text}"
        );
        assert_eq!(Cursor::decode(&text, "orders").unwrap(), c);
        assert_eq!(c.position(1), Some(i64::MAX));
        assert_eq!(c.position(2), None);
        let one = Cursor::new(vec![(2, 9)], false);
        assert!(
            !Cursor::decode(&one.encode("t"), "t")
                .unwrap()
                .every_partition
        );
    }

    #[test]
    fn a_cursor_of_another_topic_is_refused() {
        let text = Cursor::new(vec![(0, 1)], true).encode("orders");
        let e = Cursor::decode(&text, "payments").unwrap_err();
        assert!(
            e.contains("another topic") && e.contains("'payments'"),
            "{e}"
        );
    }

    #[test]
    fn damaged_cursors_are_refused() {
        let text = Cursor::new(vec![(0, 1), (1, 2)], true).encode("t");
        for bad in [
            "",
            "x",
            "!!!",
            &text[..text.len() - 1],
            &format!("{text}A"),
            &text.replacen(&text[8..9], if &text[8..9] == "A" { "B" } else { "A" }, 1),
        ] {
            let e = Cursor::decode(bad, "t").unwrap_err();
            assert!(e.contains("damaged"), "{bad}: {e}");
        }
    }
}
