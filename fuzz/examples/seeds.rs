//! Writes a small seed corpus for each fuzz target into `corpus/<target>/` (valid files of
//! each format, so that libFuzzer starts from inputs that pass the first checks). Run from
//! `fuzz/`: `cargo run --example seeds`.

use flate2::write::GzEncoder;
use flate2::Compression;
use image::{DynamicImage, ImageFormat, RgbImage, RgbaImage};
use std::io::{Cursor, Write};
use std::path::Path;

fn idx(dims: &[u32]) -> Vec<u8> {
    let mut b = vec![0, 0, 8, dims.len() as u8];
    for d in dims {
        b.extend_from_slice(&d.to_be_bytes());
    }
    let n: u32 = dims.iter().product();
    b.extend((0..n).map(|i| (i * 37 % 251) as u8));
    b
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = GzEncoder::new(Vec::new(), Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

fn records(labels: &[&[u8]]) -> Vec<u8> {
    let mut b = Vec::new();
    for (r, l) in labels.iter().enumerate() {
        b.extend_from_slice(l);
        b.extend((0..3072).map(|i| ((i + 7 * r) % 256) as u8));
    }
    b
}

fn encode(img: DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    img.write_to(&mut out, format).unwrap();
    out.into_inner()
}

fn main() {
    let put = |target: &str, name: &str, bytes: &[u8]| {
        let dir = Path::new("corpus").join(target);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(name), bytes).unwrap();
    };
    let (images, labels) = (idx(&[2, 3, 3]), idx(&[5]));
    for t in ["idx", "idx_gz"] {
        put(t, "images.idx3", &images);
        put(t, "labels.idx1", &labels);
        put(t, "images4d.idx", &idx(&[1, 2, 2, 2]));
    }
    put("idx", "images.idx3.gz", &gz(&images));
    put("idx", "labels.idx1.gz", &gz(&labels));

    put("cifar10", "one.bin", &records(&[&[3]]));
    put("cifar10", "two.bin", &records(&[&[0], &[9]]));
    put("cifar100", "one.bin", &records(&[&[4, 30]]));
    put("cifar100", "two.bin", &records(&[&[4, 30], &[19, 99]]));

    let rgb = RgbImage::from_fn(6, 4, |x, y| image::Rgb([x as u8 * 40, y as u8 * 60, 128]));
    let rgba = RgbaImage::from_fn(3, 5, |x, y| image::Rgba([x as u8, y as u8, 9, 200]));
    let grey = DynamicImage::ImageRgb8(rgb.clone()).into_luma8();
    let rgb = DynamicImage::ImageRgb8(rgb);
    put(
        "image_folder",
        "rgb.png",
        &encode(rgb.clone(), ImageFormat::Png),
    );
    put(
        "image_folder",
        "rgba.png",
        &encode(DynamicImage::ImageRgba8(rgba), ImageFormat::Png),
    );
    put(
        "image_folder",
        "grey.png",
        &encode(DynamicImage::ImageLuma8(grey.clone()), ImageFormat::Png),
    );
    put("image_folder", "rgb.jpg", &encode(rgb, ImageFormat::Jpeg));
    put(
        "image_folder",
        "grey.jpg",
        &encode(DynamicImage::ImageLuma8(grey), ImageFormat::Jpeg),
    );
    println!("seeds written under corpus/");
}
