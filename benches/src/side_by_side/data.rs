//! The records and request streams: made up front and shared by every store, so no store is
//! timed generating them and all see the same requests.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Zipf};

use super::{Op, Pair};

/// Key length in bytes, as in the trial (24-byte keys).
pub const KEY_LEN: usize = 24;
/// Value length in bytes (150-byte values).
pub const VALUE_LEN: usize = 150;

/// A stateless 64-bit mix (SplitMix64's finaliser): scatters record numbers over the key
/// space, so inserts arrive in random key order, as in redb's benchmark.
pub fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// Record `i`'s key: 8 scattered bytes, then the record number, padded to [`KEY_LEN`].
pub fn key(i: u64) -> Vec<u8> {
    let mut k = Vec::with_capacity(KEY_LEN);
    k.extend_from_slice(&mix(i).to_be_bytes());
    k.extend_from_slice(&i.to_be_bytes());
    k.resize(KEY_LEN, b'k');
    k
}

/// Record `i`'s value, [`VALUE_LEN`] bytes that do not compress to nothing.
pub fn value(i: u64) -> Vec<u8> {
    let mut v = Vec::with_capacity(VALUE_LEN);
    let mut x = i;
    while v.len() < VALUE_LEN {
        x = mix(x);
        v.extend_from_slice(&x.to_le_bytes());
    }
    v.truncate(VALUE_LEN);
    v
}

/// Records `from..to`.
pub fn records(from: u64, to: u64) -> Vec<Pair> {
    (from..to).map(|i| (key(i), value(i))).collect()
}

/// `n` keys of records `0..records`, chosen uniformly.
pub fn uniform_keys(records: u64, n: usize, seed: u64) -> Vec<Vec<u8>> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| key(rng.random_range(0..records))).collect()
}

/// YCSB's mixes: the share of reads, the rest being updates (A, B, C) or read-modify-writes
/// (F).
#[derive(Clone, Copy, Debug)]
pub enum Workload {
    /// 50 % reads, 50 % updates.
    A,
    /// 95 % reads, 5 % updates.
    B,
    /// Reads only.
    C,
    /// 50 % reads, 50 % read-modify-writes.
    F,
}

impl Workload {
    /// All four, in YCSB's order.
    pub const ALL: [Workload; 4] = [Workload::A, Workload::B, Workload::C, Workload::F];

    /// `ycsb-a` and so on.
    pub fn label(self) -> &'static str {
        match self {
            Workload::A => "ycsb-a (50% read, 50% update)",
            Workload::B => "ycsb-b (95% read, 5% update)",
            Workload::C => "ycsb-c (100% read)",
            Workload::F => "ycsb-f (50% read, 50% read-modify-write)",
        }
    }
}

/// `n` operations of `workload` over records `0..records`, keys drawn from Zipf(0.99) and
/// scrambled (YCSB's "scrambled zipfian"), so the hot keys are spread over the key space.
pub fn ycsb_ops(workload: Workload, records: u64, n: usize, seed: u64) -> Vec<Op> {
    let mut rng = StdRng::seed_from_u64(seed);
    let zipf = Zipf::new(records as f64, 0.99).expect("a valid Zipf");
    (0..n)
        .map(|_| {
            let rank = zipf.sample(&mut rng) as u64 - 1;
            let index = (mix(rank ^ 0x5EED) % records) as u32;
            let read: bool = match workload {
                Workload::A | Workload::F => rng.random_bool(0.5),
                Workload::B => rng.random_bool(0.95),
                Workload::C => true,
            };
            match (read, workload) {
                (true, _) => Op::Read(index),
                (false, Workload::F) => Op::ReadModifyWrite(index),
                (false, _) => Op::Update(index),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_distinct_and_sized() {
        let keys: std::collections::HashSet<Vec<u8>> = (0..10_000).map(key).collect();
        assert_eq!(keys.len(), 10_000);
        assert!(keys.iter().all(|k| k.len() == KEY_LEN));
        assert_eq!(value(7).len(), VALUE_LEN);
        assert_ne!(value(7), value(8));
    }

    #[test]
    fn ycsb_mixes_have_their_shares_and_a_hot_set() {
        let ops = ycsb_ops(Workload::B, 100_000, 100_000, 1);
        let reads = ops.iter().filter(|o| matches!(o, Op::Read(_))).count();
        assert!((93_000..97_000).contains(&reads), "{reads}");
        let mut counts = std::collections::HashMap::new();
        for op in &ops {
            let (Op::Read(i) | Op::Update(i) | Op::ReadModifyWrite(i)) = *op;
            *counts.entry(i).or_insert(0u32) += 1;
        }
        // Zipf(0.99): the hottest key takes several percent of all requests.
        let hottest = counts.values().max().copied().unwrap_or(0);
        assert!(hottest > 2_000, "hottest key drew {hottest} of 100,000");
        let f = ycsb_ops(Workload::F, 1_000, 1_000, 2);
        assert!(f.iter().any(|o| matches!(o, Op::ReadModifyWrite(_))));
        assert!(!f.iter().any(|o| matches!(o, Op::Update(_))));
    }
}
