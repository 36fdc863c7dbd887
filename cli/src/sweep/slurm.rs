//! `--slurm`: the sweep as one Slurm array job. `sweep.sbatch` in the sweep folder has one
//! array task per unfinished run, each `maxl-cli sweep DIR --task $SLURM_ARRAY_TASK_ID`, with
//! Slurm's output under `slurm-logs/`; `sbatch --parsable` submits it and its job id is
//! printed.

use anyhow::{anyhow, bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

pub const SCRIPT: &str = "sweep.sbatch";
pub const LOGS: &str = "slurm-logs";

/// The resources each array task asks for.
#[derive(Debug, Clone, Default)]
pub struct Resources {
    pub partition: Option<String>,
    pub time: Option<String>,
    pub cpus_per_task: Option<usize>,
    pub gpus_per_task: Option<usize>,
}

/// A word for a shell script: single-quoted unless plainly safe.
fn quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+=:,%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// Indices as Slurm's array list: "0-3,5,7-9".
pub fn array_list(indices: &[usize]) -> String {
    let mut parts = Vec::new();
    let mut i = 0;
    while i < indices.len() {
        let start = indices[i];
        let mut end = start;
        while i + 1 < indices.len() && indices[i + 1] == end + 1 {
            i += 1;
            end = indices[i];
        }
        parts.push(if start == end {
            start.to_string()
        } else {
            format!("{start}-{end}")
        });
        i += 1;
    }
    parts.join(",")
}

/// A job name Slurm shows whole: letters, digits, `-`, `_`, `.`.
fn job_name(name: &str) -> String {
    let clean: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '-'
            }
        })
        .collect();
    format!("maxl-{clean}")
}

/// The text of the sbatch script.
pub fn script(
    exe: &Path,
    dir: &Path,
    name: &str,
    indices: &[usize],
    r: &Resources,
) -> Result<String> {
    let path = |p: &Path| -> Result<String> {
        p.to_str()
            .map(quote)
            .ok_or_else(|| anyhow!("{} is not valid UTF-8", p.display()))
    };
    let mut s = String::from("#!/bin/bash\n");
    s += "# maxl-cli sweep: one array task per unfinished run of plan.jsonl.\n";
    s += "# Written by maxl-cli sweep --slurm; resubmitting the sweep writes it anew.\n";
    s += &format!("#SBATCH --job-name={}\n", job_name(name));
    s += &format!("#SBATCH --array={}\n", array_list(indices));
    s += &format!(
        "#SBATCH --output={}\n",
        path(&dir.join(LOGS).join("%A_%a.out"))?
    );
    if let Some(p) = &r.partition {
        s += &format!("#SBATCH --partition={}\n", quote(p));
    }
    if let Some(t) = &r.time {
        s += &format!("#SBATCH --time={}\n", quote(t));
    }
    if let Some(c) = r.cpus_per_task {
        s += &format!("#SBATCH --cpus-per-task={c}\n");
    }
    if let Some(g) = r.gpus_per_task {
        s += &format!("#SBATCH --gpus-per-task={g}\n");
    }
    s += &format!(
        "exec {} sweep {} --task \"$SLURM_ARRAY_TASK_ID\" --threads \"${{SLURM_CPUS_PER_TASK:-1}}\"\n",
        path(exe)?,
        path(dir)?
    );
    Ok(s)
}

/// Writes the script (and the log folder Slurm needs to exist) into `dir`; its path.
pub fn write(
    exe: &Path,
    dir: &Path,
    name: &str,
    indices: &[usize],
    r: &Resources,
) -> Result<PathBuf> {
    let text = script(exe, dir, name, indices, r)?;
    std::fs::create_dir_all(dir.join(LOGS))
        .with_context(|| format!("creating {}", dir.join(LOGS).display()))?;
    let path = dir.join(SCRIPT);
    super::files::write_atomic(&path, text.as_bytes())?;
    Ok(path)
}

/// Submits the script; the job id.
pub fn submit(script: &Path) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .arg(script)
        .output()
        .map_err(|e| {
            anyhow!("sbatch: {e} (is this a Slurm login node? --dry-run writes the script only)")
        })?;
    if !out.status.success() {
        bail!(
            "sbatch {} failed: {}",
            script.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    // --parsable prints "jobid" or "jobid;cluster".
    let text = String::from_utf8_lossy(&out.stdout);
    let id = text.trim().split(';').next().unwrap_or("").to_string();
    if id.is_empty() {
        bail!("sbatch printed no job id");
    }
    Ok(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn array_lists_compress_ranges() {
        assert_eq!(array_list(&[0, 1, 2, 3, 5, 7, 8, 9]), "0-3,5,7-9");
        assert_eq!(array_list(&[4]), "4");
        assert_eq!(array_list(&[]), "");
    }

    #[test]
    fn script_asks_for_the_resources_and_runs_one_task() {
        let r = Resources {
            partition: Some("gpu".into()),
            time: Some("1-00:00:00".into()),
            cpus_per_task: Some(8),
            gpus_per_task: Some(1),
        };
        let s = script(
            Path::new("/opt/maxl-cli"),
            Path::new("/runs/my sweep"),
            "table1 mnist",
            &[0, 1, 2],
            &r,
        )
        .unwrap();
        for line in [
            "#SBATCH --job-name=maxl-table1-mnist",
            "#SBATCH --array=0-2",
            "#SBATCH --output='/runs/my sweep/slurm-logs/%A_%a.out'",
            "#SBATCH --partition=gpu",
            "#SBATCH --time=1-00:00:00",
            "#SBATCH --cpus-per-task=8",
            "#SBATCH --gpus-per-task=1",
            "exec /opt/maxl-cli sweep '/runs/my sweep' --task \"$SLURM_ARRAY_TASK_ID\" --threads \"${SLURM_CPUS_PER_TASK:-1}\"",
        ] {
            assert!(s.lines().any(|l| l == line), "missing {line:?} in\n{s}");
        }
        assert_eq!(quote("it's"), r"'it'\''s'");
    }
}
