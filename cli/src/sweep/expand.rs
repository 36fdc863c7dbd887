//! A sweep file expanded into its runs: the grid (every combination of `[axes]`) and the extra
//! `[[runs]]`, each with its folder name and its keys; every key and every run is checked with
//! `train`'s rules before anything starts, and an error names the axis, entry or run.

use super::check;
use super::file::{Axis, SweepFile};
use super::naming::run_name;
use anyhow::{bail, Result};
use std::path::Path;
use toml::{Table, Value};

/// One run of the plan.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRun {
    /// Its folder's name under the sweep folder.
    pub name: String,
    /// Every key the sweep sets for it (the rest are `train`'s defaults).
    pub config: Table,
    /// Where in the file it comes from, for messages: "the grid" or "runs[2]".
    pub origin: String,
}

/// Every combination of the axes' values (the first axis outermost); an error if two axes set
/// the same key.
fn cross(axes: &[Axis], what: &str) -> Result<Vec<Table>> {
    for (i, a) in axes.iter().enumerate() {
        for b in &axes[i + 1..] {
            let keys = |x: &Axis| -> Vec<String> {
                x.values.iter().flat_map(|v| v.keys().cloned()).collect()
            };
            let (ka, kb) = (keys(a), keys(b));
            if let Some(k) = ka.iter().find(|k| kb.contains(k)) {
                bail!("{what}: axes '{}' and '{}' both set '{k}'", a.name, b.name);
            }
        }
    }
    let mut combos = vec![Table::new()];
    for axis in axes {
        combos = combos
            .iter()
            .flat_map(|partial| {
                axis.values.iter().map(move |v| {
                    let mut t = partial.clone();
                    t.extend(v.clone());
                    t
                })
            })
            .collect();
    }
    Ok(combos)
}

/// Checks each key of `t` alone, naming it and its value.
fn check_each(t: &Table, what: &str) -> Result<()> {
    for (k, v) in t {
        check::keys(
            &Table::from_iter([(k.clone(), v.clone())]),
            &format!("{what} {k} = {v}"),
        )?;
    }
    Ok(())
}

fn check_axes(axes: &[Axis], what: &str) -> Result<()> {
    for a in axes {
        for v in &a.values {
            check::keys(
                v,
                &format!("{what} axis '{}' value {}", a.name, value_text(v, &a.name)),
            )?;
        }
    }
    Ok(())
}

/// An axis value as written: `"maxl"` for a one-key value, else the table.
fn value_text(v: &Table, axis: &str) -> String {
    match v.get(axis) {
        Some(x) if v.len() == 1 => x.to_string(),
        _ => Value::Table(v.clone())
            .to_string()
            .trim()
            .replace('\n', ", "),
    }
}

/// A relative `data_dir` made absolute against `base` (runs start in other folders).
fn absolute_data_dir(config: &mut Table, base: &Path) {
    if let Some(Value::String(d)) = config.get("data_dir") {
        let p = Path::new(d);
        if p.is_relative() {
            let abs = base.join(p).to_string_lossy().into_owned();
            config.insert("data_dir".into(), Value::String(abs));
        }
    }
}

