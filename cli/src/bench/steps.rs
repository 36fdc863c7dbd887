//! Step times of the benchmark configurations B1 (ConvNet-4, 1x28x28, 10 classes, psi [3]*10)
//! and B2 (VGG-16, 3x32x32, 20 classes, psi [5]*20), batch 100, as MODELS.md defines them:
//! `single_s`, `meta_s` (second-order step on the single-task network, inner lr 0.01),
//! `stage1_s` and `stage2_s` (the MAXL steps as the trainer runs them: the step, theta's SGD
//! update, the step's figures added to the pass's sums on the device), and `stage1_syncs` /
//! `stage2_syncs`: the host synchronisations each of those steps makes (the engine's count,
//! the timing's own device synchronisation excluded; the trainer reads the sums once per
//! pass). `--steps` times only some of the four; `rss_start_mib` and `max_rss_mib` are the
//! process's resident memory before anything was built and its peak at the end (Linux), so a
//! run of `--steps stage2` alone gives the peak memory of a stage-2 step. One JSON object.

use super::memory;
use super::timing::median_secs;
use anyhow::Result;
use maxl::hierarchy::Hierarchy;
use maxl::losses::cross_entropy;
use maxl::models::{Backbone, InputShape, Net, NetState};
use maxl::nn::Sgd;
use maxl::train::epoch::PassSums;
use maxl::train::MaxlSetup;
use maxl_engine::{grad, stats, DType, Device, Rng, Tensor};
use serde_json::json;

/// A benchmark configuration.
#[derive(Clone, Copy)]
pub enum Config {
    B1,
    B2,
}

impl Config {
    fn parts(self) -> (&'static str, Backbone, InputShape, usize, usize) {
        match self {
            Config::B1 => (
                "b1",
                Backbone::ConvNet4,
                InputShape {
                    channels: 1,
                    height: 28,
                    width: 28,
                },
                10,
                3,
            ),
            Config::B2 => (
                "b2",
                Backbone::Vgg16,
                InputShape {
                    channels: 3,
                    height: 32,
                    width: 32,
                },
                20,
                5,
            ),
        }
    }
}

const BATCH: usize = 100;

/// The steps `--steps` can name, in the order they run.
pub const STEPS: [&str; 4] = ["single", "meta", "stage1", "stage2"];

pub fn run(
    config: Config,
    steps: &[String],
    threads: usize,
    dev: Device,
    tf32: bool,
) -> Result<()> {
    let (name, backbone, input, classes, k) = config.parts();
    let mut report = json!({
        "config": name, "threads": threads, "device": dev.to_string(), "impl": "maxl-rs",
        "tf32": tf32, "gpu": super::gemm::gpu_name(dev), "rss_start_mib": memory::resident_mib(),
    });
    let wants = |step: &str| steps.is_empty() || steps.iter().any(|s| s == step);
    let mut rng = Rng::new(0);
    let x = Tensor::randn(
        &[BATCH, input.channels, input.height, input.width],
        DType::F32,
        &mut rng,
    )
    .to_device(dev)?;
    let labels: Vec<i64> = (0..BATCH).map(|_| rng.below(classes) as i64).collect();
    let y = Tensor::from_vec(labels, &[BATCH])?.to_device(dev)?;
    // Few runs for the slow VGG-16 configuration on a CPU, but never fewer than 10.
    let min_secs = 1.0;

    // Single-task step and second-order meta step on the single-task network.
    let single = Net::single_task(backbone, input, classes);
    let mut st = single.init(&mut rng)?.to_device(dev)?;
    let mut opt = Sgd::new(0.1, 0.9, 5e-4);
    if wants("single") {
        let single_s = median_secs(
            || {
                let (_, logits, bufs) = single.forward(&st.params, &st.buffers, &x, true, true)?;
                let loss = cross_entropy(&logits[0], &y)?;
                let g = grad(&[loss], &st.params.tensors(), None, false)?;
                st = NetState {
                    params: opt.step(&st.params, &g)?,
                    buffers: bufs,
                };
                dev.synchronize()?;
                Ok(())
            },
            10,
            min_secs,
        )?;
        report["single_s"] = json!(single_s);
    }
    if wants("meta") {
        let meta_s = median_secs(
            || {
                let params = st.params.tensors();
                let (_, logits, _) = single.forward(&st.params, &st.buffers, &x, true, true)?;
                let g = grad(&[cross_entropy(&logits[0], &y)?], &params, None, true)?;
                let fast = params
                    .iter()
                    .zip(&g)
                    .map(|(p, g)| p.add_scaled(g, -0.01))
                    .collect::<maxl_engine::Result<Vec<_>>>()?;
                let fast = st.params.with_tensors(fast)?;
                let (_, fl, _) = single.forward(&fast, &st.buffers, &x, true, false)?;
                grad(&[cross_entropy(&fl[0], &y)?], &params, None, false)?;
                dev.synchronize()?;
                Ok(())
            },
            10,
            min_secs,
        )?;
        report["meta_s"] = json!(meta_s);
    }

    // The MAXL steps.
    let h = Hierarchy::balanced(k, classes)?;
    let setup = MaxlSetup {
        multi_task: Net::multi_task(backbone, input, classes, h.total()),
        generator: Net::label_generator(backbone, input, h.total()),
        hierarchy: h,
        gamma: 2.0,
        entropy_weight: 0.2,
        exact_mask: false,
        fd_scale: 0.01,
    };
    let mut mt = setup.multi_task.init(&mut rng)?.to_device(dev)?;
    let mut gen = setup.generator.init(&mut rng)?.to_device(dev)?;
    let mut opt1 = Sgd::new(0.1, 0.9, 5e-4);
    let mut opt2 = Sgd::new(1e-3, 0.0, 5e-4);
    // Each step as the trainer runs it. The sync count is the last run's (every run makes the
    // same calls).
    let (mut pass1, mut pass2) = (PassSums::default(), PassSums::default());
    if wants("stage1") {
        let mut stage1_syncs = 0;
        let stage1_s = median_secs(
            || {
                let before = stats();
                let aux = setup.generated_targets(&gen, &x, &y)?;
                let out = setup.stage1(&setup.multi_task, &mt, &x, &y, Some(&aux), false)?;
                pass1.add(&out.figures, BATCH)?;
                mt = NetState {
                    params: opt1.step(&mt.params, &out.grads)?,
                    buffers: out.buffers,
                };
                stage1_syncs = (stats() - before).host_syncs;
                dev.synchronize()?;
                Ok(())
            },
            10,
            min_secs,
        )?;
        report["stage1_s"] = json!(stage1_s);
        report["stage1_syncs"] = json!(stage1_syncs);
    }
    if wants("stage2") {
        let mut stage2_syncs = 0;
        let stage2_s = median_secs(
            || {
                let before = stats();
                let out = setup.stage2(&mt, &gen, &x, &y, 0.1)?;
                pass2.add(&out.figures, BATCH)?;
                gen = NetState {
                    params: opt2.step(&gen.params, &out.grads)?,
                    buffers: out.gen_buffers,
                };
                stage2_syncs = (stats() - before).host_syncs;
                dev.synchronize()?;
                Ok(())
            },
            10,
            min_secs,
        )?;
        report["stage2_s"] = json!(stage2_s);
        report["stage2_syncs"] = json!(stage2_syncs);
    }
    report["max_rss_mib"] = json!(memory::peak_resident_mib());
    println!("{report}");
    Ok(())
}
