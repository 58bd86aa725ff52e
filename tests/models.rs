//! The five models on both backends: one whole training step on the GPU
//! matches the CPU backend (same initial weights, batch and noise); short
//! runs lower the loss; runs are deterministic and resume exactly; weights
//! survive a save and a load.

mod common;

use common::assert_close;
use genlab::backends::Gpu;
use genlab::backends::{Backend, Cpu};
use genlab::data::{Digits, PIXELS};
use genlab::models::{GanLoss, Model, ModelConfig, ModelKind};
use genlab::nn::ArenaPart;
#[cfg(not(target_arch = "wasm32"))]
use genlab::train::{self, Trainer};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const IMAGES: &[u8] = include_bytes!("../www/data/mnist-train-10k-images-idx3-ubyte.gz");
const LABELS: &[u8] = include_bytes!("../www/data/mnist-train-10k-labels-idx1-ubyte.gz");

fn digits() -> Digits {
    Digits::from_idx(IMAGES, LABELS).expect("the bundled digits load")
}

/// The model at a size a software adapter steps in a second or two: the same
/// layers as the default, narrower, at batch 4 (odd widths: no tile multiples).
fn small(kind: ModelKind) -> ModelConfig {
    let c = ModelConfig::new(kind);
    ModelConfig {
        batch: 4,
        seed: 11,
        ..match kind {
            ModelKind::MlpGan => ModelConfig {
                latent: 10,
                hidden: 37,
                ..c
            },
            ModelKind::Dcgan => ModelConfig {
                latent: 10,
                width: 6,
                ..c
            },
            ModelKind::Autoencoder => ModelConfig {
                latent: 9,
                hidden: 33,
                ..c
            },
            ModelKind::MlpVae => ModelConfig {
                latent: 5,
                hidden: 45,
                ..c
            },
            ModelKind::ConvVae | ModelKind::ConvCvae => ModelConfig {
                latent: 3,
                width: 5,
                ..c
            },
            ModelKind::Cdcgan => ModelConfig {
                latent: 7,
                width: 5,
                ..c
            },
            ModelKind::Cvae => ModelConfig {
                latent: 4,
                hidden: 29,
                ..c
            },
        }
    }
}

fn batch01(d: &Digits, n: usize) -> Vec<f32> {
    d.images[..n * PIXELS]
        .iter()
        .map(|&p| p as f32 / 255.0)
        .collect()
}

