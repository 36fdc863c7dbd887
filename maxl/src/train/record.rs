//! Records: the saved state of one component of a run (the multi-task network, an optimiser,
//! an auxiliary-label strategy, the run's position) as named tensors and named text values. A
//! record can hold another under a name (`generator.param.trunk.0.conv.weight`), and a
//! checkpoint stores each component's record under the component's name without knowing what
//! is inside, as burn-train's checkpointer saves the module, optimiser and scheduler records
//! independently. Reading a record back checks every name, shape and dtype against the state
//! the settings make, so a record from other settings is a clear error.

use crate::models::NetState;
use crate::nn::{Params, Sgd};
use crate::{Error, Result};
use maxl_engine::{no_grad, DType, Tensor};
use std::collections::BTreeMap;

/// Named tensors and named text values of one component.
#[derive(Clone, Default)]
pub struct Record {
    tensors: BTreeMap<String, Tensor>,
    values: BTreeMap<String, String>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("tensors", &self.tensors.len())
            .field("values", &self.values)
            .finish()
    }
}

/// Tensor names of a network's state and of an optimiser's momentum, inside a record.
const PARAM: &str = "param";
const BUFFER: &str = "buffer";
const MOMENTUM: &str = "momentum";

fn describe(t: &Tensor) -> String {
    format!("{:?} {:?}", t.dtype(), t.shape())
}

impl Record {
    pub fn new() -> Record {
        Record::default()
    }

    pub fn is_empty(&self) -> bool {
        self.tensors.is_empty() && self.values.is_empty()
    }

    pub fn put_tensor(&mut self, name: impl Into<String>, t: Tensor) {
        self.tensors.insert(name.into(), t);
    }

    pub fn put_value(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.values.insert(name.into(), value.into());
    }

    pub fn tensors(&self) -> impl Iterator<Item = (&str, &Tensor)> {
        self.tensors.iter().map(|(k, v)| (k.as_str(), v))
    }

    pub fn values(&self) -> impl Iterator<Item = (&str, &str)> {
        self.values.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The name of the first tensor that holds a NaN or an infinity, if any. One reduction per
    /// tensor, on its device: the sum of `x * 0` is 0 when every value is finite and NaN
    /// otherwise (0 * inf and 0 * NaN are NaN, and a NaN survives every addition; the sum of
    /// the values themselves could overflow on finite ones). Index tensors are skipped.
    pub fn first_non_finite(&self) -> Result<Option<&str>> {
        let _g = no_grad();
        for (name, t) in &self.tensors {
            if t.dtype() != DType::I64 && !t.mul_scalar(0.0)?.sum_all()?.item()?.is_finite() {
                return Ok(Some(name));
            }
        }
        Ok(None)
    }

    /// Removes and returns the tensor `name`.
    pub fn take_tensor(&mut self, name: &str) -> Option<Tensor> {
        self.tensors.remove(name)
    }

    /// Removes and returns the value `name`.
    pub fn take_value(&mut self, name: &str) -> Option<String> {
        self.values.remove(name)
    }

    /// Puts every entry of `inner` into this record under `name.`.
    pub fn nest(&mut self, name: &str, inner: Record) {
        for (k, t) in inner.tensors {
            self.tensors.insert(format!("{name}.{k}"), t);
        }
        for (k, v) in inner.values {
            self.values.insert(format!("{name}.{k}"), v);
        }
    }

    /// Removes the entries under `name.` and returns them as a record of their own.
    pub fn take_nested(&mut self, name: &str) -> Record {
        let prefix = format!("{name}.");
        fn split<T>(map: &mut BTreeMap<String, T>, prefix: &str) -> BTreeMap<String, T> {
            let keys: Vec<String> = map
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| map.remove(&k).map(|v| (k[prefix.len()..].to_string(), v)))
                .collect()
        }
        Record {
            tensors: split(&mut self.tensors, &prefix),
            values: split(&mut self.values, &prefix),
        }
    }

    /// An error naming the first entry nobody took (`what` names the component).
    pub fn finish(self, what: &str) -> Result<()> {
        match self.tensors.keys().chain(self.values.keys()).next() {
            Some(extra) => Err(Error::Invalid(format!(
                "checkpoint: {what}: unexpected '{extra}'; was it saved with other settings?"
            ))),
            None => Ok(()),
        }
    }

    /// Named tensors as one record (`Params`' names as they are).
    pub fn of_params(p: &Params) -> Record {
        let mut r = Record::new();
        for (name, t) in p.iter() {
            r.put_tensor(name, t.clone());
        }
        r
    }

