//! Judges a table of train keys with `train`'s own `--config` reader and checks, so that the
//! sweep accepts exactly what `maxl-cli train --config` accepts and words its errors the same.
//! This is the sweep's one use of `train`'s code (its runs are child processes).

use crate::train::settings::Settings;
use anyhow::Result;
use toml::Table;

/// The names and types of `keys` (unknown keys, `method = "magic"`, `epochs = "ten"`), each key
/// alone over the defaults.
pub fn keys(keys: &Table, source: &str) -> Result<()> {
    Settings::default().overlay(keys, source).map(|_| ())
}

/// A whole run's keys, over the defaults, with the checks of a new `train` run.
pub fn run(keys: &Table, source: &str) -> Result<()> {
    let s = Settings::default().overlay(keys, source)?;
    s.validate()
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("{source}: {e:#}"))
}
