//! Checkpoints of a training run in safetensors: both networks' parameters and buffers, both
//! optimisers' momentum buffers, the number of finished epochs and free text metadata (settings,
//! metric history); for the K-Means baseline also its autoencoder, that optimiser's momentum and
//! the last clustering. Saved to a temp file and renamed, so a crash never leaves half a
//! checkpoint.

use crate::models::NetState;
use crate::nn::Params;
use crate::train::Trainer;
use crate::{Error, Result};
use maxl_engine::{DType, Tensor};
use safetensors::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The value of the `format` metadata key.
const FORMAT: &str = "maxl-rs checkpoint 1";
/// Metadata keys the checkpoint itself uses.
const RESERVED: [&str; 3] = ["format", "epoch", "generator"];

/// Tensor name prefixes, one per group of state.
const MT_PARAM: &str = "mt.param.";
const MT_BUFFER: &str = "mt.buffer.";
const GEN_PARAM: &str = "gen.param.";
const GEN_BUFFER: &str = "gen.buffer.";
const OPT1: &str = "opt1.momentum.";
const OPT2: &str = "opt2.momentum.";
const AE_PARAM: &str = "kmeans.ae.param.";
const AE_MOMENTUM: &str = "kmeans.ae.momentum.";
/// The K-Means clustering: one i64 auxiliary column per training sample.
const KM_LABELS: &str = "kmeans.labels";

/// The K-Means baseline's state (see [`crate::train::kmeans`]).
#[derive(Clone)]
pub struct KMeansCheckpoint {
    /// The autoencoder's parameters.
    pub params: Params,
    /// Its optimiser's momentum buffers, by parameter name.
    pub momentum: Params,
    /// The last clustering: the auxiliary column of every training sample (none before the
    /// first epoch).
    pub labels: Option<Vec<usize>>,
}

/// Everything a [`Trainer`] needs to continue exactly where it stopped. The data loaders draw
/// all their randomness from (seed, epoch), so no generator state is stored.
#[derive(Clone)]
pub struct Checkpoint {
    /// Epochs finished.
    pub epoch: usize,
    /// theta1: the multi-task (or single-task) network.
    pub mt: NetState,
    /// theta2: the label generator (MAXL only).
    pub gen: Option<NetState>,
    /// Momentum buffers of the theta1 and theta2 optimisers, by parameter name.
    pub opt1: Params,
    pub opt2: Params,
    /// The K-Means baseline's autoencoder and clustering (K-Means only).
    pub kmeans: Option<KMeansCheckpoint>,
    /// Free text, e.g. the run's settings and metric history; `format`, `epoch` and
    /// `generator` are taken.
    pub metadata: BTreeMap<String, String>,
}

impl std::fmt::Debug for Checkpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Checkpoint")
            .field("epoch", &self.epoch)
            .field("mt_params", &self.mt.params.len())
            .field("generator", &self.gen.is_some())
            .field("opt1", &self.opt1.len())
            .field("opt2", &self.opt2.len())
            .field("kmeans", &self.kmeans.is_some())
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// A tensor's bytes, ready for safetensors.
struct Raw {
    dtype: Dtype,
    shape: Vec<usize>,
    data: Vec<u8>,
}

impl View for &Raw {
    fn dtype(&self) -> Dtype {
        self.dtype
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.data)
    }
    fn data_len(&self) -> usize {
        self.data.len()
    }
}

