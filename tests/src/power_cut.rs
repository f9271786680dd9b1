//! A simulated power cut for redb: storage whose unsynced writes can be lost, reordered or torn.
//!
//! Killing a process (the SIGKILL crash test) leaves the operating system's page cache intact,
//! so every write the process issued still reaches the disk: such a test cannot tell a store
//! that fsyncs from one that never does. [`PowerCutStorage`] models the page cache itself. It
//! implements [`redb::StorageBackend`] with two layers: a *durable image* (what the disk holds)
//! and, over it, the *volatile* writes and resizes issued since the last
//! [`sync_data`](redb::StorageBackend::sync_data), in order. Reads see both layers;
//! `sync_data` moves the volatile layer into the durable image.
//!
//! [`PowerCutStorage::cut`] takes, atomically with respect to ongoing writes and syncs, the
//! state a power failure at that instant would leave; [`PowerCut::image`] turns it into a disk
//! image according to a [`CutKind`]: none of the volatile writes survive, a random subset of
//! them in a random order, or those up to one that lands only in part (a torn page). Open a
//! store on the image with [`PowerCutStorage::from_image`].
//!
//! A test must read its count of acknowledged writes *before* calling `cut`: a write
//! acknowledged under `SyncMode::Full` was synced before its acknowledgement, hence before the
//! cut, and must be in every image. A cut taken from outside mostly falls between two commits,
//! when nothing is in flight; [`PowerCutStorage::arm`] instead cuts just before the k-th next
//! write, resize or sync, inside a commit, after running a callback that reads those counts.

use std::fmt;
use std::io;
use std::sync::Arc;

use parking_lot::Mutex;
use rand::Rng;
use rand::seq::SliceRandom;

/// Which of the volatile (unsynced) writes reach the disk in a power cut.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum CutKind {
    /// None of them: the disk holds exactly what was last synced.
    LoseUnsynced,
    /// A random subset of them, applied in a random order: a later write may land while an
    /// earlier one does not (the reordered pair), as disks and page caches reorder writes.
    Reordered,
    /// Those before a randomly chosen one, in order, then a random prefix of that one's
    /// bytes: the write torn by the power failure (a torn page).
    Torn,
}

impl CutKind {
    /// Every kind, for tests that try each on the same cut.
    pub const ALL: [CutKind; 3] = [CutKind::LoseUnsynced, CutKind::Reordered, CutKind::Torn];
}

/// One change to the file, as issued to the storage.
#[derive(Clone, Debug)]
enum Op {
    Write { offset: u64, data: Vec<u8> },
    SetLen(u64),
}

impl Op {
    /// Applies the change to `file` the way a file system would: a write past the end extends
    /// the file with zeros first.
    fn apply(&self, file: &mut Vec<u8>) {
        match self {
            Op::Write { offset, data } => write_at(file, *offset, data),
            Op::SetLen(len) => file.resize(*len as usize, 0),
        }
    }
}

fn write_at(file: &mut Vec<u8>, offset: u64, data: &[u8]) {
    let start = offset as usize;
    let end = start + data.len();
    if file.len() < end {
        file.resize(end, 0);
    }
    file[start..end].copy_from_slice(data);
}

/// A cut waiting for the storage's next operations.
struct Trigger {
    ops_left: u64,
    before: Option<Box<dyn FnOnce() + Send>>,
    fired: Option<PowerCut>,
}

/// The disk and the page cache over it.
#[derive(Default)]
struct Disk {
    /// What reads see: the durable image with every volatile change applied.
    current: Vec<u8>,
    /// What survives any power cut.
    durable: Vec<u8>,
    /// Changes since the last sync, oldest first.
    volatile: Vec<Op>,
    /// Completed `sync_data` calls.
    syncs: u64,
    trigger: Option<Trigger>,
}

impl Disk {
    fn issue(&mut self, op: Op) {
        self.tick();
        op.apply(&mut self.current);
        self.volatile.push(op);
    }