async fn read<B: Backend>(b: &B, t: &B::Tensor) -> Vec<f32> {
    b.read(&b.readback(t))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

/// One step of `config` on the GPU and on the CPU: losses, every gradient and
/// every updated weight agree.
async fn one_step_agrees(gpu: &Gpu, config: ModelConfig) {
    let cpu = Cpu::new();
    let what = format!("{} ({:?})", config.kind, config.gan_loss);
    let mg = Model::new(gpu, config.clone()).unwrap();
    let mc = Model::new(&cpu, config.clone()).unwrap();
    let x = batch01(&digits(), config.batch);
    let mut scratch = Vec::new();
    mg.write_batch(gpu, &x, &mut scratch);
    mc.write_batch(&cpu, &x, &mut scratch);
    // A conditional model's labels (the others have nowhere to put them).
    let labels: Vec<f32> = digits().labels[..config.batch]
        .iter()
        .map(|&l| l as f32)
        .collect();
    mg.write_labels(gpu, &labels);
    mc.write_labels(&cpu, &labels);
    Backend::run(gpu, |pass| mg.step(pass));
    cpu.run(|pass| mc.step(pass));

    let (lg, lc) = (read(gpu, &mg.losses).await, read(&cpu, &mc.losses).await);
    assert_close(&format!("{what}: losses"), &lg, &lc, 1e-3, 1e-5);
    for ((name, ag), (_, ac)) in mg.arenas().iter().zip(mc.arenas()) {
        let parts = [ArenaPart::Grad, ArenaPart::Value, ArenaPart::State];
        let tg = ag.read_parts(gpu, &parts).await.unwrap();
        let tc = ac.read_parts(&cpu, &parts).await.unwrap();
        assert_eq!(tg.len(), tc.len());
        let last_bias = tg
            .iter()
            .map(|(tensor, _, _)| tensor)
            .rfind(|t| t.ends_with(".bias.grad"))
            .cloned();
        for ((tensor, _, g), (_, _, c)) in tg.iter().zip(&tc) {
            let scale = c.iter().fold(0.0f32, |m, v| m.max(v.abs()));
            let what = format!("{what}: {name} {tensor}");
            if tensor.ends_with(".grad") {
                // The hinge D loss's gradient on D's last bias is Σ −1/N over
                // real plus Σ +1/N over fake logits: exactly zero while every
                // margin is open, as at the first step.
                let exactly_zero = config.gan_loss == GanLoss::Hinge
                    && *name == "discriminator"
                    && Some(tensor) == last_bias.as_ref();
                assert!(scale > 0.0 || exactly_zero, "{what}: all zero");
                assert_close(&what, g, c, 2e-3, 1e-3 * scale);
            } else {
                // Adam's first step moves each weight by ±lr (a near-zero
                // gradient's sign may differ); state is batch-norm statistics.
                assert_close(&what, g, c, 1e-3, 2.5 * config.lr + 1e-6);
            }
        }
        assert_eq!(ag.read_step(gpu).await.unwrap(), 1);
        assert_eq!(ac.read_step(&cpu).await.unwrap(), 1);
    }
}

async fn one_step_mlp_gan(gpu: &'static Gpu) {
    one_step_agrees(gpu, small(ModelKind::MlpGan)).await;
    let lsgan = ModelConfig {
        gan_loss: GanLoss::LeastSquares,
        ..small(ModelKind::MlpGan)
    };
    one_step_agrees(gpu, lsgan).await;
    let hinge = ModelConfig {
        gan_loss: GanLoss::Hinge,
        ..small(ModelKind::MlpGan)
    };
    one_step_agrees(gpu, hinge).await;
    let classes = ModelConfig {
        gan_loss: GanLoss::Classes,
        ..small(ModelKind::MlpGan)
    };
    one_step_agrees(gpu, classes).await;
}
gpu_test!(mlp_gan_step_matches_cpu, one_step_mlp_gan);

async fn one_step_dcgan_classes(gpu: &'static Gpu) {
    // As the page's preset: D narrower than G (3 channels against 6).
    let c = ModelConfig {
        batch: 8,
        gan_loss: GanLoss::Classes,
        d_width: 3,
        ..small(ModelKind::Dcgan)
    };
    one_step_agrees(gpu, c.clone()).await;
    // D's weights spectrally normalised: the power iteration's u is D's state.
    let sn = ModelConfig {
        spectral_norm: true,
        ..c.clone()
    };
    one_step_agrees(gpu, sn).await;
    // D's minibatch standard deviation, in groups of 3: each half of 8 ends
    // in a group of two.
    let mbstd = ModelConfig {
        minibatch_std: 3,
        ..c.clone()
    };
    one_step_agrees(gpu, mbstd).await;
    // G's digit-balance term (a sum over the batch of fakes).
    let balance = ModelConfig {
        g_balance: 1.0,
        ..c
    };
    one_step_agrees(gpu, balance).await;
}
gpu_test!(dcgan_classes_step_matches_cpu, one_step_dcgan_classes);

async fn one_step_dcgan(gpu: &'static Gpu) {
    // Batch 8, not 4: batch norm over 4 samples leaves the gradient 2 degrees
    // of freedom per channel and amplifies rounding differences. At batch 4,
    // SwiftShader gave 1532 of 11760 first-layer gradients a few percent off
    // the CPU's (lavapipe matched); at 8 all pass this test's tolerance.
    let c = ModelConfig {
        batch: 8,
        ..small(ModelKind::Dcgan)
    };
    one_step_agrees(gpu, c).await;
}
gpu_test!(dcgan_step_matches_cpu, one_step_dcgan);

async fn one_step_autoencoder(gpu: &'static Gpu) {
    one_step_agrees(gpu, small(ModelKind::Autoencoder)).await;
}
gpu_test!(autoencoder_step_matches_cpu, one_step_autoencoder);

async fn one_step_mlp_vae(gpu: &'static Gpu) {
    one_step_agrees(gpu, small(ModelKind::MlpVae)).await;
}
gpu_test!(mlp_vae_step_matches_cpu, one_step_mlp_vae);

async fn one_step_conv_vae(gpu: &'static Gpu) {
    one_step_agrees(gpu, small(ModelKind::ConvVae)).await;
}
gpu_test!(conv_vae_step_matches_cpu, one_step_conv_vae);

async fn one_step_conditional(gpu: &'static Gpu) {
    // The conditional DCGAN on the native adapter only. On SwiftShader (the
    // browser runner), G's dense-layer gradients came out 2-4% off the CPU's
    // in 1360 of 16660 values at batch 8, 83 at 16 and 2471 at 32, while
    // lavapipe matched at every batch and the label kernel itself matches
    // the reference on SwiftShader (gpu_kernels). With the classes loss (D
    // takes no label) the same: 1280 of 16660 at batch 8, so the label maps
    // in D are not the cause; the unconditional DCGAN under the classes
    // loss matches there (dcgan_classes_step_matches_cpu). Not understood
    // yet: see the closing notes of issue 15.
    #[cfg(not(target_arch = "wasm32"))]
    {
        let c = ModelConfig {
            batch: 16,
            ..small(ModelKind::Cdcgan)
        };
        one_step_agrees(gpu, c).await;
        // D names the digit or calls it fake: no label maps in D.
        let classes = ModelConfig {
            batch: 8,
            gan_loss: GanLoss::Classes,
            ..small(ModelKind::Cdcgan)
        };
        one_step_agrees(gpu, classes).await;
    }
    one_step_agrees(gpu, small(ModelKind::Cvae)).await;
    one_step_agrees(gpu, small(ModelKind::ConvCvae)).await;
}
gpu_test!(conditional_steps_match_cpu, one_step_conditional);

/// The classes loss's targets, as a step makes them on the device from the
/// labels the host writes: rows of (fake, 0–9); D's fake rows say fake, its
/// real rows their digit; a conditional G's rows the digit each fake was
/// asked for (the real batch's), an unconditional G's none (its loss,
/// −log(1 − p_fake), needs no target). D takes no label.
async fn class_targets<B: Backend>(b: &B) {
    for kind in [ModelKind::Cdcgan, ModelKind::Dcgan, ModelKind::MlpGan] {
        class_targets_of(b, kind).await;
    }
}

async fn class_targets_of<B: Backend>(b: &B, kind: ModelKind) {
    let n = 5;
    let c = ModelConfig {
        batch: n,
        gan_loss: GanLoss::Classes,
        ..small(kind)
    };
    assert!(c.takes_labels(), "{kind}");
    let m = Model::new(b, c.clone()).unwrap();
    let labels = [3.0, 0.0, 9.0, 3.0, 7.0];
    m.write_batch(b, &batch01(&digits(), n), &mut Vec::new());
    m.write_labels(b, &labels);
    b.run(|pass| m.step(pass));
    let gan = m.gan().expect("a GAN");
    let (d, g) = gan.class_targets().expect("the classes loss's targets");
    let d = read(b, d).await;
    let row = |fake: bool, digit: Option<f32>| -> Vec<f32> {
        let mut r = vec![0.0; 11];
        r[0] = if fake { 1.0 } else { 0.0 };
        if let Some(k) = digit {
            r[1 + k as usize] = 1.0;
        }
        r
    };
    let want_d: Vec<f32> = (0..n)
        .map(|_| row(true, None))
        .chain(labels.iter().map(|&l| row(false, Some(l))))
        .flatten()
        .collect();
    assert_eq!(d, want_d, "{kind}: D's targets");
    match g {
        Some(g) => {
            let want_g: Vec<f32> = labels.iter().flat_map(|&l| row(false, Some(l))).collect();
            assert_eq!(read(b, g).await, want_g, "{kind}: G's targets");
        }
        None => assert!(!kind.is_conditional(), "{kind}: G's targets"),
    }
    // D answers 11 logits per image; its loss starts near ln 11 (no answer preferred).
    let losses = read(b, &m.losses).await;
    assert!(
        (losses[0] - 11f32.ln()).abs() < 1.0,
        "{kind}: D's first loss {} is far from ln 11",
        losses[0]
    );
    assert_eq!(read(b, &gan.d.y).await.len(), 2 * n * 11);
}

async fn class_targets_gpu(gpu: &'static Gpu) {
    class_targets(gpu).await;
}
gpu_test!(class_targets_on_the_gpu, class_targets_gpu);

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn class_targets_on_the_cpu() {
    pollster::block_on(class_targets(&Cpu::new()));
}

/// Only a GAN under the classes loss, or a conditional model, reads labels.
#[test]
fn who_takes_labels() {
    assert!(!ModelConfig::new(ModelKind::MlpVae).takes_labels());
    // The GANs' default recipes have D name the digit; the DCGAN tutorial's
    // does not, nor an MLP GAN under another loss.
    assert!(ModelConfig::new(ModelKind::Dcgan).takes_labels());
    assert!(ModelConfig::new(ModelKind::MlpGan).takes_labels());
    let bce = ModelConfig {
        gan_loss: GanLoss::Bce,
        ..ModelConfig::new(ModelKind::MlpGan)
    };
    assert!(!bce.takes_labels());
    let tutorial = ModelKind::Dcgan
        .info()
        .tutorial
        .expect("the DCGAN's tutorial");
    assert!(!tutorial().takes_labels());
    let vae = ModelConfig {
        gan_loss: GanLoss::Classes,
        ..ModelConfig::new(ModelKind::MlpVae)
    };
    assert!(!vae.takes_labels(), "a VAE ignores the GAN loss");
    assert!(ModelConfig::new(ModelKind::Cvae).takes_labels());
}

/// A conditional sampler's output depends on the digit asked for, and only
/// on it given the latent: the same latent asked for the same digit twice
/// draws the same sample; asked for another digit, another.
async fn conditional_samples_follow_the_label(gpu: &'static Gpu) {
    for kind in [ModelKind::Cdcgan, ModelKind::Cvae, ModelKind::ConvCvae] {
        let m = Model::new(gpu, small(kind)).unwrap();
        let s = m.sampler(gpu, 4);
        let per = m.sampler_input_len();
        let z: Vec<f32> = (0..per).map(|i| (i as f32 * 0.37).sin()).collect();
        let z4 = z.repeat(4);
        s.write_labels(gpu, &[3.0, 3.0, 8.0, 0.0]);
        let px = genlab::train::sample(gpu, &m, &s, &z4).await.unwrap();
        let tile = |i: usize| &px[i * PIXELS..(i + 1) * PIXELS];
        assert_eq!(tile(0), tile(1), "{kind}: same latent, same digit");
        let diff = |a: &[f32], b: &[f32]| a.iter().zip(b).map(|(x, y)| (x - y).abs()).sum::<f32>();
        assert!(
            diff(tile(0), tile(2)) > 1e-3,
            "{kind}: 3 and 8 drew the same"
        );
        assert!(
            diff(tile(2), tile(3)) > 1e-3,
            "{kind}: 8 and 0 drew the same"
        );
    }
}
gpu_test!(
    conditional_samples_follow_the_label_on_the_gpu,
    conditional_samples_follow_the_label
);

/// The DCGAN of the tutorial at its real sizes (z 100, 256-128-64 channels), batch 2.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn full_size_dcgan_step_matches_cpu() {
    let config = ModelConfig {
        batch: 2,
        ..ModelConfig::new(ModelKind::Dcgan)
    };
    pollster::block_on(one_step_agrees(common::gpu_blocking(), config));
}

