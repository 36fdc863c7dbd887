//! Checkpoints of a training run in safetensors: one named record per component of the run
//! (see [`crate::train::record`]: the network, its optimiser, the auxiliary-label strategy, the
//! run's position) and free text metadata (settings, metric history). A record's tensor
//! `key` of component `c` is the tensor `c/key`, its text value `key` the metadata entry
//! `c/key`; the checkpoint knows no component's insides, as burn-train's checkpointer saves
//! each record independently. Saved to a temp file and renamed, so a crash never leaves half a
//! checkpoint. Files of the first edition (format 1, one tensor group per trainer field) are
//! refused with a message that says so. A state with a NaN or an infinity is neither written
//! nor read (the tensor is named): a diverged run must not look like a trained one.

use crate::train::{Record, Trainer};
use crate::{Error, Result};
use maxl_engine::{DType, Tensor};
use safetensors::{Dtype, SafeTensors, View};
use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::io::Write;
use std::path::{Path, PathBuf};

/// The value of the `format` metadata key.
const FORMAT: &str = "maxl-rs checkpoint 2";
/// The first edition's format: one tensor group per trainer field.
const FIRST_EDITION: &str = "maxl-rs checkpoint 1";
/// The metadata key of the format.
const FORMAT_KEY: &str = "format";
/// Between a component's name and a key of its record.
const SEP: char = '/';

/// Everything a [`Trainer`] needs to continue exactly where it stopped, as one record per
/// component, plus free metadata.
#[derive(Clone, Debug)]
pub struct Checkpoint {
    /// Each component's record, by component name.
    pub records: BTreeMap<String, Record>,
    /// Free text, e.g. the run's settings and metric history; keys hold no `/` and `format`
    /// is taken.
    pub metadata: BTreeMap<String, String>,
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
    pub fn of(t: &Trainer, metadata: BTreeMap<String, String>) -> Result<Checkpoint> {
        Ok(Checkpoint {
            records: t.records()?,
            metadata,
        })
    }

    /// Puts this state into a trainer built with the same settings (`Trainer::new`); each
    /// component checks its own record (see [`Trainer::load_records`]).
    pub fn restore(self, t: &mut Trainer) -> Result<()> {
        t.load_records(self.records)
    }

    /// The first tensor, as `component/key`, that holds a NaN or an infinity (one reduction
    /// per tensor).
    pub fn first_non_finite(&self) -> Result<Option<String>> {
        for (component, record) in &self.records {
            if let Some(key) = record.first_non_finite()? {
                return Ok(Some(format!("{component}{SEP}{key}")));
            }
        }
        Ok(None)
    }

    /// The file's bytes; an error if a tensor holds a NaN or an infinity.
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        if let Some(name) = self.first_non_finite()? {
            return Err(Error::Invalid(format!(
                "checkpoint: '{name}' holds NaN or infinite values; not written"
            )));
        }
        let mut raws: Vec<(String, Raw)> = Vec::new();
        let mut meta: HashMap<String, String> = HashMap::new();
        for (k, v) in &self.metadata {
            if k.contains(SEP) || k == FORMAT_KEY {
                return Err(Error::Invalid(format!(
                    "checkpoint: metadata key '{k}' is reserved (no '{SEP}', not '{FORMAT_KEY}')"
                )));
            }
            meta.insert(k.clone(), v.clone());
        }
        for (component, record) in &self.records {
            if component.is_empty() || component.contains(SEP) {
                return Err(Error::Invalid(format!(
                    "checkpoint: bad component name '{component}'"
                )));
            }
            for (key, t) in record.tensors() {
                raws.push((format!("{component}{SEP}{key}"), to_raw(t)?));
            }
            for (key, v) in record.values() {
                meta.insert(format!("{component}{SEP}{key}"), v.to_string());
            }
        }
        meta.insert(FORMAT_KEY.into(), FORMAT.into());
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