/// The runs of `f`, checked; `source` names the file in errors, `base` is the folder that a
/// relative `data_dir` is relative to.
pub fn expand(f: &SweepFile, source: &str, base: &Path) -> Result<Vec<PlannedRun>> {
    check_each(&f.settings, &format!("{source}: [settings]"))?;
    check_axes(&f.axes, &format!("{source}:"))?;
    let mut planned: Vec<(Table, Table, String)> = Vec::new();
    if !f.axes.is_empty() || f.runs.is_empty() {
        for combo in cross(&f.axes, &format!("{source}: [axes]"))? {
            planned.push((combo, Table::new(), "the grid".into()));
        }
    }
    for (i, extra) in f.runs.iter().enumerate() {
        let what = format!("{source}: runs[{i}]");
        check_each(&extra.keys, &what)?;
        check_axes(&extra.axes, &what)?;
        for combo in cross(&extra.axes, &what)? {
            if let Some(k) = combo.keys().find(|k| extra.keys.contains_key(*k)) {
                bail!("{what}: '{k}' is both a key of the entry and set by its axes");
            }
            planned.push((combo, extra.keys.clone(), format!("runs[{i}]")));
        }
    }

    let mut runs: Vec<PlannedRun> = Vec::new();
    for (combo, own, origin) in planned {
        let mut named = own.clone();
        named.extend(combo.clone());
        let name = run_name(&named);
        let mut config = f.settings.clone();
        config.extend(named);
        absolute_data_dir(&mut config, base);
        check::run(&config, &format!("{source}: run '{name}' ({origin})"))?;
        if let Some(same) = runs.iter().find(|r| r.name == name) {
            if same.config == config {
                bail!(
                    "{source}: run '{name}' is planned twice ({} and {origin})",
                    same.origin
                );
            }
            bail!(
                "{source}: {} and {origin} both give a run named '{name}' with other settings; \
                 set the differing key through an axis or the entry so the names differ",
                same.origin
            );
        }
        runs.push(PlannedRun {
            name,
            config,
            origin,
        });
    }
    Ok(runs)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(text: &str) -> Result<Vec<PlannedRun>> {
        expand(&SweepFile::parse(text, "s")?, "s.toml", Path::new("/base"))
    }

    #[test]
    fn grid_and_extra_runs() {
        let runs = plan(
            r#"
            [settings]
            dataset = "synthetic"
            epochs = 1
            data_dir = "rel"
            [axes]
            method = ["maxl", "random"]
            seed = [0, 1]
            [[runs]]
            method = "single"
            lr = 0.05
            axes = { seed = [0, 1] }
            "#,
        );
        // synthetic data with a data_dir is refused by train's checks: the run is named.
        let e = format!("{:#}", runs.unwrap_err());
        assert!(
            e.starts_with("s.toml: run 'maxl_seed-0' (the grid): synthetic data are generated"),
            "{e}"
        );

        let runs = plan(
            r#"
            [settings]
            dataset = "synthetic"
            [axes]
            method = ["maxl", "random"]
            seed = [0, 1]
            [[runs]]
            method = "single"
            lr = 0.05
            axes = { seed = [0, 1] }
            [[runs]]
            method = "maxl"
            seed = 7
            "#,
        )
        .unwrap();
        let names: Vec<&str> = runs.iter().map(|r| r.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "maxl_seed-0",
                "maxl_seed-1",
                "random_seed-0",
                "random_seed-1",
                "single_lr-0.05_seed-0",
                "single_lr-0.05_seed-1",
                "maxl_seed-7"
            ]
        );
        let single = &runs[5].config;
        assert_eq!(single["lr"], Value::Float(0.05));
        assert_eq!(single["seed"], Value::Integer(1));
        assert_eq!(single["dataset"], Value::String("synthetic".into()));
        assert_eq!(runs[5].origin, "runs[0]");
    }

    #[test]
    fn no_axes_is_one_run_and_data_dir_becomes_absolute() {
        let runs = plan("[settings]\ndataset = \"mnist\"\ndata_dir = \"d/mnist\"").unwrap();
        assert_eq!(runs.len(), 1);
        assert_eq!(runs[0].name, "run");
        assert_eq!(
            runs[0].config["data_dir"],
            Value::String("/base/d/mnist".into())
        );
    }

    #[test]
    fn linked_axis_values_set_several_keys() {
        let runs = plan(
            r#"
            [settings]
            dataset = "cifar100"
            data_dir = "/c"
            [axes]
            pair = [{ primary_level = 3, psi = "4,3,3" }, { primary_level = 20, psi = 5 }]
            "#,
        )
        .unwrap();
        assert_eq!(runs[0].name, "primary-level-3_psi-4.3.3");
        assert_eq!(runs[1].config["primary_level"], Value::Integer(20));
    }

    #[test]
    fn errors_name_the_axis_entry_or_run() {
        let cases = [
            (
                "[axes]\nmethod = [\"maxl\", \"magic\"]",
                "s.toml: axis 'method' value \"magic\": unknown method 'magic'",
            ),
            ("[axes]\nlr_typo = [1.0]", "unknown key 'lr_typo'"),
            (
                "[settings]\nepochs = \"ten\"",
                "s.toml: [settings] epochs = \"ten\"",
            ),
            (
                "[[runs]]\nbatch_size = -1",
                "s.toml: runs[0] batch_size = -1",
            ),
            (
                "[axes]\nmethod = [\"maxl\"]\naux_level = [20]",
                "run 'maxl_aux-level-20' (the grid): --aux-level applies to --method human only",
            ),
            (
                "[axes]\npsi = [2]\nboth = [{ psi = 3, seed = 1 }]",
                "axes 'both' and 'psi' both set 'psi'",
            ),
            (
                "[axes]\nseed = [1]\n[[runs]]\nseed = 1",
                "run 'seed-1' is planned twice (the grid and runs[0])",
            ),
            (
                "[[runs]]\nseed = 1\naxes = { seed = [2] }",
                "'seed' is both a key of the entry and set by its axes",
            ),
        ];
        for (text, want) in cases {
            let e = format!("{:#}", plan(text).unwrap_err());
            assert!(e.contains(want), "{text:?}: {e}");
            assert!(!e.contains('\n'), "one line: {e}");
        }
    }
}
