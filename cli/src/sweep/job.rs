//! One run of a sweep as a child process: `maxl-cli train --config <run>/sweep-config.toml
//! --out <run>` (or `--resume <run>` once `train` has written its folder), its output appended
//! to `<run>/train.log`, under the run's lock. A failed attempt is retried once (resuming).

use super::lock::{Busy, RunLock};
use super::plan::RUN_CONFIG;
use super::state::{is_complete, state, RunState};
use anyhow::{Context, Result};
use std::fs::OpenOptions;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const LOG: &str = "train.log";
/// Attempts per run in one sweep: the first and one retry.
pub const ATTEMPTS: usize = 2;

/// How an attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Done,
    /// The reason (train's error line, or how the process ended).
    Failed(String),
    /// Stopped by Ctrl-C / SIGTERM: resumable.
    Interrupted,
}

/// A run being run.
pub struct Job {
    pub name: String,
    pub dir: PathBuf,
    pub attempt: usize,
    pub resumed: bool,
    pub started: Instant,
    child: Child,
    lock: RunLock,
    /// Length of the log before this attempt's output.
    log_start: u64,
}

/// What starting a run gave.
pub enum Start {
    Running(Box<Job>),
    /// Finished meanwhile (another task did it).
    Complete,
    /// Another process holds its lock: who.
    Busy(String),
}

/// How a run is started: the binary, threads per run.
#[derive(Clone)]
pub struct Launcher {
    pub exe: PathBuf,
    pub threads: usize,
}

impl Launcher {
    fn command(&self, dir: &Path, resume: bool) -> Command {
        let mut c = Command::new(&self.exe);
        let dir_arg = dir.as_os_str();
        c.arg("train");
        if resume {
            c.arg("--resume").arg(dir_arg);
        } else {
            c.arg("--out").arg(dir_arg);
        }
        c.arg("--config")
            .arg(dir.join(RUN_CONFIG))
            .arg("--threads")
            .arg(self.threads.to_string());
        c
    }

    /// Starts `train` for the run in `dir`: resuming if it has started, else new.
    fn spawn(&self, dir: &Path, attempt: usize) -> Result<(Child, bool, u64)> {
        let resume = state(dir) == RunState::Started;
        let log_path = dir.join(LOG);
        let mut log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("{}", log_path.display()))?;
        let log_start = log.metadata().map(|m| m.len()).unwrap_or(0);
        let mut cmd = self.command(dir, resume);
        writeln!(
            log,
            "== maxl-cli sweep: attempt {attempt} of {ATTEMPTS}, {}: {cmd:?}",
            if resume { "resuming" } else { "new run" }
        )?;
        let err = log.try_clone()?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(err)
            .spawn()
            .with_context(|| format!("starting {}", self.exe.display()))?;
        Ok((child, resume, log_start))
    }

    /// Takes the run's lock and starts its first attempt (a fresh or resumed `train`).
    pub fn start(&self, name: &str, dir: &Path) -> Result<Start> {
        let lock = match RunLock::acquire(dir)? {
            Ok(l) => l,
            Err(Busy::Held(who)) => return Ok(Start::Busy(who)),
        };
        // Checked under the lock: another task may have finished it since we looked.
        if is_complete(dir) {
            return Ok(Start::Complete);
        }
        let (child, resumed, log_start) = self.spawn(dir, 1)?;
        let mut job = Job {
            name: name.to_string(),
            dir: dir.to_path_buf(),
            attempt: 1,
            resumed,
            started: Instant::now(),
            child,
            lock,
            log_start,
        };
        job.lock.set_child(job.child.id())?;
        Ok(Start::Running(Box::new(job)))
    }

    /// The next attempt of a failed job, under the same lock.
    pub fn retry(&self, job: &mut Job) -> Result<()> {
        let (child, resumed, log_start) = self.spawn(&job.dir, job.attempt + 1)?;
        job.child = child;
        job.attempt += 1;
        job.resumed = resumed;
        job.log_start = log_start;
        job.started = Instant::now();
        job.lock.set_child(job.child.id())
    }
}

/// The last `error:` line of the log since `start`, if any.
fn error_line(log: &Path, start: u64) -> Option<String> {
    let bytes = std::fs::read(log).ok()?;
    let text = String::from_utf8_lossy(bytes.get(start as usize..)?).into_owned();
    text.lines()
        .rev()
        .find(|l| l.starts_with("error:"))
        .map(|l| l.trim_start_matches("error:").trim().to_string())
}

#[cfg(unix)]
fn signal_of(status: &std::process::ExitStatus) -> Option<i32> {
    std::os::unix::process::ExitStatusExt::signal(status)
}

#[cfg(not(unix))]
fn signal_of(_: &std::process::ExitStatus) -> Option<i32> {
    None
}

const SIGINT: i32 = 2;
const SIGTERM: i32 = 15;

impl Job {
    /// The outcome if the process has ended.
    pub fn poll(&mut self) -> Result<Option<Outcome>> {
        let Some(status) = self.child.try_wait()? else {
            return Ok(None);
        };
        if status.success() && is_complete(&self.dir) {
            return Ok(Some(Outcome::Done));
        }
        let signal = signal_of(&status);
        // Ctrl-C reaches the whole process group: the child may die of it before the sweep
        // has seen its own signal.
        if matches!(signal, Some(SIGINT) | Some(SIGTERM)) {
            for _ in 0..10 {
                if super::interrupt::requested() {
                    return Ok(Some(Outcome::Interrupted));
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        let reason = match (error_line(&self.dir.join(LOG), self.log_start), signal) {
            (Some(line), _) => line,
            (None, Some(s)) => format!("train was killed by signal {s}"),
            (None, None) if status.success() => {
                "train ended without a complete summary.json".into()
            }
            (None, None) => format!("train exited with {status}"),
        };
        Ok(Some(Outcome::Failed(reason)))
    }

    /// Kills the process (Ctrl-C): its folder keeps the last epoch's checkpoint.
    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn log(&self) -> PathBuf {
        self.dir.join(LOG)
    }
}

impl Drop for Job {
    /// Never leaves a `train` running without its lock: the lock goes with the job.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            self.stop();
        }
    }
}
