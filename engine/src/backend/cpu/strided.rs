//! Copies of strided views into contiguous row-major buffers.

use super::buffer::CpuStorage;
use super::par::PAR_MIN;
use crate::layout::Layout;
use rayon::prelude::*;
use std::borrow::Cow;

/// The view's elements in row-major order: borrowed when the view is contiguous already.
pub fn to_contiguous<'a, T: Copy + Send + Sync>(data: &'a [T], layout: &Layout) -> Cow<'a, [T]> {
    let n = layout.numel();
    if layout.is_contiguous() {
        return Cow::Borrowed(&data[layout.offset..layout.offset + n]);
    }
    let mut out = Vec::with_capacity(n);
    let (inner, stride) = layout.inner();
    if n == 0 {
        return Cow::Owned(out);
    }
    let rows = n / inner;
    if n >= PAR_MIN && rows > 1 {
        out.resize(n, data[layout.offset]);
        out.par_chunks_mut(inner)
            .enumerate()
            .for_each(|(r, chunk)| {
                let base = layout.row_offset(r);
                for (j, o) in chunk.iter_mut().enumerate() {
                    *o = data[base + j * stride];
                }
            });
    } else {
        for r in 0..rows {
            let base = layout.row_offset(r);
            out.extend((0..inner).map(|j| data[base + j * stride]));
        }
    }
    Cow::Owned(out)
}

/// A contiguous copy of a view of any dtype.
pub fn contiguous_storage(data: &CpuStorage, layout: &Layout) -> CpuStorage {
    match data {
        CpuStorage::F32(v) => CpuStorage::F32(to_contiguous(v, layout).into_owned()),
        CpuStorage::F64(v) => CpuStorage::F64(to_contiguous(v, layout).into_owned()),
        CpuStorage::I64(v) => CpuStorage::I64(to_contiguous(v, layout).into_owned()),
    }
}
