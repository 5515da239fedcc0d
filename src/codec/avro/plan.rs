//! Reading Avro's binary encoding into its JSON encoding, with the schema
//! compiled beforehand into a plan: every type a node, named types shared
//! (so recursive types are loops of indexes), and the JSON text of field
//! names, union branch names and enum symbols written out once, so that a
//! read only copies them.

use std::collections::HashMap;

use apache_avro::schema::Schema;

use super::MAX_DEPTH;
use crate::codec::json;

/// One type of the schema, as the reader needs it.
#[derive(Debug)]
enum Node {
    Null,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    /// `bytes` and `decimal` on bytes.
    Bytes,
    /// `string` and `uuid`.
    String,
    /// `fixed` (and `duration`, 12 bytes) of this size.
    Fixed(usize),
    /// The enum's full name, and each symbol as a JSON string.
    Enum(String, Vec<Text>),
    /// The node of the items.
    Array(usize),
    /// The node of the values.
    Map(usize),
    /// Per branch: `None` for `null`, else `{"<branch name>":` and its node.
    Union(Vec<Option<(Text, usize)>>),
    /// Per field: `{"<name>":` (the first) or `,"<name>":` and its node.
    Record(Vec<(Text, usize)>),
    /// A name the schema uses without defining it: an error when read.
    Undefined(String),
}

/// A schema compiled for reading; its root is the first node.
#[derive(Debug)]
pub(super) struct Plan {
    nodes: Vec<Node>,
}

impl Plan {
    /// Compiles `root`, whose references name the types in `names`.
    pub(super) fn new(root: &Schema, names: &HashMap<String, Schema>) -> Plan {
        let mut compiler = Compiler {
            names,
            nodes: Vec::new(),
            done: HashMap::new(),
        };
        compiler.node(root);
        Plan {
            nodes: compiler.nodes,
        }
    }

    /// Appends the JSON encoding of the datum at the start of `bytes`;
    /// returns how many bytes it took.
    pub(super) fn read(&self, bytes: &[u8], out: &mut Vec<u8>) -> Result<usize, String> {
        let mut r = Reader {
            bytes,
            pos: 0,
            items_left: bytes.len() as u64 + EMPTY_ITEMS,
        };
        self.read_node(0, &mut r, out, 0)?;
        Ok(r.pos)
    }

    fn read_node(
        &self,
        node: usize,
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), String> {
        if depth > MAX_DEPTH {
            return Err(format!("values nest more than {MAX_DEPTH} deep"));
        }
        match &self.nodes[node] {
            Node::Array(items) => {
                out.push(b'[');
                let mut first = true;
                loop {
                    let n = r.block_count()?;
                    if n == 0 {
                        break;
                    }
                    for _ in 0..n {
                        if !std::mem::take(&mut first) {
                            out.push(b',');
                        }
                        self.read_child(*items, r, out, depth)?;
                    }
                }
                out.push(b']');
            }
            Node::Map(values) => self.read_map(*values, r, out, depth)?,
            Node::Union(branches) => {
                let i = r.long()?;
                let branch = usize::try_from(i)
                    .ok()
                    .and_then(|i| branches.get(i))
                    .ok_or_else(|| format!("{i} is not a branch of the union"))?;
                match branch {
                    None => out.extend_from_slice(b"null"),
                    Some((name, node)) => {
                        name.write(out);
                        self.read_child(*node, r, out, depth)?;
                        out.push(b'}');
                    }
                }
            }
            Node::Record(fields) => {
                if fields.is_empty() {
                    out.push(b'{');
                }
                for (name, node) in fields {
                    name.write(out);
                    self.read_child(*node, r, out, depth)?;
                }
                out.push(b'}');
            }
            Node::Undefined(name) => {
                return Err(format!("the schema names '{name}' without defining it"))
            }
            leaf => read_leaf(leaf, r, out)?,
        }
        Ok(())
    }

    /// A value inside one at `depth`: a leaf read here, anything else by
    /// [`Plan::read_node`] (most values are leaves; this spares them a
    /// call).
    #[inline]
    fn read_child(
        &self,
        node: usize,
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), String> {
        let n = &self.nodes[node];
        if n.is_leaf() {
            read_leaf(n, r, out)
        } else {
            self.read_node(node, r, out, depth + 1)
        }
    }

    /// A map's entries as an object. A key given twice keeps its first
    /// place and its last value, as a JSON object built entry by entry would.
    fn read_map(
        &self,
        values: usize,
        r: &mut Reader<'_>,
        out: &mut Vec<u8>,
        depth: usize,
    ) -> Result<(), String> {
        let mut entries: Vec<(&[u8], Vec<u8>)> = Vec::new();
        let mut places: HashMap<&[u8], usize> = HashMap::new();
        loop {
            let n = r.block_count()?;
            if n == 0 {
                break;
            }
            for _ in 0..n {
                let len = r.len()?;
                let key = r.take(len)?;
                let mut value = Vec::new();
                self.read_node(values, r, &mut value, depth + 1)?;
                match places.get(key) {
                    Some(&at) => entries[at].1 = value,
                    None => {
                        places.insert(key, entries.len());
                        entries.push((key, value));
                    }
                }
            }
        }
        out.push(b'{');
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            json::utf8_string(out, key).map_err(|_| "a map key is not valid UTF-8".to_string())?;
            out.push(b':');
            out.extend_from_slice(value);
        }
        out.push(b'}');
        Ok(())
    }
}

