//! The on-disk cache of compiled kernel modules, so that a second process loads the CUBIN (and
//! PTX) of a module instead of running NVRTC again. One file per module and compilation key;
//! the key hashes the program text, the NVRTC options (the architecture among them) and the
//! NVRTC version. An entry carries its key, its lengths and a checksum: one that does not
//! verify (truncated, overwritten, from another version of this format) is deleted and the
//! module recompiled, never used. Writes go to a private temporary file renamed into place, so
//! concurrent processes never read a half-written entry. The cache is best effort: a folder
//! that cannot be created or written costs a recompilation, never an error.
//!
//! Location: `$MAXL_KERNEL_CACHE` when set (`off`, `0`, `false` or `none` disable the cache),
//! else `$XDG_CACHE_HOME/maxl/kernels`, else `$HOME/.cache/maxl/kernels`.

use crate::nvrtc::{CompileOptions, ModuleImage};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// Environment variable naming the cache folder, or disabling the cache.
pub const KERNEL_CACHE_ENV: &str = "MAXL_KERNEL_CACHE";

/// First bytes of every entry (the last byte is the format version).
const MAGIC: &[u8; 8] = b"MAXLKC\x00\x01";

/// Bumped when what goes into a key changes.
const KEY_FORMAT: &str = "maxl-kernel-cache v1";

/// A folder of compiled modules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiskCache {
    dir: PathBuf,
}

/// Where a module image came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// Compiled by NVRTC in this call.
    Compiled,
    /// Read from the disk cache.
    Disk,
    /// Already compiled by this process.
    Memory,
}

impl Origin {
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Compiled => "compiled",
            Origin::Disk => "disk cache",
            Origin::Memory => "memory",
        }
    }
}

/// The cache folder the environment asks for: `None` when the cache is disabled or no folder
/// can be named. Arguments: the values of `MAXL_KERNEL_CACHE`, `XDG_CACHE_HOME` and `HOME`.
pub fn dir_from_env(
    explicit: Option<OsString>,
    xdg_cache_home: Option<OsString>,
    home: Option<OsString>,
) -> Option<PathBuf> {
    let non_empty = |v: Option<OsString>| v.filter(|s| !s.is_empty());
    if let Some(v) = non_empty(explicit) {
        let off = v
            .to_str()
            .is_some_and(|s| matches!(s.trim(), "off" | "0" | "false" | "none"));
        return (!off).then(|| PathBuf::from(v));
    }
    if let Some(x) = non_empty(xdg_cache_home).map(PathBuf::from) {
        if x.is_absolute() {
            return Some(x.join("maxl").join("kernels"));
        }
    }
    non_empty(home).map(|h| PathBuf::from(h).join(".cache").join("maxl").join("kernels"))
}

