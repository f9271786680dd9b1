//! Reading cache traces in the formats of `shared/traces/README.md`, chosen by extension.
//!
//! - `.lirs`: one integer key per line (trimmed; `*` lines skipped);
//! - `.lis` (ARC): `start_block num_blocks ignored request_no`, keys `start..start+num`;
//! - `.be32` / `.be64`: consecutive big-endian unsigned integers.
//!
//! Any of them may be zstd-compressed (`.zst` suffix).

use std::io::Read;
use std::path::Path;

/// A trace: its name and its sequence of keys.
#[derive(Debug, Clone)]
pub struct Trace {
    /// File name without format and compression suffixes.
    pub name: String,
    /// The requested keys, in order.
    pub keys: Vec<u64>,
}

impl Trace {
    /// Number of distinct keys.
    pub fn distinct(&self) -> usize {
        let mut keys = self.keys.clone();
        keys.sort_unstable();
        keys.dedup();
        keys.len()
    }
}

/// Whether `path` names a trace format this reader understands.
pub fn is_trace(path: &Path) -> bool {
    format_of(path).is_some()
}

fn format_of(path: &Path) -> Option<(&'static str, String)> {
    let name = path.file_name()?.to_str()?;
    let base = name.strip_suffix(".zst").unwrap_or(name);
    for ext in ["lirs", "lis", "be32", "be64"] {
        if let Some(stem) = base.strip_suffix(&format!(".{ext}")) {
            return Some((ext, stem.to_string()));
        }
    }
    None
}

/// Reads and decodes one trace file.
pub fn read_trace(path: &Path) -> Result<Trace, String> {
    let (format, name) =
        format_of(path).ok_or_else(|| format!("{}: unknown trace format", path.display()))?;
    let raw = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let data = if path.extension().is_some_and(|e| e == "zst") {
        let mut out = Vec::new();
        zstd::stream::read::Decoder::new(raw.as_slice())
            .and_then(|mut d| d.read_to_end(&mut out))
            .map_err(|e| format!("{}: zstd: {e}", path.display()))?;
        out
    } else {
        raw
    };
    let keys = parse(format, &data).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(Trace { name, keys })
}

/// Decodes trace bytes of the given format.
pub fn parse(format: &str, data: &[u8]) -> Result<Vec<u64>, String> {
    match format {
        "lirs" => {
            let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
            text.lines()
                .map(str::trim)
                .filter(|l| !l.is_empty() && *l != "*")
                .map(|l| l.parse::<u64>().map_err(|e| format!("bad key {l:?}: {e}")))
                .collect()
        }
        "lis" => {
            let text = std::str::from_utf8(data).map_err(|e| e.to_string())?;
            let mut keys = Vec::new();
            for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
                let mut fields = line.split_whitespace();
                let start: u64 = fields
                    .next()
                    .and_then(|f| f.parse().ok())
                    .ok_or(format!("bad line {line:?}"))?;
                let count: u64 = fields
                    .next()
                    .and_then(|f| f.parse().ok())
                    .ok_or(format!("bad line {line:?}"))?;
                keys.extend(start..start + count);
            }
            Ok(keys)
        }
        "be32" => {
            if !data.len().is_multiple_of(4) {
                return Err("length is not a multiple of 4".into());
            }
            Ok(data
                .chunks_exact(4)
                .map(|c| u64::from(u32::from_be_bytes(c.try_into().unwrap())))
                .collect())
        }
        "be64" => {
            if !data.len().is_multiple_of(8) {
                return Err("length is not a multiple of 8".into());
            }
            Ok(data
                .chunks_exact(8)
                .map(|c| u64::from_be_bytes(c.try_into().unwrap()))
                .collect())
        }
        other => Err(format!("unknown format {other}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_format() {
        assert_eq!(parse("lirs", b" 1\r\n*\n2\n\n3").unwrap(), vec![1, 2, 3]);
        assert_eq!(
            parse("lis", b"10 3 0 1\n5 1 0 2\n").unwrap(),
            vec![10, 11, 12, 5]
        );
        assert_eq!(
            parse("be32", &[0, 0, 1, 0, 0, 0, 0, 7]).unwrap(),
            vec![256, 7]
        );
        assert_eq!(parse("be64", &[0, 0, 0, 0, 0, 0, 1, 0]).unwrap(), vec![256]);
        assert!(parse("be64", &[0; 7]).is_err());
    }

    #[test]
    fn formats_follow_the_extension() {
        assert!(is_trace(Path::new("x/oltp.lis.zst")));
        assert!(is_trace(Path::new("a.be64")));
        assert!(!is_trace(Path::new("README.md")));
        assert_eq!(
            format_of(Path::new("orm-busy.be32.zst")).unwrap(),
            ("be32", "orm-busy".to_string())
        );
    }
}
