//! `curves.png`: accuracy, losses and gradient cosine similarity per epoch, three panels side
//! by side. Text needs a TrueType font: `$MAXL_FONT` or a system one (DejaVu Sans, Liberation
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

const COLORS: [RGBColor; 4] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
];

type Series = (&'static str, fn(&EpochMetrics) -> f64);

/// One panel: a title and its curves.
struct Panel {
    title: &'static str,
    series: Vec<Series>,
}

fn panels(meta: bool, aux: bool) -> Vec<Panel> {
    let mut acc: Vec<Series> = vec![("test", |m| m.test_acc), ("train", |m| m.train_acc)];
    let mut loss: Vec<Series> = vec![("test", |m| m.test_loss), ("train", |m| m.train_loss)];
    if meta {
        acc.push(("meta after", |m| m.meta_acc_after));
        loss.push(("meta before", |m| m.meta_loss_before));
        loss.push(("meta after", |m| m.meta_loss_after));
    }
    let mut out = vec![
        Panel {
            title: "accuracy (%)",
            series: acc,
        },
        Panel {
            title: "primary loss",
            series: loss,
        },
    ];
    if aux {
        out.push(Panel {
            title: "gradient cosine (primary vs auxiliary)",
            series: vec![("cosine", |m| m.cosine)],
        });
    }
    out
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
fn draw(history: &[EpochMetrics], meta: bool, aux: bool, text: bool) -> Result<Vec<u8>> {
    let mut buf = vec![0u8; (WIDTH * HEIGHT * 3) as usize];
    let e = |e: &dyn std::fmt::Display| anyhow!("drawing curves.png: {e}");
    {
        let root = BitMapBackend::with_buffer(&mut buf, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let panels = panels(meta, aux);
        let areas = root.split_evenly((1, panels.len()));
        let last = history.last().map_or(1, |m| m.epoch).max(2) as i32;
        for (area, panel) in areas.iter().zip(&panels) {
            let (y0, y1) = y_range(panel.series.iter().flat_map(|(_, f)| history.iter().map(f)));
            let mut b = ChartBuilder::on(area);
            b.margin(15);
            if text {
                b.caption(panel.title, (FAMILY, 20))
                    .x_label_area_size(35)
                    .y_label_area_size(55);
            }
            let mut chart = b.build_cartesian_2d(1..last, y0..y1).map_err(|x| e(&x))?;
            let mut mesh = chart.configure_mesh();
            if text {
                mesh.x_desc("epoch")
                    .x_labels(last.min(10) as usize)
                    .label_style((FAMILY, 14));
            } else {
                mesh.x_labels(0).y_labels(0);
            }
            mesh.draw().map_err(|x| e(&x))?;
            for (i, (name, f)) in panel.series.iter().enumerate() {
                let color = COLORS[i % COLORS.len()];
                let points = history
                    .iter()
                    .map(|m| (m.epoch as i32, f(m)))
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
pub fn write(path: &Path, history: &[EpochMetrics], meta: bool, aux: bool) -> Result<()> {
    let buf = draw(history, meta, aux, has_font())?;
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
        let plain = draw(&history(), true, true, false).unwrap();
        assert!(ink(&plain) > 1000, "curves and axes are drawn");
        if has_font() {
            let with_text = draw(&history(), true, true, true).unwrap();
            assert!(ink(&with_text) > ink(&plain), "text adds ink");
        }
        // One epoch, constant values: no panic, a point per series.
        draw(&history()[..1], false, false, false).unwrap();
    }
}
