//! The recorded operations. Every differentiable op the engine has is a variant here, with what
//! its backward rule needs; `OpKind` (derived) is the registry that the gradcheck suite
//! enumerates, so an op added here without a gradcheck case fails the suite.

use crate::backend::cpu::conv::ConvGeom;
use crate::backend::cpu::pool::AvgPlan;
use crate::Tensor;
use std::sync::Arc;

/// Per-channel statistics of a batch-norm input, kept by its ops for their kernels (the
/// backward rules recompute them with tensor ops where they must be differentiated).
#[derive(Debug, Clone, PartialEq)]
pub struct BnStats {
    pub mean: Vec<f64>,
    /// Biased variance.
    pub var: Vec<f64>,
    /// `(var + eps)^(-1/2)`.
    pub invstd: Vec<f64>,
    pub eps: f64,
}

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
    /// 2-D convolution; inputs `[x, w]` or `[x, w, bias]`.
    Conv2d {
        geom: ConvGeom,
    },
    /// Transposed convolution (the adjoint of `Conv2d` in its input); inputs `[z, w]` or
    /// `[z, w, bias]`.
    ConvTranspose2d {
        geom: ConvGeom,
    },
    /// Weight gradient of a convolution; inputs `[x, grad_out]`.
    Conv2dWeight {
        geom: ConvGeom,
    },
    /// Max pooling seen as a gather of each plane at the (constant) argmax `indices`.
    MaxPool2d {
        indices: Tensor,
    },
    /// Scatter-add of a max pool's output gradient to its argmax `indices`, into planes of
    /// size `input`.
    MaxPool2dBackward {
        indices: Tensor,
        input: [usize; 2],
    },
    /// Average pooling over the windows of `plan` (fixed-stride or adaptive).
    AvgPool2d {
        plan: Arc<AvgPlan>,
    },
    /// The adjoint of `AvgPool2d`: spreads gradients over the windows.
    AvgPool2dBackward {
        plan: Arc<AvgPlan>,
    },
    /// Batch norm on batch statistics; inputs `[x, weight, bias]`.
    BatchNorm {
        stats: Arc<BnStats>,
    },
    /// Input gradient of `BatchNorm`; inputs `[x, weight, grad_out]`.
    BatchNormBackward {
        stats: Arc<BnStats>,
    },
    /// Weight gradient of `BatchNorm`, `sum(grad_out * xhat)` per channel; inputs
    /// `[x, grad_out]`.
    BatchNormWeightGrad {
        stats: Arc<BnStats>,
    },
    /// `(var(x) + eps)^(-1/2)` per channel, from the kept statistics; input `[x]`.
    BatchNormInvstd {
        stats: Arc<BnStats>,
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