/// Trains `steps` steps; returns the loss points read every `every` steps.
#[cfg(not(target_arch = "wasm32"))]
fn run<B: Backend>(
    b: &B,
    config: ModelConfig,
    steps: usize,
    every: usize,
) -> Vec<train::LossPoint> {
    let model = Model::new(b, config).unwrap();
    let mut t = Trainer::new(b, model, digits().split_held_out(1000).0).unwrap();
    let mut points = Vec::new();
    for s in 1..=steps {
        t.step(b);
        if s % every == 0 {
            points.extend(pollster::block_on(t.read_losses(b)).unwrap());
        }
    }
    points
}

/// The loss that should fall early: a GAN's discriminator loss (it learns to
/// tell real from fake before the generator catches up), an autoencoder's
/// reconstruction, a VAE's reconstruction + KL.
#[cfg(not(target_arch = "wasm32"))]
fn falling_loss(kind: ModelKind, p: &train::LossPoint) -> f32 {
    match kind {
        k if k.is_vae() => p.values[0] + p.values[1],
        _ => p.values[0],
    }
}

#[cfg(not(target_arch = "wasm32"))]
fn lowers_its_loss<B: Backend>(b: &B, kind: ModelKind, config: ModelConfig, steps: usize) {
    let points = run(b, config, steps, 5);
    assert_eq!(points.len(), steps / 5);
    assert!(points.iter().all(|p| p.steps == 5));
    let (first, last) = (
        falling_loss(kind, &points[0]),
        falling_loss(kind, points.last().unwrap()),
    );
    assert!(
        last.is_finite() && last < 0.8 * first,
        "{kind} on {}: mean loss over steps 1-5 {first}, over the last 5 {last}",
        b.describe()
    );
}

#[cfg(not(target_arch = "wasm32"))]
mod short_runs {
    use super::*;

    fn cpu(kind: ModelKind) {
        lowers_its_loss(&Cpu::new(), kind, ModelConfig::new(kind), 40);
    }

    fn gpu(kind: ModelKind) {
        gpu_steps(kind, 40);
    }

    fn gpu_steps(kind: ModelKind, steps: usize) {
        // Small GANs at the material's rates barely move in 40 steps.
        let lr = if kind.is_gan() { 1e-3 } else { small(kind).lr };
        let c = ModelConfig {
            batch: 16,
            lr,
            ..small(kind)
        };
        lowers_its_loss(common::gpu_blocking(), kind, c, steps);
    }

