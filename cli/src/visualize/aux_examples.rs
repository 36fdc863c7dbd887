//! `aux_examples.png`, the paper's Figure 6: for each chosen primary class, one row per
//! auxiliary class with the [`TOP_K`] test images of that primary class that the label
//! generator gives the highest probability for it (ties: data set order). An image may appear
//! in several rows of its class. A row with fewer candidate images leaves grey cells.
//!
//! Layout (pixels): a title band of [`TITLE_H`], then per row a label column of [`LABEL_W`]
//! and [`TOP_K`] cells of [`CELL`] x [`CELL`] with [`GAP`] around them, an extra [`GROUP_GAP`]
//! between primary classes. So the picture is `LABEL_W + TOP_K * (CELL + GAP) + GAP` wide and
//! `TITLE_H + rows * (CELL + GAP) + (groups - 1) * GROUP_GAP + GAP` high, with or without a font.
//! Images are scaled to fit a cell, keeping their aspect: nearest-neighbour up, triangle down.

use super::draw::{has_font, write_png, FAMILY};
use super::loaded::{class_label, Loaded};
use super::model::{aux_probabilities, Rows};
use anyhow::{anyhow, Result};
use image::imageops::FilterType;
use image::RgbImage;
use maxl::hierarchy::Hierarchy;
use maxl::models::NetState;
use plotters::prelude::*;
use std::path::Path;

pub const TOP_K: usize = 5;
pub const CELL: u32 = 64;
pub const GAP: u32 = 4;
pub const LABEL_W: u32 = 190;
pub const TITLE_H: u32 = 32;
pub const GROUP_GAP: u32 = 14;

const EMPTY: [u8; 3] = [225, 225, 225];
const RULE: [u8; 3] = [170, 170, 170];

/// One row of the grid: an auxiliary class and its best images.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub primary: usize,
    /// Position of the auxiliary class within its primary class's block (0-based).
    pub aux: usize,
    /// Data set indices of the best images with their probabilities, best first.
    pub images: Vec<(usize, f64)>,
    /// Candidate images whose most probable auxiliary class is this one.
    pub argmax_of: usize,
}

/// The rows of each chosen primary class. `probs` row `i` belongs to data set image
/// `indices[i]` with primary label `labels[i]`.
pub fn select(
    probs: &Rows,
    indices: &[usize],
    labels: &[i64],
    classes: &[usize],
    h: &Hierarchy,
    k: usize,
) -> Vec<Vec<Row>> {
    classes
        .iter()
        .map(|&c| {
            let own: Vec<usize> = (0..indices.len())
                .filter(|&i| labels[i] == c as i64)
                .collect();
            let (off, n) = (h.offset(c), h.psi()[c]);
            // The most probable auxiliary class of each candidate, within its block.
            let best: Vec<usize> = own
                .iter()
                .map(|&i| {
                    let block = &probs.row(i)[off..off + n];
                    (0..n).fold(0, |b, j| if block[j] > block[b] { j } else { b })
                })
                .collect();
            (0..n)
                .map(|j| {
                    let mut ranked: Vec<(usize, f64)> = own
                        .iter()
                        .map(|&i| (indices[i], probs.row(i)[off + j]))
                        .collect();
                    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
                    ranked.truncate(k);
                    Row {
                        primary: c,
                        aux: j,
                        images: ranked,
                        argmax_of: best.iter().filter(|&&b| b == j).count(),
                    }
                })
                .collect()
        })
        .collect()
}

/// Width and height of the picture for these groups of rows.
pub fn size(groups: &[Vec<Row>]) -> (u32, u32) {
    let rows: usize = groups.iter().map(Vec::len).sum();
    let width = LABEL_W + TOP_K as u32 * (CELL + GAP) + GAP;
    let height = TITLE_H
        + rows as u32 * (CELL + GAP)
        + groups.len().saturating_sub(1) as u32 * GROUP_GAP
        + GAP;
    (width, height)
}

