//! Named tensors: a network's parameters (leaves that require grad) or its buffers (batch-norm
//! running statistics). Ordered by name, so iteration order, and hence every seeded run, is
//! stable.

use crate::{Error, Result};
use maxl_engine::Tensor;
use std::collections::BTreeMap;

/// An ordered map from names like `trunk.0.conv.weight` to tensors.
#[derive(Clone, Default)]
pub struct Params {
    map: BTreeMap<String, Tensor>,
}

impl Params {
    pub fn new() -> Params {
        Params::default()
    }

    pub fn insert(&mut self, name: impl Into<String>, t: Tensor) {
        self.map.insert(name.into(), t);
    }

    /// The tensor called `name`, or an error naming it.
    pub fn get(&self, name: &str) -> Result<&Tensor> {
        self.map
            .get(name)
            .ok_or_else(|| Error::Invalid(format!("no parameter or buffer named '{name}'")))
    }

    pub fn contains(&self, name: &str) -> bool {
        self.map.contains_key(name)
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.map.keys().map(String::as_str)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.map.iter().map(|(k, v)| (k.as_str(), v))
    }

    /// The tensors in name order.
    pub fn tensors(&self) -> Vec<Tensor> {
        self.map.values().cloned().collect()
    }

    /// A map with the same names and the given tensors (in name order).
    pub fn with_tensors(&self, tensors: Vec<Tensor>) -> Result<Params> {
        if tensors.len() != self.map.len() {
            return Err(Error::Invalid(format!(
                "{} tensors given for {} parameters",
                tensors.len(),
                self.map.len()
            )));
        }
        Ok(Params {
            map: self.map.keys().cloned().zip(tensors).collect(),
        })
    }

    /// Total number of scalar entries.
    pub fn numel(&self) -> usize {
        self.map.values().map(Tensor::numel).sum()
    }

    /// Copies as leaves that require grad (fresh tape roots sharing the storage).
    pub fn as_leaves(&self) -> Result<Params> {
        let mut out = Params::new();
        for (k, v) in &self.map {
            out.insert(k.clone(), v.set_requires_grad(true)?);
        }
        Ok(out)
    }

    /// Copies on `device`; parameters stay leaves that require grad, buffers stay constants.
    pub fn to_device(&self, device: maxl_engine::Device) -> Result<Params> {
        let mut out = Params::new();
        for (k, v) in &self.map {
            let c = v.to_device(device)?;
            let c = if v.requires_grad() && !c.requires_grad() {
                c.set_requires_grad(true)?
            } else {
                c
            };
            out.insert(k.clone(), c);
        }
        Ok(out)
    }

    /// The device of the tensors (of the first one; the CPU for an empty map).
    pub fn device(&self) -> maxl_engine::Device {
        self.map
            .values()
            .next()
            .map_or(maxl_engine::Device::Cpu, Tensor::device)
    }

    /// Copies converted to `dtype` (f64 for gradient checks); parameters stay leaves that
    /// require grad, buffers stay constants.
    pub fn to_dtype(&self, dtype: maxl_engine::DType) -> Result<Params> {
        let mut out = Params::new();
        for (k, v) in &self.map {
            let c = Tensor::from_f64s(&v.to_f64_vec(), v.shape(), dtype);
            let c = if v.requires_grad() {
                c.set_requires_grad(true)?
            } else {
                c
            };
            out.insert(k.clone(), c);
        }
        Ok(out)
    }

    /// The names with the given prefix, e.g. all of `trunk.`.
    pub fn with_prefix(&self, prefix: &str) -> Params {
        Params {
            map: self
                .map
                .iter()
                .filter(|(k, _)| k.starts_with(prefix))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }

    /// Adds every entry of `other`.
    pub fn extend(&mut self, other: Params) {
        self.map.extend(other.map);
    }
}
