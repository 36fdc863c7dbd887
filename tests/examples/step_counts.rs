//! Work counts of one MAXL stage-2 step (second order) of benchmark configuration B1
//! (ConvNet-4, 1x28x28, 10 classes, psi [3] * 10) and of one stage-1 step, as the engine's
//! counters see them: ops run, tape nodes recorded, backward rules run, CUDA kernel launches and
//! host synchronisations. One JSON object per step kind.
//!
//! `cargo run --release -p maxl-tests --example step_counts -- [cpu|cuda] [batch]` (batch 100
//! by default; on `cuda` without a GPU set `MAXL_CUDA_EMULATOR=1`: the counts do not depend on
//! where the kernels run).

use maxl::hierarchy::Hierarchy;
use maxl::models::{Backbone, InputShape, Net};
use maxl::train::MaxlSetup;
use maxl_engine::{stats, DType, Device, Rng, Tensor};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let dev = Device::parse(args.get(1).map_or("cpu", String::as_str))?;
    let batch: usize = args.get(2).map_or(Ok(100), |b| b.parse())?;
    let input = InputShape {
        channels: 1,
        height: 28,
        width: 28,
    };
    let h = Hierarchy::balanced(3, 10)?;
    let setup = MaxlSetup {
        multi_task: Net::multi_task(Backbone::ConvNet4, input, 10, h.total()),
        generator: Net::label_generator(Backbone::ConvNet4, input, h.total()),
        hierarchy: h,
        gamma: 2.0,
        entropy_weight: 0.2,
        exact_mask: false,
        fd_scale: 0.01,
    };
    let mut rng = Rng::new(0);
    let mt = setup.multi_task.init(&mut rng)?.to_device(dev)?;
    let gen = setup.generator.init(&mut rng)?.to_device(dev)?;
    let x = Tensor::randn(&[batch, 1, 28, 28], DType::F32, &mut rng).to_device(dev)?;
    let labels: Vec<i64> = (0..batch).map(|_| rng.below(10) as i64).collect();
    let y = Tensor::from_vec(labels, &[batch])?.to_device(dev)?;
    // One warm-up of each, then the counted steps.
    let aux = setup.generated_targets(&gen, &x, &y)?;
    setup.stage1(&setup.multi_task, &mt, &x, &y, Some(&aux), false)?;
    setup.stage2(&mt, &gen, &x, &y, 0.1)?;
    let report = |step: &str, s: maxl_engine::Stats| {
        println!(
            "{{\"config\": \"b1\", \"step\": \"{step}\", \"device\": \"{dev}\", \"batch\": {batch}, \
             \"ops_run\": {}, \"ops_recorded\": {}, \"backward_rules\": {}, \
             \"kernel_launches\": {}, \"host_syncs\": {}}}",
            s.ops_run, s.ops_recorded, s.backward_rules, s.kernel_launches, s.host_syncs
        )
    };
    let before = stats();
    let aux = setup.generated_targets(&gen, &x, &y)?;
    let out = setup.stage1(&setup.multi_task, &mt, &x, &y, Some(&aux), false)?;
    drop(out);
    report("stage1", stats() - before);
    let before = stats();
    let out = setup.stage2(&mt, &gen, &x, &y, 0.1)?;
    drop(out);
    report("stage2", stats() - before);
    Ok(())
}
