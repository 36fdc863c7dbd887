//! CIFAR-10 record file (1 label byte + 3072 pixels per record) on arbitrary bytes: Ok or
//! Err, never a panic; an Ok data set has one label in 0..10 per whole record.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = maxl::data::parse_cifar10_bytes(data) {
        assert_eq!(d.len() * 3073, data.len());
        assert!(d.labels().iter().all(|&l| (0..10).contains(&l)));
    }
});
