//! Complete runs grouped as the paper's tables: one table per data set, backbone and CIFAR-100
//! primary level; one row per method and hierarchy (psi, or Human's level) and per value of any
//! other setting that differs inside the table (entropy weight, generator lr, ...), over seeds;
//! and paired comparisons of each MAXL row with the rows that differ from it in one thing.

use super::runs::Run;
use super::stats::{paired, summary, Paired, Summary};
use serde::Serialize;
use serde_json::Value;
use std::collections::BTreeMap;

/// Settings that never make a row of their own: the table's keys, the row's fixed columns,
/// and what only moves the computation.
const NOT_VARYING: [&str; 9] = [
    "seed",
    "data_dir",
    "device",
    "dataset",
    "model",
    "primary_level",
    "method",
    "psi",
    "aux_level",
];

/// Settings of MAXL's label generator: other methods' rows show "-" for them, and a "-" is no
/// difference when rows are compared (Random is MAXL's baseline whatever gen_lr says).
const GENERATOR_KEYS: [&str; 4] = ["gen_lr", "gen_weight_decay", "entropy_weight", "lookahead"];

/// Methods in the order rows are listed; MAXL's two variants come first.
const METHODS: [(&str, &str); 6] = [
    ("maxl", "MAXL"),
    ("maxl-fo", "MAXL-FO"),
    ("random", "Random"),
    ("kmeans", "K-Means"),
    ("human", "Human"),
    ("single", "Single"),
];

pub fn method_label(m: &str) -> String {
    METHODS
        .iter()
        .find(|(k, _)| *k == m)
        .map_or_else(|| m.to_string(), |(_, l)| l.to_string())
}

fn method_rank(m: &str) -> usize {
    METHODS
        .iter()
        .position(|(k, _)| *k == m)
        .unwrap_or(METHODS.len())
}

fn is_maxl(m: &str) -> bool {
    m == "maxl" || m == "maxl-fo"
}

/// Methods whose label use (utilisation) is measured.
fn has_utilisation(m: &str) -> bool {
    is_maxl(m) || m == "kmeans"
}

/// Primary classes of a run's data, where the data set says it.
fn primary_classes(r: &Run) -> Option<u64> {
    if let Some(p) = r.setting("primary_level").and_then(Value::as_u64) {
        return Some(p);
    }
    match r.text("dataset").as_str() {
        "mnist" | "fashion-mnist" | "cifar10" | "synthetic" => Some(10),
        "cifar100" => Some(100),
        _ => None,
    }
}

fn psi_of(r: &Run) -> Vec<u64> {
    match r.setting("psi") {
        Some(Value::Array(a)) => a.iter().filter_map(Value::as_u64).collect(),
        Some(v) => v.as_u64().into_iter().collect(),
        None => vec![3],
    }
}

/// The auxiliary hierarchy of a run: its label and total auxiliary classes (if known).
fn hierarchy(r: &Run) -> (String, Option<u64>) {
    match r.text("method").as_str() {
        "single" => ("-".into(), None),
        "human" => {
            let level = r.setting("aux_level").and_then(Value::as_u64);
            (
                level.map_or("level ?".into(), |l| format!("level {l}")),
                level,
            )
        }
        _ => {
            let psi = psi_of(r);
            let text: Vec<String> = psi.iter().map(u64::to_string).collect();
            let total = match psi.as_slice() {
                [k] => primary_classes(r).map(|p| k * p),
                list => Some(list.iter().sum()),
            };
            (text.join(","), total)
        }
    }
}

/// One row: the runs of one method and setting, over seeds.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub method: String,
    /// psi ("3", "4,3,3"), Human's "level 10", or "-" for single-task.
    pub hierarchy: String,
    /// Total auxiliary classes, where known.
    pub aux_classes: Option<u64>,
    /// Values of the table's other varying settings.
    pub keys: BTreeMap<String, String>,
    pub label: String,
    pub seeds: Vec<u64>,
    pub final_test_acc: Summary,
    pub best_test_acc: Summary,
    pub wall_s: Summary,
    /// Share of auxiliary classes in use at the last epoch (%), for MAXL and K-Means.
    pub utilisation: Option<Summary>,
    #[serde(skip)]
    pub runs: Vec<Run>,
}

