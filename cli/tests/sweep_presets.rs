//! `maxl-cli sweep --preset NAME --out DIR`: each of the paper's experiments is written as a
//! sweep file that expands (dry, nothing trained) into a valid plan of the right runs, with
//! the paper's hyper-parameters in every run's keys.

mod common;

use common::{cli, ok, Temp};
use serde_json::Value;

/// The plan of a preset: (name, keys) per run.
fn preset_plan(tmp: &Temp, preset: &str) -> Vec<(String, Value)> {
    let out = ok(&tmp.0, &["sweep", "--preset", preset, "--out", preset]);
    assert!(
        out.stdout.contains("runs); set its data_dir"),
        "{}",
        out.stdout
    );
    let file = format!("{preset}/sweep.toml");
    let dry = ok(&tmp.0, &["sweep", &file, "--out", preset, "--dry-run"]);
    let plan = std::fs::read_to_string(tmp.join(preset).join("plan.jsonl")).unwrap();
    let runs: Vec<(String, Value)> = plan
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            (v["name"].as_str().unwrap().to_string(), v["config"].clone())
        })
        .collect();
    assert_eq!(dry.stdout.lines().count(), runs.len());
    assert!(
        dry.stdout.lines().all(|l| l.ends_with("\tFresh")),
        "{}",
        dry.stdout
    );
    runs
}

fn find<'a>(runs: &'a [(String, Value)], name: &str) -> &'a Value {
    &runs
        .iter()
        .find(|(n, _)| n == name)
        .unwrap_or_else(|| {
            panic!(
                "no run {name} in {:?}",
                runs.iter().map(|r| &r.0).collect::<Vec<_>>()
            )
        })
        .1
}

#[test]
fn table1_presets_cross_psi_and_add_single_task() {
    let tmp = Temp::new("preset-t1");
    for (preset, dataset, model) in [
        ("table1-mnist", "mnist", "convnet4"),
        ("table1-cifar10", "cifar10", "vgg16"),
    ] {
        let runs = preset_plan(&tmp, preset);
        assert_eq!(
            runs.len(),
            4 * 3 + 3,
            "{preset}: psi 2,3,5,10 and single, 3 seeds"
        );
        let maxl = find(&runs, "maxl_psi-5_seed-2");
        assert_eq!(maxl["dataset"], dataset);
        assert_eq!(maxl["model"], model);
        assert_eq!(maxl["psi"], 5);
        // Appendix B: SGD 0.1, momentum 0.9, weight decay 5e-4, cosine; generator 1e-3.
        assert_eq!(
            (
                &maxl["lr"],
                &maxl["momentum"],
                &maxl["weight_decay"],
                &maxl["schedule"]
            ),
            (
                &Value::from(0.1),
                &Value::from(0.9),
                &Value::from(0.0005),
                &Value::from("cosine")
            )
        );
        assert_eq!(
            (&maxl["gen_lr"], &maxl["entropy_weight"]),
            (&Value::from(0.001), &Value::from(0.2))
        );
        assert_eq!(find(&runs, "single_seed-0")["method"], "single");
        assert!(
            maxl["data_dir"].as_str().unwrap().starts_with('/'),
            "made absolute"
        );
    }
}

#[test]
fn figure3_preset_has_every_hierarchy_pair_and_method() {
    let tmp = Temp::new("preset-f3");
    let runs = preset_plan(&tmp, "figure3-cifar100");
    // MAXL, Random, K-Means and Human on 6 pairs, single on 3 primary levels; 3 seeds.
    assert_eq!(runs.len(), (3 * 6 + 6 + 3) * 3);
    let human = find(&runs, "human_primary-level-3_aux-level-100_seed-1");
    assert_eq!(human["aux_level"], 100);
    let maxl = find(&runs, "maxl_primary-level-3_psi-4.3.3_seed-0");
    // The authors' CIFAR-100 settings: SGD 0.01, no momentum, halved every 50 epochs, 200.
    assert_eq!(
        (
            &maxl["lr"],
            &maxl["momentum"],
            &maxl["schedule"],
            &maxl["epochs"]
        ),
        (
            &Value::from(0.01),
            &Value::from(0.0),
            &Value::from("step"),
            &Value::from(200)
        )
    );
    assert_eq!(
        (&maxl["dataset"], &maxl["model"]),
        (&Value::from("cifar100"), &Value::from("vgg16"))
    );
    for pair in [
        "primary-level-10_psi-2",
        "primary-level-20_psi-5",
        "primary-level-3_psi-34.33.33",
    ] {
        for method in ["maxl", "random", "kmeans"] {
            find(&runs, &format!("{method}_{pair}_seed-2"));
        }
    }
    assert!(find(&runs, "single_primary-level-20_seed-0")
        .get("psi")
        .is_none());
}

#[test]
fn appendix_c_preset_crosses_the_entropy_weight() {
    let tmp = Temp::new("preset-c");
    let runs = preset_plan(&tmp, "appendix-c-entropy");
    assert_eq!(runs.len(), 6 * 2 * 3);
    let off = find(&runs, "primary-level-20_psi-5_entropy-weight-0_seed-0");
    assert_eq!(
        (&off["method"], &off["entropy_weight"]),
        (&Value::from("maxl"), &Value::from(0.0))
    );
    find(&runs, "primary-level-3_psi-7.7.6_entropy-weight-0.2_seed-2");
}

#[test]
fn a_preset_never_overwrites_an_edited_file() {
    let tmp = Temp::new("preset-edit");
    ok(&tmp.0, &["sweep", "--preset", "table1-mnist", "--out", "p"]);
    std::fs::write(tmp.join("p/sweep.toml"), "# mine\n").unwrap();
    let out = cli(&tmp.0, &["sweep", "--preset", "table1-mnist", "--out", "p"]);
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("exists with other text"),
        "{}",
        out.stderr
    );
    let out = cli(&tmp.0, &["sweep", "--preset", "table2", "--out", "p"]);
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("figure3-cifar100"),
        "clap lists the presets: {}",
        out.stderr
    );
}
