//! The loadable kernel emulator (`maxl_kernels::Emulator`): built with the system C++ compiler
//! on first use, it runs kernels by name with cuLaunchKernel's `kernelParams` convention. These
//! tests launch kernels from Rust through raw parameter pointers and compare with results
//! computed here. Needs a C++20 compiler (env CXX, default g++): in CI (CI=true) a missing one
//! fails the tests, elsewhere they are skipped with a message.

use maxl_kernels::{Emulator, Error, Strided};
use std::ffi::c_void;
use std::time::Instant;

fn emulator() -> Option<&'static Emulator> {
    if let Err(e) = maxl_kernels::emulator::compiler_available() {
        let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
        assert!(!ci, "CI=true but {e}");
        eprintln!("SKIPPED: {e}");
        return None;
    }
    let t = Instant::now();
    let emu = Emulator::global().unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "emulator ready in {:.2?} ({})",
        t.elapsed(),
        emu.library_path().display()
    );
    Some(emu)
}

/// `kernelParams` entry of an argument value.
fn p<T>(v: &mut T) -> *mut c_void {
    (v as *mut T).cast()
}

/// A "device pointer" of the emulator: the host address, as the u64 a kernel argument holds.
fn dptr<T>(v: &mut [T]) -> u64 {
    v.as_mut_ptr() as u64
}

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64 * 2.0 - 1.0
    }
    fn vec(&mut self, n: usize) -> Vec<f64> {
        (0..n).map(|_| self.next()).collect()
    }
}

#[test]
fn every_listed_kernel_is_in_the_library() {
    let Some(emu) = emulator() else { return };
    for k in maxl_kernels::all_kernels() {
        assert!(emu.has_kernel(k), "{k} missing from the emulator");
    }
    assert_eq!(emu.param_sizes("add_f32"), Some(&[8, 8, 8, 8, 200][..]));
    assert_eq!(emu.param_sizes("fill_f32"), Some(&[8, 8, 4][..]));
    assert_eq!(emu.param_sizes("nope"), None);
}

#[test]
fn add_f32_contiguous_1000() {
    let Some(emu) = emulator() else { return };
    let n = 1000usize;
    let mut rng = Rng(1);
    let a: Vec<f32> = rng.vec(n).iter().map(|&v| v as f32).collect();
    let b: Vec<f32> = rng.vec(n).iter().map(|&v| v as f32).collect();
    let (mut a, mut b) = (a, b);
    let mut out = vec![f32::NAN; n];
    let mut layout = Strided::contiguous(&[n]).expect("layout");
    let (mut pa, mut pb, mut po) = (dptr(&mut a), dptr(&mut b), dptr(&mut out));
    let mut len = n as i64;
    let params = [
        p(&mut len),
        p(&mut pa),
        p(&mut pb),
        p(&mut po),
        p(&mut layout),
    ];
    let grid = [n.div_ceil(256) as u32, 1, 1];
    // SAFETY: add_f32(i64 n, const float* a, const float* b, float* out, Strided L) with
    // buffers of n elements.
    unsafe { emu.launch("add_f32", grid, [256, 1, 1], 0, &params) }.expect("launch");
    for i in 0..n {
        assert_eq!(out[i], a[i] + b[i], "element {i}");
    }
    // Per-launch time of this small kernel (4 blocks of 256 threads).
    let reps = 200;
    let t = Instant::now();
    for _ in 0..reps {
        // SAFETY: as above.
        unsafe { emu.launch("add_f32", grid, [256, 1, 1], 0, &params) }.expect("launch");
    }
    eprintln!(
        "add_f32 n=1000 (grid 4 x block 256): {:.1} us per launch",
        t.elapsed().as_secs_f64() * 1e6 / reps as f64
    );
    // The fixed cost: one block of 32 threads.
    let mut one = 1i64;
    let params = [
        p(&mut one),
        p(&mut pa),
        p(&mut pb),
        p(&mut po),
        p(&mut layout),
    ];
    let t = Instant::now();
    for _ in 0..reps {
        // SAFETY: as above, over 1 element.
        unsafe { emu.launch("add_f32", [1, 1, 1], [32, 1, 1], 0, &params) }.expect("launch");
    }
    eprintln!(
        "add_f32 n=1 (grid 1 x block 32): {:.2} us per launch",
        t.elapsed().as_secs_f64() * 1e6 / reps as f64
    );
}