/// MAXL row minus another row, on the seeds they share.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub a: String,
    pub b: String,
    pub seeds: Vec<u64>,
    #[serde(flatten)]
    pub stats: Paired,
}

/// One table: a data set, backbone and primary level.
#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub title: String,
    /// File-name form of the title.
    pub slug: String,
    pub dataset: String,
    pub model: String,
    pub primary_level: Option<u64>,
    /// Settings besides method and hierarchy that differ between its rows.
    pub varying: Vec<String>,
    pub rows: Vec<Row>,
    pub comparisons: Vec<Comparison>,
}

/// A row's value of setting `key`: "-" where it does not apply to the run's method.
fn value_of(r: &Run, key: &str) -> String {
    match is_maxl(&r.text("method")) || !GENERATOR_KEYS.contains(&key) {
        true => show(r.setting(key)),
        false => "-".into(),
    }
}

fn show(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => "(default)".into(),
    }
}

/// `keys` that differ from the table's most common values (those of the baseline runs).
fn row_label(
    method: &str,
    hierarchy: &str,
    keys: &BTreeMap<String, String>,
    common: &BTreeMap<String, String>,
) -> String {
    let mut s = method_label(method);
    if hierarchy.starts_with("level") {
        s += &format!(" {hierarchy}");
    } else if hierarchy != "-" {
        s += &format!(" psi {hierarchy}");
    }
    for (k, v) in keys {
        if v != "-" && common.get(k) != Some(v) {
            s += &format!(", {k} {v}");
        }
    }
    s
}

fn build_row(runs: Vec<Run>, varying: &[String], common: &BTreeMap<String, String>) -> Option<Row> {
    let first = runs.first()?.clone();
    let method = first.text("method");
    let (hierarchy, aux_classes) = hierarchy(&first);
    let keys: BTreeMap<String, String> = varying
        .iter()
        .map(|k| (k.clone(), value_of(&first, k)))
        .collect();
    let collect = |key: &str| -> Vec<f64> { runs.iter().filter_map(|r| r.number(key)).collect() };
    let utilisation: Vec<f64> = runs
        .iter()
        .filter_map(|r| r.metrics.last().and_then(|m| m.get("utilisation").copied()))
        .collect();
    Some(Row {
        label: row_label(&method, &hierarchy, &keys, common),
        seeds: runs.iter().map(Run::seed).collect(),
        final_test_acc: summary(&collect("final_test_acc"))?,
        best_test_acc: summary(&collect("best_test_acc"))?,
        wall_s: summary(&collect("wall_s"))?,
        utilisation: if has_utilisation(&method) {
            summary(&utilisation)
        } else {
            None
        },
        method,
        hierarchy,
        aux_classes,
        keys,
        runs,
    })
}

/// The one thing `b` differs from MAXL row `a` in, if exactly one (and a comparison of
/// interest: another method on the same hierarchy, or the same method with one other setting).
fn compares(a: &Row, b: &Row) -> bool {
    let wildcard = a.method == "single" || b.method == "single";
    let same_hierarchy = wildcard
        || if (a.method == "human") != (b.method == "human") {
            a.aux_classes.is_some() && a.aux_classes == b.aux_classes
        } else {
            a.hierarchy == b.hierarchy
        };
    let keys = a
        .keys
        .iter()
        .filter(|(k, v)| {
            let w = b.keys.get(*k).map_or("", String::as_str);
            *v != "-" && w != "-" && w != v.as_str()
        })
        .count();
    let method = a.method != b.method;
    same_hierarchy && usize::from(method) + keys == 1
}

fn comparisons(rows: &[Row]) -> Vec<Comparison> {
    let mut out = Vec::new();
    for (i, a) in rows.iter().enumerate() {
        if !is_maxl(&a.method) {
            continue;
        }
        for (j, b) in rows.iter().enumerate() {
            // Two MAXL rows once, in row order.
            if i == j || (is_maxl(&b.method) && j < i) || !compares(a, b) {
                continue;
            }
            let acc = |r: &Row| -> BTreeMap<u64, f64> {
                r.runs
                    .iter()
                    .filter_map(|x| Some((x.seed(), x.number("final_test_acc")?)))
                    .collect()
            };
            let (xa, xb) = (acc(a), acc(b));
            let pairs: Vec<(u64, (f64, f64))> = xa
                .iter()
                .filter_map(|(s, va)| xb.get(s).map(|vb| (*s, (*va, *vb))))
                .collect();
            let values: Vec<(f64, f64)> = pairs.iter().map(|p| p.1).collect();
            if let Some(stats) = paired(&values) {
                out.push(Comparison {
                    a: a.label.clone(),
                    b: b.label.clone(),
                    seeds: pairs.iter().map(|p| p.0).collect(),
                    stats,
                });
            }
        }
    }
    out
}

