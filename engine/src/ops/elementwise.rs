//! Elementwise ops: arithmetic with NumPy broadcasting, scalar ops, the unary math functions,
//! `clamp`, `maximum`/`minimum`, `where_cond`, and the comparison masks (constants, never
//! recorded). Backward rules use only these same ops plus `sum_to`.

use super::{check_float, check_same};
use crate::autograd::op::Op;
use crate::backend::cpu::{elementwise as k, float_map};
use crate::backend::cuda::elementwise as cuda;
use crate::error::Result;
use crate::layout::broadcast_shapes;
use crate::storage::{CpuStorage, Storage};
use crate::{Float, Tensor};

/// A binary elementwise function, generic over the float type.
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
binary_fn!(MaxF, "maximum", |a, b| if a >= b { a } else { b });
binary_fn!(MinF, "minimum", |a, b| if a <= b { a } else { b });
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

/// Runs a binary kernel over the broadcast of `a` and `b`.
pub(crate) fn map_binary<K: Binary>(a: &Tensor, b: &Tensor) -> Result<(Storage, Vec<usize>)> {
    check_same(K::NAME, a, b)?;
    check_float(K::NAME, a)?;
    let shape = broadcast_shapes(K::NAME, a.shape(), b.shape())?;
    let la = a.layout().broadcast_to(&shape)?;
    let lb = b.layout().broadcast_to(&shape)?;
    if a.device().is_cuda() {
        let data = cuda::binary(K::NAME, a, &la, b, &lb, &shape, K::NAME)?;
        return Ok((data, shape));
    }
    let data = match (a.cpu(), b.cpu()) {
        (CpuStorage::F32(x), CpuStorage::F32(y)) => {
            CpuStorage::F32(k::binary(x, &la, y, &lb, K::apply::<f32>))
        }
        (CpuStorage::F64(x), CpuStorage::F64(y)) => {
            CpuStorage::F64(k::binary(x, &la, y, &lb, K::apply::<f64>))
        }
        _ => unreachable!("dtypes checked above"),
    };
    Ok((data.into(), shape))
}

/// Runs a unary kernel over every element of `x`.
pub(crate) fn map_unary<K: Unary>(x: &Tensor, f: &K) -> Result<Storage> {
    if x.device().is_cuda() {
        check_float(K::NAME, x)?;
        let (name, p0, p1) = f.cuda();
        return cuda::unary(name, x, p0, p1, K::NAME);
    }
    let l = x.layout();
    float_map!(x.cpu(), K::NAME, |v| k::unary(v, l, |e| f.apply(e))).map(Storage::from)
}

fn binary_op<K: Binary>(a: &Tensor, b: &Tensor, op: Op) -> Result<Tensor> {
    let (data, shape) = map_binary::<K>(a, b)?;
    Ok(Tensor::from_op(data, &shape, op, &[a, b]))
}

fn binary_const<K: Binary>(a: &Tensor, b: &Tensor) -> Result<Tensor> {
    let (data, shape) = map_binary::<K>(a, b)?;
    Ok(Tensor::from_storage(data, &shape))
}

fn unary_op<K: Unary>(x: &Tensor, f: K, op: Op) -> Result<Tensor> {
    let data = map_unary(x, &f)?;
    Ok(Tensor::from_op(data, x.shape(), op, &[x]))
}

macro_rules! unary_fn {
    ($name:ident, $s:literal, $kernel:literal, |$x:ident| $e:expr) => {
        pub(crate) struct $name;
        impl Unary for $name {
            const NAME: &'static str = $s;
            #[inline]
            fn apply<T: Float>(&self, $x: T) -> T {
                $e
            }
            fn cuda(&self) -> (&'static str, f64, f64) {
                ($kernel, 0.0, 0.0)
            }
        }
    };
}

unary_fn!(NegF, "neg", "neg", |x| -x);
unary_fn!(ExpF, "exp", "exp", |x| x.exp());
unary_fn!(LogF, "log", "log", |x| x.ln());
unary_fn!(SqrtF, "sqrt", "sqrt", |x| x.sqrt());
unary_fn!(AbsF, "abs", "abs", |x| x.abs());
unary_fn!(ReluF, "relu", "relu", |x| if x > T::zero() {
    x
} else {
    T::zero()
});
unary_fn!(SigmoidF, "sigmoid", "sigmoid", |x| if x >= T::zero() {
    T::one() / (T::one() + (-x).exp())
} else {
    let e = x.exp();
    e / (T::one() + e)
});
unary_fn!(TanhF, "tanh", "tanh", |x| x.tanh());
unary_fn!(PositiveF, "relu", "relu_mask", |x| bool_to(x > T::zero()));
unary_fn!(SignF, "sign", "sign", |x| if x > T::zero() {
    T::one()
} else if x < T::zero() {
    -T::one()
} else {
    T::zero()
});

