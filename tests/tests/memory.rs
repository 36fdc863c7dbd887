//! Memory: 1000 iterations of forward + grad(create_graph) + second backward on a small
//! network must not grow the number of live tensors or storage bytes. One test per binary, so
//! the process-wide counters see only this test.

use maxl_engine::{grad, live_storage_bytes, live_tensors, DType, Rng, Tensor};

/// One meta iteration; returns the live tensor count while its tape is alive.
fn meta_iteration(params: &[Tensor], x: &Tensor, y: &Tensor) -> usize {
    let forward = |p: &[Tensor]| -> Tensor {
        let h = x.matmul(&p[0]).unwrap().add(&p[1]).unwrap().tanh().unwrap();
        let logits = h.matmul(&p[2]).unwrap();
        logits
            .log_softmax(1)
            .unwrap()
            .mul(y)
            .unwrap()
            .sum_all()
            .unwrap()
            .neg()
            .unwrap()
    };
    let loss = forward(params);
    let g = grad(&[loss], params, None, true).unwrap();
    let fast: Vec<Tensor> = params
        .iter()
        .zip(&g)
        .map(|(p, g)| p.sub(&g.mul_scalar(0.1).unwrap()).unwrap())
        .collect();
    let meta = forward(&fast);
    meta.backward().unwrap();
    live_tensors()
}

#[test]
fn live_tensors_and_bytes_do_not_grow_over_1000_meta_iterations() {
    let mut rng = Rng::new(7);
    let params: Vec<Tensor> = [vec![6, 8], vec![8], vec![8, 3]]
        .iter()
        .map(|s| {
            Tensor::randn(s, DType::F32, &mut rng)
                .set_requires_grad(true)
                .unwrap()
        })
        .collect();
    let x = Tensor::randn(&[5, 6], DType::F32, &mut rng);
    let labels = Tensor::from_vec(vec![0i64, 2, 1, 1, 0], &[5]).unwrap();
    let y = Tensor::one_hot(&labels, 3, DType::F32).unwrap();

    // Warm up, then clear the accumulated grads so they do not count as growth.
    for _ in 0..10 {
        meta_iteration(&params, &x, &y);
    }
    params.iter().for_each(Tensor::zero_grad);
    let (t0, b0) = (live_tensors(), live_storage_bytes());
    let mut peak_t = 0;
    for i in 0..1000 {
        peak_t = peak_t.max(meta_iteration(&params, &x, &y));
        params.iter().for_each(Tensor::zero_grad);
        if i % 100 == 99 {
            assert_eq!(live_tensors(), t0, "live tensors grew by iteration {i}");
            assert_eq!(live_storage_bytes(), b0, "live bytes grew by iteration {i}");
        }
    }
    assert_eq!((live_tensors(), live_storage_bytes()), (t0, b0));
    // The counters are real: a held tape keeps tensors alive.
    let loss = x.matmul(&params[0]).unwrap().sum_all().unwrap();
    assert!(live_tensors() > t0);
    drop(loss);
    assert_eq!(live_tensors(), t0);
    assert!(peak_t > t0, "the iterations allocated nothing?");
}
