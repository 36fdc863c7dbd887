//! The caching allocator: freed device blocks are kept in per-size free lists and handed out
//! again, so a training step's thousands of short-lived tensors cost no cuMemAlloc/cuMemFree
//! after the first iteration (as PyTorch's caching allocator). Sizes are rounded up (512 bytes
//! below 1 MiB, 2 MiB above) so that blocks of nearby sizes are shared. All work runs on one
//! stream, so a block freed by the host can be reused by the next launch without an event.

use std::collections::HashMap;

/// Rounded block size of a request of `bytes`.
pub(crate) fn block_size(bytes: usize) -> usize {
    const SMALL: usize = 512;
    const LARGE: usize = 2 << 20;
    let bytes = bytes.max(1);
    if bytes < (1 << 20) {
        bytes.div_ceil(SMALL) * SMALL
    } else {
        bytes.div_ceil(LARGE) * LARGE
    }
}

/// Bookkeeping of one device's blocks (the memory itself comes from the runtime).
#[derive(Default)]
pub(crate) struct CachingAllocator {
    free: HashMap<usize, Vec<u64>>,
    /// Bytes in blocks handed out.
    pub in_use: usize,
    /// Bytes in blocks kept for reuse.
    pub cached: usize,
    /// Highest `in_use` seen.
    pub peak: usize,
}

impl CachingAllocator {
    /// A cached block of exactly `block` bytes, if one is free.
    pub(crate) fn take(&mut self, block: usize) -> Option<u64> {
        let p = self.free.get_mut(&block)?.pop()?;
        self.cached -= block;
        self.note_use(block);
        Some(p)
    }

    /// Records a fresh block of `block` bytes as in use.
    pub(crate) fn note_use(&mut self, block: usize) {
        self.in_use += block;
        self.peak = self.peak.max(self.in_use);
    }

    /// Keeps a block that is no longer used.
    pub(crate) fn give_back(&mut self, ptr: u64, block: usize) {
        self.in_use -= block;
        self.cached += block;
        self.free.entry(block).or_default().push(ptr);
    }

    /// Empties the free lists, returning the blocks for the runtime to free.
    pub(crate) fn drain(&mut self) -> Vec<u64> {
        self.cached = 0;
        self.free.drain().flat_map(|(_, v)| v).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_round_up() {
        assert_eq!(block_size(0), 512);
        assert_eq!(block_size(513), 1024);
        assert_eq!(block_size((1 << 20) + 1), 2 << 20);
        assert_eq!(block_size(5 << 20), 6 << 20);
    }

    #[test]
    fn blocks_are_reused_by_size() {
        let mut a = CachingAllocator::default();
        a.note_use(1024);
        assert_eq!(a.take(1024), None);
        a.give_back(7, 1024);
        assert_eq!((a.in_use, a.cached), (0, 1024));
        assert_eq!(a.take(512), None);
        assert_eq!(a.take(1024), Some(7));
        assert_eq!((a.in_use, a.cached, a.peak), (1024, 0, 1024));
        a.give_back(7, 1024);
        assert_eq!(a.drain(), vec![7]);
        assert_eq!(a.cached, 0);
    }
}