struct PowF(f64);
impl Unary for PowF {
    const NAME: &'static str = "pow";
    fn apply<T: Float>(&self, x: T) -> T {
        x.powf(T::from_f64(self.0))
    }
    fn cuda(&self) -> (&'static str, f64, f64) {
        ("pow", self.0, 0.0)
    }
}

struct AddScalarF(f64);
impl Unary for AddScalarF {
    const NAME: &'static str = "add_scalar";
    fn apply<T: Float>(&self, x: T) -> T {
        x + T::from_f64(self.0)
    }
    fn cuda(&self) -> (&'static str, f64, f64) {
        ("add_scalar", self.0, 0.0)
    }
}

struct MulScalarF(f64);
impl Unary for MulScalarF {
    const NAME: &'static str = "mul_scalar";
    fn apply<T: Float>(&self, x: T) -> T {
        x * T::from_f64(self.0)
    }
    fn cuda(&self) -> (&'static str, f64, f64) {
        ("mul_scalar", self.0, 0.0)
    }
}

struct ClampF(f64, f64);
impl Unary for ClampF {
    const NAME: &'static str = "clamp";
    fn apply<T: Float>(&self, x: T) -> T {
        let (lo, hi) = (T::from_f64(self.0), T::from_f64(self.1));
        if x < lo {
            lo
        } else if x > hi {
            hi
        } else {
            x
        }
    }
    fn cuda(&self) -> (&'static str, f64, f64) {
        ("clamp", self.0, self.1)
    }
}

struct InRangeF(f64, f64);
impl Unary for InRangeF {
    const NAME: &'static str = "clamp";
    fn apply<T: Float>(&self, x: T) -> T {
        bool_to(x >= T::from_f64(self.0) && x <= T::from_f64(self.1))
    }
    fn cuda(&self) -> (&'static str, f64, f64) {
        ("in_range", self.0, self.1)
    }
}

impl Tensor {
    /// `self + other`, broadcasting.
    pub fn add(&self, other: &Tensor) -> Result<Tensor> {
        binary_op::<AddF>(self, other, Op::Add)
    }

    /// `self - other`, broadcasting.
    pub fn sub(&self, other: &Tensor) -> Result<Tensor> {
        binary_op::<SubF>(self, other, Op::Sub)
    }

    /// `self * other`, broadcasting.
    pub fn mul(&self, other: &Tensor) -> Result<Tensor> {
        binary_op::<MulF>(self, other, Op::Mul)
    }

    /// `self / other`, broadcasting.
    pub fn div(&self, other: &Tensor) -> Result<Tensor> {
        binary_op::<DivF>(self, other, Op::Div)
    }

    /// Elementwise maximum, broadcasting; ties send the gradient to `self`.
    pub fn maximum(&self, other: &Tensor) -> Result<Tensor> {
        binary_op::<MaxF>(self, other, Op::Maximum)
    }

    /// Elementwise minimum, broadcasting; ties send the gradient to `self`.
    pub fn minimum(&self, other: &Tensor) -> Result<Tensor> {
        binary_op::<MinF>(self, other, Op::Minimum)
    }

    pub fn neg(&self) -> Result<Tensor> {
        unary_op(self, NegF, Op::Neg)
    }

    pub fn exp(&self) -> Result<Tensor> {
        unary_op(self, ExpF, Op::Exp)
    }

    /// Natural logarithm.
    pub fn log(&self) -> Result<Tensor> {
        unary_op(self, LogF, Op::Log)
    }

    /// `self ^ p` for a scalar exponent.
    pub fn pow(&self, p: f64) -> Result<Tensor> {
        unary_op(self, PowF(p), Op::PowScalar(p))
    }

    pub fn sqrt(&self) -> Result<Tensor> {
        unary_op(self, SqrtF, Op::Sqrt)
    }

    /// Absolute value; its gradient at 0 is 0, as PyTorch's.
    pub fn abs(&self) -> Result<Tensor> {
        unary_op(self, AbsF, Op::Abs)
    }

    /// `max(x, 0)`; its gradient at 0 is 0, as PyTorch's.
    pub fn relu(&self) -> Result<Tensor> {
        unary_op(self, ReluF, Op::Relu)
    }

