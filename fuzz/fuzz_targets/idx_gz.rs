//! IDX reader behind its gzip path: the input is compressed first (so that the IDX header
//! checks see fuzzed bytes through a valid gzip stream); the result must equal the raw
//! input's.
#![no_main]

use flate2::write::GzEncoder;
use flate2::Compression;
use libfuzzer_sys::fuzz_target;
use std::io::Write;

fuzz_target!(|data: &[u8]| {
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(data).expect("in memory");
    let gz = gz.finish().expect("in memory");
    let via_gz = maxl::data::parse_idx_bytes(&gz);
    // Raw bytes that start with the gzip magic would be read as gzip: compare only others.
    if !data.starts_with(&[0x1f, 0x8b]) {
        let raw = maxl::data::parse_idx_bytes(data);
        match (&via_gz, &raw) {
            (Ok(a), Ok(b)) => assert_eq!(a, b),
            (Err(a), Err(b)) => assert_eq!(a.to_string(), b.to_string()),
            _ => panic!("gzip and raw disagree: {via_gz:?} vs {raw:?}"),
        }
    }
});
