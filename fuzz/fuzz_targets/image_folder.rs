//! Image-folder reader with one fuzzed file: `train/a/x.png` and `test/a/x.png` hold the
//! input (the format is guessed from the content, so JPEG bytes are read as JPEG). Ok or Err,
//! never a panic or an allocation past libFuzzer's limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

/// One folder per fuzzing process, reused by every input.
fn root() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let r = std::env::temp_dir().join(format!("maxl-fuzz-folder-{}", std::process::id()));
        for split in ["train", "test"] {
            std::fs::create_dir_all(r.join(split).join("a")).expect("temp folder");
        }
        r
    })
}

fuzz_target!(|data: &[u8]| {
    let root = root();
    for split in ["train", "test"] {
        std::fs::write(root.join(split).join("a").join("x.png"), data).expect("temp file");
    }
    if let Ok(s) = maxl::data::read_image_folder(root) {
        assert_eq!((s.train.len(), s.test.len()), (1, 1));
        assert_eq!(s.train.images(), s.test.images());
        assert!(matches!(s.train.channels(), 1 | 3));
    }
});