    pub fn sigmoid(&self) -> Result<Tensor> {
        unary_op(self, SigmoidF, Op::Sigmoid)
    }

    pub fn tanh(&self) -> Result<Tensor> {
        unary_op(self, TanhF, Op::Tanh)
    }

    /// Clamps into `[min, max]`; the gradient passes where `min <= x <= max`.
    pub fn clamp(&self, min: f64, max: f64) -> Result<Tensor> {
        if min.is_nan() || max.is_nan() || min > max {
            return crate::error::invalid(format!("clamp: bad range [{min}, {max}]"));
        }
        unary_op(self, ClampF(min, max), Op::Clamp { min, max })
    }

    /// `self + c`.
    pub fn add_scalar(&self, c: f64) -> Result<Tensor> {
        unary_op(self, AddScalarF(c), Op::AddScalar(c))
    }

    /// `self * c`.
    pub fn mul_scalar(&self, c: f64) -> Result<Tensor> {
        unary_op(self, MulScalarF(c), Op::MulScalar(c))
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
        self.neg()?.add_scalar(c)
    }

    /// `a` where `mask` is non-zero, else `b`; all three broadcast. The mask is a constant.
    pub fn where_cond(mask: &Tensor, a: &Tensor, b: &Tensor) -> Result<Tensor> {
        check_same("where", a, b)?;
        check_float("where", a)?;
        let shape = broadcast_shapes("where", a.shape(), b.shape())?;
        let shape = broadcast_shapes("where", mask.shape(), &shape)?;
        if a.device().is_cuda() {
            let m = mask.ne_zero_mask(a.dtype())?.to_device(a.device())?;
            let lm = m.layout().broadcast_to(&shape)?;
            let (la, lb) = (
                a.layout().broadcast_to(&shape)?,
                b.layout().broadcast_to(&shape)?,
            );
            let data = cuda::select((&m, &lm), (a, &la), (b, &lb), &shape)?;
            let op = Op::Where {
                mask: mask.detach(),
            };
            return Ok(Tensor::from_op(data, &shape, op, &[a, b]));
        }
        let m = mask.detach().to_f64_vec_broadcast(&shape)?;
        let (la, lb) = (
            a.layout().broadcast_to(&shape)?,
            b.layout().broadcast_to(&shape)?,
        );
        let pick = |av: Vec<f64>, bv: Vec<f64>| -> Vec<f64> {
            m.iter()
                .zip(av.iter().zip(bv))
                .map(|(&c, (&x, y))| if c != 0.0 { x } else { y })
                .collect()
        };
        let av = a.view_as(la).to_f64_vec();
        let bv = b.view_as(lb).to_f64_vec();
        let data = match a.dtype() {
            crate::DType::F32 => CpuStorage::F32(pick(av, bv).iter().map(|&v| v as f32).collect()),
            _ => CpuStorage::F64(pick(av, bv)),
        };
        Ok(Tensor::from_op(
            data,
            &shape,
            Op::Where {
                mask: mask.detach(),
            },
            &[a, b],
        ))
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
        Ok(Tensor::from_storage(map_unary(self, &SignF)?, self.shape()))
    }

    /// 1 where `min <= x <= max`, else 0 (a constant).
    fn in_range_mask(&self, min: f64, max: f64) -> Result<Tensor> {
        Ok(Tensor::from_storage(
            map_unary(self, &InRangeF(min, max))?,
            self.shape(),
        ))
    }

    /// The same storage seen through another layout, as a constant (kernel helper).
    pub(crate) fn view_as(&self, layout: crate::layout::Layout) -> Tensor {
        Tensor::build(self.storage().clone(), layout, false, None)
    }

    fn to_f64_vec_broadcast(&self, shape: &[usize]) -> Result<Vec<f64>> {
        Ok(self
            .view_as(self.layout().broadcast_to(shape)?)
            .to_f64_vec())
    }
}

