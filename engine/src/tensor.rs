//! The tensor handle: shared storage, a strided layout, and (when it was computed from tensors
//! that require grad) the tape node that made it: the [`Op`] with its backward rule and the
//! op's inputs. Cloning a `Tensor` is cheap; dropping the last handle of an iteration's loss
//! frees its whole tape.

use crate::autograd::mode::is_grad_enabled;
use crate::autograd::op::OpKind;
use crate::error::{Error, Result};
use crate::layout::{numel, Layout};
use crate::rng::Rng;
use crate::storage::{CpuStorage, Element, Storage};
use crate::{DType, Device};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static LIVE_TENSORS: AtomicUsize = AtomicUsize::new(0);

/// Number of live tensor handles' inner records (views included) in this process.
pub fn live_tensors() -> usize {
    LIVE_TENSORS.load(Ordering::Relaxed)
}

/// A recorded operation: the constants its backward rule needs (its differentiable inputs are
/// kept by the node) and the rule itself. Each op kind of `ops/<family>/` implements it.
pub trait Op: Send + Sync + 'static {
    /// The op's registry entry.
    fn kind(&self) -> OpKind;

    /// The gradients of the inputs `x` given the output `y` and its gradient `g`: one entry per
    /// input, `None` where `needs[i]` is false (nobody asked for that input's gradient, so the
    /// rule does not compute it) or where the input is a constant of the op. The rule is
    /// written in differentiable tensor ops, so with recording on its result has a tape of its
    /// own (gradients of any order).
    fn backward(
        &self,
        x: &[Tensor],
        y: &Tensor,
        g: &Tensor,
        needs: &[bool],
    ) -> Result<Vec<Option<Tensor>>>;
}

/// A node of the tape: the op that produced a tensor and its differentiable inputs.
pub(crate) struct Node {
    pub op: Box<dyn Op>,
    pub inputs: Vec<Tensor>,
}

pub(crate) struct Inner {
    id: u64,
    storage: Arc<Storage>,
    layout: Layout,
    requires_grad: bool,
    node: Option<Node>,
    grad: Mutex<Option<Tensor>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        LIVE_TENSORS.fetch_sub(1, Ordering::Relaxed);
        // Unlink the tape iteratively so that dropping a very long chain cannot overflow the stack.
        let mut stack: Vec<Tensor> = self.node.take().map(|n| n.inputs).unwrap_or_default();
        while let Some(t) = stack.pop() {
            if let Ok(mut inner) = Arc::try_unwrap(t.0) {
                if let Some(n) = inner.node.take() {
                    stack.extend(n.inputs);
                }
            }
        }
    }
}

/// An n-dimensional array on a device, with optional autograd history.
#[derive(Clone)]
pub struct Tensor(pub(crate) Arc<Inner>);

impl Tensor {
    pub(crate) fn build(
        storage: Arc<Storage>,
        layout: Layout,
        requires_grad: bool,
        node: Option<Node>,
    ) -> Tensor {
        LIVE_TENSORS.fetch_add(1, Ordering::Relaxed);
        Tensor(Arc::new(Inner {
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            storage,
            layout,
            requires_grad,
            node,
            grad: Mutex::new(None),
        }))
    }

    /// A constant tensor from a buffer, contiguous in `shape`.
    pub(crate) fn from_storage(data: impl Into<Storage>, shape: &[usize]) -> Tensor {
        Tensor::build(
            Arc::new(data.into()),
            Layout::contiguous(shape),
            false,
            None,
        )
    }

    /// The result of an op: records a node when grad mode is on and an input requires grad.
    pub(crate) fn from_op(
        data: impl Into<Storage>,
        shape: &[usize],
        op: impl Op,
        inputs: &[&Tensor],
    ) -> Tensor {
        Tensor::view_from_op(Arc::new(data.into()), Layout::contiguous(shape), op, inputs)
    }

    /// Like [`Tensor::from_op`] for a view that shares an existing storage.
    pub(crate) fn view_from_op(
        storage: Arc<Storage>,
        layout: Layout,
        op: impl Op,
        inputs: &[&Tensor],
    ) -> Tensor {
        let track = is_grad_enabled() && inputs.iter().any(|t| t.requires_grad());
        crate::stats::count_op(track);
        let node = track.then(|| Node {
            op: Box::new(op),
            inputs: inputs.iter().map(|t| (*t).clone()).collect(),
        });
        Tensor::build(storage, layout, track, node)
    }

    // ---- constructors -------------------------------------------------------------------

    /// A tensor from a flat row-major buffer; `data.len()` must equal the product of `shape`.
    pub fn from_vec<T: Element>(data: Vec<T>, shape: &[usize]) -> Result<Tensor> {
        if data.len() != numel(shape) {
            return Err(Error::Invalid(format!(
                "from_vec: {} values do not fill shape {shape:?} ({} elements)",
                data.len(),
                numel(shape)
            )));
        }
        Ok(Tensor::from_storage(T::into_storage(data), shape))
    }

