//! The bar chart of `bench ops-table --png`: per op (summed over its shapes), the ratio of our
//! time to PyTorch's at order 1 and order 2, one panel per configuration; lines mark parity
//! (1.0) and issue 11's target (0.8). Drawn with plotters; text needs a font
//! (`crate::visualize::draw::has_font`), without one the bars are drawn alone.

use super::ops_table::{per_op, Pairs};
use crate::visualize::draw::{has_font, write_png, FAMILY};
use anyhow::{anyhow, bail, Result};
use plotters::prelude::*;
use std::path::Path;

const PANEL_W: u32 = 620;
const PANEL_H: u32 = 560;
const COLORS: [RGBColor; 2] = [RGBColor(31, 119, 180), RGBColor(255, 127, 14)];

/// Per configuration, the ops and their ratios at orders 1 and 2 (`None` where missing).
type Panel = (String, Vec<(String, [Option<f64>; 2])>);

fn panels(p: &Pairs) -> Vec<Panel> {
    let mut out: Vec<Panel> = Vec::new();
    for (i, order) in [1, 2].into_iter().enumerate() {
        for (config, op, ours, torch) in per_op(p, order) {
            let r = (torch > 0.0).then(|| ours / torch);
            let panel = match out.iter().position(|x| x.0 == config) {
                Some(k) => &mut out[k],
                None => {
                    out.push((config.clone(), Vec::new()));
                    out.last_mut().expect("just pushed")
                }
            };
            match panel.1.iter_mut().find(|x| x.0 == op) {
                Some(x) => x.1[i] = r,
                None => {
                    let mut rs = [None, None];
                    rs[i] = r;
                    panel.1.push((op, rs));
                }
            }
        }
    }
    out
}

/// Draws the chart of `p` to `path` (PNG).
pub fn draw(p: &Pairs, path: &Path) -> Result<()> {
    let panels = panels(p);
    if panels.is_empty() {
        bail!("no op has figures of both implementations at order 1 or 2");
    }
    let text = has_font();
    let (w, h) = (PANEL_W * panels.len() as u32, PANEL_H);
    let mut buf = vec![0u8; (w * h * 3) as usize];
    let e = |x: &dyn std::fmt::Display| anyhow!("drawing {}: {x}", path.display());
    {
        let root = BitMapBackend::with_buffer(&mut buf, (w, h)).into_drawing_area();
        root.fill(&WHITE).map_err(|x| e(&x))?;
        let areas = root.split_evenly((1, panels.len()));
        for (area, (config, ops)) in areas.iter().zip(&panels) {
            let n = ops.len();
            // A log axis: ratios are factors, from far below parity to far above it.
            let rs = ops.iter().flat_map(|o| o.1.iter().flatten());
            let hi = rs.clone().fold(1.25f64, |m, &r| m.max(r)) * 1.15;
            let lo = rs.fold(0.5f64, |m, &r| m.min(r)) / 1.15;
            let mut b = ChartBuilder::on(area);
            b.margin(14);
            if text {
                b.caption(
                    format!(
                        "{}: ours / PyTorch time (lower is faster)",
                        config.to_uppercase()
                    ),
                    (FAMILY, 17),
                )
                .x_label_area_size(36)
                .y_label_area_size(120);
            }
            // Ops from the top: op i is centred on y = n - 1 - i.
            let mut chart = b
                .build_cartesian_2d((lo..hi).log_scale(), -0.5..(n as f64 - 0.5))
                .map_err(|x| e(&x))?;
            let names: Vec<String> = ops.iter().map(|o| o.0.clone()).collect();
            let label = |y: &f64| {
                let i = n as f64 - 1.0 - y.round();
                if (y - y.round()).abs() < 0.01 && i >= 0.0 && (i as usize) < n {
                    names[i as usize].clone()
                } else {
                    String::new()
                }
            };
            let mut mesh = chart.configure_mesh();
            mesh.disable_y_mesh().light_line_style(WHITE);
            if text {
                mesh.x_desc("ratio (log scale)")
                    .y_labels(n)
                    .y_label_formatter(&label)
                    .label_style((FAMILY, 13));
            } else {
                mesh.x_labels(0).y_labels(0);
            }
            mesh.draw().map_err(|x| e(&x))?;
            for (k, color) in COLORS.iter().enumerate() {
                let bars = ops.iter().enumerate().filter_map(|(i, o)| {
                    let r = o.1[k]?;
                    let y = (n - 1 - i) as f64;
                    let (y0, y1) = if k == 0 {
                        (y + 0.02, y + 0.4)
                    } else {
                        (y - 0.4, y - 0.02)
                    };
                    Some(Rectangle::new([(lo, y0), (r, y1)], color.filled()))
                });
                let drawn = chart.draw_series(bars).map_err(|x| e(&x))?;
                if text {
                    let c = *color;
                    drawn
                        .label(format!("order {}", k + 1))
                        .legend(move |(x, y)| {
                            Rectangle::new([(x, y - 5), (x + 14, y + 5)], c.filled())
                        });
                }
            }
            for (x, style) in [
                (1.0, BLACK.stroke_width(2)),
                (0.8, RED.mix(0.7).stroke_width(1)),
            ] {
                chart
                    .draw_series(std::iter::once(PathElement::new(
                        vec![(x, -0.5), (x, n as f64 - 0.5)],
                        style,
                    )))
                    .map_err(|x| e(&x))?;
            }
            if text {
                chart
                    .configure_series_labels()
                    .position(SeriesLabelPosition::LowerRight)
                    .background_style(WHITE.mix(0.85))
                    .border_style(BLACK)
                    .label_font((FAMILY, 13))
                    .draw()
                    .map_err(|x| e(&x))?;
            }
        }
        root.present().map_err(|x| e(&x))?;
    }
    write_png(path, w, h, buf)
}

#[cfg(test)]
mod tests {
    use super::super::ops_table::{pair, parse_figures};
    use super::*;

    #[test]
    fn chart_is_a_png_of_one_panel_per_config() {
        let ours = r#"{"op":"relu","config":"b1","shape":"2","order":1,"fwd_s":0.002,"bwd_s":0.002}
{"op":"relu","config":"b2","shape":"2","order":2,"fwd_s":0.002,"bwd_s":0.002,"bwd2_s":0.002}"#;
        let torch = r#"{"op":"relu","config":"b1","shape":"2","order":1,"fwd_s":0.001,"bwd_s":0.001}
{"op":"relu","config":"b2","shape":"2","order":2,"fwd_s":0.004,"bwd_s":0.004,"bwd2_s":0.004}"#;
        let p = pair(
            &parse_figures(ours).unwrap(),
            &parse_figures(torch).unwrap(),
        );
        let ps = panels(&p);
        assert_eq!(ps.len(), 2);
        assert_eq!(ps[0].1[0].1, [Some(2.0), None]);
        assert_eq!(ps[1].1[0].1, [None, Some(0.5)]);
        let dir = std::env::temp_dir().join(format!("maxl-ops-chart-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("chart.png");
        draw(&p, &path).unwrap();
        let img = image::open(&path).unwrap();
        assert_eq!((img.width(), img.height()), (2 * PANEL_W, PANEL_H));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