fn slug(s: &str) -> String {
    let mut out = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') {
            out.push('-');
        }
    }
    out.trim_matches('-').to_string()
}

fn build_table(runs: Vec<Run>) -> Option<Table> {
    let first = runs.first()?.clone();
    let (dataset, model) = (first.text("dataset"), first.text("model"));
    let primary_level = first.setting("primary_level").and_then(Value::as_u64);
    // Settings whose values differ between the table's runs.
    let mut keys: Vec<String> = runs
        .iter()
        .flat_map(|r| r.settings.keys().cloned())
        .collect();
    keys.sort();
    keys.dedup();
    let varying: Vec<String> = keys
        .into_iter()
        .filter(|k| !NOT_VARYING.contains(&k.as_str()))
        .filter(|k| runs.iter().any(|r| r.setting(k) != first.setting(k)))
        .collect();
    // The most common value of each (ties: the first seen): the baseline's.
    let common: BTreeMap<String, String> = varying
        .iter()
        .map(|k| {
            let values: Vec<String> = runs.iter().map(|r| show(r.setting(k))).collect();
            let best = values
                .iter()
                .max_by_key(|v| {
                    let first = values.iter().position(|x| x == *v).unwrap_or(0);
                    (
                        values.iter().filter(|x| x == v).count(),
                        std::cmp::Reverse(first),
                    )
                })
                .cloned()
                .unwrap_or_default();
            (k.clone(), best)
        })
        .collect();
    // Rows: method, hierarchy (none for single-task) and the varying settings.
    let mut groups: Vec<(String, Vec<Run>)> = Vec::new();
    for r in runs {
        let (h, _) = hierarchy(&r);
        let key = format!(
            "{}|{h}|{}",
            r.text("method"),
            varying
                .iter()
                .map(|k| value_of(&r, k))
                .collect::<Vec<_>>()
                .join("|")
        );
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(r),
            None => groups.push((key, vec![r])),
        }
    }
    let mut rows: Vec<Row> = groups
        .into_iter()
        .filter_map(|(_, g)| build_row(g, &varying, &common))
        .collect();
    // Method, hierarchy, then the baseline's settings first; stable: ties keep the order of
    // their first run.
    rows.sort_by_key(|r| {
        let off_baseline = r
            .keys
            .iter()
            .filter(|(k, v)| *v != "-" && common.get(*k) != Some(v))
            .count();
        (
            method_rank(&r.method),
            r.aux_classes.unwrap_or(u64::MAX),
            off_baseline,
        )
    });
    let mut title = format!("{dataset} / {model}");
    if let Some(p) = primary_level {
        title += &format!(" / {p} primary classes");
    }
    Some(Table {
        slug: slug(&title),
        comparisons: comparisons(&rows),
        title,
        dataset,
        model,
        primary_level,
        varying,
        rows,
    })
}

/// What makes a table: data set, backbone, CIFAR-100 primary level.
type TableKey = (String, String, Option<u64>);