    #[test]
    fn mlp_gan_lowers_its_loss_on_the_cpu() {
        // The classes loss: D's eleven-way loss falls more slowly from ln 11.
        let k = ModelKind::MlpGan;
        lowers_its_loss(&Cpu::new(), k, ModelConfig::new(k), 100);
    }
    #[test]
    fn dcgan_lowers_its_loss_on_the_cpu() {
        // The tutorial's recipe, and the default (the classes loss: D's
        // eleven-way loss falls more slowly from ln 11).
        let tutorial = ModelKind::Dcgan
            .info()
            .tutorial
            .expect("the DCGAN's tutorial");
        let c = ModelConfig {
            batch: 16,
            ..tutorial()
        };
        lowers_its_loss(&Cpu::new(), ModelKind::Dcgan, c, 30);
        let c = ModelConfig {
            batch: 16,
            ..ModelConfig::new(ModelKind::Dcgan)
        };
        lowers_its_loss(&Cpu::new(), ModelKind::Dcgan, c, 60);
    }
    #[test]
    fn autoencoder_lowers_its_loss_on_the_cpu() {
        cpu(ModelKind::Autoencoder);
    }
    #[test]
    fn mlp_vae_lowers_its_loss_on_the_cpu() {
        cpu(ModelKind::MlpVae);
    }
    #[test]
    fn conv_vae_lowers_its_loss_on_the_cpu() {
        cpu(ModelKind::ConvVae);
    }
    #[test]
    fn mlp_gan_lowers_its_loss_on_the_gpu() {
        gpu_steps(ModelKind::MlpGan, 100);
    }
    #[test]
    fn dcgan_lowers_its_loss_on_the_gpu() {
        gpu(ModelKind::Dcgan);
    }
    #[test]
    fn autoencoder_lowers_its_loss_on_the_gpu() {
        gpu(ModelKind::Autoencoder);
    }
    #[test]
    fn mlp_vae_lowers_its_loss_on_the_gpu() {
        gpu(ModelKind::MlpVae);
    }
    #[test]
    fn conv_vae_lowers_its_loss_on_the_gpu() {
        gpu(ModelKind::ConvVae);
    }
    #[test]
    fn conditional_dcgan_lowers_its_loss_on_the_cpu() {
        lowers_its_loss(
            &Cpu::new(),
            ModelKind::Cdcgan,
            // The tutorial's Adam, as the DCGAN's test: β1 0.5 moves D's
            // loss less in the first steps.
            ModelConfig {
                batch: 16,
                lr: 1e-4,
                adam_beta1: 0.9,
                ..ModelConfig::new(ModelKind::Cdcgan)
            },
            30,
        );
    }
    #[test]
    fn conditional_dcgan_with_classes_lowers_its_loss_on_the_cpu() {
        lowers_its_loss(
            &Cpu::new(),
            ModelKind::Cdcgan,
            ModelConfig {
                batch: 16,
                gan_loss: GanLoss::Classes,
                ..ModelConfig::new(ModelKind::Cdcgan)
            },
            30,
        );
    }
    #[test]
    fn conditional_vaes_lower_their_loss_on_the_cpu() {
        cpu(ModelKind::Cvae);
        cpu(ModelKind::ConvCvae);
    }
    #[test]
    fn conditional_models_lower_their_loss_on_the_gpu() {
        gpu(ModelKind::Cdcgan);
        lowers_its_loss(
            common::gpu_blocking(),
            ModelKind::Cdcgan,
            ModelConfig {
                batch: 16,
                lr: 1e-3,
                gan_loss: GanLoss::Classes,
                ..small(ModelKind::Cdcgan)
            },
            40,
        );
        gpu(ModelKind::Cvae);
        // The 5-channel conv VAE with ten label maps beside its image falls
        // by a fifth only after about 100 steps at batch 16.
        gpu_steps(ModelKind::ConvCvae, 120);
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod reproducible {
    use super::*;

    fn weights<B: Backend>(b: &B, m: &Model<B>) -> Vec<Vec<f32>> {
        m.arenas()
            .iter()
            .map(|(_, a)| pollster::block_on(read(b, &a.values)))
            .collect()
    }

    /// Two runs of one seed on the CPU: identical loss curves and weights, bit for bit.
    #[test]
    fn the_same_seed_gives_the_same_run_on_the_cpu() {
        for kind in [ModelKind::Dcgan, ModelKind::MlpVae] {
            let a = run(&Cpu::new(), small(kind), 12, 3);
            let b = run(&Cpu::new(), small(kind), 12, 3);
            assert_eq!(a.len(), 4);
            assert_eq!(a, b, "{kind}: two runs with one seed differ");
            let other = run(
                &Cpu::new(),
                ModelConfig {
                    seed: 12,
                    ..small(kind)
                },
                12,
                3,
            );
            assert_ne!(a, other, "{kind}: another seed gave the same run");
        }
    }

    /// G's digit-balance term is the classes loss's: it changes that run
    /// and leaves a hinge run bit for bit as it was (the DCGAN's default has
    /// it on, and switching the loss must not carry it along).
    #[test]
    fn the_balance_term_changes_the_classes_loss_only() {
        let with = |gan_loss, g_balance| {
            let c = ModelConfig {
                gan_loss,
                g_balance,
                ..small(ModelKind::Dcgan)
            };
            run(&Cpu::new(), c, 6, 3)
        };
        assert_eq!(with(GanLoss::Hinge, 1.0), with(GanLoss::Hinge, 0.0));
        assert_ne!(with(GanLoss::Classes, 1.0), with(GanLoss::Classes, 0.0));
    }

    /// The GPU is deterministic too: no atomics, fixed reduction orders.
    #[test]
    fn the_same_seed_gives_the_same_run_on_the_gpu() {
        let gpu = common::gpu_blocking();
        for kind in [ModelKind::Dcgan, ModelKind::ConvVae] {
            let config = ModelConfig {
                batch: 8,
                ..small(kind)
            };
            let a = run(gpu, config.clone(), 6, 3);
            let b = run(gpu, config, 6, 3);
            assert_eq!(a.len(), 2);
            assert_eq!(a, b, "{kind}: two GPU runs with one seed differ");
        }
    }

    /// 6 steps, save, load into a new model, 6 more = 12 steps straight.
    #[test]
    fn a_resumed_run_continues_exactly() {
        let cpu = Cpu::new();
        let train_set = digits().split_held_out(1000).0;
        for kind in [ModelKind::Dcgan, ModelKind::ConvVae] {
            let config = small(kind);
            let mut straight = Trainer::new(
                &cpu,
                Model::new(&cpu, config.clone()).unwrap(),
                train_set.clone(),
            )
            .unwrap();
            let mut first = Trainer::new(
                &cpu,
                Model::new(&cpu, config.clone()).unwrap(),
                train_set.clone(),
            )
            .unwrap();
            for _ in 0..6 {
                straight.step(&cpu);
                first.step(&cpu);
            }
            let saved = pollster::block_on(train::save_weights(&cpu, &first.model)).unwrap();
            let saved = train::read_weights(&saved).unwrap();
            assert_eq!(saved.step, Some(6));
            assert_eq!(saved.config.as_ref(), Some(&config));
            let mut resumed = Trainer::new(
                &cpu,
                Model::new(&cpu, config.clone()).unwrap(),
                train_set.clone(),
            )
            .unwrap();
            resumed.resume(&cpu, &saved).unwrap();
            for _ in 0..6 {
                straight.step(&cpu);
                resumed.step(&cpu);
            }
            assert_eq!(
                weights(&cpu, &straight.model),
                weights(&cpu, &resumed.model),
                "{kind}: resumed run differs from the straight one"
            );
            let p = pollster::block_on(resumed.read_losses(&cpu))
                .unwrap()
                .unwrap();
            assert_eq!((p.step, p.steps), (12, 6));
        }
    }

    #[test]
    fn weights_of_another_model_are_refused() {
        let cpu = Cpu::new();
        let vae = Model::new(&cpu, small(ModelKind::MlpVae)).unwrap();
        let bytes = pollster::block_on(train::save_weights(&cpu, &vae)).unwrap();
        let saved = train::read_weights(&bytes).unwrap();
        let gan = Model::new(&cpu, small(ModelKind::MlpGan)).unwrap();
        let err = train::load_weights(&cpu, &gan, &saved).unwrap_err();
        assert!(err.contains("mlp-vae"), "{err}");
        let wider = Model::new(
            &cpu,
            ModelConfig {
                hidden: 46,
                ..small(ModelKind::MlpVae)
            },
        )
        .unwrap();
        let err = train::load_weights(&cpu, &wider, &saved).unwrap_err();
        assert!(err.contains("another size"), "{err}");
        assert!(train::read_weights(b"not safetensors at all")
            .err()
            .unwrap()
            .contains("not a safetensors file"));
    }

    #[test]
    fn bad_settings_are_refused_with_a_reason() {
        let c = ModelConfig::new(ModelKind::MlpVae);
        for (bad, words) in [
            (
                ModelConfig {
                    batch: 0,
                    ..c.clone()
                },
                "batch size",
            ),
            (
                ModelConfig {
                    latent: 65,
                    ..c.clone()
                },
                "latent size",
            ),
            (
                ModelConfig {
                    lr: -1.0,
                    ..c.clone()
                },
                "learning rate",
            ),
            (
                ModelConfig {
                    beta: f32::NAN,
                    ..c.clone()
                },
                "β",
            ),
        ] {
            let err = Model::new(&Cpu::new(), bad).err().unwrap();
            assert!(err.contains(words), "{err}");
        }
        assert!(ModelKind::parse("vae").unwrap_err().contains("mlp-vae"));
    }
}

/// Each optimiser's gradients against central differences of its own loss
/// on the CPU backend: the check that the models' wiring (a GAN's two
/// losses through one forward, the VAE's heads and reparameterisation) is
/// right, independent of the kernels' agreement.
#[cfg(not(target_arch = "wasm32"))]
mod finite_differences {
    use super::*;
    use genlab::nn::ArenaPart;

    fn check(config: ModelConfig) {
        let cpu = Cpu::new();
        let kind = config.kind;
        let model = Model::new(&cpu, config.clone()).unwrap();
        let x = batch01(&digits(), config.batch);
        model.write_batch(&cpu, &x, &mut Vec::new());
        let losses = |model: &Model<Cpu>| {
            cpu.run(|pass| model.gradients(pass));
            pollster::block_on(read(&cpu, &model.losses))
        };
        // Which loss each arena descends: a GAN's generator its G loss (slot
        // 1), its discriminator its D loss (slot 0); a VAE the sum of its two.
        let objective = |arena: usize, l: &[f32]| -> f64 {
            match (kind.is_gan(), kind.is_vae()) {
                (true, _) => l[1 - arena.min(1)] as f64,
                (_, true) => l[0] as f64 + l[1] as f64,
                _ => l[0] as f64,
            }
        };
        losses(&model);
        for (ai, (name, arena)) in model.arenas().iter().enumerate() {
            let grads = pollster::block_on(arena.read_parts(&cpu, &[ArenaPart::Grad])).unwrap();
            let all_values = pollster::block_on(read(&cpu, &arena.values));
            // The 12 largest gradients of the arena (by magnitude), each by a
            // central difference of the loss.
            let flat: Vec<(usize, f32)> = {
                let g = pollster::block_on(read(&cpu, &arena.grads));
                let mut v: Vec<(usize, f32)> = g.into_iter().enumerate().collect();
                v.sort_by(|a, b| b.1.abs().total_cmp(&a.1.abs()));
                v.truncate(12);
                v
            };
            assert!(
                !grads.is_empty() && flat[0].1 != 0.0,
                "{kind} {name}: no gradient"
            );
            for &(i, g) in &flat {
                let h = 1e-2 * all_values[i].abs().max(0.1);
                let at = |v: f32| {
                    cpu.write(&arena.values, i, &[v]);
                    objective(ai, &losses(&model))
                };
                let (plus, minus) = (at(all_values[i] + h), at(all_values[i] - h));
                let here = at(all_values[i]);
                let fd = (plus - minus) / (2.0 * h as f64);
                let tol = 0.05 * (g as f64).abs() + 1e-4;
                // A piecewise-linear loss (hinge) may have a kink within ±h:
                // there the gradient must lie between the one-sided slopes.
                let (left, right) = ((here - minus) / h as f64, (plus - here) / h as f64);
                let kinked = (left - right).abs() > 2.0 * tol;
                let between =
                    left.min(right) - tol <= g as f64 && g as f64 <= left.max(right) + tol;
                assert!(
                    (fd - g as f64).abs() <= tol || (kinked && between),
                    "{kind} {name}[{i}]: gradient {g}, central difference {fd} \
                     (one-sided {left}, {right})"
                );
            }
        }
    }

    #[test]
    fn gan_gradients_match_finite_differences() {
        for kind in [ModelKind::MlpGan, ModelKind::Dcgan] {
            for loss in [GanLoss::Bce, GanLoss::LeastSquares, GanLoss::Hinge] {
                check(ModelConfig {
                    gan_loss: loss,
                    batch: 8,
                    ..small(kind)
                });
            }
        }
        // A discriminator of its own width (4 channels, G's narrowest 6).
        check(ModelConfig {
            batch: 8,
            d_width: 4,
            ..small(ModelKind::Dcgan)
        });
    }

    #[test]
    fn autoencoder_and_vae_gradients_match_finite_differences() {
        for kind in [
            ModelKind::Autoencoder,
            ModelKind::MlpVae,
            ModelKind::ConvVae,
        ] {
            check(ModelConfig {
                batch: 8,
                ..small(kind)
            });
        }
    }
}

/// The CPU backend on several threads (natively): the same training as on
/// one, within rounding, and the same bits from run to run for a given count.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn threaded_cpu_backend_trains_the_same_and_repeats_exactly() {
    for kind in [ModelKind::Dcgan, ModelKind::ConvVae, ModelKind::MlpGan] {
        let c = ModelConfig {
            batch: 16,
            ..small(kind)
        };
        let one = run(&Cpu::new(), c.clone(), 6, 3);
        let three = run(&Cpu::with_threads(3), c.clone(), 6, 3);
        let again = run(&Cpu::with_threads(3), c.clone(), 6, 3);
        assert_eq!(three, again, "{kind}: 3 threads, two runs");
        for (a, b) in one.iter().zip(&three) {
            assert_close(
                &format!("{kind} losses, 1 vs 3 threads"),
                &b.values,
                &a.values,
                1e-3,
                1e-4,
            );
        }
    }
}

/// The registry is one description: each model's name parses back to it,
/// its presets are valid, and every setting round-trips through the
/// weights-file pairs, serde and the page's `with`.
#[cfg(not(target_arch = "wasm32"))]
mod registry {
    use super::*;
    use genlab::models::{schema, Size, MODELS, SETTINGS};