/// 64-bit FNV-1a (the payload checksum).
fn fnv64(bytes: &[u8]) -> u64 {
    let mut h = 0xcbf2_9ce4_8422_2325u64;
    for &b in bytes {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// 128-bit FNV-1a over several fields (each followed by its length, so that field boundaries
/// count): the cache key.
fn fnv128(fields: &[&[u8]]) -> u128 {
    const PRIME: u128 = 0x0000_0000_0100_0000_0000_0000_0000_013b;
    let mut h: u128 = 0x6c62_272e_07bb_0142_62b8_2175_6295_c58d;
    let mut eat = |b: u8| {
        h ^= u128::from(b);
        h = h.wrapping_mul(PRIME);
    };
    for f in fields {
        f.iter().copied().for_each(&mut eat);
        (f.len() as u64)
            .to_le_bytes()
            .into_iter()
            .for_each(&mut eat);
    }
    h
}

/// The cache key of compiling `program` with `opts` by NVRTC `version` (32 hex digits).
pub fn cache_key(program: &str, opts: &CompileOptions, nvrtc_version: (i32, i32)) -> String {
    let args = opts.to_args().join("\u{1f}");
    let ver = format!("{}.{}", nvrtc_version.0, nvrtc_version.1);
    format!(
        "{:032x}",
        fnv128(&[
            KEY_FORMAT.as_bytes(),
            program.as_bytes(),
            args.as_bytes(),
            opts.arch.as_bytes(),
            ver.as_bytes(),
        ])
    )
}

impl DiskCache {
    /// A cache in folder `dir` (created on the first write).
    pub fn at(dir: impl Into<PathBuf>) -> DiskCache {
        DiskCache { dir: dir.into() }
    }

    /// The cache the environment names (see the module documentation), or `None`.
    pub fn from_env() -> Option<DiskCache> {
        dir_from_env(
            std::env::var_os(KERNEL_CACHE_ENV),
            std::env::var_os("XDG_CACHE_HOME"),
            std::env::var_os("HOME"),
        )
        .map(DiskCache::at)
    }

    /// The process-wide cache, read from the environment once.
    pub fn global() -> Option<&'static DiskCache> {
        static GLOBAL: OnceLock<Option<DiskCache>> = OnceLock::new();
        GLOBAL.get_or_init(DiskCache::from_env).as_ref()
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The file of module `module` under `key`.
    pub fn entry_path(&self, module: &str, key: &str) -> PathBuf {
        let safe: String = module
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .collect();
        self.dir.join(format!("{safe}-{key}.mkc"))
    }

    /// The image stored for `module` under `key`, if there is one that verifies; an entry that
    /// does not is deleted.
    pub fn get(&self, module: &str, key: &str) -> Option<ModuleImage> {
        let path = self.entry_path(module, key);
        let bytes = std::fs::read(&path).ok()?;
        match decode(&bytes, key) {
            Some(img) => Some(img),
            None => {
                let _ = std::fs::remove_file(&path);
                None
            }
        }
    }

    /// Stores `img` for `module` under `key`; `false` when it could not be written.
    pub fn put(&self, module: &str, key: &str, img: &ModuleImage) -> bool {
        if std::fs::create_dir_all(&self.dir).is_err() {
            return false;
        }
        let path = self.entry_path(module, key);
        static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let tmp = self.dir.join(format!(
            ".tmp-{}-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            path.file_name()
                .map(|n| n.to_string_lossy())
                .unwrap_or_default()
        ));
        let ok =
            std::fs::write(&tmp, encode(img, key)).is_ok() && std::fs::rename(&tmp, &path).is_ok();
        if !ok {
            let _ = std::fs::remove_file(&tmp);
        }
        ok
    }

    /// Number of entries in the folder (0 when it does not exist).
    pub fn entries(&self) -> usize {
        std::fs::read_dir(&self.dir)
            .map(|rd| {
                rd.filter_map(|e| e.ok())
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".mkc"))
                    .count()
            })
            .unwrap_or(0)
    }
}

/// Entry layout: MAGIC, then u64 (little-endian) lengths of key, arch, PTX and CUBIN (u64::MAX
/// for none), the u64 checksum of everything after the header, then key, arch, PTX, CUBIN.
fn encode(img: &ModuleImage, key: &str) -> Vec<u8> {
    let cubin = img.cubin.as_deref();
    let mut body = Vec::new();
    body.extend_from_slice(key.as_bytes());
    body.extend_from_slice(img.arch.as_bytes());
    body.extend_from_slice(img.ptx.as_bytes());
    if let Some(c) = cubin {
        body.extend_from_slice(c);
    }
    let mut out = Vec::with_capacity(8 + 5 * 8 + body.len());
    out.extend_from_slice(MAGIC);
    for n in [
        key.len() as u64,
        img.arch.len() as u64,
        img.ptx.len() as u64,
        cubin.map_or(u64::MAX, |c| c.len() as u64),
        fnv64(&body),
    ] {
        out.extend_from_slice(&n.to_le_bytes());
    }
    out.extend_from_slice(&body);
    out
}

