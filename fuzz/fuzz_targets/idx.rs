//! IDX reader on arbitrary bytes: raw, or gzip when they start with 1f 8b. It must return
//! Ok or Err, never panic; an Ok array holds exactly the bytes its dimensions promise.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(a) = maxl::data::parse_idx_bytes(data) {
        let n = a.dims.iter().product::<usize>();
        assert_eq!(a.data.len(), n, "dims {:?}", a.dims);
    }
});
