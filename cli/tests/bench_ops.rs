//! End to end: `maxl-cli bench ops` and `bench ops-table` as a user runs them (smoke runs: one
//! timed chain, no warm-up; the figures' values are not checked, only their shape).

use serde_json::Value;
use std::process::Command;

fn cli(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_maxl-cli"))
        .args(args)
        .output()
        .expect("maxl-cli runs");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn bench_ops_prints_one_object_per_op_shape_and_order_and_a_table() {
    let args = [
        "bench",
        "ops",
        "--config",
        "b1",
        "--ops",
        "relu,softmax",
        "--order",
        "2",
        "--runs",
        "1",
        "--warmup",
        "0",
        "--threads",
        "1",
        "--json",
    ];
    let (code, out, err) = cli(&args);
    assert_eq!(code, 0, "{err}");
    let lines: Vec<Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).expect("each line is JSON"))
        .collect();
    // relu at the 4 activation shapes, softmax at one; orders 1 and 2 of each.
    assert_eq!(lines.len(), (4 + 1) * 2, "{out}");
    for v in &lines {
        let order = v["order"].as_u64().unwrap();
        assert!(
            ["relu", "softmax"].contains(&v["op"].as_str().unwrap()),
            "{v}"
        );
        assert_eq!(v["config"], "b1");
        assert!(v["shape"].as_str().unwrap().starts_with("100x"), "{v}");
        for k in ["fwd_s", "bwd_s", "total_s"] {
            assert!(v[k].as_f64().unwrap() >= 0.0, "{v}");
        }
        assert_eq!(v.get("bwd2_s").is_some(), order == 2, "{v}");
    }
    let dir = std::env::temp_dir().join(format!("maxl-bench-ops-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ours = dir.join("maxl.jsonl");
    std::fs::write(&ours, &out).unwrap();
    let (code, table, err) = cli(&[
        "bench",
        "ops-table",
        "--torch",
        ours.to_str().unwrap(),
        "--ours",
        ours.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    // Our figures against themselves: every ratio is 1.
    assert!(table.contains("| b1 | relu |"), "{table}");
    assert!(table.contains("(1.00) | "), "{table}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bench_ops_refuses_unknown_ops_and_orders() {
    let (code, _, err) = cli(&["bench", "ops", "--ops", "nosuch"]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown op \"nosuch\""), "{err}");
    let (code, _, err) = cli(&["bench", "ops", "--order", "4"]);
    assert_eq!(code, 2, "{err}");
    let (code, _, err) = cli(&["bench", "ops-table"]);
    assert_ne!(code, 0);
    assert!(err.contains("--torch"), "{err}");
}
