//! Launchers of conv.cu (implicit GEMM): the forward convolution, its input gradient (the
//! transposed convolution, bias added after) and its weight gradient. Each is split over its
//! reduction (split-K) when its output tiles alone cannot fill a large GPU (VGG's 4x4 and 2x2
//! layers), the splits summed by `splitk_reduce` in a fixed order, so results are deterministic.

use super::{ConvGeom, ConvKernel, Dir};
use crate::backend::cuda::copy::dense_addr;
use crate::backend::cuda::launch::{addr, block, grid_for, kname, launch, output, strided, Args};
use crate::backend::cuda::{allow_tf32, CudaDevice, CudaStorage};
use crate::error::{Error, Result};
use crate::layout::Layout;
use crate::DType;
use maxl_kernels::params::ConvGeom as KGeom;
use std::sync::Arc;

impl ConvKernel for CudaStorage {
    fn conv(
        &self,
        dir: Dir,
        la: &Layout,
        b: &Self,
        lb: &Layout,
        bias: Option<(&Self, &Layout)>,
        nck: [usize; 3],
        geom: &ConvGeom,
        out_shape: &[usize],
    ) -> Result<Self> {
        conv(dir, (self, la), (b, lb), bias, nck, geom, out_shape)
    }
}

fn kgeom(n: usize, c: usize, k: usize, g: &ConvGeom) -> Result<KGeom> {
    let i = |v: usize| {
        i32::try_from(v).map_err(|_| Error::Invalid(format!("conv on CUDA: size {v} exceeds i32")))
    };
    Ok(KGeom {
        n: i(n)?,
        c: i(c)?,
        h: i(g.input[0])?,
        w: i(g.input[1])?,
        k: i(k)?,
        r: i(g.kernel[0])?,
        s: i(g.kernel[1])?,
        ho: i(g.output[0])?,
        wo: i(g.output[1])?,
        sh: i(g.stride[0])?,
        sw: i(g.stride[1])?,
        ph: i(g.padding[0])?,
        pw: i(g.padding[1])?,
        dh: i(g.dilation[0])?,
        dw: i(g.dilation[1])?,
    })
}

/// Runs `dir` on `a`, `b` (and `bias`) with `nck = [n, c, k]` into a dense `out_shape`.
fn conv(
    dir: Dir,
    (a, la): (&CudaStorage, &Layout),
    (b, lb): (&CudaStorage, &Layout),
    bias: Option<(&CudaStorage, &Layout)>,
    nck: [usize; 3],
    geom: &ConvGeom,
    out_shape: &[usize],
) -> Result<CudaStorage> {
    let dev = a.dev().clone();
    let dtype = a.dtype();
    let [n, c, k] = nck;
    let g = kgeom(n, c, k, geom)?;
    let out_len: usize = out_shape.iter().product();
    let out = output(&dev, out_len, dtype)?;
    if out_len == 0 {
        return Ok(out);
    }
    let mut keep = Vec::new();
    let pa = dense_addr(a, la, &mut keep)?;
    let pb = dense_addr(b, lb, &mut keep)?;
    let tc = dtype == DType::F32 && allow_tf32();
    let (suffix, threads) = match (dtype, tc) {
        (DType::F32, true) => ("tf32_f32", 128u32),
        (DType::F32, false) => ("f32", 256),
        (DType::F64, _) => ("f64", 256),
        (other, _) => {
            return Err(Error::UnsupportedDType {
                op: "conv2d",
                dtype: other,
            })
        }
    };
    let (ho, wo) = (geom.output[0], geom.output[1]);
    let (h, w) = (geom.input[0], geom.input[1]);
    let (r, s) = (geom.kernel[0], geom.kernel[1]);
    match dir {
        Dir::Forward => {
            let pbias = match bias {
                Some((t, lt)) => dense_addr(t, lt, &mut keep)?,
                None => 0,
            };
            let splits = implicit_gemm_splits(k, n * ho * wo, c * r * s);
            let grid = [(n * ho * wo).div_ceil(64) as u32, k.div_ceil(64) as u32, 1];
            let args = Args::new().arg(g).arg(pa).arg(pb).arg(pbias).arg(out.ptr());
            launch_maybe_split(
                &dev,
                "conv2d_fwd",
                suffix,
                grid,
                threads,
                args,
                &out,
                splits,
            )?;
        }
        Dir::Transpose => {
            let splits = implicit_gemm_splits(c, n * h * w, k * r * s);
            let grid = [(n * h * w).div_ceil(64) as u32, c.div_ceil(64) as u32, 1];
            let args = Args::new().arg(g).arg(pa).arg(pb).arg(out.ptr());
            launch_maybe_split(
                &dev,
                "conv2d_dgrad",
                suffix,
                grid,
                threads,
                args,
                &out,
                splits,
            )?;
            if let Some(bt) = bias {
                add_channel_bias(&dev, &out, out_shape, bt)?;
            }
        }
        Dir::Weight => {
            let kdim = n * ho * wo;
            let crs = c * r * s;
            let tiles = crs.div_ceil(64) * k.div_ceil(64);
            // Enough blocks for a large GPU (about 2 per SM of an H100), chunks of >= 1024.
            let splits = (264usize.div_ceil(tiles))
                .min(kdim.div_ceil(1024))
                .clamp(1, 64);
            let k_chunk = kdim.div_ceil(splits);
            let grid = [
                crs.div_ceil(64) as u32,
                k.div_ceil(64) as u32,
                splits as u32,
            ];
            let ws = if splits > 1 {
                Some(output(&dev, splits * k * crs, dtype)?)
            } else {
                None
            };
            let args = Args::new()
                .arg(g)
                .arg(pa)
                .arg(pb)
                .arg(out.ptr())
                .arg(ws.as_ref().map_or(0, |b| b.ptr()))
                .arg(k_chunk as i32);
            launch(
                &dev,
                &format!("conv2d_wgrad_{suffix}"),
                grid,
                [threads, 1, 1],
                args,
            )?;
            if let Some(ws) = ws {
                let mn = k * crs;
                let args = Args::new()
                    .arg(mn as i64)
                    .arg(splits as i32)
                    .arg(ws.ptr())
                    .arg(out.ptr())
                    .float(dtype, 1.0)
                    .float(dtype, 0.0);
                launch(
                    &dev,
                    &kname("splitk_reduce", dtype, "conv2d_weight")?,
                    grid_for(mn),
                    block(),
                    args,
                )?;
            }
        }
    }
    drop(keep);
    Ok(out)
}

