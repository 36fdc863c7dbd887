//! Shared drawing helpers: the font for the pictures' text (`$MAXL_FONT` or a system one,
//! registered with plotters once per process; `train::plot` uses it too), class colours, and
//! PNG writing. Without a font the pictures keep their size and layout, with no text.

use plotters::style::{FontStyle, HSLColor, RGBColor};
use std::sync::OnceLock;

/// The family name the font is registered under.
pub const FAMILY: &str = "sans-serif";

/// Where fonts usually are (Debian's fonts-dejavu-core first).
const FONT_PATHS: [&str; 7] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// Registers the first usable font once; false if there is none.
pub fn has_font() -> bool {
    static FONT: OnceLock<bool> = OnceLock::new();
    *FONT.get_or_init(|| {
        let env = std::env::var("MAXL_FONT").ok();
        let mut paths = env.iter().map(String::as_str).chain(FONT_PATHS);
        paths.any(|p| {
            let Ok(bytes) = std::fs::read(p) else {
                return false;
            };
            // plotters keeps fonts for the whole process.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font(FAMILY, FontStyle::Normal, bytes).is_ok()
        })
    })
}

/// Encodes an RGB buffer as PNG and writes it through a temp file and a rename.
pub fn write_png(
    path: &std::path::Path,
    width: u32,
    height: u32,
    rgb: Vec<u8>,
) -> anyhow::Result<()> {
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    let img = image::RgbImage::from_raw(width, height, rgb)
        .ok_or_else(|| anyhow::anyhow!("{}: bad buffer size", path.display()))?;
    let mut png = Vec::new();
    let encoder =
        PngEncoder::new_with_quality(&mut png, CompressionType::Best, FilterType::Adaptive);
    img.write_with_encoder(encoder)?;
    crate::train::run_dir::write_atomic(path, &png)
}

/// Tableau's 20 colours, dark and light in pairs reordered so that the first 10 are tab10.
const TAB20: [RGBColor; 20] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
    RGBColor(174, 199, 232),
    RGBColor(255, 187, 120),
    RGBColor(152, 223, 138),
    RGBColor(255, 152, 150),
    RGBColor(197, 176, 213),
    RGBColor(196, 156, 148),
    RGBColor(247, 182, 210),
    RGBColor(199, 199, 199),
    RGBColor(219, 219, 141),
    RGBColor(158, 218, 229),
];

/// The colour of class `c` of `classes`: Tableau's up to 20 classes, evenly spaced hues above.
pub fn class_color(c: usize, classes: usize) -> RGBColor {
    if classes <= TAB20.len() {
        return TAB20[c % TAB20.len()];
    }
    let (r, g, b) = plotters::style::Color::rgb(&HSLColor(
        c as f64 / classes as f64,
        0.75,
        if c.is_multiple_of(2) { 0.45 } else { 0.6 },
    ));
    RGBColor(r, g, b)
}
