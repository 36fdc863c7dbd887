//! The dtype dispatch of the CPU kernels, done once, generically (candle's `Map1`/`Map2` in
//! `cpu_backend/utils.rs`): a kernel is written once as a function generic over the element
//! type, and `map` picks the typed slices out of the buffers. Float kernels ([`Map1`],
//! [`Map2`], [`Map3`], and the `Any` forms with an output of the kernel's choosing) refuse i64
//! buffers with an unsupported-dtype error; [`MapElem1`] also takes them.

use super::buffer::{CpuStorage, Element};
use super::scratch::Scratch;
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::{DType, Float};

/// A float element of the kernels: it fills a buffer and has per-thread scratch buffers.
pub trait FloatElem: Float + Element + Scratch {}
impl<T: Float + Element + Scratch> FloatElem for T {}

fn unsupported<R>(op: &'static str, dtype: DType) -> Result<R> {
    Err(Error::UnsupportedDType { op, dtype })
}

fn mismatch<R>(op: &'static str, a: &CpuStorage, b: &CpuStorage) -> Result<R> {
    if a.dtype() != b.dtype() {
        Err(Error::DTypeMismatch {
            op,
            lhs: a.dtype(),
            rhs: b.dtype(),
        })
    } else {
        unsupported(op, a.dtype())
    }
}

/// A float kernel of one view, giving a buffer of the same dtype.
pub trait Map1 {
    const OP: &'static str;
    fn f<T: FloatElem>(&self, v: &[T], l: &Layout) -> Result<Vec<T>>;

    fn map(&self, s: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
        match s {
            CpuStorage::F32(v) => Ok(CpuStorage::F32(self.f(v, l)?)),
            CpuStorage::F64(v) => Ok(CpuStorage::F64(self.f(v, l)?)),
            CpuStorage::I64(_) => unsupported(Self::OP, DType::I64),
        }
    }
}

/// A float kernel of one view with an output of its own choosing.
pub trait Map1Any {
    const OP: &'static str;
    type Output;
    fn f<T: FloatElem>(&self, v: &[T], l: &Layout) -> Result<Self::Output>;

    fn map(&self, s: &CpuStorage, l: &Layout) -> Result<Self::Output> {
        match s {
            CpuStorage::F32(v) => self.f(v, l),
            CpuStorage::F64(v) => self.f(v, l),
            CpuStorage::I64(_) => unsupported(Self::OP, DType::I64),
        }
    }
}

/// A kernel of one view of any dtype (indices included), giving a buffer of that dtype.
pub trait MapElem1 {
    fn f<T: Element>(&self, v: &[T], l: &Layout) -> Result<Vec<T>>;

    fn map(&self, s: &CpuStorage, l: &Layout) -> Result<CpuStorage> {
        match s {
            CpuStorage::F32(v) => Ok(CpuStorage::F32(self.f(v, l)?)),
            CpuStorage::F64(v) => Ok(CpuStorage::F64(self.f(v, l)?)),
            CpuStorage::I64(v) => Ok(CpuStorage::I64(self.f(v, l)?)),
        }
    }
}

/// A kernel of any number of views of one dtype (of any dtype, indices included), giving a
/// buffer of that dtype.
pub trait MapElemN {
    const OP: &'static str;
    fn f<T: Element>(&self, parts: &[(&[T], &Layout)]) -> Result<Vec<T>>;

    fn map(&self, parts: &[(&CpuStorage, &Layout)]) -> Result<CpuStorage> {
        fn typed_parts<'a, T: Element>(
            op: &'static str,
            parts: &[(&'a CpuStorage, &'a Layout)],
        ) -> Result<Vec<(&'a [T], &'a Layout)>> {
            parts
                .iter()
                .map(|(s, l)| Ok((typed::<T>(op, s)?, *l)))
                .collect()
        }
        match parts.first().map(|p| p.0.dtype()) {
            Some(DType::F32) => Ok(CpuStorage::F32(self.f(&typed_parts(Self::OP, parts)?)?)),
            Some(DType::F64) => Ok(CpuStorage::F64(self.f(&typed_parts(Self::OP, parts)?)?)),
            Some(DType::I64) => Ok(CpuStorage::I64(self.f(&typed_parts(Self::OP, parts)?)?)),
            None => Err(Error::Invalid(format!("{}: no operands", Self::OP))),
        }
    }
}

