//! `maxl-cli bench ops-table --torch T.jsonl --ours O.jsonl [--png chart.png]`: the figures of
//! `benches/torch_ops.py` and `maxl-cli bench ops` (JSON lines) as Markdown tables with ratios
//! (ours / PyTorch; below 1 is faster than PyTorch): per op summed over its shapes, for each
//! order, then one row per (op, shape) for each order. With `--png`, a bar chart of the per-op
//! ratios at orders 1 and 2 ([`super::ops_chart`]). `benches/side_by_side.sh ops` runs both
//! benchmarks and this.

use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// One figure: (config, op, shape, order) and its level seconds (fwd, bwd, bwd2, bwd3), or
/// `None` where that implementation could not compute it.
#[derive(Clone, Debug)]
pub struct Figure {
    pub config: String,
    pub op: String,
    pub shape: String,
    pub order: usize,
    pub secs: Option<Vec<f64>>,
}

impl Figure {
    fn total(&self) -> Option<f64> {
        self.secs.as_ref().map(|s| s.iter().sum())
    }
}

/// The figures of a JSON-lines file (lines that are not figures, such as headers, are skipped).
pub fn read_figures(path: &Path) -> Result<Vec<Figure>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    parse_figures(&text).with_context(|| format!("in {}", path.display()))
}

/// The figures of JSON lines: objects with `op`, `config`, `shape` and `order`.
pub fn parse_figures(text: &str) -> Result<Vec<Figure>> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let Ok(v) = serde_json::from_str::<Value>(line.trim()) else {
            continue;
        };
        let (Some(op), Some(config), Some(shape), Some(order)) = (
            v["op"].as_str(),
            v["config"].as_str(),
            v["shape"].as_str(),
            v["order"].as_u64(),
        ) else {
            continue;
        };
        let order = order as usize;
        let secs = if v.get("error").is_some() {
            None
        } else {
            let keys = (0..=order).map(|l| match l {
                0 => "fwd_s".to_string(),
                1 => "bwd_s".to_string(),
                l => format!("bwd{l}_s"),
            });
            let s = keys.map(|k| v[&k].as_f64()).collect::<Option<Vec<f64>>>();
            if s.is_none() {
                bail!(
                    "line {}: a figure of order {order} without its level times",
                    i + 1
                );
            }
            s
        };
        out.push(Figure {
            config: config.to_string(),
            op: op.to_string(),
            shape: shape.to_string(),
            order,
            secs,
        });
    }
    Ok(out)
}

/// Where a figure belongs: ops and shapes are ordered by first appearance, so that tables
/// keep the benchmarks' order.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Key {
    pub config: String,
    op_pos: usize,
    pub op: String,
    shape_pos: usize,
    pub shape: String,
    pub order: usize,
}

fn key(f: &Figure, ops: &[String], shapes: &[String]) -> Key {
    let pos = |v: &[String], s: &str| v.iter().position(|o| o == s).unwrap_or(usize::MAX);
    Key {
        config: f.config.clone(),
        op_pos: pos(ops, &f.op),
        op: f.op.clone(),
        shape_pos: pos(shapes, &f.shape),
        shape: f.shape.clone(),
        order: f.order,
    }
}

/// Ours and PyTorch's figures side by side.
pub struct Pairs {
    pub rows: BTreeMap<Key, (Option<Figure>, Option<Figure>)>,
    pub orders: Vec<usize>,
}

pub fn pair(ours: &[Figure], torch: &[Figure]) -> Pairs {
    let (mut ops, mut shapes): (Vec<String>, Vec<String>) = (Vec::new(), Vec::new());
    for f in ours.iter().chain(torch) {
        if !ops.contains(&f.op) {
            ops.push(f.op.clone());
        }
        if !shapes.contains(&f.shape) {
            shapes.push(f.shape.clone());
        }
    }
    let mut rows: BTreeMap<Key, (Option<Figure>, Option<Figure>)> = BTreeMap::new();
    for f in ours {
        rows.entry(key(f, &ops, &shapes)).or_default().0 = Some(f.clone());
    }
    for f in torch {
        rows.entry(key(f, &ops, &shapes)).or_default().1 = Some(f.clone());
    }
    let mut orders: Vec<usize> = rows.keys().map(|k| k.order).collect();
    orders.sort_unstable();
    orders.dedup();
    Pairs { rows, orders }
}

/// Per (config, op) at `order`: the summed total seconds of the shapes both sides have.
pub fn per_op(p: &Pairs, order: usize) -> Vec<(String, String, f64, f64)> {
    let mut acc: Vec<(String, String, f64, f64)> = Vec::new();
    for (k, (o, t)) in &p.rows {
        if k.order != order {
            continue;
        }
        let (Some(o), Some(t)) = (
            o.as_ref().and_then(Figure::total),
            t.as_ref().and_then(Figure::total),
        ) else {
            continue;
        };
        match acc.iter_mut().find(|a| a.0 == k.config && a.1 == k.op) {
            Some(a) => {
                a.2 += o;
                a.3 += t;
            }
            None => acc.push((k.config.clone(), k.op.clone(), o, t)),
        }
    }
    acc
}

fn ms(s: f64) -> String {
    let m = s * 1e3;
    if m >= 100.0 {
        format!("{m:.0}")
    } else if m >= 10.0 {
        format!("{m:.1}")
    } else if m >= 1.0 {
        format!("{m:.2}")
    } else {
        format!("{m:.3}")
    }
}

