//! The per-device module cache: each kernel module is compiled once per device (keyed by device
//! ordinal and module name), with that device's compile options, and shared afterwards. Below
//! it, the disk cache ([`crate::disk_cache`]) keeps compiled modules across processes.

use crate::disk_cache::{cache_key, DiskCache, Origin};
use crate::error::{Error, Result};
use crate::modules::{module, KernelModule};
use crate::nvrtc::{compile_module_image, nvrtc_version, CompileOptions, ModuleImage};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

/// Compiles module `m` with `opts`, or reads it from `disk` when an entry for the same program,
/// options and NVRTC version is there (a compiled module is stored there for next time).
pub fn compile_cached(
    disk: Option<&DiskCache>,
    m: &KernelModule,
    opts: &CompileOptions,
) -> Result<(ModuleImage, Origin)> {
    let Some(disk) = disk else {
        return Ok((compile_module_image(m, opts)?, Origin::Compiled));
    };
    let program = m.program();
    let key = cache_key(&program, opts, nvrtc_version()?);
    if let Some(img) = disk.get(m.name, &key) {
        if img.arch == opts.arch && (img.cubin.is_some() == opts.makes_cubin()) {
            return Ok((img, Origin::Disk));
        }
    }
    let img = compile_module_image(m, opts)?;
    disk.put(m.name, &key, &img);
    Ok((img, Origin::Compiled))
}

type Entries = HashMap<(usize, &'static str), (Arc<ModuleImage>, Origin)>;

/// Compiled modules, per (device ordinal, module name), and the options of each device.
pub struct PtxCache {
    entries: Mutex<Entries>,
    options: Mutex<HashMap<usize, CompileOptions>>,
    disk: Option<DiskCache>,
}

impl Default for PtxCache {
    fn default() -> Self {
        Self::with_disk(None)
    }
}

impl PtxCache {
    /// A cache without a disk cache below it.
    pub fn new() -> Self {
        Self::default()
    }

    /// A cache over `disk`.
    pub fn with_disk(disk: Option<DiskCache>) -> Self {
        PtxCache {
            entries: Mutex::new(HashMap::new()),
            options: Mutex::new(HashMap::new()),
            disk,
        }
    }

    /// The disk cache below this one.
    pub fn disk(&self) -> Option<&DiskCache> {
        self.disk.as_ref()
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

    /// Whether options were set for device `ordinal`.
    pub fn has_options(&self, ordinal: usize) -> bool {
        lock(&self.options).contains_key(&ordinal)
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
        Ok(self.image_of(ordinal, m)?.0.ptx.as_str().into())
    }

    /// The compiled module `m` for device `ordinal` (PTX, and the CUBIN when the device's
    /// options name a real architecture), and where it came from: compiled on first use, or
    /// read from the disk cache; `Origin::Memory` afterwards.
    pub fn image_of(
        &self,
        ordinal: usize,
        m: &'static KernelModule,
    ) -> Result<(Arc<ModuleImage>, Origin)> {
        if let Some((img, _)) = lock(&self.entries).get(&(ordinal, m.name)) {
            return Ok((img.clone(), Origin::Memory));
        }
        // Compile without holding the lock (NVRTC takes a while); a race compiles twice and
        // keeps the first result, which is harmless.
        let opts = self.options(ordinal);
        let (img, origin) = compile_cached(self.disk.as_ref(), m, &opts)?;
        let img = Arc::new(img);
        let mut entries = lock(&self.entries);
        let e = entries.entry((ordinal, m.name)).or_insert((img, origin));
        Ok(e.clone())
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

/// The process-wide cache, over the disk cache the environment names.
pub fn global_cache() -> &'static PtxCache {
    static CACHE: OnceLock<PtxCache> = OnceLock::new();
    CACHE.get_or_init(|| PtxCache::with_disk(DiskCache::global().cloned()))
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
        assert_eq!(a, b);
        assert!(c.contains(0, "focal_loss") && !c.contains(1, "focal_loss"));
        let m = module("focal_loss").unwrap();
        let (first, o1) = c.image_of(0, m).unwrap();
        assert_eq!(o1, Origin::Memory);
        let (again, _) = c.image_of(0, m).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        let (other, o2) = c.image_of(1, m).unwrap();
        assert_eq!(o2, Origin::Compiled);
        assert!(!Arc::ptr_eq(&first, &other));
        assert_eq!(c.len(), 2);
    }
}