    /// Parses a checkpoint's bytes; `path` names the file in errors. A tensor with a NaN or an
    /// infinity is an error that names it.
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
        match metadata.remove(FORMAT_KEY).as_deref() {
            Some(FORMAT) => {}
            Some(FIRST_EDITION) => {
                return Err(bad(
                    path,
                    "a checkpoint of the first edition of maxl-rs (format 1), which this \
                     version does not read; train the run again (its config.toml reruns it \
                     with --config)",
                ))
            }
            _ => {
                return Err(bad(
                    path,
                    format!("not a maxl-rs checkpoint (no format = \"{FORMAT}\")"),
                ))
            }
        }
        let mut records: BTreeMap<String, Record> = BTreeMap::new();
        let split = |name: &str| -> Result<(String, String)> {
            match name.split_once(SEP) {
                Some((c, k)) if !c.is_empty() && !k.is_empty() => Ok((c.into(), k.into())),
                _ => Err(bad(path, format!("unexpected tensor '{name}'"))),
            }
        };
        for (name, view) in st.tensors() {
            let (component, key) = split(&name)?;
            let t = from_raw(view.dtype(), view.shape(), view.data(), path, &name)?;
            records.entry(component).or_default().put_tensor(key, t);
        }
        let values: Vec<String> = metadata
            .keys()
            .filter(|k| k.contains(SEP))
            .cloned()
            .collect();
        for name in values {
            let (component, key) = split(&name)?;
            let v = metadata.remove(&name).unwrap_or_default();
            records.entry(component).or_default().put_value(key, v);
        }
        let c = Checkpoint { records, metadata };
        if let Some(name) = c.first_non_finite()? {
            return Err(bad(
                path,
                format!(
                    "tensor '{name}' holds NaN or infinite values (a run that diverged, or a \
                     damaged file); refusing to use it"
                ),
            ));
        }
        Ok(c)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{Dataset, LabelHierarchy, Synthetic};
    use crate::nn::Params;
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

    /// Two records hold the same names, values, shapes, dtypes and bits.
    fn same_record(a: &Record, b: &Record, what: &str) {
        let names = |r: &Record| r.tensors().map(|(n, _)| n.to_string()).collect::<Vec<_>>();
        assert_eq!(names(a), names(b), "{what}");
        for ((n, x), (_, y)) in a.tensors().zip(b.tensors()) {
            assert_eq!(x.shape(), y.shape(), "{what} {n}");
            assert_eq!(x.dtype(), y.dtype(), "{what} {n}");
            assert_eq!(bits(x), bits(y), "{what} {n}");
        }
        let values = |r: &Record| {
            r.values()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect::<Vec<_>>()
        };
        assert_eq!(values(a), values(b), "{what}");
    }

    fn same_params(a: &Params, b: &Params) {
        assert_eq!(a.names().collect::<Vec<_>>(), b.names().collect::<Vec<_>>());
        for ((n, x), (_, y)) in a.iter().zip(b.iter()) {
            assert_eq!(bits(x), bits(y), "{n}");
            assert_eq!(x.requires_grad(), y.requires_grad(), "{n}");
        }
    }

    fn cfg(method: Method, model: &str) -> TrainConfig {
        TrainConfig {
            method,
            model: model.into(),
            psi: vec![2],
            ..TrainConfig::default()
        }
    }

    fn trainer(method: Method, model: &str) -> Trainer {
        let split = Synthetic::new(40, 10, [1, 16, 16], 4, 3).split().unwrap();
        Trainer::new(cfg(method, model), &split.train).unwrap()
    }

    /// 8 images of 1x16x16 with 2 coarse classes over 4 fine ones, at the coarse level.
    fn human_trainer() -> Trainer {
        let fine: Vec<i64> = (0..8).map(|i| i % 4).collect();
        let lh = LabelHierarchy::new(vec![2, 4], vec![vec![0, 0, 1, 1]], fine.clone()).unwrap();
        let data = Dataset::new(vec![7; 8 * 256], fine, [1, 16, 16], 4)
            .unwrap()
            .with_hierarchy(lh)
            .unwrap()
            .at_level(2)
            .unwrap();
        let c = TrainConfig {
            aux_level: Some(4),
            ..cfg(Method::Human, "convnet4")
        };
        Trainer::new(c, &data).unwrap()
    }

    fn through_bytes(t: &Trainer) -> Checkpoint {
        let bytes = Checkpoint::of(t, BTreeMap::new())
            .unwrap()
            .to_bytes()
            .unwrap();
        Checkpoint::from_bytes(&bytes, Path::new("x")).unwrap()
    }

