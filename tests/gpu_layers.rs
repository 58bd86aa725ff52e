//! The layers wired into a small conv network (conv → batch norm → relu →
//! dropout → transposed conv → MSE), one forward and backward recorded into
//! one pass, against the same chain computed with the CPU reference: output,
//! loss, every parameter gradient and the running statistics.

mod common;

use common::assert_close;
use genlab::backends::gpu::{Gpu, GpuPass, Tensor};
use genlab::backends::Backend;
use genlab::core::rng::Rng;
use genlab::core::{Activation, AdamConfig, BatchNormConfig, Conv2dGeom, RandomStream};
use genlab::nn::{
    ActivationLayer, BatchNorm, BatchNormParams, Conv2d, ConvParams, ConvTranspose2d, Dropout,
    InputGrad, ParamsBuilder,
};
use genlab::ops::{self as cpu, LossTarget, LossTensors, Mse, Target};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const N: usize = 2;

async fn conv_chain(gpu: &'static Gpu) {
    let g1 = Conv2dGeom::same(N, 1, 8, 8, 3, 3, 2); // [2,1,8,8] → [2,3,4,4]
    let g2 = Conv2dGeom::transposed_same(N, 3, 4, 4, 2, 3, 2); // [2,3,4,4] → [2,2,8,8]
    let (rate, seed, stream) = (0.25, 5, 1);
    let bn_cfg = BatchNormConfig::default();
    let mut rng = Rng::new(21, 0);
    let x = rng.uniform_vec(g1.input_len(), 0.0, 1.0);
    let target = rng.uniform_vec(g2.input_len(), -1.0, 1.0);

    let mut builder = ParamsBuilder::new(gpu);
    let p1 = ConvParams::declare_conv(&mut builder, "c1", g1, true, &mut rng);
    let pbn = BatchNormParams::declare(&mut builder, "bn", 3);
    let p2 = ConvParams::declare_transposed(&mut builder, "t2", g2, true, &mut rng);
    let arena = builder.build(gpu, AdamConfig::default());
    let gx = Tensor::from_slice(gpu, &x);
    let c1 = Conv2d::new(
        gpu,
        &arena,
        p1,
        N,
        &gx,
        InputGrad::None,
        Activation::LeakyRelu(0.2),
        None,
    ); // [2,3,4,4]
    let bn = BatchNorm::new(gpu, &arena, pbn, &c1.y, &c1.dy, (N, 16), bn_cfg); // [2,3,4,4]
    let relu = ActivationLayer::new(gpu, &bn.y, &bn.dy, Activation::Relu); // [2,3,4,4]
    let drop = Dropout::new(gpu, &relu.y, &relu.dy, rate, seed, stream, &arena.step); // [2,3,4,4]
    let t2 = ConvTranspose2d::new(
        gpu,
        &arena,
        p2,
        N,
        &drop.y,
        InputGrad::Write(&drop.dy),
        Activation::Tanh,
        None,
    ); // [2,2,8,8]
    let (gtarget, loss) = (Tensor::from_slice(gpu, &target), Tensor::zeros(gpu, 1));
    let loss_launch = gpu.bind(
        &Mse { slot: 0 },
        LossTensors {
            dx: &t2.dy,
            x: &t2.y,
            target: LossTarget::Values(&gtarget),
            loss: &loss,
        },
    );

    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    {
        let mut pass = GpuPass::new(encoder.begin_compute_pass(&Default::default()));
        arena.zero_grad(&mut pass);
        c1.forward(&mut pass);
        bn.forward(&mut pass);
        relu.forward(&mut pass);
        drop.forward(&mut pass);
        t2.forward(&mut pass);
        loss_launch.record(&mut pass);
        t2.backward(&mut pass);
        drop.backward(&mut pass);
        relu.backward(&mut pass);
        bn.backward(&mut pass);
        c1.backward(&mut pass);
    }
    gpu.queue.submit([encoder.finish()]);

    // The same chain on the CPU, from the arena's initial values.
    let read = |t: Tensor| async move { t.read(gpu).await.unwrap() };
    let (w1, b1) = (
        read(arena.value(gpu, p1.w)).await,
        read(arena.value(gpu, p1.b.unwrap())).await,
    );
    let (w2, b2) = (
        read(arena.value(gpu, p2.w)).await,
        read(arena.value(gpu, p2.b.unwrap())).await,
    );
    let (gamma, beta) = (vec![1.0; 3], vec![0.0; 3]);
    let leaky = Activation::LeakyRelu(0.2);
    let mut y1 = vec![0.0; g1.output_len()];
    cpu::conv2d_forward(&mut y1, &x, &w1, Some(&b1), &g1, leaky);
    let (mut y2, mut mean, mut invstd, mut rm, mut rv) = (
        vec![0.0; y1.len()],
        vec![0.0; 3],
        vec![0.0; 3],
        vec![0.0; 3],
        vec![1.0; 3],
    );
    cpu::batchnorm_forward_train(
        &mut y2,
        &mut mean,
        &mut invstd,
        &mut rm,
        &mut rv,
        &y1,
        &gamma,
        &beta,
        (N, 3, 16),
        bn_cfg,
    );
    let mut y3 = vec![0.0; y2.len()];
    cpu::activation_forward(&mut y3, &y2, Activation::Relu);
    let r = RandomStream {
        seed,
        stream,
        step: 0,
    };
    let mut y4 = vec![0.0; y3.len()];
    cpu::dropout_forward(&mut y4, &y3, rate, r);
    let mut y5 = vec![0.0; g2.input_len()];
    cpu::conv_transpose2d_forward(&mut y5, &y4, &w2, Some(&b2), &g2, Activation::Tanh);
    let mut dy5 = vec![0.0; y5.len()];
    let l = cpu::mse(&mut dy5, &y5, Target::Values(&target));

    let mut dz5 = vec![0.0; y5.len()];
    cpu::activation_backward(&mut dz5, &dy5, &y5, Activation::Tanh);
    let (mut dw2, mut db2, mut dy4) = (vec![0.0; w2.len()], vec![0.0; 2], vec![0.0; y4.len()]);
    cpu::conv_transpose2d_backward_weight(&mut dw2, &dz5, &y4, &g2);
    cpu::bias_backward(&mut db2, &dz5, N, 2, 64);
    cpu::conv_transpose2d_backward_input(&mut dy4, &dz5, &w2, &g2);
    let mut dy3 = vec![0.0; y3.len()];
    cpu::dropout_backward(&mut dy3, &dy4, rate, r);
    let mut dy2 = vec![0.0; y2.len()];
    cpu::activation_backward(&mut dy2, &dy3, &y3, Activation::Relu);
    let (mut dy1, mut dgamma, mut dbeta) = (vec![0.0; y1.len()], vec![0.0; 3], vec![0.0; 3]);
    cpu::batchnorm_backward(
        &mut dy1,
        &mut dgamma,
        &mut dbeta,
        &dy2,
        &y1,
        &gamma,
        &mean,
        &invstd,
        (N, 3, 16),
    );
    let mut dz1 = vec![0.0; y1.len()];
    cpu::activation_backward(&mut dz1, &dy1, &y1, leaky);
    let (mut dw1, mut db1) = (vec![0.0; w1.len()], vec![0.0; 3]);
    cpu::conv2d_backward_weight(&mut dw1, &dz1, &x, &g1);
    cpu::bias_backward(&mut db1, &dz1, N, 3, 16);

    let (rtol, atol) = (1e-3, 1e-5);
    assert_close("chain output", &read(t2.y.clone()).await, &y5, rtol, atol);
    assert_close("chain loss", &read(loss.clone()).await, &[l], rtol, atol);
    assert_close(
        "running mean",
        &read(bn.running_mean.clone()).await,
        &rm,
        rtol,
        atol,
    );
    assert_close(
        "running var",
        &read(bn.running_var.clone()).await,
        &rv,
        rtol,
        atol,
    );
    let grads = [
        ("t2.weight", read(arena.grad(gpu, p2.w)).await, dw2),
        ("t2.bias", read(arena.grad(gpu, p2.b.unwrap())).await, db2),
        ("bn.gamma", read(arena.grad(gpu, pbn.gamma)).await, dgamma),
        ("bn.beta", read(arena.grad(gpu, pbn.beta)).await, dbeta),
        ("c1.weight", read(arena.grad(gpu, p1.w)).await, dw1),
        ("c1.bias", read(arena.grad(gpu, p1.b.unwrap())).await, db1),
    ];
    for (name, got, want) in grads {
        let norm = want.iter().map(|v| v * v).sum::<f32>().sqrt();
        assert!(
            norm > 1e-4,
            "gradient of {name} is ~0 ({norm}): the comparison would prove nothing"
        );
        assert_close(&format!("gradient of {name}"), &got, &want, rtol, atol);
    }
}
gpu_test!(conv_chain_matches_cpu_reference, conv_chain);
