//! IDX files (MNIST, Fashion-MNIST): `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`,
//! `t10k-images-idx3-ubyte`, `t10k-labels-idx1-ubyte` in one folder, raw or gzip (found by magic
//! bytes), also named `train-images.idx3-ubyte` etc. Debian's `dataset-fashion-mnist` installs the
//! `-idx3-ubyte.gz` names in [`FASHION_MNIST_DEBIAN`].

use super::dataset::{Dataset, Split};
use super::io::{bad, find_file, gunzip_if_gz, read_maybe_gz, require_dir, IN_MEMORY};
use super::labels::out_of_range;
use super::names;
use crate::error::Result;
use std::path::Path;

/// Where Debian's package `dataset-fashion-mnist` puts the four gzip files.
pub const FASHION_MNIST_DEBIAN: &str = "/usr/share/datasets/fashion-mnist";

/// An IDX array of unsigned bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdxArray {
    pub dims: Vec<usize>,
    pub data: Vec<u8>,
}

/// Reads one IDX file of unsigned bytes (type 0x08), raw or gzip, and checks that it holds
/// exactly the bytes its header promises.
pub fn read_idx_file(path: &Path) -> Result<IdxArray> {
    parse_idx(read_maybe_gz(path)?, path)
}

/// [`read_idx_file`] on a file's bytes in memory (raw or gzip); errors name the source
/// `<bytes>`.
pub fn parse_idx_bytes(bytes: &[u8]) -> Result<IdxArray> {
    let path = Path::new(IN_MEMORY);
    parse_idx(gunzip_if_gz(bytes.to_vec(), path)?, path)
}

/// The array in decompressed IDX bytes.
fn parse_idx(mut data: Vec<u8>, path: &Path) -> Result<IdxArray> {
    let (dims, header) = parse_header(&data).map_err(|msg| bad(path, msg))?;
    data.drain(..header);
    Ok(IdxArray { dims, data })
}

/// The dimensions and header length of an IDX file, checked against the file's length.
fn parse_header(b: &[u8]) -> std::result::Result<(Vec<usize>, usize), String> {
    if b.len() < 4 {
        return Err(format!(
            "truncated: {} bytes, shorter than the 4-byte IDX magic",
            b.len()
        ));
    }
    let magic = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    if b[0] != 0 || b[1] != 0 || b[3] == 0 {
        return Err(format!(
            "bad magic 0x{magic:08x}: not an IDX file (expected 0x0000080N)"
        ));
    }
    if b[2] != 0x08 {
        return Err(format!(
            "IDX element type 0x{:02x} is not supported (only 0x08, unsigned byte)",
            b[2]
        ));
    }
    let nd = b[3] as usize;
    let header = 4 + 4 * nd;
    if b.len() < header {
        return Err(format!(
            "truncated: the header of {nd} dimensions needs {header} bytes, the file has {}",
            b.len()
        ));
    }
    let dims: Vec<usize> = b[4..header]
        .chunks_exact(4)
        .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]) as usize)
        .collect();
    let want = dims
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(|| format!("dimensions {dims:?} overflow"))?;
    let have = b.len() - header;
    if have < want {
        return Err(format!(
            "truncated: dimensions {dims:?} need {want} data bytes, the file has {have}"
        ));
    }
    if have > want {
        return Err(format!(
            "the header declares {nd} dimensions {dims:?} ({want} data bytes), but {have} data \
             bytes follow: the dimension count does not fit the file (an images file has 3 \
             dimensions, a labels file 1)"
        ));
    }
    Ok((dims, header))
}

/// The accepted names of one IDX file: `stem-kind`, `stem.kind`, each optionally `.gz`.
fn candidates(stem: &str, kind: &str) -> Vec<String> {
    vec![
        format!("{stem}-{kind}"),
        format!("{stem}-{kind}.gz"),
        format!("{stem}.{kind}"),
        format!("{stem}.{kind}.gz"),
    ]
}

/// One split (`train` or `t10k`): images [N, H, W] (or [N, C, H, W]) and labels [N] in
/// `0..classes`.
fn read_pair(dir: &Path, prefix: &str, classes: usize) -> Result<Dataset> {
    let img_path = find_file(dir, &candidates(&format!("{prefix}-images"), "idx3-ubyte"))?;
    let lab_path = find_file(dir, &candidates(&format!("{prefix}-labels"), "idx1-ubyte"))?;
    let (images, labels) = rayon::join(|| read_idx_file(&img_path), || read_idx_file(&lab_path));
    let (images, labels) = (images?, labels?);
    let shape = match images.dims[..] {
        [_, h, w] => [1, h, w],
        [_, c, h, w] => [c, h, w],
        _ => {
            return Err(bad(
                &img_path,
                format!(
                    "images must have 3 dimensions (N, H, W), found {:?}",
                    images.dims
                ),
            ))
        }
    };
    if shape.contains(&0) {
        return Err(bad(
            &img_path,
            format!("empty image shape {:?}", images.dims),
        ));
    }
    let [n_lab] = labels.dims[..] else {
        return Err(bad(
            &lab_path,
            format!("labels must have 1 dimension (N), found {:?}", labels.dims),
        ));
    };
    if n_lab != images.dims[0] {
        return Err(bad(
            &lab_path,
            format!(
                "{n_lab} labels, but {} holds {} images",
                img_path.display(),
                images.dims[0]
            ),
        ));
    }
    let labels: Vec<i64> = labels.data.iter().map(|&l| l as i64).collect();
    if let Some((i, l)) = out_of_range(&labels, classes) {
        return Err(bad(
            &lab_path,
            format!("label {l} of sample {i} is outside 0..{classes}"),
        ));
    }
    Dataset::new(images.data, labels, shape, classes)
}

/// Reads the four IDX files in `dir`; labels must lie in `0..classes`.
pub fn read_idx(dir: &Path, classes: usize) -> Result<Split> {
    require_dir(dir)?;
    let train = read_pair(dir, "train", classes)?;
    let test = read_pair(dir, "t10k", classes)?;
    Split::new(train, test)
}

/// MNIST: IDX files with 10 digit classes.
pub fn read_mnist(dir: &Path) -> Result<Split> {
    named(read_idx(dir, 10)?, &names::MNIST)
}

/// Fashion-MNIST: IDX files with its 10 named classes.
pub fn read_fashion_mnist(dir: &Path) -> Result<Split> {
    named(read_idx(dir, 10)?, &names::FASHION_MNIST)
}

fn named(s: Split, n: &[&str]) -> Result<Split> {
    Ok(Split {
        train: s.train.with_class_names(names::owned(n))?,
        test: s.test.with_class_names(names::owned(n))?,
    })
}
