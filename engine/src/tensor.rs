//! The tensor handle: shared storage, a strided layout, and (when it was computed from tensors
//! that require grad) the node that made it. Cloning a `Tensor` is cheap; dropping the last
//! handle of an iteration's loss frees its whole tape.

use crate::autograd::op::Op;
use crate::backend::cpu::strided;
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

/// A node of the tape: the op that produced a tensor and its differentiable inputs.
pub(crate) struct Node {
    pub op: Op,
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
        op: Op,
        inputs: &[&Tensor],
    ) -> Tensor {
        Tensor::view_from_op(Arc::new(data.into()), Layout::contiguous(shape), op, inputs)
    }

    /// Like [`Tensor::from_op`] for a view that shares an existing storage.
    pub(crate) fn view_from_op(
        storage: Arc<Storage>,
        layout: Layout,
        op: Op,
        inputs: &[&Tensor],
    ) -> Tensor {
        let track = crate::autograd::is_grad_enabled() && inputs.iter().any(|t| t.requires_grad());
        crate::stats::count_op(track);
        let node = track.then(|| Node {
            op,
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
        let n = numel(shape);
        let data = match dtype {
            DType::F32 => CpuStorage::F32(vec![v as f32; n]),
            DType::F64 => CpuStorage::F64(vec![v; n]),
            DType::I64 => CpuStorage::I64(vec![v as i64; n]),
        };
        Tensor::from_storage(data, shape)
    }

    pub fn zeros(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::full(shape, 0.0, dtype)
    }

    pub fn ones(shape: &[usize], dtype: DType) -> Tensor {
        Tensor::full(shape, 1.0, dtype)
    }

    /// A tensor filled with `v` on `device` (filled there: no host buffer for a CUDA device).
    pub fn full_on(shape: &[usize], v: f64, dtype: DType, device: Device) -> Result<Tensor> {
        match device {
            Device::Cpu => Ok(Tensor::full(shape, v, dtype)),
            Device::Cuda(n) => {
                let dev = crate::backend::cuda::device(n)?;
                let data = crate::backend::cuda::elementwise::fill(&dev, numel(shape), dtype, v)?;
                Ok(Tensor::from_storage(data, shape))
            }
        }
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
        use crate::backend::cuda::transfer;
        let data: Storage = match (self.device(), device) {
            (Device::Cpu, Device::Cuda(n)) => {
                let dense = strided::contiguous_storage(self.cpu(), self.layout());
                let buf = transfer::upload(&dense, n)?;
                Storage::uploaded(buf, dense)
            }
            (Device::Cuda(_), Device::Cpu) => match self.storage().host_mirror() {
                // The values it was uploaded from, seen through the same view.
                Some(m) => {
                    let host = Arc::new(Storage::new(m.clone()));
                    return Ok(Tensor::build(host, self.layout().clone(), false, None));
                }
                None => Storage::new(transfer::download(self)?),
            },
            (Device::Cuda(_), Device::Cuda(n)) => {
                Storage::new_cuda(transfer::to_other_device(self, n)?)
            }
            (Device::Cpu, Device::Cpu) => unreachable!("same device handled above"),
        };
        Ok(Tensor::from_storage(data, self.shape()))
    }

    /// This tensor's values on the host (itself when it is there already).
    pub(crate) fn host(&self) -> Result<Tensor> {
        self.to_device(Device::Cpu)
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

    pub(crate) fn cpu(&self) -> &CpuStorage {
        self.0.storage.cpu()
    }

    /// The CPU buffer, or `None` for a tensor on a CUDA device.
    pub(crate) fn cpu_or_none(&self) -> Option<&CpuStorage> {
        match self.device() {
            Device::Cpu => Some(self.0.storage.cpu()),
            Device::Cuda(_) => None,
        }
    }

    /// The elements as f64 (copied from the device if needed), with device errors reported.
    pub(crate) fn to_vec_f64_checked(&self) -> Result<Vec<f64>> {
        Ok(self.host()?.to_f64_vec())
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
        self.0.node.as_ref().map(|n| n.op.name())
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
        if self.device() != Device::Cpu {
            return self.host()?.to_vec();
        }
        let data = T::slice(self.cpu()).ok_or(Error::DTypeMismatch {
            op: "to_vec",
            lhs: self.dtype(),
            rhs: T::DTYPE,
        })?;
        Ok(strided::to_contiguous(data, self.layout()).into_owned())
    }

    /// The elements as f64, whatever the dtype. For a CUDA tensor this copies from the
    /// device; if that fails (a device error) the values read NaN, so use
    /// [`Tensor::to_vec`] where a device error must be seen.
    pub fn to_f64_vec(&self) -> Vec<f64> {
        if self.device() != Device::Cpu {
            return match self.host() {
                Ok(h) => h.to_f64_vec(),
                Err(_) => vec![f64::NAN; self.numel()],
            };
        }
        let l = self.layout();
        match self.cpu() {
            CpuStorage::F32(v) => strided::to_contiguous(v, l)
                .iter()
                .map(|&x| x as f64)
                .collect(),
            CpuStorage::F64(v) => strided::to_contiguous(v, l).into_owned(),
            CpuStorage::I64(v) => strided::to_contiguous(v, l)
                .iter()
                .map(|&x| x as f64)
                .collect(),
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
        if self.device() != Device::Cpu {
            return self.host()?.item();
        }
        Ok(self.to_f64_vec()[0])
    }

    /// A contiguous copy of the data (recorded as a reshape, so it stays differentiable), or
    /// this tensor if it is contiguous already.
    pub fn contiguous(&self) -> Result<Tensor> {
        if self.layout().is_contiguous() {
            return Ok(self.clone());
        }
        let shape = self.shape().to_vec();
        let data: Storage = match self.device() {
            Device::Cpu => strided::contiguous_storage(self.cpu(), self.layout()).into(),
            Device::Cuda(_) => crate::backend::cuda::transfer::contiguous(self)?,
        };
        Ok(Tensor::from_op(
            data,
            &shape,
            Op::Reshape {
                from: shape.clone(),
            },
            &[self],
        ))
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
