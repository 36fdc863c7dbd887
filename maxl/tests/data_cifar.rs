//! CIFAR-10 and CIFAR-100 binary readers: round trips byte for byte (in the folder and in the
//! archives' subfolders), CIFAR-100's four label levels against `REFERENCE.md`'s maps, and every
//! bad-input case with the file named in the error.

use maxl::data::{names, read_cifar10, read_cifar100, Source};
use maxl::Error;
use std::path::Path;

mod common;
use common::TempDir;

/// `REFERENCE.md`: coarse 20 -> 10, written out here independently of the library.
const REF_20_TO_10: [usize; 20] = [1, 2, 5, 6, 5, 6, 6, 3, 0, 7, 8, 0, 1, 3, 4, 0, 2, 5, 9, 9];

/// `REFERENCE.md`: 10 -> 3 is 0..4 -> 0, 5 -> 1, 6..9 -> 2.
fn ref_10_to_3(c: usize) -> usize {
    match c {
        0..=4 => 0,
        5 => 1,
        _ => 2,
    }
}

fn pixels(record: usize, salt: usize) -> Vec<u8> {
    (0..3072)
        .map(|i| ((i * 31 + record * 7 + salt * 13) % 251) as u8)
        .collect()
}

/// CIFAR-10 file of records (label, pixels).
fn cifar10_file(labels: &[u8], salt: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut file, mut images) = (Vec::new(), Vec::new());
    for (r, &l) in labels.iter().enumerate() {
        let px = pixels(r, salt);
        file.push(l);
        file.extend_from_slice(&px);
        images.extend_from_slice(&px);
    }
    (file, images)
}

/// Writes a small CIFAR-10 set into `dir`; returns (train pixels, train labels, test pixels,
/// test labels) as written.
fn write_cifar10(dir: &Path) -> (Vec<u8>, Vec<i64>, Vec<u8>, Vec<i64>) {
    std::fs::create_dir_all(dir).unwrap();
    let (mut tr_img, mut tr_lab) = (Vec::new(), Vec::new());
    for b in 1..=5usize {
        let labels = [(b % 10) as u8, 9, 0];
        let (file, img) = cifar10_file(&labels, b);
        std::fs::write(dir.join(format!("data_batch_{b}.bin")), file).unwrap();
        tr_img.extend(img);
        tr_lab.extend(labels.iter().map(|&l| l as i64));
    }
    let labels = [3u8, 4];
    let (file, te_img) = cifar10_file(&labels, 9);
    std::fs::write(dir.join("test_batch.bin"), file).unwrap();
    (tr_img, tr_lab, te_img, vec![3, 4])
}

#[test]
fn cifar10_round_trip_in_folder_and_subfolder() {
    let d = TempDir::new("c10");
    let (tr_img, tr_lab, te_img, te_lab) = write_cifar10(&d.0);
    let s = read_cifar10(&d.0).unwrap();
    assert_eq!(s.train.image_shape(), [3, 32, 32]);
    assert_eq!(s.train.len(), 15);
    assert_eq!(s.train.images(), tr_img.as_slice());
    assert_eq!(s.train.labels(), tr_lab.as_slice());
    assert_eq!(s.test.images(), te_img.as_slice());
    assert_eq!(s.test.labels(), te_lab.as_slice());
    assert_eq!(s.train.class_names().unwrap()[0], "airplane");

    let d2 = TempDir::new("c10sub");
    write_cifar10(&d2.0.join("cifar-10-batches-bin"));
    let s2 = Source::Cifar10(d2.0.clone()).load().unwrap();
    assert_eq!(s2, s);
}

/// A CIFAR-100 file of records (coarse, fine, pixels) from (coarse, fine) pairs.
fn cifar100_file(labels: &[(u8, u8)], salt: usize) -> (Vec<u8>, Vec<u8>) {
    let (mut file, mut images) = (Vec::new(), Vec::new());
    for (r, &(c, f)) in labels.iter().enumerate() {
        let px = pixels(r, salt);
        file.extend_from_slice(&[c, f]);
        file.extend_from_slice(&px);
        images.extend_from_slice(&px);
    }
    (file, images)
}

