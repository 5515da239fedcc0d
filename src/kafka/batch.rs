//! Kafka's record batch format (magic 2), written and read by hand.
//!
//! The protocol crate's own record type keeps headers in a map, which loses
//! duplicate keys; the API promises every header in stored order, so batches
//! are encoded and decoded here. Decoding also applies read_committed: batches
//! of aborted transactions and control batches are dropped, following the
//! fetch response's list of aborted transactions exactly as Kafka's Java
//! consumer does.

use std::collections::{BinaryHeap, HashSet};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::compression::{Decompressor, Gzip, Lz4, Snappy, Zstd};

use super::error::KafkaError;

/// One record header: a UTF-8 key and optional bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The header's key.
    pub key: Bytes,
    /// The header's value; `None` is a null value.
    pub value: Option<Bytes>,
}

/// A record to write.
#[derive(Debug, Clone)]
pub struct ProduceRecord<'a> {
    /// Serialized key, `None` for null.
    pub key: Option<&'a [u8]>,
    /// Serialized value, `None` for null.
    pub value: Option<&'a [u8]>,
    /// CreateTime in milliseconds since the epoch.
    pub timestamp: i64,
    /// Headers in the order they are stored.
    pub headers: &'a [Header],
}

/// A record read from a partition.
#[derive(Debug, Clone)]
pub struct FetchedRecord {
    /// Offset in the partition.
    pub offset: i64,
    /// Timestamp as stored (CreateTime, or LogAppendTime on such topics).
    pub timestamp: i64,
    /// Key bytes, `None` for null.
    pub key: Option<Bytes>,
    /// Value bytes, `None` for null.
    pub value: Option<Bytes>,
    /// Every header, in stored order, duplicates kept.
    pub headers: Vec<Header>,
    /// The partition leader epoch of the record's batch, if it has one.
    pub leader_epoch: Option<i32>,
}

/// The identity of an idempotent or transactional producer, written into a batch.
#[derive(Debug, Clone, Copy)]
pub struct ProducerState {
    /// Producer id from InitProducerId.
    pub id: i64,
    /// Producer epoch from InitProducerId.
    pub epoch: i16,
    /// Sequence number of the batch's first record.
    pub base_sequence: i32,
    /// Whether the batch belongs to a transaction.
    pub transactional: bool,
}

const MAGIC: i8 = 2;
/// Bytes from the start of a batch to its first record.
const HEADER_LEN: usize = 61;
/// Bytes from the start of a batch to the attributes (the part the CRC covers).
const CRC_START: usize = 21;
const ATTR_COMPRESSION: i16 = 0x07;
const ATTR_LOG_APPEND_TIME: i16 = 0x08;
const ATTR_TRANSACTIONAL: i16 = 0x10;
const ATTR_CONTROL: i16 = 0x20;

