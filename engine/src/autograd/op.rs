//! The recorded operations. Every differentiable op the engine has is a variant here, with what
//! its backward rule needs; `OpKind` (derived) is the registry that the gradcheck suite
//! enumerates, so an op added here without a gradcheck case fails the suite.

use crate::Tensor;

/// A recorded operation and the constants its backward rule needs. Differentiable inputs are
/// kept in the node, not here.
#[derive(Debug, Clone, strum::EnumDiscriminants)]
#[strum_discriminants(name(OpKind))]
#[strum_discriminants(derive(strum::EnumIter, strum::IntoStaticStr, Hash))]
#[strum_discriminants(strum(serialize_all = "snake_case"))]
pub enum Op {
    Add,
    Sub,
    Mul,
    Div,
    Neg,
    AddScalar(f64),
    MulScalar(f64),
    Exp,
    Log,
    PowScalar(f64),
    Sqrt,
    Abs,
    Relu,
    Sigmoid,
    Tanh,
    Clamp {
        min: f64,
        max: f64,
    },
    Maximum,
    Minimum,
    /// `where(mask, a, b)`; the mask is a constant.
    Where {
        mask: Tensor,
    },
    Sum {
        axes: Vec<usize>,
        keepdim: bool,
    },
    Max {
        axes: Vec<usize>,
        keepdim: bool,
    },
    Min {
        axes: Vec<usize>,
        keepdim: bool,
    },
    Matmul,
    Permute {
        perm: Vec<usize>,
    },
    Reshape {
        from: Vec<usize>,
    },
    BroadcastTo {
        from: Vec<usize>,
    },
    Narrow {
        axis: usize,
        start: usize,
        len: usize,
    },
    Concat {
        axis: usize,
        sizes: Vec<usize>,
    },
    IndexSelect {
        axis: usize,
        index: Tensor,
    },
    Gather {
        axis: usize,
        index: Tensor,
    },
    ScatterAdd {
        axis: usize,
        index: Tensor,
    },
    Softmax {
        axis: usize,
    },
    LogSoftmax {
        axis: usize,
    },
    LogSumExp {
        axis: usize,
        keepdim: bool,
    },
}

impl Op {
    /// The op's registry name, e.g. `log_softmax`.
    pub fn name(&self) -> &'static str {
        OpKind::from(self).name()
    }
}

impl OpKind {
    /// The op's registry name, e.g. `log_softmax`.
    pub fn name(self) -> &'static str {
        self.into()
    }

    /// Every op of the registry.
    pub fn all() -> impl Iterator<Item = OpKind> {
        <OpKind as strum::IntoEnumIterator>::iter()
    }
}
