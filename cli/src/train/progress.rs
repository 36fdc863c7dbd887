//! What a training run shows on stderr (stdout stays clean): a progress bar per pass (training,
//! MAXL's meta pass, test) with images/s and ETA (drawn only on a terminal), one line per
//! epoch in the style of the authors' print line, and notes. `--quiet` silences all of it.

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use maxl::metrics::EpochMetrics;
use std::fmt::Write;
use std::time::{Duration, Instant};

/// "s" unless `n` is 1: "1 epoch", "2 epochs".
pub fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

/// The progress display of one run.
pub struct Display {
    quiet: bool,
    epochs: usize,
    /// Training and test images per pass (the bars count images).
    train_images: usize,
    test_images: usize,
    bar: Option<ProgressBar>,
    /// When the last batch was reported (or the epoch started): a new bar's clock starts
    /// there, so that its first batch's time counts.
    last: Instant,
}

/// Images per second so far: the images done over the time since the pass began (the
/// time before the first report included); "-" before any time has passed.
fn rate_text(images: u64, elapsed: Duration) -> String {
    let secs = elapsed.as_secs_f64();
    if images == 0 || secs <= 0.0 {
        return "- img/s".into();
    }
    format!("{:.0} img/s", images as f64 / secs)
}

/// Time left at the pass's mean rate so far.
fn eta_text(done: u64, total: u64, elapsed: Duration) -> String {
    if done == 0 {
        return "-".into();
    }
    let left = elapsed.as_secs_f64() * total.saturating_sub(done) as f64 / done as f64;
    let s = left.round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} images, {rate}, ETA {left} ")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |s: &ProgressState, w: &mut dyn Write| {
            let _ = w.write_str(&rate_text(s.pos(), s.elapsed()));
        })
        .with_key("left", |s: &ProgressState, w: &mut dyn Write| {
            let _ = w.write_str(&eta_text(s.pos(), s.len().unwrap_or(0), s.elapsed()));
        })
        .progress_chars("=> ")
}

impl Display {
    pub fn new(quiet: bool, epochs: usize, train_images: usize, test_images: usize) -> Display {
        Display {
            quiet,
            epochs,
            train_images,
            test_images,
            bar: None,
            last: Instant::now(),
        }
    }

    /// A line on stderr (unless quiet).
    pub fn note(&self, msg: &str) {
        if !self.quiet {
            match &self.bar {
                Some(bar) => bar.suspend(|| eprintln!("{msg}")),
                None => eprintln!("{msg}"),
            }
        }
    }

    /// An epoch begins: its first bar's clock starts now.
    pub fn start_epoch(&mut self) {
        self.last = Instant::now();
    }

    /// The trainer's report after a batch of `epoch` (1-based).
    pub fn batch(&mut self, epoch: usize, p: maxl::train::Progress) {
        if self.quiet {
            return;
        }
        if p.batch == 1 {
            if let Some(old) = self.bar.take() {
                old.finish_and_clear();
            }
            let (name, images) = match p.pass {
                1 => ("train", self.train_images),
                2 => ("meta ", self.train_images),
                _ => ("test ", self.test_images),
            };
            let bar = ProgressBar::new(images as u64)
                .with_style(style())
                .with_prefix(format!("epoch {epoch}/{} {name}", self.epochs))
                .with_elapsed(self.last.elapsed());
            self.bar = Some(bar);
        }
        self.last = Instant::now();
        if let Some(bar) = &self.bar {
            bar.inc(p.images as u64);
            if p.batch == p.batches {
                bar.finish_and_clear();
                self.bar = None;
            }
        }
    }

    /// Clears a bar left by a pass that failed.
    pub fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// The epoch's line; `secs`: the epoch's wall time, test included.
    pub fn epoch(&mut self, m: &EpochMetrics, meta: bool, aux: bool, secs: f64) {
        self.clear();
        self.note(&epoch_line(m, meta, aux, secs));
    }
}

/// `EPOCH 3 | TRAIN loss .. acc .. cos .. | META before .. / .. after .. / .. | TEST loss .. acc ..`
/// (losses: focal); `cos` only with an auxiliary task (`aux`), META only with a meta pass.
pub fn epoch_line(m: &EpochMetrics, meta: bool, aux: bool, secs: f64) -> String {
    let mut s = format!(
        "EPOCH {} | TRAIN loss {:.4} acc {:.2} ",
        m.epoch, m.train_loss, m.train_acc
    );
    if aux {
        let _ = write!(s, "cos {:.4} ", m.cosine);
    }
    s.push_str("| ");
    if meta {
        let _ = write!(
            s,
            "META before {:.4} / {:.2} after {:.4} / {:.2} | ",
            m.meta_loss_before, m.meta_acc_before, m.meta_loss_after, m.meta_acc_after
        );
    }
    let _ = write!(
        s,
        "TEST loss {:.4} acc {:.2} | {:.1} s",
        m.test_loss, m.test_acc, secs
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn epoch_line_reads_like_the_authors() {
        let m = EpochMetrics {
            epoch: 3,
            train_loss: 0.5,
            train_acc: 81.25,
            cosine: 0.01,
            meta_loss_before: 0.4,
            meta_acc_before: 85.0,
            meta_loss_after: 0.3,
            meta_acc_after: 87.5,
            test_loss: 0.45,
            test_acc: 83.0,
            ..EpochMetrics::default()
        };
        assert_eq!(
            epoch_line(&m, true, true, 3.0),
            "EPOCH 3 | TRAIN loss 0.5000 acc 81.25 cos 0.0100 | META before 0.4000 / 85.00 \
             after 0.3000 / 87.50 | TEST loss 0.4500 acc 83.00 | 3.0 s"
        );
        assert!(!epoch_line(&m, false, true, 3.0).contains("META"));
        // Single task: no cosine.
        assert_eq!(
            epoch_line(&m, false, false, 3.0),
            "EPOCH 3 | TRAIN loss 0.5000 acc 81.25 | TEST loss 0.4500 acc 83.00 | 3.0 s"
        );
    }

    #[test]
    fn the_rate_counts_the_first_batch_time_and_plurals_read_right() {
        // 100 images in the first batch, which took 50 ms: 2000 img/s, not 100 / ~0 s.
        assert_eq!(rate_text(100, Duration::from_millis(50)), "2000 img/s");
        assert_eq!(rate_text(0, Duration::ZERO), "- img/s");
        assert_eq!(rate_text(100, Duration::ZERO), "- img/s");
        assert_eq!(eta_text(100, 1000, Duration::from_secs(2)), "18s");
        assert_eq!(eta_text(100, 10_000, Duration::from_secs(2)), "3m18s");
        assert_eq!(eta_text(0, 1000, Duration::from_secs(2)), "-");
        assert_eq!((plural(0), plural(1), plural(2)), ("s", "", "s"));
    }
}
