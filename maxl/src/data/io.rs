//! File helpers shared by the readers: whole-file reads whose errors carry the path, gzip
//! detected by its magic bytes (1f 8b) rather than by the file name, and lookup of the first
//! of several accepted file names.

use crate::error::{Error, Result};
use flate2::read::MultiGzDecoder;
use std::io::Read;
use std::path::{Path, PathBuf};

/// The error for an I/O failure on `path`; a missing file becomes [`Error::NotFound`].
pub(crate) fn io_error(path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound {
            path: path.to_path_buf(),
            hint: String::new(),
        }
    } else {
        Error::Io {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

/// What errors name as the source of bytes given in memory (the `parse_*_bytes` functions).
pub(crate) const IN_MEMORY: &str = "<bytes>";

/// A [`Error::BadData`] for `path`.
pub(crate) fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::BadData {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

/// The whole file.
pub(crate) fn read_file(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|e| io_error(path, e))
}

/// The whole file, decompressed when it starts with the gzip magic bytes.
pub(crate) fn read_maybe_gz(path: &Path) -> Result<Vec<u8>> {
    gunzip_if_gz(read_file(path)?, path)
}

/// `raw` decompressed when it starts with the gzip magic bytes, else `raw` itself; `path`
/// names the source in errors.
pub(crate) fn gunzip_if_gz(raw: Vec<u8>, path: &Path) -> Result<Vec<u8>> {
    if !raw.starts_with(&[0x1f, 0x8b]) {
        return Ok(raw);
    }
    // The gzip trailer holds the decompressed size mod 2^32: a capacity hint, capped in case
    // the file lies.
    let isize_hint = raw
        .get(raw.len().saturating_sub(4)..)
        .and_then(|t| t.try_into().ok())
        .map_or(0, |t: [u8; 4]| u32::from_le_bytes(t) as usize);
    let mut out = Vec::with_capacity(isize_hint.min(raw.len().saturating_mul(64)));
    MultiGzDecoder::new(raw.as_slice())
        .read_to_end(&mut out)
        .map_err(|e| bad(path, format!("bad or truncated gzip stream: {e}")))?;
    Ok(out)
}

/// Ok when `dir` is an existing folder.
pub(crate) fn require_dir(dir: &Path) -> Result<()> {
    let meta = std::fs::metadata(dir).map_err(|e| io_error(dir, e))?;
    if meta.is_dir() {
        Ok(())
    } else {
        Err(bad(dir, "is not a folder"))
    }
}

/// The first of `names` that exists as a file in `dir`, or a [`Error::NotFound`] naming the
/// first and listing the others.
pub(crate) fn find_file(dir: &Path, names: &[String]) -> Result<PathBuf> {
    for n in names {
        let p = dir.join(n);
        if p.is_file() {
            return Ok(p);
        }
    }
    let first = names
        .first()
        .map_or_else(|| dir.to_path_buf(), |n| dir.join(n));
    let hint = if names.len() > 1 {
        format!(" (nor {})", names[1..].join(", "))
    } else {
        String::new()
    };
    Err(Error::NotFound { path: first, hint })
}
