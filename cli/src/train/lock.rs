//! The run folder's lock: `train.lock`, held with an advisory `flock(2)` for as long as one
//! `maxl-cli train` works in the folder, so that a second process on the same folder is
//! refused with the holder's process id. The kernel releases the lock when its holder exits
//! or crashes (kill -9 included); a file left behind by a crash is simply taken over. The
//! sweep's own `sweep.lock` (one per run folder, held by the sweep, not by its `train`
//! child) is another file, so the two never refuse each other.

use anyhow::{Context, Result};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

/// The lock file's name in the run folder.
pub const LOCK: &str = "train.lock";

/// A held lock; dropping it removes the file and releases the lock.
pub struct TrainLock {
    file: File,
    path: PathBuf,
}

/// `flock(fd, LOCK_EX | LOCK_NB)`: Ok(false) if another process holds it.
fn try_flock(file: &File) -> std::io::Result<bool> {
    // SAFETY: flock on a descriptor that `file` owns and keeps open.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        return Ok(true);
    }
    let e = std::io::Error::last_os_error();
    match e.raw_os_error() {
        Some(libc::EWOULDBLOCK) => Ok(false),
        _ => Err(e),
    }
}

impl TrainLock {
    /// Takes the lock of the run folder `dir` (which must exist), or says who holds it.
    pub fn acquire(dir: &Path) -> Result<TrainLock> {
        let path = dir.join(LOCK);
        loop {
            let mut file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .open(&path)
                .with_context(|| format!("{}", path.display()))?;
            if !try_flock(&file).with_context(|| format!("locking {}", path.display()))? {
                return Err(in_use(dir, &path));
            }
            // A holder that was ending may have removed the file after we opened it: the lock
            // counts only if the path still names the file we locked.
            let same = std::fs::metadata(&path)
                .ok()
                .zip(file.metadata().ok())
                .is_some_and(|(a, b)| a.ino() == b.ino() && a.dev() == b.dev());
            if !same {
                continue;
            }
            file.set_len(0)
                .and_then(|()| writeln!(file, "{}", std::process::id()))
                .with_context(|| format!("{}", path.display()))?;
            return Ok(TrainLock { file, path });
        }
    }
}

/// Whether another process holds the lock of `dir`: an error naming it if so. Probed without
/// creating anything (`--resume` asks before it reads the run, so that a run whose holder has
/// not yet written its files is reported as in use, not as half-written).
pub fn check_free(dir: &Path) -> Result<()> {
    let path = dir.join(LOCK);
    let Ok(file) = OpenOptions::new().read(true).write(true).open(&path) else {
        return Ok(()); // no lock file: nobody holds it
    };
    if !try_flock(&file).with_context(|| format!("locking {}", path.display()))? {
        return Err(in_use(dir, &path));
    }
    // Probed only: closing `file` releases the lock; the file stays for its next holder.
    Ok(())
}

/// "DIR is in use by another maxl-cli train (process PID, ...)".
fn in_use(dir: &Path, path: &Path) -> anyhow::Error {
    let holder = std::fs::read_to_string(path).unwrap_or_default();
    let holder = match holder.trim() {
        "" => "a process that is just starting".to_string(),
        pid => format!("process {pid}"),
    };
    anyhow::anyhow!(
        "{} is in use by another maxl-cli train ({holder}, which holds {}); wait for it to \
         end, or stop it",
        dir.display(),
        path.display()
    )
}

impl Drop for TrainLock {
    fn drop(&mut self) {
        // Removed while still locked; a process waiting on the old file finds it gone and
        // retries on a new one. The lock is released when `file` closes.
        let _ = std::fs::remove_file(&self.path);
        let _ = &self.file;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_is_refused_with_the_pid_and_free_again_after_drop() {
        let dir = std::env::temp_dir().join(format!("maxl-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let held = TrainLock::acquire(&dir).unwrap();
        let text = std::fs::read_to_string(dir.join(LOCK)).unwrap();
        assert_eq!(text, format!("{}\n", std::process::id()));
        // flock locks belong to the open file description: a second open in this process
        // conflicts as another process's would.
        let e = TrainLock::acquire(&dir).err().unwrap().to_string();
        assert!(
            e.contains(&format!("(process {}, which holds", std::process::id())),
            "{e}"
        );
        drop(held);
        assert!(!dir.join(LOCK).exists());
        let again = TrainLock::acquire(&dir).unwrap();
        drop(again);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