fn to_raw(t: &Tensor) -> Result<Raw> {
    let (dtype, data) = match t.dtype() {
        DType::F32 => (
            Dtype::F32,
            t.to_vec::<f32>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        DType::F64 => (
            Dtype::F64,
            t.to_vec::<f64>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
        DType::I64 => (
            Dtype::I64,
            t.to_vec::<i64>()?
                .iter()
                .flat_map(|v| v.to_le_bytes())
                .collect(),
        ),
    };
    Ok(Raw {
        dtype,
        shape: t.shape().to_vec(),
        data,
    })
}

fn from_raw(dtype: Dtype, shape: &[usize], data: &[u8], path: &Path, name: &str) -> Result<Tensor> {
    fn words<const N: usize>(data: &[u8]) -> impl Iterator<Item = [u8; N]> + '_ {
        data.chunks_exact(N).map(|c| {
            let mut w = [0u8; N];
            w.copy_from_slice(c);
            w
        })
    }
    Ok(match dtype {
        Dtype::F32 => Tensor::from_vec(
            words::<4>(data).map(f32::from_le_bytes).collect::<Vec<_>>(),
            shape,
        )?,
        Dtype::F64 => Tensor::from_vec(
            words::<8>(data).map(f64::from_le_bytes).collect::<Vec<_>>(),
            shape,
        )?,
        Dtype::I64 => Tensor::from_vec(
            words::<8>(data).map(i64::from_le_bytes).collect::<Vec<_>>(),
            shape,
        )?,
        other => {
            return Err(bad(
                path,
                format!("tensor '{name}' has dtype {other:?}; expected F32, F64 or I64"),
            ))
        }
    })
}

fn bad(path: &Path, msg: impl Into<String>) -> Error {
    Error::BadData {
        path: path.to_path_buf(),
        msg: msg.into(),
    }
}

fn io(path: &Path, source: std::io::Error) -> Error {
    Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

impl Checkpoint {
    /// A copy of a trainer's state, with the given metadata.
    pub fn of(t: &Trainer, metadata: BTreeMap<String, String>) -> Checkpoint {
        Checkpoint {
            epoch: t.epoch,
            mt: t.mt.clone(),
            gen: t.gen.clone(),
            opt1: t.opt1.state.clone(),
            opt2: t.opt2.state.clone(),
            kmeans: t.kmeans.as_ref().map(|k| KMeansCheckpoint {
                params: k.params.clone(),
                momentum: k.opt.state.clone(),
                labels: k.labels.clone(),
            }),
            metadata,
        }
    }

    /// The file's bytes.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut raws: Vec<(String, Raw)> = Vec::new();
        let mut add = |prefix: &str, p: &Params| -> Result<()> {
            for (name, t) in p.iter() {
                raws.push((format!("{prefix}{name}"), to_raw(t)?));
            }
            Ok(())
        };
        add(MT_PARAM, &self.mt.params)?;
        add(MT_BUFFER, &self.mt.buffers)?;
        if let Some(g) = &self.gen {
            add(GEN_PARAM, &g.params)?;
            add(GEN_BUFFER, &g.buffers)?;
        }
        add(OPT1, &self.opt1)?;
        add(OPT2, &self.opt2)?;
        if let Some(k) = &self.kmeans {
            add(AE_PARAM, &k.params)?;
            add(AE_MOMENTUM, &k.momentum)?;
            if let Some(labels) = &k.labels {
                let v: Vec<i64> = labels.iter().map(|&c| c as i64).collect();
                raws.push((
                    KM_LABELS.to_string(),
                    to_raw(&Tensor::from_vec(v, &[labels.len()])?)?,
                ));
            }
        }

        let mut meta: HashMap<String, String> = HashMap::new();
        for (k, v) in &self.metadata {
            if RESERVED.contains(&k.as_str()) {
                return Err(Error::Invalid(format!(
                    "checkpoint: metadata key '{k}' is reserved"
                )));
            }
            meta.insert(k.clone(), v.clone());
        }
        meta.insert("format".into(), FORMAT.into());
        meta.insert("epoch".into(), self.epoch.to_string());
        meta.insert("generator".into(), self.gen.is_some().to_string());
        safetensors::serialize(raws.iter().map(|(n, r)| (n.as_str(), r)), Some(meta))
            .map_err(|e| Error::Invalid(format!("checkpoint: {e}")))
    }

    /// Writes the checkpoint to `path` through a temp file in the same folder and a rename.
    pub fn save(&self, path: &Path) -> Result<()> {
        let bytes = self.to_bytes()?;
        let tmp = temp_path(path);
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()
        };
        if let Err(e) = write() {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(&tmp, e));
        }
        std::fs::rename(&tmp, path).map_err(|e| io(path, e))
    }

    /// Reads a checkpoint that [`Checkpoint::save`] wrote.
    pub fn load(path: &Path) -> Result<Checkpoint> {
        let bytes = std::fs::read(path).map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Error::NotFound {
                path: path.to_path_buf(),
                hint: String::new(),
            },
            _ => io(path, e),
        })?;
        Checkpoint::from_bytes(&bytes, path)
    }

    /// Parses a checkpoint's bytes; `path` names the file in errors.
    pub fn from_bytes(bytes: &[u8], path: &Path) -> Result<Checkpoint> {
        let not_ours =
            |e: safetensors::SafeTensorError| bad(path, format!("not a safetensors file: {e}"));
        let (_, header) = SafeTensors::read_metadata(bytes).map_err(not_ours)?;
        let st = SafeTensors::deserialize(bytes).map_err(not_ours)?;
        let mut metadata: BTreeMap<String, String> = header
            .metadata()
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect();
        if metadata.remove("format").as_deref() != Some(FORMAT) {
            return Err(bad(
                path,
                format!("not a maxl-rs checkpoint (no format = \"{FORMAT}\")"),
            ));
        }
        let epoch = metadata
            .remove("epoch")
            .and_then(|e| e.parse().ok())
            .ok_or_else(|| bad(path, "checkpoint without a valid epoch"))?;
        let has_gen = metadata.remove("generator").as_deref() == Some("true");

        let mut groups: [Params; 8] = Default::default();
        let prefixes = [
            MT_PARAM,
            MT_BUFFER,
            GEN_PARAM,
            GEN_BUFFER,
            OPT1,
            OPT2,
            AE_PARAM,
            AE_MOMENTUM,
        ];
        let mut labels = None;
        for (name, view) in st.tensors() {
            if name == KM_LABELS {
                let t = from_raw(view.dtype(), view.shape(), view.data(), path, &name)?;
                let v = match (t.dtype(), t.rank()) {
                    (DType::I64, 1) => t.to_vec::<i64>()?,
                    _ => {
                        return Err(bad(
                            path,
                            format!("'{KM_LABELS}' is {}; expected I64 [N]", describe(&t)),
                        ))
                    }
                };
                let v = v
                    .into_iter()
                    .map(usize::try_from)
                    .collect::<std::result::Result<Vec<usize>, _>>()
                    .map_err(|_| bad(path, format!("'{KM_LABELS}' holds a negative column")))?;
                labels = Some(v);
                continue;
            }
            let (g, rest) = prefixes
                .iter()
                .enumerate()
                .find_map(|(i, p)| name.strip_prefix(p).map(|r| (i, r)))
                .ok_or_else(|| bad(path, format!("unexpected tensor '{name}'")))?;
            let t = from_raw(view.dtype(), view.shape(), view.data(), path, &name)?;
            // Parameters are leaves that require grad, as a fresh network's are.
            let t = if g == 0 || g == 2 || g == 6 {
                t.set_requires_grad(true)?
            } else {
                t
            };
            groups[g].insert(rest, t);
        }
        let [mt_p, mt_b, gen_p, gen_b, opt1, opt2, ae_p, ae_m] = groups;
        if !has_gen && !gen_p.is_empty() {
            return Err(bad(
                path,
                "generator tensors in a checkpoint without a generator",
            ));
        }
        // The autoencoder's parameters mark a K-Means checkpoint.
        let kmeans = if ae_p.is_empty() {
            if !ae_m.is_empty() || labels.is_some() {
                return Err(bad(
                    path,
                    "K-Means tensors in a checkpoint without an autoencoder",
                ));
            }
            None
        } else {
            Some(KMeansCheckpoint {
                params: ae_p,
                momentum: ae_m,
                labels,
            })
        };
        Ok(Checkpoint {
            epoch,
            mt: NetState {
                params: mt_p,
                buffers: mt_b,
            },
            gen: has_gen.then_some(NetState {
                params: gen_p,
                buffers: gen_b,
            }),
            opt1,
            opt2,
            kmeans,
            metadata,
        })
    }

    /// Puts this state into a trainer built with the same settings (`Trainer::new`), after
    /// checking that every tensor's name, shape and dtype match the trainer's networks.
    pub fn restore(self, t: &mut Trainer) -> Result<()> {
        let mt = NetState {
            params: matching(&t.mt.params, self.mt.params, "network parameters")?,
            buffers: matching(&t.mt.buffers, self.mt.buffers, "network buffers")?,
        };
        let gen = match (&t.gen, self.gen) {
            (Some(want), Some(got)) => Some(NetState {
                params: matching(&want.params, got.params, "generator parameters")?,
                buffers: matching(&want.buffers, got.buffers, "generator buffers")?,
            }),
            (None, None) => None,
            (want, _) => {
                return Err(Error::Invalid(format!(
                    "checkpoint {} a label generator, but the settings {}",
                    if want.is_some() { "has no" } else { "holds" },
                    if want.is_some() {
                        "train one"
                    } else {
                        "do not"
                    }
                )))
            }
        };
        let opt1 = momentum(&mt.params, self.opt1, "theta1")?;
        let opt2 = match &gen {
            Some(g) => momentum(&g.params, self.opt2, "theta2")?,
            None => momentum(&Params::new(), self.opt2, "theta2")?,
        };
        let kmeans = match (&t.kmeans, self.kmeans) {
            (Some(want), Some(got)) => {
                let params = matching(&want.params, got.params, "autoencoder parameters")?;
                let momentum = momentum(&params, got.momentum, "the autoencoder")?;
                let total = t.setup.hierarchy.total();
                if let Some(c) = got.labels.iter().flatten().find(|&&c| c >= total) {
                    return Err(Error::Invalid(format!(
                        "checkpoint: K-Means column {c}, the settings make {total} auxiliary classes"
                    )));
                }
                Some((params, momentum, got.labels))
            }
            (None, None) => None,
            (want, _) => {
                return Err(Error::Invalid(format!(
                    "checkpoint {} K-Means autoencoder, but the settings {}",
                    if want.is_some() { "has no" } else { "holds a" },
                    if want.is_some() {
                        "train one"
                    } else {
                        "do not"
                    }
                )))
            }
        };
        t.mt = mt;
        t.gen = gen;
        t.opt1.state = opt1;
        t.opt2.state = opt2;
        if let (Some(k), Some((params, momentum, labels))) = (&mut t.kmeans, kmeans) {
            k.params = params;
            k.opt.state = momentum;
            k.labels = labels;
        }
        t.epoch = self.epoch;
        t.place()
    }
}

