//! `maxl-cli train --dataset fashion-mnist --data-dir DIR` on a tiny hand-written folder of
//! gzip IDX files, `--train-limit` on it, `eval` on it, and a missing file named in the error.

mod common;

use common::{cli, metrics, ok, Temp};
use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::Value;
use std::io::Write;
use std::path::Path;

/// Writes one gzip IDX file of u8: magic 0x0000_08_<rank>, big-endian dims, data.
fn write_idx(path: &Path, dims: &[u32], data: &[u8]) {
    let mut raw = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        raw.extend(d.to_be_bytes());
    }
    raw.extend(data);
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&raw).unwrap();
    std::fs::write(path, gz.finish().unwrap()).unwrap();
}

/// `n` 28x28 images: class k is a bright horizontal band at rows 2k..2k+6, plus a little
/// position jitter, so that the task is learnable.
fn images(n: usize) -> (Vec<u8>, Vec<u8>) {
    let mut px = vec![0u8; n * 784];
    let labels: Vec<u8> = (0..n).map(|i| (i % 10) as u8).collect();
    for (i, &l) in labels.iter().enumerate() {
        let top = 2 * l as usize + i % 3;
        for r in top..top + 6 {
            for c in 4..24 {
                px[i * 784 + r * 28 + c] = 200;
            }
        }
    }
    (px, labels)
}

fn fashion_folder(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    for (prefix, n) in [("train", 120u32), ("t10k", 30)] {
        let (px, labels) = images(n as usize);
        write_idx(
            &dir.join(format!("{prefix}-images-idx3-ubyte.gz")),
            &[n, 28, 28],
            &px,
        );
        write_idx(
            &dir.join(format!("{prefix}-labels-idx1-ubyte.gz")),
            &[n],
            &labels,
        );
    }
}

#[test]
fn fashion_mnist_from_a_data_dir_of_gzip_idx_files() {
    let tmp = Temp::new("idx");
    fashion_folder(&tmp.join("fm"));
    let base = [
        "train",
        "--dataset",
        "fashion-mnist",
        "--data-dir",
        "fm",
        "--batch-size",
        "40",
        "--epochs",
        "1",
        "--quiet",
    ];
    ok(&tmp.0, &[&base[..], &["--out", "run"]].concat());
    let m = metrics(&tmp.join("run"));
    assert_eq!(m.len(), 1);
    assert!(m[0]["test_loss"].as_f64().unwrap().is_finite());

    let e = ok(&tmp.0, &["eval", "--run", "run"]);
    let v: Value = serde_json::from_str(e.stdout.trim()).unwrap();
    assert_eq!(v["test_images"], 30);
    assert_eq!(v["test_acc"], m[0]["test_acc"]);

    // A subset of the training images trains on fewer batches: other numbers.
    ok(
        &tmp.0,
        &[&base[..], &["--out", "small", "--train-limit", "40"]].concat(),
    );
    let small = metrics(&tmp.join("small"));
    assert_ne!(small[0]["train_loss"], m[0]["train_loss"]);

    // A missing file is named, and no run folder is left.
    std::fs::remove_file(tmp.join("fm/t10k-labels-idx1-ubyte.gz")).unwrap();
    let out = cli(&tmp.0, &[&base[..], &["--out", "broken"]].concat());
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("t10k-labels-idx1-ubyte"),
        "{}",
        out.stderr
    );
    assert_eq!(out.stderr.trim_end().lines().count(), 1, "{}", out.stderr);
    assert!(!tmp.join("broken").exists());
}