/// A `CELL` x `CELL` RGB tile of a C x H x W image (1 or 3 channels), fitted and centred on
/// white.
fn tile(img: &[u8], [c, h, w]: [usize; 3]) -> RgbImage {
    let hw = h * w;
    let src = RgbImage::from_fn(w as u32, h as u32, |x, y| {
        let i = y as usize * w + x as usize;
        let ch = |k: usize| img[if c >= 3 { k * hw + i } else { i }];
        image::Rgb([ch(0), ch(1), ch(2)])
    });
    let scale = CELL as f64 / h.max(w) as f64;
    let (nw, nh) = (
        ((w as f64 * scale).round() as u32).clamp(1, CELL),
        ((h as f64 * scale).round() as u32).clamp(1, CELL),
    );
    let filter = if scale >= 1.0 {
        FilterType::Nearest
    } else {
        FilterType::Triangle
    };
    let scaled = image::imageops::resize(&src, nw, nh, filter);
    let mut out = RgbImage::from_pixel(CELL, CELL, image::Rgb([255, 255, 255]));
    image::imageops::replace(
        &mut out,
        &scaled,
        ((CELL - nw) / 2).into(),
        ((CELL - nh) / 2).into(),
    );
    out
}

/// Top edge of row `r` (counted over all groups) in group `g`.
fn row_y(r: usize, g: usize) -> u32 {
    TITLE_H + g as u32 * GROUP_GAP + r as u32 * (CELL + GAP) + GAP
}

fn fill(canvas: &mut RgbImage, x: u32, y: u32, w: u32, h: u32, rgb: [u8; 3]) {
    for yy in y..(y + h).min(canvas.height()) {
        for xx in x..(x + w).min(canvas.width()) {
            canvas.put_pixel(xx, yy, image::Rgb(rgb));
        }
    }
}

/// Cuts a long class name for the label column.
fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max - 1).chain(['.']).collect()
    }
}

/// Draws the grid: images first, then the text over the same buffer.
fn draw(groups: &[Vec<Row>], loaded: &Loaded, text: bool) -> Result<(u32, u32, Vec<u8>)> {
    let test = &loaded.test;
    let shape = test.image_shape();
    let (width, height) = size(groups);
    let mut canvas = RgbImage::from_pixel(width, height, image::Rgb([255, 255, 255]));
    let mut labels = Vec::new();
    let mut r = 0;
    for (g, rows) in groups.iter().enumerate() {
        if g > 0 {
            let y = row_y(r, g) - GAP - GROUP_GAP / 2 - 1;
            fill(&mut canvas, GAP, y, width - 2 * GAP, 1, RULE);
        }
        for row in rows {
            let y = row_y(r, g);
            for k in 0..TOP_K {
                let x = LABEL_W + GAP + k as u32 * (CELL + GAP);
                match row.images.get(k) {
                    Some(&(i, _)) => {
                        let img = test
                            .image(i)
                            .ok_or_else(|| anyhow!("test image {i} is missing"))?;
                        image::imageops::replace(
                            &mut canvas,
                            &tile(img, shape),
                            x.into(),
                            y.into(),
                        );
                    }
                    None => fill(&mut canvas, x, y, CELL, CELL, EMPTY),
                }
            }
            let range = match (row.images.first(), row.images.last()) {
                (Some(a), Some(b)) => format!("p {:.2}-{:.2}, ", a.1, b.1),
                _ => String::new(),
            };
            labels.push((
                y,
                format!(
                    "{} / aux {}",
                    short(&class_label(test, row.primary), 16),
                    row.aux + 1
                ),
                format!("{range}argmax of {}", row.argmax_of),
            ));
            r += 1;
        }
    }
    let mut buf = canvas.into_raw();
    if text {
        let e = |x: &dyn std::fmt::Display| anyhow!("drawing aux_examples.png: {x}");
        let root = BitMapBackend::with_buffer(&mut buf, (width, height)).into_drawing_area();
        let title = format!("Top {TOP_K} test images per auxiliary class (label generator)");
        root.draw(&Text::new(
            title,
            (8, 9),
            (FAMILY, 16).into_font().color(&BLACK),
        ))
        .map_err(|x| e(&x))?;
        let grey = RGBColor(90, 90, 90);
        for (y, main, sub) in labels {
            let (x, y) = (8, y as i32 + CELL as i32 / 2);
            root.draw(&Text::new(
                main,
                (x, y - 18),
                (FAMILY, 15).into_font().color(&BLACK),
            ))
            .map_err(|x| e(&x))?;
            root.draw(&Text::new(
                sub,
                (x, y + 2),
                (FAMILY, 12).into_font().color(&grey),
            ))
            .map_err(|x| e(&x))?;
        }
        root.present().map_err(|x| e(&x))?;
    }
    Ok((width, height, buf))
}

