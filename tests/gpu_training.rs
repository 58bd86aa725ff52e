//! The way every model runs, proven on a two-layer network: all buffers and
//! bind groups are made when the network is built; a training step records
//! its dispatches (zero grads, forward, loss, backward, Adam) into one command
//! encoder and submits once; nothing is allocated or read back inside a step.
//! The GPU run must track the same network trained with the CPU reference,
//! and its loss must fall.

mod common;

use genlab::backends::gpu::{Gpu, GpuPass, Launch, Readback, Tensor};
use genlab::backends::Backend;
use genlab::core::rng::Rng;
use genlab::core::{Activation, AdamConfig, LinearShape};
use genlab::nn::{InputGrad, Linear, LinearParams, ParamArena, ParamsBuilder};
use genlab::ops::{self as cpu, BceWithLogits, LossTarget, LossTensors, Target};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const N: usize = 37; // batch, not a tile multiple
const D_IN: usize = 3;
const HIDDEN: usize = 19;

/// Points in 3-D labelled by whether they lie inside a sphere: not linearly separable.
fn dataset() -> (Vec<f32>, Vec<f32>) {
    let mut rng = Rng::new(42, 0);
    let x = rng.uniform_vec(N * D_IN, -1.0, 1.0);
    let labels = (0..N)
        .map(|i| (x[i * 3..i * 3 + 3].iter().map(|v| v * v).sum::<f32>() < 0.6) as u8 as f32)
        .collect();
    (x, labels)
}

struct TwoLayer {
    arena: ParamArena<Gpu>,
    l1: Linear<Gpu>,
    l2: Linear<Gpu>,
    loss_launch: Launch,
    loss: Tensor,
}

impl TwoLayer {
    fn new(
        gpu: &Gpu,
        x: &Tensor,
        labels: &Tensor,
        params: (LinearParams, LinearParams),
        builder: ParamsBuilder,
        adam: AdamConfig,
    ) -> Self {
        let arena = builder.build(gpu, adam);
        let l1 = Linear::new(
            gpu,
            &arena,
            params.0,
            N,
            x,
            InputGrad::None,
            Activation::Tanh,
            None,
        ); // [N, HIDDEN]
        let l2 = Linear::new(
            gpu,
            &arena,
            params.1,
            N,
            &l1.y,
            InputGrad::Write(&l1.dy),
            Activation::None,
            None,
        ); // [N, 1] logits
        let loss = Tensor::zeros(gpu, 1);
        let loss_launch = gpu.bind(
            &BceWithLogits { slot: 0 },
            LossTensors {
                dx: &l2.dy,
                x: &l2.y,
                target: LossTarget::Values(labels),
                loss: &loss,
            },
        );
        TwoLayer {
            arena,
            l1,
            l2,
            loss_launch,
            loss,
        }
    }

    /// One training step: one encoder, one pass, one submit.
    fn step(&self, gpu: &Gpu) {
        let mut encoder = gpu
            .device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor {
                label: Some("step"),
            });
        {
            let mut pass = GpuPass::new(encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some("step"),
                timestamp_writes: None,
            }));
            self.arena.zero_grad(&mut pass);
            self.l1.forward(&mut pass);
            self.l2.forward(&mut pass);
            self.loss_launch.record(&mut pass);
            self.l2.backward(&mut pass);
            self.l1.backward(&mut pass);
            self.arena.update(&mut pass);
        }
        gpu.queue.submit([encoder.finish()]);
    }
}

/// The same network trained with the CPU reference; returns the loss before each step.
fn cpu_losses(
    x: &[f32],
    labels: &[f32],
    w1: &[f32],
    w2: &[f32],
    steps: usize,
    adam: AdamConfig,
) -> (Vec<f32>, Vec<f32>) {
    let (mut w1, mut b1, mut w2, mut b2) =
        (w1.to_vec(), vec![0.0; HIDDEN], w2.to_vec(), vec![0.0; 1]);
    let mut state: Vec<(Vec<f32>, Vec<f32>)> = [w1.len(), HIDDEN, w2.len(), 1]
        .iter()
        .map(|&l| (vec![0.0; l], vec![0.0; l]))
        .collect();
    let mut losses = Vec::new();
    for t in 1..=steps as u32 {
        let mut h = vec![0.0; N * HIDDEN];
        cpu::linear_forward(
            &mut h,
            x,
            &w1,
            Some(&b1),
            LinearShape {
                n: N,
                d_in: D_IN,
                d_out: HIDDEN,
            },
            Activation::Tanh,
        );
        let mut logits = vec![0.0; N];
        cpu::linear_forward(
            &mut logits,
            &h,
            &w2,
            Some(&b2),
            LinearShape {
                n: N,
                d_in: HIDDEN,
                d_out: 1,
            },
            Activation::None,
        );
        let mut dlogits = vec![0.0; N];
        losses.push(cpu::bce_with_logits(
            &mut dlogits,
            &logits,
            Target::Values(labels),
        ));
        let (mut dw1, mut db1, mut dw2, mut db2) = (
            vec![0.0; w1.len()],
            vec![0.0; HIDDEN],
            vec![0.0; w2.len()],
            vec![0.0; 1],
        );
        let mut dh = vec![0.0; N * HIDDEN];
        cpu::linear_backward(
            Some(&mut dh),
            &mut dw2,
            Some(&mut db2),
            &dlogits,
            &h,
            &w2,
            LinearShape {
                n: N,
                d_in: HIDDEN,
                d_out: 1,
            },
        );
        let mut dz = vec![0.0; N * HIDDEN];
        cpu::activation_backward(&mut dz, &dh, &h, Activation::Tanh);
        cpu::linear_backward(
            None,
            &mut dw1,
            Some(&mut db1),
            &dz,
            x,
            &w1,
            LinearShape {
                n: N,
                d_in: D_IN,
                d_out: HIDDEN,
            },
        );
        for (i, (p, g)) in [
            (&mut w1, &dw1),
            (&mut b1, &db1),
            (&mut w2, &dw2),
            (&mut b2, &db2),
        ]
        .into_iter()
        .enumerate()
        {
            let (m, v) = &mut state[i];
            cpu::adam_step(p, g, m, v, t, adam);
        }
    }
    (losses, w2)
}

