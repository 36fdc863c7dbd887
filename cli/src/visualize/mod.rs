//! `maxl-cli visualize`: the paper's two pictures of a trained run, written into its folder.
//! `aux_examples.png` (Figure 6): per primary class, the 5 test images that the label generator
//! gives the highest probability for each of its auxiliary classes; `tsne.png` (Figure 5): a
//! t-SNE of the multi-task network's trunk features, one colour per primary class.
//!
//! Both networks run in eval mode (BatchNorm with its running statistics), the generator through
//! Mask SoftMax with each image's true primary label, as in training. A run without a label
//! generator (single, random, human) still gets `tsne.png` (the paper compares Single Task's
//! t-SNE too); asking for its `aux_examples.png` is an error, reported after `tsne.png` is
//! written and the JSON line printed, so the exit code is non-zero. `--only tsne` skips it.

mod aux_examples;
pub(crate) mod draw;
mod loaded;
mod model;
mod tsne;

use crate::train::restore::{restore, Overrides};
use crate::train::set_threads;
use anyhow::{bail, Result};
use loaded::Loaded;
use maxl::data::Dataset;
use maxl::train::config::parse_count;
use serde_json::json;
use std::path::PathBuf;

pub const AUX_EXAMPLES: &str = "aux_examples.png";
pub const TSNE: &str = "tsne.png";

/// Which pictures to draw.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Only {
    Tsne,
    AuxExamples,
}

#[derive(clap::Args)]
pub struct Args {
    /// Run folder written by `maxl-cli train` (its config.toml and checkpoint.safetensors);
    /// the pictures are written into it
    #[arg(long, value_name = "DIR")]
    run: PathBuf,
    /// Use the test images of this data set instead of the run's: fashion-mnist, mnist,
    /// cifar10, cifar100, image-folder or synthetic
    #[arg(long, value_name = "NAME")]
    dataset: Option<String>,
    /// Folder of the data set's files [default: the run's, for the run's data set]
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// aux_examples.png: how many primary classes, the first N
    #[arg(long, value_name = "N", default_value_t = 3, allow_negative_numbers = true,
          value_parser = parse_count)]
    classes: usize,
    /// aux_examples.png: these primary classes instead of the first --classes ones, as a comma
    /// list of indices or class names (any case), e.g. 0,4,7 or cat,dog
    #[arg(long, value_name = "LIST")]
    pick: Option<String>,
    /// tsne.png: at most N test images, a random subset chosen by the run's seed
    #[arg(long, value_name = "N", default_value_t = 1000, allow_negative_numbers = true,
          value_parser = parse_count)]
    points: usize,
    /// Draw only this picture: tsne or aux-examples [default: both]
    #[arg(long, value_name = "WHICH")]
    only: Option<Only>,
    /// Images per forward pass [default: the run's batch size]
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count)]
    batch_size: Option<usize>,
    /// Worker threads; 0 or none: all cores; at most 4 per core
    #[arg(long, value_name = "N", allow_negative_numbers = true, value_parser = parse_count)]
    threads: Option<usize>,
}

/// The run's trainer at its last checkpoint and its test images.
fn load(a: &Args) -> Result<Loaded> {
    let r = restore(
        &a.run,
        Overrides {
            dataset: a.dataset.clone(),
            data_dir: a.data_dir.clone(),
            batch_size: a.batch_size,
            device: None,
        },
    )?;
    Ok(Loaded {
        trainer: r.trainer,
        test: r.split.test,
        batch_size: r.settings.train.batch_size,
        method: r.settings.train.method.name(),
        dataset: r.settings.dataset.name(),
    })
}