/// Backward rules of the elementwise family. `x` are the recorded inputs, `y` the output,
/// `g` the gradient of the output.
pub(crate) fn backward(
    op: &Op,
    x: &[Tensor],
    y: &Tensor,
    g: &Tensor,
) -> Result<Vec<Option<Tensor>>> {
    let one = |t: Tensor| Ok(vec![Some(t)]);
    match op {
        Op::Add => Ok(vec![
            Some(g.sum_to(x[0].shape())?),
            Some(g.sum_to(x[1].shape())?),
        ]),
        Op::Sub => Ok(vec![
            Some(g.sum_to(x[0].shape())?),
            Some(g.neg()?.sum_to(x[1].shape())?),
        ]),
        Op::Mul => Ok(vec![
            Some(g.mul(&x[1])?.sum_to(x[0].shape())?),
            Some(g.mul(&x[0])?.sum_to(x[1].shape())?),
        ]),
        Op::Div => {
            let ga = g.div(&x[1])?;
            let gb = ga.mul(y)?.neg()?;
            Ok(vec![
                Some(ga.sum_to(x[0].shape())?),
                Some(gb.sum_to(x[1].shape())?),
            ])
        }
        Op::Maximum | Op::Minimum => {
            let take_a = if matches!(op, Op::Maximum) {
                x[0].ge_mask(&x[1])?
            } else {
                x[0].le_mask(&x[1])?
            };
            let take_b = take_a.rsub_scalar(1.0)?;
            Ok(vec![
                Some(g.mul(&take_a)?.sum_to(x[0].shape())?),
                Some(g.mul(&take_b)?.sum_to(x[1].shape())?),
            ])
        }
        Op::Where { mask } => {
            let m = mask.ne_zero_mask(g.dtype())?;
            let not_m = m.rsub_scalar(1.0)?;
            Ok(vec![
                Some(g.mul(&m)?.sum_to(x[0].shape())?),
                Some(g.mul(&not_m)?.sum_to(x[1].shape())?),
            ])
        }
        Op::Neg => one(g.neg()?),
        Op::AddScalar(_) => one(g.clone()),
        Op::MulScalar(c) => one(g.mul_scalar(*c)?),
        Op::Exp => one(g.mul(y)?),
        Op::Log => one(g.div(&x[0])?),
        Op::PowScalar(p) => one(g.mul(&x[0].pow(p - 1.0)?.mul_scalar(*p)?)?),
        Op::Sqrt => one(g.div(y)?.mul_scalar(0.5)?),
        Op::Abs => one(g.mul(&x[0].sign()?)?),
        Op::Relu => one(g.mul(&x[0].positive_mask()?)?),
        Op::Sigmoid => one(g.mul(&y.mul(&y.rsub_scalar(1.0)?)?)?),
        Op::Tanh => one(g.mul(&y.mul(y)?.rsub_scalar(1.0)?)?),
        Op::Clamp { min, max } => one(g.mul(&x[0].in_range_mask(*min, *max)?)?),
        _ => unreachable!("not an elementwise op: {}", op.name()),
    }
}

impl Tensor {
    /// 1 where the element is positive, else 0, as a constant (relu's derivative).
    fn positive_mask(&self) -> Result<Tensor> {
        Ok(Tensor::from_storage(
            map_unary(self, &PositiveF)?,
            self.shape(),
        ))
    }

    /// 1.0 where the element is non-zero (NaN included), as a constant of `dtype`.
    pub(crate) fn ne_zero_mask(&self, dtype: crate::DType) -> Result<Tensor> {
        if self.device().is_cuda() && self.dtype() == dtype && dtype.is_float() {
            // On the device: 1 - (x == 0), no copy to the host.
            let zero = Tensor::full_on(&[], 0.0, dtype, self.device())?;
            return self.detach().eq_mask(&zero)?.rsub_scalar(1.0);
        }
        let v: Vec<f64> = self
            .to_f64_vec()
            .into_iter()
            .map(|e| if e != 0.0 { 1.0 } else { 0.0 })
            .collect();
        Tensor::from_f64s(&v, self.shape(), dtype).to_device(self.device())
    }
}

