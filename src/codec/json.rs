//! JSON text written directly into a buffer, for the hot path of reads:
//! strings escaped as serde_json escapes them (the same bytes), but with
//! runs of eight bytes that need no escape copied at once.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;

use super::Decoded;

/// Appends `text` as a JSON string: `"`, `\` and control characters escaped
/// (`\b`, `\t`, `\n`, `\f`, `\r`, else `\u00xx`), everything else as is.
pub fn string(out: &mut Vec<u8>, text: &str) {
    escaped(out, text.as_bytes());
}

/// [`string`] of bytes that should be UTF-8 text; when they are not, an
/// error, and `out` as it was. (Checked along the way: text that is all
/// ASCII, the usual case, takes no second pass.)
pub fn utf8_string(out: &mut Vec<u8>, bytes: &[u8]) -> Result<(), std::str::Utf8Error> {
    let at = out.len();
    if !escaped(out, bytes) {
        if let Err(e) = std::str::from_utf8(bytes) {
            out.truncate(at);
            return Err(e);
        }
    }
    Ok(())
}

/// Appends bytes as a JSON string of code points U+0000 to U+00FF, one per
/// byte (how Avro's JSON encoding shows `bytes` and `fixed`).
pub fn latin1_string(out: &mut Vec<u8>, bytes: &[u8]) {
    if bytes.is_ascii() {
        escaped(out, bytes);
        return;
    }
    out.reserve(bytes.len() * 2 + 2);
    out.push(b'"');
    for &b in bytes {
        match b {
            0x80.. => out.extend_from_slice(&[0xc0 | (b >> 6), 0x80 | (b & 0x3f)]),
            b if must_escape(b) => escape(out, b),
            b => out.push(b),
        }
    }
    out.push(b'"');
}

/// Appends `bytes` as a JSON string (escaping only ASCII characters);
/// returns whether they were all ASCII.
fn escaped(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    out.reserve(bytes.len() + 2);
    out.push(b'"');
    if bytes.len() <= SHORT {
        return escaped_short(out, bytes);
    }
    let mut clean = 0;
    let mut i = 0;
    // Every byte looked at, or'ed: its high bits tell whether any was not
    // ASCII.
    let mut seen = 0u64;
    while i < bytes.len() {
        if let Some(word) = bytes.get(i..i + 8) {
            let word = u64::from_le_bytes(word.try_into().expect("eight bytes"));
            seen |= word;
            if !needs_escape(word) {
                i += 8;
                continue;
            }
        }
        let b = bytes[i];
        seen |= u64::from(b);
        if must_escape(b) {
            out.extend_from_slice(&bytes[clean..i]);
            escape(out, b);
            clean = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[clean..]);
    out.push(b'"');
    seen & 0x8080_8080_8080_8080 == 0
}

/// Strings up to this long are copied as they are scanned, eight bytes at
/// a time, rather than by a call to `memcpy` after: most strings in records
/// (names, codes, ids) are this short, and the call cost more than the copy.
const SHORT: usize = 32;

/// [`escaped`] of a short string, after its opening quote.
fn escaped_short(out: &mut Vec<u8>, bytes: &[u8]) -> bool {
    let mut seen = 0u64;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let word: [u8; 8] = word.try_into().expect("eight bytes");
        let w = u64::from_le_bytes(word);
        seen |= w;
        if needs_escape(w) {
            word.iter().for_each(|&b| one(out, b));
        } else {
            out.extend_from_slice(&word);
        }
    }
    for &b in words.remainder() {
        seen |= u64::from(b);
        one(out, b);
    }
    out.push(b'"');
    seen & 0x8080_8080_8080_8080 == 0
}

/// One byte of a string, escaped when it must be.
#[inline]
fn one(out: &mut Vec<u8>, b: u8) {
    if must_escape(b) {
        escape(out, b);
    } else {
        out.push(b);
    }
}

/// Whether JSON needs `b` escaped in a string: `"`, `\` and control
/// characters.
#[inline]
fn must_escape(b: u8) -> bool {
    b < 0x20 || b == b'"' || b == b'\\'
}

/// Whether any of the eight bytes of `word` is `"`, `\` or below 0x20
/// (exact: the classic "has a zero byte" and "has a byte less than n" tests).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let below_space = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    let zero = |x: u64| x.wrapping_sub(ONES) & !x;
    (below_space | zero(quote) | zero(backslash)) & HIGH != 0
}

fn escape(out: &mut Vec<u8>, b: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let short = match b {
        b'"' => b'"',
        b'\\' => b'\\',
        0x08 => b'b',
        0x0c => b'f',
        b'\n' => b'n',
        b'\r' => b'r',
        b'\t' => b't',
        _ => {
            let hex = [HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xf)]];
            out.extend_from_slice(b"\\u00");
            out.extend_from_slice(&hex);
            return;
        }
    };
    out.extend_from_slice(&[b'\\', short]);
}