/// `path` with `.tmp` appended to its file name.
fn temp_path(path: &Path) -> PathBuf {
    let mut name = path
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".tmp");
    path.with_file_name(name)
}

fn describe(t: &Tensor) -> String {
    format!("{:?} {:?}", t.dtype(), t.shape())
}

/// `got` if it holds exactly `want`'s names with the same shapes and dtypes.
fn matching(want: &Params, got: Params, what: &str) -> Result<Params> {
    for (name, w) in want.iter() {
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
    if let Some(extra) = got.names().find(|n| !want.contains(n)) {
        return Err(Error::Invalid(format!(
            "checkpoint: {what}: unexpected '{extra}'"
        )));
    }
    Ok(got)
}

/// Momentum buffers: a subset of the parameters (empty before the first step), same shapes.
fn momentum(params: &Params, got: Params, which: &str) -> Result<Params> {
    for (name, g) in got.iter() {
        let p = params.get(name).map_err(|_| {
            Error::Invalid(format!(
                "checkpoint: momentum of {which} for unknown parameter '{name}'"
            ))
        })?;
        if p.shape() != g.shape() || p.dtype() != g.dtype() {
            return Err(Error::Invalid(format!(
                "checkpoint: momentum of {which} '{name}' is {}, the parameter is {}",
                describe(g),
                describe(p)
            )));
        }
    }
    Ok(got)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Synthetic;
    use crate::train::{Method, TrainConfig};
    use maxl_engine::Rng;

    fn bits(t: &Tensor) -> Vec<u64> {
        match t.dtype() {
            DType::F32 => t
                .to_vec::<f32>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits() as u64)
                .collect(),
            DType::F64 => t
                .to_vec::<f64>()
                .unwrap()
                .iter()
                .map(|v| v.to_bits())
                .collect(),
            DType::I64 => t
                .to_vec::<i64>()
                .unwrap()
                .iter()
                .map(|&v| v as u64)
                .collect(),
        }
    }

    fn same(a: &Params, b: &Params) {
        assert_eq!(a.names().collect::<Vec<_>>(), b.names().collect::<Vec<_>>());
        for ((n, x), (_, y)) in a.iter().zip(b.iter()) {
            assert_eq!(x.shape(), y.shape(), "{n}");
            assert_eq!(x.dtype(), y.dtype(), "{n}");
            assert_eq!(bits(x), bits(y), "{n}");
            assert_eq!(x.requires_grad(), y.requires_grad(), "{n}");
        }
    }

    fn trainer(method: Method, model: &str) -> Trainer {
        let split = Synthetic::new(40, 10, [1, 16, 16], 4, 3).split().unwrap();
        let cfg = TrainConfig {
            method,
            model: model.into(),
            psi: vec![2],
            ..TrainConfig::default()
        };
        Trainer::new(cfg, &split.train).unwrap()
    }

    #[test]
    fn round_trip_is_byte_exact_for_every_group_and_dtype() {
        let mut t = trainer(Method::Maxl, "convnet4");
        let mut rng = Rng::new(9);
        // Momentum buffers with awkward values (subnormals, negative zero, extremes).
        for (name, p) in t.mt.params.iter().take(3) {
            let mut v: Vec<f32> = Tensor::randn(p.shape(), DType::F32, &mut rng)
                .to_vec()
                .unwrap();
            v[0] = -0.0;
            if v.len() > 2 {
                v[1] = f32::MIN_POSITIVE / 8.0;
                v[2] = f32::MAX;
            }
            t.opt1
                .state
                .insert(name, Tensor::from_vec(v, p.shape()).unwrap());
        }
        t.epoch = 7;
        let mut extra = Params::new();
        extra.insert(
            "a",
            Tensor::from_vec(vec![1.5f64, -2e-300, f64::MIN], &[3]).unwrap(),
        );
        extra.insert(
            "b",
            Tensor::from_vec(vec![i64::MIN, 0, 42, i64::MAX], &[2, 2]).unwrap(),
        );
        t.mt.buffers.extend(extra);
        let meta = BTreeMap::from([("settings".to_string(), "lr = 0.1".to_string())]);

        let dir = std::env::temp_dir().join(format!("maxl-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoint.safetensors");
        Checkpoint::of(&t, meta.clone()).save(&path).unwrap();
        assert!(!temp_path(&path).exists(), "the temp file is renamed away");
        let c = Checkpoint::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(c.epoch, 7);
        assert_eq!(c.metadata, meta);
        same(&c.mt.params, &t.mt.params);
        same(&c.mt.buffers, &t.mt.buffers);
        let (g0, g1) = (t.gen.as_ref().unwrap(), c.gen.as_ref().unwrap());
        same(&g1.params, &g0.params);
        same(&g1.buffers, &g0.buffers);
        same(&c.opt1, &t.opt1.state);
        assert!(c.opt2.is_empty());
    }

    #[test]
    fn restore_puts_the_state_back_and_rejects_other_settings() {
        let mut a = trainer(Method::Maxl, "convnet4");
        a.epoch = 3;
        let name = a.mt.params.names().next().unwrap().to_string();
        let p = a.mt.params.get(&name).unwrap().clone();
        a.opt1
            .state
            .insert(&name, p.detach().mul_scalar(0.5).unwrap());
        let saved = Checkpoint::from_bytes(
            &Checkpoint::of(&a, BTreeMap::new()).to_bytes().unwrap(),
            Path::new("x"),
        )
        .unwrap();

        let mut b = trainer(Method::Maxl, "convnet4");
        saved.clone().restore(&mut b).unwrap();
        assert_eq!(b.epoch, 3);
        same(&b.mt.params, &a.mt.params);
        same(&b.opt1.state, &a.opt1.state);

        let mut single = trainer(Method::Single, "convnet4");
        let err = saved.clone().restore(&mut single).unwrap_err().to_string();
        assert!(err.contains("unexpected 'aux."), "{err}");
        let mut other = trainer(Method::Maxl, "resnet32");
        assert!(saved.restore(&mut other).is_err());
    }

    #[test]
    fn kmeans_state_round_trips_and_needs_kmeans_settings() {
        let mut a = trainer(Method::KMeans, "convnet4");
        a.epoch = 2;
        let km = a.kmeans.as_mut().unwrap();
        let (name, p) = km
            .params
            .iter()
            .next()
            .map(|(n, p)| (n.to_string(), p.clone()))
            .unwrap();
        km.opt
            .state
            .insert(&name, p.detach().mul_scalar(-0.25).unwrap());
        km.params.insert(
            &name,
            p.detach()
                .add_scalar(1.0)
                .unwrap()
                .set_requires_grad(true)
                .unwrap(),
        );
        km.labels = Some(vec![0, 3, 7, 1, 6]);
        let bytes = Checkpoint::of(&a, BTreeMap::new()).to_bytes().unwrap();
        let saved = Checkpoint::from_bytes(&bytes, Path::new("x")).unwrap();
        assert!(format!("{saved:?}").contains("kmeans: true"));

        let mut b = trainer(Method::KMeans, "convnet4");
        saved.clone().restore(&mut b).unwrap();
        let (ka, kb) = (a.kmeans.as_ref().unwrap(), b.kmeans.as_ref().unwrap());
        same(&kb.params, &ka.params);
        same(&kb.opt.state, &ka.opt.state);
        assert_eq!(kb.labels, ka.labels);
        assert_eq!(b.epoch, 2);

        let mut random = trainer(Method::Random, "convnet4");
        let err = saved.restore(&mut random).unwrap_err().to_string();
        assert!(err.contains("holds a K-Means autoencoder"), "{err}");
        let plain = Checkpoint::of(&trainer(Method::Random, "convnet4"), BTreeMap::new());
        let err = plain
            .restore(&mut trainer(Method::KMeans, "convnet4"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("has no K-Means autoencoder"), "{err}");

        // Before the first epoch there is no clustering to save.
        let fresh = trainer(Method::KMeans, "convnet4");
        let c = Checkpoint::from_bytes(
            &Checkpoint::of(&fresh, BTreeMap::new()).to_bytes().unwrap(),
            Path::new("x"),
        )
        .unwrap();
        assert!(c.kmeans.as_ref().unwrap().labels.is_none());
        let mut bad = trainer(Method::KMeans, "convnet4");
        bad.kmeans.as_mut().unwrap().labels = Some(vec![8]);
        let err = Checkpoint::of(&bad, BTreeMap::new())
            .restore(&mut trainer(Method::KMeans, "convnet4"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("K-Means column 8"), "{err}");
    }

    #[test]
    fn foreign_files_are_clear_errors() {
        let p = Path::new("/x/ckpt.safetensors");
        let err = Checkpoint::from_bytes(b"not a checkpoint", p)
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("/x/ckpt.safetensors: not a safetensors file"),
            "{err}"
        );
        let empty = safetensors::serialize(Vec::<(&str, &Raw)>::new(), None).unwrap();
        let err = Checkpoint::from_bytes(&empty, p).unwrap_err().to_string();
        assert!(err.contains("not a maxl-rs checkpoint"), "{err}");
        let err = Checkpoint::load(Path::new("/nonexistent/maxl/ckpt"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not found"), "{err}");
    }
}
