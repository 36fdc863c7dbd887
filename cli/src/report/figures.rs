//! The report's figures (PNG, plotters): per table, one figure per per-epoch metric, one line
//! per row (mean over seeds, with a +-std band): test accuracy as the paper's Figure 3,
//! gradient cosine similarity as its Figure 4, label utilisation, and any other numeric key
//! that metrics.jsonl gains. Where a table holds several hierarchies with more than one
//! method each, each hierarchy gets its own panel (single-task in all), as in Figure 3. The
//! label generator's diagnostics (MAXL runs) share one figure, a panel each.

use super::tables::{Row, Table};
use crate::visualize::draw::{has_font, write_png, FAMILY};
use anyhow::{anyhow, Result};
use plotters::prelude::*;
use std::path::{Path, PathBuf};

const PANEL_W: u32 = 560;
const PANEL_H: u32 = 420;
const PER_LINE: usize = 3;

/// Per-epoch keys that are not plotted on their own (losses and timings are in curves.png
/// of each run), besides the three named figures.
const NOT_PLOTTED: [&str; 11] = [
    "epoch",
    "lr",
    "train_loss",
    "train_acc",
    "test_loss",
    "meta_loss_before",
    "meta_acc_before",
    "meta_loss_after",
    "meta_acc_after",
    "pass1_s",
    "pass2_s",
];

/// The label generator's diagnostics (keys of MAXL runs' metrics.jsonl) with their titles, in
/// the order of their figure's panels.
const DIAGNOSTICS: [(&str, &str); 6] = [
    ("label_change", "labels changed since the last epoch (%)"),
    ("gen_label_entropy", "entropy of the mean label (nats)"),
    (
        "gen_distance",
        "theta2's distance from its start (relative)",
    ),
    ("gen_grad_primary", "theta2 gradient norm, primary part"),
    ("gen_grad_entropy", "theta2 gradient norm, entropy part"),
    (
        "meta_acc_gain",
        "meta accuracy gain of the virtual step (points)",
    ),
];

/// Colours of the rows (matplotlib's tab10).
const COLORS: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// A figure of one metric.
struct Metric {
    key: String,
    title: String,
    /// Which rows have it.
    rows: fn(&Row) -> bool,
}

fn metrics_of(table: &Table) -> Vec<Metric> {
    let mut out = vec![
        Metric {
            key: "test_acc".into(),
            title: "test accuracy (%)".into(),
            rows: |_| true,
        },
        Metric {
            key: "cosine".into(),
            title: "gradient cosine similarity (primary vs auxiliary)".into(),
            rows: |r| r.method != "single",
        },
        Metric {
            key: "utilisation".into(),
            title: "auxiliary classes in use (%)".into(),
            rows: |r| r.utilisation.is_some(),
        },
    ];
    let mut extra: Vec<String> = table
        .rows
        .iter()
        .flat_map(|r| r.runs.iter())
        .flat_map(|run| run.metrics.iter().flat_map(|m| m.keys().cloned()))
        .filter(|k| !NOT_PLOTTED.contains(&k.as_str()) && !out.iter().any(|m| m.key == *k))
        .filter(|k| !DIAGNOSTICS.iter().any(|(d, _)| d == k))
        .collect();
    extra.sort();
    extra.dedup();
    out.extend(extra.into_iter().map(|k| Metric {
        title: k.replace('_', " "),
        key: k,
        rows: |_| true,
    }));
    out
}

/// A row's curve: per epoch, the mean and std over its runs that have the value.
fn curve(row: &Row, key: &str) -> Vec<(f64, f64, f64)> {
    let epochs = row.runs.iter().map(|r| r.metrics.len()).max().unwrap_or(0);
    (0..epochs)
        .filter_map(|e| {
            let xs: Vec<f64> = row
                .runs
                .iter()
                .filter_map(|r| r.metrics.get(e).and_then(|m| m.get(key)).copied())
                .filter(|v| v.is_finite())
                .collect();
            let s = super::stats::summary(&xs)?;
            Some(((e + 1) as f64, s.mean, s.std.unwrap_or(0.0)))
        })
        .collect()
}