/// (coarse, fine) label bytes of CIFAR-100 records.
type Records = Vec<(u8, u8)>;

/// Every fine class once in train (coarse by CIFAR-100's map), a few in test.
fn cifar100_labels() -> (Records, Records) {
    let map = names::CIFAR100_FINE_TO_COARSE;
    let train = (0..100u8)
        .rev()
        .map(|f| (map[f as usize] as u8, f))
        .collect();
    let test = [5u8, 55, 99, 0]
        .iter()
        .map(|&f| (map[f as usize] as u8, f))
        .collect();
    (train, test)
}

#[test]
fn cifar100_round_trip_and_four_levels() {
    let d = TempDir::new("c100");
    let sub = d.0.join("cifar-100-binary");
    std::fs::create_dir_all(&sub).unwrap();
    let (tr, te) = cifar100_labels();
    let (file, tr_img) = cifar100_file(&tr, 1);
    std::fs::write(sub.join("train.bin"), file).unwrap();
    let (file, te_img) = cifar100_file(&te, 2);
    std::fs::write(sub.join("test.bin"), file).unwrap();

    let s = read_cifar100(&d.0).unwrap();
    assert_eq!(s.train.images(), tr_img.as_slice());
    assert_eq!(s.test.images(), te_img.as_slice());
    assert_eq!(s.train.classes(), 100);
    for (set, recs) in [(&s.train, &tr), (&s.test, &te)] {
        let h = set.hierarchy().unwrap();
        assert_eq!(h.levels(), &[3, 10, 20, 100]);
        let fine: Vec<i64> = recs.iter().map(|&(_, f)| f as i64).collect();
        assert_eq!(set.labels(), fine.as_slice());
        assert_eq!(h.labels(100).unwrap(), fine.as_slice());
        for (i, &(c, _)) in recs.iter().enumerate() {
            let c = c as usize;
            assert_eq!(h.labels(20).unwrap()[i], c as i64);
            assert_eq!(h.labels(10).unwrap()[i], REF_20_TO_10[c] as i64);
            assert_eq!(h.labels(3).unwrap()[i], ref_10_to_3(REF_20_TO_10[c]) as i64);
        }
    }
    let h = s.train.hierarchy().unwrap();
    assert_eq!(h.psi(20, 100).unwrap(), vec![5; 20]);
    assert_eq!(h.psi(3, 10).unwrap(), vec![5, 1, 4]);
    assert_eq!(h.psi(3, 20).unwrap().iter().sum::<usize>(), 20);
    assert_eq!(h.ancestors(20, 10).unwrap(), REF_20_TO_10.to_vec());
    assert!(h.psi(100, 20).is_err());
    // Human baseline layout: fine classes of coarse 0 (beaver 4, dolphin 30, otter 55, seal 72,
    // whale 95) take columns 0..5 in that order.
    let cols = h.block_columns(20, 100).unwrap();
    assert_eq!(
        [cols[4], cols[30], cols[55], cols[72], cols[95]],
        [0, 1, 2, 3, 4]
    );
    let mut sorted = cols.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..100).collect::<Vec<_>>());

    // Relabelled at level 20: the file's coarse bytes and the superclass names.
    let s20 = s.clone().at_level(20).unwrap();
    assert_eq!(s20.train.classes(), 20);
    let coarse: Vec<i64> = tr.iter().map(|&(c, _)| c as i64).collect();
    assert_eq!(s20.train.labels(), coarse.as_slice());
    assert_eq!(s20.train.class_names().unwrap()[14], "people");
    let s3 = s.clone().at_level(3).unwrap();
    assert_eq!(s3.test.classes(), 3);
    assert!(s3.test.class_names().is_none());
    assert!(s.clone().at_level(7).is_err());
}