    /// Counts one operation against an armed trigger; fires it on the last.
    fn tick(&mut self) {
        let Some(trigger) = self.trigger.as_mut() else {
            return;
        };
        if trigger.fired.is_some() {
            return;
        }
        trigger.ops_left = trigger.ops_left.saturating_sub(1);
        if trigger.ops_left == 0 {
            if let Some(before) = trigger.before.take() {
                before();
            }
            let cut = self.snapshot();
            if let Some(trigger) = self.trigger.as_mut() {
                trigger.fired = Some(cut);
            }
        }
    }

    fn snapshot(&self) -> PowerCut {
        PowerCut {
            durable: self.durable.clone(),
            volatile: self.volatile.clone(),
        }
    }
}

/// A `redb::StorageBackend` in memory whose unsynced writes a simulated power cut can lose,
/// reorder or tear. Clones share one disk: hand one to the store, keep one to take cuts.
#[derive(Clone, Default)]
pub struct PowerCutStorage {
    disk: Arc<Mutex<Disk>>,
}

impl PowerCutStorage {
    /// An empty disk.
    pub fn new() -> Self {
        Self::default()
    }

    /// A disk holding `image`, all of it durable: what the machine finds after a power cut.
    pub fn from_image(image: Vec<u8>) -> Self {
        let disk = Disk {
            current: image.clone(),
            durable: image,
            ..Disk::default()
        };
        PowerCutStorage {
            disk: Arc::new(Mutex::new(disk)),
        }
    }

    /// Cuts the power now: returns what the disk holds and what it may still receive. Holds the
    /// disk's lock, so the cut falls between two writes or syncs, never inside one.
    pub fn cut(&self) -> PowerCut {
        self.disk.lock().snapshot()
    }

    /// Arms a cut just before the `ops`-th next write, resize or sync (1: the next one),
    /// replacing any armed before. `before` runs first, under the disk's lock, so that what it
    /// records (say, acknowledgement counts) precedes the cut; it must not use this storage.
    pub fn arm(&self, ops: u64, before: impl FnOnce() + Send + 'static) {
        self.disk.lock().trigger = Some(Trigger {
            ops_left: ops.max(1),
            before: Some(Box::new(before)),
            fired: None,
        });
    }

    /// Whether the armed cut has happened.
    pub fn fired(&self) -> bool {
        let disk = self.disk.lock();
        disk.trigger.as_ref().is_some_and(|t| t.fired.is_some())
    }

    /// Disarms the trigger, returning its cut if it happened.
    pub fn disarm(&self) -> Option<PowerCut> {
        self.disk.lock().trigger.take().and_then(|t| t.fired)
    }

    /// Completed `sync_data` calls so far.
    pub fn syncs(&self) -> u64 {
        self.disk.lock().syncs
    }

    /// Writes and resizes issued since the last sync.
    pub fn unsynced(&self) -> usize {
        self.disk.lock().volatile.len()
    }
}

impl fmt::Debug for PowerCutStorage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let disk = self.disk.lock();
        f.debug_struct("PowerCutStorage")
            .field("len", &disk.current.len())
            .field("durable_len", &disk.durable.len())
            .field("unsynced", &disk.volatile.len())
            .field("syncs", &disk.syncs)
            .finish()
    }
}

impl redb::StorageBackend for PowerCutStorage {
    fn len(&self) -> io::Result<u64> {
        Ok(self.disk.lock().current.len() as u64)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> io::Result<()> {
        let disk = self.disk.lock();
        let start = usize::try_from(offset).map_err(|_| out_of_range())?;
        let end = start.checked_add(out.len()).ok_or_else(out_of_range)?;
        let bytes = disk.current.get(start..end).ok_or_else(out_of_range)?;
        out.copy_from_slice(bytes);
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.disk.lock().issue(Op::SetLen(len));
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        let mut disk = self.disk.lock();
        disk.tick();
        let Disk {
            durable, volatile, ..
        } = &mut *disk;
        for op in volatile.drain(..) {
            op.apply(durable);
        }
        disk.syncs += 1;
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> io::Result<()> {
        self.disk.lock().issue(Op::Write {
            offset,
            data: data.to_vec(),
        });
        Ok(())
    }
}

fn out_of_range() -> io::Error {
    io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "read past the end of the disk",
    )
}

/// The state of the disk at a power cut: the durable image and the writes still in flight.
#[derive(Clone)]
pub struct PowerCut {
    durable: Vec<u8>,
    volatile: Vec<Op>,
}

impl PowerCut {
    /// Writes and resizes that were issued but not synced when the power went.
    pub fn unsynced(&self) -> usize {
        self.volatile.len()
    }

