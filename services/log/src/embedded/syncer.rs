//! The fsyncs of one write batch, run side by side: the writer thread flushes the first
//! partition itself and hands the others to helper threads. Concurrent flushes of
//! different files share the file system's journal commits and end far sooner than one
//! after the other. The helpers are started on first need and live as long as the
//! writer thread, so a batch costs no thread start.

use std::fs::File;
use std::io;
use std::path::PathBuf;
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;

use super::fsutil::sync_dir;

/// What one partition needs flushed after a batch: the segment files it wrote to, and
/// its directory when the batch created a segment there.
pub(crate) struct SyncTarget {
    pub files: Vec<Arc<File>>,
    pub dir: Option<PathBuf>,
}

impl SyncTarget {
    fn sync(&self) -> io::Result<()> {
        for file in &self.files {
            file.sync_data()?;
        }
        match &self.dir {
            Some(dir) => sync_dir(dir),
            None => Ok(()),
        }
    }
}

struct Job {
    target: SyncTarget,
    done: mpsc::Sender<io::Result<()>>,
}

struct Helper {
    jobs: mpsc::Sender<Job>,
    thread: JoinHandle<()>,
}

impl Helper {
    fn start(number: usize) -> io::Result<Helper> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let thread = std::thread::Builder::new().name(format!("hookline-log-sync-{number}")).spawn(move || {
            for job in queue {
                // The writer waits for every answer it is owed; it is gone only if it died.
                let _ = job.done.send(job.target.sync());
            }
        })?;
        Ok(Helper { jobs, thread })
    }
}

/// The helper threads of the writer thread; dropping it stops and joins them.
#[derive(Default)]
pub(crate) struct Syncer {
    helpers: Vec<Helper>,
}

impl Syncer {
    /// Flushes every target and returns once all are done (also when one failed, so
    /// that nothing is still being flushed when the caller undoes the batch).
    pub fn sync_all(&mut self, targets: Vec<SyncTarget>) -> io::Result<()> {
        let mut targets = targets.into_iter();
        let Some(first) = targets.next() else { return Ok(()) };
        let (done, results) = mpsc::channel();
        let mut outcome = Ok(());
        let mut handed = 0;
        for (index, target) in targets.enumerate() {
            let job = Job { target, done: done.clone() };
            let unsent = match self.helper(index) {
                Some(jobs) => jobs.send(job).err().map(|unsent| unsent.0),
                None => Some(job),
            };
            match unsent {
                None => handed += 1,
                // No helper to take it: flush it here.
                Some(job) => outcome = outcome.and(job.target.sync()),
            }
        }
        drop(done);
        outcome = outcome.and(first.sync());
        for _ in 0..handed {
            let theirs = results.recv().unwrap_or_else(|_| Err(io::Error::other("an fsync helper thread died")));
            outcome = outcome.and(theirs);
        }
        outcome
    }

    /// The job queue of helper `index`, starting helpers up to it if needed; `None` if
    /// one cannot be started.
    fn helper(&mut self, index: usize) -> Option<&mpsc::Sender<Job>> {
        while self.helpers.len() <= index {
            match Helper::start(self.helpers.len()) {
                Ok(helper) => self.helpers.push(helper),
                Err(error) => {
                    tracing::warn!(%error, "cannot start an fsync helper thread, flushing on the writer thread");
                    return None;
                }
            }
        }
        Some(&self.helpers[index].jobs)
    }
}

impl Drop for Syncer {
    fn drop(&mut self) {
        for Helper { jobs, thread } in self.helpers.drain(..) {
            drop(jobs);
            if thread.join().is_err() {
                tracing::error!("fsync helper thread panicked");
            }
        }
    }
}
