//! What a report says (tables, runs left out), the data behind every output format.

use super::tables;
use serde::Serialize;

/// A run left out of the tables.
#[derive(Debug, Serialize)]
pub struct Incomplete {
    pub name: String,
    pub epochs_done: usize,
    pub epochs: Option<u64>,
}

/// Everything a report says.
#[derive(Debug, Serialize)]
pub struct Report {
    pub folder: String,
    pub runs: usize,
    pub complete: usize,
    pub tables: Vec<tables::Table>,
    pub incomplete: Vec<Incomplete>,
}