/// Appends a finite double as ryu's `format_finite` writes it: the shortest
/// text that reads back as `x`, `5.0` for a whole number. Values of up to
/// six decimals below 10⁹ (prices, measures: most doubles in records) are
/// written from their integer of millionths without ryu's search, which
/// was a tenth of an Avro read's time.
pub fn double(out: &mut Vec<u8>, x: f64) {
    match short_decimal(x) {
        Some((millionths, decimals)) => {
            let mut digits = itoa::Buffer::new();
            let digits = digits.format(millionths).as_bytes();
            if x < 0.0 {
                out.push(b'-');
            }
            if decimals == 0 {
                out.extend_from_slice(digits);
                out.extend_from_slice(b".0");
            } else if digits.len() > decimals {
                let (whole, fraction) = digits.split_at(digits.len() - decimals);
                out.extend_from_slice(whole);
                out.push(b'.');
                out.extend_from_slice(fraction);
            } else {
                out.extend_from_slice(b"0.");
                out.extend_from_slice(&b"0000"[..decimals - digits.len()]);
                out.extend_from_slice(digits);
            }
        }
        None => out.extend_from_slice(ryu::Buffer::new().format_finite(x).as_bytes()),
    }
}

/// `|x|` as an integer `m` and a count of decimals `k` (`|x| = m / 10^k`,
/// `m` without trailing zeros when `k > 0`) when that is the shortest text
/// that reads back as `x` and ryu writes it without an exponent; else
/// `None`.
///
/// Why it is the shortest: below 10⁹, `|x|·10⁶ < 10¹⁵`, so the gap between
/// neighbouring doubles is under a fifth of 10⁻⁶ and at most one multiple of
/// 10⁻⁶ reads back as `x`; the rounded product is that multiple when there
/// is one (its error stays under a half); dividing it by 10⁶ (both exact)
/// rounds correctly, so comparing with `|x|` tests that it reads back. The
/// shortest text, having at most six decimals when any multiple of 10⁻⁶
/// reads back, is that one with its trailing zeros dropped.
fn short_decimal(x: f64) -> Option<(u64, usize)> {
    const SCALE: f64 = 1e6;
    let a = x.abs();
    // Not zero (ryu keeps its sign), nor below 10⁻⁵, which ryu writes with
    // an exponent from 0.000001 down.
    if !(1e-5..1e9).contains(&a) {
        return None;
    }
    let scaled = (a * SCALE).round();
    if scaled / SCALE != a {
        return None;
    }
    let (mut m, mut k) = (scaled as u64, 6);
    while k > 0 && m % 10 == 0 {
        m /= 10;
        k -= 1;
    }
    Some((m, k))
}

/// Appends `,"name":n`.
pub fn field_int(out: &mut Vec<u8>, name: &[u8], n: i64) {
    out.reserve(name.len() + 24);
    out.extend_from_slice(b",\"");
    out.extend_from_slice(name);
    out.extend_from_slice(b"\":");
    out.extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
}

