//! The protocol between the crash test and its writer process.
//!
//! The writer (`crash_writer` binary) writes keys `r{round}/w{writer}/{seq}` in order per
//! writer, printing `ack {writer} {seq}` after each acknowledged write and `flushed {writer}
//! {seq}` after a successful flush, then gets killed with SIGKILL at a random moment.

use bytes::Bytes;
use strata::SyncMode;

/// The key a writer writes at a given sequence number.
pub fn crash_key(round: u32, writer: u32, seq: u64) -> Bytes {
    Bytes::from(format!("r{round:03}/w{writer:02}/{seq:08}"))
}

/// The value stored under [`crash_key`]: long enough to span pages, derived from the key so a
/// torn or misplaced value is detected.
pub fn crash_value(round: u32, writer: u32, seq: u64) -> Bytes {
    let seed = format!("{round}:{writer}:{seq};");
    Bytes::from(seed.repeat(40))
}

/// Parses a key written by [`crash_key`] into `(round, writer, seq)`.
pub fn parse_crash_key(key: &[u8]) -> Option<(u32, u32, u64)> {
    let text = std::str::from_utf8(key).ok()?;
    let mut parts = text.split('/');
    let round = parts.next()?.strip_prefix('r')?.parse().ok()?;
    let writer = parts.next()?.strip_prefix('w')?.parse().ok()?;
    let seq = parts.next()?.parse().ok()?;
    parts.next().is_none().then_some((round, writer, seq))
}

/// Encodes a sync mode for the writer's command line.
pub fn mode_arg(mode: SyncMode) -> String {
    match mode {
        SyncMode::Normal { every, .. } => format!("normal:{every}"),
        other => other.name().to_string(),
    }
}

/// Decodes [`mode_arg`].
pub fn parse_mode_arg(arg: &str) -> Option<SyncMode> {
    match arg {
        "full" => Some(SyncMode::Full),
        "checkpoint" => Some(SyncMode::Checkpoint),
        "off" => Some(SyncMode::Off),
        other => other
            .strip_prefix("normal:")?
            .parse()
            .ok()
            .map(SyncMode::normal),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_modes_round_trip() {
        assert_eq!(parse_crash_key(&crash_key(3, 7, 42)), Some((3, 7, 42)));
        assert_eq!(parse_crash_key(b"r001/w01"), None);
        for mode in [
            SyncMode::Full,
            SyncMode::normal(16),
            SyncMode::Checkpoint,
            SyncMode::Off,
        ] {
            assert_eq!(parse_mode_arg(&mode_arg(mode)), Some(mode));
        }
    }
}
