//! `curves.png`: accuracy, losses and gradient cosine similarity per epoch, three panels side
//! by side. The losses are focal losses (gamma 2 unless `--focal-gamma` says otherwise): the
//! primary task's (test, training, MAXL's meta pass) and the auxiliary task's training loss as
//! separate lines; when they span more than a factor of 100 the panel's y axis is
//! logarithmic, and tick labels switch to scientific notation for very large or small values
//! (a diverging run's 1e30 prints as `1.0e30`, not 31 digits). Text needs a TrueType font: `$MAXL_FONT` or a system one (DejaVu Sans, Liberation
//! Sans, Arial); without one the curves are drawn with no text at all.

use super::run_dir::write_atomic;
use crate::visualize::draw::{has_font, FAMILY};
use anyhow::{anyhow, Result};
use image::codecs::png::{CompressionType, FilterType, PngEncoder};
use maxl::metrics::EpochMetrics;
use plotters::prelude::*;
use std::path::Path;

const WIDTH: u32 = 1500;
const HEIGHT: u32 = 450;

/// matplotlib's first colours: one per line of the busiest panel (5 losses).
const COLORS: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

type Series = (&'static str, fn(&EpochMetrics) -> f64);

/// One panel: a title and its curves; `loss` panels may switch to a log axis.
struct Panel {
    title: String,
    series: Vec<Series>,
    loss: bool,
}

/// The loss panel's title: which loss, with its gamma.
fn loss_title(gamma: f64) -> String {
    if gamma == 0.0 {
        "losses (cross-entropy)".into()
    } else {
        format!("focal losses (gamma {gamma})")
    }
}

fn panels(meta: bool, aux: bool, gamma: f64) -> Vec<Panel> {
    let mut acc: Vec<Series> = vec![("test", |m| m.test_acc), ("train", |m| m.train_acc)];
    let mut loss: Vec<Series> = vec![
        ("test primary", |m| m.test_loss),
        ("train primary", |m| m.train_primary_loss),
    ];
    if aux {
        loss.push(("train auxiliary", |m| m.train_aux_loss));
    }
    if meta {
        acc.push(("meta after", |m| m.meta_acc_after));
        loss.push(("meta primary before", |m| m.meta_loss_before));
        loss.push(("meta primary after", |m| m.meta_loss_after));
    }
    let mut out = vec![
        Panel {
            title: "accuracy (%)".into(),
            series: acc,
            loss: false,
        },
        Panel {
            title: loss_title(gamma),
            series: loss,
            loss: true,
        },
    ];
    if aux {
        out.push(Panel {
            title: "gradient cosine (primary vs auxiliary)".into(),
            series: vec![("cosine", |m| m.cosine)],
            loss: false,
        });
    }
    out
}

/// True if positive values span more than a factor of 100: drawn on a log10 axis.
fn wants_log(values: impl Iterator<Item = f64>) -> bool {
    let (lo, hi) = values
        .filter(|v| v.is_finite() && *v > 0.0)
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    lo <= hi && hi / lo > 100.0
}

/// A tick label: plain for ordinary values, `1.5e30` style for very large or small ones.
fn tick_label(v: f64) -> String {
    let a = v.abs();
    if a != 0.0 && !(1e-3..1e5).contains(&a) {
        let text = format!("{v:.1e}");
        return text.replace("e-0", "e-").replace("e0", "e");
    }
    let text = format!("{v:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".into()
    } else {
        text.into()
    }
}

/// The y range of some values, padded by 5% (1 around a single value).
fn y_range(values: impl Iterator<Item = f64>) -> (f64, f64) {
    let (lo, hi) = values
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), v| {
            (a.min(v), b.max(v))
        });
    if lo > hi {
        return (0.0, 1.0);
    }
    let pad = if hi > lo { 0.05 * (hi - lo) } else { 1.0 };
    (lo - pad, hi + pad)
}

/// Draws the curves into an RGB buffer.
fn draw(
    history: &[EpochMetrics],
    meta: bool,
    aux: bool,
    gamma: f64,
    text: bool,
) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    let e = |e: &dyn std::fmt::Display| anyhow!("drawing curves.png: {e}");
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let panels = panels(meta, aux, gamma);
        let areas = root.split_evenly((1, panels.len()));
        let last = history.last().map_or(1, |m| m.epoch).max(2) as i32;
        for (area, panel) in areas.iter().zip(&panels) {
            let all = || panel.series.iter().flat_map(|(_, f)| history.iter().map(f));
            // A log panel draws log10 of the values (non-positive ones are left out) and
            // labels its ticks with 10^y.
            let log = panel.loss && wants_log(all());
            let y = |v: f64| if log { v.log10() } else { v };
            let (y0, y1) = y_range(all().filter(|v| !log || *v > 0.0).map(y));
            let title = if log {
                format!("{}, log scale", panel.title)
            } else {
                panel.title.clone()
            };
            let mut b = ChartBuilder::on(area);
            b.margin(15);
            if text {
                b.caption(&title, (FAMILY, 20))
                    .x_label_area_size(35)
                    .y_label_area_size(55);
            }
            let mut chart = b.build_cartesian_2d(1..last, y0..y1).map_err(|x| e(&x))?;
            let mut mesh = chart.configure_mesh();
            let label = |v: &f64| tick_label(if log { 10f64.powf(*v) } else { *v });
            if text {
                mesh.x_desc("epoch")
                    .x_labels(last.min(10) as usize)
                    .y_label_formatter(&label)
                    .label_style((FAMILY, 14));
            } else {
                mesh.x_labels(0).y_labels(0);
            }
            mesh.draw().map_err(|x| e(&x))?;
            for (i, (name, f)) in panel.series.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                let points = history
                    .iter()
                    .map(f)
                    .zip(history.iter().map(|m| m.epoch as i32))
                    .filter(|(v, _)| !log || *v > 0.0)
                    .map(|(v, e)| (e, y(v)))
                    .filter(|p| p.1.is_finite());
                let drawn = chart
                    .draw_series(LineSeries::new(points, color.stroke_width(2)).point_size(3))
                    .map_err(|x| e(&x))?;
                if text {
                    drawn.label(*name).legend(move |(x, y)| {
                        PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
                    });
                }
            }
            if text {
                chart
                    .configure_series_labels()
                    .label_font((FAMILY, 14))
                    .background_style(WHITE.mix(0.8))
                    .border_style(BLACK)
                    .draw()
                    .map_err(|x| e(&x))?;
            }
        }
        root.present().map_err(|x| e(&x))?;
    }
    Ok(buf)
}

