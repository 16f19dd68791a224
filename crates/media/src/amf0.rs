//! AMF0, the value encoding of RTMP commands and FLV metadata: what Pinhole sends (its
//! commands to an RTMP server, a stream's `onMetaData`) and what it reads back (the server's
//! `_result`, `_error` and `onStatus` answers).
//!
//! Reading takes whatever a server sends: every length is checked against what is left, nested
//! objects are limited in depth, and an unknown type is an error, never a panic.

use std::fmt;

/// An AMF0 value. Object and ECMA array keys keep their order.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Boolean(bool),
    String(String),
    Object(Vec<(String, Value)>),
    Null,
    Undefined,
    EcmaArray(Vec<(String, Value)>),
    StrictArray(Vec<Value>),
    /// Milliseconds since the epoch (the time-zone field is ignored, as the spec says).
    Date(f64),
}

impl Value {
    /// A property of an object or ECMA array.
    pub fn get(&self, key: &str) -> Option<&Value> {
        match self {
            Value::Object(p) | Value::EcmaArray(p) => {
                p.iter().find(|(k, _)| k == key).map(|(_, v)| v)
            }
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::String(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Number(n) => Some(*n),
            _ => None,
        }
    }
}

/// Why bytes are not AMF0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The value at this offset runs past the end.
    Truncated(usize),
    /// A type marker Pinhole does not read (references, XML, AMF3, ...).
    UnsupportedType(u8),
    /// Objects nested deeper than [`MAX_DEPTH`].
    TooDeep,
    /// A string that is not UTF-8.
    NotUtf8,
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated(at) => write!(f, "AMF0 value cut short at byte {at}"),
            DecodeError::UnsupportedType(t) => write!(f, "unsupported AMF0 type 0x{t:02x}"),
            DecodeError::TooDeep => write!(f, "AMF0 objects nested deeper than {MAX_DEPTH}"),
            DecodeError::NotUtf8 => f.write_str("AMF0 string is not UTF-8"),
        }
    }
}

impl std::error::Error for DecodeError {}

/// How deep objects may nest in what a server sends.
pub const MAX_DEPTH: usize = 16;

const NUMBER: u8 = 0x00;
const BOOLEAN: u8 = 0x01;
const STRING: u8 = 0x02;
const OBJECT: u8 = 0x03;
const NULL: u8 = 0x05;
const UNDEFINED: u8 = 0x06;
const ECMA_ARRAY: u8 = 0x08;
const OBJECT_END: u8 = 0x09;
const STRICT_ARRAY: u8 = 0x0a;
const DATE: u8 = 0x0b;
const LONG_STRING: u8 = 0x0c;