#[test]
fn cifar100_coarse_map_comes_from_the_file() {
    let d = TempDir::new("c100map");
    // Fine 0 (apple, coarse 4 in CIFAR-100) given coarse 7 consistently.
    let (file, _) = cifar100_file(&[(7, 0), (1, 1)], 1);
    std::fs::write(d.0.join("train.bin"), file).unwrap();
    let (file, _) = cifar100_file(&[(7, 0)], 2);
    std::fs::write(d.0.join("test.bin"), file).unwrap();
    let s = read_cifar100(&d.0).unwrap();
    let h = s.train.hierarchy().unwrap();
    assert_eq!(h.labels(20).unwrap(), &[7, 1]);
    assert_eq!(h.labels(10).unwrap(), &[3, 2]);
    assert_eq!(h.labels(3).unwrap(), &[0, 0]);
}

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
fn cifar_missing_folder_and_files() {
    let d = TempDir::new("missing");
    let e = err_naming(read_cifar10(&d.0.join("absent")), "absent");
    assert!(matches!(e, Error::NotFound { .. }));
    // An empty folder: neither data_batch_1.bin nor the subfolder.
    let e = err_naming(read_cifar10(&d.0), "data_batch_1.bin");
    assert!(e.to_string().contains("cifar-10-batches-bin"), "{e}");
    err_naming(read_cifar100(&d.0), "train.bin");

    write_cifar10(&d.0);
    std::fs::remove_file(d.0.join("test_batch.bin")).unwrap();
    let e = err_naming(read_cifar10(&d.0), "test_batch.bin");
    assert!(matches!(e, Error::NotFound { .. }));
    std::fs::remove_file(d.0.join("data_batch_4.bin")).unwrap();
    err_naming(read_cifar10(&d.0), "data_batch_4.bin");

    let (file, _) = cifar100_file(&[(0, 4)], 1);
    std::fs::write(d.0.join("train.bin"), file).unwrap();
    err_naming(read_cifar100(&d.0), "test.bin");
}

#[test]
fn cifar_truncated_and_empty_files() {
    let d = TempDir::new("trunc");
    write_cifar10(&d.0);
    let p = d.0.join("data_batch_3.bin");
    let full = std::fs::read(&p).unwrap();
    std::fs::write(&p, &full[..full.len() - 100]).unwrap();
    let e = err_naming(read_cifar10(&d.0), "data_batch_3.bin");
    assert!(e.to_string().contains("truncated"), "{e}");
    std::fs::write(&p, []).unwrap();
    let e = err_naming(read_cifar10(&d.0), "data_batch_3.bin");
    assert!(e.to_string().contains("empty"), "{e}");

    let (file, _) = cifar100_file(&[(0, 4), (1, 1)], 1);
    std::fs::write(d.0.join("train.bin"), &file[..3074 + 10]).unwrap();
    std::fs::write(d.0.join("test.bin"), &file).unwrap();
    err_naming(read_cifar100(&d.0), "train.bin");
}

#[test]
fn cifar_labels_out_of_range() {
    let d = TempDir::new("range");
    write_cifar10(&d.0);
    let (file, _) = cifar10_file(&[1, 10], 1);
    std::fs::write(d.0.join("test_batch.bin"), file).unwrap();
    let e = err_naming(read_cifar10(&d.0), "test_batch.bin");
    assert!(e.to_string().contains("record 1"), "{e}");

    let (file, _) = cifar100_file(&[(0, 4), (20, 1)], 1);
    std::fs::write(d.0.join("train.bin"), file).unwrap();
    let (file, _) = cifar100_file(&[(0, 4)], 2);
    std::fs::write(d.0.join("test.bin"), &file).unwrap();
    err_naming(read_cifar100(&d.0), "train.bin");
    let (file, _) = cifar100_file(&[(0, 100)], 1);
    std::fs::write(d.0.join("train.bin"), file).unwrap();
    err_naming(read_cifar100(&d.0), "train.bin");
}

#[test]
fn cifar100_fine_class_with_two_coarse_classes() {
    let d = TempDir::new("incons");
    let (file, _) = cifar100_file(&[(0, 4), (1, 1)], 1);
    std::fs::write(d.0.join("train.bin"), file).unwrap();
    let (file, _) = cifar100_file(&[(2, 4)], 2);
    std::fs::write(d.0.join("test.bin"), file).unwrap();
    let e = err_naming(read_cifar100(&d.0), "test.bin");
    assert!(e.to_string().contains("fine class 4"), "{e}");
}
