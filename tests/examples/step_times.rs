//! Time per step of the benchmark steps of `maxl-cli bench` (single-task step, second-order
//! meta step, MAXL stage 1 and stage 2) for configuration B1 or B2, as wall time (median) and
//! as the process's CPU time (user + system, mean per step), which a machine shared with other
//! work inflates much less than wall time. One JSON object.
//!
//! `cargo run --release -p maxl-tests --example step_times -- b1|b2 [runs]` (10 runs after 3
//! warm-ups by default).

use maxl::hierarchy::Hierarchy;
use maxl::losses::cross_entropy;
use maxl::models::{Backbone, InputShape, Net, NetState};
use maxl::nn::Sgd;
use maxl::train::MaxlSetup;
use maxl_engine::{grad, DType, Rng, Tensor};
use std::time::Instant;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

/// User + system CPU seconds of this process so far (from /proc/self/stat, in clock ticks of
/// 1/100 s).
fn cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit(')').next().unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the command name.
    (tick(11) + tick(12)) / 100.0
}

/// (median wall seconds, mean CPU seconds) of `runs` calls of `f` after 3 warm-ups.
fn time(runs: usize, mut f: impl FnMut() -> Res<()>) -> Res<(f64, f64)> {
    for _ in 0..3 {
        f()?;
    }
    let mut walls = Vec::new();
    let c0 = cpu_secs();
    for _ in 0..runs {
        let t = Instant::now();
        f()?;
        walls.push(t.elapsed().as_secs_f64());
    }
    let cpu = (cpu_secs() - c0) / runs as f64;
    walls.sort_by(f64::total_cmp);
    Ok((walls[walls.len() / 2], cpu))
}

fn main() -> Res<()> {
    let args: Vec<String> = std::env::args().collect();
    let which = args.get(1).map_or("b1", String::as_str);
    let runs: usize = args.get(2).map_or(Ok(10), |r| r.parse())?;
    let (backbone, input, classes, k) = match which {
        "b2" => (
            Backbone::Vgg16,
            InputShape {
                channels: 3,
                height: 32,
                width: 32,
            },
            20,
            5,
        ),
        _ => (
            Backbone::ConvNet4,
            InputShape {
                channels: 1,
                height: 28,
                width: 28,
            },
            10,
            3,
        ),
    };
    let batch = 100;
    let mut rng = Rng::new(0);
    let x = Tensor::randn(
        &[batch, input.channels, input.height, input.width],
        DType::F32,
        &mut rng,
    );
    let labels: Vec<i64> = (0..batch).map(|_| rng.below(classes) as i64).collect();
    let y = Tensor::from_vec(labels, &[batch])?;
    let single = Net::single_task(backbone, input, classes);
    let mut st = single.init(&mut rng)?;
    let mut opt = Sgd::new(0.1, 0.9, 5e-4);
    let single_t = time(runs, || {
        let (_, logits, bufs) = single.forward(&st.params, &st.buffers, &x, true, true)?;
        let loss = cross_entropy(&logits[0], &y)?;
        let g = grad(&[loss], &st.params.tensors(), None, false)?;
        st = NetState {
            params: opt.step(&st.params, &g)?,
            buffers: bufs,
        };
        Ok(())
    })?;
    let meta_t = time(runs, || {
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
        Ok(())
    })?;
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
    let mut mt = setup.multi_task.init(&mut rng)?;
    let mut gen = setup.generator.init(&mut rng)?;
    let mut opt1 = Sgd::new(0.1, 0.9, 5e-4);
    let mut opt2 = Sgd::new(1e-3, 0.0, 5e-4);
    let stage1_t = time(runs, || {
        let aux = setup.generated_targets(&gen, &x, &y)?;
        let out = setup.stage1(&setup.multi_task, &mt, &x, &y, Some(&aux), false)?;
        mt = NetState {
            params: opt1.step(&mt.params, &out.grads)?,
            buffers: out.buffers,
        };
        Ok(())
    })?;
    let stage2_t = time(runs, || {
        let out = setup.stage2(&mt, &gen, &x, &y, 0.1)?;
        gen = NetState {
            params: opt2.step(&gen.params, &out.grads)?,
            buffers: out.gen_buffers,
        };
        Ok(())
    })?;
    println!(
        "{{\"config\": \"{which}\", \"runs\": {runs}, \"threads\": {}, \
         \"single_s\": {:.4}, \"meta_s\": {:.4}, \"stage1_s\": {:.4}, \"stage2_s\": {:.4}, \
         \"single_cpu_s\": {:.4}, \"meta_cpu_s\": {:.4}, \"stage1_cpu_s\": {:.4}, \
         \"stage2_cpu_s\": {:.4}}}",
        rayon::current_num_threads(),
        single_t.0,
        meta_t.0,
        stage1_t.0,
        stage2_t.0,
        single_t.1,
        meta_t.1,
        stage1_t.1,
        stage2_t.1
    );
    Ok(())
}
