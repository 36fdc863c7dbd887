//! The networks of MODELS.md: feature shapes for their inputs and parameter counts against
//! hand sums (which match the PyTorch models: torchvision's VGG-16 features plus BN affine,
//! and the CIFAR ResNet-32 with 1x1-conv shortcuts).

use maxl::models::{Backbone, InputShape, Net};
use maxl_engine::{DType, Rng, Tensor};

fn input(c: usize, h: usize) -> InputShape {
    InputShape {
        channels: c,
        height: h,
        width: h,
    }
}

/// conv(cin -> cout, k x k) with optional bias, plus a BN's gamma and beta.
fn conv_bn(cin: usize, cout: usize, k: usize, bias: bool) -> usize {
    cout * cin * k * k + if bias { cout } else { 0 } + 2 * cout
}

fn head(f: usize, hidden: usize, n: usize) -> usize {
    f * hidden + hidden + hidden * n + n
}

fn count_and_features(b: Backbone, inp: InputShape, classes: usize) -> (usize, Vec<usize>) {
    let net = Net::single_task(b, inp, classes);
    let st = net.init(&mut Rng::new(0)).unwrap();
    let x = Tensor::randn(
        &[2, inp.channels, inp.height, inp.width],
        DType::F32,
        &mut Rng::new(1),
    );
    let (feats, logits, _) = net
        .forward(&st.params, &st.buffers, &x, true, false)
        .unwrap();
    assert_eq!(logits[0].shape(), &[2, classes]);
    (st.params.numel(), feats.shape().to_vec())
}

#[test]
fn convnet4_shapes_and_parameters() {
    let trunk = conv_bn(1, 32, 3, true)
        + conv_bn(32, 64, 3, true)
        + conv_bn(64, 128, 3, true)
        + conv_bn(128, 256, 3, true);
    let (n, f) = count_and_features(Backbone::ConvNet4, input(1, 28), 10);
    assert_eq!(f, vec![2, 256]);
    assert_eq!(n, trunk + head(256, 256, 10));
    assert_eq!(trunk, 388_800);
    let (_, f) = count_and_features(Backbone::ConvNet4, input(3, 32), 10);
    assert_eq!(f, vec![2, 1024]);
}

#[test]
fn vgg16_shapes_and_parameters() {
    let pairs = [
        (3, 64),
        (64, 64),
        (64, 128),
        (128, 128),
        (128, 256),
        (256, 256),
        (256, 256),
        (256, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
        (512, 512),
    ];
    let trunk: usize = pairs.iter().map(|&(a, b)| conv_bn(a, b, 3, true)).sum();
    assert_eq!(
        trunk,
        14_714_688 + 8_448,
        "torchvision vgg16 features + BN gamma/beta"
    );
    let (n, f) = count_and_features(Backbone::Vgg16, input(3, 32), 20);
    assert_eq!(f, vec![2, 512]);
    assert_eq!(n, trunk + head(512, 512, 20));
}

#[test]
fn resnet32_shapes_and_parameters() {
    let mut trunk = conv_bn(3, 16, 3, false);
    let mut c = 16;
    for w in [16, 32, 64] {
        for _ in 0..5 {
            trunk += conv_bn(c, w, 3, false) + conv_bn(w, w, 3, false);
            if c != w {
                trunk += conv_bn(c, w, 1, false);
            }
            c = w;
        }
    }
    assert_eq!(trunk, 466_256);
    let (n, f) = count_and_features(Backbone::ResNet32, input(3, 32), 10);
    assert_eq!(f, vec![2, 64]);
    assert_eq!(n, trunk + head(64, 256, 10));
}

#[test]
fn too_small_inputs_and_unknown_names_are_errors() {
    assert!(Backbone::Vgg16.features(input(3, 16)).is_err());
    assert!(Backbone::ConvNet4.features(input(1, 8)).is_err());
    assert!(Backbone::parse("alexnet").is_err());
}