#[test]
fn add_f64_broadcast_strided() {
    let Some(emu) = emulator() else { return };
    // a [3, 1, 5] + b [1, 4, 1] -> out [3, 4, 5], a read through strides (5, 0, 1).
    let mut rng = Rng(2);
    let (mut a, mut b) = (rng.vec(15), rng.vec(4));
    let mut out = vec![0.0f64; 60];
    let mut layout = Strided {
        rank: 3,
        contiguous: 0,
        ..Default::default()
    };
    layout.dims[..3].copy_from_slice(&[3, 4, 5]);
    layout.s0[..3].copy_from_slice(&[5, 0, 1]);
    layout.s1[..3].copy_from_slice(&[0, 1, 0]);
    let (mut pa, mut pb, mut po) = (dptr(&mut a), dptr(&mut b), dptr(&mut out));
    let mut len = 60i64;
    let params = [
        p(&mut len),
        p(&mut pa),
        p(&mut pb),
        p(&mut po),
        p(&mut layout),
    ];
    // SAFETY: add_f64(i64, const double*, const double*, double*, Strided), reads within a, b.
    unsafe { emu.launch("add_f64", [1, 1, 1], [32, 1, 1], 0, &params) }.expect("launch");
    for i in 0..3 {
        for j in 0..4 {
            for k in 0..5 {
                assert_eq!(out[(i * 4 + j) * 5 + k], a[i * 5 + k] + b[j]);
            }
        }
    }
}

#[test]
fn sum_last_and_max_last_f64() {
    let Some(emu) = emulator() else { return };
    let (rows, n) = (5usize, 1234usize);
    let mut x = Rng(3).vec(rows * n);
    x[2 * n + 17] = 7.0; // the max of row 2, at index 17
    x[2 * n + 900] = 7.0; // a tie later in the row: the first index wins
    let mut sums = vec![0.0f64; rows];
    let (mut px, mut ps) = (dptr(&mut x), dptr(&mut sums));
    let (mut len, mut scale) = (n as i64, 0.5f64);
    let params = [p(&mut len), p(&mut px), p(&mut ps), p(&mut scale)];
    // SAFETY: sum_last_f64(i64 n, const double* x, double* out, double scale), grid = rows.
    unsafe { emu.launch("sum_last_f64", [rows as u32, 1, 1], [256, 1, 1], 0, &params) }
        .expect("launch");
    for r in 0..rows {
        let want: f64 = x[r * n..(r + 1) * n].iter().sum::<f64>() * 0.5;
        assert!(
            (sums[r] - want).abs() <= 1e-12 * want.abs().max(1.0),
            "row {r}"
        );
    }
    let mut maxes = vec![0.0f64; rows];
    let mut idx = vec![-2i64; rows];
    let (mut pm, mut pi) = (dptr(&mut maxes), dptr(&mut idx));
    let params = [p(&mut len), p(&mut px), p(&mut pm), p(&mut pi)];
    // SAFETY: max_last_f64(i64 n, const double* x, double* out, i64* idx).
    unsafe { emu.launch("max_last_f64", [rows as u32, 1, 1], [256, 1, 1], 0, &params) }
        .expect("launch");
    for r in 0..rows {
        let row = &x[r * n..(r + 1) * n];
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let first = row.iter().position(|&v| v == m).map(|i| i as i64);
        assert_eq!((maxes[r], Some(idx[r])), (m, first), "row {r}");
    }
    assert_eq!((maxes[2], idx[2]), (7.0, 17));
}

/// C = alpha A B + beta C by a triple loop (row-major A [m, k], B [k, n], C [m, n]).
fn gemm_ref(
    (m, n, k): (usize, usize, usize),
    alpha: f64,
    a: &[f64],
    b: &[f64],
    beta: f64,
    c: &mut [f64],
) {
    for i in 0..m {
        for j in 0..n {
            let s: f64 = (0..k).map(|l| a[i * k + l] * b[l * n + j]).sum();
            c[i * n + j] = alpha * s + beta * c[i * n + j];
        }
    }
}

