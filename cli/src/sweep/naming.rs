//! Run folder names: the keys that a run's axes (or its `[[runs]]` entry) set, in a fixed
//! order, as `maxl_psi-3_seed-0`. Method, data set and model stand bare; other keys are
//! `key-value` with the key in kebab case; lists join with dots (`psi-4.3.3`). The same sweep
//! file always gives the same names, and adding a value to an axis renames nothing.

use toml::{Table, Value};

/// Keys written as their value alone, in this order, before all others.
const BARE: [&str; 3] = ["dataset", "model", "method"];
/// Keys that come next, in this order; the rest follow alphabetically, then `seed` last.
const EARLY: [&str; 3] = ["primary_level", "aux_level", "psi"];

fn rank(key: &str) -> (usize, &str) {
    if let Some(i) = BARE.iter().position(|k| *k == key) {
        (i, "")
    } else if let Some(i) = EARLY.iter().position(|k| *k == key) {
        (BARE.len() + i, "")
    } else if key == "seed" {
        (usize::MAX, "")
    } else {
        (BARE.len() + EARLY.len(), key)
    }
}

/// A value as folder-name text: letters, digits, `.`, `+` and `-` only.
fn value_text(v: &Value) -> String {
    let raw = match v {
        Value::String(s) => s.clone(),
        Value::Integer(i) => i.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Boolean(b) => b.to_string(),
        Value::Array(items) => items.iter().map(value_text).collect::<Vec<_>>().join("."),
        other => other.to_string(),
    };
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "+-".contains(c) {
                c
            } else {
                '.'
            }
        })
        .collect()
}

/// The name of a run that sets `keys` (beyond the shared settings); "run" if none.
pub fn run_name(keys: &Table) -> String {
    let mut named: Vec<(&String, &Value)> = keys.iter().collect();
    named.sort_by(|a, b| rank(a.0).cmp(&rank(b.0)));
    let parts: Vec<String> = named
        .into_iter()
        .map(|(k, v)| {
            if BARE.contains(&k.as_str()) {
                value_text(v)
            } else {
                format!("{}-{}", k.replace('_', "-"), value_text(v))
            }
        })
        .collect();
    if parts.is_empty() {
        "run".into()
    } else {
        parts.join("_")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &str) -> Table {
        s.parse().unwrap()
    }

    #[test]
    fn names_read_in_a_fixed_order() {
        assert_eq!(
            run_name(&keys("seed = 2\nmethod = \"maxl\"\npsi = 3")),
            "maxl_psi-3_seed-2"
        );
        assert_eq!(
            run_name(&keys(
                "seed = 0\nprimary_level = 3\naux_level = 10\nmethod = \"human\"\ndataset = \"cifar100\""
            )),
            "cifar100_human_primary-level-3_aux-level-10_seed-0"
        );
        assert_eq!(
            run_name(&keys(
                "psi = [4, 3, 3]\nmethod = \"maxl-fo\"\nentropy_weight = 0.0\ngen_lr = 1e-2"
            )),
            "maxl-fo_psi-4.3.3_entropy-weight-0_gen-lr-0.01"
        );
        assert_eq!(run_name(&keys("psi = \"4,3,3\"")), "psi-4.3.3");
        assert_eq!(run_name(&keys("data_dir = \"/d/x y\"")), "data-dir-.d.x.y");
        assert_eq!(run_name(&Table::new()), "run");
    }
}