    /// A 0-dimensional tensor.
    pub fn scalar(v: f64, dtype: DType) -> Tensor {
        Tensor::full(&[], v, dtype)
    }

    /// A tensor filled with `v` (cast to `dtype`).
    pub fn full(shape: &[usize], v: f64, dtype: DType) -> Tensor {
        Tensor::from_storage(CpuStorage::full(numel(shape), v, dtype), shape)
    }

    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::full(shape, 0.0, dtype)
    }

    pub fn ones(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::full(shape, 1.0, dtype)
    }

    /// A tensor filled with `v` on `device` (filled there: no host buffer for a CUDA device).
    pub fn full_on(shape: &[usize], v: f64, dtype: DType, device: Device) -> Result<Tensor> {
        let data = Storage::full(numel(shape), v, dtype, device)?;
        Ok(Tensor::from_storage(data, shape))
    }

    /// Zeros of this tensor's shape, dtype and device.
    pub fn zeros_like(&self) -> Result<Tensor> {
        self.full_like(0.0)
    }

    /// Ones of this tensor's shape, dtype and device.
    pub fn ones_like(&self) -> Result<Tensor> {
        self.full_like(1.0)
    }

    /// `v` in this tensor's shape, dtype and device (an error when the device cannot hold it).
    pub fn full_like(&self, v: f64) -> Result<Tensor> {
        Tensor::full_on(self.shape(), v, self.dtype(), self.device())
    }

    /// A copy of this tensor's values on `device` (dense, a constant: like PyTorch's
    /// `x.detach().to(device)`; set `requires_grad` on the copy to make a leaf there). The same
    /// tensor when it is already there.
    pub fn to_device(&self, device: Device) -> Result<Tensor> {
        if device == self.device() {
            return Ok(self.clone());
        }
        device.ensure_available()?;
        let data = self.storage().to_device(self.layout(), device)?;
        Ok(Tensor::from_storage(data, self.shape()))
    }

    /// A dense copy of this tensor's values converted to `dtype`, on the same device (a
    /// constant, like PyTorch's `x.detach().to(dtype)`; float to i64 truncates, and is not
    /// supported on a CUDA device).
    pub fn to_dtype(&self, dtype: DType) -> Result<Tensor> {
        let data = self.storage().to_dtype(self.layout(), dtype)?;
        Ok(Tensor::from_storage(data, self.shape()))
    }

    /// This tensor's values on the host, as a dense buffer in row-major order (an uploaded
    /// index tensor answers from its host copy, without waiting for the device).
    pub(crate) fn to_cpu_storage(&self) -> Result<CpuStorage> {
        self.storage().to_cpu(self.layout())
    }

    /// `start, start + step, ...` below `end`, as a 1-D tensor.
    pub fn arange(start: f64, end: f64, step: f64, dtype: DType) -> Result<Tensor> {
        if step == 0.0 || !step.is_finite() || !start.is_finite() || !end.is_finite() {
            return Err(Error::Invalid(format!(
                "arange: bad range {start}..{end} step {step}"
            )));
        }
        let n = ((end - start) / step).ceil().max(0.0) as usize;
        let vals: Vec<f64> = (0..n).map(|i| start + i as f64 * step).collect();
        Ok(Tensor::from_f64s(&vals, &[n], dtype))
    }

    /// A tensor of `dtype` from f64 values (cast).
    pub fn from_f64s(vals: &[f64], shape: &[usize], dtype: DType) -> Tensor {
        Tensor::from_storage(CpuStorage::from_f64s(vals, dtype), shape)
    }

    /// Uniform in [0, 1) from a seeded generator.
    pub fn rand(shape: &[usize], dtype: DType, rng: &mut Rng) -> Tensor {
        let vals: Vec<f64> = (0..numel(shape)).map(|_| rng.uniform()).collect();
        Tensor::from_f64s(&vals, shape, dtype)
    }

    /// Standard normal from a seeded generator.
    pub fn randn(shape: &[usize], dtype: DType, rng: &mut Rng) -> Tensor {
        let vals: Vec<f64> = (0..numel(shape)).map(|_| rng.normal()).collect();
        Tensor::from_f64s(&vals, shape, dtype)
    }

    // ---- accessors ----------------------------------------------------------------------

    /// A unique id of this tensor record (views have their own).
    pub fn id(&self) -> u64 {
        self.0.id
    }

    pub fn shape(&self) -> &[usize] {
        &self.0.layout.shape
    }

    pub fn rank(&self) -> usize {
        self.0.layout.rank()
    }

    pub fn numel(&self) -> usize {
        self.0.layout.numel()
    }

    pub fn dtype(&self) -> DType {
        self.0.storage.dtype()
    }

    pub fn device(&self) -> Device {
        self.0.storage.device()
    }

    pub fn layout(&self) -> &Layout {
        &self.0.layout
    }

    pub(crate) fn storage(&self) -> &Arc<Storage> {
        &self.0.storage
    }

    pub(crate) fn node(&self) -> Option<&Node> {
        self.0.node.as_ref()
    }

    /// True for a leaf that requires grad, or a result computed from one with recording on.
    pub fn requires_grad(&self) -> bool {
        self.0.requires_grad
    }

    /// True when this tensor has no recorded history.
    pub fn is_leaf(&self) -> bool {
        self.0.node.is_none()
    }

    /// The name of the op that produced this tensor, if it was recorded.
    pub fn op_name(&self) -> Option<&'static str> {
        self.0.node.as_ref().map(|n| n.op.kind().name())
    }

    /// A leaf sharing this storage, with the requires-grad flag set as asked (like
    /// `x.detach().requires_grad_(flag)` in PyTorch).
    pub fn set_requires_grad(&self, flag: bool) -> Result<Tensor> {
        if flag && !self.dtype().is_float() {
            return Err(Error::UnsupportedDType {
                op: "requires_grad",
                dtype: self.dtype(),
            });
        }
        Ok(Tensor::build(
            self.0.storage.clone(),
            self.0.layout.clone(),
            flag,
            None,
        ))
    }

    /// A constant sharing this storage, cut from the tape.
    pub fn detach(&self) -> Tensor {
        Tensor::build(self.0.storage.clone(), self.0.layout.clone(), false, None)
    }

    /// The gradient accumulated by [`Tensor::backward`], if any.
    pub fn grad(&self) -> Option<Tensor> {
        self.0.grad.lock().ok().and_then(|g| g.clone())
    }

    /// Clears the accumulated gradient.
    pub fn zero_grad(&self) {
        if let Ok(mut g) = self.0.grad.lock() {
            *g = None;
        }
    }

    pub(crate) fn accumulate_grad(&self, g: Tensor) -> Result<()> {
        let mut cell = self
            .0
            .grad
            .lock()
            .map_err(|_| Error::Invalid("gradient cell poisoned".into()))?;
        let new = match cell.take() {
            Some(old) => old.add(&g)?,
            None => g,
        };
        *cell = Some(new);
        Ok(())
    }

    // ---- reading values -----------------------------------------------------------------

    /// The elements in row-major order; `T` must be the tensor's dtype. Copies from the
    /// device (waiting for queued work) when the tensor is on a GPU.
    pub fn to_vec<T: Element>(&self) -> Result<Vec<T>> {
        if self.dtype() != T::DTYPE {
            return Err(Error::DTypeMismatch {
                op: "to_vec",
                lhs: self.dtype(),
                rhs: T::DTYPE,
            });
        }
        T::into_vec(self.to_cpu_storage()?).ok_or(Error::DTypeMismatch {
            op: "to_vec",
            lhs: self.dtype(),
            rhs: T::DTYPE,
        })
    }

    /// The elements as f64, whatever the dtype. For a CUDA tensor this copies from the
    /// device; if that fails (a device error) the values read NaN, so use
    /// [`Tensor::to_vec`] where a device error must be seen.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        match self.to_cpu_storage() {
            Ok(h) => h.into_f64s(),
            Err(_) => vec![f64::NAN; self.numel()],
        }
    }

    /// The single value of a one-element tensor, as f64 (copied from the device, if there).
    pub fn item(&self) -> Result<f64> {
        if self.numel() != 1 {
            return Err(Error::Invalid(format!(
                "item: tensor of shape {:?} has {} elements, not 1",
                self.shape(),
                self.numel()
            )));
        }
        Ok(self.to_cpu_storage()?.into_f64s()[0])
    }
}

impl fmt::Debug for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Tensor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 8;
        let vals = self.to_f64_vec();
        write!(
            f,
            "Tensor(shape={:?}, dtype={}, device={}",
            self.shape(),
            self.dtype(),
            self.device()
        )?;
        if self.requires_grad() {
            write!(f, ", requires_grad")?;
        }
        write!(f, ", [")?;
        for (i, v) in vals.iter().take(SHOWN).enumerate() {
            if i > 0 {
                write!(f, ", ")?;
            }
            if self.dtype() == DType::I64 {
                write!(f, "{v}")?;
            } else {
                write!(f, "{v:.4}")?;
            }
        }
        if vals.len() > SHOWN {
            write!(f, ", ... {} more", vals.len() - SHOWN)?;
        }
        write!(f, "])")
    }
}