/// A panel: its title and the rows (index into the table's rows) it draws.
struct Panel {
    title: String,
    rows: Vec<usize>,
}

fn panels(table: &Table, rows: &[usize]) -> Vec<Panel> {
    let key = |r: &Row| match r.aux_classes {
        Some(n) => format!("{n} auxiliary classes"),
        None => format!("psi {}", r.hierarchy),
    };
    let mut groups: Vec<(String, Vec<usize>)> = Vec::new();
    let (single, others): (Vec<usize>, Vec<usize>) = rows
        .iter()
        .partition(|i| table.rows[**i].method == "single");
    for &i in &others {
        let k = key(&table.rows[i]);
        match groups.iter_mut().find(|(g, _)| *g == k) {
            Some((_, g)) => g.push(i),
            None => groups.push((k, vec![i])),
        }
    }
    if groups.len() > 1 && groups.iter().any(|(_, g)| g.len() > 1) {
        groups.sort_by_key(|(_, g)| table.rows[g[0]].aux_classes);
        return groups
            .into_iter()
            .map(|(title, mut g)| {
                g.extend(&single);
                Panel { title, rows: g }
            })
            .collect();
    }
    vec![Panel {
        title: table.title.clone(),
        rows: rows.to_vec(),
    }]
}

type Curves = Vec<(usize, Vec<(f64, f64, f64)>)>;

/// A colour per row: one per method and setting, the same in every panel (MAXL is one
/// colour whatever its psi), as in the paper's figures.
fn row_colors(table: &Table) -> Vec<RGBColor> {
    let mut seen: Vec<String> = Vec::new();
    table
        .rows
        .iter()
        .map(|r| {
            let id = format!("{}|{:?}", r.method, r.keys);
            let i = seen.iter().position(|s| *s == id).unwrap_or_else(|| {
                seen.push(id);
                seen.len() - 1
            });
            COLORS[i % COLORS.len()]
        })
        .collect()
}

/// Draws `panels`, each with its y-axis title; `name` names the figure in errors.
fn draw(
    table: &Table,
    name: &str,
    panels: &[(Panel, Curves, String)],
    text: bool,
) -> Result<(u32, u32, Vec<u8>)> {
    let cols = panels.len().min(PER_LINE);
    let lines = panels.len().div_ceil(PER_LINE);
    let (w, h) = (PANEL_W * cols as u32, PANEL_H * lines as u32);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let e = |x: &dyn std::fmt::Display| anyhow!("drawing {} {name}: {x}", table.slug);
    let colors = row_colors(table);
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let areas = root.split_evenly((lines, cols));
        for (area, (panel, curves, y_title)) in areas.iter().zip(panels) {
            let points = curves.iter().flat_map(|(_, c)| c.iter());
            let last = points.clone().map(|p| p.0).fold(1.0, f64::max).max(2.0);
            let (lo, hi) = points.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), p| {
                (lo.min(p.1 - p.2), hi.max(p.1 + p.2))
            });
            let (lo, hi) = if lo > hi { (0.0, 1.0) } else { (lo, hi) };
            let pad = if hi > lo { 0.05 * (hi - lo) } else { 1.0 };
            let mut b = ChartBuilder::on(area);
            b.margin(12);
            if text {
                b.caption(&panel.title, (FAMILY, 17))
                    .x_label_area_size(32)
                    .y_label_area_size(52);
            }
            let mut chart = b
                .build_cartesian_2d(1.0..last, (lo - pad)..(hi + pad))
                .map_err(|x| e(&x))?;
            let mut mesh = chart.configure_mesh();
            if text {
                mesh.x_desc("epoch")
                    .y_desc(y_title)
                    .x_labels((last as usize).min(10))
                    .x_label_formatter(&|x| format!("{x:.0}"))
                    .label_style((FAMILY, 13));
            } else {
                mesh.x_labels(0).y_labels(0);
            }
            mesh.draw().map_err(|x| e(&x))?;
            for (row, c) in curves {
                let color = colors[*row];
                let mut band: Vec<(f64, f64)> = c.iter().map(|p| (p.0, p.1 + p.2)).collect();
                band.extend(c.iter().rev().map(|p| (p.0, p.1 - p.2)));
                chart
                    .draw_series(std::iter::once(Polygon::new(
                        band,
                        color.mix(0.18).filled(),
                    )))
                    .map_err(|x| e(&x))?;
                let line = c.iter().map(|p| (p.0, p.1));
                let drawn = chart
                    .draw_series(LineSeries::new(line, color.stroke_width(2)).point_size(2))
                    .map_err(|x| e(&x))?;
                if text {
                    drawn
                        .label(table.rows[*row].label.clone())
                        .legend(move |(x, y)| {
                            PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
                        });
                }
            }
            if text {
                // The legend where the curves end away from it.
                let ends: Vec<f64> = curves
                    .iter()
                    .filter_map(|(_, c)| c.last())
                    .map(|p| p.1)
                    .collect();
                let end = ends.iter().sum::<f64>() / ends.len().max(1) as f64;
                let corner = if end > (lo + hi) / 2.0 {
                    SeriesLabelPosition::LowerRight
                } else {
                    SeriesLabelPosition::UpperRight
                };
                chart
                    .configure_series_labels()
                    .position(corner)
                    .label_font((FAMILY, 12))
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|x| e(&x))?;
            }
        }
        root.present().map_err(|x| e(&x))?;
    }
    Ok((w, h, buf))
}

