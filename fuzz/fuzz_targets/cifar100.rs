//! CIFAR-100 record file (coarse and fine label bytes + 3072 pixels per record) on arbitrary
//! bytes: Ok or Err, never a panic; an Ok data set has its four-level hierarchy.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(d) = maxl::data::parse_cifar100_bytes(data) {
        assert_eq!(d.len() * 3074, data.len());
        let h = d.hierarchy().expect("CIFAR-100 has a hierarchy");
        for level in [3, 10, 20, 100] {
            assert_eq!(h.labels(level).expect("level").len(), d.len());
        }
    }
});
