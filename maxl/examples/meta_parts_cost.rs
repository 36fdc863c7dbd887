//! What measuring the two parts of theta2's gradient costs: the second-order meta step of
//! MODELS.md's B1 (ConvNet-4, 1x28x28, 10 classes, psi [3]*10, batch 100) with and without
//! the measurement, interleaved, median seconds over the repetitions. One JSON object.
//! `cargo run --release -p maxl --example meta_parts_cost [REPS]` (threads: RAYON_NUM_THREADS).

use maxl::hierarchy::Hierarchy;
use maxl::models::{Backbone, InputShape, Net};
use maxl::train::{MaxlSetup, VirtualStep};
use maxl_engine::{DType, Rng, Tensor};
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let reps: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(9);
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
    let mt = setup.multi_task.init(&mut rng)?;
    let gen = setup.generator.init(&mut rng)?;
    let x = Tensor::randn(&[100, 1, 28, 28], DType::F32, &mut rng);
    let y = Tensor::from_vec((0..100).map(|i| i % 10).collect::<Vec<i64>>(), &[100])?;
    let step = VirtualStep::plain(0.1);
    let (mut without, mut with) = (Vec::new(), Vec::new());
    setup.stage2_at(&mt, &gen, &x, &y, &step, true)?;
    for _ in 0..reps {
        for (measure, out) in [(false, &mut without), (true, &mut with)] {
            let t = Instant::now();
            setup.stage2_at(&mt, &gen, &x, &y, &step, measure)?;
            out.push(t.elapsed().as_secs_f64());
        }
    }
    let (a, b) = (median(without), median(with));
    println!(
        "{{\"config\":\"b1\",\"reps\":{reps},\"threads\":{},\"stage2_s\":{a:.4},\"stage2_with_parts_s\":{b:.4},\"ratio\":{:.4}}}",
        rayon::current_num_threads(),
        b / a
    );
    Ok(())
}
