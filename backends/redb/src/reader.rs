//! Reader threads: the read path without tokio's blocking pool.
//!
//! Handing each read to `spawn_blocking` and opening a read transaction and a table for it
//! cost ~30× the read itself. Here a few threads owned by the store serve reads from a
//! channel. Each keeps one read transaction and the tables it opened, and serves every read
//! from them until the writer publishes a commit — so queued reads share one snapshot and
//! pay for none of it. The writer moves a count before each commit (to odd) and after it (to
//! even), before answering the writes; a reader checks it before every read and reuses its
//! snapshot only if the count is even and unchanged. So a read sent after a write's answer
//! begins a new snapshot (read-your-writes), and no reader keeps an old snapshot while a
//! commit that redb already shows to fresh readers is under way (reads never go back in time).
//!
//! A reader spins briefly for the next read before parking, and drops its snapshot when it
//! parks: an idle snapshot would pin pages the writer could otherwise reuse. No redb call ever
//! runs on a runtime worker; a panic inside redb becomes an error (see `blocking::catch`).

use std::collections::HashMap;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender, TryRecvError};
use redb::{Database, ReadTransaction, ReadableDatabase, TableError};
use strata::{Error, Operation, Result};
use tokio::sync::oneshot;

use crate::activity::{Activity, Kind};
use crate::error::redb_error;
use crate::stats::WriterCounters;
use crate::writer::table_def;

/// A keyspace's table as a reader sees it.
pub(crate) type ReadTable = redb::ReadOnlyTable<&'static [u8], &'static [u8]>;

/// One read, run on a reader thread against its snapshot.
type Job = Box<dyn FnOnce(&mut ReaderSnapshot) + Send>;

/// A reader thread's read transaction and the tables opened in it.
pub(crate) struct ReaderSnapshot {
    db: Arc<Database>,
    counters: Arc<WriterCounters>,
    /// The published-commit count when `txn` began.
    published: u64,
    txn: Option<ReadTransaction>,
    /// `None`: the table does not exist in this snapshot.
    tables: HashMap<Arc<str>, Option<ReadTable>>,
}

impl ReaderSnapshot {
    /// `table` as of the latest published commit: the cached snapshot if nothing was
    /// committed since it began, else a new one.
    fn table(&mut self, op: Operation, table: &Arc<str>) -> Result<Option<&ReadTable>> {
        let published = self.counters.published();
        // Odd: a commit is under way and may already be visible to a fresh snapshot, so no
        // snapshot is reused until it is done.
        if self.txn.is_none() || self.published != published || published % 2 == 1 {
            self.release();
            // Read the count first: a commit landing in between only makes the next read
            // refresh once more.
            self.txn = Some(self.db.begin_read().map_err(|e| redb_error(op, e))?);
            self.published = published;
        }
        if !self.tables.contains_key(table) {
            let txn = self.txn.as_ref().expect("begun above");
            let opened = match txn.open_table(table_def(table)) {
                Ok(t) => Some(t),
                Err(TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(redb_error(op, e)),
            };
            self.tables.insert(table.clone(), opened);
        }
        Ok(self.tables.get(table).and_then(Option::as_ref))
    }

    /// Drops the snapshot (its tables first).
    fn release(&mut self) {
        self.tables.clear();
        self.txn = None;
    }

    /// [`release`](Self::release), with a panic caught: dropping a read transaction locks
    /// redb's tracker, which an earlier panic inside redb may have poisoned, and a reader
    /// thread must not die of it (threads are not replaced).
    fn release_quietly(&mut self) {
        if crate::blocking::catch(Operation::Get, || self.release()).is_err() {
            // The transaction is gone either way; forget what is left of it.
            self.tables = HashMap::new();
            self.txn = None;
        }
    }
}

/// The store's reader threads and the channel feeding them.
pub(crate) struct Readers {
    jobs: Option<Sender<Job>>,
    threads: Vec<JoinHandle<()>>,
    /// Calls in flight on the store: a caller spins for its answer only when alone.
    activity: Arc<Activity>,
}

impl Readers {
    /// Starts `threads` readers (at least one), each spinning `spin` for work before parking.
    pub(crate) fn start(
        db: &Arc<Database>,
        counters: &Arc<WriterCounters>,
        activity: &Arc<Activity>,
        threads: usize,
        spin: Duration,
    ) -> std::io::Result<Self> {
        let (jobs, queue) = crossbeam_channel::unbounded::<Job>();
        let mut handles = Vec::with_capacity(threads.max(1));
        for i in 0..threads.max(1) {
            let snapshot = ReaderSnapshot {
                db: db.clone(),
                counters: counters.clone(),
                published: 0,
                txn: None,
                tables: HashMap::new(),
            };
            let queue = queue.clone();
            let activity = activity.clone();
            handles.push(
                std::thread::Builder::new()
                    .name(format!("strata-redb-reader-{i}"))
                    .spawn(move || serve(snapshot, queue, spin, &activity))?,
            );
        }
        Ok(Readers {
            jobs: Some(jobs),
            threads: handles,
            activity: activity.clone(),
        })
    }

