//! What a training run shows on stderr (stdout stays clean): a progress bar per pass with
//! images/s and ETA (drawn only on a terminal), one line per epoch in the style of the
//! authors' print line, and notes. `--quiet` silences all of it.

use indicatif::{ProgressBar, ProgressState, ProgressStyle};
use maxl::metrics::EpochMetrics;
use std::fmt::Write;

/// The progress display of one run.
pub struct Display {
    quiet: bool,
    epochs: usize,
    /// Training images per pass (the bar counts images).
    images: usize,
    bar: Option<ProgressBar>,
}

fn style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} images, {rate}, ETA {eta} ")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .with_key("rate", |s: &ProgressState, w: &mut dyn Write| {
            let _ = write!(w, "{:.0} img/s", s.per_sec());
        })
        .progress_chars("=> ")
}

impl Display {
    pub fn new(quiet: bool, epochs: usize, images: usize) -> Display {
        Display {
            quiet,
            epochs,
            images,
            bar: None,
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

    /// The trainer's report after a batch of `epoch` (1-based).
    pub fn batch(&mut self, epoch: usize, p: maxl::train::Progress) {
        if self.quiet {
            return;
        }
        if p.batch == 1 {
            if let Some(old) = self.bar.take() {
                old.finish_and_clear();
            }
            let name = if p.pass == 1 { "train" } else { "meta " };
            let bar = ProgressBar::new(self.images as u64)
                .with_style(style())
                .with_prefix(format!("epoch {epoch}/{} {name}", self.epochs));
            self.bar = Some(bar);
        }
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
    pub fn epoch(&mut self, m: &EpochMetrics, meta: bool, secs: f64) {
        self.clear();
        self.note(&epoch_line(m, meta, secs));
    }
}

/// `EPOCH 3 | TRAIN loss .. acc .. cos .. | META before .. / .. after .. / .. | TEST loss .. acc ..`
pub fn epoch_line(m: &EpochMetrics, meta: bool, secs: f64) -> String {
    let mut s = format!(
        "EPOCH {} | TRAIN loss {:.4} acc {:.2} cos {:.4} | ",
        m.epoch, m.train_loss, m.train_acc, m.cosine
    );
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
            epoch_line(&m, true, 3.0),
            "EPOCH 3 | TRAIN loss 0.5000 acc 81.25 cos 0.0100 | META before 0.4000 / 85.00 \
             after 0.3000 / 87.50 | TEST loss 0.4500 acc 83.00 | 3.0 s"
        );
        assert!(!epoch_line(&m, false, 3.0).contains("META"));
    }
}