    #[test]
    fn every_model_and_setting_is_described_once() {
        assert_eq!(MODELS.len(), ModelKind::ALL.len());
        for (m, kind) in MODELS.iter().zip(ModelKind::ALL) {
            assert_eq!(m.kind, kind, "MODELS is in the order of ModelKind");
            assert_eq!(ModelKind::parse(m.name), Ok(kind));
            assert!(
                !m.title.is_empty() && m.description.len() > 20,
                "{}",
                m.name
            );
            for size in [Size::Page, Size::Full] {
                let c = ModelConfig::preset(kind, size, 5);
                c.validate().unwrap();
                assert_eq!(c.seed, 5);
                // Through the weights file's pairs and through serde: the same settings.
                let pairs = c.to_pairs();
                let back = ModelConfig::from_pairs(|k| {
                    pairs.iter().find(|(p, _)| *p == k).map(|(_, v)| v.clone())
                })
                .unwrap();
                assert_eq!(back, c);
                let json = serde_json::to_string(&c).unwrap();
                assert!(
                    json.contains(&format!("\"model\":\"{}\"", m.name)),
                    "{json}"
                );
                assert_eq!(serde_json::from_str::<ModelConfig>(&json).unwrap(), c);
            }
        }
        for (name, _) in GanLoss::CHOICES {
            assert_eq!(GanLoss::parse(name).unwrap().name(), *name);
        }
        let s = schema();
        assert_eq!(s.models.len(), MODELS.len());
        for setting in SETTINGS.iter().filter(|s| s.on_page) {
            let view = s.settings.iter().find(|v| v.key == setting.key).unwrap();
            assert!(
                !view.models.is_empty(),
                "{} applies to no model",
                setting.key
            );
        }
        // A setting absent from an old file takes its default; a required one is refused.
        let c = ModelConfig::new(ModelKind::Dcgan);
        let old: Vec<_> = c
            .to_pairs()
            .into_iter()
            .filter(|(k, _)| !["d_lr_scale", "d_steps", "d_width"].contains(k))
            .collect();
        let get = |k: &str| old.iter().find(|(p, _)| *p == k).map(|(_, v)| v.clone());
        assert_eq!(ModelConfig::from_pairs(get).unwrap(), c);
        let no_batch = |k: &str| (k != "batch").then(|| get(k)).flatten();
        assert!(ModelConfig::from_pairs(no_batch)
            .unwrap_err()
            .contains("batch"));
    }