#[test]
fn gemm_f64_and_tf32_small() {
    let Some(emu) = emulator() else { return };
    let (m, n, k) = (70usize, 45usize, 37usize);
    let mut rng = Rng(4);
    let (mut a, mut b, c0) = (rng.vec(m * k), rng.vec(k * n), rng.vec(m * n));
    let (alpha, beta) = (1.5f64, -0.5f64);
    let mut want = c0.clone();
    gemm_ref((m, n, k), alpha, &a, &b, beta, &mut want);
    let mut c = c0.clone();
    let (mut pa, mut pb, mut pc) = (dptr(&mut a), dptr(&mut b), dptr(&mut c));
    let (mut mi, mut ni, mut ki) = (m as i32, n as i32, k as i32);
    let (mut al, mut be) = (alpha, beta);
    // Strides: A (batch, row, col) = (0, k, 1), B (0, n, 1), C (0, n, 1).
    let mut s = [0i64, k as i64, 1, 0, n as i64, 1, 0, n as i64, 1];
    let [a_bs, a_rs, a_cs, b_bs, b_rs, b_cs, c_bs, c_rs, c_cs] = &mut s;
    let params = [
        p(&mut mi),
        p(&mut ni),
        p(&mut ki),
        p(&mut al),
        p(&mut pa),
        p(a_bs),
        p(a_rs),
        p(a_cs),
        p(&mut pb),
        p(b_bs),
        p(b_rs),
        p(b_cs),
        p(&mut be),
        p(&mut pc),
        p(c_bs),
        p(c_rs),
        p(c_cs),
    ];
    let grid = [n.div_ceil(64) as u32, m.div_ceil(64) as u32, 1];
    let t = std::time::Instant::now();
    // SAFETY: gemm_f64(int M, int N, int K, double alpha, const double* A, i64 a_bs, i64 a_rs,
    // i64 a_cs, const double* B, i64 b_bs, b_rs, b_cs, double beta, double* C, c_bs, c_rs,
    // c_cs) over buffers of these shapes.
    unsafe { emu.launch("gemm_f64", grid, [256, 1, 1], 0, &params) }.expect("launch");
    eprintln!("gemm_f64 {m}x{n}x{k}: {:.2?}", t.elapsed());
    for (i, (g, w)) in c.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
            "C[{i}] {g} vs {w}"
        );
    }

    // The tensor-core kernel (TF32 products, mma fragment exchange across the warp) on f32.
    let (mut af, mut bf) = (
        a.iter().map(|&v| v as f32).collect::<Vec<_>>(),
        b.iter().map(|&v| v as f32).collect::<Vec<_>>(),
    );
    let mut cf = vec![0.0f32; m * n];
    let (mut pa, mut pb, mut pc) = (dptr(&mut af), dptr(&mut bf), dptr(&mut cf));
    let (mut alf, mut bef) = (1.0f32, 0.0f32);
    let mut s = [0i64, k as i64, 1, 0, n as i64, 1, 0, n as i64, 1];
    let [a_bs, a_rs, a_cs, b_bs, b_rs, b_cs, c_bs, c_rs, c_cs] = &mut s;
    let params = [
        p(&mut mi),
        p(&mut ni),
        p(&mut ki),
        p(&mut alf),
        p(&mut pa),
        p(a_bs),
        p(a_rs),
        p(a_cs),
        p(&mut pb),
        p(b_bs),
        p(b_rs),
        p(b_cs),
        p(&mut bef),
        p(&mut pc),
        p(c_bs),
        p(c_rs),
        p(c_cs),
    ];
    // SAFETY: gemm_tf32_f32 has gemm_f64's signature with float scalars and pointers.
    unsafe { emu.launch("gemm_tf32_f32", grid, [128, 1, 1], 0, &params) }.expect("launch");
    let mut plain = vec![0.0f64; m * n];
    let (a32, b32): (Vec<f64>, Vec<f64>) = (
        af.iter().map(|&v| v as f64).collect(),
        bf.iter().map(|&v| v as f64).collect(),
    );
    gemm_ref((m, n, k), 1.0, &a32, &b32, 0.0, &mut plain);
    for (i, (g, w)) in cf.iter().zip(&plain).enumerate() {
        // TF32 keeps 10 mantissa bits: |error| <~ 2^-10 sum |a b|.
        assert!(
            (*g as f64 - w).abs() <= 2e-3 * k as f64,
            "C[{i}] {g} vs {w}"
        );
    }
}

