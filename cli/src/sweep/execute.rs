//! Runs a list of run folders, N at a time, each as a `train` child (see `job`): skips the
//! finished ones, retries a failed one once, leaves one that another process holds, and on
//! Ctrl-C stops the children and returns. One progress bar (runs done, ETA; drawn only on a
//! terminal) and one line per finished, failed or skipped run on stderr.

use super::interrupt;
use super::job::{Job, Launcher, Outcome, Start, ATTEMPTS};
use super::state::is_complete;
use anyhow::Result;
use indicatif::{ProgressBar, ProgressStyle};
use std::collections::VecDeque;
use std::path::PathBuf;
use std::time::Duration;

/// A run to do: its name and folder.
pub struct RunRef {
    pub name: String,
    pub dir: PathBuf,
}

/// What a pass over the runs did.
#[derive(Debug, Default)]
pub struct Tally {
    /// Finished before this pass.
    pub skipped: usize,
    pub done: usize,
    /// Of `done`, continued from an earlier attempt or an earlier sweep.
    pub resumed: usize,
    /// Held by another process: name and holder.
    pub busy: Vec<(String, String)>,
    /// Failed on every attempt: name, reason, log.
    pub failed: Vec<(String, String, PathBuf)>,
    pub interrupted: bool,
    /// Runs stopped by the interruption (they resume next time).
    pub stopped: Vec<String>,
}

fn bar(len: usize, show: bool) -> ProgressBar {
    if !show {
        return ProgressBar::hidden();
    }
    let style = ProgressStyle::with_template(
        "sweep [{bar:30}] {pos}/{len} runs, {elapsed} elapsed, ETA {eta} {wide_msg}",
    )
    .unwrap_or_else(|_| ProgressStyle::default_bar())
    .progress_chars("=> ");
    let b = ProgressBar::new(len as u64).with_style(style);
    b.enable_steady_tick(Duration::from_millis(500));
    b
}

/// Prints a line above the bar (or plainly when there is none).
fn say(bar: &ProgressBar, msg: &str) {
    bar.suspend(|| eprintln!("{msg}"));
}

fn running_names(running: &[Box<Job>]) -> String {
    let names: Vec<&str> = running.iter().map(|j| j.name.as_str()).collect();
    match names.len() {
        0 => String::new(),
        1..=3 => format!("running {}", names.join(", ")),
        n => format!("running {}, ... ({n})", names[..3].join(", ")),
    }
}

/// Runs `runs` with at most `jobs` at once.
pub fn execute(launcher: &Launcher, runs: &[RunRef], jobs: usize, show_bar: bool) -> Result<Tally> {
    let mut tally = Tally::default();
    let mut pending: VecDeque<&RunRef> = VecDeque::new();
    for r in runs {
        if is_complete(&r.dir) {
            tally.skipped += 1;
        } else {
            pending.push_back(r);
        }
    }
    let total = pending.len();
    let bar = bar(total, show_bar && total > 0);
    let mut running: Vec<Box<Job>> = Vec::new();
    let mut finished = 0;

    while !pending.is_empty() || !running.is_empty() {
        if interrupt::requested() {
            for job in &mut running {
                job.stop();
                tally.stopped.push(job.name.clone());
            }
            running.clear();
            tally.interrupted = true;
            break;
        }
        while running.len() < jobs.max(1) {
            let Some(r) = pending.pop_front() else { break };
            match launcher.start(&r.name, &r.dir)? {
                Start::Running(job) => running.push(job),
                Start::Complete => {
                    finished += 1;
                    bar.inc(1);
                    tally.skipped += 1;
                }
                Start::Busy(who) => {
                    finished += 1;
                    bar.inc(1);
                    say(
                        &bar,
                        &format!("{}: skipped, run by another process ({who})", r.name),
                    );
                    tally.busy.push((r.name.clone(), who));
                }
            }
            bar.set_message(running_names(&running));
        }

        let mut i = 0;
        while i < running.len() {
            let outcome = running[i].poll()?;
            match outcome {
                None => i += 1,
                Some(Outcome::Done) => {
                    let job = running.remove(i);
                    finished += 1;
                    bar.inc(1);
                    tally.done += 1;
                    if job.resumed {
                        tally.resumed += 1;
                    }
                    say(
                        &bar,
                        &format!(
                            "[{finished}/{total}] {} done in {:.1} s{}",
                            job.name,
                            job.started.elapsed().as_secs_f64(),
                            if job.resumed { " (resumed)" } else { "" }
                        ),
                    );
                }
                Some(Outcome::Failed(reason)) if running[i].attempt < ATTEMPTS => {
                    let job = &mut running[i];
                    say(
                        &bar,
                        &format!(
                            "{} failed (attempt {} of {ATTEMPTS}): {reason}; retrying",
                            job.name, job.attempt
                        ),
                    );
                    launcher.retry(job)?;
                    i += 1;
                }
                Some(Outcome::Failed(reason)) => {
                    let job = running.remove(i);
                    finished += 1;
                    bar.inc(1);
                    say(
                        &bar,
                        &format!(
                            "[{finished}/{total}] {} FAILED twice: {reason} (log: {})",
                            job.name,
                            job.log().display()
                        ),
                    );
                    tally.failed.push((job.name.clone(), reason, job.log()));
                }
                Some(Outcome::Interrupted) => {
                    let job = running.remove(i);
                    tally.stopped.push(job.name.clone());
                    tally.interrupted = true;
                }
            }
            bar.set_message(running_names(&running));
        }
        if tally.interrupted {
            // A child died of Ctrl-C: the rest go too.
            continue;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    bar.finish_and_clear();
    Ok(tally)
}

impl Tally {
    /// The closing lines.
    pub fn summary(&self) -> String {
        let mut s = format!(
            "{} ran ({} resumed), {} already finished, {} failed",
            self.done,
            self.resumed,
            self.skipped,
            self.failed.len()
        );
        if !self.busy.is_empty() {
            s += &format!(", {} run by other processes", self.busy.len());
        }
        for (name, reason, log) in &self.failed {
            s += &format!("\n  failed: {name}: {reason} (log: {})", log.display());
        }
        if self.interrupted {
            s += &format!(
                "\ninterrupted: {} run(s) stopped ({}); run the sweep again to resume them",
                self.stopped.len(),
                self.stopped.join(", ")
            );
        }
        s
    }
}
