//! Helpers of the `maxl-cli train`/`eval` end-to-end tests: run the binary, temp folders that
//! clean up after themselves, and readers of the run folder's files.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

/// A tiny synthetic run: 200 images of 1x28x28 in 10 classes, batches of 50.
pub const TINY: [&str; 6] = [
    "--dataset",
    "synthetic",
    "--train-limit",
    "200",
    "--batch-size",
    "50",
];

/// Exit code, stdout and stderr of one `maxl-cli` call.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `maxl-cli` with `args` in folder `cwd`.
pub fn cli(cwd: &Path, args: &[&str]) -> Out {
    let out = Command::new(env!("CARGO_BIN_EXE_maxl-cli"))
        .args(args)
        .current_dir(cwd)
        .output()
        .expect("maxl-cli runs");
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// `cli` that must succeed.
pub fn ok(cwd: &Path, args: &[&str]) -> Out {
    let o = cli(cwd, args);
    assert_eq!(o.code, 0, "maxl-cli {args:?} failed: {}", o.stderr);
    o
}

/// A fresh folder under the system temp folder, removed when dropped.
pub struct Temp(pub PathBuf);

impl Temp {
    pub fn new(name: &str) -> Temp {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let p = std::env::temp_dir().join(format!(
            "maxl-cli-test-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Temp(p)
    }

    pub fn join(&self, p: &str) -> PathBuf {
        self.0.join(p)
    }

    /// `join` as a &str argument.
    pub fn arg(&self, p: &str) -> String {
        self.join(p).to_str().unwrap().to_string()
    }
}

impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The lines of a run's metrics.jsonl.
pub fn metrics(run: &Path) -> Vec<Value> {
    std::fs::read_to_string(run.join("metrics.jsonl"))
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect()
}

/// Metrics without the fields that measure time.
pub fn without_timing(mut v: Vec<Value>) -> Vec<Value> {
    for m in &mut v {
        let o = m.as_object_mut().unwrap();
        o.remove("pass1_s");
        o.remove("pass2_s");
    }
    v
}

pub fn json_file(path: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// The text of a run's metrics.jsonl with the keys that measure time cut out of each line,
/// every other byte as written (for byte-for-byte comparisons of runs).
pub fn metrics_text_without_timing(run: &Path) -> String {
    let text = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let mut out = String::new();
    for line in text.lines() {
        let mut line = line.to_string();
        for key in ["pass1_s", "pass2_s"] {
            let field = format!(",\"{key}\":");
            if let Some(i) = line.find(&field) {
                let rest = &line[i + 1..];
                let end = rest.find([',', '}']).expect("a JSON object line");
                line = format!("{}{}", &line[..i], &rest[end..]);
            }
        }
        out.push_str(&line);
        out.push('\n');
    }
    out
}
