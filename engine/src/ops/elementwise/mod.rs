//! Elementwise ops: arithmetic with NumPy broadcasting, scalar ops, the unary math functions,
//! `clamp`, `maximum`/`minimum`, `where_cond`, and the comparison masks (constants, never
//! recorded). Backward rules use only these same ops plus `sum_to`.
//!
//! A unary op is one `unary!` line: its CPU formula (generic over the float type), its
//! elementwise.cu kernel, its recorded kind and its backward rule; plus its public method below
//! and a gradcheck case in `cases.rs`.

pub(crate) mod cases;
mod cpu_kernel;
mod cuda_kernel;

use super::checks::{check_float, check_same, when};
use crate::autograd::op::OpKind;
use crate::backend::BackendStorage;
use crate::error::Result;
use crate::layout::{broadcast_shapes, Layout};
use crate::storage::{on_device, AsBackend, Storage};
use crate::{DType, Float, Op, Tensor};

/// The elementwise kernels of a backend, on views already broadcast to the output's shape.
pub(crate) trait ElementwiseKernel: BackendStorage {
    /// `f` of every element of the view `l`.
    fn unary<F: Unary>(&self, l: &Layout, f: &F) -> Result<Self>;
    /// `F(a, b)` elementwise; `la` and `lb` have the output's shape.
    fn binary<F: Binary>(&self, la: &Layout, b: &Self, lb: &Layout) -> Result<Self>;
    /// `a + alpha * b` elementwise; `la` and `lb` have the output's shape.
    fn add_scaled(&self, la: &Layout, b: &Self, lb: &Layout, alpha: f64) -> Result<Self>;
    /// `a` where `self` (a 0/1 mask of the operands' dtype) is non-zero, else `b`; the three
    /// layouts have the output's shape.
    fn select(&self, lc: &Layout, a: &Self, la: &Layout, b: &Self, lb: &Layout) -> Result<Self>;
}

/// A binary elementwise function, generic over the float type; `NAME` is also the base name
/// of its elementwise.cu kernel.
pub(crate) trait Binary: Sync {
    const NAME: &'static str;
    fn apply<T: Float>(a: T, b: T) -> T;
}

