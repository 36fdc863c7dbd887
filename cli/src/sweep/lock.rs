//! `sweep.lock` in a run folder: whoever holds it is the only one running that run. It is made
//! with create-new (atomic, also on NFS v3+), names the host, the sweep's process and, once
//! started, its `train` child; removed when released. A lock whose processes are all gone
//! (same host, checked in /proc with their start times, so a reused pid does not count) is
//! stale and taken over (moved aside first, so a lock made meanwhile by another process is put
//! back, not deleted); one from another host is respected until removed by hand, and an
//! unreadable one (being written) for a minute.

use anyhow::{anyhow, Context, Result};
use serde::{Deserialize, Serialize};
use std::io::Write;
use std::path::{Path, PathBuf};

pub const LOCK: &str = "sweep.lock";

/// A process as the lock records it.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Proc {
    pub pid: u32,
    /// Start time in clock ticks since boot (/proc/PID/stat field 22); 0 if unknown.
    pub start: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Holder {
    host: String,
    sweep: Proc,
    child: Option<Proc>,
}

/// A held lock; released (the file removed) when dropped.
pub struct RunLock {
    path: PathBuf,
    holder: Holder,
}

/// Why a lock could not be taken.
pub enum Busy {
    /// Held by a live process (or one on another host): its description.
    Held(String),
}

pub fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|s| s.trim().to_string())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown-host".into())
}

/// Start time of a process, if it is alive.
fn started(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces: the fields after it start past its ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts at field 3 (state); field 22 (starttime) is the 20th of it.
    rest.split_whitespace().nth(19)?.parse().ok()
}

impl Proc {
    pub fn of(pid: u32) -> Proc {
        Proc {
            pid,
            start: started(pid).unwrap_or(0),
        }
    }

    /// True unless /proc says this process is gone (no /proc: assume alive).
    fn alive(&self) -> bool {
        if !Path::new("/proc/self/stat").exists() {
            return true;
        }
        match started(self.pid) {
            None => false,
            Some(s) => self.start == 0 || s == self.start,
        }
    }
}

impl Holder {
    fn alive(&self) -> bool {
        self.host != host() || self.sweep.alive() || self.child.is_some_and(|c| c.alive())
    }

    fn describe(&self) -> String {
        let child = self
            .child
            .map_or(String::new(), |c| format!(", train process {}", c.pid));
        format!(
            "host {}, sweep process {}{child}",
            self.host, self.sweep.pid
        )
    }
}

/// True if `path` changed in the last minute.
fn recent(path: &Path) -> bool {
    std::fs::metadata(path)
        .and_then(|m| m.modified())
        .ok()
        .and_then(|t| t.elapsed().ok())
        .is_none_or(|age| age.as_secs() < 60)
}

/// Removes the stale lock `path` if it still holds `text`: moved aside under a name of this
/// process first, so that a lock another process made meanwhile is put back, not deleted.
fn remove_if_unchanged(path: &Path, text: &str) -> bool {
    let aside = path.with_extension(format!("lock.stale-{}", std::process::id()));
    if std::fs::rename(path, &aside).is_err() {
        // Gone already (another process removed it): try to create it again.
        return true;
    }
    let moved = std::fs::read_to_string(&aside).unwrap_or_default();
    if moved != text {
        // Someone's new lock: back where it was, unless yet another lock is there now.
        let _ = std::fs::hard_link(&aside, path);
        let _ = std::fs::remove_file(&aside);
        return false;
    }
    let _ = std::fs::remove_file(&aside);
    true
}

impl RunLock {
    /// Takes the lock of run folder `dir` (which must exist), taking over a stale one.
    pub fn acquire(dir: &Path) -> Result<std::result::Result<RunLock, Busy>> {
        let path = dir.join(LOCK);
        let holder = Holder {
            host: host(),
            sweep: Proc::of(std::process::id()),
            child: None,
        };
        // Two tries: the second after removing a stale lock.
        for _ in 0..2 {
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(serde_json::to_string(&holder)?.as_bytes())
                        .with_context(|| format!("{}", path.display()))?;
                    return Ok(Ok(RunLock { path, holder }));
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                    let text = std::fs::read_to_string(&path).unwrap_or_default();
                    match serde_json::from_str::<Holder>(&text) {
                        Ok(h) if h.alive() => return Ok(Err(Busy::Held(h.describe()))),
                        Ok(_) => {}
                        // Unreadable: being written right now, or its writer died before
                        // writing (then it is old).
                        Err(_) if recent(&path) => {
                            return Ok(Err(Busy::Held(format!(
                                "{} is being written",
                                path.display()
                            ))))
                        }
                        Err(_) => {}
                    }
                    if !remove_if_unchanged(&path, &text) {
                        return Ok(Err(Busy::Held(format!(
                            "{} was just taken by another process",
                            path.display()
                        ))));
                    }
                }
                Err(e) => return Err(anyhow!("{}: {e}", path.display())),
            }
        }
        Ok(Err(Busy::Held(format!(
            "{} keeps being re-created",
            path.display()
        ))))
    }

    /// Records the `train` process running the run (so a lock survives a killed sweep whose
    /// child still runs).
    pub fn set_child(&mut self, pid: u32) -> Result<()> {
        self.holder.child = Some(Proc::of(pid));
        super::files::write_atomic(&self.path, serde_json::to_string(&self.holder)?.as_bytes())
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_holder_at_a_time_and_stale_locks_are_taken_over() {
        let dir = std::env::temp_dir().join(format!("maxl-lock-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let held = match RunLock::acquire(&dir).unwrap() {
            Ok(l) => l,
            Err(Busy::Held(h)) => panic!("free lock refused: {h}"),
        };
        match RunLock::acquire(&dir).unwrap() {
            Ok(_) => panic!("a held lock was taken twice"),
            Err(Busy::Held(h)) => assert!(h.contains(&std::process::id().to_string()), "{h}"),
        }
        drop(held);
        assert!(!dir.join(LOCK).exists(), "released on drop");

        // A lock of a process that is gone: pid 1's start time will not be u64::MAX - 1.
        let stale = Holder {
            host: host(),
            sweep: Proc {
                pid: 1,
                start: u64::MAX - 1,
            },
            child: None,
        };
        std::fs::write(dir.join(LOCK), serde_json::to_string(&stale).unwrap()).unwrap();
        assert!(
            RunLock::acquire(&dir).unwrap().is_ok(),
            "stale lock taken over"
        );
        // Another host's lock is respected.
        let other = Holder {
            host: "elsewhere".into(),
            ..stale
        };
        std::fs::write(dir.join(LOCK), serde_json::to_string(&other).unwrap()).unwrap();
        assert!(RunLock::acquire(&dir).unwrap().is_err());
        // An empty lock is one being written: respected while new, taken over once old.
        std::fs::write(dir.join(LOCK), "").unwrap();
        assert!(RunLock::acquire(&dir).unwrap().is_err());
        let old = std::time::SystemTime::now() - std::time::Duration::from_secs(120);
        let f = std::fs::File::options()
            .write(true)
            .open(dir.join(LOCK))
            .unwrap();
        f.set_modified(old).unwrap();
        assert!(
            RunLock::acquire(&dir).unwrap().is_ok(),
            "an old empty lock is stale"
        );
        assert!(!dir.join(LOCK).exists());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn start_time_of_this_process_is_read() {
        let me = Proc::of(std::process::id());
        assert!(me.start > 0 && me.alive());
    }
}
