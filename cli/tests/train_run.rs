//! `maxl-cli train` end to end on tiny synthetic data: the run folder's files and their keys,
//! default folder names, `--config` files (a run's own config.toml reruns it), `--help`,
//! `--quiet`, and `maxl-cli eval` on the result.

mod common;

use common::{cli, json_file, metrics, ok, without_timing, Temp, TINY};
use serde_json::Value;

fn args<'a>(extra: &[&'a str]) -> Vec<&'a str> {
    TINY.iter().copied().chain(extra.iter().copied()).collect()
}

#[test]
fn a_run_writes_its_folder_and_eval_reads_it() {
    let tmp = Temp::new("run");
    let out = ok(
        &tmp.0,
        &[&["train"][..], &args(&["--epochs", "2"])].concat(),
    );
    assert!(out.stdout.is_empty(), "stdout stays clean: {}", out.stdout);
    assert!(
        out.stderr.contains("EPOCH 1 | TRAIN loss "),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("| META before "), "{}", out.stderr);
    assert!(out.stderr.contains("EPOCH 2 |"), "{}", out.stderr);

    // Default folder: runs/<method>-<dataset>-<seed>.
    let run = tmp.join("runs/maxl-synthetic-0");
    let config: toml::Table = std::fs::read_to_string(run.join("config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(config["dataset"].as_str(), Some("synthetic"));
    assert_eq!(config["method"].as_str(), Some("maxl"));
    assert_eq!(config["model"].as_str(), Some("convnet4"));
    assert_eq!(config["epochs"].as_integer(), Some(2));
    assert_eq!(config["train_limit"].as_integer(), Some(200));
    assert_eq!(config["lr"].as_float(), Some(0.1), "MODELS.md default");
    // Every key of the run's settings is a flag that --help explains.
    let help = ok(&tmp.0, &["train", "--help"]).stdout;
    for key in config.keys() {
        let flag = format!("--{} ", key.replace('_', "-"));
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&flag) && l.len() > flag.len() + 30),
            "{flag}is not explained by --help"
        );
    }

    let m = metrics(&run);
    assert_eq!(m.len(), 2);
    for (i, e) in m.iter().enumerate() {
        assert_eq!(e["epoch"], i + 1);
        for k in [
            "test_acc",
            "train_acc",
            "test_loss",
            "train_loss",
            "meta_loss_before",
            "meta_loss_after",
            "cosine",
            "utilisation",
            "lr",
        ] {
            assert!(e[k].is_number(), "{k} in {e}");
        }
        assert!((0.0..=100.0).contains(&e["test_acc"].as_f64().unwrap()));
    }

    let s = json_file(&run.join("summary.json"));
    assert_eq!(s["status"], "complete");
    assert_eq!(s["epochs"], 2);
    assert_eq!(s["final_test_acc"], m[1]["test_acc"]);
    let best = m
        .iter()
        .map(|e| e["test_acc"].as_f64().unwrap())
        .fold(0.0, f64::max);
    assert_eq!(s["best_test_acc"].as_f64(), Some(best));
    assert!(s["wall_s"].as_f64().unwrap() > 0.0);
    assert_eq!(s["settings"]["dataset"], "synthetic");

    // safetensors: 8-byte header length, then a JSON header naming our tensor groups.
    let ckpt = std::fs::read(run.join("checkpoint.safetensors")).unwrap();
    let n = u64::from_le_bytes(ckpt[..8].try_into().unwrap()) as usize;
    let header: Value = serde_json::from_slice(&ckpt[8..8 + n]).unwrap();
    // One record per component: tensors `component/key`, values in the metadata.
    assert_eq!(header["__metadata__"]["format"], "maxl-rs checkpoint 2");
    assert_eq!(header["__metadata__"]["position/epoch"], "2");
    assert_eq!(header["__metadata__"]["strategy/kind"], "maxl");
    for key in [
        "model/param.trunk.",
        "model/buffer.",
        "optimizer/momentum.",
        "strategy/generator.param.trunk.",
        "strategy/generator.buffer.",
    ] {
        assert!(
            header
                .as_object()
                .unwrap()
                .keys()
                .any(|k| k.starts_with(key)),
            "no {key}* tensor"
        );
    }
    assert!(!run.join("checkpoint.safetensors.tmp").exists());

    let png = std::fs::read(run.join("curves.png")).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (1500, 450));

    let e = ok(&tmp.0, &["eval", "--run", run.to_str().unwrap()]);
    let v: Value = serde_json::from_str(e.stdout.trim()).unwrap();
    assert_eq!(v["epoch"], 2);
    assert_eq!(v["test_acc"], m[1]["test_acc"]);
    assert_eq!(v["test_loss"], m[1]["test_loss"]);
}

