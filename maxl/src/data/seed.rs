//! Seeds of the independent random streams of a run (shuffles, augmentation, synthetic data,
//! the K-Means baseline), derived from the run seed and the stream's coordinates.

/// A seed for one stream of random numbers, mixed from a base seed and stream coordinates
/// (splitmix64 steps), so that nearby coordinates give unrelated generators.
pub(crate) fn derive_seed(seed: u64, parts: &[u64]) -> u64 {
    let mix = |mut z: u64| {
        z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    };
    parts.iter().fold(mix(seed), |h, &p| mix(h ^ mix(p)))
}