impl Node {
    /// Whether the node holds no other values.
    fn is_leaf(&self) -> bool {
        !matches!(
            self,
            Node::Array(_) | Node::Map(_) | Node::Union(_) | Node::Record(_) | Node::Undefined(_)
        )
    }
}

/// Reads a value of a type that holds no other values.
#[inline]
fn read_leaf(node: &Node, r: &mut Reader<'_>, out: &mut Vec<u8>) -> Result<(), String> {
    match node {
        Node::Null => out.extend_from_slice(b"null"),
        Node::Boolean => match r.byte()? {
            0 => out.extend_from_slice(b"false"),
            1 => out.extend_from_slice(b"true"),
            b => return Err(format!("{b} is not a boolean")),
        },
        Node::Int => {
            let v = r.long()?;
            let v = i32::try_from(v).map_err(|_| format!("{v} is out of range for an int"))?;
            out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        }
        Node::Long => out.extend_from_slice(itoa::Buffer::new().format(r.long()?).as_bytes()),
        Node::Float => {
            let b = r.take(4)?;
            let x = f32::from_le_bytes([b[0], b[1], b[2], b[3]]);
            if x.is_finite() {
                out.extend_from_slice(ryu::Buffer::new().format_finite(x).as_bytes());
            } else {
                non_finite(out, f64::from(x));
            }
        }
        Node::Double => {
            let b = r.take(8)?;
            let x = f64::from_le_bytes(b.try_into().expect("eight bytes"));
            if x.is_finite() {
                json::double(out, x);
            } else {
                non_finite(out, x);
            }
        }
        Node::Bytes => {
            let n = r.len()?;
            json::latin1_string(out, r.take(n)?);
        }
        Node::String => {
            let n = r.len()?;
            json::utf8_string(out, r.take(n)?)
                .map_err(|_| "a string is not valid UTF-8".to_string())?;
        }
        Node::Fixed(size) => json::latin1_string(out, r.take(*size)?),
        Node::Enum(name, symbols) => {
            let i = r.long()?;
            let symbol = usize::try_from(i)
                .ok()
                .and_then(|i| symbols.get(i))
                .ok_or_else(|| format!("{i} is not a symbol of enum {name}"))?;
            symbol.write(out);
        }
        _ => return Err(format!("not a value without parts: {node:?}")),
    }
    Ok(())
}

fn non_finite(out: &mut Vec<u8>, x: f64) {
    out.extend_from_slice(if x.is_nan() {
        b"\"NaN\""
    } else if x > 0.0 {
        b"\"Infinity\""
    } else {
        b"\"-Infinity\""
    });
}

struct Compiler<'s> {
    names: &'s HashMap<String, Schema>,
    nodes: Vec<Node>,
    /// The node of each named type compiled so far (or being compiled).
    done: HashMap<String, usize>,
}

impl Compiler<'_> {
    fn node(&mut self, schema: &Schema) -> usize {
        let named = match schema {
            // A decimal is shown as the type it annotates.
            Schema::Decimal(d) => return self.node(&d.inner),
            Schema::Record(r) => Some(r.name.fullname(None)),
            Schema::Enum(e) => Some(e.name.fullname(None)),
            Schema::Fixed(f) => Some(f.name.fullname(None)),
            Schema::Ref { name } => {
                let full = name.fullname(None);
                if let Some(&at) = self.done.get(&full) {
                    return at;
                }
                return match self.names.get(&full) {
                    Some(defined) if !matches!(defined, Schema::Ref { .. }) => self.node(defined),
                    _ => self.push(Node::Undefined(full)),
                };
            }
            _ => None,
        };
        if let Some(name) = &named {
            if let Some(&at) = self.done.get(name) {
                return at;
            }
        }
        let at = self.push(Node::Null);
        if let Some(name) = named {
            self.done.insert(name, at);
        }
        let node = match schema {
            Schema::Null => Node::Null,
            Schema::Boolean => Node::Boolean,
            Schema::Int | Schema::Date | Schema::TimeMillis => Node::Int,
            Schema::Long
            | Schema::TimeMicros
            | Schema::TimestampMillis
            | Schema::TimestampMicros
            | Schema::TimestampNanos
            | Schema::LocalTimestampMillis
            | Schema::LocalTimestampMicros
            | Schema::LocalTimestampNanos => Node::Long,
            Schema::Float => Node::Float,
            Schema::Double => Node::Double,
            Schema::Bytes | Schema::BigDecimal => Node::Bytes,
            Schema::String | Schema::Uuid => Node::String,
            Schema::Fixed(f) => Node::Fixed(f.size),
            Schema::Duration => Node::Fixed(12),
            Schema::Decimal(_) => unreachable!("returned above"),
            Schema::Enum(e) => Node::Enum(
                e.name.fullname(None),
                e.symbols.iter().map(|s| text(b"", s, b"")).collect(),
            ),
            Schema::Array(a) => Node::Array(self.node(&a.items)),
            Schema::Map(m) => Node::Map(self.node(&m.types)),
            Schema::Union(u) => Node::Union(
                u.variants()
                    .iter()
                    .map(|v| {
                        if matches!(v, Schema::Null) {
                            None
                        } else {
                            let name = text(b"{", &super::branch_name(v), b":");
                            Some((name, self.node(v)))
                        }
                    })
                    .collect(),
            ),
            Schema::Record(r) => Node::Record(
                r.fields
                    .iter()
                    .enumerate()
                    .map(|(i, f)| {
                        let name = text(if i == 0 { b"{" } else { b"," }, &f.name, b":");
                        (name, self.node(&f.schema))
                    })
                    .collect(),
            ),
            Schema::Ref { .. } => unreachable!("returned above"),
        };
        self.nodes[at] = node;
        at
    }

    fn push(&mut self, node: Node) -> usize {
        self.nodes.push(node);
        self.nodes.len() - 1
    }
}