    /// Each network has its own optimizer: D's rate is `lr · d_lr_scale`
    /// (kept by a new rate), and `d_steps` D updates run per G update.
    #[test]
    fn a_gan_discriminator_has_its_own_rate_and_steps() {
        let cpu = Cpu::new();
        let c = ModelConfig {
            d_lr_scale: 4.0,
            d_steps: 3,
            batch: 4,
            ..small(ModelKind::MlpGan)
        };
        let mut m = Model::new(&cpu, c.clone()).unwrap();
        let lr = |m: &Model<Cpu>, i: usize| m.arenas()[i].1.adam.lr;
        assert_eq!((lr(&m, 0), lr(&m, 1)), (c.lr, 4.0 * c.lr));
        m.set_lr(&cpu, 1e-3);
        assert_eq!((lr(&m, 0), lr(&m, 1)), (1e-3, 4e-3));
        m.write_batch(&cpu, &batch01(&digits(), 4), &mut Vec::new());
        cpu.run(|pass| m.step(pass));
        cpu.run(|pass| m.step(pass));
        let steps = |i: usize| pollster::block_on(m.arenas()[i].1.read_step(&cpu)).unwrap();
        assert_eq!((steps(0), steps(1)), (2, 6), "G steps, D steps");
        let losses = pollster::block_on(read(&cpu, &m.losses));
        assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    }
}

/// The DCGAN's discriminator takes its width from `d_width` (0: `width`):
/// With `spectral_norm`, D's layers read each weight matrix divided by its
/// largest singular value: after some steps (u converged) every W_sn D
/// uses has σ = 1 by an independent power iteration in f64; D has the same
/// parameters, one u per matrix in its state, and the setting round-trips
/// through a weights file's header.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn spectral_norm_makes_each_discriminator_matrix_1_lipschitz() {
    let cpu = Cpu::new();
    let base = ModelConfig {
        batch: 8,
        gan_loss: GanLoss::Classes,
        ..small(ModelKind::Dcgan)
    };
    let c = ModelConfig {
        spectral_norm: true,
        ..base.clone()
    };
    // D's parameter count, and the names of its state tensors.
    let d_arena = |c: &ModelConfig| {
        let m = Model::new(&cpu, c.clone()).unwrap();
        let a = &m.arenas()[1].1;
        let state = pollster::block_on(a.read_parts(&cpu, &[ArenaPart::State])).unwrap();
        let names: Vec<String> = state.into_iter().map(|(n, _, _)| n).collect();
        (a.count(), names)
    };
    let ((p0, s0), (p1, s1)) = (d_arena(&base), d_arena(&c));
    assert_eq!(p0, p1, "spectral normalisation adds no parameters");
    assert!(s0.is_empty(), "{s0:?}");
    assert_eq!(
        s1,
        [
            "discriminator.sn0.u",
            "discriminator.sn1.u",
            "discriminator.sn2.u"
        ],
        "a u per matrix: D's two convolutions and its dense layer"
    );
    let m = Model::new(&cpu, c.clone()).unwrap();
    let norms = &m.gan().unwrap().d_norms;
    let d = digits();
    for i in 0..30 {
        let x = batch01(&d, c.batch + i);
        m.write_batch(&cpu, &x[i * PIXELS..], &mut Vec::new());
        cpu.run(|pass| m.step(pass));
    }
    let losses = pollster::block_on(read(&cpu, &m.losses));
    assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
    for norm in norms {
        let (rows, cols) = (norm.shape.rows, norm.shape.cols);
        let w = pollster::block_on(read(&cpu, &norm.w_sn));
        // Power iteration on WᵀW in f64, from all ones.
        let mut v = vec![1.0f64; cols];
        let mut top = 0.0;
        for _ in 0..2000 {
            let wv: Vec<f64> = (0..rows)
                .map(|i| (0..cols).map(|j| w[i * cols + j] as f64 * v[j]).sum())
                .collect();
            let wtwv: Vec<f64> = (0..cols)
                .map(|j| (0..rows).map(|i| w[i * cols + j] as f64 * wv[i]).sum())
                .collect();
            top = wtwv.iter().map(|x| x * x).sum::<f64>().sqrt();
            v = wtwv.iter().map(|x| x / top).collect();
        }
        let sigma = top.sqrt();
        assert!(
            (sigma - 1.0).abs() < 0.02,
            "W_sn [{rows}×{cols}]: σ {sigma}"
        );
    }
    let pairs = c.to_pairs();
    assert!(pairs.contains(&("spectral_norm", "on".to_string())));
    let back = ModelConfig::from_pairs(|k| pairs.iter().find(|p| p.0 == k).map(|p| p.1.clone()));
    assert_eq!(back.unwrap(), c);
}

