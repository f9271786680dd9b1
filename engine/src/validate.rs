//! Input checks every backend runs before touching storage, so bad input is a clear
//! `InvalidInput` error and never a panic or a silent truncation.

use crate::{BatchOp, Capabilities, Error, Operation, Result, WriteBatch};

/// Longest keyspace name, in bytes.
pub const MAX_KEYSPACE_NAME_LEN: usize = 64;

/// Checks a key against the backend's limit.
pub fn check_key(caps: &Capabilities, op: Operation, key: &[u8]) -> Result<()> {
    if key.len() > caps.max_key_size {
        return Err(Error::invalid_input(
            op,
            format!(
                "key is {} bytes, the limit is {}",
                key.len(),
                caps.max_key_size
            ),
        )
        .with_key(key));
    }
    Ok(())
}

/// Checks a value against the backend's limit.
pub fn check_value(caps: &Capabilities, op: Operation, key: &[u8], value: &[u8]) -> Result<()> {
    if value.len() > caps.max_value_size {
        return Err(Error::invalid_input(
            op,
            format!(
                "value is {} bytes, the limit is {}",
                value.len(),
                caps.max_value_size
            ),
        )
        .with_key(key));
    }
    Ok(())
}

/// Checks a key and value of a put.
pub fn check_put(caps: &Capabilities, op: Operation, key: &[u8], value: &[u8]) -> Result<()> {
    check_key(caps, op, key)?;
    check_value(caps, op, key, value)
}

/// Checks every operation of a batch; the first bad one fails the whole batch.
pub fn check_batch(caps: &Capabilities, batch: &WriteBatch) -> Result<()> {
    for (index, op) in batch.ops().iter().enumerate() {
        let checked = match op {
            BatchOp::Put { key, value } => check_put(caps, Operation::WriteBatch, key, value),
            BatchOp::Delete { key } => check_key(caps, Operation::WriteBatch, key),
        };
        checked.map_err(|e| e.with_context("batch_index", index))?;
    }
    Ok(())
}

/// Checks a keyspace name: 1 to 64 bytes of ASCII letters, digits, `_`, `-` and `.`.
pub fn check_keyspace_name(name: &str) -> Result<()> {
    let valid_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    if name.is_empty() || name.len() > MAX_KEYSPACE_NAME_LEN || !name.chars().all(valid_char) {
        return Err(Error::invalid_input(
            Operation::Keyspace,
            format!(
                "keyspace names are 1 to {MAX_KEYSPACE_NAME_LEN} ASCII letters, digits, '_', '-' or '.'"
            ),
        )
        .with_context("keyspace", format!("{name:?}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn keyspace_names() {
        assert!(check_keyspace_name("episodes-v2.1_a").is_ok());
        for bad in [
            "",
            "has space",
            "semi;colon",
            "quote'",
            &"x".repeat(65),
            "ünï",
        ] {
            let err = check_keyspace_name(bad).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{bad:?}");
        }
    }

    #[test]
    fn batch_reports_the_bad_index() {
        let caps = Capabilities {
            max_value_size: 4,
            ..Default::default()
        };
        let mut batch = WriteBatch::new();
        batch.put("a", "ok").put("b", "too long");
        let err = check_batch(&caps, &batch).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput);
        assert!(err.to_string().contains("batch_index=1"), "{err}");
    }
}
