//! Runs the CUDA kernels on the CPU: `tests/emu/` compiles the `.cu` sources as C++ against a
//! small emulation of the CUDA features they use (`emu/emu.h`, shared with the loadable
//! emulator of `src/emulator.rs`: blocks of cooperative fibers, block and warp barriers, warp
//! shuffles, the TF32 mma with the PTX ISA's fragment layouts) and checks every kernel family
//! against reference implementations in double precision (finite differences for the fused
//! backward kernels). It tests the kernels' logic without a GPU; the GPU parity tests
//! of the CUDA backend test the rest. Needs g++ with C++20 (present on the CI machines: in CI
//! a missing g++ fails the test, elsewhere it is skipped with a message).

use std::path::{Path, PathBuf};
use std::process::Command;

const UNITS: [&str; 9] = [
    "main",
    "elementwise",
    "reduce",
    "gemm",
    "conv",
    "pool",
    "batchnorm",
    "softmax",
    "focal",
];

fn compiler() -> Option<String> {
    let cxx = std::env::var("CXX").unwrap_or_else(|_| "g++".to_string());
    let ok = Command::new(&cxx)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if ok {
        return Some(cxx);
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
    assert!(
        !ci,
        "CI=true but no C++ compiler ({cxx}) to build the kernel emulation"
    );
    eprintln!("SKIPPED: no C++ compiler ({cxx}) for the kernel emulation tests");
    None
}

fn compile(cxx: &str, src: &Path, obj: &Path) -> Result<(), String> {
    let o = Command::new(cxx)
        .args(["-std=c++20", "-O1", "-pthread", "-w", "-c"])
        .arg(src)
        .arg("-o")
        .arg(obj)
        .output()
        .map_err(|e| format!("{cxx}: {e}"))?;
    if o.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{} failed to compile:\n{}",
            src.display(),
            String::from_utf8_lossy(&o.stderr)
        ))
    }
}

#[test]
fn kernels_match_references_under_cpu_emulation() {
    let Some(cxx) = compiler() else { return };
    let emu = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/emu");
    // One folder per process: debug and release test runs may overlap.
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("kernel-emu-{}", std::process::id()));
    std::fs::create_dir_all(&out).expect("create the build folder");
    // Two compilers at a time (the machines have 2 cores).
    let objs: Vec<PathBuf> = UNITS.iter().map(|u| out.join(format!("{u}.o"))).collect();
    let mut errors = Vec::new();
    for pair in UNITS.iter().zip(&objs).collect::<Vec<_>>().chunks(2) {
        let results: Vec<Result<(), String>> = std::thread::scope(|s| {
            let hs: Vec<_> = pair
                .iter()
                .map(|(u, o)| {
                    let src = emu.join(format!("{u}.cpp"));
                    let cxx = cxx.clone();
                    s.spawn(move || compile(&cxx, &src, o))
                })
                .collect();
            hs.into_iter()
                .map(|h| {
                    h.join()
                        .unwrap_or_else(|_| Err("compiler thread panicked".into()))
                })
                .collect()
        });
        errors.extend(results.into_iter().filter_map(Result::err));
    }
    assert!(errors.is_empty(), "{}", errors.join("\n"));
    let exe = out.join("emu_tests");
    let link = Command::new(&cxx)
        .arg("-pthread")
        .args(&objs)
        .arg("-o")
        .arg(&exe)
        .output()
        .expect("run the linker");
    assert!(
        link.status.success(),
        "link failed:\n{}",
        String::from_utf8_lossy(&link.stderr)
    );
    let run = Command::new(&exe)
        .output()
        .expect("run the emulation tests");
    let _ = std::fs::remove_dir_all(&out);
    let stdout = String::from_utf8_lossy(&run.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&run.stderr));
    assert!(
        run.status.success() && stdout.contains("0 failed checks"),
        "kernel emulation checks failed:\n{}",
        stdout
            .lines()
            .filter(|l| l.starts_with("FAIL"))
            .collect::<Vec<_>>()
            .join("\n")
    );
}