/// The primary classes of `--pick` (indices or names) or the first `count`.
pub fn choose_classes(pick: Option<&str>, count: usize, test: &Dataset) -> Result<Vec<usize>> {
    let p = test.classes();
    let Some(list) = pick else {
        if count == 0 {
            bail!("--classes must be at least 1");
        }
        return Ok((0..count.min(p)).collect());
    };
    let names = test.class_names();
    let mut out = Vec::new();
    for item in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let by_name = names.and_then(|n| {
            n.iter()
                .position(|x| x == item)
                .or_else(|| n.iter().position(|x| x.eq_ignore_ascii_case(item)))
        });
        let c = match (by_name, item.parse::<usize>()) {
            (Some(c), _) => c,
            (None, Ok(c)) if c < p => c,
            (None, Ok(c)) => bail!("--pick {list}: class {c} is outside 0..{p}"),
            (None, Err(_)) => bail!(
                "--pick {list}: {item:?} is neither a class index (0..{p}) nor a class name{}",
                match names {
                    Some(n) if n.len() <= 20 => format!(" ({})", n.join(", ")),
                    Some(_) => String::new(),
                    None => " (this data set has no class names)".into(),
                }
            ),
        };
        if !out.contains(&c) {
            out.push(c);
        }
    }
    if out.is_empty() {
        bail!("--pick {list:?}: no classes");
    }
    Ok(out)
}

pub fn run(a: Args) -> Result<()> {
    set_threads(a.threads)?;
    if a.points == 0 {
        bail!("--points must be at least 1");
    }
    let want_tsne = a.only != Some(Only::AuxExamples);
    let want_aux = a.only != Some(Only::Tsne);
    let loaded = load(&a)?;
    // Check the class list before the slow part.
    let classes = if want_aux {
        Some(choose_classes(a.pick.as_deref(), a.classes, &loaded.test)?)
    } else {
        None
    };
    let run = a.run.display().to_string();
    let seed = loaded.trainer.cfg.seed;

    let mut tsne_out = None;
    if want_tsne {
        let path = a.run.join(TSNE);
        let n = tsne::write(&path, &loaded, a.points, seed)?;
        tsne_out = Some((path, n));
    }
    let mut aux_out = None;
    let mut missing_generator = None;
    if let Some(classes) = &classes {
        match loaded.trainer.strategy.generator() {
            Some(gen) => {
                let path = a.run.join(AUX_EXAMPLES);
                aux_examples::write(&path, &loaded, gen, classes)?;
                aux_out = Some(path);
            }
            None => missing_generator = Some(loaded.method),
        }
    }
    println!(
        "{}",
        json!({
            "run": run,
            "tsne": tsne_out.as_ref().map(|(p, _)| p.display().to_string()),
            "tsne_points": tsne_out.as_ref().map(|(_, n)| n),
            "aux_examples": aux_out.as_ref().map(|p| p.display().to_string()),
            "classes": classes,
        })
    );
    if let Some(method) = missing_generator {
        bail!(
            "{AUX_EXAMPLES} needs a label generator, but {run} was trained with --method {method} \
             (only maxl and maxl-fo have one){}",
            if want_tsne {
                format!("; {TSNE} was written, --only tsne draws just that")
            } else {
                String::new()
            }
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::loaded::class_label;
    use super::*;

    fn data(names: bool) -> Dataset {
        let d = Dataset::new(vec![0; 4], vec![0, 1, 2, 3], [1, 1, 1], 4).unwrap();
        if names {
            d.with_class_names(vec!["a".into(), "b".into(), "c".into(), "d".into()])
                .unwrap()
        } else {
            d
        }
    }

    #[test]
    fn classes_by_count_index_and_name() {
        let d = data(true);
        assert_eq!(choose_classes(None, 3, &d).unwrap(), vec![0, 1, 2]);
        assert_eq!(choose_classes(None, 9, &d).unwrap(), vec![0, 1, 2, 3]);
        assert!(choose_classes(None, 0, &d).is_err());
        assert_eq!(choose_classes(Some("3, 1"), 3, &d).unwrap(), vec![3, 1]);
        assert_eq!(choose_classes(Some("c,a,C"), 3, &d).unwrap(), vec![2, 0]);
        let e = choose_classes(Some("4"), 3, &d).unwrap_err().to_string();
        assert!(e.contains("outside 0..4"), "{e}");
        let e = choose_classes(Some("zebra"), 3, &d)
            .unwrap_err()
            .to_string();
        assert!(e.contains("(a, b, c, d)"), "{e}");
        let e = choose_classes(Some("zebra"), 3, &data(false))
            .unwrap_err()
            .to_string();
        assert!(e.contains("no class names"), "{e}");
        assert!(choose_classes(Some(","), 3, &d).is_err());
        assert_eq!(class_label(&data(false), 2), "class 2");
        assert_eq!(class_label(&d, 2), "c");
    }
}
