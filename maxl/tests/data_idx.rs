//! IDX reader: raw and gzip round trips byte for byte, the accepted file names, every bad-input
//! case with the file named in the error, and (when installed) Debian's Fashion-MNIST.

use flate2::write::GzEncoder;
use flate2::Compression;
use maxl::data::{read_fashion_mnist, read_idx, read_idx_file, read_mnist, FASHION_MNIST_DEBIAN};
use maxl::Error;
use std::io::Write;
use std::path::Path;

mod common;
use common::TempDir;

/// The bytes of an unsigned-byte IDX file.
fn idx_bytes(dims: &[u32], data: &[u8]) -> Vec<u8> {
    let mut b = vec![0, 0, 0x08, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    b.extend_from_slice(data);
    b
}

fn gzip(b: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(b).unwrap();
    e.finish().unwrap()
}

/// Deterministic pseudo-random bytes.
fn bytes(n: usize, salt: u32) -> Vec<u8> {
    (0..n as u32)
        .map(|i| (i.wrapping_mul(2654435761).wrapping_add(salt * 97) >> 13) as u8)
        .collect()
}

struct Files {
    train_images: Vec<u8>,
    train_labels: Vec<u8>,
    test_images: Vec<u8>,
    test_labels: Vec<u8>,
}

const H: usize = 4;
const W: usize = 3;

fn sample_files() -> Files {
    Files {
        train_images: bytes(5 * H * W, 1),
        train_labels: vec![0, 9, 3, 3, 7],
        test_images: bytes(3 * H * W, 2),
        test_labels: vec![1, 2, 8],
    }
}

/// Writes the four files under the names `stem{sep}kind{ext}`.
fn write_set(dir: &Path, f: &Files, sep: &str, gz: bool) {
    let ext = if gz { ".gz" } else { "" };
    let put = |name: &str, content: Vec<u8>| {
        let content = if gz { gzip(&content) } else { content };
        std::fs::write(dir.join(format!("{name}{ext}")), content).unwrap();
    };
    let n_tr = f.train_labels.len() as u32;
    let n_te = f.test_labels.len() as u32;
    put(
        &format!("train-images{sep}idx3-ubyte"),
        idx_bytes(&[n_tr, H as u32, W as u32], &f.train_images),
    );
    put(
        &format!("train-labels{sep}idx1-ubyte"),
        idx_bytes(&[n_tr], &f.train_labels),
    );
    put(
        &format!("t10k-images{sep}idx3-ubyte"),
        idx_bytes(&[n_te, H as u32, W as u32], &f.test_images),
    );
    put(
        &format!("t10k-labels{sep}idx1-ubyte"),
        idx_bytes(&[n_te], &f.test_labels),
    );
}

fn check_round_trip(dir: &Path, f: &Files) {
    let s = read_idx(dir, 10).unwrap();
    assert_eq!(s.train.image_shape(), [1, H, W]);
    assert_eq!(s.train.len(), 5);
    assert_eq!(s.train.images(), f.train_images.as_slice());
    let want: Vec<i64> = f.train_labels.iter().map(|&l| l as i64).collect();
    assert_eq!(s.train.labels(), want.as_slice());
    assert_eq!(s.test.len(), 3);
    assert_eq!(s.test.images(), f.test_images.as_slice());
    let want: Vec<i64> = f.test_labels.iter().map(|&l| l as i64).collect();
    assert_eq!(s.test.labels(), want.as_slice());
    assert_eq!(s.train.classes(), 10);
}

#[test]
fn idx_raw_round_trip() {
    let d = TempDir::new("raw");
    let f = sample_files();
    write_set(&d.0, &f, "-", false);
    check_round_trip(&d.0, &f);
    let arr = read_idx_file(&d.0.join("train-images-idx3-ubyte")).unwrap();
    assert_eq!(arr.dims, vec![5, H, W]);
    assert_eq!(arr.data, f.train_images);
}

#[test]
fn idx_gz_round_trip() {
    let d = TempDir::new("gz");
    let f = sample_files();
    write_set(&d.0, &f, "-", true);
    check_round_trip(&d.0, &f);
    let arr = read_idx_file(&d.0.join("t10k-images-idx3-ubyte.gz")).unwrap();
    assert_eq!(arr.data, f.test_images);
}

#[test]
fn idx_gzip_found_by_magic_not_name() {
    let d = TempDir::new("magic");
    let f = sample_files();
    write_set(&d.0, &f, "-", true);
    for name in [
        "train-images-idx3-ubyte",
        "train-labels-idx1-ubyte",
        "t10k-images-idx3-ubyte",
        "t10k-labels-idx1-ubyte",
    ] {
        let from = d.0.join(format!("{name}.gz"));
        std::fs::rename(&from, d.0.join(name)).unwrap();
    }
    check_round_trip(&d.0, &f);
}

#[test]
fn idx_dotted_names_and_mnist_names() {
    let d = TempDir::new("dotted");
    let f = sample_files();
    write_set(&d.0, &f, ".", true);
    check_round_trip(&d.0, &f);
    let m = read_mnist(&d.0).unwrap();
    assert_eq!(m.train.class_names().unwrap()[7], "7");
    let fm = read_fashion_mnist(&d.0).unwrap();
    assert_eq!(fm.test.class_names().unwrap()[9], "Ankle boot");
}

/// The error's message, asserting that it names `needle`.
fn err_naming<T: std::fmt::Debug>(r: maxl::Result<T>, needle: &str) -> Error {
    let e = r.expect_err("expected an error");
    let msg = e.to_string();
    assert!(
        msg.contains(needle),
        "error {msg:?} does not name {needle:?}"
    );
    e
}

#[test]
fn idx_missing_folder_and_file() {
    let d = TempDir::new("missing");
    let gone = d.0.join("nope");
    let e = err_naming(read_idx(&gone, 10), "nope");
    assert!(matches!(e, Error::NotFound { .. }));

    let f = sample_files();
    write_set(&d.0, &f, "-", false);
    std::fs::remove_file(d.0.join("t10k-labels-idx1-ubyte")).unwrap();
    let e = err_naming(read_idx(&d.0, 10), "t10k-labels-idx1-ubyte");
    assert!(matches!(e, Error::NotFound { .. }), "{e}");
}

#[test]
fn idx_truncated_files() {
    let d = TempDir::new("trunc");
    let f = sample_files();
    write_set(&d.0, &f, "-", false);
    let p = d.0.join("train-images-idx3-ubyte");
    let full = std::fs::read(&p).unwrap();
    std::fs::write(&p, &full[..full.len() - 1]).unwrap();
    let e = err_naming(read_idx(&d.0, 10), "train-images-idx3-ubyte");
    assert!(e.to_string().contains("truncated"), "{e}");

    // A header cut short.
    std::fs::write(&p, &full[..9]).unwrap();
    err_naming(read_idx(&d.0, 10), "train-images-idx3-ubyte");
    std::fs::write(&p, &full[..2]).unwrap();
    err_naming(read_idx(&d.0, 10), "train-images-idx3-ubyte");

    // A cut gzip stream.
    let d = TempDir::new("truncgz");
    write_set(&d.0, &f, "-", true);
    let p = d.0.join("t10k-images-idx3-ubyte.gz");
    let full = std::fs::read(&p).unwrap();
    std::fs::write(&p, &full[..full.len() / 2]).unwrap();
    err_naming(read_idx(&d.0, 10), "t10k-images-idx3-ubyte.gz");
}

#[test]
fn idx_wrong_magic() {
    let d = TempDir::new("magicbad");
    let f = sample_files();
    write_set(&d.0, &f, "-", false);
    let p = d.0.join("train-labels-idx1-ubyte");
    let mut b = std::fs::read(&p).unwrap();
    b[0] = 0x42;
    std::fs::write(&p, &b).unwrap();
    let e = err_naming(read_idx(&d.0, 10), "train-labels-idx1-ubyte");
    assert!(e.to_string().contains("magic"), "{e}");

    // Element type other than unsigned byte.
    b[0] = 0;
    b[2] = 0x0D;
    std::fs::write(&p, &b).unwrap();
    err_naming(read_idx(&d.0, 10), "train-labels-idx1-ubyte");
}

#[test]
fn idx_label_count_differs_from_image_count() {
    let d = TempDir::new("count");
    let mut f = sample_files();
    f.train_labels.push(4); // 6 labels for 5 images
    let tr = idx_bytes(&[6], &f.train_labels);
    write_set(&d.0, &sample_files(), "-", false);
    std::fs::write(d.0.join("train-labels-idx1-ubyte"), tr).unwrap();
    let e = err_naming(read_idx(&d.0, 10), "train-labels-idx1-ubyte");
    assert!(e.to_string().contains("6 labels"), "{e}");
}

#[test]
fn idx_label_out_of_range() {
    let d = TempDir::new("range");
    let mut f = sample_files();
    f.test_labels[2] = 10;
    write_set(&d.0, &f, "-", true);
    let e = err_naming(read_idx(&d.0, 10), "t10k-labels-idx1-ubyte.gz");
    assert!(e.to_string().contains("label 10"), "{e}");
    // With more classes the same files are fine.
    assert_eq!(read_idx(&d.0, 11).unwrap().test.labels()[2], 10);
}

/// Debian's package `dataset-fashion-mnist`, when installed: the real files read whole.
#[test]
fn fashion_mnist_from_debian_package_if_installed() {
    let dir = Path::new(FASHION_MNIST_DEBIAN);
    if !dir.is_dir() {
        eprintln!("skipped: {FASHION_MNIST_DEBIAN} is not installed");
        return;
    }
    let s = read_fashion_mnist(dir).unwrap();
    assert_eq!((s.train.len(), s.test.len()), (60000, 10000));
    assert_eq!(s.train.image_shape(), [1, 28, 28]);
    assert_eq!(s.train.class_counts(), vec![6000; 10]);
    assert_eq!(s.test.class_counts(), vec![1000; 10]);
}

#[test]
fn idx_dimension_count_that_does_not_fit_is_named_as_such() {
    // Magic 0x0805 on an images file of 3 real dimensions: the reader takes 5 dimensions, two
    // of them read from the pixel bytes.
    let d = TempDir::new("dimcount");
    let f = sample_files();
    write_set(&d.0, &f, "-", false);
    let p = d.0.join("train-images-idx3-ubyte");
    let mut b = std::fs::read(&p).unwrap();
    b[3] = 5;
    // Two zero "dimensions" so that the declared array is smaller than the file.
    b[16..24].fill(0);
    std::fs::write(&p, &b).unwrap();
    let e = err_naming(read_idx(&d.0, 10), "train-images-idx3-ubyte");
    let msg = e.to_string();
    assert!(msg.contains("dimension count does not fit"), "{msg}");
    assert!(msg.contains("declares 5 dimensions"), "{msg}");
}

#[test]
fn idx_empty_training_or_test_set_is_an_error() {
    for (train, what) in [
        (true, "training set holds no images"),
        (false, "test set holds no images"),
    ] {
        let d = TempDir::new("empty");
        let mut f = sample_files();
        if train {
            f.train_images.clear();
            f.train_labels.clear();
        } else {
            f.test_images.clear();
            f.test_labels.clear();
        }
        write_set(&d.0, &f, "-", false);
        let e = read_idx(&d.0, 10).expect_err("an empty set must be refused");
        assert!(e.to_string().contains(what), "{e}");
    }
}
