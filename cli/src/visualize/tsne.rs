//! `tsne.png`, the paper's Figure 5: a 2-D t-SNE (Barnes-Hut, `bhtsne`) of the trained network's
//! trunk features in eval mode, one dot per test image coloured by its primary class, with a
//! legend of up to [`LEGEND_MAX`] classes when a font is available. [`WIDTH`] x [`HEIGHT`]
//! pixels whatever the data.
//!
//! t-SNE settings as scikit-learn's defaults: perplexity 30 (less for under 91 points: at most
//! (N - 1) / 3), 1000 iterations, theta 0.5, Euclidean distance. The start is seeded (N(0,
//! 1e-4) from the run's seed, instead of bhtsne's unseeded generator) and bhtsne runs on one
//! thread, because its rayon sums split work by timing: so one run gives one picture, bit for
//! bit (1000 points take a few seconds).

use super::draw::{class_color, has_font, write_png, FAMILY};
use super::loaded::{class_label, Loaded};
use super::model::{features, Rows};
use anyhow::{anyhow, bail, Result};
use bhtsne::tSNE;
use maxl_engine::Rng;
use plotters::prelude::*;
use std::path::Path;

pub const WIDTH: u32 = 1000;
pub const HEIGHT: u32 = 800;
/// Width of the legend column on the right.
const LEGEND_W: u32 = 200;
/// Classes named in the legend at most.
pub const LEGEND_MAX: usize = 30;
/// Fewer points than this make no useful t-SNE (and bhtsne needs perplexity >= 1).
pub const MIN_POINTS: usize = 10;

const PERPLEXITY: f64 = 30.0;
const EPOCHS: usize = 1000;
const THETA: f64 = 0.5;
/// Seed stream of the subset and the start, apart from the run's other uses of its seed.
const TSNE_STREAM: u64 = 0x7473_6e65;

/// Up to `points` test image indices: all of them, or a seeded random subset in data set order.
pub fn subset(len: usize, points: usize, seed: u64) -> Vec<usize> {
    let mut all: Vec<usize> = (0..len).collect();
    if len > points {
        Rng::new(seed ^ TSNE_STREAM).shuffle(&mut all);
        all.truncate(points);
        all.sort_unstable();
    }
    all
}

/// The 2-D embedding of the rows of `feats`, `[x0, y0, x1, y1, ...]`.
pub fn embed(feats: &Rows, seed: u64) -> Result<Vec<f64>> {
    let n = feats.len();
    if n < MIN_POINTS {
        bail!("t-SNE needs at least {MIN_POINTS} test images, there are {n}");
    }
    if feats.values.iter().any(|v| !v.is_finite()) {
        bail!("the network's features are not all finite; was the run diverging?");
    }
    let rows: Vec<&[f64]> = feats.values.chunks(feats.width.max(1)).collect();
    let perplexity = PERPLEXITY.min(((n - 1) / 3) as f64);
    let mut rng = Rng::new(seed ^ TSNE_STREAM ^ 1);
    let start: Vec<f64> = (0..2 * n).map(|_| 1e-4 * rng.normal()).collect();
    let one_thread = rayon::ThreadPoolBuilder::new().num_threads(1).build()?;
    let y = one_thread.install(|| {
        let mut t: tSNE<f64, &[f64]> = tSNE::new(&rows);
        t.embedding_dim(2)
            .perplexity(perplexity)
            .epochs(EPOCHS)
            .initial_embedding(start)
            .barnes_hut(THETA, |a, b| {
                a.iter()
                    .zip(b.iter())
                    .map(|(x, y)| (x - y) * (x - y))
                    .sum::<f64>()
                    .sqrt()
            });
        t.embedding()
    });
    if y.len() != 2 * n || y.iter().any(|v| !v.is_finite()) {
        bail!("t-SNE gave no finite embedding for {n} points");
    }
    Ok(y)
}

/// The range of some values, padded by 5% (1 around a single value).
fn range(values: impl Iterator<Item = f64>) -> std::ops::Range<f64> {
    let (lo, hi) = values.fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
        (a.min(v), b.max(v))
    });
    if lo > hi {
        return 0.0..1.0;
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 1.0 };
    lo - pad..hi + pad
}

