//! The per-device PTX cache: each kernel module is compiled once per device (keyed by device
//! ordinal and module name), with that device's compile options, and shared afterwards.

use crate::error::{Error, Result};
use crate::modules::{module, KernelModule};
use crate::nvrtc::{compile_module, CompileOptions};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// PTX of compiled modules, per (device ordinal, module name).
#[derive(Default)]
pub struct PtxCache {
    entries: Mutex<HashMap<(usize, &'static str), Arc<str>>>,
    options: Mutex<HashMap<usize, CompileOptions>>,
}

impl PtxCache {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the compile options of device `ordinal` (default: `CompileOptions::default()`,
    /// compute_90) and drops what was compiled for it with other options.
    pub fn set_options(&self, ordinal: usize, opts: CompileOptions) {
        let mut o = lock(&self.options);
        if o.get(&ordinal) != Some(&opts) {
            o.insert(ordinal, opts);
            lock(&self.entries).retain(|(dev, _), _| *dev != ordinal);
        }
    }

    /// The compile options of device `ordinal`.
    pub fn options(&self, ordinal: usize) -> CompileOptions {
        lock(&self.options)
            .get(&ordinal)
            .cloned()
            .unwrap_or_default()
    }

    /// PTX of module `name` for device `ordinal`, compiled on first use.
    pub fn ptx(&self, ordinal: usize, name: &str) -> Result<Arc<str>> {
        let m = module(name).ok_or_else(|| Error::UnknownModule(name.to_string()))?;
        self.ptx_of(ordinal, m)
    }

    /// As [`PtxCache::ptx`], for a module at hand.
    pub fn ptx_of(&self, ordinal: usize, m: &'static KernelModule) -> Result<Arc<str>> {
        if let Some(p) = lock(&self.entries).get(&(ordinal, m.name)) {
            return Ok(p.clone());
        }
        // Compile without holding the lock (NVRTC takes a while); a race compiles twice and
        // keeps the first result, which is harmless.
        let opts = self.options(ordinal);
        let ptx: Arc<str> = compile_module(m, &opts)?.into();
        Ok(lock(&self.entries)
            .entry((ordinal, m.name))
            .or_insert(ptx)
            .clone())
    }

    /// Whether module `name` is already compiled for device `ordinal`.
    pub fn contains(&self, ordinal: usize, name: &str) -> bool {
        lock(&self.entries)
            .keys()
            .any(|(d, n)| *d == ordinal && *n == name)
    }

    /// Number of cached (device, module) entries.
    pub fn len(&self) -> usize {
        lock(&self.entries).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding the lock leaves plain data behind: keep using it.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The process-wide cache.
pub fn global_cache() -> &'static PtxCache {
    static CACHE: OnceLock<PtxCache> = OnceLock::new();
    CACHE.get_or_init(PtxCache::new)
}

/// PTX of module `name` for device `ordinal`, from the process-wide cache.
pub fn ptx(ordinal: usize, name: &str) -> Result<Arc<str>> {
    global_cache().ptx(ordinal, name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_module_is_an_error() {
        let c = PtxCache::new();
        assert_eq!(
            c.ptx(0, "nope").unwrap_err(),
            Error::UnknownModule("nope".into())
        );
    }

    #[test]
    fn options_per_device() {
        let c = PtxCache::new();
        assert_eq!(c.options(3).arch, "compute_90");
        c.set_options(1, CompileOptions::for_compute_capability(8, 0));
        assert_eq!(c.options(1).arch, "compute_80");
        assert_eq!(c.options(0).arch, "compute_90");
    }

    #[test]
    fn compiles_once_per_device_when_nvrtc_is_present() {
        if crate::nvrtc::nvrtc_available().is_err() {
            return; // tests/compile.rs reports (or, in CI, fails on) a missing NVRTC
        }
        let c = PtxCache::new();
        let a = c.ptx(0, "focal_loss").unwrap();
        let b = c.ptx(0, "focal_loss").unwrap();
        assert!(Arc::ptr_eq(&a, &b));
        assert!(c.contains(0, "focal_loss") && !c.contains(1, "focal_loss"));
        let d = c.ptx(1, "focal_loss").unwrap();
        assert!(!Arc::ptr_eq(&a, &d));
        assert_eq!(c.len(), 2);
    }
}
