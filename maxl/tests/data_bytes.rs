//! The byte-level entry points of the readers (`parse_idx_bytes`, `parse_cifar10_bytes`,
//! `parse_cifar100_bytes`, used by the fuzz targets in `fuzz/`): the same results and the same
//! checks as the file readers, with errors naming `<bytes>`.

use flate2::write::GzEncoder;
use flate2::Compression;
use maxl::data::{
    names, parse_cifar100_bytes, parse_cifar10_bytes, parse_idx_bytes, read_cifar10, read_cifar100,
    read_idx_file,
};
use maxl::Error;
use std::io::Write;

mod common;
use common::TempDir;

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

/// The message of a `BadData` error from bytes in memory.
fn bad_bytes<T: std::fmt::Debug>(r: maxl::Result<T>) -> String {
    match r.unwrap_err() {
        Error::BadData { path, msg } => {
            assert_eq!(path.to_str(), Some("<bytes>"));
            msg
        }
        e => panic!("expected BadData, got {e:?}"),
    }
}

/// Records of `labels.len()` label bytes each plus 3072 pixels.
fn records(labels: &[&[u8]]) -> Vec<u8> {
    let mut b = Vec::new();
    for (r, l) in labels.iter().enumerate() {
        b.extend_from_slice(l);
        b.extend((0..3072).map(|i| ((i * 31 + r * 7) % 251) as u8));
    }
    b
}

#[test]
fn idx_bytes_read_as_the_file_reader_reads_them() {
    let d = TempDir::new("bytes-idx");
    let pixels: Vec<u8> = (0..24).collect();
    let file = idx_bytes(&[2, 3, 4], &pixels);
    for (name, content) in [("raw", file.clone()), ("gz", gzip(&file))] {
        let p = d.0.join(name);
        std::fs::write(&p, &content).unwrap();
        let a = parse_idx_bytes(&content).unwrap();
        assert_eq!(a, read_idx_file(&p).unwrap(), "{name}");
        assert_eq!((a.dims, a.data), (vec![2, 3, 4], pixels.clone()));
    }
    // The same checks, the same messages, the source named `<bytes>`.
    let short = idx_bytes(&[2, 3, 4], &pixels[..23]);
    let p = d.0.join("short");
    std::fs::write(&p, &short).unwrap();
    let msg = bad_bytes(parse_idx_bytes(&short));
    assert!(
        msg.contains("truncated: dimensions [2, 3, 4] need 24"),
        "{msg}"
    );
    assert_eq!(
        read_idx_file(&p).unwrap_err().to_string(),
        format!("{}: {msg}", p.display())
    );
    assert!(bad_bytes(parse_idx_bytes(&[0, 0, 8])).contains("4-byte IDX magic"));
    assert!(bad_bytes(parse_idx_bytes(&[0x1f, 0x8b, 8, 0])).contains("gzip"));
    assert!(bad_bytes(parse_idx_bytes(&gzip(&[0, 0, 0x0d, 1]))).contains("0x0d"));
}

#[test]
fn cifar10_bytes_read_as_the_folder_reader_reads_them() {
    let d = TempDir::new("bytes-c10");
    let file = records(&[&[3], &[9]]);
    for b in 1..=5 {
        std::fs::write(d.0.join(format!("data_batch_{b}.bin")), &file).unwrap();
    }
    std::fs::write(d.0.join("test_batch.bin"), &file).unwrap();
    let test = read_cifar10(&d.0).unwrap().test;
    let parsed = parse_cifar10_bytes(&file).unwrap();
    assert_eq!(parsed, test);
    assert_eq!(parsed.labels(), &[3, 9]);
    assert_eq!(parsed.class_names().unwrap()[3], names::CIFAR10[3]);

    assert!(bad_bytes(parse_cifar10_bytes(&[])).contains("empty file"));
    let msg = bad_bytes(parse_cifar10_bytes(&file[..3073 + 5]));
    assert!(msg.contains("1 records and 5 bytes over"), "{msg}");
    let msg = bad_bytes(parse_cifar10_bytes(&records(&[&[1], &[10]])));
    assert!(msg.contains("record 1: label 10 is outside 0..10"), "{msg}");
}

#[test]
fn cifar100_bytes_read_as_the_folder_reader_reads_them() {
    let d = TempDir::new("bytes-c100");
    // Fine 30 is in coarse 0 (aquatic mammals); fine 99 (worm) in 13: as the published map.
    let file = records(&[&[0, 30], &[13, 99], &[0, 30]]);
    std::fs::write(d.0.join("train.bin"), &file).unwrap();
    std::fs::write(d.0.join("test.bin"), &file).unwrap();
    let test = read_cifar100(&d.0).unwrap().test;
    let parsed = parse_cifar100_bytes(&file).unwrap();
    assert_eq!(parsed, test);
    assert_eq!(parsed.labels(), &[30, 99, 30]);
    let h = parsed.hierarchy().unwrap();
    assert_eq!(h.labels(20).unwrap(), &[0, 13, 0]);

    let msg = bad_bytes(parse_cifar100_bytes(&records(&[&[20, 1]])));
    assert!(
        msg.contains("label 20 is outside 0..20 (label byte 0)"),
        "{msg}"
    );
    let msg = bad_bytes(parse_cifar100_bytes(&records(&[&[0, 4], &[2, 4]])));
    assert!(
        msg.contains("record 1: fine class 4 has coarse class 2, but record 0 of <bytes>"),
        "{msg}"
    );
}
