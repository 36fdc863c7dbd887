//! Launcher of gemm.cu: batched matmul over broadcast views with any element strides (so
//! transposed operands and broadcast batches need no copy). Batch axes that do not collapse
//! to one stride are walked on the host, one launch per batch.

use super::MatmulKernel;
use crate::backend::cuda::launch::{addr, launch, output, Args};
use crate::backend::cuda::{allow_tf32, CudaStorage};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::DType;

impl MatmulKernel for CudaStorage {
    fn matmul(&self, la: &Layout, b: &Self, lb: &Layout) -> Result<Self> {
        matmul(self, la, b, lb)
    }
}

/// One stride that walks all batch axes of `l` in row-major order, if there is one.
fn batch_stride(l: &Layout, nb: usize) -> Option<usize> {
    let mut stride: Option<usize> = None;
    let mut expect: Option<usize> = None;
    for d in (0..nb).rev() {
        let (n, s) = (l.shape[d], l.strides[d]);
        if n == 1 {
            continue;
        }
        match (stride, expect) {
            (None, _) => stride = Some(s),
            (Some(_), Some(e)) if e == s => {}
            _ => return None,
        }
        expect = Some(s * n);
    }
    Some(stride.unwrap_or(0))
}

/// Offset (elements) of batch `b` of `l` (row-major over its batch axes).
fn batch_offset(l: &Layout, nb: usize, mut b: usize) -> usize {
    let mut off = 0;
    for d in (0..nb).rev() {
        let n = l.shape[d];
        off += (b % n) * l.strides[d];
        b /= n;
    }
    off
}

/// `a @ b` for `a` viewed as `la` `[.., m, k]` and `b` as `lb` `[.., k, n]` (same batch
/// shape), into a dense `[.., m, n]`.
fn matmul(a: &CudaStorage, la: &Layout, b: &CudaStorage, lb: &Layout) -> Result<CudaStorage> {
    let dev = a.dev().clone();
    let dtype = a.dtype();
    let r = la.shape.len();
    let nb = r - 2;
    let (m, k, n) = (la.shape[r - 2], la.shape[r - 1], lb.shape[r - 1]);
    let batch: usize = la.shape[..nb].iter().product();
    let out = output(&dev, batch * m * n, dtype)?;
    if batch * m * n == 0 {
        return Ok(out);
    }
    let too_big = |v: usize| i32::try_from(v).is_err();
    if too_big(m) || too_big(n) || too_big(k) {
        return Err(Error::Invalid(format!(
            "matmul on CUDA: sizes {m}x{k}x{n} exceed the kernels' 32-bit tile indices"
        )));
    }
    let tf32 = dtype == DType::F32 && allow_tf32() && m >= 64 && n >= 64 && k >= 32;
    // Large f32 products take the 128 x 128 tiles; smaller ones the 64 x 64 tiles (more
    // blocks to spread over the GPU).
    let big = dtype == DType::F32 && !tf32 && m >= 128 && n >= 128;
    let (name, threads, tile) = match (dtype, tf32) {
        (DType::F32, true) => ("gemm_tf32_f32", 128, 64),
        (DType::F32, false) if big => ("gemm_big_f32", 256, 128),
        (DType::F32, false) => ("gemm_f32", 256, 64),
        (DType::F64, _) => ("gemm_f64", 256, 64),
        (other, _) => {
            return Err(Error::UnsupportedDType {
                op: "matmul",
                dtype: other,
            })
        }
    };
    let (a0, b0) = (addr(a, la), addr(b, lb));
    let es = dtype.size_in_bytes() as u64;
    let gx = n.div_ceil(tile) as u32;
    let gy = m.div_ceil(tile) as u32;
    let run = |a_addr: u64, a_bs: usize, b_addr: u64, b_bs: usize, c_addr: u64, count: usize| {
        let args = Args::new()
            .arg(m as i32)
            .arg(n as i32)
            .arg(k as i32)
            .float(dtype, 1.0)
            .arg(a_addr)
            .arg(a_bs as i64)
            .arg(la.strides[r - 2] as i64)
            .arg(la.strides[r - 1] as i64)
            .arg(b_addr)
            .arg(b_bs as i64)
            .arg(lb.strides[r - 2] as i64)
            .arg(lb.strides[r - 1] as i64)
            .float(dtype, 0.0)
            .arg(c_addr)
            .arg((m * n) as i64)
            .arg(n as i64)
            .arg(1i64);
        launch(&dev, name, [gx, gy, count as u32], [threads, 1, 1], args)
    };
    match (batch_stride(la, nb), batch_stride(lb, nb)) {
        (Some(sa), Some(sb)) => {
            // grid.z is at most 65535: launch in slices of batches.
            let mut start = 0;
            while start < batch {
                let count = (batch - start).min(65_535);
                run(
                    a0 + (start * sa) as u64 * es,
                    sa,
                    b0 + (start * sb) as u64 * es,
                    sb,
                    out.ptr() + (start * m * n) as u64 * es,
                    count,
                )?;
                start += count;
            }
        }
        _ => {
            for i in 0..batch {
                run(
                    a0 + batch_offset(la, nb, i) as u64 * es,
                    0,
                    b0 + batch_offset(lb, nb, i) as u64 * es,
                    0,
                    out.ptr() + (i * m * n) as u64 * es,
                    1,
                )?;
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_strides() {
        let l = Layout::contiguous(&[2, 3, 4, 5]);
        assert_eq!(batch_stride(&l, 2), Some(20));
        let b = Layout::contiguous(&[4, 5])
            .broadcast_to(&[2, 3, 4, 5])
            .unwrap();
        assert_eq!(batch_stride(&b, 2), Some(0));
        let p = Layout::contiguous(&[3, 2, 4, 5])
            .permute(&[1, 0, 2, 3])
            .unwrap();
        assert_eq!(batch_stride(&p, 2), None);
        assert_eq!(batch_offset(&p, 2, 1), 40);
        assert_eq!(batch_offset(&p, 2, 3), 20);
    }
}