#[test]
fn errors_are_values() {
    let Some(emu) = emulator() else { return };
    let mut n = 0i64;
    let params = [p(&mut n)];
    // SAFETY: an unknown kernel is rejected before anything runs.
    let e = unsafe { emu.launch("no_such_kernel", [1, 1, 1], [32, 1, 1], 0, &params) };
    assert!(
        matches!(&e, Err(Error::Emulator(m)) if m.contains("unknown kernel")),
        "{e:?}"
    );
    // Wrong argument count for fill_f32(i64 n, float* y, float value).
    // SAFETY: rejected before anything runs.
    let e = unsafe { emu.launch("fill_f32", [1, 1, 1], [32, 1, 1], 0, &params) };
    assert!(
        matches!(&e, Err(Error::Emulator(m)) if m.contains("3 arguments")),
        "{e:?}"
    );
    // Bad shapes: 2048 threads, an empty grid, grid y and z past CUDA's 65535.
    let mut y = [0.0f32; 4];
    let (mut py, mut v) = (dptr(&mut y), 2.5f32);
    let mut len = 4i64;
    let params = [p(&mut len), p(&mut py), p(&mut v)];
    for (grid, block, why) in [
        ([1, 1, 1], [1024, 2, 1], "2048 threads per block"),
        ([0, 1, 1], [32, 1, 1], "a dimension is 0"),
        ([1, 65_536, 1], [32, 1, 1], "gridDim.y = 65536 > 65535"),
        ([1, 1, 70_000], [32, 1, 1], "gridDim.z = 70000 > 65535"),
    ] {
        // SAFETY: fill_f32 over 4 elements of y (rejected before it runs).
        let e = unsafe { emu.launch("fill_f32", grid, block, 0, &params) };
        assert!(
            matches!(&e, Err(Error::Launch { kernel, detail }) if kernel == "fill_f32" && detail.contains(why)),
            "{e:?}"
        );
        let msg = e.unwrap_err().to_string();
        assert!(msg.contains("launch shape out of CUDA's limits"), "{msg}");
    }
    assert_eq!(y, [0.0; 4]);
    // A 2-D block with a partial warp is fine: 3 x 5 threads cover 4 elements.
    // SAFETY: as above.
    unsafe { emu.launch("fill_f32", [1, 1, 1], [3, 5, 1], 0, &params) }.expect("2-D block");
    assert_eq!(y, [2.5; 4]);
}

