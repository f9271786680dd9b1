//! Deterministic simulation: three devices, one in-memory server, random schedules of offline
//! edits (same and different keys, puts, deletes, batches), partitions, lost answers,
//! restarts and clock skew (a device hours ahead or behind). After the network heals and every
//! device syncs, all devices and the server must hold, for each key, exactly the write the
//! last-writer-wins rule names among every acknowledged write: the highest
//! `(timestamp, node)`. Schedules are drawn from a seeded generator, so a failure names its
//! seed and replays.
//!
//! `STRATA_SYNC_SCHEDULES` (default 1,000) and `STRATA_SYNC_SEED` choose the run.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use common::{Link, open_device};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use strata::{KeyRange, StorageBackend, WriteBatch};
use strata_sync::{MemoryRemote, SyncedStore};
use strata_turso::RecordVersion;

const DEVICES: usize = 3;
const KEYS: u32 = 5;

struct Device {
    dir: tempfile::TempDir,
    link: Link<MemoryRemote>,
    skew_ms: i64,
    store: Option<SyncedStore<Link<MemoryRemote>>>,
}

impl Device {
    fn store(&self) -> &SyncedStore<Link<MemoryRemote>> {
        self.store.as_ref().expect("open")
    }

    async fn reopen(&mut self) {
        self.store = None; // a clean close: the writer fsyncs, the clock file keeps its mark
        self.store =
            Some(open_device(self.dir.path(), self.link.clone(), self.skew_ms, None).await);
    }
}

/// Every acknowledged write of each key, with the version it was stored at.
type Model = BTreeMap<Bytes, Vec<(RecordVersion, Option<Bytes>)>>;

fn key(k: u32) -> Bytes {
    Bytes::from(format!("key{k}"))
}

async fn run_schedule(seed: u64) -> Result<(), String> {
    let mut rng = StdRng::seed_from_u64(seed);
    let server = MemoryRemote::new();
    let mut devices = Vec::new();
    for d in 0..DEVICES {
        let skew_ms = match rng.random_range(0..4) {
            0 => 3 * 3_600_000,
            1 => -2 * 3_600_000,
            _ => rng.random_range(-500..500),
        };
        // Memory-backed when the machine has it: the simulation is about schedules, not disks.
        let dir = match std::path::Path::new("/dev/shm").is_dir() {
            true => tempfile::tempdir_in("/dev/shm"),
            false => tempfile::tempdir(),
        }
        .map_err(|e| e.to_string())?;
        let link = Link::new(server.clone());
        let store = open_device(dir.path(), link.clone(), skew_ms, None).await;
        let _ = d;
        devices.push(Device {
            dir,
            link,
            skew_ms,
            store: Some(store),
        });
    }
    let mut model: Model = BTreeMap::new();
    let steps = rng.random_range(10..60);
    for step in 0..steps {
        let d = rng.random_range(0..DEVICES);
        match rng.random_range(0..100) {
            0..=44 => {
                let k = key(rng.random_range(0..KEYS));
                let value =
                    (rng.random_range(0..5) != 0).then(|| Bytes::from(format!("d{d}-s{step}")));
                let mut batch = WriteBatch::new();
                match &value {
                    Some(v) => batch.put(k.clone(), v.clone()),
                    None => batch.delete(k.clone()),
                };
                let _ = &batch;
                let store = devices[d].store();
                // Sometimes the write races a sync round of the same device: it lands between
                // the round's push and its acknowledgement, or during its pull.
                let versions = if rng.random_range(0..3) == 0 {
                    let (synced, written) =
                        tokio::join!(store.sync_now(), store.write_versioned(batch));
                    let _ = synced;
                    written
                } else {
                    store.write_versioned(batch).await
                }
                .map_err(|e| format!("local write failed: {e}"))?;
                model.entry(k).or_default().push((versions[0], value));
            }
            45..=54 => {
                let store = devices[d].store();
                let mut batch = WriteBatch::new();
                let mut written = Vec::new();
                for _ in 0..rng.random_range(1..4) {
                    let k = key(rng.random_range(0..KEYS));
                    let v = Bytes::from(format!("d{d}-s{step}-b{}", written.len()));
                    batch.put(k.clone(), v.clone());
                    written.push((k, v));
                }
                let versions = store
                    .write_versioned(batch)
                    .await
                    .map_err(|e| e.to_string())?;
                for ((k, v), version) in written.into_iter().zip(versions) {
                    model.entry(k).or_default().push((version, Some(v)));
                }
            }
            55..=79 => {
                // A sync round: it may fail (cut link, lost answer); that is allowed here.
                if rng.random_range(0..6) == 0 {
                    server.lose_next_answers(1);
                }
                let _ = devices[d].store().sync_now().await;
                server.lose_next_answers(0);
            }
            80..=91 => devices[d].link.set_cut(rng.random_bool(0.5)),
            _ => devices[d].reopen().await,
        }
    }
    // Heal and converge: two passes over every device (the first may bring news the others
    // need to hear), then a third that must change nothing.
    for device in &devices {
        device.link.set_cut(false);
    }
    for _ in 0..2 {
        for device in &devices {
            device
                .store()
                .sync_now()
                .await
                .map_err(|e| format!("final sync failed: {e}"))?;
        }
    }
    check(&server, &devices, &model).await
}