/// D's minibatch standard deviation: one more 7×7 map before the DCGAN's
/// dense layer (and one more value before the MLP GAN's), groups that never
/// mix fakes with reals, and training that stays finite.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn minibatch_std_gives_the_discriminator_one_more_map_per_half() {
    use genlab::nn::Layer;
    let cpu = Cpu::new();
    let d_params = |c: &ModelConfig| Model::new(&cpu, c.clone()).unwrap().arenas()[1].1.count();
    for (kind, per_answer) in [(ModelKind::Dcgan, 7 * 7), (ModelKind::MlpGan, 1)] {
        let base = ModelConfig {
            batch: 6,
            gan_loss: GanLoss::Classes,
            ..small(kind)
        };
        let c = ModelConfig {
            minibatch_std: 4,
            ..base.clone()
        };
        // The dense layer's weights for the extra map, for each of D's 11 answers.
        assert_eq!(d_params(&c), d_params(&base) + 11 * per_answer, "{kind}");
        let m = Model::new(&cpu, c.clone()).unwrap();
        let d = &m.gan().unwrap().d;
        let layers: Vec<_> = (d.layers.iter())
            .filter_map(|l| match l {
                Layer::MinibatchStd(l) => Some(l),
                _ => None,
            })
            .collect();
        assert_eq!(layers.len(), 1, "{kind}: one minibatch std layer");
        let shape = layers[0].shape;
        // D runs over [fake; real] at 2 × 6: groups of 4, 2 in each half.
        assert_eq!((shape.n, shape.segment, shape.group), (12, 6, 4), "{kind}");
        let halves: Vec<Vec<usize>> = (0..shape.groups())
            .map(|g| shape.members(g).collect())
            .collect();
        assert_eq!(
            halves,
            [vec![0, 1, 2, 3], vec![4, 5], vec![6, 7, 8, 9], vec![10, 11]],
            "{kind}"
        );
        let d_digits = digits();
        for i in 0..10 {
            let x = batch01(&d_digits, c.batch + i);
            m.write_batch(&cpu, &x[i * PIXELS..], &mut Vec::new());
            cpu.run(|pass| m.step(pass));
        }
        let losses = pollster::block_on(read(&cpu, &m.losses));
        assert!(losses.iter().all(|l| l.is_finite()), "{kind}: {losses:?}");
        // Each sample's extra map holds its group's statistic: constant
        // within a group, and positive.
        let y = pollster::block_on(read(&cpu, &layers[0].y));
        for g in 0..shape.groups() {
            let maps: Vec<f32> = (shape.members(g))
                .flat_map(|i| y[i * shape.width() + shape.per..(i + 1) * shape.width()].to_vec())
                .collect();
            assert!(
                maps.iter().all(|&v| v == maps[0] && v > 0.0),
                "{kind}: group {g}: {maps:?}"
            );
        }
    }
    let c = ModelConfig {
        minibatch_std: 4,
        ..small(ModelKind::Dcgan)
    };
    let pairs = c.to_pairs();
    assert!(pairs.contains(&("minibatch_std", "4".to_string())));
    let back = ModelConfig::from_pairs(|k| pairs.iter().find(|p| p.0 == k).map(|p| p.1.clone()));
    assert_eq!(back.unwrap(), c);
    // Files saved before the setting existed read as none.
    let old: Vec<_> = pairs
        .into_iter()
        .filter(|p| p.0 != "minibatch_std")
        .collect();
    let back = ModelConfig::from_pairs(|k| old.iter().find(|p| p.0 == k).map(|p| p.1.clone()));
    assert_eq!(back.unwrap().minibatch_std, 0);
}

/// its two convolutions have d and 2d channels, its dense layer reads the
/// 7·7·2d features, and the generator keeps `width`'s.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn a_dcgan_discriminator_has_its_own_width() {
    let cpu = Cpu::new();
    let params = |c: &ModelConfig| {
        let m = Model::new(&cpu, c.clone()).unwrap();
        let count = |i: usize| m.arenas()[i].1.count();
        (count(0), count(1))
    };
    // conv 5×5 1 → d (+ bias), conv 5×5 d → 2d (+ bias), dense 7·7·2d → out.
    let d_params = |d: usize, out: usize| {
        (25 * d + d) + (25 * d * 2 * d + 2 * d) + (7 * 7 * 2 * d * out + out)
    };
    for kind in [ModelKind::Dcgan, ModelKind::Cdcgan] {
        for loss in [GanLoss::Bce, GanLoss::Classes] {
            let same = ModelConfig {
                gan_loss: loss,
                ..small(kind)
            };
            assert_eq!(same.d_width, 0);
            assert_eq!(same.discriminator_width(), same.width);
            let narrow = ModelConfig {
                d_width: 3,
                ..same.clone()
            };
            assert_eq!(narrow.discriminator_width(), 3);
            let explicit = ModelConfig {
                d_width: same.width,
                ..same.clone()
            };
            let ((g, d), (g_narrow, d_narrow)) = (params(&same), params(&narrow));
            assert_eq!(
                params(&explicit),
                (g, d),
                "{kind} {loss:?}: 0 means the width"
            );
            assert_eq!(g_narrow, g, "{kind} {loss:?}: G keeps the width");
            assert!(d_narrow < d, "{kind} {loss:?}");
            if kind == ModelKind::Dcgan {
                let out = if loss == GanLoss::Classes { 11 } else { 1 };
                assert_eq!(d, d_params(same.width, out), "{kind} {loss:?}");
                assert_eq!(d_narrow, d_params(3, out), "{kind} {loss:?}");
            }
            // It trains (the registry test round-trips it through a weights
            // file's pairs with the page's preset, which sets it).
            let m = Model::new(&cpu, narrow.clone()).unwrap();
            m.write_batch(&cpu, &batch01(&digits(), narrow.batch), &mut Vec::new());
            cpu.run(|pass| m.step(pass));
            let losses = pollster::block_on(read(&cpu, &m.losses));
            assert!(losses.iter().all(|l| l.is_finite()), "{losses:?}");
        }
    }
}

