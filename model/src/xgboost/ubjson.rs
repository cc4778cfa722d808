//! A strict decoder for Universal Binary JSON, the format XGBoost ≥ 2.1 saves by default
//! (and what SageMaker's XGBoost container writes as `xgboost-model`).
//!
//! It decodes into `serde_json::Value`, so both model formats share one reader. Model files
//! may be hostile: every length is checked against the bytes left before anything is
//! allocated, nesting is bounded, and every failure is an error, never a panic.

use serde_json::{Map, Number, Value};

const MAX_DEPTH: usize = 64;

pub fn decode(bytes: &[u8]) -> Result<Value, String> {
    let mut reader = Reader { bytes, pos: 0 };
    let value = reader.value(0)?;
    if reader.pos != bytes.len() {
        return Err(format!(
            "{} trailing bytes after the document",
            bytes.len() - reader.pos
        ));
    }
    Ok(value)
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8], String> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|&end| end <= self.bytes.len())
            .ok_or_else(|| format!("unexpected end of data at byte {}", self.pos))?;
        let slice = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(slice)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], String> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn marker(&mut self) -> Result<u8, String> {
        Ok(self.take(1)?[0])
    }

    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        let marker = self.marker()?;
        self.value_of(marker, depth)
    }

    fn value_of(&mut self, marker: u8, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("nesting deeper than {MAX_DEPTH}"));
        }
        Ok(match marker {
            b'Z' => Value::Null,
            b'T' => Value::Bool(true),
            b'F' => Value::Bool(false),
            b'i' | b'U' | b'I' | b'l' | b'L' => Value::from(self.integer(marker)?),
            b'd' => float(f32::from_be_bytes(self.array()?) as f64)?,
            b'D' => float(f64::from_be_bytes(self.array()?))?,
            b'C' => Value::String(char::from(self.marker()?).to_string()),
            b'S' | b'H' => Value::String(self.string()?),
            b'[' => self.array_body(depth)?,
            b'{' => self.object_body(depth)?,
            other => {
                return Err(format!(
                    "unknown type marker 0x{other:02x} at byte {}",
                    self.pos - 1
                ));
            }
        })
    }

    fn integer(&mut self, marker: u8) -> Result<i64, String> {
        Ok(match marker {
            b'i' => i64::from(i8::from_be_bytes(self.array()?)),
            b'U' => i64::from(self.marker()?),
            b'I' => i64::from(i16::from_be_bytes(self.array()?)),
            b'l' => i64::from(i32::from_be_bytes(self.array()?)),
            b'L' => i64::from_be_bytes(self.array()?),
            other => return Err(format!("expected an integer, found marker 0x{other:02x}")),
        })
    }

    fn length(&mut self) -> Result<usize, String> {
        let marker = self.marker()?;
        let n = self.integer(marker)?;
        usize::try_from(n).map_err(|_| format!("negative length {n}"))
    }

    fn string(&mut self) -> Result<String, String> {
        let len = self.length()?;
        let raw = self.take(len)?;
        String::from_utf8(raw.to_vec()).map_err(|_| "a string is not valid UTF-8".to_owned())
    }

    /// Reads the optional `$type` and `#count` of an optimised container.
    fn container_header(&mut self) -> Result<(Option<u8>, Option<usize>), String> {
        let mut element_type = None;
        if self.peek() == Some(b'$') {
            self.pos += 1;
            element_type = Some(self.marker()?);
            if self.peek() != Some(b'#') {
                return Err("a typed container must also give its count".to_owned());
            }
        }
        let mut count = None;
        if self.peek() == Some(b'#') {
            self.pos += 1;
            let n = self.length()?;
            // Each element takes at least one byte unless its type carries no payload;
            // refuse counts the remaining bytes cannot hold before allocating for them.
            let min_size = match element_type {
                Some(b'Z' | b'T' | b'F') => 0,
                _ => 1,
            };
            if n.saturating_mul(min_size) > self.bytes.len() - self.pos {
                return Err(format!(
                    "a container claims {n} elements, more than the file holds"
                ));
            }
            if min_size == 0 && n > self.bytes.len() {
                return Err(format!("a container claims {n} empty elements"));
            }
            count = Some(n);
        }
        Ok((element_type, count))
    }

    fn element(&mut self, element_type: Option<u8>, depth: usize) -> Result<Value, String> {
        match element_type {
            Some(marker) => self.value_of(marker, depth + 1),
            None => self.value(depth + 1),
        }
    }

    fn array_body(&mut self, depth: usize) -> Result<Value, String> {
        let (element_type, count) = self.container_header()?;
        let mut items = Vec::with_capacity(count.unwrap_or(0));
        match count {
            Some(n) => {
                for _ in 0..n {
                    items.push(self.element(element_type, depth)?);
                }
            }
            None => loop {
                match self.peek() {
                    Some(b']') => {
                        self.pos += 1;
                        break;
                    }
                    Some(_) => items.push(self.value(depth + 1)?),
                    None => return Err("unterminated array".to_owned()),
                }
            },
        }
        Ok(Value::Array(items))
    }

    fn object_body(&mut self, depth: usize) -> Result<Value, String> {
        let (element_type, count) = self.container_header()?;
        let mut map = Map::new();
        match count {
            Some(n) => {
                for _ in 0..n {
                    let key = self.string()?;
                    let value = self.element(element_type, depth)?;
                    map.insert(key, value);
                }
            }
            None => loop {
                match self.peek() {
                    Some(b'}') => {
                        self.pos += 1;
                        break;
                    }
                    Some(_) => {
                        let key = self.string()?;
                        let value = self.value(depth + 1)?;
                        map.insert(key, value);
                    }
                    None => return Err("unterminated object".to_owned()),
                }
            },
        }
        Ok(Value::Object(map))
    }
}

fn float(x: f64) -> Result<Value, String> {
    Number::from_f64(x)
        .map(Value::Number)
        .ok_or_else(|| format!("non-finite number {x}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_typed_arrays_and_nested_objects() {
        // {"a": [$d#i2 1.5 -2.0], "b": {"c": "x"}}
        let mut bytes = b"{i\x01a[$d#i\x02".to_vec();
        bytes.extend(1.5f32.to_be_bytes());
        bytes.extend((-2.0f32).to_be_bytes());
        bytes.extend(b"i\x01b{i\x01cSi\x01x}}");
        let value = decode(&bytes).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"a": [1.5, -2.0], "b": {"c": "x"}})
        );
    }

    #[test]
    fn hostile_inputs_are_errors_not_panics() {
        let cases: &[&[u8]] = &[
            b"",
            b"{",
            b"[$d#L\x7f\xff\xff\xff\xff\xff\xff\xff",
            b"[#l\xff\xff\xff\xff",
            b"Si\x05ab",
            b"[$Z#L\x7f\xff\xff\xff\xff\xff\xff\xff",
            &[b'['; 1000],
            b"{i\x01a}",
            b"q",
        ];
        for bytes in cases {
            assert!(decode(bytes).is_err(), "{bytes:?} is refused");
        }
    }
}