#[test]
fn default_folders_do_not_overwrite_and_quiet_is_silent() {
    let tmp = Temp::new("names");
    let a = args(&["--epochs", "1", "--method", "single", "--quiet"]);
    for _ in 0..2 {
        let out = ok(&tmp.0, &[&["train"][..], &a].concat());
        assert!(
            out.stderr.is_empty() && out.stdout.is_empty(),
            "{}",
            out.stderr
        );
    }
    assert!(tmp.join("runs/single-synthetic-0/summary.json").exists());
    assert!(tmp.join("runs/single-synthetic-0-2/summary.json").exists());
    assert_eq!(
        without_timing(metrics(&tmp.join("runs/single-synthetic-0"))),
        without_timing(metrics(&tmp.join("runs/single-synthetic-0-2"))),
        "one seed, one result"
    );
    // An explicit --out that holds a run is refused.
    let out = cli(
        &tmp.0,
        &[&["train"][..], &a, &["--out", "runs/single-synthetic-0"]].concat(),
    );
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("holds a run already"), "{}", out.stderr);
}

#[test]
fn config_file_then_flags_and_a_runs_config_reruns_it() {
    let tmp = Temp::new("config");
    std::fs::write(
        tmp.join("my.toml"),
        "dataset = \"synthetic\"\ntrain-limit = 200\nbatch_size = 50\nepochs = 1\n\
         method = \"random\"\npsi = 2\nlr = 0.05\nseed = 7\n",
    )
    .unwrap();
    let a = [
        "train", "--config", "my.toml", "--lr", "0.02", "--out", "a", "--quiet",
    ];
    ok(&tmp.0, &a);
    let config: toml::Table = std::fs::read_to_string(tmp.join("a/config.toml"))
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(config["lr"].as_float(), Some(0.02), "the flag wins");
    assert_eq!(config["method"].as_str(), Some("random"));
    assert_eq!(config["seed"].as_integer(), Some(7));
    assert_eq!(config["batch_size"].as_integer(), Some(50));
    assert_eq!(config["psi"].as_array().unwrap().len(), 1);

    ok(
        &tmp.0,
        &[
            "train",
            "--config",
            "a/config.toml",
            "--out",
            "b",
            "--quiet",
        ],
    );
    assert_eq!(
        without_timing(metrics(&tmp.join("a"))),
        without_timing(metrics(&tmp.join("b")))
    );
}

#[test]
fn help_explains_every_flag() {
    let tmp = Temp::new("help");
    let out = ok(&tmp.0, &["train", "--help"]);
    for flag in [
        "--dataset",
        "--data-dir",
        "--train-limit",
        "--model",
        "--init",
        "--method",
        "--psi",
        "--primary-level",
        "--aux-level",
        "--epochs",
        "--batch-size",
        "--lr",
        "--gen-lr",
        "--entropy-weight",
        "--momentum",
        "--weight-decay",
        "--gen-weight-decay",
        "--focal-gamma",
        "--exact-mask",
        "--cosine-every",
        "--schedule",
        "--device",
        "--seed",
        "--out",
        "--resume",
        "--config",
        "--quiet",
        "--threads",
    ] {
        let line = out
            .stdout
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{flag} ")))
            .unwrap_or_else(|| panic!("{flag} missing from --help"));
        assert!(
            line.len() > flag.len() + 20,
            "{flag} has no explanation: {line}"
        );
    }
}