fn ratio(o: f64, t: f64) -> String {
    if t > 0.0 {
        format!("{:.2}", o / t)
    } else {
        "-".into()
    }
}

/// The Markdown tables (see the module doc).
pub fn markdown(p: &Pairs) -> String {
    let mut s = String::new();
    let orders = &p.orders;
    let _ = writeln!(
        s,
        "Per op, summed over its shapes: total ms of one chain (forward + each backward), ours / PyTorch (ratio)\n"
    );
    let head: Vec<String> = orders.iter().map(|o| format!("order {o}")).collect();
    let _ = writeln!(s, "| config | op | {} |", head.join(" | "));
    let _ = writeln!(s, "| --- | --- |{}", " --- |".repeat(orders.len()));
    let tables: Vec<_> = orders.iter().map(|&o| per_op(p, o)).collect();
    let mut names: Vec<(String, String)> = Vec::new();
    for t in &tables {
        for r in t {
            if !names.contains(&(r.0.clone(), r.1.clone())) {
                names.push((r.0.clone(), r.1.clone()));
            }
        }
    }
    for (config, op) in &names {
        let cells: Vec<String> = tables
            .iter()
            .map(|t| match t.iter().find(|r| r.0 == *config && r.1 == *op) {
                Some(r) => format!("{} / {} ({})", ms(r.2), ms(r.3), ratio(r.2, r.3)),
                None => "-".into(),
            })
            .collect();
        let _ = writeln!(s, "| {config} | {op} | {} |", cells.join(" | "));
    }
    for &order in orders {
        let levels: Vec<String> = (0..=order)
            .map(|l| match l {
                0 => "fwd ms".to_string(),
                1 => "bwd ms".to_string(),
                l => format!("bwd{l} ms"),
            })
            .collect();
        let _ = writeln!(
            s,
            "\nOrder {order}, per shape: ms ours / PyTorch, and the ratio of the totals\n"
        );
        let _ = writeln!(
            s,
            "| config | op | shape | {} | total ratio |",
            levels.join(" | ")
        );
        let _ = writeln!(
            s,
            "| --- | --- | --- |{} --- |",
            " --- |".repeat(levels.len())
        );
        for (k, (o, t)) in p.rows.iter().filter(|(k, _)| k.order == order) {
            let os = o.as_ref().and_then(|f| f.secs.clone());
            let ts = t.as_ref().and_then(|f| f.secs.clone());
            let cells: Vec<String> = (0..=order)
                .map(|l| {
                    let a = os.as_ref().map_or("-".into(), |v| ms(v[l]));
                    let b = ts.as_ref().map_or("-".into(), |v| ms(v[l]));
                    format!("{a} / {b}")
                })
                .collect();
            let r = match (os, ts) {
                (Some(a), Some(b)) => ratio(a.iter().sum(), b.iter().sum()),
                _ => "-".into(),
            };
            let _ = writeln!(
                s,
                "| {} | {} | {} | {} | {r} |",
                k.config,
                k.op,
                k.shape,
                cells.join(" | ")
            );
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    const OURS: &str = r#"{"op":"conv2d","config":"b1","shape":"2x1x4x4","order":1,"fwd_s":0.002,"bwd_s":0.004}
{"op":"conv2d","config":"b1","shape":"2x1x4x4","order":2,"fwd_s":0.002,"bwd_s":0.004,"bwd2_s":0.01}
{"op":"relu","config":"b1","shape":"2x3","order":2,"fwd_s":0.001,"bwd_s":0.001,"bwd2_s":0.001}
not json"#;
    const TORCH: &str = r#"{"op":"conv2d","config":"b1","shape":"2x1x4x4","order":1,"fwd_s":0.001,"bwd_s":0.002}
{"op":"conv2d","config":"b1","shape":"2x1x4x4","order":2,"fwd_s":0.001,"bwd_s":0.002,"bwd2_s":0.005}
{"op":"relu","config":"b1","shape":"2x3","order":2,"error":"no"}"#;

    #[test]
    fn tables_pair_figures_and_give_ratios() {
        let p = pair(
            &parse_figures(OURS).unwrap(),
            &parse_figures(TORCH).unwrap(),
        );
        assert_eq!(p.orders, [1, 2]);
        let o2 = per_op(&p, 2);
        // relu has no PyTorch figure at order 2: only conv2d is summed.
        assert_eq!(o2.len(), 1);
        assert!((o2[0].2 - 0.016).abs() < 1e-12 && (o2[0].3 - 0.008).abs() < 1e-12);
        let md = markdown(&p);
        assert!(
            md.contains("| b1 | conv2d | 6.00 / 3.00 (2.00) | 16.0 / 8.00 (2.00) |"),
            "{md}"
        );
        assert!(
            md.contains("| b1 | relu | 2x3 | 1.00 / - | 1.00 / - | 1.00 / - | - |"),
            "{md}"
        );
    }

    #[test]
    fn a_figure_without_its_levels_is_an_error() {
        let bad = r#"{"op":"relu","config":"b1","shape":"2","order":2,"fwd_s":1,"bwd_s":1}"#;
        assert!(parse_figures(bad).is_err());
    }
}
