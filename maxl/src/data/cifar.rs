//! CIFAR-10 and CIFAR-100 in their binary form: fixed-size records of label byte(s) and 3072
//! pixel bytes (3 x 32 x 32, channel planes), in the given folder or in its
//! `cifar-10-batches-bin/` / `cifar-100-binary/` subfolder as the archives unpack.

use super::dataset::{Dataset, Split};
use super::io::{bad, find_file, read_file, require_dir, IN_MEMORY};
use super::label_hierarchy::LabelHierarchy;
use super::names;
use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

const PIXELS: usize = 3 * 32 * 32;
const SHAPE: [usize; 3] = [3, 32, 32];

/// The folder that holds `first`: `dir` itself or `dir/sub`.
fn locate(dir: &Path, sub: &str, first: &str) -> Result<PathBuf> {
    require_dir(dir)?;
    if dir.join(first).is_file() {
        return Ok(dir.to_path_buf());
    }
    let nested = dir.join(sub);
    if nested.join(first).is_file() {
        return Ok(nested);
    }
    Err(Error::NotFound {
        path: dir.join(first),
        hint: format!(" (nor {})", nested.join(first).display()),
    })
}

/// The records of one file: `labels` label bytes then 3072 pixels each. Returns the pixels
/// and, per label byte position, the labels, each checked against its class count.
fn read_records(path: &Path, classes: &[usize]) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    records(&read_file(path)?, classes, path)
}

/// [`read_records`] on bytes in memory; `path` names their source in errors.
fn records(bytes: &[u8], classes: &[usize], path: &Path) -> Result<(Vec<u8>, Vec<Vec<u8>>)> {
    let rec = classes.len() + PIXELS;
    if bytes.is_empty() {
        return Err(bad(path, "empty file"));
    }
    if !bytes.len().is_multiple_of(rec) {
        return Err(bad(
            path,
            format!(
                "truncated: {} bytes is not a whole number of {rec}-byte records \
                 ({} records and {} bytes over)",
                bytes.len(),
                bytes.len() / rec,
                bytes.len() % rec
            ),
        ));
    }
    let n = bytes.len() / rec;
    let mut images = Vec::with_capacity(n * PIXELS);
    let mut labels = vec![Vec::with_capacity(n); classes.len()];
    for (i, r) in bytes.chunks_exact(rec).enumerate() {
        for (k, &c) in classes.iter().enumerate() {
            if r[k] as usize >= c {
                return Err(bad(
                    path,
                    format!(
                        "record {i}: label {} is outside 0..{c}{}",
                        r[k],
                        if classes.len() > 1 {
                            format!(" (label byte {k})")
                        } else {
                            String::new()
                        }
                    ),
                ));
            }
            labels[k].push(r[k]);
        }
        images.extend_from_slice(&r[classes.len()..]);
    }
    Ok((images, labels))
}

fn to_i64(v: &[u8]) -> Vec<i64> {
    v.iter().map(|&l| l as i64).collect()
}

/// CIFAR-10 images and labels as a data set with the 10 class names.
fn cifar10_dataset(images: Vec<u8>, labels: &[u8]) -> Result<Dataset> {
    Dataset::new(images, to_i64(labels), SHAPE, 10)?.with_class_names(names::owned(&names::CIFAR10))
}

/// The records of one CIFAR-10 batch file (e.g. `test_batch.bin`) given as bytes, as a data
/// set: the checks of [`read_cifar10`], errors naming the source `<bytes>`.
pub fn parse_cifar10_bytes(bytes: &[u8]) -> Result<Dataset> {
    let (images, labels) = records(bytes, &[10], Path::new(IN_MEMORY))?;
    cifar10_dataset(images, &labels[0])
}

/// The records of one CIFAR-100 file (`train.bin` or `test.bin`) given as bytes, as a data
/// set with its label hierarchy: the checks of [`read_cifar100`] with the fine -> coarse map
/// taken from this file alone; errors name the source `<bytes>`.
pub fn parse_cifar100_bytes(bytes: &[u8]) -> Result<Dataset> {
    let path = Path::new(IN_MEMORY);
    let (images, labels) = records(bytes, &[20, 100], path)?;
    let map = fine_to_coarse(&[(path, &labels)])?;
    cifar100_dataset(images, &labels, &map)
}

