//! Bytes in and out of a terminal: keys and values are arbitrary bytes, so each is shown as
//! text only when it is UTF-8 with nothing a terminal would act on, and as hex otherwise.
//! JSON lines (for `--json`, `dump` and `load`) carry `key` / `value` as text, or `key_hex` /
//! `value_hex` when the bytes are not safe text.

use serde_json::{Map, Value};

/// `bytes` as text when it is UTF-8 a terminal shows as it is: no control characters (so no
/// tab or newline, which would fake a field or a line), and no invisible or bidirectional
/// formatting characters (which can make text read as something else).
pub fn safe_text(bytes: &[u8]) -> Option<&str> {
    let text = std::str::from_utf8(bytes).ok()?;
    text.chars()
        .all(|c| !c.is_control() && !is_format(c))
        .then_some(text)
}

/// Unicode format characters a terminal would not show: zero-width ones, direction marks,
/// embeddings, overrides and isolates, the byte-order mark.
fn is_format(c: char) -> bool {
    matches!(c, '\u{00AD}' | '\u{061C}' | '\u{180E}' | '\u{200B}'..='\u{200F}'
        | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// Lowercase hex.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}

/// The bytes of a hex string (either case, even length).
pub fn unhex(text: &str) -> Result<Vec<u8>, String> {
    let text = text.trim();
    let digits: Option<Vec<u8>> = text
        .bytes()
        .map(|b| {
            (b as char)
                .to_digit(16)
                .filter(|_| b.is_ascii())
                .map(|d| d as u8)
        })
        .collect();
    let Some(digits) = digits else {
        return Err(format!("{text:?} is not hex"));
    };
    if digits.len() % 2 != 0 {
        return Err(format!("hex {text:?} has an odd number of digits"));
    }
    Ok(digits
        .chunks(2)
        .map(|pair| (pair[0] << 4) | pair[1])
        .collect())
}

/// `bytes` for one line of plain output: text if safe, else `0x` and hex.
pub fn display(bytes: &[u8]) -> String {
    match safe_text(bytes) {
        Some(text) => text.to_string(),
        None => format!("0x{}", hex(bytes)),
    }
}

/// A command-line argument as bytes: hex when `as_hex`, else its UTF-8.
pub fn argument(text: &str, as_hex: bool) -> Result<Vec<u8>, String> {
    if as_hex {
        unhex(text)
    } else {
        Ok(text.as_bytes().to_vec())
    }
}

/// Adds `bytes` to `object` as `name` (text) or `name_hex`.
fn put_field(object: &mut Map<String, Value>, name: &str, bytes: &[u8]) {
    match safe_text(bytes) {
        Some(text) => object.insert(name.to_string(), Value::String(text.to_string())),
        None => object.insert(format!("{name}_hex"), Value::String(hex(bytes))),
    };
}

/// One entry as a JSON object: `{"keyspace": .., "key"|"key_hex": .., "value"|"value_hex": ..}`
/// (`keyspace` left out when `None`, `value` when the key was not found).
pub fn entry_json(keyspace: Option<&str>, key: &[u8], value: Option<&[u8]>) -> String {
    let mut object = Map::new();
    if let Some(keyspace) = keyspace {
        object.insert("keyspace".into(), Value::String(keyspace.to_string()));
    }
    put_field(&mut object, "key", key);
    if let Some(value) = value {
        put_field(&mut object, "value", value);
    }
    Value::Object(object).to_string()
}

/// Reads `name` or `name_hex` from a JSON object.
fn field(object: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    match (object.get(name), object.get(&format!("{name}_hex"))) {
        (Some(Value::String(text)), None) => Ok(text.as_bytes().to_vec()),
        (None, Some(Value::String(text))) => unhex(text),
        (None, None) => Err(format!("no \"{name}\" or \"{name}_hex\"")),
        _ => Err(format!("\"{name}\" must be one string, as text or hex")),
    }
}

/// One line of a dump: the keyspace (or `default_keyspace` when the line has none), key and
/// value.
pub fn parse_entry(
    line: &str,
    default_keyspace: &str,
) -> Result<(String, Vec<u8>, Vec<u8>), String> {
    let value: Value = serde_json::from_str(line).map_err(|e| format!("not JSON: {e}"))?;
    let Value::Object(object) = value else {
        return Err("not a JSON object".into());
    };
    let keyspace = match object.get("keyspace") {
        None => default_keyspace.to_string(),
        Some(Value::String(name)) => name.clone(),
        Some(_) => return Err("\"keyspace\" must be a string".into()),
    };
    Ok((keyspace, field(&object, "key")?, field(&object, "value")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_shown_as_text_and_anything_else_as_hex() {
        assert_eq!(display(b"hello world"), "hello world");
        assert_eq!(
            display(b"\x1b[2J"),
            "0x1b5b324a",
            "terminal escapes are not printed"
        );
        assert_eq!(display(&[0xff, 0x00]), "0xff00");
        assert_eq!(unhex("FF00").unwrap(), vec![0xff, 0x00]);
        assert!(unhex("abc").is_err());
        assert!(unhex("zz").is_err());
        assert!(
            unhex("aéb").is_err(),
            "not a panic on a multi-byte character"
        );
        assert!(unhex("+f+f").is_err(), "signs are not digits");
        assert_eq!(
            display(b"a\nb\tc"),
            "0x610a620963",
            "no faked lines or fields"
        );
        assert_eq!(
            display("x\u{202E}y".as_bytes()),
            "0x78e280ae79",
            "no bidi override"
        );
    }

    #[test]
    fn an_entry_survives_a_round_trip_through_json_either_way() {
        for (key, value) in [
            (&b"k1"[..], &b"plain"[..]),
            (&[0u8, 159, 146][..], &[7u8, 0][..]),
        ] {
            let line = entry_json(Some("ks"), key, Some(value));
            let (ks, k, v) = parse_entry(&line, "default").unwrap();
            assert_eq!((ks.as_str(), &k[..], &v[..]), ("ks", key, value), "{line}");
        }
        let (ks, _, _) = parse_entry(r#"{"key":"a","value":"b"}"#, "notes").unwrap();
        assert_eq!(ks, "notes");
        assert!(parse_entry(r#"{"key":"a"}"#, "x").is_err());
        assert!(parse_entry(r#"{"key":"a","key_hex":"00","value":"b"}"#, "x").is_err());
    }
}
