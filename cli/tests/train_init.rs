//! `--init` (issue 15) reaches every network the trainer builds: with learning rates and
//! weight decays 0 a run's checkpoint holds its initial weights, which must follow the chosen
//! initialiser's formula (bounds computed here from each weight's fan-in and fan-out) in the
//! multi-task network and the label generator alike; the name is recorded in config.toml and
//! shown in the first line; a bad name is one clear error.

mod common;

use common::{cli, ok, Temp, TINY};
use maxl::checkpoint::Checkpoint;

/// (name, values, shape) of every conv or linear weight with its bias, from `component` of
/// a checkpoint (`model`, or `strategy` with prefix `generator.`).
struct Layer {
    name: String,
    shape: Vec<usize>,
    weight: Vec<f64>,
    bias: Vec<f64>,
}

fn layers(ckpt: &Checkpoint, component: &str, prefix: &str) -> Vec<Layer> {
    let r = &ckpt.records[component];
    let get = |n: &str| r.tensors().find(|(k, _)| *k == n).map(|(_, t)| t.clone());
    let mut out = Vec::new();
    for (key, t) in r.tensors() {
        let Some(layer) = key
            .strip_prefix(prefix)
            .and_then(|k| k.strip_prefix("param."))
            .and_then(|k| k.strip_suffix(".weight"))
        else {
            continue;
        };
        if t.rank() < 2 {
            continue; // batch norm's gamma
        }
        let bias = get(&format!("{prefix}param.{layer}.bias"))
            .map(|b| b.to_f64_vec())
            .unwrap_or_default();
        out.push(Layer {
            name: format!("{component}/{key}"),
            shape: t.shape().to_vec(),
            weight: t.to_f64_vec(),
            bias,
        });
    }
    assert!(out.len() >= 6, "{component}: {} layers", out.len());
    out
}

/// fan_in, fan_out of `[out, in, k..]`.
fn fans(shape: &[usize]) -> (f64, f64) {
    let k: usize = shape[2..].iter().product();
    ((shape[1] * k) as f64, (shape[0] * k) as f64)
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |a, x| a.max(x.abs()))
}

/// A run with frozen weights (every rate and decay 0) and its checkpoint.
fn frozen_run(tmp: &Temp, out: &str, init: Option<&str>) -> (Checkpoint, String) {
    let mut args = [
        &["train", "--threads", "2"][..],
        &TINY,
        &[
            "--epochs",
            "1",
            "--lr",
            "0",
            "--gen-lr",
            "0",
            "--weight-decay",
            "0",
            "--gen-weight-decay",
            "0",
            "--out",
            out,
        ],
    ]
    .concat();
    if let Some(i) = init {
        args.extend(["--init", i]);
    }
    let o = ok(&tmp.0, &args);
    let first = o.stderr.lines().next().unwrap().to_string();
    let ckpt = Checkpoint::load(&tmp.join(out).join("checkpoint.safetensors")).unwrap();
    (ckpt, first)
}

#[test]
fn the_init_flag_reaches_both_networks() {
    let tmp = Temp::new("init");
    let (ckpt, first) = frozen_run(&tmp, "xu", Some("xavier-uniform"));
    assert!(
        first.contains("convnet4 with init xavier-uniform"),
        "{first}"
    );
    let config = std::fs::read_to_string(tmp.join("xu/config.toml")).unwrap();
    assert!(config.contains("init = \"xavier-uniform\"\n"), "{config}");
    for l in layers(&ckpt, "model", "")
        .into_iter()
        .chain(layers(&ckpt, "strategy", "generator."))
    {
        let (fi, fo) = fans(&l.shape);
        let a = (6.0 / (fi + fo)).sqrt();
        let m = max_abs(&l.weight);
        assert!(m <= a * (1.0 + 1e-6), "{}: {m} above {a}", l.name);
        if l.weight.len() >= 1000 {
            assert!(m > 0.9 * a, "{}: {m} far below {a}", l.name);
        }
        assert!(l.bias.iter().all(|&b| b == 0.0), "{}: bias not 0", l.name);
    }

    // auto on ConvNet-4 is PyTorch's default, generator included: biases drawn from
    // U(+-1/sqrt(fan_in)), weights inside the same bound.
    let (ckpt, first) = frozen_run(&tmp, "auto", None);
    assert!(first.contains("convnet4 with init auto"), "{first}");
    for l in layers(&ckpt, "model", "")
        .into_iter()
        .chain(layers(&ckpt, "strategy", "generator."))
    {
        let (fi, _) = fans(&l.shape);
        let a = 1.0 / fi.sqrt();
        assert!(max_abs(&l.weight) <= a * (1.0 + 1e-6), "{}", l.name);
        assert!(max_abs(&l.bias) <= a * (1.0 + 1e-6), "{}", l.name);
        assert!(l.bias.iter().any(|&b| b != 0.0), "{}: bias all 0", l.name);
    }
}

#[test]
fn a_bad_init_name_is_one_clear_error() {
    let tmp = Temp::new("init-bad");
    std::fs::write(tmp.join("c.toml"), "init = \"he\"\n").unwrap();
    for args in [
        [&["train", "--init", "kaiming"][..], &TINY].concat(),
        [&["train", "--config", "c.toml"][..], &TINY].concat(),
    ] {
        let o = cli(&tmp.0, &args);
        assert_eq!(o.code, 2, "{}", o.stderr);
        let err = o.stderr.trim_end();
        assert_eq!(err.lines().count(), 1, "{err}");
        assert!(
            err.contains(
                "expected auto, torch-default, xavier-uniform, xavier-normal, \
                 kaiming-normal-fan-out"
            ),
            "{err}"
        );
    }
    assert!(!tmp.join("runs").exists());
}
