//! The data directory's disk: how much the filesystem holding it has free (read at
//! scrape time, one `statvfs`), and how much the directory itself holds (the embedded
//! log and views; walked every so often, not per scrape). With these an operator sees
//! the disk filling before the retention settings free any of it.

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::registry::{Collector, FamilySnapshot, Kind};

/// The data directory's disk, as a collector.
pub struct DataDisk {
    dir: PathBuf,
    /// Bytes the directory held at the last walk; `u64::MAX` before the first one.
    held: AtomicU64,
}

impl DataDisk {
    pub fn new(dir: impl Into<PathBuf>) -> Arc<Self> {
        Arc::new(Self { dir: dir.into(), held: AtomicU64::new(u64::MAX) })
    }

    /// Walks the directory every `every` until `shutdown`.
    pub async fn run(self: Arc<Self>, every: Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {
                    let disk = self.clone();
                    if let Ok(bytes) = tokio::task::spawn_blocking(move || bytes_under(&disk.dir)).await {
                        self.held.store(bytes, Ordering::Relaxed);
                    }
                }
            }
        }
    }
}

impl Collector for DataDisk {
    fn collect(&self, out: &mut Vec<FamilySnapshot>) {
        if let Some((free, size)) = filesystem(&self.dir) {
            let mut family = FamilySnapshot::new(
                "hookline_data_disk_free_bytes",
                "Bytes free (for this process's user) on the filesystem holding the data directory.",
                Kind::Gauge,
            );
            family.push(&[], free as f64);
            out.push(family);
            let mut family = FamilySnapshot::new(
                "hookline_data_disk_size_bytes",
                "Size in bytes of the filesystem holding the data directory.",
                Kind::Gauge,
            );
            family.push(&[], size as f64);
            out.push(family);
        }
        let held = self.held.load(Ordering::Relaxed);
        if held != u64::MAX {
            let mut family = FamilySnapshot::new(
                "hookline_data_dir_bytes",
                "Bytes of the files in the data directory (embedded log and views), walked every 30 s.",
                Kind::Gauge,
            );
            family.push(&[], held as f64);
            out.push(family);
        }
    }
}

/// (bytes available to unprivileged users, total bytes) of the filesystem holding `dir`.
fn filesystem(dir: &Path) -> Option<(u64, u64)> {
    let path = CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stats = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: `path` is a valid NUL-terminated string and `stats` points to writable
    // memory of the right size; statvfs fills it entirely when it returns 0.
    let stats = unsafe {
        if libc::statvfs(path.as_ptr(), stats.as_mut_ptr()) != 0 {
            return None;
        }
        stats.assume_init()
    };
    let block = stats.f_frsize as u64;
    Some((stats.f_bavail as u64 * block, stats.f_blocks as u64 * block))
}

/// Bytes of the regular files under `dir` (symbolic links not followed); what cannot be
/// read counts as nothing.
fn bytes_under(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .filter_map(Result::ok)
        .map(|entry| match entry.file_type() {
            Ok(kind) if kind.is_dir() => bytes_under(&entry.path()),
            Ok(kind) if kind.is_file() => entry.metadata().map(|m| m.len()).unwrap_or(0),
            _ => 0,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_the_filesystem_and_what_the_directory_holds() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("log")).unwrap();
        std::fs::write(dir.path().join("log/segment"), vec![0u8; 3000]).unwrap();
        std::fs::write(dir.path().join("views.redb"), vec![0u8; 1000]).unwrap();
        let disk = DataDisk::new(dir.path());
        let mut before = Vec::new();
        disk.collect(&mut before);
        let names: Vec<&str> = before.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(names, ["hookline_data_disk_free_bytes", "hookline_data_disk_size_bytes"], "no walk yet");
        assert!(before[1].samples[0].value >= before[0].samples[0].value);

        let shutdown = CancellationToken::new();
        let walker = tokio::spawn(disk.clone().run(Duration::from_secs(60), shutdown.clone()));
        hookline_testkit::wait_until(Duration::from_secs(5), "the first walk", || async {
            (disk.held.load(Ordering::Relaxed) != u64::MAX).then_some(())
        })
        .await;
        shutdown.cancel();
        walker.await.unwrap();
        let mut after = Vec::new();
        disk.collect(&mut after);
        let held = after.iter().find(|f| f.name == "hookline_data_dir_bytes").expect("walked");
        assert_eq!(held.samples[0].value, 4000.0);
    }
}