    /// Runs `f` on a reader against `table` in the latest published snapshot (`None` if the
    /// table does not exist there). The caller waits actively for up to `spin` before
    /// parking (spinning when alone on the store, yielding to the runtime otherwise): the
    /// answer usually comes back in about a microsecond, less than parking and waking a task
    /// costs.
    pub(crate) async fn run<T, F>(
        &self,
        op: Operation,
        table: Arc<str>,
        spin: Duration,
        f: F,
    ) -> Result<T>
    where
        F: FnOnce(Option<&ReadTable>) -> Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (reply, mut answer) = oneshot::channel();
        let job: Job = Box::new(move |snapshot: &mut ReaderSnapshot| {
            let result = crate::blocking::catch(op, || f(snapshot.table(op, &table)?))
                .and_then(|inner| inner);
            if result.is_err() {
                // After an error (a panic inside redb above all) start afresh.
                snapshot.release_quietly();
            }
            let _ = reply.send(result);
        });
        let in_flight = self.activity.enter(Kind::Read);
        let gone = || {
            Error::new(
                strata::ErrorKind::Closed,
                op,
                "the store's reader threads have stopped",
            )
            .with_context("backend", "redb")
        };
        self.jobs
            .as_ref()
            .ok_or_else(gone)?
            .send(job)
            .map_err(|_| gone())?;
        // Alone, the caller spins: the answer takes about a microsecond. With company it
        // yields to the runtime between checks, so other tasks on its worker run meanwhile
        // (a thread yield would hold the worker for the whole spin).
        if !spin.is_zero() {
            let until = Instant::now() + spin;
            loop {
                match answer.try_recv() {
                    Ok(result) => return result,
                    Err(oneshot::error::TryRecvError::Closed) => return Err(gone()),
                    Err(oneshot::error::TryRecvError::Empty) if Instant::now() >= until => break,
                    Err(oneshot::error::TryRecvError::Empty) if in_flight.alone() => {
                        std::hint::spin_loop();
                    }
                    Err(oneshot::error::TryRecvError::Empty) => tokio::task::yield_now().await,
                }
            }
        }
        answer.await.map_err(|_| gone())?
    }

