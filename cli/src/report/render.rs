//! The report as text: Markdown (tables, paired comparisons, figures), JSON (everything, for
//! scripts) and CSV (one line per row; the comparisons in a second file).

use super::contents::Report;
use super::stats::Summary;
use super::tables::Table;
use std::fmt::Write;
use std::path::PathBuf;

fn mean_std(s: &Summary) -> String {
    match s.std {
        Some(sd) => format!("{:.2} ± {:.2}", s.mean, sd),
        None => format!("{:.2}", s.mean),
    }
}

/// Seconds as people read them.
pub fn duration(s: f64) -> String {
    if s < 120.0 {
        format!("{s:.1} s")
    } else if s < 7200.0 {
        format!("{:.1} min", s / 60.0)
    } else {
        format!("{:.1} h", s / 3600.0)
    }
}

fn opt(v: Option<f64>, digits: usize) -> String {
    v.filter(|x| x.is_finite())
        .map_or("-".into(), |x| format!("{x:.digits$}"))
}

fn table_md(t: &Table, figures: &[(String, PathBuf)], base: &std::path::Path) -> String {
    let mut s = format!("## {}\n\n", t.title);
    let util = t.rows.iter().any(|r| r.utilisation.is_some());
    let mut head = vec!["method".to_string(), "psi".to_string()];
    head.extend(t.varying.iter().cloned());
    head.extend(
        ["final test acc (%)", "n", "best-epoch acc (%)", "wall time"]
            .iter()
            .map(|h| h.to_string()),
    );
    if util {
        head.push("classes in use (%)".into());
    }
    let _ = writeln!(s, "| {} |", head.join(" | "));
    let _ = writeln!(s, "|{}", "---|".repeat(head.len()));
    for r in &t.rows {
        let mut cells = vec![super::tables::method_label(&r.method), r.hierarchy.clone()];
        cells.extend(
            t.varying
                .iter()
                .map(|k| r.keys.get(k).cloned().unwrap_or_default()),
        );
        cells.push(mean_std(&r.final_test_acc));
        cells.push(r.final_test_acc.n.to_string());
        cells.push(mean_std(&r.best_test_acc));
        cells.push(duration(r.wall_s.mean));
        if util {
            cells.push(
                r.utilisation
                    .map_or("-".into(), |u| format!("{:.1}", u.mean)),
            );
        }
        let _ = writeln!(s, "| {} |", cells.join(" | "));
    }
    if !t.comparisons.is_empty() {
        s += "\nPaired over the seeds both rows ran (final test accuracy, percentage points):\n\n";
        s += "| comparison | seeds | mean difference | std. error | t (df) |\n|---|---|---|---|---|\n";
        for c in &t.comparisons {
            let p = &c.stats;
            let t_df = match p.t {
                Some(t) => format!("{t:.2} ({})", p.df),
                None => "-".into(),
            };
            let _ = writeln!(
                s,
                "| {} - {} | {} | {:+.2} | {} | {} |",
                c.a,
                c.b,
                p.n,
                p.mean_diff,
                opt(p.se, 2),
                t_df
            );
        }
    }
    for (caption, path) in figures {
        let rel = path.strip_prefix(base).unwrap_or(path);
        let _ = write!(s, "\n![{caption}]({})\n", rel.display());
    }
    s + "\n"
}

/// report.md.
pub fn markdown(r: &Report, figures: &[Vec<(String, PathBuf)>], base: &std::path::Path) -> String {
    let counts = match r.incomplete.len() {
        0 => format!("{} runs, all complete.", r.runs),
        n => format!(
            "{} runs: {} complete, {n} not (left out of the tables).",
            r.runs, r.complete
        ),
    };
    let mut s = format!(
        "# Report: {}\n\n{counts} Mean ± sample standard deviation over seeds; n = seeds; wall \
         time = training time per run.\n\n",
        r.folder,
    );
    for (i, t) in r.tables.iter().enumerate() {
        s += &table_md(t, figures.get(i).map_or(&[][..], |f| &f[..]), base);
    }
    if !r.incomplete.is_empty() {
        s += "## Runs not complete\n\n";
        for i in &r.incomplete {
            let of = i.epochs.map_or(String::new(), |e| format!(" of {e}"));
            let _ = writeln!(s, "- {}: {} epochs{of} done", i.name, i.epochs_done);
        }
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn csv_line(fields: &[String]) -> String {
    fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",")
        + "\n"
}

fn seeds(s: &[u64]) -> String {
    s.iter().map(u64::to_string).collect::<Vec<_>>().join(" ")
}

/// report.csv (rows) and report-comparisons.csv.
pub fn csv(r: &Report) -> (String, String) {
    let mut rows = csv_line(
        &[
            "table",
            "dataset",
            "model",
            "primary_level",
            "method",
            "psi",
            "settings",
            "n",
            "seeds",
            "final_test_acc_mean",
            "final_test_acc_std",
            "best_test_acc_mean",
            "best_test_acc_std",
            "wall_s_mean",
            "utilisation_mean",
        ]
        .map(String::from),
    );
    let mut comps = csv_line(
        &[
            "table",
            "a",
            "b",
            "n",
            "seeds",
            "mean_diff",
            "se",
            "t",
            "df",
        ]
        .map(String::from),
    );
    for t in &r.tables {
        let level = t.primary_level.map_or(String::new(), |l| l.to_string());
        for row in &t.rows {
            let settings: Vec<String> = row.keys.iter().map(|(k, v)| format!("{k}={v}")).collect();
            rows += &csv_line(&[
                t.title.clone(),
                t.dataset.clone(),
                t.model.clone(),
                level.clone(),
                row.method.clone(),
                row.hierarchy.clone(),
                settings.join(";"),
                row.final_test_acc.n.to_string(),
                seeds(&row.seeds),
                row.final_test_acc.mean.to_string(),
                opt(row.final_test_acc.std, 6),
                row.best_test_acc.mean.to_string(),
                opt(row.best_test_acc.std, 6),
                row.wall_s.mean.to_string(),
                row.utilisation
                    .map_or(String::new(), |u| u.mean.to_string()),
            ]);
        }
        for c in &t.comparisons {
            comps += &csv_line(&[
                t.title.clone(),
                c.a.clone(),
                c.b.clone(),
                c.stats.n.to_string(),
                seeds(&c.seeds),
                c.stats.mean_diff.to_string(),
                opt(c.stats.se, 6),
                opt(c.stats.t, 6),
                c.stats.df.to_string(),
            ]);
        }
    }
    (rows, comps)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_csv_quoting() {
        assert_eq!(duration(12.34), "12.3 s");
        assert_eq!(duration(600.0), "10.0 min");
        assert_eq!(duration(36000.0), "10.0 h");
        assert_eq!(csv_field("MAXL psi 4,3,3"), "\"MAXL psi 4,3,3\"");
        assert_eq!(csv_field("a\"b"), "\"a\"\"b\"");
        assert_eq!(csv_field("plain"), "plain");
    }
}