/// The tables of some complete runs.
pub fn tables(runs: &[Run]) -> Vec<Table> {
    let mut groups: Vec<(TableKey, Vec<Run>)> = Vec::new();
    for r in runs.iter().filter(|r| r.summary.is_some()) {
        let key = (
            r.text("dataset"),
            r.text("model"),
            r.setting("primary_level").and_then(Value::as_u64),
        );
        match groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, g)) => g.push(r.clone()),
            None => groups.push((key, vec![r.clone()])),
        }
    }
    groups.sort_by(|a, b| a.0.cmp(&b.0));
    groups
        .into_iter()
        .filter_map(|(_, g)| build_table(g))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(settings: Value, acc: f64) -> Run {
        Run {
            name: String::new(),
            settings: settings.as_object().unwrap().clone(),
            summary: Some(json!({
                "status": "complete", "final_test_acc": acc, "best_test_acc": acc + 1.0, "wall_s": 10.0
            })),
            metrics: vec![BTreeMap::from([("utilisation".to_string(), 100.0)])],
        }
    }

    #[test]
    fn rows_and_the_comparisons_of_interest() {
        let base = |method: &str, seed: u64, extra: Value| {
            let mut s = json!({"dataset": "cifar100", "model": "vgg16", "primary_level": 3,
                               "method": method, "seed": seed, "psi": [4, 3, 3],
                               "entropy_weight": 0.2});
            s.as_object_mut()
                .unwrap()
                .extend(extra.as_object().unwrap().clone());
            s
        };
        let mut runs = Vec::new();
        for seed in 0..3 {
            let f = seed as f64;
            runs.push(run(base("maxl", seed, json!({})), 90.0 + f));
            runs.push(run(
                base("maxl", seed, json!({"entropy_weight": 0.0})),
                89.0 + f,
            ));
            runs.push(run(base("random", seed, json!({})), 88.0 + f * f));
            runs.push(run(base("human", seed, json!({"aux_level": 10})), 90.5));
            runs.push(run(base("human", seed, json!({"aux_level": 20})), 91.0));
            runs.push(run(base("single", seed, json!({"psi": [3]})), 87.0));
            runs.push(run(base("maxl", seed, json!({"psi": [7, 7, 6]})), 92.0));
        }
        let t = tables(&runs);
        assert_eq!(t.len(), 1);
        let t = &t[0];
        assert_eq!(t.title, "cifar100 / vgg16 / 3 primary classes");
        assert_eq!(t.varying, ["entropy_weight"]);
        let labels: Vec<&str> = t.rows.iter().map(|r| r.label.as_str()).collect();
        // Labels name a setting only where it is not the baseline's (the most common).
        assert_eq!(
            labels,
            [
                "MAXL psi 4,3,3",
                "MAXL psi 4,3,3, entropy_weight 0.0",
                "MAXL psi 7,7,6",
                "Random psi 4,3,3",
                "Human level 10",
                "Human level 20",
                "Single",
            ]
        );
        let maxl = &t.rows[0];
        assert_eq!((maxl.final_test_acc.mean, maxl.final_test_acc.n), (91.0, 3));
        assert_eq!(maxl.best_test_acc.mean, 92.0);
        assert_eq!(maxl.utilisation.map(|u| u.mean), Some(100.0));
        assert!(
            t.rows[3].utilisation.is_none(),
            "random labels have no utilisation"
        );

        let pairs: Vec<(&str, &str)> = t
            .comparisons
            .iter()
            .map(|c| (c.a.as_str(), c.b.as_str()))
            .collect();
        // MAXL psi 4,3,3 (10 auxiliary classes) against: its entropy ablation, Random on the
        // same psi, Human on level 10 (not 20), Single. Not against MAXL psi 7,7,6. The
        // ablation against the same baselines: the entropy weight means nothing to them.
        let ablation = "MAXL psi 4,3,3, entropy_weight 0.0";
        assert_eq!(
            pairs,
            [
                ("MAXL psi 4,3,3", ablation),
                ("MAXL psi 4,3,3", "Random psi 4,3,3"),
                ("MAXL psi 4,3,3", "Human level 10"),
                ("MAXL psi 4,3,3", "Single"),
                (ablation, "Random psi 4,3,3"),
                (ablation, "Human level 10"),
                (ablation, "Single"),
                ("MAXL psi 7,7,6", "Human level 20"),
                ("MAXL psi 7,7,6", "Single"),
            ]
        );
        assert_eq!(t.rows[3].keys["entropy_weight"], "-");
        assert_eq!(t.rows[1].keys["entropy_weight"], "0.0");
        // MAXL - Random: differences 2, 2, 0 (90-88, 91-89, 92-92): mean 4/3, by hand.
        let c = &t.comparisons[1];
        assert_eq!(c.seeds, [0, 1, 2]);
        assert!((c.stats.mean_diff - 4.0 / 3.0).abs() < 1e-12);
        // sd: deviations 2/3, 2/3, -4/3 -> (4/9 + 4/9 + 16/9) / 2 = 4/3; se = sqrt(4/3 / 3) = 2/3.
        assert!((c.stats.se.unwrap() - 2.0 / 3.0).abs() < 1e-12);
        assert!((c.stats.t.unwrap() - 2.0).abs() < 1e-12);
    }
}