/// Encodes `records` as one uncompressed batch. The broker assigns offsets.
///
/// Written into one buffer of the exact size: each record's length is
/// computed before its bytes, so no record is copied twice.
pub fn encode(records: &[ProduceRecord<'_>], producer: Option<ProducerState>) -> Bytes {
    let base_timestamp = records.first().map_or(0, |r| r.timestamp);
    let max_timestamp = records.iter().map(|r| r.timestamp).max().unwrap_or(0);
    let record_len = |delta: usize, r: &ProduceRecord<'_>| {
        record_body_len(
            delta,
            r.timestamp - base_timestamp,
            r.key,
            r.value,
            r.headers,
        )
    };
    let body_len: usize = records
        .iter()
        .enumerate()
        .map(|(delta, r)| {
            let len = record_len(delta, r);
            varlong_len(len as i64) + len
        })
        .sum();

    let mut attributes = 0i16;
    let (producer_id, producer_epoch, base_sequence) = match producer {
        Some(p) => {
            if p.transactional {
                attributes |= ATTR_TRANSACTIONAL;
            }
            (p.id, p.epoch, p.base_sequence)
        }
        None => (-1, -1, -1),
    };
    let mut batch = BytesMut::with_capacity(HEADER_LEN + body_len);
    batch.put_i64(0); // base offset: the broker assigns it
    batch.put_i32((HEADER_LEN - 12 + body_len) as i32);
    batch.put_i32(-1); // partition leader epoch: the broker sets it
    batch.put_i8(MAGIC);
    batch.put_u32(0); // CRC, filled in below
    batch.put_i16(attributes);
    batch.put_i32(records.len() as i32 - 1);
    batch.put_i64(base_timestamp);
    batch.put_i64(max_timestamp);
    batch.put_i64(producer_id);
    batch.put_i16(producer_epoch);
    batch.put_i32(base_sequence);
    batch.put_i32(records.len() as i32);
    for (delta, r) in records.iter().enumerate() {
        put_varint(&mut batch, record_len(delta, r) as i32);
        batch.put_i8(0); // attributes, unused
        put_varlong(&mut batch, r.timestamp - base_timestamp);
        put_varint(&mut batch, delta as i32);
        put_nullable(&mut batch, r.key);
        put_nullable(&mut batch, r.value);
        put_varint(&mut batch, r.headers.len() as i32);
        for h in r.headers {
            put_nullable(&mut batch, Some(&h.key));
            put_nullable(&mut batch, h.value.as_deref());
        }
    }
    debug_assert_eq!(batch.len(), HEADER_LEN + body_len);
    let crc = crc32c::crc32c(&batch[CRC_START..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch.freeze()
}

/// The bytes every batch takes besides its records (what Kafka counts
/// against `max.message.bytes` is the whole batch: this plus each record's
/// [`record_size`]).
pub const BATCH_OVERHEAD: usize = HEADER_LEN;

/// The exact bytes one record takes in a batch (its length prefix
/// included), when it is the batch's `offset_delta`-th record and its
/// timestamp is `timestamp_delta` after the batch's first.
pub fn record_size(
    offset_delta: usize,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    let len = record_body_len(offset_delta, timestamp_delta, key, value, headers);
    varlong_len(len as i64) + len
}

/// A record's bytes after its length prefix.
fn record_body_len(
    offset_delta: usize,
    timestamp_delta: i64,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    headers: &[Header],
) -> usize {
    1 // attributes
        + varlong_len(timestamp_delta)
        + varlong_len(offset_delta as i64)
        + nullable_len(key)
        + nullable_len(value)
        + varlong_len(headers.len() as i64)
        + headers
            .iter()
            .map(|h| nullable_len(Some(&h.key)) + nullable_len(h.value.as_deref()))
            .sum::<usize>()
}

/// How many bytes `put_varlong` writes for `v`.
fn varlong_len(v: i64) -> usize {
    let raw = ((v << 1) ^ (v >> 63)) as u64;
    // 7 bits per byte, at least one byte.
    (64 - (raw | 1).leading_zeros() as usize).div_ceil(7)
}

/// How many bytes `put_nullable` writes for `data`.
fn nullable_len(data: Option<&[u8]>) -> usize {
    match data {
        None => varlong_len(-1),
        Some(d) => varlong_len(d.len() as i64) + d.len(),
    }
}

/// An aborted transaction as listed in a fetch response.
#[derive(Debug, Clone, Copy)]
pub struct AbortedTxn {
    /// The producer that aborted.
    pub producer_id: i64,
    /// The first offset of the aborted transaction.
    pub first_offset: i64,
}

/// What decoding a partition's fetched bytes produced.
#[derive(Debug, Default)]
pub struct Progress {
    /// Offset to fetch next: past every batch looked at (including skipped
    /// control and aborted batches), or past the last record taken when
    /// `max_records` stopped decoding early.
    pub next_offset: Option<i64>,
}

/// Decodes the batches of one partition's fetch response, appending to `out`
/// every committed data record at or after `from_offset`, at most `max_records`.
pub fn decode(
    mut data: Bytes,
    from_offset: i64,
    aborted: &[AbortedTxn],
    max_records: usize,
    out: &mut Vec<FetchedRecord>,
) -> Result<Progress, KafkaError> {
    let mut transactions = AbortedTransactions::new(aborted);
    let mut result = Progress::default();
    let mut taken = 0usize;
    while data.len() >= 12 {
        let batch_len = i32::from_be_bytes([data[8], data[9], data[10], data[11]]);
        if batch_len < (HEADER_LEN - 12) as i32 {
            return Err(corrupt(format!("batch length {batch_len}")));
        }
        let total = 12 + batch_len as usize;
        if data.len() < total {
            break; // the broker cut the last batch at the size limit
        }
        let batch = data.split_to(total);
        let header = BatchHeader::read(&batch)?;
        if header.last_offset < from_offset {
            continue;
        }
        if transactions.hides(&header, &batch)? {
            result.next_offset = Some(header.last_offset + 1);
            continue;
        }
        let room = max_records - taken;
        match take_records(&batch, &header, from_offset, room, out, &mut result)? {
            Taken::Whole(n) => taken += n,
            Taken::Full => return Ok(result),
        }
    }
    Ok(result)
}

/// What a batch's header says.
struct BatchHeader {
    base_offset: i64,
    last_offset: i64,
    leader_epoch: i32,
    attributes: i16,
    base_timestamp: i64,
    max_timestamp: i64,
    producer_id: i64,
    count: i32,
}

impl BatchHeader {
    /// Reads the header of a whole batch, checking its format and CRC.
    fn read(batch: &Bytes) -> Result<BatchHeader, KafkaError> {
        let magic = batch[16] as i8;
        if magic != MAGIC {
            return Err(KafkaError::Protocol(format!(
                "stored batch has message format v{magic}; only v2 (Kafka 0.11 and later) is supported"
            )));
        }
        let mut h = &batch[..HEADER_LEN];
        let base_offset = h.get_i64();
        h.advance(4);
        let leader_epoch = h.get_i32();
        h.advance(1);
        let crc = h.get_u32();
        let attributes = h.get_i16();
        let last_offset = base_offset + i64::from(h.get_i32());
        let base_timestamp = h.get_i64();
        let max_timestamp = h.get_i64();
        let producer_id = h.get_i64();
        h.advance(2 + 4); // producer epoch, base sequence
        let count = h.get_i32();
        if crc32c::crc32c(&batch[CRC_START..]) != crc {
            return Err(corrupt(format!(
                "CRC mismatch in batch at offset {base_offset}"
            )));
        }
        Ok(BatchHeader {
            base_offset,
            last_offset,
            leader_epoch,
            attributes,
            base_timestamp,
            max_timestamp,
            producer_id,
            count,
        })
    }

    fn is_control(&self) -> bool {
        self.attributes & ATTR_CONTROL != 0
    }
}

/// The fetch response's aborted transactions, followed through the batches
/// as Kafka's Java consumer does: a producer's transaction is aborted from
/// its first offset until its abort marker.
struct AbortedTransactions {
    /// Not yet reached, by first offset, smallest first: (first offset, producer).
    pending: BinaryHeap<std::cmp::Reverse<(i64, i64)>>,
    /// Producers whose aborted transaction the batches are inside.
    open: HashSet<i64>,
}

impl AbortedTransactions {
    fn new(aborted: &[AbortedTxn]) -> AbortedTransactions {
        AbortedTransactions {
            pending: aborted
                .iter()
                .map(|a| std::cmp::Reverse((a.first_offset, a.producer_id)))
                .collect(),
            open: HashSet::new(),
        }
    }

    /// Whether a read_committed reader skips this batch: a control batch, or
    /// data of an aborted transaction.
    fn hides(&mut self, header: &BatchHeader, batch: &Bytes) -> Result<bool, KafkaError> {
        let transactional = header.attributes & ATTR_TRANSACTIONAL != 0;
        if header.producer_id >= 0 {
            while let Some(std::cmp::Reverse((first, pid))) = self.pending.peek().copied() {
                if first > header.last_offset {
                    break;
                }
                self.pending.pop();
                self.open.insert(pid);
            }
            if header.is_control() {
                if is_abort_marker(batch, header.attributes)? {
                    self.open.remove(&header.producer_id);
                }
            } else if transactional && self.open.contains(&header.producer_id) {
                return Ok(true);
            }
        }
        Ok(header.is_control())
    }
}

/// How far [`take_records`] got through a batch.
enum Taken {
    /// Every record of the batch was read; this many were taken.
    Whole(usize),
    /// There was no room for the next record.
    Full,
}

/// Appends a data batch's records at or after `from_offset` to `out`, at most
/// `room` of them, and moves `result` past them (past the batch when it read
/// every record).
fn take_records(
    batch: &Bytes,
    header: &BatchHeader,
    from_offset: i64,
    room: usize,
    out: &mut Vec<FetchedRecord>,
    result: &mut Progress,
) -> Result<Taken, KafkaError> {
    let base_offset = header.base_offset;
    let mut records = records_of(batch.slice(HEADER_LEN..), header.attributes)?;
    let log_append_time = header.attributes & ATTR_LOG_APPEND_TIME != 0;
    let epoch = (header.leader_epoch >= 0).then_some(header.leader_epoch);
    let mut taken = 0;
    // Room for the batch's records at once (the count is the broker's word,
    // and the room bounds it).
    out.reserve(usize::try_from(header.count).unwrap_or(0).min(room));
    for _ in 0..header.count {
        let rec = read_record(&mut records, base_offset, header.base_timestamp)
            .ok_or_else(|| corrupt(format!("truncated record in batch at offset {base_offset}")))?;
        if rec.offset < from_offset {
            continue;
        }
        if taken == room {
            return Ok(Taken::Full);
        }
        result.next_offset = Some(rec.offset + 1);
        out.push(FetchedRecord {
            timestamp: if log_append_time {
                header.max_timestamp
            } else {
                rec.timestamp
            },
            leader_epoch: epoch,
            ..rec
        });
        taken += 1;
    }
    result.next_offset = Some(header.last_offset + 1);
    Ok(Taken::Whole(taken))
}

fn corrupt(what: String) -> KafkaError {
    KafkaError::Protocol(format!("corrupt record batch: {what}"))
}

/// The records section of a batch, decompressed.
fn records_of(raw: Bytes, attributes: i16) -> Result<Bytes, KafkaError> {
    let mut raw = raw;
    let out = match attributes & ATTR_COMPRESSION {
        0 => return Ok(raw),
        1 => Gzip::decompress(&mut raw, |b: &mut Bytes| Ok(std::mem::take(b))),
        2 => Snappy::decompress(&mut raw, |b: &mut Bytes| Ok(std::mem::take(b))),
        3 => Lz4::decompress(&mut raw, |b: &mut Bytes| Ok(std::mem::take(b))),
        4 => Zstd::decompress(&mut raw, |b: &mut Bytes| Ok(std::mem::take(b))),
        other => return Err(corrupt(format!("unknown compression type {other}"))),
    };
    out.map_err(|e| corrupt(format!("cannot decompress: {e}")))
}

/// Whether a control batch is a transaction abort marker (control type 0).
fn is_abort_marker(batch: &Bytes, attributes: i16) -> Result<bool, KafkaError> {
    let mut records = records_of(batch.slice(HEADER_LEN..), attributes)?;
    let rec =
        read_record(&mut records, 0, 0).ok_or_else(|| corrupt("empty control batch".into()))?;
    let key = rec
        .key
        .ok_or_else(|| corrupt("control record without key".into()))?;
    if key.len() < 4 {
        return Err(corrupt("short control record key".into()));
    }
    Ok(i16::from_be_bytes([key[2], key[3]]) == 0)
}

fn read_record(buf: &mut Bytes, base_offset: i64, base_timestamp: i64) -> Option<FetchedRecord> {
    let len = get_varint(buf)?;
    if len < 0 || buf.len() < len as usize {
        return None;
    }
    let mut r = buf.split_to(len as usize);
    if r.is_empty() {
        return None;
    }
    r.advance(1); // attributes
    let timestamp = base_timestamp + get_varlong(&mut r)?;
    let offset = base_offset + i64::from(get_varint(&mut r)?);
    let key = get_nullable(&mut r)?;
    let value = get_nullable(&mut r)?;
    let n = get_varint(&mut r)?;
    if n < 0 {
        return None;
    }
    let mut headers = Vec::with_capacity((n as usize).min(64));
    for _ in 0..n {
        let key = get_nullable(&mut r)?.unwrap_or_default();
        let value = get_nullable(&mut r)?;
        headers.push(Header { key, value });
    }
    Some(FetchedRecord {
        offset,
        timestamp,
        key,
        value,
        headers,
        leader_epoch: None,
    })
}

fn get_nullable(buf: &mut Bytes) -> Option<Option<Bytes>> {
    let len = get_varint(buf)?;
    if len < 0 {
        return Some(None);
    }
    if buf.len() < len as usize {
        return None;
    }
    Some(Some(buf.split_to(len as usize)))
}

fn get_varlong(buf: &mut Bytes) -> Option<i64> {
    let mut raw: u64 = 0;
    for shift in (0..70).step_by(7) {
        if buf.is_empty() || shift > 63 {
            return None;
        }
        let b = buf.get_u8();
        raw |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(((raw >> 1) as i64) ^ -((raw & 1) as i64));
        }
    }
    None
}

fn get_varint(buf: &mut Bytes) -> Option<i32> {
    let v = get_varlong(buf)?;
    i32::try_from(v).ok()
}

fn put_varlong(buf: &mut BytesMut, v: i64) {
    let mut raw = ((v << 1) ^ (v >> 63)) as u64;
    while raw >= 0x80 {
        buf.put_u8((raw as u8) | 0x80);
        raw >>= 7;
    }
    buf.put_u8(raw as u8);
}

fn put_varint(buf: &mut BytesMut, v: i32) {
    put_varlong(buf, i64::from(v));
}

fn put_nullable(buf: &mut BytesMut, data: Option<&[u8]>) {
    match data {
        None => put_varint(buf, -1),
        Some(d) => {
            put_varint(buf, d.len() as i32);
            buf.put_slice(d);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(
        key: &str,
        value: Option<&str>,
        ts: i64,
        headers: &[(&str, Option<&str>)],
    ) -> ProduceRecord<'static> {
        // Test records live for the whole test run.
        let leak =
            |s: &str| -> &'static [u8] { Box::leak(s.as_bytes().to_vec().into_boxed_slice()) };
        ProduceRecord {
            key: Some(leak(key)),
            value: value.map(leak),
            timestamp: ts,
            headers: Box::leak(
                headers
                    .iter()
                    .map(|(k, v)| Header {
                        key: Bytes::copy_from_slice(k.as_bytes()),
                        value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                    })
                    .collect::<Vec<_>>()
                    .into_boxed_slice(),
            ),
        }
    }

    /// Sets the base offset of an encoded batch, as the broker does.
    fn at_offset(batch: Bytes, base: i64) -> Bytes {
        let mut b = BytesMut::from(&batch[..]);
        b[0..8].copy_from_slice(&base.to_be_bytes());
        b.freeze()
    }

    #[test]
    fn a_batch_is_its_overhead_plus_each_records_size() {
        let records = [
            rec("k0", Some("v0"), 1000, &[("a", Some("1")), ("n", None)]),
            rec("k1", None, 900, &[]),
            rec("", Some(&"x".repeat(300)), 1_700_000_000_000, &[]),
        ];
        let batch = encode(&records, None);
        let sizes: usize = records
            .iter()
            .enumerate()
            .map(|(n, r)| record_size(n, r.timestamp - 1000, r.key, r.value, r.headers))
            .sum();
        assert_eq!(batch.len(), BATCH_OVERHEAD + sizes);
    }

    #[test]
    fn encoded_batch_decodes_with_headers_in_order_and_duplicates() {
        let batch = encode(
            &[
                rec(
                    "k0",
                    Some("v0"),
                    1000,
                    &[("a", Some("1")), ("a", Some("2")), ("n", None)],
                ),
                rec("k1", None, 900, &[]),
            ],
            None,
        );
        let mut out = Vec::new();
        let d = decode(at_offset(batch, 5), 0, &[], usize::MAX, &mut out).unwrap();
        assert_eq!(d.next_offset, Some(7));
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].offset, 5);
        assert_eq!(out[0].timestamp, 1000);
        assert_eq!(out[1].timestamp, 900, "negative timestamp deltas survive");
        assert_eq!(out[1].value, None);
        let keys: Vec<_> = out[0]
            .headers
            .iter()
            .map(|h| (h.key.clone(), h.value.clone()))
            .collect();
        assert_eq!(
            keys,
            vec![
                (Bytes::from("a"), Some(Bytes::from("1"))),
                (Bytes::from("a"), Some(Bytes::from("2"))),
                (Bytes::from("n"), None),
            ]
        );
        assert_eq!(
            out[0].leader_epoch, None,
            "an unset epoch (-1) is reported as none"
        );
    }

    #[test]
    fn records_before_the_fetch_offset_and_past_the_limit_are_skipped() {
        let batch = at_offset(
            encode(
                &[
                    rec("a", None, 1, &[]),
                    rec("b", None, 1, &[]),
                    rec("c", None, 1, &[]),
                ],
                None,
            ),
            10,
        );
        let mut out = Vec::new();
        let d = decode(batch, 11, &[], 1, &mut out).unwrap();
        assert_eq!(out.iter().map(|r| r.offset).collect::<Vec<_>>(), vec![11]);
        assert_eq!(d.next_offset, Some(12));
    }

    #[test]
    fn a_truncated_trailing_batch_is_ignored_and_a_bad_crc_is_an_error() {
        let batch = at_offset(encode(&[rec("a", Some("x"), 1, &[])], None), 0);
        let mut two = BytesMut::from(&batch[..]);
        two.extend_from_slice(&batch[..batch.len() - 3]);
        let mut out = Vec::new();
        decode(two.freeze(), 0, &[], usize::MAX, &mut out).unwrap();
        assert_eq!(out.len(), 1);

        let mut bad = BytesMut::from(&batch[..]);
        let last = bad.len() - 1;
        bad[last] ^= 0xff;
        assert!(decode(bad.freeze(), 0, &[], usize::MAX, &mut Vec::new()).is_err());
    }

    fn txn_batch(base: i64, pid: i64, n: usize) -> Bytes {
        let records: Vec<_> = (0..n)
            .map(|i| rec(&format!("t{i}"), None, 1, &[]))
            .collect();
        let state = ProducerState {
            id: pid,
            epoch: 0,
            base_sequence: 0,
            transactional: true,
        };
        at_offset(encode(&records, Some(state)), base)
    }

    fn marker(base: i64, pid: i64, commit: bool) -> Bytes {
        let key = [0u8, 0, 0, u8::from(commit)];
        let r = ProduceRecord {
            key: Some(&key),
            value: Some(&[0, 0, 0, 0, 0, 0]),
            timestamp: 1,
            headers: &[],
        };
        let state = ProducerState {
            id: pid,
            epoch: 0,
            base_sequence: -1,
            transactional: true,
        };
        let mut b = BytesMut::from(&encode(&[r], Some(state))[..]);
        b[0..8].copy_from_slice(&base.to_be_bytes());
        let attrs = i16::from_be_bytes([b[21], b[22]]) | ATTR_CONTROL;
        b[21..23].copy_from_slice(&attrs.to_be_bytes());
        let crc = crc32c::crc32c(&b[CRC_START..]);
        b[17..21].copy_from_slice(&crc.to_be_bytes());
        b.freeze()
    }

    #[test]
    fn aborted_transactions_and_control_batches_are_hidden() {
        // offsets 0-1: pid 7 aborted; 2: abort marker; 3-4: pid 8 committed; 5: commit marker;
        // 6-7: pid 7 again, committed this time; 8: commit marker.
        let mut data = BytesMut::new();
        data.extend_from_slice(&txn_batch(0, 7, 2));
        data.extend_from_slice(&marker(2, 7, false));
        data.extend_from_slice(&txn_batch(3, 8, 2));
        data.extend_from_slice(&marker(5, 8, true));
        data.extend_from_slice(&txn_batch(6, 7, 2));
        data.extend_from_slice(&marker(8, 7, true));
        let aborted = [AbortedTxn {
            producer_id: 7,
            first_offset: 0,
        }];
        let mut out = Vec::new();
        let d = decode(data.freeze(), 0, &aborted, usize::MAX, &mut out).unwrap();
        assert_eq!(
            out.iter().map(|r| r.offset).collect::<Vec<_>>(),
            vec![3, 4, 6, 7]
        );
        assert_eq!(d.next_offset, Some(9));
    }

    #[test]
    fn a_read_starting_inside_an_aborted_transaction_hides_its_rest() {
        let mut data = BytesMut::new();
        data.extend_from_slice(&txn_batch(0, 7, 2));
        data.extend_from_slice(&txn_batch(2, 7, 2));
        data.extend_from_slice(&marker(4, 7, false));
        let aborted = [AbortedTxn {
            producer_id: 7,
            first_offset: 0,
        }];
        let mut out = Vec::new();
        decode(data.freeze(), 3, &aborted, usize::MAX, &mut out).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn varints_round_trip_at_the_edges_and_are_as_long_as_computed() {
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            -65,
            8191,
            8192,
            i64::from(i32::MAX),
            i64::from(i32::MIN),
            i64::MAX,
            i64::MIN,
        ] {
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            assert_eq!(varlong_len(v), b.len(), "{v}");
            assert_eq!(get_varlong(&mut b.freeze()), Some(v));
        }
    }
}