#[test]
fn a_damaged_library_is_an_error() {
    let dir = std::env::temp_dir().join(format!("maxl-emu-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let lib = dir.join(maxl_kernels::emulator::LIBRARY_NAME);
    std::fs::write(&lib, b"not a library").expect("write");
    let e = Emulator::load(&lib);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        matches!(&e, Err(Error::Emulator(m)) if m.contains("cannot load")),
        "{e:?}"
    );
}

#[test]
fn launches_from_several_threads_are_serialised() {
    let Some(emu) = emulator() else { return };
    std::thread::scope(|s| {
        for t in 0..4 {
            s.spawn(move || {
                let n = 3000usize;
                let mut y = vec![0.0f64; n];
                let mut py = dptr(&mut y);
                let (mut len, mut v) = (n as i64, t as f64);
                let params = [p(&mut len), p(&mut py), p(&mut v)];
                for _ in 0..20 {
                    // SAFETY: fill_f64(i64 n, double* y, double value) over y.
                    unsafe { emu.launch("fill_f64", [12, 1, 1], [256, 1, 1], 0, &params) }
                        .expect("launch");
                    assert!(y.iter().all(|&e| e == t as f64));
                    y.iter_mut().for_each(|e| *e = -1.0);
                }
            });
        }
    });
}

/// Max pooling of `planes` planes by the CPU formula: values, in-plane argmax (first maximum
/// wins), and the input gradient of `dy` (summed over the windows whose argmax is each input).
fn max_pool_ref(
    x: &[f32],
    planes: usize,
    g: &maxl_kernels::PoolGeom,
    dy: &[f32],
) -> (Vec<f32>, Vec<i64>, Vec<f64>) {
    let (h, w, ho, wo) = (g.h as i64, g.w as i64, g.ho as i64, g.wo as i64);
    let (hw, plane) = ((h * w) as usize, (ho * wo) as usize);
    let (mut y, mut idx, mut dx) = (
        vec![0.0f32; planes * plane],
        vec![0i64; planes * plane],
        vec![0.0f64; planes * hw],
    );
    for p in 0..planes {
        for oy in 0..ho {
            for ox in 0..wo {
                let (mut best, mut at) = (f32::NEG_INFINITY, -1i64);
                for iy in
                    oy * g.sh as i64 - g.ph as i64..oy * g.sh as i64 - g.ph as i64 + g.kh as i64
                {
                    for ix in
                        ox * g.sw as i64 - g.pw as i64..ox * g.sw as i64 - g.pw as i64 + g.kw as i64
                    {
                        if iy < 0 || iy >= h || ix < 0 || ix >= w {
                            continue;
                        }
                        let v = x[p * hw + (iy * w + ix) as usize];
                        if at < 0 || v > best {
                            best = v;
                            at = iy * w + ix;
                        }
                    }
                }
                let o = p * plane + (oy * wo + ox) as usize;
                y[o] = best;
                idx[o] = at;
                dx[p * hw + at as usize] += f64::from(dy[o]);
            }
        }
    }
    (y, idx, dx)
}

#[test]
fn max_pool2d_bwd_gathers_the_gradient_of_each_input() {
    let Some(emu) = emulator() else { return };
    // VGG's 2x2 stride 2 on an odd-sized plane, and overlapping 3x3 stride 2 windows.
    for (h, w, k, s, pad) in [(9usize, 7usize, 2usize, 2usize, 0usize), (8, 9, 3, 2, 1)] {
        let planes = 6usize;
        let ho = (h + 2 * pad - k) / s + 1;
        let wo = (w + 2 * pad - k) / s + 1;
        let mut g = maxl_kernels::PoolGeom {
            h: h as i32,
            w: w as i32,
            ho: ho as i32,
            wo: wo as i32,
            kh: k as i32,
            kw: k as i32,
            sh: s as i32,
            sw: s as i32,
            ph: pad as i32,
            pw: pad as i32,
            adaptive: 0,
        };
        let mut rng = Rng(11 + h as u64);
        let mut x: Vec<f32> = rng.vec(planes * h * w).iter().map(|&v| v as f32).collect();
        let mut dy: Vec<f32> = rng
            .vec(planes * ho * wo)
            .iter()
            .map(|&v| v as f32)
            .collect();
        let (want_y, want_idx, want_dx) = max_pool_ref(&x, planes, &g, &dy);
        let mut y = vec![f32::NAN; planes * ho * wo];
        let mut idx = vec![-1i64; planes * ho * wo];
        let mut dx = vec![f32::NAN; planes * h * w];
        let mut np = planes as i64;
        let (mut px, mut py, mut pi) = (dptr(&mut x), dptr(&mut y), dptr(&mut idx));
        let params = [p(&mut np), p(&mut g), p(&mut px), p(&mut py), p(&mut pi)];
        // The engine's launch shape: grid-stride, block 256 (one block here: the stride is
        // smaller than the work, so each thread walks several planes).
        // SAFETY: max_pool2d_fwd_f32(i64 planes, PoolGeom g, const float* x, float* y, i64* idx)
        // over buffers of these sizes.
        unsafe { emu.launch("max_pool2d_fwd_f32", [1, 1, 1], [64, 1, 1], 0, &params) }
            .expect("forward");
        assert_eq!(y, want_y, "{h}x{w} k{k} s{s}: values");
        assert_eq!(idx, want_idx, "{h}x{w} k{k} s{s}: indices");
        let (mut pdy, mut pdx) = (dptr(&mut dy), dptr(&mut dx));
        let params = [p(&mut np), p(&mut g), p(&mut pdy), p(&mut pi), p(&mut pdx)];
        let grid = [(planes * h * w).div_ceil(256) as u32, 1, 1];
        // SAFETY: max_pool2d_bwd_f32(i64 planes, PoolGeom g, const float* dy, const i64* idx,
        // float* dx) over buffers of these sizes.
        unsafe { emu.launch("max_pool2d_bwd_f32", grid, [256, 1, 1], 0, &params) }
            .expect("backward");
        for (i, (&got, &want)) in dx.iter().zip(&want_dx).enumerate() {
            assert!(
                (f64::from(got) - want).abs() <= 1e-6,
                "{h}x{w} k{k} s{s}: dx[{i}] {got} vs {want}"
            );
        }
    }
}

#[test]
fn conv_forward_split_over_k_matches_the_direct_sum() {
    let Some(emu) = emulator() else { return };
    // VGG's last stage shape, scaled down: 3x3 pad 1 on 2x2 images, 2 images, 80 -> 70
    // channels (K = 720: 3 splits of 240).
    let (n, c, hh, ww, k) = (2usize, 80usize, 2usize, 2usize, 70usize);
    let mut g = maxl_kernels::ConvGeom::new([n, c, hh, ww], [k, c, 3, 3], [1, 1], [1, 1], [1, 1])
        .expect("geometry");
    let mut rng = Rng(21);
    let (mut x, mut w, mut bias) = (rng.vec(n * c * hh * ww), rng.vec(k * c * 9), rng.vec(k));
    let ny = n * k * hh * ww;
    let mut want = vec![0.0f64; ny];
    for b in 0..n {
        for o in 0..k {
            for oy in 0..hh as i64 {
                for ox in 0..ww as i64 {
                    let mut s = bias[o];
                    for ch in 0..c {
                        for r in 0..3i64 {
                            for q in 0..3i64 {
                                let (iy, ix) = (oy + r - 1, ox + q - 1);
                                if iy < 0 || ix < 0 || iy >= hh as i64 || ix >= ww as i64 {
                                    continue;
                                }
                                s += x[((b * c + ch) * hh + iy as usize) * ww + ix as usize]
                                    * w[((o * c + ch) * 3 + r as usize) * 3 + q as usize];
                            }
                        }
                    }
                    want[((b * k + o) * hh + oy as usize) * ww + ox as usize] = s;
                }
            }
        }
    }
    let splits = 3usize;
    let mut ws = vec![f64::NAN; splits * ny];
    let mut y = vec![f64::NAN; ny];
    let (mut px, mut pw, mut pb) = (dptr(&mut x), dptr(&mut w), dptr(&mut bias));
    let (mut py, mut pws) = (dptr(&mut y), dptr(&mut ws));
    let mut k_chunk = 240i32;
    let params = [
        p(&mut g),
        p(&mut px),
        p(&mut pw),
        p(&mut pb),
        p(&mut py),
        p(&mut pws),
        p(&mut k_chunk),
    ];
    let grid = [
        (n * hh * ww).div_ceil(64) as u32,
        k.div_ceil(64) as u32,
        splits as u32,
    ];
    // SAFETY: conv2d_fwd_splitk_f64(ConvGeom, const double* x, const double* w, const double*
    // bias, double* y, double* ws, int k_chunk) with ws of splits * |y| elements.
    unsafe { emu.launch("conv2d_fwd_splitk_f64", grid, [256, 1, 1], 0, &params) }.expect("split");
    assert!(
        y.iter().all(|v| v.is_nan()),
        "with splits, y is left to the reduction"
    );
    let (mut mn, mut sp, mut one, mut zero) = (ny as i64, splits as i32, 1.0f64, 0.0f64);
    let params = [
        p(&mut mn),
        p(&mut sp),
        p(&mut pws),
        p(&mut py),
        p(&mut one),
        p(&mut zero),
    ];
    // SAFETY: splitk_reduce_f64(i64 mn, int splits, const double* ws, double* out, double
    // alpha, double beta).
    unsafe { emu.launch("splitk_reduce_f64", [1, 1, 1], [256, 1, 1], 0, &params) }.expect("reduce");
    for (i, (g, w)) in y.iter().zip(&want).enumerate() {
        assert!(
            (g - w).abs() <= 1e-12 * (1.0 + w.abs()),
            "y[{i}] {g} vs {w}"
        );
    }
    // Splits that do not cover K (3 x 200 < 720) would drop terms: the kernel traps.
    let mut short_chunk = 200i32;
    let params = [
        p(&mut g),
        p(&mut px),
        p(&mut pw),
        p(&mut pb),
        p(&mut py),
        p(&mut pws),
        p(&mut short_chunk),
    ];
    // SAFETY: as the split launch above (it stops before any memory access).
    let e = unsafe { emu.launch("conv2d_fwd_splitk_f64", grid, [256, 1, 1], 0, &params) };
    assert!(
        matches!(&e, Err(Error::Emulator(m)) if m.contains("__trap")),
        "{e:?}"
    );
}
