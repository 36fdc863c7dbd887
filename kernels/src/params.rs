//! `#[repr(C)]` mirrors of the structs that kernels take by value (`Strided`, `ConvGeom`,
//! `PoolGeom` in the `.cu` sources), so the CUDA backend can pass them as kernel arguments.
//! Field order and types match the C++ definitions; the tests pin the sizes, and
//! `tests/emu/main.cpp` asserts the same sizes on the C++ side.

use cudarc::driver::DeviceRepr;

/// Most dims of a strided/broadcast elementwise operand (`MAXL_MAX_DIMS`).
pub const MAX_DIMS: usize = 6;

/// Up to three operands, strided or broadcast, over one row-major output shape (common.cuh).
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Strided {
    pub rank: i32,
    /// Non-zero when every operand used is dense in the output's order.
    pub contiguous: i32,
    pub dims: [i64; MAX_DIMS],
    /// Element strides of operands 0, 1, 2 (0 on broadcast axes).
    pub s0: [i64; MAX_DIMS],
    pub s1: [i64; MAX_DIMS],
    pub s2: [i64; MAX_DIMS],
}

/// Convolution geometry (conv.cu): input `[n, c, h, w]`, weight `[k, c, r, s]`, output
/// `[n, k, ho, wo]`, stride, zero padding and dilation per axis.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ConvGeom {
    pub n: i32,
    pub c: i32,
    pub h: i32,
    pub w: i32,
    pub k: i32,
    pub r: i32,
    pub s: i32,
    pub ho: i32,
    pub wo: i32,
    pub sh: i32,
    pub sw: i32,
    pub ph: i32,
    pub pw: i32,
    pub dh: i32,
    pub dw: i32,
}

/// Pooling geometry of one plane (pool.cu); kernel/stride/padding are ignored when
/// `adaptive != 0`.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PoolGeom {
    pub h: i32,
    pub w: i32,
    pub ho: i32,
    pub wo: i32,
    pub kh: i32,
    pub kw: i32,
    pub sh: i32,
    pub sw: i32,
    pub ph: i32,
    pub pw: i32,
    pub adaptive: i32,
}

// SAFETY: plain `repr(C)` data with the layout of the C++ structs the kernels declare.
unsafe impl DeviceRepr for Strided {}
// SAFETY: as above.
unsafe impl DeviceRepr for ConvGeom {}
// SAFETY: as above.
unsafe impl DeviceRepr for PoolGeom {}

impl Strided {
    /// Dense operands of `shape` (all strides row-major, `contiguous` set).
    pub fn contiguous(shape: &[usize]) -> Option<Strided> {
        let mut s = Strided::from_shape(shape)?;
        let mut acc = 1i64;
        for d in (0..shape.len()).rev() {
            s.s0[d] = acc;
            s.s1[d] = acc;
            s.s2[d] = acc;
            acc *= shape[d] as i64;
        }
        s.contiguous = 1;
        Some(s)
    }

    /// The output shape with zero strides; `None` past [`MAX_DIMS`] dims.
    pub fn from_shape(shape: &[usize]) -> Option<Strided> {
        if shape.len() > MAX_DIMS {
            return None;
        }
        let mut s = Strided {
            rank: shape.len() as i32,
            ..Strided::default()
        };
        for (d, &n) in shape.iter().enumerate() {
            s.dims[d] = n as i64;
        }
        Some(s)
    }
}

impl ConvGeom {
    /// The geometry of a convolution, with the output size as PyTorch computes it; `None`
    /// when the window does not fit or a size exceeds `i32`.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        input: [usize; 4],
        weight: [usize; 4],
        stride: [usize; 2],
        padding: [usize; 2],
        dilation: [usize; 2],
    ) -> Option<ConvGeom> {
        let [n, c, h, w] = input;
        let [k, wc, r, s] = weight;
        if wc != c || stride.contains(&0) || dilation.contains(&0) || r == 0 || s == 0 {
            return None;
        }
        let out = |i: usize, a: usize, kern: usize| -> Option<usize> {
            let span = dilation[a] * (kern - 1) + 1;
            let padded = i + 2 * padding[a];
            (padded >= span).then(|| (padded - span) / stride[a] + 1)
        };
        let (ho, wo) = (out(h, 0, r)?, out(w, 1, s)?);
        let i = |v: usize| i32::try_from(v).ok();
        Some(ConvGeom {
            n: i(n)?,
            c: i(c)?,
            h: i(h)?,
            w: i(w)?,
            k: i(k)?,
            r: i(r)?,
            s: i(s)?,
            ho: i(ho)?,
            wo: i(wo)?,
            sh: i(stride[0])?,
            sw: i(stride[1])?,
            ph: i(padding[0])?,
            pw: i(padding[1])?,
            dh: i(dilation[0])?,
            dw: i(dilation[1])?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_match_the_cpp_structs() {
        assert_eq!(std::mem::size_of::<Strided>(), 8 + 4 * 8 * MAX_DIMS);
        assert_eq!(std::mem::align_of::<Strided>(), 8);
        assert_eq!(std::mem::size_of::<ConvGeom>(), 15 * 4);
        assert_eq!(std::mem::size_of::<PoolGeom>(), 11 * 4);
    }

    #[test]
    fn conv_geometry_as_pytorch() {
        // 28x28, 3x3, padding 1: same size; stride 2 with dilation 2: (28 + 2 - 5) / 2 + 1.
        let g = ConvGeom::new([2, 3, 28, 28], [8, 3, 3, 3], [1, 1], [1, 1], [1, 1]).unwrap();
        assert_eq!((g.ho, g.wo), (28, 28));
        let g = ConvGeom::new([1, 1, 28, 28], [1, 1, 3, 3], [2, 2], [1, 1], [2, 2]).unwrap();
        assert_eq!((g.ho, g.wo), (13, 13));
        assert!(ConvGeom::new([1, 2, 2, 2], [1, 2, 5, 5], [1, 1], [0, 0], [1, 1]).is_none());
        assert!(ConvGeom::new([1, 2, 8, 8], [1, 3, 3, 3], [1, 1], [0, 0], [1, 1]).is_none());
    }

    #[test]
    fn strided_helpers() {
        let s = Strided::contiguous(&[2, 3, 4]).unwrap();
        assert_eq!((s.rank, s.contiguous), (3, 1));
        assert_eq!(&s.s0[..3], &[12, 4, 1]);
        assert!(Strided::from_shape(&[1; 7]).is_none());
    }
}
