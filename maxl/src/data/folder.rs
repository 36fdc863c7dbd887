//! Image folders as torchvision's `ImageFolder`: `train/<class>/*.png|jpg|jpeg` and
//! `test/<class>/*`, classes in sorted order of the train folder's subfolders. All images must
//! share one size. Channels: 1 if every image (train and test) is grey, else 3 (RGB; grey images
//! are replicated to three channels, alpha is dropped). Files with other extensions are ignored.

use super::dataset::{Dataset, Split};
use super::io::{bad, io_error, require_dir};
use crate::error::Result;
use image::{ImageDecoder, ImageReader};
use rayon::prelude::*;
use std::path::{Path, PathBuf};

const EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Image files with their labels.
type Files = Vec<(PathBuf, i64)>;

/// Sorted entries of `dir` that pass `keep`, skipping hidden names.
fn entries(dir: &Path, keep: impl Fn(&Path) -> bool) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| io_error(dir, e))? {
        let p = e.map_err(|e| io_error(dir, e))?.path();
        let hidden = p
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with('.'));
        if !hidden && keep(&p) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out)
}

fn is_image(p: &Path) -> bool {
    p.is_file()
        && p.extension()
            .and_then(|e| e.to_str())
            .is_some_and(|e| EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

fn class_name(p: &Path) -> Result<String> {
    p.file_name()
        .and_then(|n| n.to_str())
        .map(str::to_string)
        .ok_or_else(|| bad(p, "class folder name is not valid UTF-8"))
}

/// The image files of one split with their labels; `classes` is `None` for the train split
/// (its subfolders define the classes) and the train classes for the test split.
fn list(split: &Path, classes: Option<&[String]>) -> Result<(Vec<String>, Files)> {
    require_dir(split)?;
    let dirs = entries(split, Path::is_dir)?;
    let names: Vec<String> = dirs.iter().map(|d| class_name(d)).collect::<Result<_>>()?;
    if dirs.is_empty() {
        return Err(bad(split, "no class subfolders"));
    }
    let mut files = Vec::new();
    for (k, (d, name)) in dirs.iter().zip(&names).enumerate() {
        let label = match classes {
            None => k,
            Some(c) => c.iter().position(|n| n == name).ok_or_else(|| {
                bad(
                    d,
                    format!("class {name:?} is not a class of the train folder"),
                )
            })?,
        };
        let imgs = entries(d, is_image)?;
        if imgs.is_empty() && classes.is_none() {
            return Err(bad(d, "no .png, .jpg or .jpeg images"));
        }
        files.extend(imgs.into_iter().map(|p| (p, label as i64)));
    }
    if files.is_empty() {
        return Err(bad(split, "no .png, .jpg or .jpeg images"));
    }
    Ok((names, files))
}

fn undecodable(p: &Path, e: image::ImageError) -> crate::Error {
    bad(p, format!("undecodable image: {e}"))
}

fn reader(p: &Path) -> Result<ImageReader<std::io::BufReader<std::fs::File>>> {
    ImageReader::open(p)
        .and_then(|r| r.with_guessed_format())
        .map_err(|e| io_error(p, e))
}

/// Width, height and whether the image has colour, from the header alone. An image too big
/// for the image crate's memory limit is refused here, as its `decode` would refuse it, but
/// before [`read_image_folder`] sizes a buffer from the header's dimensions (found by fuzzing:
/// a 133-byte PNG that claims 65535 x 4278976517 pixels).
fn header(p: &Path) -> Result<(u32, u32, bool)> {
    let dec = reader(p)?.into_decoder().map_err(|e| undecodable(p, e))?;
    let (w, h) = dec.dimensions();
    let limits = image::Limits::default();
    if let Some(max) = limits.max_alloc {
        if dec.total_bytes() > max {
            return Err(bad(
                p,
                format!(
                    "is {h}x{w} (height x width): decoding it would take {} bytes, more than the {} MiB an image \
                     may take",
                    dec.total_bytes(),
                    max >> 20
                ),
            ));
        }
    }
    Ok((w, h, dec.color_type().has_color()))
}

/// Decodes `p` into `out` as C x H x W.
fn decode(p: &Path, c: usize, (w, h): (u32, u32), out: &mut [u8]) -> Result<()> {
    let img = reader(p)?.decode().map_err(|e| undecodable(p, e))?;
    if (img.width(), img.height()) != (w, h) {
        return Err(bad(
            p,
            format!(
                "decodes to {}x{} (height x width), expected {h}x{w}",
                img.height(),
                img.width()
            ),
        ));
    }
    let hw = (w as usize) * (h as usize);
    if c == 1 {
        out.copy_from_slice(img.into_luma8().as_raw());
    } else {
        let rgb = img.into_rgb8();
        for (i, px) in rgb.as_raw().chunks_exact(3).enumerate() {
            for (ch, &v) in px.iter().enumerate() {
                out[ch * hw + i] = v;
            }
        }
    }
    Ok(())
}

/// The first error in file order, so that a folder with several bad files always names the
/// same one.
fn first_err<T>(rs: Vec<Result<T>>) -> Result<Vec<T>> {
    rs.into_iter().collect()
}

/// Reads `root/train/<class>/*` and `root/test/<class>/*`.
pub fn read_image_folder(root: &Path) -> Result<Split> {
    require_dir(root)?;
    let (classes, train_files) = list(&root.join("train"), None)?;
    let (_, test_files) = list(&root.join("test"), Some(&classes))?;
    let all: Vec<&(PathBuf, i64)> = train_files.iter().chain(&test_files).collect();

    let headers = first_err(all.par_iter().map(|(p, _)| header(p)).collect())?;
    let (Some(&(w0, h0, _)), Some((first, _))) = (headers.first(), all.first()) else {
        return Err(bad(root, "no images"));
    };
    for ((p, _), &(w, h, _)) in all.iter().zip(&headers) {
        if (w, h) != (w0, h0) {
            return Err(bad(
                p,
                format!(
                    "is {h}x{w} (height x width), but {} is {h0}x{w0}: all images must have one size",
                    first.display()
                ),
            ));
        }
    }
    if w0 == 0 || h0 == 0 {
        return Err(bad(first, "image of size 0"));
    }
    let c = if headers.iter().any(|&(_, _, colour)| colour) {
        3
    } else {
        1
    };
    let shape = [c, h0 as usize, w0 as usize];
    let per = c * (h0 as usize) * (w0 as usize);

    let load = |files: &[(PathBuf, i64)]| -> Result<Dataset> {
        // Many images of an allowed size can still be more than the memory there is: an Err,
        // not an abort.
        let too_big = || {
            bad(
                root,
                format!(
                    "{} images of {c}x{h0}x{w0} do not fit in memory",
                    files.len()
                ),
            )
        };
        let total = files.len().checked_mul(per).ok_or_else(too_big)?;
        let mut images = Vec::new();
        images.try_reserve_exact(total).map_err(|_| too_big())?;
        images.resize(total, 0u8);
        first_err(
            images
                .par_chunks_mut(per)
                .zip(files.par_iter())
                .map(|(out, (p, _))| decode(p, c, (w0, h0), out))
                .collect(),
        )?;
        let labels = files.iter().map(|&(_, l)| l).collect();
        Dataset::new(images, labels, shape, classes.len())?.with_class_names(classes.clone())
    };
    Split::new(load(&train_files)?, load(&test_files)?)
}