/// Appends `v` to `out`.
pub fn encode(v: &Value, out: &mut Vec<u8>) {
    match v {
        Value::Number(n) => {
            out.push(NUMBER);
            out.extend_from_slice(&n.to_be_bytes());
        }
        Value::Boolean(b) => out.extend_from_slice(&[BOOLEAN, u8::from(*b)]),
        Value::String(s) => match u16::try_from(s.len()) {
            Ok(len) => {
                out.push(STRING);
                out.extend_from_slice(&len.to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            Err(_) => {
                out.push(LONG_STRING);
                // Longer than 4 GiB cannot be held by a Value's String on any target this runs on.
                out.extend_from_slice(&(s.len() as u32).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
        },
        Value::Object(props) => {
            out.push(OBJECT);
            encode_properties(props, out);
        }
        Value::Null => out.push(NULL),
        Value::Undefined => out.push(UNDEFINED),
        Value::EcmaArray(props) => {
            out.push(ECMA_ARRAY);
            out.extend_from_slice(&(props.len() as u32).to_be_bytes());
            encode_properties(props, out);
        }
        Value::StrictArray(items) => {
            out.push(STRICT_ARRAY);
            out.extend_from_slice(&(items.len() as u32).to_be_bytes());
            for i in items {
                encode(i, out);
            }
        }
        Value::Date(ms) => {
            out.push(DATE);
            out.extend_from_slice(&ms.to_be_bytes());
            out.extend_from_slice(&[0, 0]);
        }
    }
}

fn encode_properties(props: &[(String, Value)], out: &mut Vec<u8>) {
    for (k, v) in props {
        // Keys are Pinhole's own short names.
        let key = &k.as_bytes()[..k.len().min(usize::from(u16::MAX))];
        out.extend_from_slice(&(key.len() as u16).to_be_bytes());
        out.extend_from_slice(key);
        encode(v, out);
    }
    out.extend_from_slice(&[0, 0, OBJECT_END]);
}

/// Every value in `bytes`, in order (a command's name, transaction id, and arguments).
pub fn decode_all(bytes: &[u8]) -> Result<Vec<Value>, DecodeError> {
    let mut r = Reader { bytes, at: 0 };
    let mut values = Vec::new();
    while r.at < bytes.len() {
        values.push(r.value(0)?);
    }
    Ok(values)
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or(DecodeError::Truncated(self.at))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16, DecodeError> {
        let b = self.take(2)?;
        Ok(u16::from_be_bytes([b[0], b[1]]))
    }

    fn u32(&mut self) -> Result<u32, DecodeError> {
        let b = self.take(4)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn f64(&mut self) -> Result<f64, DecodeError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(f64::from_be_bytes(a))
    }

    fn utf8(&mut self, n: usize) -> Result<String, DecodeError> {
        let b = self.take(n)?;
        std::str::from_utf8(b)
            .map(str::to_string)
            .map_err(|_| DecodeError::NotUtf8)
    }

    fn short_string(&mut self) -> Result<String, DecodeError> {
        let n = self.u16()?;
        self.utf8(usize::from(n))
    }

    fn properties(&mut self, depth: usize) -> Result<Vec<(String, Value)>, DecodeError> {
        let mut props = Vec::new();
        loop {
            let key = self.short_string()?;
            if key.is_empty() && self.bytes.get(self.at) == Some(&OBJECT_END) {
                self.at += 1;
                return Ok(props);
            }
            let v = self.value(depth + 1)?;
            props.push((key, v));
        }
    }

    fn value(&mut self, depth: usize) -> Result<Value, DecodeError> {
        if depth > MAX_DEPTH {
            return Err(DecodeError::TooDeep);
        }
        Ok(match self.u8()? {
            NUMBER => Value::Number(self.f64()?),
            BOOLEAN => Value::Boolean(self.u8()? != 0),
            STRING => Value::String(self.short_string()?),
            LONG_STRING => {
                let n = self.u32()?;
                let n = usize::try_from(n).map_err(|_| DecodeError::Truncated(self.at))?;
                Value::String(self.utf8(n)?)
            }
            OBJECT => Value::Object(self.properties(depth)?),
            NULL => Value::Null,
            UNDEFINED => Value::Undefined,
            ECMA_ARRAY => {
                // The count is a hint that servers get wrong; the end marker ends it.
                self.u32()?;
                Value::EcmaArray(self.properties(depth)?)
            }
            STRICT_ARRAY => {
                let n = self.u32()?;
                let mut items = Vec::new();
                for _ in 0..n {
                    // Each item takes at least one byte: a bogus count ends at the data's end.
                    items.push(self.value(depth + 1)?);
                }
                Value::StrictArray(items)
            }
            DATE => {
                let ms = self.f64()?;
                self.take(2)?;
                Value::Date(ms)
            }
            t => return Err(DecodeError::UnsupportedType(t)),
        })
    }
}

/// An object from `(key, value)` pairs.
pub fn object<const N: usize>(props: [(&str, Value); N]) -> Value {
    Value::Object(props.into_iter().map(|(k, v)| (k.to_string(), v)).collect())
}

/// A string value.
pub fn string(s: &str) -> Value {
    Value::String(s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(v: Value) {
        let mut b = Vec::new();
        encode(&v, &mut b);
        assert_eq!(decode_all(&b), Ok(vec![v]));
    }

    #[test]
    fn values_round_trip() {
        round_trip(Value::Number(1.5));
        round_trip(Value::Boolean(true));
        round_trip(string("onStatus"));
        round_trip(Value::Null);
        round_trip(Value::Undefined);
        round_trip(Value::Date(1.0e12));
        round_trip(Value::String("x".repeat(70_000)));
        round_trip(Value::StrictArray(vec![Value::Number(1.0), Value::Null]));
        round_trip(object([
            ("level", string("error")),
            ("code", string("NetStream.Publish.BadName")),
            ("nested", object([("n", Value::Number(2.0))])),
        ]));
        round_trip(Value::EcmaArray(vec![(
            "width".into(),
            Value::Number(1280.0),
        )]));
    }

    #[test]
    fn the_wire_form_is_the_specs() {
        let mut b = Vec::new();
        encode(&string("connect"), &mut b);
        encode(&Value::Number(1.0), &mut b);
        encode(&object([("app", string("live"))]), &mut b);
        assert_eq!(
            b,
            [
                &[0x02, 0, 7][..],
                b"connect",
                &[0x00, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0],
                &[0x03, 0, 3],
                b"app",
                &[0x02, 0, 4],
                b"live",
                &[0, 0, 9]
            ]
            .concat()
        );
    }

    #[test]
    fn a_command_reads_back_with_its_arguments() {
        let mut b = Vec::new();
        for v in [
            string("_result"),
            Value::Number(4.0),
            Value::Null,
            Value::Number(1.0),
        ] {
            encode(&v, &mut b);
        }
        let v = decode_all(&b).unwrap();
        assert_eq!(v[0].as_str(), Some("_result"));
        assert_eq!(v[3].as_f64(), Some(1.0));
    }

    #[test]
    fn bad_input_is_an_error() {
        assert_eq!(
            decode_all(&[0x02, 0, 5, b'a']),
            Err(DecodeError::Truncated(3))
        );
        assert_eq!(decode_all(&[0x11]), Err(DecodeError::UnsupportedType(0x11)));
        assert_eq!(decode_all(&[0x02, 0, 1, 0xff]), Err(DecodeError::NotUtf8));
        assert!(
            decode_all(&[0x03, 0, 1, b'k']).is_err(),
            "an object cut short"
        );
        assert!(
            decode_all(&[0x0a, 0xff, 0xff, 0xff, 0xff, 0x05]).is_err(),
            "a strict array claiming more items than there are"
        );
        // Objects nested past the limit.
        let mut deep = Vec::new();
        for _ in 0..=MAX_DEPTH + 1 {
            deep.extend_from_slice(&[0x03, 0, 1, b'k']);
        }
        deep.push(0x05);
        assert_eq!(decode_all(&deep), Err(DecodeError::TooDeep));
    }
}