/// A unary elementwise function with its parameters.
pub(crate) trait Unary: Sync {
    const NAME: &'static str;
    fn apply<T: Float>(&self, x: T) -> T;
    /// The elementwise.cu kernel (without dtype suffix) and its two scalar parameters.
    fn cuda(&self) -> (&'static str, f64, f64);
}

macro_rules! binary_fn {
    ($name:ident, $s:literal, |$a:ident, $b:ident| $e:expr) => {
        pub(crate) struct $name;
        impl Binary for $name {
            const NAME: &'static str = $s;
            #[inline]
            fn apply<T: Float>($a: T, $b: T) -> T {
                $e
            }
        }
    };
}

binary_fn!(AddF, "add", |a, b| a + b);
binary_fn!(SubF, "sub", |a, b| a - b);
binary_fn!(MulF, "mul", |a, b| a * b);
binary_fn!(DivF, "div", |a, b| a / b);
// NaN propagates, as in PyTorch and IEEE 754-2019 `maximum`/`minimum`: a NaN on either side
// gives NaN (a NaN `b` already fails the comparison).
binary_fn!(MaxF, "maximum", |a, b| if a >= b || a.is_nan() {
    a
} else {
    b
});
binary_fn!(MinF, "minimum", |a, b| if a <= b || a.is_nan() {
    a
} else {
    b
});
// ReLU's backward, `g` where `x > 0` (PyTorch's `threshold_backward`: a NaN `x` passes `g`).
binary_fn!(ReluGradF, "relu_grad", |x, g| if x <= T::zero() {
    T::zero()
} else {
    g
});
binary_fn!(GtF, "gt", |a, b| bool_to(a > b));
binary_fn!(GeF, "ge", |a, b| bool_to(a >= b));
binary_fn!(LtF, "lt", |a, b| bool_to(a < b));
binary_fn!(LeF, "le", |a, b| bool_to(a <= b));
binary_fn!(EqF, "eq", |a, b| bool_to(a == b));

#[inline]
fn bool_to<T: Float>(c: bool) -> T {
    if c {
        T::one()
    } else {
        T::zero()
    }
}

/// The checks of a two-operand kernel `name` and the broadcast of `a` and `b`: the output's
/// shape and both operands' views of it.
fn broadcast_pair(
    name: &'static str,
    a: &Tensor,
    b: &Tensor,
) -> Result<(Vec<usize>, Layout, Layout)> {
    check_same(name, a, b)?;
    check_float(name, a)?;
    let shape = broadcast_shapes(name, a.shape(), b.shape())?;
    let la = a.layout().broadcast_to(&shape)?;
    let lb = b.layout().broadcast_to(&shape)?;
    Ok((shape, la, lb))
}

/// Runs a binary kernel over the broadcast of `a` and `b`.
fn map_binary<F: Binary>(a: &Tensor, b: &Tensor) -> Result<(Storage, Vec<usize>)> {
    let (shape, la, lb) = broadcast_pair(F::NAME, a, b)?;
    let data = on_device!(a.storage(), |s| s
        .binary::<F>(&la, b.storage().as_backend()?, &lb)
        .map(Storage::from))?;
    Ok((data, shape))
}

/// Runs a unary kernel over every element of `x`.
fn map_unary<F: Unary>(x: &Tensor, f: &F) -> Result<Storage> {
    check_float(F::NAME, x)?;
    on_device!(x.storage(), |s| s.unary(x.layout(), f).map(Storage::from))
}

/// A binary op, recorded as `op`.
fn binary_op<F: Binary>(a: &Tensor, b: &Tensor, op: impl Op) -> Result<Tensor> {
    let (data, shape) = map_binary::<F>(a, b)?;
    Ok(Tensor::from_op(data, &shape, op, &[a, b]))
}

/// A binary function as a constant (a mask).
fn binary_const<F: Binary>(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (data, shape) = map_binary::<F>(a, b)?;
    Ok(Tensor::from_storage(data, &shape))
}

/// A unary op: `f` is both the kernel and the recorded op.
fn unary_op<F: Unary + Op>(x: &Tensor, f: F) -> Result<Tensor> {
    let data = map_unary(x, &f)?;
    Ok(Tensor::from_op(data, x.shape(), f, &[x]))
}

/// A unary function as a constant (a mask).
fn unary_const<F: Unary>(x: &Tensor, f: F) -> Result<Tensor> {
    Ok(Tensor::from_storage(map_unary(x, &f)?, x.shape()))
}

/// A unary op in one line: `Name(params), "kernel", kind, |x| formula, |x, y, g| rule`. The
/// formula is generic over the float type `T` (`self` holds the parameters); the rule gives
/// the input's gradient from the input `x`, the output `y` and the output's gradient `g`.
macro_rules! unary {
    ($(#[$m:meta])* $name:ident $(($($p:ident),+))?, $kernel:literal, $kind:ident,
     |$s:ident, $x:ident| $f:expr, |$rx:ident, $ry:ident, $rg:ident| $rule:expr) => {
        $(#[$m])*
        #[derive(Clone, Copy)]
        struct $name $(($(unary!(@f64 $p)),+))?;
        impl Unary for $name {
            const NAME: &'static str = $kernel;
            #[inline]
            #[allow(unused_variables)]
            fn apply<T: Float>(&self, $x: T) -> T {
                let $s = self;
                $f
            }
            fn cuda(&self) -> (&'static str, f64, f64) {
                let (p0, p1) = unary!(@params self $(, $($p),+)?);
                ($kernel, p0, p1)
            }
        }
        impl Op for $name {
            fn kind(&self) -> OpKind {
                OpKind::$kind
            }
            #[allow(unused_variables)]
            fn backward(
                &self,
                x: &[Tensor],
                y: &Tensor,
                g: &Tensor,
                needs: &[bool],
            ) -> Result<Vec<Option<Tensor>>> {
                let $s = self;
                let ($rx, $ry, $rg) = (&x[0], y, g);
                Ok(vec![when(needs[0], || $rule)?])
            }
        }
    };
    (@f64 $p:ident) => { f64 };
    (@params $self:ident) => { (0.0, 0.0) };
    (@params $self:ident, $a:ident) => { ($self.0, 0.0) };
    (@params $self:ident, $a:ident, $b:ident) => { ($self.0, $self.1) };
}

/// A unary function used only as a constant (a mask or a sign), with its kernel.
macro_rules! unary_fn {
    ($name:ident $(($($p:ident),+))?, $kernel:literal, |$s:ident, $x:ident| $f:expr) => {
        struct $name $(($(unary!(@f64 $p)),+))?;
        impl Unary for $name {
            const NAME: &'static str = $kernel;
            #[inline]
            #[allow(unused_variables)]
            fn apply<T: Float>(&self, $x: T) -> T {
                let $s = self;
                $f
            }
            fn cuda(&self) -> (&'static str, f64, f64) {
                let (p0, p1) = unary!(@params self $(, $($p),+)?);
                ($kernel, p0, p1)
            }
        }
    };
}

unary!(Neg, "neg", Neg, |s, x| -x, |x, y, g| g.neg());
unary!(Exp, "exp", Exp, |s, x| x.exp(), |x, y, g| g.mul(y));
unary!(Log, "log", Log, |s, x| x.ln(), |x, y, g| g.div(x));
unary!(Sqrt, "sqrt", Sqrt, |s, x| x.sqrt(), |x, y, g| g
    .div(y)?
    .mul_scalar(0.5));
unary!(Abs, "abs", Abs, |s, x| x.abs(), |x, y, g| g.mul(&x.sign()?));
unary!(
    Relu,
    "relu",
    Relu,
    // `relu(NaN) = NaN` (as PyTorch): a diverged trunk must not look finite downstream.
    |s, x| if x <= T::zero() { T::zero() } else { x },
    |x, y, g| x.relu_backward(g)
);
unary!(
    Sigmoid,
    "sigmoid",
    Sigmoid,
    |s, x| if x >= T::zero() {
        T::one() / (T::one() + (-x).exp())
    } else {
        let e = x.exp();
        e / (T::one() + e)
    },
    |x, y, g| g.mul(&y.mul(&y.rsub_scalar(1.0)?)?)
);
unary!(Tanh, "tanh", Tanh, |s, x| x.tanh(), |x, y, g| g
    .mul(&y.mul(y)?.rsub_scalar(1.0)?));
unary!(
    PowScalar(p),
    "pow",
    PowScalar,
    |s, x| x.powf(T::from_f64(s.0)),
    |x, y, g| g.mul(&x.pow(s.0 - 1.0)?.mul_scalar(s.0)?)
);
unary!(
    AddScalar(c),
    "add_scalar",
    AddScalar,
    |s, x| x + T::from_f64(s.0),
    |x, y, g| Ok(g.clone())
);
unary!(
    MulScalar(c),
    "mul_scalar",
    MulScalar,
    |s, x| x * T::from_f64(s.0),
    |x, y, g| g.mul_scalar(s.0)
);
unary!(
    RsubScalar(c),
    "rsub_scalar",
    RsubScalar,
    |s, x| T::from_f64(s.0) - x,
    |x, y, g| g.neg()
);
unary!(
    Clamp(min, max),
    "clamp",
    Clamp,
    |s, x| {
        let (lo, hi) = (T::from_f64(s.0), T::from_f64(s.1));
        if x < lo {
            lo
        } else if x > hi {
            hi
        } else {
            x
        }
    },
    |x, y, g| g.mul(&unary_const(x, InRangeF(s.0, s.1))?)
);

unary_fn!(SignF, "sign", |s, x| if x > T::zero() {
    T::one()
} else if x < T::zero() {
    -T::one()
} else {
    T::zero()
});
unary_fn!(InRangeF(min, max), "in_range", |s, x| bool_to(
    x >= T::from_f64(s.0) && x <= T::from_f64(s.1)
));

/// The recorded binary ops.
#[derive(Clone, Copy)]
enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    Maximum,
    Minimum,
    ReluGrad,
}

impl Op for BinaryOp {
    fn kind(&self) -> OpKind {
        match self {
            BinaryOp::Add => OpKind::Add,
            BinaryOp::Sub => OpKind::Sub,
            BinaryOp::Mul => OpKind::Mul,
            BinaryOp::Div => OpKind::Div,
            BinaryOp::Maximum => OpKind::Maximum,
            BinaryOp::Minimum => OpKind::Minimum,
            BinaryOp::ReluGrad => OpKind::ReluGrad,
        }
    }

    fn backward(
        &self,
        x: &[Tensor],
        y: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let (a, b) = (&x[0], &x[1]);
        let (na, nb) = (needs[0], needs[1]);
        Ok(match self {
            BinaryOp::Add => vec![
                when(na, || g.sum_to(a.shape()))?,
                when(nb, || g.sum_to(b.shape()))?,
            ],
            BinaryOp::Sub => vec![
                when(na, || g.sum_to(a.shape()))?,
                when(nb, || g.neg()?.sum_to(b.shape()))?,
            ],
            BinaryOp::Mul => vec![
                when(na, || g.mul(b)?.sum_to(a.shape()))?,
                when(nb, || g.mul(a)?.sum_to(b.shape()))?,
            ],
            BinaryOp::Div => {
                let ga = g.div(b)?;
                vec![
                    when(na, || ga.sum_to(a.shape()))?,
                    when(nb, || ga.mul(y)?.neg()?.sum_to(b.shape()))?,
                ]
            }
            BinaryOp::Maximum | BinaryOp::Minimum => {
                let take_a = if matches!(self, BinaryOp::Maximum) {
                    a.ge_mask(b)?
                } else {
                    a.le_mask(b)?
                };
                vec![
                    when(na, || g.mul(&take_a)?.sum_to(a.shape()))?,
                    when(nb, || g.mul(&take_a.rsub_scalar(1.0)?)?.sum_to(b.shape()))?,
                ]
            }
            // Piecewise constant in `x` (zero gradient), linear in the output gradient `b`.
            BinaryOp::ReluGrad => vec![None, when(nb, || a.relu_backward(g)?.sum_to(b.shape()))?],
        })
    }
}

/// `a + alpha * b` ([`Tensor::add_scaled`]).
struct AddScaled(f64);

impl Op for AddScaled {
    fn kind(&self) -> OpKind {
        OpKind::AddScaled
    }

    fn backward(
        &self,
        x: &[Tensor],
        _y: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        Ok(vec![
            when(needs[0], || g.sum_to(x[0].shape()))?,
            when(needs[1], || g.mul_scalar(self.0)?.sum_to(x[1].shape()))?,
        ])
    }
}

/// `where(mask, a, b)`; the mask is a constant.
struct Where {
    mask: Tensor,
}

impl Op for Where {
    fn kind(&self) -> OpKind {
        OpKind::Where
    }

    fn backward(
        &self,
        x: &[Tensor],
        _y: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>> {
        let m = self.mask.ne_zero_mask(g.dtype())?;
        Ok(vec![
            when(needs[0], || g.mul(&m)?.sum_to(x[0].shape()))?,
            when(needs[1], || {
                g.mul(&m.rsub_scalar(1.0)?)?.sum_to(x[1].shape())
            })?,
        ])
    }
}

impl Tensor {
    /// `self + other`, broadcasting.
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        binary_op::<AddF>(self, other, BinaryOp::Add)
    }

    /// `self + alpha * other`, broadcasting, in one pass (PyTorch's `torch.add(self, other,
    /// alpha=alpha)`): the update of an optimizer step or of MAXL's fast weights (`p - lr g` is
    /// `p.add_scaled(&g, -lr)`) without a separate scaled copy of `other`. On the CPU the
    /// product is rounded before the sum, so it gives the bits of
    /// `self.add(&other.mul_scalar(alpha))`.
    pub fn add_scaled(&self, other: &Tensor, alpha: f64) -> Result<Tensor> {
        let (shape, la, lb) = broadcast_pair("add_scaled", self, other)?;
        let data = on_device!(self.storage(), |s| s
            .add_scaled(&la, other.storage().as_backend()?, &lb, alpha)
            .map(Storage::from))?;
        Ok(Tensor::from_op(
            data,
            &shape,
            AddScaled(alpha),
            &[self, other],
        ))
    }

    /// `self - other`, broadcasting.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        binary_op::<SubF>(self, other, BinaryOp::Sub)
    }

    /// `self * other`, broadcasting.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        binary_op::<MulF>(self, other, BinaryOp::Mul)
    }