async fn check(server: &MemoryRemote, devices: &[Device], model: &Model) -> Result<(), String> {
    let mut expected_live = Vec::new();
    for (k, writes) in model {
        let (winner, value) = writes.iter().copied_max().ok_or("a key without writes")?;
        let stored = server
            .version(k)
            .ok_or(format!("{k:?} missing on the server"))?;
        if (stored.timestamp, stored.node) != (winner.timestamp, winner.node) {
            return Err(format!(
                "{k:?}: the server holds {stored:?}, the LWW winner is {winner:?}"
            ));
        }
        if let Some(v) = value {
            expected_live.push((k.clone(), v.clone()));
        }
    }
    if server.live() != expected_live {
        return Err(format!(
            "server state {:?} != model {:?}",
            server.live(),
            expected_live
        ));
    }
    for (i, device) in devices.iter().enumerate() {
        let store = device.store();
        let scanned = store
            .scan(KeyRange::all(), None)
            .await
            .map_err(|e| e.to_string())?;
        if scanned != expected_live {
            return Err(format!(
                "device {i} holds {scanned:?}, expected {expected_live:?}"
            ));
        }
        let status = store.sync_status().await.map_err(|e| e.to_string())?;
        if status.pending != 0 {
            return Err(format!("device {i} still has pending writes: {status:?}"));
        }
    }
    Ok(())
}

trait CopiedMax<'a> {
    fn copied_max(self) -> Option<(RecordVersion, &'a Option<Bytes>)>;
}

impl<'a, I: Iterator<Item = &'a (RecordVersion, Option<Bytes>)>> CopiedMax<'a> for I {
    /// The write the LWW rule names: no other is newer.
    fn copied_max(self) -> Option<(RecordVersion, &'a Option<Bytes>)> {
        let mut best: Option<(RecordVersion, &'a Option<Bytes>)> = None;
        for (version, value) in self {
            if best.is_none_or(|(b, _)| version.newer_than(&b)) {
                best = Some((*version, value));
            }
        }
        best
    }
}

#[test]
fn three_devices_converge_to_the_lww_winner_under_random_schedules() {
    let schedules: u64 = std::env::var("STRATA_SYNC_SCHEDULES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000);
    let base: u64 = std::env::var("STRATA_SYNC_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5eed);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let started = std::time::Instant::now();
    for n in 0..schedules {
        let seed = base.wrapping_add(n);
        let outcome = runtime.block_on(async {
            tokio::time::timeout(Duration::from_secs(25), run_schedule(seed)).await
        });
        match outcome {
            Ok(Ok(())) => {}
            Ok(Err(why)) => {
                panic!("schedule {n} (STRATA_SYNC_SEED={seed} STRATA_SYNC_SCHEDULES=1): {why}")
            }
            Err(_) => panic!("schedule {n} (seed {seed}) hung"),
        }
    }
    eprintln!(
        "{schedules} schedules converged in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