async fn two_layer_network_trains(gpu: &'static Gpu) {
    let (x, labels) = dataset();
    let adam = AdamConfig {
        lr: 0.05,
        ..Default::default()
    };
    let mut rng = Rng::new(7, 0);
    let mut builder = ParamsBuilder::new(gpu);
    let p1 = LinearParams::declare(&mut builder, "l1", D_IN, HIDDEN, true, &mut rng);
    let p2 = LinearParams::declare(&mut builder, "l2", HIDDEN, 1, true, &mut rng);
    let (gx, glabels) = (
        Tensor::from_slice(gpu, &x),
        Tensor::from_slice(gpu, &labels),
    );
    let net = TwoLayer::new(gpu, &gx, &glabels, (p1, p2), builder, adam);
    let w1 = net.arena.read(gpu, p1.w).await.unwrap();
    let w2 = net.arena.read(gpu, p2.w).await.unwrap();

    // Steps 1..=3 one at a time against the CPU reference, then 80 with no readback at all.
    let (cpu_loss, _) = cpu_losses(&x, &labels, &w1, &w2, 83, adam);
    // One staging buffer for every loss read, as the playground reads losses.
    let loss_reader = Readback::new(gpu, &net.loss);
    for (t, &want) in cpu_loss.iter().enumerate().take(3) {
        net.step(gpu);
        let got = loss_reader.read(gpu).await.unwrap()[0];
        assert!(
            (got - want).abs() < 1e-4 * want.abs().max(1.0),
            "step {}: GPU loss {got}, CPU reference {want}",
            t + 1
        );
    }
    for _ in 0..80 {
        net.step(gpu);
    }
    let last = loss_reader.read(gpu).await.unwrap()[0]; // the loss of step 83
    assert!(!loss_reader.is_busy());
    let want = cpu_loss[82];
    assert!(
        (last - want).abs() < 0.02 + 0.05 * want,
        "after 83 steps: GPU loss {last}, CPU reference {want}"
    );
    assert!(
        last < 0.5 * cpu_loss[0],
        "loss did not fall: {} → {last}",
        cpu_loss[0]
    );
    let t = net.arena.step.read(gpu).await.unwrap()[0].to_bits();
    assert_eq!(t, 83, "Adam step counter");
    assert_eq!(net.arena.count(), D_IN * HIDDEN + HIDDEN + HIDDEN + 1);
    assert_eq!(net.arena.name(p2.w), "l2.weight");
}
gpu_test!(
    two_layer_network_trains_like_the_cpu_reference,
    two_layer_network_trains
);

/// The page's frame loop reads losses one call behind the steps
/// (`Trainer::read_losses_behind`): the read of a frame's losses is begun
/// behind its steps and awaited in the next frame. No step is lost or
/// counted twice, and a full read afterwards catches up.
async fn loss_reads_trail_by_one_call(gpu: &'static Gpu) {
    use genlab::models::{Model, ModelConfig, ModelKind};
    use genlab::train::Trainer;
    let config = ModelConfig {
        batch: 4,
        ..ModelConfig::new(ModelKind::MlpGan)
    };
    let model = Model::new(gpu, config).unwrap();
    let mut t = Trainer::new(gpu, model, genlab::profile::noise_digits(8, 1)).unwrap();
    for _ in 0..3 {
        t.step(gpu);
    }
    assert!(t.read_losses_behind(gpu).await.unwrap().is_none());
    for _ in 0..2 {
        t.step(gpu);
    }
    let p = t.read_losses_behind(gpu).await.unwrap().unwrap();
    assert_eq!((p.step, p.steps), (3, 3));
    assert!(p.values.iter().all(|v| v.is_finite() && *v > 0.0), "{p:?}");
    t.step(gpu);
    // A full read: the two begun steps and the one since.
    let p = t.read_losses(gpu).await.unwrap().unwrap();
    assert_eq!((p.step, p.steps), (6, 3));
    assert!(t.read_losses(gpu).await.unwrap().is_none());
}
gpu_test!(
    loss_reads_trail_by_one_call_on_the_gpu,
    loss_reads_trail_by_one_call
);
