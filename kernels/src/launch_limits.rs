//! CUDA's limits on a launch shape (compute capability 3.0 and later, Hopper included), checked
//! before a launch so that a grid too large for one axis is a clear error naming the kernel and
//! the axis, not the driver's bare `CUDA_ERROR_INVALID_VALUE`. The emulator checks every launch
//! with these; the engine's launcher calls [`check_launch`] before `cuLaunchKernel`.

use crate::error::{Error, Result};

/// Most blocks along grid x (2^31 - 1).
pub const MAX_GRID_X: u32 = i32::MAX as u32;
/// Most blocks along grid y and z.
pub const MAX_GRID_YZ: u32 = 65_535;
/// Most threads of a block, and along block x and y.
pub const MAX_BLOCK_THREADS: u32 = 1024;
/// Most threads along block z.
pub const MAX_BLOCK_Z: u32 = 64;
/// Static shared memory a block may use without opting in to more (48 KiB).
pub const MAX_STATIC_SHARED_BYTES: u32 = 48 * 1024;

/// `Ok(())` when kernel `name` may be launched with `grid` blocks of `block` threads and
/// `shared_mem_bytes` of dynamic shared memory; else `Error::Launch` naming the first limit
/// broken. A zero in any dimension is an error (launchers skip empty launches before this).
pub fn check_launch(
    name: &str,
    grid: [u32; 3],
    block: [u32; 3],
    shared_mem_bytes: u32,
) -> Result<()> {
    let problem = if grid.contains(&0) || block.contains(&0) {
        Some("a dimension is 0".to_string())
    } else if grid[0] > MAX_GRID_X {
        Some(format!("gridDim.x = {} > {MAX_GRID_X}", grid[0]))
    } else if grid[1] > MAX_GRID_YZ {
        Some(format!("gridDim.y = {} > {MAX_GRID_YZ}", grid[1]))
    } else if grid[2] > MAX_GRID_YZ {
        Some(format!("gridDim.z = {} > {MAX_GRID_YZ}", grid[2]))
    } else if block[0] > MAX_BLOCK_THREADS || block[1] > MAX_BLOCK_THREADS {
        Some(format!(
            "blockDim.x, .y = {}, {} (at most {MAX_BLOCK_THREADS})",
            block[0], block[1]
        ))
    } else if block[2] > MAX_BLOCK_Z {
        Some(format!("blockDim.z = {} > {MAX_BLOCK_Z}", block[2]))
    } else if u64::from(block[0]) * u64::from(block[1]) * u64::from(block[2])
        > u64::from(MAX_BLOCK_THREADS)
    {
        Some(format!(
            "{} threads per block > {MAX_BLOCK_THREADS}",
            u64::from(block[0]) * u64::from(block[1]) * u64::from(block[2])
        ))
    } else if shared_mem_bytes > MAX_STATIC_SHARED_BYTES {
        Some(format!(
            "{shared_mem_bytes} bytes of dynamic shared memory > {MAX_STATIC_SHARED_BYTES}"
        ))
    } else {
        None
    };
    match problem {
        None => Ok(()),
        Some(detail) => Err(Error::Launch {
            kernel: name.to_string(),
            detail: format!("grid {grid:?} block {block:?}: {detail}"),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits() {
        assert!(check_launch("k", [MAX_GRID_X, MAX_GRID_YZ, MAX_GRID_YZ], [1024, 1, 1], 0).is_ok());
        assert!(check_launch("k", [1, 1, 1], [8, 8, 16], 0).is_ok());
        let e = |grid, block| {
            check_launch("gemm_f32", grid, block, 0)
                .unwrap_err()
                .to_string()
        };
        let m = e([16, 1, 70_000], [256, 1, 1]);
        assert!(
            m.contains("gemm_f32") && m.contains("gridDim.z = 70000 > 65535"),
            "{m}"
        );
        assert!(e([1, 65_536, 1], [256, 1, 1]).contains("gridDim.y = 65536"));
        assert!(e([1u32 << 31, 1, 1], [256, 1, 1]).contains("gridDim.x"));
        assert!(e([1, 1, 1], [1024, 2, 1]).contains("2048 threads per block"));
        assert!(e([1, 1, 1], [1, 1, 65]).contains("blockDim.z"));
        assert!(e([0, 1, 1], [32, 1, 1]).contains("a dimension is 0"));
        assert!(check_launch("k", [1, 1, 1], [32, 1, 1], 64 * 1024).is_err());
    }
}