    /// Every tensor of a record plus `delta`, as a record of the same kind.
    fn shifted(p: &Params, delta: f64) -> Params {
        let mut out = Params::new();
        for (n, t) in p.iter() {
            out.insert(
                n,
                t.detach()
                    .add_scalar(delta)
                    .unwrap()
                    .set_requires_grad(t.requires_grad())
                    .unwrap(),
            );
        }
        out
    }

    #[test]
    fn round_trip_is_byte_exact_for_every_record_and_dtype() {
        let mut t = trainer(Method::Maxl, "convnet4");
        let mut rng = Rng::new(9);
        // Momentum buffers with awkward values (subnormals, negative zero, extremes).
        let mut want = Vec::new();
        for (name, p) in t.mt.params.iter().take(3) {
            let mut v: Vec<f32> = Tensor::randn(p.shape(), DType::F32, &mut rng)
                .to_vec()
                .unwrap();
            v[0] = -0.0;
            if v.len() > 2 {
                v[1] = f32::MIN_POSITIVE / 8.0;
                v[2] = f32::MAX;
            }
            want.push((name.to_string(), v.clone()));
            t.optimizer
                .state
                .insert(name, Tensor::from_vec(v, p.shape()).unwrap());
        }
        t.epoch = 7;
        let mut extra = Record::new();
        extra.put_tensor(
            "a",
            Tensor::from_vec(vec![1.5f64, -2e-300, f64::MIN], &[3]).unwrap(),
        );
        extra.put_tensor(
            "b",
            Tensor::from_vec(vec![i64::MIN, 0, 42, i64::MAX], &[2, 2]).unwrap(),
        );
        extra.put_value("note", "x/y = z");
        let meta = BTreeMap::from([("settings".to_string(), "lr = 0.1".to_string())]);
        let mut c = Checkpoint::of(&t, meta.clone()).unwrap();
        c.records.insert("extra".into(), extra.clone());

        let dir = std::env::temp_dir().join(format!("maxl-ckpt-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("checkpoint.safetensors");
        c.save(&path).unwrap();
        assert!(!temp_path(&path).exists(), "the temp file is renamed away");
        let back = Checkpoint::load(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(back.metadata, meta);
        assert_eq!(
            back.records.keys().collect::<Vec<_>>(),
            ["extra", "model", "optimizer", "position", "strategy"]
        );
        for (name, r) in &c.records {
            same_record(&back.records[name], r, name);
        }
        // The values the test wrote, bit for bit.
        let opt = &back.records["optimizer"];
        for (name, v) in want {
            let (_, got) = opt
                .tensors()
                .find(|(n, _)| *n == format!("momentum.{name}"))
                .unwrap();
            let got: Vec<u32> = got
                .to_vec::<f32>()
                .unwrap()
                .iter()
                .map(|x| x.to_bits())
                .collect();
            assert_eq!(got, v.iter().map(|x| x.to_bits()).collect::<Vec<_>>());
        }
        let pos: Vec<_> = back.records["position"].values().collect();
        assert_eq!(pos, [("epoch", "7")]);
        let kind = back.records["strategy"]
            .values()
            .find(|(k, _)| *k == "kind");
        assert_eq!(kind, Some(("kind", "maxl")));
    }

    #[test]
    fn every_strategy_record_round_trips_through_a_checkpoint() {
        let cases: Vec<(&str, Trainer, Trainer)> = vec![
            (
                "maxl",
                trainer(Method::Maxl, "convnet4"),
                trainer(Method::Maxl, "convnet4"),
            ),
            (
                "maxl-fo",
                trainer(Method::MaxlFo, "convnet4"),
                trainer(Method::MaxlFo, "convnet4"),
            ),
            (
                "single",
                trainer(Method::Single, "convnet4"),
                trainer(Method::Single, "convnet4"),
            ),
            (
                "random",
                trainer(Method::Random, "convnet4"),
                trainer(Method::Random, "convnet4"),
            ),
            (
                "kmeans",
                trainer(Method::KMeans, "convnet4"),
                trainer(Method::KMeans, "convnet4"),
            ),
            ("human", human_trainer(), human_trainer()),
        ];
        for (name, mut a, mut b) in cases {
            // Move every part of a's state away from a fresh trainer's.
            a.epoch = 3;
            a.mt.params = shifted(&a.mt.params, 0.5);
            let first = a.mt.params.names().next().unwrap().to_string();
            let p = a.mt.params.get(&first).unwrap().detach();
            a.optimizer
                .state
                .insert(&first, p.mul_scalar(0.25).unwrap());
            let mut r = a.strategy.record().unwrap();
            let changed: Vec<(String, Tensor)> = r
                .tensors()
                .filter(|(n, _)| !n.ends_with("columns") && !n.ends_with("previous_labels"))
                .map(|(n, t)| (n.to_string(), t.detach().add_scalar(1.0).unwrap()))
                .collect();
            for (n, t) in changed {
                let t = if n.contains("param") || n.starts_with("autoencoder") {
                    t.set_requires_grad(true).unwrap()
                } else {
                    t
                };
                r.put_tensor(n, t);
            }
            if name == "kmeans" {
                r.put_indices("columns", &[0, 3, 7, 1, 6]).unwrap();
            }
            if name.starts_with("maxl") {
                // One generated label (0..4, 4: none yet) per training image.
                let labels: Vec<usize> = (0..40).map(|i| i % 5).collect();
                r.put_indices("previous_labels", &labels).unwrap();
            }
            a.strategy.load_record(r).unwrap();

            let saved = through_bytes(&a);
            assert_eq!(
                saved.records["strategy"].values().next(),
                Some(("kind", name))
            );
            saved.restore(&mut b).unwrap();
            assert_eq!(b.epoch, 3, "{name}");
            same_params(&b.mt.params, &a.mt.params);
            same_params(&b.optimizer.state, &a.optimizer.state);
            same_record(
                &b.strategy.record().unwrap(),
                &a.strategy.record().unwrap(),
                name,
            );
            assert_eq!(b.strategy.columns(), a.strategy.columns(), "{name}");
            match name {
                "maxl" | "maxl-fo" => {
                    let (ga, gb) = (
                        a.strategy.generator().unwrap(),
                        b.strategy.generator().unwrap(),
                    );
                    same_params(&gb.params, &ga.params);
                    same_params(&gb.buffers, &ga.buffers);
                }
                "kmeans" => assert_eq!(b.strategy.columns(), Some(&[0, 3, 7, 1, 6][..])),
                _ => assert!(b.strategy.generator().is_none()),
            }
        }
    }

    #[test]
    fn a_record_from_other_settings_is_refused_and_changes_nothing() {
        let saved = through_bytes(&trainer(Method::Maxl, "convnet4"));
        let err = |c: &Checkpoint, t: &mut Trainer| c.clone().restore(t).unwrap_err().to_string();

        let mut single = trainer(Method::Single, "convnet4");
        let e = err(&saved, &mut single);
        assert!(e.contains("network parameters: unexpected 'aux."), "{e}");
        assert!(err(&saved, &mut trainer(Method::Maxl, "resnet32")).contains("network"));

        // Same network, other strategy: the method is named.
        let mut kmeans = trainer(Method::KMeans, "convnet4");
        kmeans.epoch = 5;
        let e = err(&saved, &mut kmeans);
        assert!(
            e.contains("made by method 'maxl', the settings say 'kmeans'"),
            "{e}"
        );
        assert_eq!(kmeans.epoch, 5, "a refused checkpoint changes nothing");
        let e = err(
            &through_bytes(&trainer(Method::KMeans, "convnet4")),
            &mut trainer(Method::Random, "convnet4"),
        );
        assert!(
            e.contains("method 'kmeans', the settings say 'random'"),
            "{e}"
        );

        // K-Means columns outside the settings' auxiliary classes.
        let mut bad = trainer(Method::KMeans, "convnet4");
        let mut r = bad.strategy.record().unwrap();
        r.put_indices("columns", &[8]).unwrap();
        bad.strategy.load_record(r.clone()).unwrap_err();
        let mut c = through_bytes(&bad);
        let mut sr = r;
        sr.put_value("kind", "kmeans");
        c.records.insert("strategy".into(), sr);
        let e = err(&c, &mut trainer(Method::KMeans, "convnet4"));
        assert!(e.contains("K-Means column 8"), "{e}");

        // A component nobody knows.
        let mut c = saved.clone();
        c.records.insert("scheduler".into(), Record::new());
        let mut r = Record::new();
        r.put_value("x", "1");
        c.records.insert("scheduler".into(), r);
        let e = err(&c, &mut trainer(Method::Maxl, "convnet4"));
        assert!(e.contains("unexpected record 'scheduler'"), "{e}");
    }

    #[test]
    fn a_first_edition_checkpoint_is_refused_with_a_clear_message() {
        // The first edition's layout: tensor groups by trainer field, format 1.
        let t = Tensor::from_vec(vec![1.0f32, 2.0], &[2]).unwrap();
        let raw = to_raw(&t).unwrap();
        let meta = HashMap::from([
            ("format".to_string(), "maxl-rs checkpoint 1".to_string()),
            ("epoch".to_string(), "2".to_string()),
            ("generator".to_string(), "true".to_string()),
        ]);
        let bytes =
            safetensors::serialize([("mt.param.trunk.0.conv.weight", &raw)], Some(meta)).unwrap();
        let e = Checkpoint::from_bytes(&bytes, Path::new("/runs/a/checkpoint.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/runs/a/checkpoint.safetensors: a checkpoint of the first edition"),
            "{e}"
        );
        assert!(e.contains("train the run again"), "{e}");
    }

    #[test]
    fn non_finite_values_are_neither_written_nor_read() {
        let mut t = trainer(Method::Maxl, "convnet4");
        let good = Checkpoint::of(&t, BTreeMap::new()).unwrap();
        assert_eq!(good.first_non_finite().unwrap(), None);
        // One infinity in the generator's buffers, one NaN in theta1's momentum.
        let mut r = t.strategy.record().unwrap();
        let (name, var) = r
            .tensors()
            .find(|(n, _)| n.contains("buffer.") && n.ends_with("running_var"))
            .map(|(n, v)| (n.to_string(), v.clone()))
            .unwrap();
        let mut v = var.to_vec::<f32>().unwrap();
        v[1] = f32::INFINITY;
        r.put_tensor(&name, Tensor::from_vec(v, var.shape()).unwrap());
        t.strategy.load_record(r).unwrap();
        let e = Checkpoint::of(&t, BTreeMap::new())
            .unwrap()
            .to_bytes()
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            format!("checkpoint: 'strategy/{name}' holds NaN or infinite values; not written")
        );

        // A file with a NaN (written by hand: to_bytes refuses): refused on reading.
        let mut raws: Vec<(String, Raw)> = Vec::new();
        for (c, rec) in &good.records {
            for (k, x) in rec.tensors() {
                let mut raw = to_raw(x).unwrap();
                if c == "model" && k == "param.primary.fc2.weight" {
                    raw.data[4..8].copy_from_slice(&f32::NAN.to_le_bytes());
                }
                raws.push((format!("{c}/{k}"), raw));
            }
        }
        let mut meta = HashMap::from([("format".to_string(), FORMAT.to_string())]);
        for (c, rec) in &good.records {
            for (k, v) in rec.values() {
                meta.insert(format!("{c}/{k}"), v.to_string());
            }
        }
        let bytes =
            safetensors::serialize(raws.iter().map(|(n, r)| (n.as_str(), r)), Some(meta)).unwrap();
        let e = Checkpoint::from_bytes(&bytes, Path::new("/r/checkpoint.safetensors"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with(
                "/r/checkpoint.safetensors: tensor 'model/param.primary.fc2.weight' holds NaN"
            ),
            "{e}"
        );
    }

    #[test]
    fn foreign_files_and_reserved_keys_are_clear_errors() {
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
        let t = trainer(Method::Single, "convnet4");
        for key in ["format", "a/b"] {
            let meta = BTreeMap::from([(key.to_string(), "v".to_string())]);
            let e = Checkpoint::of(&t, meta)
                .unwrap()
                .to_bytes()
                .unwrap_err()
                .to_string();
            assert!(e.contains("is reserved"), "{e}");
        }
    }
}