    /// The disk image the machine finds when it comes back, with the unsynced writes that
    /// `kind` lets through, chosen with `rng`.
    pub fn image(&self, kind: CutKind, rng: &mut impl Rng) -> Vec<u8> {
        let mut image = self.durable.clone();
        match kind {
            CutKind::LoseUnsynced => {}
            CutKind::Reordered => {
                let mut survivors: Vec<&Op> = self
                    .volatile
                    .iter()
                    .filter(|_| rng.random_bool(0.5))
                    .collect();
                survivors.shuffle(rng);
                for op in survivors {
                    op.apply(&mut image);
                }
            }
            CutKind::Torn => {
                if self.volatile.is_empty() {
                    return image;
                }
                let torn = rng.random_range(0..self.volatile.len());
                for op in &self.volatile[..torn] {
                    op.apply(&mut image);
                }
                if let Op::Write { offset, data } = &self.volatile[torn] {
                    let kept = rng.random_range(0..data.len().max(1));
                    write_at(&mut image, *offset, &data[..kept]);
                }
            }
        }
        image
    }
}

impl fmt::Debug for PowerCut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PowerCut")
            .field("durable_len", &self.durable.len())
            .field("unsynced", &self.volatile.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;
    use redb::StorageBackend;

    #[test]
    fn unsynced_writes_are_visible_but_not_durable() {
        let disk = PowerCutStorage::new();
        disk.write(0, b"synced").unwrap();
        disk.sync_data().unwrap();
        disk.write(0, b"SYNCED, then more").unwrap();
        let mut out = [0; 6];
        disk.read(0, &mut out).unwrap();
        assert_eq!(&out, b"SYNCED");
        let cut = disk.cut();
        assert_eq!(cut.unsynced(), 1);
        let mut rng = StdRng::seed_from_u64(7);
        assert_eq!(cut.image(CutKind::LoseUnsynced, &mut rng), b"synced");
        assert_eq!(disk.syncs(), 1);
    }

    #[test]
    fn torn_and_reordered_images_mix_old_and_new_bytes() {
        let disk = PowerCutStorage::new();
        disk.set_len(8).unwrap();
        disk.sync_data().unwrap();
        disk.write(0, b"aaaa").unwrap();
        disk.write(4, b"bbbb").unwrap();
        let cut = disk.cut();
        let mut rng = StdRng::seed_from_u64(1);
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            for kind in CutKind::ALL {
                let image = cut.image(kind, &mut rng);
                assert_eq!(image.len(), 8);
                seen.insert(image);
            }
        }
        // The second write alone (reordered) and a torn first write both show up.
        assert!(seen.contains(b"\0\0\0\0bbbb".as_slice()));
        assert!(seen.contains(b"aa\0\0\0\0\0\0".as_slice()));
        let restored = PowerCutStorage::from_image(b"abc".to_vec());
        assert_eq!(restored.cut().image(CutKind::Torn, &mut rng), b"abc");
    }

    #[test]
    fn an_armed_cut_fires_before_the_kth_operation() {
        let disk = PowerCutStorage::new();
        let ran = Arc::new(Mutex::new(false));
        let flag = ran.clone();
        disk.arm(3, move || *flag.lock() = true);
        disk.write(0, b"one").unwrap();
        disk.sync_data().unwrap();
        assert!(!disk.fired() && !*ran.lock());
        disk.write(0, b"two").unwrap();
        disk.write(0, b"six").unwrap();
        assert!(disk.fired() && *ran.lock());
        let cut = disk.disarm().expect("fired");
        assert_eq!(cut.unsynced(), 0, "cut before the third operation");
        assert_eq!(
            cut.image(CutKind::Reordered, &mut StdRng::seed_from_u64(3)),
            b"one"
        );
        assert!(disk.disarm().is_none());
    }
}
