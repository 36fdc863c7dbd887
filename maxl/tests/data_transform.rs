//! Transforms checked by hand: MAXL's normalisation values, crop with zero padding and
//! horizontal flip on a tiny image, and the seeded augmentation's choices.

use maxl::data::{crop_padded, flip_horizontal, Augment, Normalize};
use maxl_engine::Rng;

#[test]
fn maxl_normalisation_by_hand() {
    let n = Normalize::maxl(1);
    let src = [0u8, 255, 51, 128];
    let mut out = [0f32; 4];
    n.apply(&src, 4, &mut out).unwrap();
    let want = [-2.5, 2.5, -1.5, (128.0 / 255.0 - 0.5) / 0.2];
    for (o, w) in out.iter().zip(want) {
        assert!((o - w).abs() < 1e-6, "{o} vs {w}");
    }
}

#[test]
fn per_channel_normalisation_and_tensor() {
    // Two images of 2 channels x 1 pixel; channel 1 has mean 0, std 0.5.
    let n = Normalize::new(vec![0.5, 0.0], vec![0.2, 0.5]).unwrap();
    let t = n.to_tensor(&[0, 255, 255, 0], [2, 2, 1, 1]).unwrap();
    assert_eq!(t.shape(), &[2, 2, 1, 1]);
    let v = t.to_vec::<f32>().unwrap();
    let want = [-2.5, 2.0, 2.5, 0.0];
    for (o, w) in v.iter().zip(want) {
        assert!((o - w).abs() < 1e-6, "{o} vs {w}");
    }
    assert!(Normalize::new(vec![0.5], vec![0.0]).is_err());
    assert!(Normalize::new(vec![0.5, 0.5], vec![0.2]).is_err());
    assert!(n.to_tensor(&[0, 1, 2], [1, 2, 1, 1]).is_err());
}

/// A 1 x 3 x 3 image:
/// 1 2 3
/// 4 5 6
/// 7 8 9
const IMG: [u8; 9] = [1, 2, 3, 4, 5, 6, 7, 8, 9];

fn crop(top: usize, left: usize) -> [u8; 9] {
    let mut out = [0u8; 9];
    crop_padded(&IMG, [1, 3, 3], 1, top, left, &mut out);
    out
}

#[test]
fn crop_with_zero_padding_by_hand() {
    assert_eq!(crop(1, 1), IMG);
    assert_eq!(crop(0, 0), [0, 0, 0, 0, 1, 2, 0, 4, 5]);
    assert_eq!(crop(2, 2), [5, 6, 0, 8, 9, 0, 0, 0, 0]);
    assert_eq!(crop(0, 2), [0, 0, 0, 2, 3, 0, 5, 6, 0]);
    assert_eq!(crop(1, 0), [0, 1, 2, 0, 4, 5, 0, 7, 8]);
    // Padding larger than the image: only the corner pixel survives.
    let mut out = [9u8; 9];
    crop_padded(&IMG, [1, 3, 3], 4, 6, 6, &mut out);
    assert_eq!(out, [9, 0, 0, 0, 0, 0, 0, 0, 0]);
}

#[test]
fn flip_by_hand() {
    // 2 channels of 2 x 3.
    let mut img = [1u8, 2, 3, 4, 5, 6, 10, 20, 30, 40, 50, 60];
    flip_horizontal(&mut img, [2, 2, 3]);
    assert_eq!(img, [3, 2, 1, 6, 5, 4, 30, 20, 10, 60, 50, 40]);
}

#[test]
fn seeded_augmentation_reproduces_and_covers_all_choices() {
    let aug = Augment::CropFlip {
        padding: 1,
        flip: true,
    };
    let mut seen = std::collections::HashSet::new();
    for seed in 0..400 {
        let mut out = [0u8; 9];
        aug.apply(&IMG, [1, 3, 3], &mut Rng::new(seed), &mut out);
        let mut again = [0u8; 9];
        aug.apply(&IMG, [1, 3, 3], &mut Rng::new(seed), &mut again);
        assert_eq!(out, again);
        // The same choice made by hand, drawn in the documented order.
        let mut r = Rng::new(seed);
        let (top, left) = (r.below(3), r.below(3));
        let mut want = crop(top, left);
        if r.uniform() < 0.5 {
            flip_horizontal(&mut want, [1, 3, 3]);
        }
        assert_eq!(out, want);
        seen.insert(out);
    }
    // 9 offsets x 2 flips, all distinct on this image.
    assert_eq!(seen.len(), 18);
    let mut out = [0u8; 9];
    Augment::None.apply(&IMG, [1, 3, 3], &mut Rng::new(0), &mut out);
    assert_eq!(out, IMG);
}

#[test]
fn maxl_augmentation_by_shape() {
    assert_eq!(
        Augment::maxl([3, 32, 32]),
        Augment::CropFlip {
            padding: 4,
            flip: true
        }
    );
    assert_eq!(Augment::maxl([1, 28, 28]), Augment::None);
}
