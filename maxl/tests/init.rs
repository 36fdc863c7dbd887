//! Weight initialisers against their formulas (bounds and standard deviations from large
//! draws, computed here from fan-in/fan-out by hand), and each backbone's `auto` default
//! (issue 15: PyTorch's default for ConvNet-4, Xavier for VGG-16, Kaiming fan-out for ResNet-32).

use maxl::models::{Backbone, InputShape, Net};
use maxl::nn::init::{bias, weight, Init, InitScheme};
use maxl_engine::{Rng, Tensor};

fn values(t: &Tensor) -> Vec<f64> {
    t.to_f64_vec()
}

fn std_dev(v: &[f64]) -> f64 {
    let m = v.iter().sum::<f64>() / v.len() as f64;
    (v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64).sqrt()
}

fn max_abs(v: &[f64]) -> f64 {
    v.iter().fold(0.0, |a, &x| a.max(x.abs()))
}

/// A uniform U(-a, a) sample: every value inside, the largest close to a, std a / sqrt(3).
fn assert_uniform(v: &[f64], a: f64, what: &str) {
    let m = max_abs(v);
    assert!(m <= a * (1.0 + 1e-6), "{what}: max |x| {m} above bound {a}");
    assert!(m >= a * 0.99, "{what}: max |x| {m} far below bound {a}");
    let s = std_dev(v);
    let want = a / 3f64.sqrt();
    assert!((s / want - 1.0).abs() < 0.02, "{what}: std {s} vs {want}");
}

/// A normal N(0, s^2) sample: std s, mean 0, and some values beyond 2s (not a uniform).
fn assert_normal(v: &[f64], s: f64, what: &str) {
    let got = std_dev(v);
    assert!((got / s - 1.0).abs() < 0.02, "{what}: std {got} vs {s}");
    let mean = v.iter().sum::<f64>() / v.len() as f64;
    assert!(mean.abs() < 0.01 * s, "{what}: mean {mean}");
    let beyond = v.iter().filter(|x| x.abs() > 2.0 * s).count() as f64 / v.len() as f64;
    assert!(
        (beyond - 0.0455).abs() < 0.005,
        "{what}: {beyond} beyond 2 sigma"
    );
}

// A conv weight [out 128, in 64, 3, 3]: fan_in 576, fan_out 1152, 73 728 values.
const CONV: [usize; 4] = [128, 64, 3, 3];

#[test]
fn xavier_uniform_bound() {
    let v = values(&weight(&CONV, Init::XavierUniform, &mut Rng::new(1)));
    assert_uniform(&v, (6.0f64 / (576.0 + 1152.0)).sqrt(), "xavier-uniform");
}

#[test]
fn xavier_normal_std() {
    let v = values(&weight(&CONV, Init::XavierNormal, &mut Rng::new(2)));
    assert_normal(&v, (2.0f64 / (576.0 + 1152.0)).sqrt(), "xavier-normal");
}

#[test]
fn kaiming_normal_fan_out_std() {
    let v = values(&weight(&CONV, Init::KaimingNormalFanOut, &mut Rng::new(3)));
    assert_normal(&v, (2.0f64 / 1152.0).sqrt(), "kaiming-normal-fan-out");
}

#[test]
fn torch_default_weight_and_bias() {
    let v = values(&weight(&CONV, Init::TorchDefault, &mut Rng::new(4)));
    assert_uniform(&v, 1.0 / 576f64.sqrt(), "torch-default weight");
    // Linear [out 20000, in 100]: the bias of 20 000 values from U(+-1/sqrt(100)).
    let b = values(&bias(&[20_000, 100], Init::TorchDefault, &mut Rng::new(5)));
    assert_eq!(b.len(), 20_000);
    assert_uniform(&b, 0.1, "torch-default bias");
}

#[test]
fn other_inits_start_biases_at_zero() {
    for init in [
        Init::XavierUniform,
        Init::XavierNormal,
        Init::KaimingNormalFanOut,
    ] {
        let b = values(&bias(&CONV, init, &mut Rng::new(6)));
        assert_eq!(b, vec![0.0; 128], "{init:?}");
    }
}

