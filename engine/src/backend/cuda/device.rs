//! One CUDA device as the engine sees it: its runtime (driver or emulator), its caching
//! allocator, and the process-wide registry that opens each ordinal once.

use super::allocator::{block_size, CachingAllocator};
use super::driver::DriverRuntime;
use super::emulated::EmulatedRuntime;
use super::runtime::Runtime;
use crate::error::{Error, Result};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

static EMULATE: AtomicBool = AtomicBool::new(false);

/// How many emulated devices there are (so that tests can mix `cuda:0` and `cuda:1`).
const EMULATED_DEVICES: usize = 2;

/// Makes every `Cuda(n)` device of this process the kernel emulator (for tests on machines
/// without a GPU). Takes effect for devices not opened yet.
pub fn use_emulator() {
    EMULATE.store(true, Ordering::Relaxed);
}

/// Whether `Cuda(n)` means the kernel emulator (set by [`use_emulator`] or
/// `MAXL_CUDA_EMULATOR=1`).
pub fn emulated() -> bool {
    EMULATE.load(Ordering::Relaxed)
        || std::env::var("MAXL_CUDA_EMULATOR").is_ok_and(|v| v == "1" || v == "true")
}

/// A CUDA device: its runtime and memory pool.
pub struct CudaDevice {
    ordinal: usize,
    rt: Box<dyn Runtime>,
    pool: Mutex<CachingAllocator>,
}

/// Memory figures of a device, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryStats {
    pub in_use: usize,
    pub cached: usize,
    pub peak: usize,
}

impl CudaDevice {
    pub fn ordinal(&self) -> usize {
        self.ordinal
    }

    /// The GPU's name and compute capability, or that it is the emulator.
    pub fn describe(&self) -> String {
        self.rt.describe()
    }

    pub(crate) fn rt(&self) -> &dyn Runtime {
        self.rt.as_ref()
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, CachingAllocator> {
        self.pool.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// An uninitialised block of at least `bytes` bytes: its address and its rounded size.
    pub(crate) fn alloc_block(&self, bytes: usize) -> Result<(u64, usize)> {
        let block = block_size(bytes);
        let cached = self.pool().take(block);
        let ptr = match cached {
            Some(p) => p,
            None => {
                let p = match self.rt.alloc(block) {
                    Ok(p) => p,
                    Err(_) => {
                        // Out of memory, perhaps only because of cached blocks: free them, retry.
                        self.empty_cache();
                        self.rt.alloc(block)?
                    }
                };
                self.pool().note_use(block);
                p
            }
        };
        Ok((ptr, block))
    }

    pub(crate) fn release(&self, ptr: u64, block: usize) {
        self.pool().give_back(ptr, block);
    }

    /// Frees the cached (unused) blocks, after the device has finished the queued work: a
    /// block goes back to the cache when its tensor is dropped, possibly while kernels that
    /// read or write it are still queued, and reusing it in stream order is safe, but handing
    /// it back to the driver is not. If the device cannot be synchronised (a broken context)
    /// the blocks are kept (leaked) rather than freed under a running kernel.
    pub fn empty_cache(&self) {
        let blocks = self.pool().drain();
        if blocks.is_empty() || self.synchronize().is_err() {
            return;
        }
        for p in blocks {
            // SAFETY: cached blocks came from this runtime and no buffer refers to them.
            unsafe { self.rt.free(p) };
        }
    }

    pub fn memory_stats(&self) -> MemoryStats {
        let p = self.pool();
        MemoryStats {
            in_use: p.in_use,
            cached: p.cached,
            peak: p.peak,
        }
    }

    /// Waits for all queued work of the device.
    /// Waits for the queued work (counted as a host synchronisation in [`crate::stats`]).
    pub fn synchronize(&self) -> Result<()> {
        crate::stats::count_host_sync();
        self.rt.synchronize()
    }
}

/// The device `cuda:ordinal`, opened on first use ("CUDA not available: ..." when it cannot be).
pub fn device(ordinal: usize) -> Result<Arc<CudaDevice>> {
    static DEVICES: OnceLock<Mutex<HashMap<usize, Arc<CudaDevice>>>> = OnceLock::new();
    let map = DEVICES.get_or_init(|| Mutex::new(HashMap::new()));
    let mut map = map.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(d) = map.get(&ordinal) {
        return Ok(d.clone());
    }
    let rt: Box<dyn Runtime> = if emulated() {
        if ordinal >= EMULATED_DEVICES {
            return Err(Error::CudaUnavailable(format!(
                "cuda:{ordinal} requested, but the kernel emulator has {EMULATED_DEVICES} devices"
            )));
        }
        Box::new(EmulatedRuntime::new()?)
    } else {
        Box::new(DriverRuntime::new(ordinal)?)
    };
    let d = Arc::new(CudaDevice {
        ordinal,
        rt,
        pool: Mutex::new(CachingAllocator::default()),
    });
    map.insert(ordinal, d.clone());
    Ok(d)
}