    /// All tensors of the record as named tensors.
    fn into_params(self) -> Result<Params> {
        if let Some(k) = self.values.keys().next() {
            return Err(Error::Invalid(format!(
                "checkpoint: a value '{k}' among tensors"
            )));
        }
        let mut p = Params::new();
        for (k, t) in self.tensors {
            p.insert(k, t);
        }
        Ok(p)
    }

    /// The tensors of this record if they are exactly `like`'s names with the same shapes and
    /// dtypes; `leaves` makes them leaves that require grad, as parameters are.
    pub fn into_matching(self, like: &Params, leaves: bool, what: &str) -> Result<Params> {
        let got = self.into_params()?;
        for (name, w) in like.iter() {
            let g = got.get(name).map_err(|_| {
                Error::Invalid(format!(
                    "checkpoint: {what}: '{name}' is missing; was it saved with other settings?"
                ))
            })?;
            if g.shape() != w.shape() || g.dtype() != w.dtype() {
                return Err(Error::Invalid(format!(
                    "checkpoint: {what}: '{name}' is {}, the settings make {}",
                    describe(g),
                    describe(w)
                )));
            }
        }
        if let Some(extra) = got.names().find(|n| !like.contains(n)) {
            return Err(Error::Invalid(format!(
                "checkpoint: {what}: unexpected '{extra}'"
            )));
        }
        if leaves {
            got.as_leaves()
        } else {
            Ok(got)
        }
    }

    /// A network's state: `param.<name>` and `buffer.<name>`.
    pub fn of_net(net: &NetState) -> Record {
        let mut r = Record::new();
        r.nest(PARAM, Record::of_params(&net.params));
        r.nest(BUFFER, Record::of_params(&net.buffers));
        r
    }

    /// The network state in this record, checked against `like` (the state the settings
    /// make); parameters come back as leaves that require grad.
    pub fn into_net(mut self, like: &NetState, what: &str) -> Result<NetState> {
        let params = self.take_nested(PARAM).into_matching(
            &like.params,
            true,
            &format!("{what} parameters"),
        )?;
        let buffers = self.take_nested(BUFFER).into_matching(
            &like.buffers,
            false,
            &format!("{what} buffers"),
        )?;
        self.finish(what)?;
        Ok(NetState { params, buffers })
    }

    /// An SGD optimiser's state: `momentum.<parameter name>` (empty before its first step).
    pub fn of_sgd(opt: &Sgd) -> Record {
        let mut r = Record::new();
        r.nest(MOMENTUM, Record::of_params(&opt.state));
        r
    }

    /// The momentum buffers in this record, checked against the parameters they belong to
    /// (a subset of their names, the same shapes and dtypes).
    pub fn into_momentum(mut self, params: &Params, what: &str) -> Result<Params> {
        let got = self.take_nested(MOMENTUM).into_params()?;
        self.finish(&format!("the optimiser of {what}"))?;
        for (name, g) in got.iter() {
            let p = params.get(name).map_err(|_| {
                Error::Invalid(format!(
                    "checkpoint: momentum of {what} for unknown parameter '{name}'"
                ))
            })?;
            if p.shape() != g.shape() || p.dtype() != g.dtype() {
                return Err(Error::Invalid(format!(
                    "checkpoint: momentum of {what} '{name}' is {}, the parameter is {}",
                    describe(g),
                    describe(p)
                )));
            }
        }
        Ok(got)
    }

    /// Puts a list of indices (e.g. one auxiliary column per training sample) as an i64
    /// tensor.
    pub fn put_indices(&mut self, name: &str, v: &[usize]) -> Result<()> {
        let v: Vec<i64> = v.iter().map(|&c| c as i64).collect();
        let n = v.len();
        self.put_tensor(name, Tensor::from_vec(v, &[n])?);
        Ok(())
    }

    /// Takes a list of indices written by [`Record::put_indices`], if there is one.
    pub fn take_indices(&mut self, name: &str) -> Result<Option<Vec<usize>>> {
        let Some(t) = self.take_tensor(name) else {
            return Ok(None);
        };
        if t.dtype() != DType::I64 || t.rank() != 1 {
            return Err(Error::Invalid(format!(
                "checkpoint: '{name}' is {}; expected I64 [N]",
                describe(&t)
            )));
        }
        t.to_vec::<i64>()?
            .into_iter()
            .map(|c| usize::try_from(c).ok())
            .collect::<Option<Vec<usize>>>()
            .map(Some)
            .ok_or_else(|| Error::Invalid(format!("checkpoint: '{name}' holds a negative index")))
    }

    /// Takes the value `name` parsed as a number.
    pub fn take_number<T: std::str::FromStr>(&mut self, name: &str, what: &str) -> Result<T> {
        self.take_value(name)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Invalid(format!("checkpoint: {what} without a valid '{name}'")))
    }
}