/// The fine -> coarse map that the records of some files give: each fine class must appear
/// with one coarse class throughout; a fine class absent from all takes its coarse class from
/// CIFAR-100's published map.
fn fine_to_coarse(files: &[(&Path, &Vec<Vec<u8>>)]) -> Result<Vec<usize>> {
    // The map as the records give it, with where each entry was first seen.
    let mut seen: Vec<Option<(u8, &Path, usize)>> = vec![None; 100];
    for &(path, lab) in files {
        for (i, (&c, &f)) in lab[0].iter().zip(&lab[1]).enumerate() {
            match seen[f as usize] {
                None => seen[f as usize] = Some((c, path, i)),
                Some((c0, p0, i0)) if c0 != c => {
                    return Err(bad(
                        path,
                        format!(
                            "record {i}: fine class {f} has coarse class {c}, but record {i0} \
                             of {} gives it coarse class {c0}",
                            p0.display()
                        ),
                    ))
                }
                Some(_) => {}
            }
        }
    }
    Ok(seen
        .iter()
        .zip(names::CIFAR100_FINE_TO_COARSE)
        .map(|(s, canon)| s.map_or(canon, |(c, _, _)| c as usize))
        .collect())
}

/// CIFAR-100 images and (coarse, fine) label bytes as a data set of the 100 fine classes
/// with its hierarchy.
fn cifar100_dataset(images: Vec<u8>, lab: &[Vec<u8>], map: &[usize]) -> Result<Dataset> {
    let fine = to_i64(&lab[1]);
    let h = LabelHierarchy::cifar100(fine.clone(), map.to_vec())?;
    Dataset::new(images, fine, SHAPE, 100)?
        .with_class_names(names::owned(&names::CIFAR100_FINE))?
        .with_hierarchy(h)
}

/// CIFAR-10: `data_batch_1.bin` .. `data_batch_5.bin` (train) and `test_batch.bin`.
pub fn read_cifar10(dir: &Path) -> Result<Split> {
    let d = locate(dir, "cifar-10-batches-bin", "data_batch_1.bin")?;
    let read = |files: &[String]| -> Result<Dataset> {
        let (mut images, mut labels) = (Vec::new(), Vec::new());
        for f in files {
            let (im, lab) = read_records(&find_file(&d, std::slice::from_ref(f))?, &[10])?;
            images.extend_from_slice(&im);
            labels.extend_from_slice(&lab[0]);
        }
        cifar10_dataset(images, &labels)
    };
    let train_files: Vec<String> = (1..=5).map(|i| format!("data_batch_{i}.bin")).collect();
    let train = read(&train_files)?;
    let test = read(&["test_batch.bin".to_string()])?;
    Split::new(train, test)
}

/// CIFAR-100: `train.bin` and `test.bin`, records of coarse label, fine label, pixels. The
/// primary labels are the 100 fine classes; the hierarchy has levels 3, 10, 20 (the file's
/// coarse labels) and 100 (see [`LabelHierarchy::cifar100`]). Each fine class must appear with one
/// coarse class throughout both files; a fine class absent from both takes its coarse class
/// from CIFAR-100's published map.
pub fn read_cifar100(dir: &Path) -> Result<Split> {
    let d = locate(dir, "cifar-100-binary", "train.bin")?;
    let train_path = d.join("train.bin");
    let test_path = find_file(&d, &["test.bin".to_string()])?;
    let (train_img, train_lab) = read_records(&train_path, &[20, 100])?;
    let (test_img, test_lab) = read_records(&test_path, &[20, 100])?;

    let map = fine_to_coarse(&[(&train_path, &train_lab), (&test_path, &test_lab)])?;
    let train = cifar100_dataset(train_img, &train_lab, &map)?;
    let test = cifar100_dataset(test_img, &test_lab, &map)?;
    Split::new(train, test)
}