/// `before`, `text` as a JSON string, then `after`.
fn text(before: &[u8], text: &str, after: &[u8]) -> Text {
    let mut out = before.to_vec();
    json::string(&mut out, text);
    out.extend_from_slice(after);
    Text::new(out)
}

/// JSON text a read copies as is: a field's `,"name":`, a union branch's
/// `{"name":`, an enum's symbol. Most are short, and a read copies
/// thousands of them, so one of at most [`Text::INLINE`] bytes is copied as
/// a whole block of that size (a fixed copy the compiler writes out) and
/// the excess cut off, instead of through a call to `memcpy`.
#[derive(Debug)]
struct Text {
    len: usize,
    /// The text, zero-padded, when it fits.
    inline: [u8; Text::INLINE],
    /// The text, when it does not.
    long: Box<[u8]>,
}

impl Text {
    const INLINE: usize = 32;

    fn new(text: Vec<u8>) -> Text {
        let len = text.len();
        let mut inline = [0; Text::INLINE];
        let long = if len <= Text::INLINE {
            inline[..len].copy_from_slice(&text);
            Box::default()
        } else {
            text.into_boxed_slice()
        };
        Text { len, inline, long }
    }

    #[inline]
    fn write(&self, out: &mut Vec<u8>) {
        if self.len <= Text::INLINE {
            let at = out.len();
            out.extend_from_slice(&self.inline);
            out.truncate(at + self.len);
        } else {
            out.extend_from_slice(&self.long);
        }
    }
}

/// Avro's binary data, read from the front.
pub(super) struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// How many more array items and map entries the datum may hold: one
    /// per byte, and [`EMPTY_ITEMS`] more for items that take no bytes
    /// (`null`, an empty record), so that a few bytes cannot claim
    /// millions of them and a datum's JSON stays within a multiple of its
    /// size.
    items_left: u64,
}

/// Array items and map entries a datum may hold beyond one per byte.
const EMPTY_ITEMS: u64 = 1 << 16;

impl<'a> Reader<'a> {
    fn byte(&mut self) -> Result<u8, String> {
        let b = *self.bytes.get(self.pos).ok_or_else(too_short)?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], String> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        let end = end.ok_or_else(too_short)?;
        let b = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(b)
    }

    fn long(&mut self) -> Result<i64, String> {
        // Lengths, branches, symbols and small numbers take one byte.
        if let Some(&b) = self.bytes.get(self.pos) {
            if b < 0x80 {
                self.pos += 1;
                return Ok(i64::from(b >> 1) ^ -i64::from(b & 1));
            }
        }
        let mut z: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            z |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(((z >> 1) as i64) ^ -((z & 1) as i64));
            }
        }
        Err("a variable-length long is longer than 10 bytes".into())
    }

    fn len(&mut self) -> Result<usize, String> {
        let n = self.long()?;
        usize::try_from(n).map_err(|_| format!("a negative length ({n})"))
    }

    /// A block's item count (a negative count is followed by the block's size).
    fn block_count(&mut self) -> Result<u64, String> {
        let n = self.long()?;
        if n < 0 {
            self.long()?;
        }
        let n = n.unsigned_abs();
        self.items_left = self
            .items_left
            .checked_sub(n)
            .ok_or_else(|| format!("a block of {n} items is more than the data can hold"))?;
        Ok(n)
    }
}

fn too_short() -> String {
    "the data ends in the middle of a value".into()
}