    /// `self / other`, broadcasting.
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        binary_op::<DivF>(self, other, BinaryOp::Div)
    }

    /// ReLU's backward in one pass: `grad` where `self > 0`, else 0 (PyTorch's
    /// `threshold_backward(grad, self, 0)`; a NaN in `self` passes its `grad`), broadcasting.
    /// Recorded, so gradients of any order flow through `grad` (its gradient in `self` is 0).
    pub fn relu_backward(&self, grad: &Tensor) -> Result<Tensor> {
        binary_op::<ReluGradF>(self, grad, BinaryOp::ReluGrad)
    }

    /// Elementwise maximum, broadcasting; ties send the gradient to `self`.
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        binary_op::<MaxF>(self, other, BinaryOp::Maximum)
    }

    /// Elementwise minimum, broadcasting; ties send the gradient to `self`.
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        binary_op::<MinF>(self, other, BinaryOp::Minimum)
    }

    pub fn neg(&self) -> Result<Tensor> {
        unary_op(self, Neg)
    }

    pub fn exp(&self) -> Result<Tensor> {
        unary_op(self, Exp)
    }

    /// Natural logarithm.
    pub fn log(&self) -> Result<Tensor> {
        unary_op(self, Log)
    }

    /// `self ^ p` for a scalar exponent.
    pub fn pow(&self, p: f64) -> Result<Tensor> {
        unary_op(self, PowScalar(p))
    }

    pub fn sqrt(&self) -> Result<Tensor> {
        unary_op(self, Sqrt)
    }

    /// Absolute value; its gradient at 0 is 0, as PyTorch's.
    pub fn abs(&self) -> Result<Tensor> {
        unary_op(self, Abs)
    }

    /// `max(x, 0)`; its gradient at 0 is 0, as PyTorch's.
    pub fn relu(&self) -> Result<Tensor> {
        unary_op(self, Relu)
    }

    pub fn sigmoid(&self) -> Result<Tensor> {
        unary_op(self, Sigmoid)
    }

    pub fn tanh(&self) -> Result<Tensor> {
        unary_op(self, Tanh)
    }

    /// Clamps into `[min, max]`; the gradient passes where `min <= x <= max`.
    pub fn clamp(&self, min: f64, max: f64) -> Result<Tensor> {
        if min.is_nan() || max.is_nan() || min > max {
            return crate::error::invalid(format!("clamp: bad range [{min}, {max}]"));
        }
        unary_op(self, Clamp(min, max))
    }

    /// `self + c`.
    pub fn add_scalar(&self, c: f64) -> Result<Tensor> {
        unary_op(self, AddScalar(c))
    }

    /// `self * c`.
    pub fn mul_scalar(&self, c: f64) -> Result<Tensor> {
        unary_op(self, MulScalar(c))
    }

    /// `self - c`.
    pub fn sub_scalar(&self, c: f64) -> Result<Tensor> {
        self.add_scalar(-c)
    }

    /// `self / c`.
    pub fn div_scalar(&self, c: f64) -> Result<Tensor> {
        self.mul_scalar(1.0 / c)
    }

    /// `c - self`.
    pub fn rsub_scalar(&self, c: f64) -> Result<Tensor> {
        unary_op(self, RsubScalar(c))
    }

    /// `a` where `mask` is non-zero, else `b`; all three broadcast. The mask is a constant.
    pub fn where_cond(mask: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        check_same("where", a, b)?;
        check_float("where", a)?;
        let shape = broadcast_shapes("where", a.shape(), b.shape())?;
        let shape = broadcast_shapes("where", mask.shape(), &shape)?;
        // The mask as 0/1 of a's dtype on a's device (made there: no copy to the host).
        let m = mask.to_device(a.device())?.ne_zero_mask(a.dtype())?;
        let lm = m.layout().broadcast_to(&shape)?;
        let la = a.layout().broadcast_to(&shape)?;
        let lb = b.layout().broadcast_to(&shape)?;
        let data = on_device!(m.storage(), |s| s
            .select(
                &lm,
                a.storage().as_backend()?,
                &la,
                b.storage().as_backend()?,
                &lb
            )
            .map(Storage::from))?;
        let op = Where {
            mask: mask.detach(),
        };
        Ok(Tensor::from_op(data, &shape, op, &[a, b]))
    }

    /// 1 where `self > other`, else 0 (a constant of `self`'s dtype).
    pub fn gt_mask(&self, other: &Tensor) -> Result<Tensor> {
        binary_const::<GtF>(self, other)
    }

    /// 1 where `self >= other`, else 0.
    pub fn ge_mask(&self, other: &Tensor) -> Result<Tensor> {
        binary_const::<GeF>(self, other)
    }

    /// 1 where `self < other`, else 0.
    pub fn lt_mask(&self, other: &Tensor) -> Result<Tensor> {
        binary_const::<LtF>(self, other)
    }

    /// 1 where `self <= other`, else 0.
    pub fn le_mask(&self, other: &Tensor) -> Result<Tensor> {
        binary_const::<LeF>(self, other)
    }

    /// 1 where `self == other`, else 0.
    pub fn eq_mask(&self, other: &Tensor) -> Result<Tensor> {
        binary_const::<EqF>(self, other)
    }

    /// -1, 0 or 1 by sign (a constant).
    pub fn sign(&self) -> Result<Tensor> {
        unary_const(self, SignF)
    }

    /// 1.0 where the element is non-zero (NaN included), as a constant of the float `dtype`
    /// on this tensor's device.
    pub(crate) fn ne_zero_mask(&self, dtype: DType) -> Result<Tensor> {
        let v = if self.dtype() == dtype {
            self.detach()
        } else {
            self.to_dtype(dtype)?
        };
        let zero = Tensor::full_on(&[], 0.0, dtype, self.device())?;
        v.eq_mask(&zero)?.rsub_scalar(1.0)
    }
}
