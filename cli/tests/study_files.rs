//! The study sweep files kept in the repository (benches/studies/) stay valid: each expands,
//! with `sweep --dry-run`, into the runs it promises.

mod common;

use common::{ok, Temp};
use serde_json::Value;
use std::collections::BTreeMap;

#[test]
fn the_fashion_mnist_generator_study_expands_to_its_28_runs() {
    let tmp = Temp::new("study");
    let file = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../benches/studies/fashion-mnist-generator.toml"
    );
    ok(&tmp.0, &["sweep", file, "--out", "plan", "--dry-run"]);
    let plan = std::fs::read_to_string(tmp.join("plan/plan.jsonl")).unwrap();
    let runs: Vec<Value> = plan
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // (method, gen_lr) -> seeds.
    let mut seeds: BTreeMap<(String, String), Vec<u64>> = BTreeMap::new();
    for r in &runs {
        let c = &r["config"];
        assert_eq!(
            (
                &c["dataset"],
                &c["model"],
                &c["train_limit"],
                &c["epochs"],
                &c["psi"]
            ),
            (
                &Value::from("fashion-mnist"),
                &Value::from("convnet4"),
                &Value::from(8000),
                &Value::from(10),
                &Value::from(3)
            )
        );
        let key = (
            c["method"].as_str().unwrap().to_string(),
            c["gen_lr"].to_string(),
        );
        seeds
            .entry(key)
            .or_default()
            .push(c["seed"].as_u64().unwrap());
    }
    let all = vec![0, 1, 2, 3, 4];
    let want = BTreeMap::from([
        (("kmeans".into(), "0.001".into()), vec![0, 1, 2]),
        (("maxl".into(), "0.0".into()), all.clone()),
        (("maxl".into(), "0.001".into()), all.clone()),
        (("maxl".into(), "0.01".into()), all.clone()),
        (("random".into(), "0.001".into()), all.clone()),
        (("single".into(), "0.001".into()), all),
    ]);
    assert_eq!(seeds, want);
    assert_eq!(runs.len(), 28);
}