    /// Stops the readers and waits for them: they hold the database, which must be released
    /// before the writer can close the file.
    pub(crate) fn stop(&mut self) {
        self.jobs.take();
        let me = std::thread::current().id();
        for thread in self.threads.drain(..) {
            // A read's closure could hold the last handle; a thread cannot join itself.
            if thread.thread().id() != me {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Readers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A reader thread: serves jobs until the channel closes.
fn serve(mut snapshot: ReaderSnapshot, queue: Receiver<Job>, spin: Duration, activity: &Activity) {
    loop {
        let job = match queue.try_recv() {
            Ok(job) => job,
            Err(TryRecvError::Disconnected) => break,
            Err(TryRecvError::Empty) => match spin_for(&queue, spin, activity) {
                Some(job) => job,
                None => {
                    // Idle: let go of the snapshot before parking.
                    snapshot.release_quietly();
                    match queue.recv() {
                        Ok(job) => job,
                        Err(_) => break,
                    }
                }
            },
        };
        job(&mut snapshot);
    }
    snapshot.release_quietly();
}

/// The next job if one arrives within `spin` and no write needs the CPU meanwhile.
fn spin_for(queue: &Receiver<Job>, spin: Duration, activity: &Activity) -> Option<Job> {
    if spin.is_zero() {
        return None;
    }
    let until = Instant::now() + spin;
    loop {
        match queue.try_recv() {
            Ok(job) => return Some(job),
            Err(TryRecvError::Disconnected) => return None,
            Err(TryRecvError::Empty) if activity.writes() > 0 || Instant::now() >= until => {
                return None;
            }
            Err(TryRecvError::Empty) => std::hint::spin_loop(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(db: &Database, counters: Option<&WriterCounters>, key: &[u8], value: &[u8]) {
        if let Some(c) = counters {
            c.begin_commit();
        }
        let txn = db.begin_write().unwrap();
        txn.open_table(table_def("t"))
            .unwrap()
            .insert(key, value)
            .unwrap();
        txn.commit().unwrap();
        if let Some(c) = counters {
            c.end_commit();
        }
    }

    fn read(snapshot: &mut ReaderSnapshot, key: &[u8]) -> Option<Vec<u8>> {
        let table: Arc<str> = Arc::from("t");
        let found = snapshot.table(Operation::Get, &table).unwrap()?;
        found.get(key).unwrap().map(|v| v.value().to_vec())
    }

    #[test]
    fn a_snapshot_is_reused_only_while_no_commit_is_published() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("s.redb")).unwrap());
        let counters = Arc::new(WriterCounters::default());
        let mut snapshot = ReaderSnapshot {
            db: db.clone(),
            counters: counters.clone(),
            published: 0,
            txn: None,
            tables: HashMap::new(),
        };
        // No table yet: the snapshot remembers that.
        assert_eq!(read(&mut snapshot, b"k"), None);
        // A commit the count does not show: the snapshot is reused (this is the saving).
        write(&db, None, b"k", b"unpublished");
        assert_eq!(read(&mut snapshot, b"k"), None);
        // A published commit: the next read begins a new snapshot and sees it.
        write(&db, Some(&counters), b"k", b"v1");
        assert_eq!(read(&mut snapshot, b"k").as_deref(), Some(&b"v1"[..]));
        // While a commit is under way (odd count) nothing is reused: each read starts afresh.
        counters.begin_commit();
        write(&db, None, b"k", b"v2");
        assert_eq!(read(&mut snapshot, b"k").as_deref(), Some(&b"v2"[..]));
        write(&db, None, b"k", b"v3");
        assert_eq!(read(&mut snapshot, b"k").as_deref(), Some(&b"v3"[..]));
        counters.end_commit();
    }

    #[test]
    fn an_idle_reader_stops_spinning_while_a_write_is_in_flight() {
        let (_tx, queue) = crossbeam_channel::unbounded::<Job>();
        let activity = Activity::default();
        let write = activity.enter(Kind::Write);
        let start = Instant::now();
        assert!(spin_for(&queue, Duration::from_secs(2), &activity).is_none());
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
        drop(write);
        let start = Instant::now();
        assert!(spin_for(&queue, Duration::from_millis(30), &activity).is_none());
        assert!(start.elapsed() >= Duration::from_millis(30));
    }

    #[test]
    fn reads_waiting_with_company_leave_the_runtime_free() {
        // One reader thread busy with a slow read; 20 more reads wait behind it with a long
        // spin. They must yield to the runtime, not hold its only worker.
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Database::create(dir.path().join("r.redb")).unwrap());
        let counters = Arc::new(WriterCounters::default());
        let activity = Arc::new(Activity::default());
        let readers =
            Arc::new(Readers::start(&db, &counters, &activity, 1, Duration::ZERO).unwrap());
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let held = rt.block_on(async {
            let slow = {
                let r = readers.clone();
                tokio::spawn(async move {
                    r.run(Operation::Get, Arc::from("t"), Duration::ZERO, |_| {
                        std::thread::sleep(Duration::from_millis(300));
                        Ok(())
                    })
                    .await
                })
            };
            tokio::task::yield_now().await; // the slow read is sent
            let waiting: Vec<_> = (0..20)
                .map(|_| {
                    let r = readers.clone();
                    tokio::spawn(async move {
                        r.run(
                            Operation::Get,
                            Arc::from("t"),
                            Duration::from_millis(5),
                            |_| Ok(()),
                        )
                        .await
                    })
                })
                .collect();
            let start = Instant::now();
            tokio::task::yield_now().await; // every waiting task runs once before this returns
            let held = start.elapsed();
            for w in waiting {
                tokio::time::timeout(Duration::from_secs(10), w)
                    .await
                    .expect("a waiting read finished")
                    .unwrap()
                    .unwrap();
            }
            slow.await.unwrap().unwrap();
            held
        });
        assert!(
            held < Duration::from_millis(40),
            "the worker was held {held:?}"
        );
    }
}
