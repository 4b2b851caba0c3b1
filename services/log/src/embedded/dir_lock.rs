//! The data directory's lock: one live log per directory, across processes too.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::path::Path;

use crate::LogError;

const LOCK_FILE: &str = "lock";

/// Holds an exclusive `flock` on `<dir>/lock` until dropped.
pub(crate) struct DirLock {
    _file: File,
}

impl DirLock {
    pub fn acquire(dir: &Path) -> Result<DirLock, LogError> {
        let path = dir.join(LOCK_FILE);
        let mut file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                return Err(LogError::Invalid(format!(
                    "data directory {} is already open by another embedded log (in this or another process); \
                     lock file {} is held",
                    dir.display(),
                    path.display()
                )))
            }
            Err(TryLockError::Error(e)) => return Err(LogError::Io(e)),
        }
        // For people looking at the directory: which process holds it.
        file.set_len(0)?;
        writeln!(file, "{}", std::process::id())?;
        Ok(DirLock { _file: file })
    }
}