/// Blocks that fill a large GPU: about 2 per SM of an H100/H200 (132 SMs).
const TARGET_BLOCKS: usize = 264;

/// Split-K of an implicit GEMM of `m x n` outputs (64 x 64 tiles) over a reduction of length
/// `kd`, when its tiles alone leave the GPU idle (VGG's last layers at small batches): the
/// splits and the chunk of the reduction each takes (a multiple of 16, at least 256 long, at
/// most 16 splits). `None`: one pass (the plain kernel).
fn implicit_gemm_splits(m: usize, n: usize, kd: usize) -> Option<(usize, usize)> {
    let tiles = n.div_ceil(64) * m.div_ceil(64);
    if tiles >= TARGET_BLOCKS || kd == 0 {
        return None;
    }
    let splits = TARGET_BLOCKS.div_ceil(tiles).min(kd.div_ceil(256)).min(16);
    if splits < 2 {
        return None;
    }
    let k_chunk = kd.div_ceil(splits).div_ceil(16) * 16;
    let splits = kd.div_ceil(k_chunk);
    (splits >= 2).then_some((splits, k_chunk))
}

/// Launches `<base>_<suffix>` on `grid`, or with `splits = Some((s, k_chunk))` its split-K form
/// `<base>_splitk_<suffix>` on `s` grid layers into a workspace of `s` outputs (the bias, if
/// any, added by split 0), then `splitk_reduce` sums the layers into `out` in a fixed order.
#[allow(clippy::too_many_arguments)]
fn launch_maybe_split(
    dev: &Arc<CudaDevice>,
    base: &str,
    suffix: &str,
    grid: [u32; 3],
    threads: u32,
    args: Args,
    out: &CudaStorage,
    splits: Option<(usize, usize)>,
) -> Result<()> {
    let Some((s, k_chunk)) = splits else {
        return launch(
            dev,
            &format!("{base}_{suffix}"),
            grid,
            [threads, 1, 1],
            args,
        );
    };
    let dtype = out.dtype();
    let len = out.len();
    let ws = output(dev, s * len, dtype)?;
    let args = args.arg(ws.ptr()).arg(k_chunk as i32);
    launch(
        dev,
        &format!("{base}_splitk_{suffix}"),
        [grid[0], grid[1], s as u32],
        [threads, 1, 1],
        args,
    )?;
    let args = Args::new()
        .arg(len as i64)
        .arg(s as i32)
        .arg(ws.ptr())
        .arg(out.ptr())
        .float(dtype, 1.0)
        .float(dtype, 0.0);
    launch(
        dev,
        &kname("splitk_reduce", dtype, "conv2d")?,
        grid_for(len),
        block(),
        args,
    )
}

/// `out[n, ch, ...] += bias[ch]` in place (the bias, a 1-D view, read as `[1, C, 1, 1]`
/// broadcast over the output: no copy).
fn add_channel_bias(
    dev: &Arc<CudaDevice>,
    out: &CudaStorage,
    shape: &[usize],
    (bias, lb): (&CudaStorage, &Layout),
) -> Result<()> {
    let dtype = out.dtype();
    let lo = Layout::contiguous(shape);
    let mut strides = vec![0; shape.len()];
    strides[1] = lb.strides.first().copied().unwrap_or(1);
    let per_channel = Layout {
        shape: shape.to_vec(),
        strides,
        offset: lb.offset,
    };
    let st = strided(shape, &[&lo, &per_channel])?;
    let n = out.len();
    let args = Args::new()
        .arg(n as i64)
        .arg(out.ptr())
        .arg(addr(bias, &per_channel))
        .arg(out.ptr())
        .arg(st);
    launch(
        dev,
        &kname("add", dtype, "conv_transpose2d")?,
        grid_for(n),
        block(),
        args,
    )
}