/// Computes the generator's probabilities for the chosen classes' test images and writes
/// the grid to `path`.
pub fn write(path: &Path, loaded: &Loaded, gen: &NetState, classes: &[usize]) -> Result<()> {
    let test = &loaded.test;
    let indices: Vec<usize> = (0..test.len())
        .filter(|&i| classes.contains(&(test.labels()[i] as usize)))
        .collect();
    let labels: Vec<i64> = indices.iter().map(|&i| test.labels()[i]).collect();
    let probs = if indices.is_empty() {
        Rows {
            values: Vec::new(),
            width: 0,
        }
    } else {
        aux_probabilities(&loaded.trainer, gen, test, &indices, loaded.batch_size)?
    };
    let h = &loaded.trainer.setup.hierarchy;
    let groups = select(&probs, &indices, &labels, classes, h, TOP_K);
    let (w, hgt, buf) = draw(&groups, loaded, has_font())?;
    write_png(path, w, hgt, buf)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_most_probable_images_of_each_auxiliary_class() {
        // psi = [2, 3]: class 0 owns columns 0..2, class 1 columns 2..5.
        let h = Hierarchy::new(vec![2, 3]).unwrap();
        #[rustfmt::skip]
        let values = vec![
            0.9, 0.1, 0.0, 0.0, 0.0, // image 10, class 0
            0.0, 0.0, 0.2, 0.5, 0.3, // image 11, class 1
            0.4, 0.6, 0.0, 0.0, 0.0, // image 12, class 0
            0.0, 0.0, 0.6, 0.3, 0.1, // image 13, class 1
            0.4, 0.6, 0.0, 0.0, 0.0, // image 14, class 0 (ties image 12)
        ];
        let probs = Rows { values, width: 5 };
        let groups = select(
            &probs,
            &[10, 11, 12, 13, 14],
            &[0, 1, 0, 1, 0],
            &[1, 0],
            &h,
            2,
        );
        assert_eq!(groups.len(), 2);
        let c1 = &groups[0];
        assert_eq!(c1.len(), 3);
        assert_eq!(c1[0].images, vec![(13, 0.6), (11, 0.2)]);
        assert_eq!(c1[1].images, vec![(11, 0.5), (13, 0.3)]);
        assert_eq!(c1[2].images, vec![(11, 0.3), (13, 0.1)]);
        assert_eq!(
            c1.iter().map(|r| r.argmax_of).collect::<Vec<_>>(),
            [1, 1, 0]
        );
        let c0 = &groups[1];
        assert_eq!((c0[0].primary, c0[0].aux), (0, 0));
        assert_eq!(
            c0[0].images,
            vec![(10, 0.9), (12, 0.4)],
            "ties in data set order"
        );
        assert_eq!(c0[1].images, vec![(12, 0.6), (14, 0.6)]);
        assert_eq!(c0.iter().map(|r| r.argmax_of).collect::<Vec<_>>(), [1, 2]);
        // 5 rows in 2 groups.
        assert_eq!(
            size(&groups),
            (
                LABEL_W + 5 * (CELL + GAP) + GAP,
                TITLE_H + 5 * (CELL + GAP) + GROUP_GAP + GAP
            )
        );
    }

    #[test]
    fn tiles_fit_and_centre_images() {
        // A 2x4 grey image: scaled by 16 to 32x64, centred vertically.
        let t = tile(&[10, 20, 30, 40, 50, 60, 70, 80], [1, 2, 4]);
        assert_eq!(t.dimensions(), (CELL, CELL));
        assert_eq!(t.get_pixel(0, 0).0, [255, 255, 255], "margin above");
        assert_eq!(t.get_pixel(0, 16).0, [10, 10, 10]);
        assert_eq!(t.get_pixel(63, 47).0, [80, 80, 80]);
        assert_eq!(t.get_pixel(0, 48).0, [255, 255, 255], "margin below");
        // Colour planes become RGB pixels.
        let t = tile(&[1, 2, 3], [3, 1, 1]);
        assert_eq!(t.get_pixel(5, 5).0, [1, 2, 3]);
    }
}