/// Gradcheck cases of the elementwise family.
pub(crate) fn gradcheck_cases() -> Vec<super::cases::OpCase> {
    use super::cases::{away_from, distinct, normal, uniform, OpCase};
    vec![
        OpCase {
            op: "add",
            what: "[3,1,4] + [2,4]",
            inputs: |r| vec![normal(r, &[3, 1, 4]), normal(r, &[2, 4])],
            f: |x| x[0].add(&x[1]),
        },
        OpCase {
            op: "sub",
            what: "[2,3] - [3]",
            inputs: |r| vec![normal(r, &[2, 3]), normal(r, &[3])],
            f: |x| x[0].sub(&x[1]),
        },
        OpCase {
            op: "mul",
            what: "[2,1,3] * [4,3]",
            inputs: |r| vec![normal(r, &[2, 1, 3]), normal(r, &[4, 3])],
            f: |x| x[0].mul(&x[1]),
        },
        OpCase {
            op: "mul",
            what: "x * x (shared input)",
            inputs: |r| vec![normal(r, &[5])],
            f: |x| x[0].mul(&x[0]),
        },
        OpCase {
            op: "div",
            what: "[3,4] / [1,4]",
            inputs: |r| vec![normal(r, &[3, 4]), uniform(r, &[1, 4], 0.5, 1.5)],
            f: |x| x[0].div(&x[1]),
        },
        OpCase {
            op: "neg",
            what: "[5]",
            inputs: |r| vec![normal(r, &[5])],
            f: |x| x[0].neg(),
        },
        OpCase {
            op: "add_scalar",
            what: "[2,3] + 0.7",
            inputs: |r| vec![normal(r, &[2, 3])],
            f: |x| x[0].add_scalar(0.7),
        },
        OpCase {
            op: "mul_scalar",
            what: "[2,3] * -1.3",
            inputs: |r| vec![normal(r, &[2, 3])],
            f: |x| x[0].mul_scalar(-1.3),
        },
        OpCase {
            op: "exp",
            what: "[2,3]",
            inputs: |r| vec![normal(r, &[2, 3])],
            f: |x| x[0].exp(),
        },
        OpCase {
            op: "log",
            what: "[2,3] in [0.5, 2)",
            inputs: |r| vec![uniform(r, &[2, 3], 0.5, 2.0)],
            f: |x| x[0].log(),
        },
        OpCase {
            op: "pow",
            what: "[2,3] ^ 2.5",
            inputs: |r| vec![uniform(r, &[2, 3], 0.5, 2.0)],
            f: |x| x[0].pow(2.5),
        },
        OpCase {
            op: "pow",
            what: "[4] ^ -1.5",
            inputs: |r| vec![uniform(r, &[4], 0.5, 2.0)],
            f: |x| x[0].pow(-1.5),
        },
        OpCase {
            op: "sqrt",
            what: "[2,3]",
            inputs: |r| vec![uniform(r, &[2, 3], 0.5, 2.0)],
            f: |x| x[0].sqrt(),
        },
        OpCase {
            op: "abs",
            what: "[2,3] away from 0",
            inputs: |r| vec![away_from(r, &[2, 3], &[0.0], 0.05)],
            f: |x| x[0].abs(),
        },
        OpCase {
            op: "relu",
            what: "[3,4] away from 0",
            inputs: |r| vec![away_from(r, &[3, 4], &[0.0], 0.05)],
            f: |x| x[0].relu(),
        },
        OpCase {
            op: "sigmoid",
            what: "[2,3]",
            inputs: |r| vec![normal(r, &[2, 3])],
            f: |x| x[0].sigmoid(),
        },
        OpCase {
            op: "tanh",
            what: "[2,3]",
            inputs: |r| vec![normal(r, &[2, 3])],
            f: |x| x[0].tanh(),
        },
        OpCase {
            op: "clamp",
            what: "[3,4] into [-0.5, 0.6]",
            inputs: |r| vec![away_from(r, &[3, 4], &[-0.5, 0.6], 0.05)],
            f: |x| x[0].clamp(-0.5, 0.6),
        },
        OpCase {
            op: "maximum",
            what: "[2,3] vs [3]",
            inputs: |r| {
                let v = distinct(r, &[9]);
                vec![
                    v.narrow(0, 0, 6)
                        .unwrap()
                        .reshape(&[2, 3])
                        .unwrap()
                        .detach(),
                    v.narrow(0, 6, 3).unwrap().detach(),
                ]
            },
            f: |x| x[0].maximum(&x[1]),
        },
        OpCase {
            op: "minimum",
            what: "[2,1] vs [1,3]",
            inputs: |r| {
                let v = distinct(r, &[5]);
                vec![
                    v.narrow(0, 0, 2)
                        .unwrap()
                        .reshape(&[2, 1])
                        .unwrap()
                        .detach(),
                    v.narrow(0, 2, 3)
                        .unwrap()
                        .reshape(&[1, 3])
                        .unwrap()
                        .detach(),
                ]
            },
            f: |x| x[0].minimum(&x[1]),
        },
        OpCase {
            op: "where",
            what: "mask [2,3], a [2,3], b [3]",
            inputs: |r| {
                vec![
                    away_from(r, &[2, 3], &[0.0], 0.05),
                    normal(r, &[2, 3]),
                    normal(r, &[3]),
                ]
            },
            f: |x| {
                Tensor::where_cond(
                    &x[0].detach().gt_mask(&Tensor::full_on(
                        &[],
                        0.0,
                        x[0].dtype(),
                        x[0].device(),
                    )?)?,
                    &x[1],
                    &x[2],
                )
            },
        },
    ]
}
