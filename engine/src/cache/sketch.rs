//! TinyLFU's frequency estimate: a 4-bit count-min sketch behind a doorkeeper, aged by halving.

/// Estimates how often each key hash was seen recently.
///
/// - A **doorkeeper** (a small Bloom filter) absorbs the first sighting of a key, so one-hit
///   wonders never touch the counters.
/// - A **count-min sketch** of 4-bit counters (four rows) counts later sightings; the estimate is
///   the smallest of the key's four counters plus the doorkeeper's bit.
/// - **Aging**: after `sample_size` recorded sightings every counter is halved and the
///   doorkeeper cleared, so the estimate follows the recent past.
#[derive(Debug, Clone)]
pub struct FrequencySketch {
    counters: Vec<u64>,
    counter_mask: u64,
    door: Vec<u64>,
    door_mask: u64,
    additions: u64,
    sample_size: u64,
}

const SEEDS: [u64; 4] = [
    0x97cb_3127_dd1c_c8c5,
    0xc2b2_ae3d_27d4_eb4f,
    0x1656_67b1_9e37_79f9,
    0xff51_afd7_ed55_8ccd,
];
const RESET_MASK: u64 = 0x7777_7777_7777_7777;

impl FrequencySketch {
    /// A sketch sized for about `expected_entries` resident keys; it ages every
    /// `10 × expected_entries` sightings.
    pub fn new(expected_entries: usize) -> Self {
        // At least 128 entries (a 1,280-request aging period, as in moka and Caffeine), so small
        // caches still remember keys whose reuse distance exceeds their capacity (loops).
        let entries = expected_entries.clamp(128, 1 << 26).next_power_of_two();
        let counters = entries * 4; // four counters per expected key across the rows
        let words = (counters / 16).max(1);
        let door_bits = (entries * 8).max(64);
        FrequencySketch {
            counters: vec![0; words],
            counter_mask: (counters as u64) - 1,
            door: vec![0; door_bits / 64],
            door_mask: (door_bits as u64) - 1,
            additions: 0,
            sample_size: 10 * entries as u64,
        }
    }

    /// The number of sightings between two agings.
    pub fn sample_size(&self) -> u64 {
        self.sample_size
    }

    /// Records one sighting of `hash`.
    pub fn increment(&mut self, hash: u64) {
        if !self.door_insert(hash) {
            // First sighting since the last aging: the doorkeeper remembers it.
        } else {
            let mut changed = false;
            for (row, seed) in SEEDS.iter().enumerate() {
                changed |= self.increment_at(self.index(hash, *seed, row));
            }
            if !changed {
                return;
            }
        }
        self.additions += 1;
        if self.additions >= self.sample_size {
            self.age();
        }
    }

    /// The estimated number of recent sightings of `hash` (0 to 16).
    pub fn frequency(&self, hash: u64) -> u8 {
        let mut min = 15u8;
        for (row, seed) in SEEDS.iter().enumerate() {
            min = min.min(self.counter_at(self.index(hash, *seed, row)));
        }
        min + u8::from(self.door_contains(hash))
    }

    fn index(&self, hash: u64, seed: u64, row: usize) -> u64 {
        let mixed = mix(hash.wrapping_add(seed).wrapping_mul(seed | 1) ^ (row as u64));
        mixed & self.counter_mask
    }

    fn counter_at(&self, index: u64) -> u8 {
        let word = self.counters[(index / 16) as usize];
        ((word >> ((index % 16) * 4)) & 0xF) as u8
    }

    fn increment_at(&mut self, index: u64) -> bool {
        let shift = (index % 16) * 4;
        let word = &mut self.counters[(index / 16) as usize];
        if (*word >> shift) & 0xF == 0xF {
            return false;
        }
        *word += 1 << shift;
        true
    }

    fn door_bits(&self, hash: u64) -> [u64; 2] {
        let h = mix(hash ^ 0x5851_f42d_4c95_7f2d);
        [h & self.door_mask, (h >> 32) & self.door_mask]
    }

    fn door_contains(&self, hash: u64) -> bool {
        self.door_bits(hash)
            .iter()
            .all(|&bit| self.door[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    /// Sets the key's doorkeeper bits; returns whether they were all set already.
    fn door_insert(&mut self, hash: u64) -> bool {
        let mut present = true;
        for bit in self.door_bits(hash) {
            let word = &mut self.door[(bit / 64) as usize];
            present &= *word & (1 << (bit % 64)) != 0;
            *word |= 1 << (bit % 64);
        }
        present
    }

    fn age(&mut self) {
        for word in &mut self.counters {
            *word = (*word >> 1) & RESET_MASK;
        }
        self.door.iter_mut().for_each(|w| *w = 0);
        self.additions /= 2;
    }
}

/// A strong 64-bit finaliser (from SplitMix64), so nearby hashes land far apart.
pub(crate) fn mix(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_repeated_sightings() {
        let mut s = FrequencySketch::new(1024);
        assert_eq!(s.frequency(42), 0);
        s.increment(42);
        assert_eq!(
            s.frequency(42),
            1,
            "the doorkeeper holds the first sighting"
        );
        for _ in 0..5 {
            s.increment(42);
        }
        assert_eq!(s.frequency(42), 6);
        for _ in 0..100 {
            s.increment(42);
        }
        assert_eq!(
            s.frequency(42),
            16,
            "4-bit counters saturate at 15, plus the doorkeeper"
        );
    }

    #[test]
    fn ages_by_halving() {
        let mut s = FrequencySketch::new(1024);
        for _ in 0..9 {
            s.increment(7);
        }
        let before = s.frequency(7);
        assert_eq!(before, 9);
        // Distinct keys push the sketch to its sample size, which halves every counter.
        let mut k = 1_000u64;
        while s.frequency(7) >= before {
            s.increment(mix(k));
            s.increment(mix(k));
            k += 1;
            assert!(k < 1_000_000, "the sketch never aged");
        }
        // 8 counted sightings halve to 4; the doorkeeper bit may be set again by a collision.
        assert!(
            (4..=5).contains(&s.frequency(7)),
            "after aging: {}",
            s.frequency(7)
        );
    }

    #[test]
    fn distinct_keys_rarely_collide() {
        let mut s = FrequencySketch::new(4096);
        for k in 0..2000u64 {
            for _ in 0..3 {
                s.increment(mix(k));
            }
        }
        let overestimates = (0..2000u64).filter(|&k| s.frequency(mix(k)) > 4).count();
        assert!(
            overestimates < 100,
            "{overestimates} of 2000 keys overestimated"
        );
    }
}
