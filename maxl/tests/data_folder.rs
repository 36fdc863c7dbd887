//! Image-folder reader: a two-class PNG folder read back pixel for pixel in C x H x W order,
//! the channel rule (all grey -> 1, else RGB), JPEG, and every bad-input case with the file named.

use image::{GrayImage, Luma, Rgb, RgbImage, Rgba, RgbaImage};
use maxl::data::read_image_folder;
use maxl::Error;
use std::path::Path;

mod common;
use common::TempDir;

const W: u32 = 4;
const H: u32 = 3;

fn value(seed: u32, x: u32, y: u32, c: u32) -> u8 {
    (seed * 50 + x * 17 + y * 5 + c * 80) as u8
}

fn rgb(seed: u32) -> RgbImage {
    RgbImage::from_fn(W, H, |x, y| {
        Rgb([
            value(seed, x, y, 0),
            value(seed, x, y, 1),
            value(seed, x, y, 2),
        ])
    })
}

fn grey(seed: u32) -> GrayImage {
    GrayImage::from_fn(W, H, |x, y| Luma([value(seed, x, y, 0)]))
}

/// The C x H x W bytes of `rgb(seed)`.
fn planar(seed: u32) -> Vec<u8> {
    let mut v = Vec::new();
    for c in 0..3 {
        for y in 0..H {
            for x in 0..W {
                v.push(value(seed, x, y, c));
            }
        }
    }
    v
}

fn save(root: &Path, rel: &str, img: impl FnOnce(&Path)) {
    let p = root.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    img(&p);
}

/// train/cat: 2 images, train/dog: 1, test/cat: 1, test/dog: 1 (dog sorted after cat).
fn write_two_classes(root: &Path) {
    save(root, "train/dog/z.png", |p| rgb(3).save(p).unwrap());
    save(root, "train/cat/b.png", |p| rgb(2).save(p).unwrap());
    save(root, "train/cat/a.PNG", |p| rgb(1).save(p).unwrap());
    save(root, "test/cat/c.png", |p| rgb(4).save(p).unwrap());
    save(root, "test/dog/d.png", |p| rgb(5).save(p).unwrap());
    std::fs::write(root.join("train/cat/notes.txt"), "not an image").unwrap();
}

#[test]
fn png_folder_two_classes() {
    let d = TempDir::new("png");
    write_two_classes(&d.0);
    let s = read_image_folder(&d.0).unwrap();
    assert_eq!(s.train.image_shape(), [3, H as usize, W as usize]);
    assert_eq!(s.train.classes(), 2);
    assert_eq!(
        s.train.class_names().unwrap(),
        &["cat".to_string(), "dog".to_string()]
    );
    assert_eq!(s.train.labels(), &[0, 0, 1]);
    let want: Vec<u8> = [1, 2, 3].iter().flat_map(|&k| planar(k)).collect();
    assert_eq!(s.train.images(), want.as_slice());
    assert_eq!(s.test.labels(), &[0, 1]);
    let want: Vec<u8> = [4, 5].iter().flat_map(|&k| planar(k)).collect();
    assert_eq!(s.test.images(), want.as_slice());
}

#[test]
fn all_grey_gives_one_channel() {
    let d = TempDir::new("grey");
    save(&d.0, "train/a/1.png", |p| grey(1).save(p).unwrap());
    save(&d.0, "train/b/2.png", |p| grey(2).save(p).unwrap());
    save(&d.0, "test/b/3.png", |p| grey(3).save(p).unwrap());
    let s = read_image_folder(&d.0).unwrap();
    assert_eq!(s.train.image_shape(), [1, H as usize, W as usize]);
    assert_eq!(
        s.train.images(),
        grey(1)
            .into_raw()
            .iter()
            .chain(grey(2).as_raw())
            .copied()
            .collect::<Vec<_>>()
            .as_slice()
    );
    assert_eq!(s.test.images(), grey(3).as_raw().as_slice());
}

