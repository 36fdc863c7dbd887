//! Errors of the maxl crate: engine errors, I/O with the path that failed, and bad data or
//! settings described in one line for the user.

use std::path::PathBuf;

/// Errors of data loading, models and training.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Engine(#[from] maxl_engine::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {msg}")]
    BadData { path: PathBuf, msg: String },
    /// A file or folder that a reader needs is not there; `hint` says what else was tried.
    #[error("{path}: not found{hint}")]
    NotFound { path: PathBuf, hint: String },
    #[error("{0}")]
    Invalid(String),
}

/// Result with the maxl crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
