//! CUBIN compilation and the on-disk module cache, with NVRTC and without a GPU: NVRTC makes a
//! CUBIN for sm_90 holding every kernel of the module; a second compile of the same module
//! (in a fresh cache object, as a second process would) reads the disk instead of running
//! NVRTC; a corrupt or truncated entry is compiled again, never used. Where NVRTC is missing
//! the tests say so and pass, except in CI (`CI=true`), where they fail.

use maxl_kernels::{
    compile_cached, compile_module_image, module, nvrtc_available, CompileOptions, DiskCache,
    Origin,
};
use std::path::PathBuf;

fn have_nvrtc() -> bool {
    match nvrtc_available() {
        Ok(()) => true,
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "CI=true but {e}");
            eprintln!("SKIPPED: {e}");
            false
        }
    }
}

fn temp_dir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("maxl-kcache-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

/// `true` when the ELF image names a section `.text.<kernel>` (each kernel's code).
fn cubin_has_kernel(cubin: &[u8], kernel: &str) -> bool {
    let needle = format!(".text.{kernel}\0");
    cubin.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[test]
fn cubin_for_sm_90_compiles_without_a_gpu() {
    if !have_nvrtc() {
        return;
    }
    for name in ["pool", "focal_loss"] {
        let m = module(name).expect("module");
        let img = compile_module_image(m, &CompileOptions::cubin_for(9, 0))
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(img.arch, "sm_90");
        assert!(img.ptx.contains(".target sm_90"), "{name}: PTX target");
        let cubin = img.cubin.expect("a CUBIN for sm_90");
        assert!(cubin.starts_with(b"\x7fELF"), "{name}: not an ELF image");
        // ELF e_machine (offset 18, little-endian) is EM_CUDA = 190.
        assert_eq!(u16::from_le_bytes([cubin[18], cubin[19]]), 190);
        for k in m.kernels {
            assert!(cubin_has_kernel(&cubin, k), "{name}: {k} not in the CUBIN");
        }
        assert!(!cubin_has_kernel(&cubin, "no_such_kernel"));
        println!(
            "{name}: CUBIN sm_90 {} B, PTX {} B",
            cubin.len(),
            img.ptx.len()
        );
    }
    // A virtual architecture gives PTX only.
    let img = compile_module_image(module("focal_loss").unwrap(), &CompileOptions::default())
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(img.cubin.is_none() && img.ptx.contains(".target sm_90"));
}

#[test]
fn a_second_compile_reads_the_disk_cache() {
    if !have_nvrtc() {
        return;
    }
    let dir = temp_dir("hit");
    let m = module("focal_loss").expect("module");
    let opts = CompileOptions::cubin_for(9, 0);
    let (first, o1) = compile_cached(Some(&DiskCache::at(&dir)), m, &opts).expect("compile");
    assert_eq!(o1, Origin::Compiled);
    assert_eq!(DiskCache::at(&dir).entries(), 1);
    // A fresh cache object over the same folder, as another process would open it.
    let t = std::time::Instant::now();
    let (second, o2) = compile_cached(Some(&DiskCache::at(&dir)), m, &opts).expect("read");
    println!("cache hit in {:.2?}", t.elapsed());
    assert_eq!(o2, Origin::Disk);
    assert_eq!(first, second);
    // Other options are another entry.
    let (_, o3) = compile_cached(Some(&DiskCache::at(&dir)), m, &CompileOptions::default())
        .expect("compile PTX");
    assert_eq!(o3, Origin::Compiled);
    assert_eq!(DiskCache::at(&dir).entries(), 2);
    // No disk cache: always compiled.
    let (_, o4) = compile_cached(None, m, &opts).expect("compile");
    assert_eq!(o4, Origin::Compiled);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_corrupt_entry_is_compiled_again_never_used() {
    if !have_nvrtc() {
        return;
    }
    let dir = temp_dir("corrupt");
    let cache = DiskCache::at(&dir);
    let m = module("focal_loss").expect("module");
    let opts = CompileOptions::cubin_for(9, 0);
    let (good, _) = compile_cached(Some(&cache), m, &opts).expect("compile");
    let entry = std::fs::read_dir(&dir)
        .expect("cache folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "mkc"))
        .expect("an entry");
    let bytes = std::fs::read(&entry).expect("read entry");
    let damaged: Vec<(&str, Vec<u8>)> = vec![
        ("truncated", bytes[..bytes.len() / 2].to_vec()),
        ("one byte of the CUBIN changed", {
            let mut b = bytes.clone();
            let i = b.len() - 100;
            b[i] ^= 0x01;
            b
        }),
        ("empty", Vec::new()),
        ("another file", b"\x7fELF not a cache entry".to_vec()),
    ];
    for (what, b) in damaged {
        std::fs::write(&entry, &b).expect("damage the entry");
        let (img, origin) = compile_cached(Some(&cache), m, &opts).expect("recompile");
        assert_eq!(
            origin,
            Origin::Compiled,
            "{what}: the damaged entry was used"
        );
        assert_eq!(img, good, "{what}");
        // The recompiled module was stored again, intact.
        let (_, again) = compile_cached(Some(&cache), m, &opts).expect("read");
        assert_eq!(again, Origin::Disk, "{what}: not rewritten");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