#[test]
fn scheme_names_round_trip_and_bad_name_is_an_error() {
    for s in [
        "auto",
        "torch-default",
        "xavier-uniform",
        "xavier-normal",
        "kaiming-normal-fan-out",
    ] {
        assert_eq!(InitScheme::parse(s).unwrap().name(), s);
    }
    let e = InitScheme::parse("he").unwrap_err().to_string();
    assert!(
        e.contains("unknown init 'he'") && e.contains("xavier-uniform"),
        "{e}"
    );
}

fn input(c: usize, h: usize) -> InputShape {
    InputShape {
        channels: c,
        height: h,
        width: h,
    }
}

/// Values of parameter `name` of `net` started from seed 0.
fn param(net: &Net, name: &str) -> Vec<f64> {
    let st = net.init(&mut Rng::new(0)).unwrap();
    values(st.params.get(name).unwrap_or_else(|e| panic!("{e}")))
}

#[test]
fn convnet4_auto_is_pytorch_default() {
    let inp = input(1, 28);
    for net in [
        Net::multi_task(Backbone::ConvNet4, inp, 10, 30),
        Net::label_generator(Backbone::ConvNet4, inp, 30),
    ] {
        // block1: conv 32 -> 64, fan_in 288; head fc1: Linear(256, 256), fan_in 256.
        assert_uniform(
            &param(&net, "trunk.block1.conv.weight"),
            1.0 / 288f64.sqrt(),
            "conv w",
        );
        let b = param(&net, "trunk.block1.conv.bias");
        assert!(
            max_abs(&b) <= 1.0 / 288f64.sqrt() && max_abs(&b) > 0.0,
            "conv bias {b:?}"
        );
        let head = if net.generator { "gen" } else { "primary" };
        assert_uniform(
            &param(&net, &format!("{head}.fc1.weight")),
            1.0 / 16.0,
            "fc1 w",
        );
        let fb = param(&net, &format!("{head}.fc1.bias"));
        assert!(max_abs(&fb) <= 1.0 / 16.0 && max_abs(&fb) > 0.0);
    }
}

#[test]
fn vgg16_auto_is_xavier_as_the_authors_code() {
    let inp = input(3, 32);
    // stage3.layer1: conv 512 -> 512, fan_in = fan_out = 4608.
    let mt = Net::multi_task(Backbone::Vgg16, inp, 20, 100);
    assert_uniform(
        &param(&mt, "trunk.stage3.layer1.conv.weight"),
        (6.0f64 / 9216.0).sqrt(),
        "vgg conv",
    );
    assert_eq!(param(&mt, "trunk.stage3.layer1.conv.bias"), vec![0.0; 512]);
    // Head fc1: Linear(512, 512).
    assert_uniform(
        &param(&mt, "primary.fc1.weight"),
        (6.0f64 / 1024.0).sqrt(),
        "vgg fc1",
    );
    let generator = Net::label_generator(Backbone::Vgg16, inp, 100);
    assert_normal(
        &param(&generator, "trunk.stage3.layer1.conv.weight"),
        (2.0f64 / 9216.0).sqrt(),
        "vgg generator conv",
    );
}

#[test]
fn resnet32_auto_is_kaiming_fan_out_with_default_heads() {
    let net = Net::single_task(Backbone::ResNet32, input(3, 32), 10);
    // stage2.block1.conv1: 64 -> 64, 3x3: fan_out 576.
    assert_normal(
        &param(&net, "trunk.stage2.block1.conv1.weight"),
        (2.0f64 / 576.0).sqrt(),
        "resnet conv",
    );
    // Head fc1: Linear(64, 256), PyTorch default: U(+-1/8).
    assert_uniform(&param(&net, "primary.fc1.weight"), 0.125, "resnet fc1");
}

#[test]
fn an_explicit_scheme_applies_to_every_layer_of_every_network() {
    let inp = input(1, 28);
    let net =
        Net::label_generator(Backbone::ConvNet4, inp, 30).with_init(InitScheme::XavierUniform);
    // block3: conv 128 -> 256: fan_in 1152, fan_out 2304.
    assert_uniform(
        &param(&net, "trunk.block3.conv.weight"),
        (6.0f64 / (1152.0 + 2304.0)).sqrt(),
        "explicit xavier conv",
    );
    assert_eq!(param(&net, "trunk.block3.conv.bias"), vec![0.0; 256]);
}