fn decode(bytes: &[u8], key: &str) -> Option<ModuleImage> {
    let rest = bytes.strip_prefix(MAGIC)?;
    let word = |i: usize| -> Option<u64> {
        let b = rest.get(i * 8..i * 8 + 8)?;
        Some(u64::from_le_bytes(b.try_into().ok()?))
    };
    let (klen, alen, plen, clen, sum) = (word(0)?, word(1)?, word(2)?, word(3)?, word(4)?);
    let body = &rest[40..];
    let clen_n = if clen == u64::MAX { 0 } else { clen };
    let total = [klen, alen, plen, clen_n]
        .iter()
        .try_fold(0u64, |a, &b| a.checked_add(b))?;
    if total != body.len() as u64 || fnv64(body) != sum {
        return None;
    }
    let (k, rest) = body.split_at(klen as usize);
    let (arch, rest) = rest.split_at(alen as usize);
    let (ptx, cubin) = rest.split_at(plen as usize);
    if k != key.as_bytes() || !ptx.starts_with(b"//") {
        return None;
    }
    let cubin = if clen == u64::MAX {
        None
    } else if cubin.starts_with(b"\x7fELF") {
        Some(cubin.to_vec())
    } else {
        return None;
    };
    Some(ModuleImage {
        arch: String::from_utf8(arch.to_vec()).ok()?,
        ptx: String::from_utf8(ptx.to_vec()).ok()?,
        cubin,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(cubin: bool) -> ModuleImage {
        ModuleImage {
            arch: if cubin { "sm_90" } else { "compute_90" }.into(),
            ptx: "//\n.version 9.0\n.target sm_90\n".into(),
            cubin: cubin.then(|| b"\x7fELF\x02\x01rest of an image".to_vec()),
        }
    }

    fn temp(tag: &str) -> PathBuf {
        std::env::temp_dir().join(format!("maxl-kcache-unit-{tag}-{}", std::process::id()))
    }

    #[test]
    fn location_from_the_environment() {
        let s = |v: &str| Some(OsString::from(v));
        assert_eq!(
            dir_from_env(s("/c/k"), s("/x"), s("/h")),
            Some(PathBuf::from("/c/k"))
        );
        for off in ["off", "0", "false", "none"] {
            assert_eq!(dir_from_env(s(off), s("/x"), s("/h")), None, "{off}");
        }
        assert_eq!(
            dir_from_env(None, s("/x"), s("/h")),
            Some(PathBuf::from("/x/maxl/kernels"))
        );
        // A relative or empty XDG_CACHE_HOME is ignored, as the XDG spec says.
        assert_eq!(
            dir_from_env(s(""), s("rel"), s("/h")),
            Some(PathBuf::from("/h/.cache/maxl/kernels"))
        );
        assert_eq!(dir_from_env(None, None, None), None);
    }

    #[test]
    fn key_depends_on_source_options_and_version() {
        let o = CompileOptions::cubin_for(9, 0);
        let k = cache_key("src", &o, (13, 0));
        assert_eq!(k.len(), 32);
        assert_eq!(k, cache_key("src", &o, (13, 0)));
        assert_ne!(k, cache_key("src2", &o, (13, 0)));
        assert_ne!(k, cache_key("src", &o, (13, 1)));
        assert_ne!(
            k,
            cache_key("src", &CompileOptions::cubin_for(8, 0), (13, 0))
        );
        assert_ne!(k, cache_key("src", &CompileOptions::default(), (13, 0)));
        let fast = CompileOptions {
            fast_math: true,
            ..o.clone()
        };
        assert_ne!(k, cache_key("src", &fast, (13, 0)));
    }

    #[test]
    fn entries_round_trip_and_bad_ones_are_dropped() {
        let dir = temp("roundtrip");
        let c = DiskCache::at(&dir);
        for cubin in [false, true] {
            let img = image(cubin);
            assert!(c.get("m", "k1").is_none());
            assert!(c.put("m", "k1", &img));
            assert_eq!(c.get("m", "k1"), Some(img.clone()));
            // Under another key (a renamed file), the entry does not verify.
            let bytes = std::fs::read(c.entry_path("m", "k1")).unwrap();
            std::fs::write(c.entry_path("m", "k2"), &bytes).unwrap();
            assert!(c.get("m", "k2").is_none());
            assert!(!c.entry_path("m", "k2").exists(), "a bad entry is deleted");
            // Truncated, a byte changed, garbage, empty: never used.
            let bad: Vec<Vec<u8>> = vec![
                bytes[..bytes.len() - 3].to_vec(),
                {
                    let mut b = bytes.clone();
                    let last = b.len() - 1;
                    b[last] ^= 0x40;
                    b
                },
                b"not an entry".to_vec(),
                Vec::new(),
            ];
            for b in bad {
                std::fs::write(c.entry_path("m", "k1"), &b).unwrap();
                assert!(c.get("m", "k1").is_none());
                assert!(!c.entry_path("m", "k1").exists());
            }
        }
        assert_eq!(c.entries(), 0);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn an_unwritable_folder_is_not_an_error() {
        let file = temp("notadir");
        std::fs::write(&file, b"x").unwrap();
        let c = DiskCache::at(file.join("sub"));
        assert!(!c.put("m", "k", &image(true)));
        assert!(c.get("m", "k").is_none());
        let _ = std::fs::remove_file(&file);
    }
}