/// Appends a decoded key, value or header value as its `Serialize` writes it.
pub fn decoded(out: &mut Vec<u8>, value: &Decoded<'_>) -> serde_json::Result<()> {
    match value {
        Decoded::Null => out.extend_from_slice(b"null"),
        Decoded::Text(text) => string(out, text),
        Decoded::Bytes(bytes) => {
            // Standard base64 needs no escaping.
            let at = out.len() + 1;
            out.resize(
                at + base64::encoded_len(bytes.len(), true).unwrap_or(0) + 1,
                b'"',
            );
            let written = STANDARD
                .encode_slice(bytes, &mut out[at..])
                .expect("room for the base64");
            out.truncate(at + written);
            out.push(b'"');
        }
        Decoded::Int(n) => out.extend_from_slice(itoa::Buffer::new().format(*n).as_bytes()),
        Decoded::JsonText(text) => out.extend_from_slice(text),
        Decoded::F32(_) | Decoded::F64(_) | Decoded::Json(_) | Decoded::Value(_) => {
            serde_json::to_writer(&mut *out, value)?
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ryu_text(x: f64) -> String {
        ryu::Buffer::new().format_finite(x).to_string()
    }

    fn ours_double(x: f64) -> String {
        let mut out = Vec::new();
        double(&mut out, x);
        String::from_utf8(out).expect("UTF-8")
    }

    #[test]
    fn doubles_are_written_as_ryu_writes_them() {
        let mut checked = 0;
        let mut check = |x: f64| {
            assert_eq!(ours_double(x), ryu_text(x), "{x:e}");
            assert_eq!(ours_double(-x), ryu_text(-x), "{:e}", -x);
            checked += 1;
        };
        // Short decimals of every length, as parsed and as computed.
        for k in 0..=9 {
            let p = 10f64.powi(k);
            for m in (0..20_000)
                .chain((0..2_000).map(|i| 999_000_000 * 10i64.pow(k as u32).min(1_000_000) + i))
            {
                check(m as f64 / p);
                check(format!("{m}e-{k}").parse().expect("a number"));
            }
        }
        // Sums that are not short, the edges of the range, and doubles of
        // every magnitude from random bits.
        for x in [
            0.0,
            0.1 + 0.2,
            1e-5,
            9.99999e-6,
            1.5e-5,
            999_999_999.999_999,
            1e9,
            1e9 - 1.0,
            4.9,
            7.7,
            53.1,
            1e15,
            f64::MIN_POSITIVE,
            f64::MAX,
        ] {
            check(x);
        }
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..200_000 {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let x = f64::from_bits(seed);
            if x.is_finite() {
                check(x);
            }
            // And values near the short ones: a random number of millionths.
            check((seed % 1_000_000_000_000_000) as f64 / 1e6);
            check((seed % 100_000_000) as f64 / 100.0);
        }
        assert!(checked > 800_000);
    }

    fn serde(text: &str) -> Vec<u8> {
        serde_json::to_vec(text).unwrap()
    }

    fn ours(text: &str) -> Vec<u8> {
        let mut out = Vec::new();
        string(&mut out, text);
        out
    }

    #[test]
    fn every_character_below_0x80_is_escaped_as_serde_json_does() {
        for c in 0u8..0x80 {
            let c = char::from(c);
            // At every place of strings of every length up to past the
            // short ones (copied as scanned), and beyond a word of eight.
            for len in 1..=SHORT + 9 {
                for at in 0..len {
                    let text: String = (0..len).map(|i| if i == at { c } else { 'a' }).collect();
                    assert_eq!(ours(&text), serde(&text), "{c:?} at {at} of {len}");
                }
            }
            let alone = c.to_string();
            assert_eq!(ours(&alone), serde(&alone), "{c:?}");
        }
    }

    #[test]
    fn mixed_text_is_written_as_serde_json_writes_it() {
        let cases = [
            "",
            "plain ascii text longer than one word",
            "k\u{e9}\"y\n\u{1f600}\\tab\there\u{7f}\u{0}\u{1f}end",
            "\"\"\"\"\"\"\"\"\"",
            "\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}\u{e9}",
        ];
        for text in cases {
            assert_eq!(ours(text), serde(text), "{text:?}");
        }
        // Every byte of many pseudo-random strings.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        for _ in 0..2000 {
            let text: String = (0..(state % 40))
                .map(|_| {
                    state ^= state << 13;
                    state ^= state >> 7;
                    state ^= state << 17;
                    char::from_u32((state % 0x300) as u32).unwrap_or('x')
                })
                .collect();
            assert_eq!(ours(&text), serde(&text), "{text:?}");
        }
    }

    #[test]
    fn bytes_are_checked_as_utf8_while_escaped() {
        for text in [
            "",
            "ascii only, longer than a word",
            "caf\u{e9} \"x\"",
            "\u{1f600}\n",
        ] {
            let mut out = b"[".to_vec();
            utf8_string(&mut out, text.as_bytes()).unwrap();
            assert_eq!(out[1..], serde(text)[..], "{text:?}");
        }
        // Invalid UTF-8 in the first word, in a later word, at the end.
        for bad in [
            &b"\xff ascii after it"[..],
            b"eight ok then \xc3(",
            b"ends badly \xe2\x82",
        ] {
            let mut out = b"[".to_vec();
            assert!(utf8_string(&mut out, bad).is_err(), "{bad:?}");
            assert_eq!(out, b"[", "nothing written for {bad:?}");
        }
    }

    #[test]
    fn bytes_as_code_points_are_the_json_of_one_char_per_byte() {
        let cases: [&[u8]; 4] = [b"", b"plain", b"\x00\x1f\"\\\x7f\x80\xc3\xff", &[0xe9; 20]];
        for bytes in cases {
            let text: String = bytes.iter().map(|&b| char::from(b)).collect();
            let mut out = Vec::new();
            latin1_string(&mut out, bytes);
            assert_eq!(out, serde(&text), "{bytes:?}");
        }
    }

    #[test]
    fn decoded_values_are_written_as_their_serialize_writes_them() {
        let raw = serde_json::value::RawValue::from_string(r#"{"a": [1, 2.50]}"#.into()).unwrap();
        let cases = [
            Decoded::Null,
            Decoded::Text("t\u{e9}xt\n".into()),
            Decoded::Bytes(b""),
            Decoded::Bytes(b"\x00\xff\x10"),
            Decoded::Bytes(b"four"),
            Decoded::Int(i64::MIN),
            Decoded::Int(7),
            Decoded::F32(0.1),
            Decoded::F64(f64::NAN),
            Decoded::Json(&raw),
            Decoded::Value(serde_json::json!({"b": [true, null]})),
            Decoded::JsonText(br#"{"c":{"string":"x"}}"#.to_vec()),
        ];
        for value in &cases {
            let mut out = b"prefix".to_vec();
            decoded(&mut out, value).unwrap();
            let mut want = b"prefix".to_vec();
            want.extend(serde_json::to_vec(value).unwrap());
            assert_eq!(
                String::from_utf8(out).unwrap(),
                String::from_utf8(want).unwrap()
            );
        }
    }
}