/// A float kernel of two views of one dtype, giving a buffer of that dtype.
pub trait Map2 {
    const OP: &'static str;
    fn f<T: FloatElem>(&self, a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Result<Vec<T>>;

    fn map(&self, a: &CpuStorage, la: &Layout, b: &CpuStorage, lb: &Layout) -> Result<CpuStorage> {
        match (a, b) {
            (CpuStorage::F32(x), CpuStorage::F32(y)) => Ok(CpuStorage::F32(self.f(x, la, y, lb)?)),
            (CpuStorage::F64(x), CpuStorage::F64(y)) => Ok(CpuStorage::F64(self.f(x, la, y, lb)?)),
            _ => mismatch(Self::OP, a, b),
        }
    }
}

/// A float kernel of two views of one dtype with an output of its own choosing.
pub trait Map2Any {
    const OP: &'static str;
    type Output;
    fn f<T: FloatElem>(&self, a: &[T], la: &Layout, b: &[T], lb: &Layout) -> Result<Self::Output>;

    fn map(
        &self,
        a: &CpuStorage,
        la: &Layout,
        b: &CpuStorage,
        lb: &Layout,
    ) -> Result<Self::Output> {
        match (a, b) {
            (CpuStorage::F32(x), CpuStorage::F32(y)) => self.f(x, la, y, lb),
            (CpuStorage::F64(x), CpuStorage::F64(y)) => self.f(x, la, y, lb),
            _ => mismatch(Self::OP, a, b),
        }
    }
}

/// A float kernel of three views of one dtype, giving a buffer of that dtype.
pub trait Map3 {
    const OP: &'static str;
    #[allow(clippy::too_many_arguments)]
    fn f<T: FloatElem>(
        &self,
        a: &[T],
        la: &Layout,
        b: &[T],
        lb: &Layout,
        c: &[T],
        lc: &Layout,
    ) -> Result<Vec<T>>;

    fn map(
        &self,
        (a, la): (&CpuStorage, &Layout),
        (b, lb): (&CpuStorage, &Layout),
        (c, lc): (&CpuStorage, &Layout),
    ) -> Result<CpuStorage> {
        match (a, b, c) {
            (CpuStorage::F32(x), CpuStorage::F32(y), CpuStorage::F32(z)) => {
                Ok(CpuStorage::F32(self.f(x, la, y, lb, z, lc)?))
            }
            (CpuStorage::F64(x), CpuStorage::F64(y), CpuStorage::F64(z)) => {
                Ok(CpuStorage::F64(self.f(x, la, y, lb, z, lc)?))
            }
            _ if a.dtype() != c.dtype() => mismatch(Self::OP, a, c),
            _ => mismatch(Self::OP, a, b),
        }
    }
}

/// The typed slice of a buffer of `T`'s dtype; a dtype-mismatch error otherwise (for kernels
/// that take further operands of their first operand's dtype).
pub fn typed<'a, T: Element>(op: &'static str, s: &'a CpuStorage) -> Result<&'a [T]> {
    T::slice(s).ok_or(Error::DTypeMismatch {
        op,
        lhs: T::DTYPE,
        rhs: s.dtype(),
    })
}

/// The i64 values of an index buffer's view, in row-major order (borrowed when the view is
/// contiguous).
pub fn index_values<'a>(
    op: &'static str,
    s: &'a CpuStorage,
    l: &Layout,
) -> Result<std::borrow::Cow<'a, [i64]>> {
    match s {
        CpuStorage::I64(v) => Ok(super::strided::to_contiguous(v, l)),
        other => unsupported(op, other.dtype()),
    }
}
