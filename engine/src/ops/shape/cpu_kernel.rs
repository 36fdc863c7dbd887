//! The concat kernel on host memory: each part made contiguous, then joined block by block
//! (any dtype, indices included).

use super::ShapeKernel;
use crate::backend::cpu::buffer::{CpuStorage, Element};
use crate::backend::cpu::dispatch::MapElemN;
use crate::backend::cpu::strided::to_contiguous;
use crate::error::Result;
use crate::layout::Layout;

/// Parts of shapes equal but along `axis`, joined along it.
struct Join {
    axis: usize,
}

impl MapElemN for Join {
    const OP: &'static str = "concat";
    fn f<T: Element>(&self, parts: &[(&[T], &Layout)]) -> Result<Vec<T>> {
        let axis = self.axis;
        let dense: Vec<_> = parts.iter().map(|(v, l)| to_contiguous(v, l)).collect();
        let shape0 = &parts[0].1.shape;
        let pre: usize = shape0[..axis].iter().product();
        let post: usize = shape0[axis + 1..].iter().product();
        let total: usize = dense.iter().map(|d| d.len()).sum();
        let mut out = Vec::with_capacity(total);
        for p in 0..pre {
            for (data, (_, l)) in dense.iter().zip(parts) {
                let chunk = l.shape[axis] * post;
                out.extend_from_slice(&data[p * chunk..(p + 1) * chunk]);
            }
        }
        Ok(out)
    }
}

impl ShapeKernel for CpuStorage {
    fn concat(
        &self,
        l: &Layout,
        parts: &[(&Self, &Layout)],
        axis: usize,
        _shape: &[usize],
    ) -> Result<Self> {
        let all: Vec<(&CpuStorage, &Layout)> = std::iter::once((self, l))
            .chain(parts.iter().copied())
            .collect();
        Join { axis }.map(&all)
    }
}