/// Draws the dots (and, with `text`, the title and legend) into an RGB buffer.
fn draw(y: &[f64], labels: &[usize], names: &[String], title: &str, text: bool) -> Result<Vec<u8>> {
    let classes = names.len();
    let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    let e = |x: &dyn std::fmt::Display| anyhow!("drawing tsne.png: {x}");
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let (plot, legend) = root.split_horizontally(WIDTH - LEGEND_W);
        let mut b = ChartBuilder::on(&plot);
        b.margin(20);
        if text {
            b.caption(title, (FAMILY, 18));
        }
        let xs = range(y.chunks(2).map(|p| p[0]));
        let ys = range(y.chunks(2).map(|p| p[1]));
        let mut chart = b.build_cartesian_2d(xs, ys).map_err(|x| e(&x))?;
        // t-SNE's axes mean nothing: a frame, no ticks.
        let (px, py) = chart.plotting_area().get_pixel_range();
        chart
            .plotting_area()
            .strip_coord_spec()
            .draw(&Rectangle::new(
                [(0, 0), (px.end - px.start - 1, py.end - py.start - 1)],
                RGBColor(170, 170, 170).stroke_width(1),
            ))
            .map_err(|x| e(&x))?;
        chart
            .draw_series(y.chunks(2).zip(labels).map(|(p, &c)| {
                Circle::new((p[0], p[1]), 3, class_color(c, classes).mix(0.8).filled())
            }))
            .map_err(|x| e(&x))?;
        if text {
            let style = (FAMILY, 14).into_font().color(&BLACK);
            let shown = classes.min(LEGEND_MAX);
            for (c, name) in names.iter().enumerate().take(shown) {
                let y0 = 40 + 22 * c as i32;
                legend
                    .draw(&Rectangle::new(
                        [(10, y0 + 2), (22, y0 + 14)],
                        class_color(c, classes).filled(),
                    ))
                    .map_err(|x| e(&x))?;
                legend
                    .draw(&Text::new(name.clone(), (30, y0), style.clone()))
                    .map_err(|x| e(&x))?;
            }
            if classes > shown {
                let y0 = 40 + 22 * shown as i32;
                legend
                    .draw(&Text::new(
                        format!("... {} more classes", classes - shown),
                        (10, y0),
                        style,
                    ))
                    .map_err(|x| e(&x))?;
            }
        }
        root.present().map_err(|x| e(&x))?;
    }
    Ok(buf)
}

/// Embeds up to `points` test images and writes the picture to `path`; returns the number of
/// images shown.
pub fn write(path: &Path, loaded: &Loaded, points: usize, seed: u64) -> Result<usize> {
    let test = &loaded.test;
    let indices = subset(test.len(), points, seed);
    let feats = features(&loaded.trainer, test, &indices, loaded.batch_size)?;
    let y = embed(&feats, seed)?;
    let labels: Vec<usize> = indices.iter().map(|&i| test.labels()[i] as usize).collect();
    let names: Vec<String> = (0..test.classes()).map(|c| class_label(test, c)).collect();
    let title = format!(
        "t-SNE of trunk features: {} on {}, {} test images",
        loaded.method,
        loaded.dataset,
        indices.len()
    );
    let buf = draw(&y, &labels, &names, &title, has_font())?;
    write_png(path, WIDTH, HEIGHT, buf)?;
    Ok(indices.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subsets_are_seeded_sorted_and_capped() {
        assert_eq!(subset(5, 10, 0), vec![0, 1, 2, 3, 4]);
        let a = subset(100, 10, 7);
        assert_eq!(a.len(), 10);
        assert!(a.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a, subset(100, 10, 7));
        assert_ne!(a, subset(100, 10, 8));
    }

    #[test]
    fn separates_two_clusters_and_is_seeded() {
        // 20 points near (0, 0, 0) and 20 near (10, 10, 10).
        let mut rng = Rng::new(3);
        let mut values = Vec::new();
        for i in 0..40 {
            let c = if i < 20 { 0.0 } else { 10.0 };
            values.extend((0..3).map(|_| c + 0.1 * rng.normal()));
        }
        let feats = Rows { values, width: 3 };
        let y = embed(&feats, 1).unwrap();
        assert_eq!(y.len(), 80);
        assert_eq!(y, embed(&feats, 1).unwrap(), "one seed, one embedding");
        assert_ne!(y, embed(&feats, 2).unwrap());
        let centre = |r: std::ops::Range<usize>| {
            let n = r.len() as f64;
            r.fold((0.0, 0.0), |(a, b), i| {
                (a + y[2 * i] / n, b + y[2 * i + 1] / n)
            })
        };
        let spread = |r: std::ops::Range<usize>, (cx, cy): (f64, f64)| {
            r.map(|i| ((y[2 * i] - cx).powi(2) + (y[2 * i + 1] - cy).powi(2)).sqrt())
                .fold(0.0, f64::max)
        };
        let (a, b) = (centre(0..20), centre(20..40));
        let between = ((a.0 - b.0).powi(2) + (a.1 - b.1).powi(2)).sqrt();
        assert!(
            between > 2.0 * spread(0..20, a).max(spread(20..40, b)),
            "clusters apart: {between} vs {}",
            spread(0..20, a)
        );
        let too_few = Rows {
            values: vec![0.0; 9],
            width: 1,
        };
        assert!(embed(&too_few, 0).is_err());
        let nan = Rows {
            values: vec![f64::NAN; 20],
            width: 1,
        };
        assert!(embed(&nan, 0).is_err());
    }

    #[test]
    fn draws_dots_with_and_without_text() {
        let y: Vec<f64> = (0..40).map(|i| (i % 7) as f64 + 0.1 * i as f64).collect();
        let labels: Vec<usize> = (0..20).map(|i| i % 3).collect();
        let names: Vec<String> = ["a", "b", "c"].iter().map(|s| s.to_string()).collect();
        let ink = |b: &[u8]| b.chunks(3).filter(|p| p != &[255, 255, 255]).count();
        let plain = draw(&y, &labels, &names, "t", false).unwrap();
        assert_eq!(plain.len(), (WIDTH * HEIGHT * 3) as usize);
        assert!(ink(&plain) > 20 * 20, "dots are drawn");
        if has_font() {
            assert!(ink(&draw(&y, &labels, &names, "t", true).unwrap()) > ink(&plain));
        }
        // All points at one place: no panic.
        draw(&[1.0; 20], &labels[..10], &names, "t", false).unwrap();
    }
}