/// Writes `curves.png` for the epochs so far; `meta`: MAXL's meta-pass curves, `aux`: the
/// method has an auxiliary task (cosine panel).
/// `gamma`: the focal loss's, for the loss panel's title.
pub fn write(
    path: &Path,
    history: &[EpochMetrics],
    meta: bool,
    aux: bool,
    gamma: f64,
) -> Result<()> {
    let buf = draw(history, meta, aux, gamma, has_font())?;
    let img = image::RgbImage::from_raw(WIDTH, HEIGHT, buf)
        .ok_or_else(|| anyhow!("curves.png: bad buffer size"))?;
    let mut png = Vec::new();
    // Flat colours compress well with the adaptive filter.
    let encoder =
        PngEncoder::new_with_quality(&mut png, CompressionType::Best, FilterType::Adaptive);
    img.write_with_encoder(encoder)?;
    write_atomic(path, &png)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn history() -> Vec<EpochMetrics> {
        (1..=3)
            .map(|e| EpochMetrics {
                epoch: e,
                test_acc: 50.0 + 10.0 * e as f64,
                train_loss: 1.0 / e as f64,
                cosine: 0.1,
                ..EpochMetrics::default()
            })
            .collect()
    }

    /// Pixels that are not white.
    fn ink(buf: &[u8]) -> usize {
        buf.chunks(3).filter(|p| p != &[255, 255, 255]).count()
    }

    #[test]
    fn draws_curves_with_and_without_text() {
        let plain = draw(&history(), true, true, 2.0, false).unwrap();
        assert!(ink(&plain) > 1000, "curves and axes are drawn");
        if has_font() {
            let with_text = draw(&history(), true, true, 2.0, true).unwrap();
            assert!(ink(&with_text) > ink(&plain), "text adds ink");
        }
        // One epoch, constant values: no panic, a point per series.
        draw(&history()[..1], false, false, 2.0, false).unwrap();
    }

    #[test]
    fn primary_and_auxiliary_losses_are_separate_lines() {
        let names = |meta, aux| -> Vec<&str> {
            let p = panels(meta, aux, 2.0);
            p[1].series.iter().map(|(n, _)| *n).collect()
        };
        assert_eq!(
            names(false, true),
            ["test primary", "train primary", "train auxiliary"]
        );
        assert_eq!(names(false, false), ["test primary", "train primary"]);
        assert_eq!(names(true, true).len(), 5);
        let m = EpochMetrics {
            train_loss: 3.0,
            train_primary_loss: 1.0,
            train_aux_loss: 2.0,
            ..EpochMetrics::default()
        };
        let p = panels(false, true, 2.0);
        let values: Vec<f64> = p[1].series.iter().map(|(_, f)| f(&m)).collect();
        assert_eq!(values, [0.0, 1.0, 2.0], "the parts, not their sum");
        assert_eq!(p[1].title, "focal losses (gamma 2)");
        assert_eq!(panels(false, true, 0.0)[1].title, "losses (cross-entropy)");
    }

    #[test]
    fn huge_losses_get_a_log_axis_and_short_tick_labels() {
        assert!(wants_log([0.5, 1e30].into_iter()));
        assert!(!wants_log([0.2, 0.9, 2.0].into_iter()));
        assert!(!wants_log([0.0, 0.0].into_iter()));
        assert_eq!(tick_label(1e30), "1.0e30");
        assert_eq!(tick_label(-2.5e-7), "-2.5e-7");
        assert_eq!(tick_label(123456.0), "1.2e5");
        assert_eq!(tick_label(0.25), "0.25");
        assert_eq!(tick_label(2.0), "2");
        assert_eq!(tick_label(0.0), "0");
        // A diverging run draws (every tick label short) without error.
        let mut h = history();
        h[2].train_primary_loss = 1e30;
        h[2].test_loss = f64::MAX;
        draw(&h, true, true, 2.0, has_font()).unwrap();
    }
}
