//! [`OpKind`], the enumerable registry of the op kinds that the tape records (strum-derived).
//! Every op ([`crate::Op`], which carries its own backward rule) names its kind, so an op
//! cannot be recorded without being registered here, and the gradcheck suite enumerates the
//! registry: a kind that no gradcheck case records fails the suite.

/// The registry of op kinds; a new op adds its kind here (and a gradcheck case in its family).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, strum::EnumIter, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum OpKind {
    Add,
    Sub,
    Mul,
    Div,
    AddScaled,
    Neg,
    AddScalar,
    MulScalar,
    RsubScalar,
    Exp,
    Log,
    PowScalar,
    Sqrt,
    Abs,
    Relu,
    ReluGrad,
    Sigmoid,
    Tanh,
    Clamp,
    Maximum,
    Minimum,
    Where,
    Sum,
    Max,
    Min,
    Matmul,
    Permute,
    Reshape,
    BroadcastTo,
    Narrow,
    Concat,
    IndexSelect,
    Gather,
    ScatterAdd,
    Softmax,
    LogSoftmax,
    LogSoftmaxBackward,
    LogSumExp,
    MaskedSoftmax,
    SoftmaxBackward,
    FocalLoss,
    FocalLossBackward,
    Conv2d,
    ConvTranspose2d,
    Conv2dWeight,
    MaxPool2d,
    MaxPool2dBackward,
    AvgPool2d,
    AvgPool2dBackward,
    BatchNorm,
    BatchNormBackward,
    BatchNormWeightGrad,
    BatchNormInvstd,
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