/// The MLP GAN's discriminator drops out after each hidden layer at the
/// `dropout` setting: it changes D's losses, not the weights (files saved
/// before it load), and a given seed drops the same units every time.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn the_mlp_gan_discriminator_drops_out() {
    let cpu = Cpu::new();
    let step = |dropout: f32| {
        let c = ModelConfig {
            dropout,
            ..small(ModelKind::MlpGan)
        };
        let m = Model::new(&cpu, c.clone()).unwrap();
        let counts: Vec<usize> = m.arenas().iter().map(|(_, a)| a.count()).collect();
        m.write_batch(&cpu, &batch01(&digits(), c.batch), &mut Vec::new());
        cpu.run(|pass| m.step(pass));
        (counts, pollster::block_on(read(&cpu, &m.losses)))
    };
    assert_eq!(ModelConfig::new(ModelKind::MlpGan).dropout, 0.3);
    let (counts, none) = step(0.0);
    let (counts_half, half) = step(0.5);
    assert_eq!(counts, counts_half, "dropout has no weights");
    assert!(none.iter().chain(&half).all(|l| l.is_finite()));
    assert_ne!(
        none[0], half[0],
        "D's loss with dropout 0.5 {half:?} and none {none:?}"
    );
    assert_eq!(step(0.5).1, half, "the same seed drops the same units");
    // At rate 0 a dropout layer binds nothing: no tensors, no ops (the
    // page's DCGAN trains without dropout, and each op costs it time).
    let bytes = |dropout| {
        ModelConfig {
            dropout,
            ..small(ModelKind::MlpGan)
        }
        .layout()
        .bytes
    };
    let c = small(ModelKind::MlpGan);
    // D sees 2N samples; two dropout layers, each a y and a dy of `hidden` floats.
    let floats = 2 * c.batch as u64 * 2 * 2 * c.hidden as u64;
    assert_eq!(bytes(0.5) - bytes(0.0), 4 * floats);
}

/// A GAN's generator keeps the moving average of its weights (at
/// `g_average`) beside them, updated in the same Adam kernel, samples with
/// it, saves it and loads it back; the discriminator keeps none.
async fn generator_weight_average<B: Backend>(b: &B) {
    let decay = 0.6;
    let c = ModelConfig {
        g_average: decay,
        ..small(ModelKind::Dcgan)
    };
    let model = Model::new(b, c.clone()).unwrap();
    let g = &model.arenas()[0].1;
    async fn read<B: Backend>(b: &B, t: &B::Tensor) -> Vec<f32> {
        b.read(&b.readback(t)).await.unwrap()
    }
    let mut avg = read(b, &g.values).await;
    let got = read(b, g.average.as_ref().unwrap()).await;
    assert_eq!(got, avg, "the average starts at the weights");
    assert!(model.arenas()[1].1.average.is_none());
    let d = digits();
    let mut scratch = Vec::new();
    for i in 0..3 {
        let px: Vec<f32> = d.images[i * 4 * PIXELS..(i + 1) * 4 * PIXELS]
            .iter()
            .map(|&p| p as f32 / 255.0)
            .collect();
        model.write_batch(b, &px, &mut scratch);
        b.run(|pass| model.step(pass));
        let w = read(b, &g.values).await;
        for (a, w) in avg.iter_mut().zip(&w) {
            *a = decay * *a + (1.0 - decay) * w;
        }
    }
    let got = read(b, g.average.as_ref().unwrap()).await;
    assert_close(
        "the generator's average after 3 steps",
        &got,
        &avg,
        1e-5,
        1e-6,
    );

    // Saved and loaded back, by name.
    let bytes = genlab::train::save_weights(b, &model).await.unwrap();
    let saved = genlab::train::read_weights(&bytes).unwrap();
    assert!(saved.tensors.contains_key("generator.0.weight.average"));
    let again = Model::new(b, c.clone()).unwrap();
    genlab::train::load_weights(b, &again, &saved).unwrap();
    let back = read(b, again.arenas()[0].1.average.as_ref().unwrap()).await;
    assert_eq!(back, got);

    // The sampler draws with the average: the same weights sampled live differ.
    let live = Model::new(
        b,
        ModelConfig {
            g_average: 0.0,
            ..c.clone()
        },
    )
    .unwrap();
    genlab::train::load_weights(b, &live, &saved).unwrap();
    let z = genlab::train::latents(&c, 4, 5);
    let (sa, sl) = (model.sampler(b, 4), live.sampler(b, 4));
    let averaged = genlab::train::sample(b, &model, &sa, &z).await.unwrap();
    let weights = genlab::train::sample(b, &live, &sl, &z).await.unwrap();
    let apart = averaged
        .iter()
        .zip(&weights)
        .map(|(a, w)| (a - w).abs())
        .fold(0.0f32, f32::max);
    assert!(
        apart > 1e-4,
        "samples from the average and the weights are {apart} apart"
    );
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn generator_weight_average_cpu() {
    pollster::block_on(generator_weight_average(&Cpu::new()));
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
async fn generator_weight_average_cpu() {
    generator_weight_average(&Cpu::new()).await;
}

async fn generator_weight_average_gpu(gpu: &'static Gpu) {
    generator_weight_average(gpu).await;
}
gpu_test!(
    generator_weight_average_on_gpu,
    generator_weight_average_gpu
);