/// A row's curve of `key`, with the row, if it has one.
fn curves_of(table: &Table, rows: &[usize], key: &str) -> Curves {
    rows.iter()
        .map(|i| (*i, curve(&table.rows[*i], key)))
        .filter(|(_, c)| !c.is_empty())
        .collect()
}

/// The diagnostics figure's panels: one per diagnostic some row has, every row in each.
fn diagnostics_panels(table: &Table) -> Vec<(Panel, Curves, String)> {
    let rows: Vec<usize> = (0..table.rows.len()).collect();
    DIAGNOSTICS
        .iter()
        .map(|(key, title)| {
            let panel = Panel {
                title: title.to_string(),
                rows: rows.clone(),
            };
            (panel, curves_of(table, &rows, key), String::new())
        })
        .filter(|(_, c, _)| !c.is_empty())
        .collect()
}

/// Writes the figures of `table` into `dir`; (caption, path) of each.
pub fn write(table: &Table, dir: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    let mut save = |name: &str, caption: String, panels: &[(Panel, Curves, String)]| {
        let (w, h, rgb) = draw(table, name, panels, has_font())?;
        std::fs::create_dir_all(dir)?;
        let path = dir.join(format!("{}-{name}.png", table.slug));
        write_png(&path, w, h, rgb)?;
        out.push((caption, path));
        Ok::<(), anyhow::Error>(())
    };
    for metric in metrics_of(table) {
        let rows: Vec<usize> = (0..table.rows.len())
            .filter(|i| (metric.rows)(&table.rows[*i]))
            .collect();
        let panels: Vec<(Panel, Curves, String)> = panels(table, &rows)
            .into_iter()
            .map(|p| {
                let curves = curves_of(table, &p.rows, &metric.key);
                (p, curves, metric.title.clone())
            })
            .filter(|(_, c, _)| !c.is_empty())
            .collect();
        if panels.is_empty() {
            continue;
        }
        save(&metric.key.replace('_', "-"), metric.title.clone(), &panels)?;
    }
    let diagnostics = diagnostics_panels(table);
    if !diagnostics.is_empty() {
        let caption = "the label generator's diagnostics (MAXL runs)".to_string();
        save("generator-diagnostics", caption, &diagnostics)?;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::runs::Run;
    use super::super::tables::tables;
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn run(method: &str, psi: u64, seed: u64) -> Run {
        let settings = json!({"dataset": "cifar100", "model": "vgg16", "primary_level": 10,
                              "method": method, "psi": [psi], "seed": seed});
        Run {
            name: format!("{method}-{psi}-{seed}"),
            settings: settings.as_object().unwrap().clone(),
            summary: Some(json!({"status": "complete", "final_test_acc": 50.0,
                                 "best_test_acc": 50.0, "wall_s": 1.0})),
            metrics: (1..=3)
                .map(|e| BTreeMap::from([("test_acc".to_string(), 40.0 + e as f64 + seed as f64)]))
                .collect(),
        }
    }

    #[test]
    fn one_panel_per_hierarchy_when_methods_share_one() {
        // Figure 3's shape: MAXL and Random on 20 and 100 auxiliary classes, plus Single.
        let mut runs = Vec::new();
        for seed in 0..2 {
            for (m, psi) in [("maxl", 2), ("random", 2), ("maxl", 10), ("random", 10)] {
                runs.push(run(m, psi, seed));
            }
            runs.push(run("single", 3, seed));
        }
        let t = &tables(&runs)[0];
        let all: Vec<usize> = (0..t.rows.len()).collect();
        let p = panels(t, &all);
        let titles: Vec<&str> = p.iter().map(|p| p.title.as_str()).collect();
        assert_eq!(titles, ["20 auxiliary classes", "100 auxiliary classes"]);
        let single = t.rows.iter().position(|r| r.method == "single").unwrap();
        assert!(p
            .iter()
            .all(|p| p.rows.len() == 3 && p.rows.contains(&single)));

        // Table 1's shape: one MAXL row per psi and Single: one panel.
        let t1: Vec<Run> = runs
            .iter()
            .filter(|r| r.text("method") != "random")
            .cloned()
            .collect();
        let t = &tables(&t1)[0];
        assert_eq!(panels(t, &(0..t.rows.len()).collect::<Vec<_>>()).len(), 1);

        // The curve: per epoch, mean and std over seeds (40 + e + seed for seeds 0 and 1).
        let c = curve(&t.rows[0], "test_acc");
        assert_eq!(c.len(), 3);
        assert_eq!((c[0].0, c[0].1), (1.0, 41.5));
        assert!((c[0].2 - std::f64::consts::FRAC_1_SQRT_2).abs() < 1e-12);
    }

    #[test]
    fn the_generator_diagnostics_share_one_figure() {
        let mut runs = Vec::new();
        for seed in 0..2 {
            let mut maxl = run("maxl", 2, seed);
            for (e, m) in maxl.metrics.iter_mut().enumerate() {
                m.insert("gen_distance".into(), 0.01 * e as f64);
                m.insert("meta_acc_gain".into(), 2.0);
                if e > 0 {
                    m.insert("label_change".into(), 5.0 + seed as f64);
                }
                m.insert("other_key".into(), 1.0);
            }
            runs.push(maxl);
            runs.push(run("random", 2, seed));
        }
        let t = &tables(&runs)[0];
        let keys: Vec<String> = metrics_of(t).into_iter().map(|m| m.key).collect();
        assert_eq!(keys, ["test_acc", "cosine", "utilisation", "other_key"]);
        let panels = diagnostics_panels(t);
        let titles: Vec<&str> = panels.iter().map(|p| p.0.title.as_str()).collect();
        assert_eq!(
            titles,
            [
                "labels changed since the last epoch (%)",
                "theta2's distance from its start (relative)",
                "meta accuracy gain of the virtual step (points)",
            ],
            "in DIAGNOSTICS' order, only those some row has"
        );
        let maxl = t.rows.iter().position(|r| r.method == "maxl").unwrap();
        for (_, curves, _) in &panels {
            assert_eq!(curves.len(), 1, "the MAXL row alone has them");
            assert_eq!(curves[0].0, maxl);
        }
        // label_change from epoch 2 on, mean 5.5 over the seeds.
        let c = &panels[0].1[0].1;
        assert_eq!((c.len(), c[0].0, c[0].1), (2, 2.0, 5.5));

        let dir = std::env::temp_dir().join(format!("maxl-report-diag-{}", std::process::id()));
        let written = write(t, &dir).unwrap();
        let names: Vec<String> = written
            .iter()
            .map(|(_, p)| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        let _ = std::fs::remove_dir_all(&dir);
        assert_eq!(
            names.last().map(String::as_str),
            Some("cifar100-vgg16-10-primary-classes-generator-diagnostics.png")
        );
        assert!(
            !names.iter().any(|n| n.contains("gen-distance")),
            "{names:?}"
        );
    }
}