#[test]
fn grey_and_colour_mixed_gives_rgb() {
    let d = TempDir::new("mixed");
    save(&d.0, "train/a/1.png", |p| grey(1).save(p).unwrap());
    // RGBA: alpha is dropped.
    save(&d.0, "test/a/2.png", |p| {
        RgbaImage::from_fn(W, H, |x, y| {
            let v = rgb(2).get_pixel(x, y).0;
            Rgba([v[0], v[1], v[2], 7])
        })
        .save(p)
        .unwrap()
    });
    let s = read_image_folder(&d.0).unwrap();
    assert_eq!(s.train.image_shape(), [3, H as usize, W as usize]);
    let g = grey(1).into_raw();
    let want: Vec<u8> = g.iter().chain(&g).chain(&g).copied().collect();
    assert_eq!(s.train.images(), want.as_slice());
    assert_eq!(s.test.images(), planar(2).as_slice());
}

#[test]
fn jpeg_files_are_read() {
    let d = TempDir::new("jpeg");
    save(&d.0, "train/a/1.jpg", |p| rgb(1).save(p).unwrap());
    save(&d.0, "train/b/2.jpeg", |p| rgb(2).save(p).unwrap());
    save(&d.0, "test/a/3.JPG", |p| rgb(3).save(p).unwrap());
    let s = read_image_folder(&d.0).unwrap();
    assert_eq!(s.train.len(), 2);
    assert_eq!(s.train.image_shape(), [3, H as usize, W as usize]);
    assert_eq!(s.test.labels(), &[0]);
}

fn err_naming<T: std::fmt::Debug>(r: maxl::Result<T>, needle: &str) -> Error {
    let e = r.expect_err("expected an error");
    let msg = e.to_string();
    assert!(
        msg.contains(needle),
        "error {msg:?} does not name {needle:?}"
    );
    e
}

#[test]
fn images_of_another_size_are_named() {
    let d = TempDir::new("size");
    write_two_classes(&d.0);
    save(&d.0, "test/dog/big.png", |p| {
        RgbImage::new(W + 1, H).save(p).unwrap()
    });
    let e = err_naming(read_image_folder(&d.0), "big.png");
    assert!(e.to_string().contains("one size"), "{e}");
    // Sizes are written height x width, as tensors are (and as the models' errors write them).
    let want = format!("is {H}x{} (height x width)", W + 1);
    assert!(e.to_string().contains(&want), "{e} lacks {want:?}");
}

#[test]
fn undecodable_image_is_named() {
    let d = TempDir::new("garbage");
    write_two_classes(&d.0);
    std::fs::write(
        d.0.join("train/dog/broken.png"),
        b"\x89PNG\r\n\x1a\nnot really",
    )
    .unwrap();
    let e = err_naming(read_image_folder(&d.0), "broken.png");
    assert!(e.to_string().contains("undecodable"), "{e}");

    // A PNG cut after its header: the size is readable, the pixels are not.
    let d = TempDir::new("cut");
    write_two_classes(&d.0);
    let p = d.0.join("test/cat/c.png");
    let full = std::fs::read(&p).unwrap();
    std::fs::write(&p, &full[..40]).unwrap();
    err_naming(read_image_folder(&d.0), "c.png");
}

#[test]
fn missing_folders_and_classes() {
    let d = TempDir::new("missing");
    let e = err_naming(read_image_folder(&d.0.join("nowhere")), "nowhere");
    assert!(matches!(e, Error::NotFound { .. }));
    write_two_classes(&d.0);
    std::fs::remove_dir_all(d.0.join("test")).unwrap();
    let e = err_naming(read_image_folder(&d.0), "test");
    assert!(matches!(e, Error::NotFound { .. }));

    // A test class the train folder does not have.
    save(&d.0, "test/bird/x.png", |p| rgb(1).save(p).unwrap());
    err_naming(read_image_folder(&d.0), "bird");

    // A train class folder with no images.
    let d = TempDir::new("emptyclass");
    write_two_classes(&d.0);
    std::fs::create_dir_all(d.0.join("train/empty")).unwrap();
    err_naming(read_image_folder(&d.0), "empty");
}
