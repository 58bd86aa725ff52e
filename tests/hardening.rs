//! Bad input never takes genlab down: every size that comes from a file or a
//! parameter is checked (with checked arithmetic, also on wasm32's 32-bit
//! `usize`) before anything is allocated; the settings a page changes are the
//! ones that train, save and survive a rebuild; the loss reader keeps counting
//! however long a run goes. Natively and in headless Chrome.

mod common;

use genlab::app::{digits_from_files, preset, with_setting, Lab, PageOptions, Size};
use genlab::backends::{Backend, Cpu};
use genlab::data::{read_idx_images, read_idx_labels, Digits, MAX_DIGITS, PIXELS};
use genlab::models::{Model, ModelConfig, ModelKind, MEMORY_BUDGET};
use genlab::train::{self, Trainer};
use std::collections::HashMap;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const IMAGES: &[u8] = include_bytes!("../www/data/mnist-train-10k-images-idx3-ubyte.gz");
const LABELS: &[u8] = include_bytes!("../www/data/mnist-train-10k-labels-idx1-ubyte.gz");

fn idx_header(magic: u32, dims: &[u32]) -> Vec<u8> {
    let mut v = magic.to_be_bytes().to_vec();
    for d in dims {
        v.extend(d.to_be_bytes());
    }
    v
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

// ------------------------------------------------------------------ IDX files

both!(an_idx_count_that_overflows_32_bits_is_refused, {
    // 16 + 5,478,275 × 784 wraps a 32-bit usize to 304: a 320-byte file
    // passed the length check on wasm32, and slicing it panicked later.
    for count in [5_478_275u32, u32::MAX, MAX_DIGITS as u32 + 1] {
        let mut file = idx_header(0x803, &[count, 28, 28]);
        file.resize(320, 0);
        let e = read_idx_images(&file).unwrap_err().to_string();
        assert!(e.contains("more than the"), "count {count}: {e}");
        let mut labels = idx_header(0x801, &[count]);
        labels.resize(320, 0);
        assert!(read_idx_labels(&labels).is_err(), "labels, count {count}");
    }
});

both!(an_idx_pair_without_digits_is_refused, {
    let images = idx_header(0x803, &[0, 28, 28]);
    let labels = idx_header(0x801, &[0]);
    let e = Digits::from_idx(&images, &labels).unwrap_err().to_string();
    assert!(e.contains("holds no images"), "{e}");
    let e = read_idx_labels(&labels).unwrap_err().to_string();
    assert!(e.contains("holds no labels"), "{e}");
    let e = digits_from_files(&[&gzip(&images), &gzip(&labels)]).unwrap_err();
    assert!(e.contains("holds no"), "{e}");
});

both!(a_gzip_stream_is_inflated_no_further_than_its_header_says, {
    // Two digits announced, 16 MiB of zeros behind them: refused after
    // inflating one byte more than announced, not after 16 MiB.
    let mut raw = idx_header(0x803, &[2, 28, 28]);
    raw.resize(16 << 20, 0);
    let e = read_idx_images(&gzip(&raw)).unwrap_err().to_string();
    assert!(
        e.contains("inflates to more than the 1584 bytes its header announces"),
        "{e}"
    );
    // The same digits without the padding read fine, from gzip and raw alike.
    raw.truncate(16 + 2 * PIXELS);
    assert_eq!(read_idx_images(&gzip(&raw)).unwrap().0, 2);
    assert_eq!(read_idx_images(&raw).unwrap().0, 2);
});

both!(a_bad_magic_is_described_once, {
    let e = read_idx_images(&idx_header(0x802, &[1, 28]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "images file: magic number 0x00000802 (unsigned bytes, but the wrong number of dimensions); expected 0x00000803 for IDX images (unsigned bytes, 3 dimensions)"
    );
});

// --------------------------------------------------------------- weights files

/// A safetensors file with these settings in its header and no tensors.
fn header_only(meta: &[(&str, &str)]) -> Vec<u8> {
    let meta: HashMap<String, String> = meta
        .iter()
        .map(|(k, v)| (format!("genlab.{k}"), v.to_string()))
        .collect();
    let none: Vec<(String, safetensors::tensor::TensorView)> = Vec::new();
    safetensors::serialize(none, Some(meta)).unwrap()
}

fn huge_dcgan() -> Vec<u8> {
    header_only(&[
        ("model", "dcgan"),
        ("batch", "1024"),
        ("latent", "1024"),
        ("hidden", "128"),
        ("width", "256"),
        ("lr", "0.0001"),
        ("adam_beta1", "0.9"),
        ("beta", "1"),
        ("gan_loss", "bce"),
        ("dropout", "0.3"),
        ("seed", "1"),
        ("step", "0"),
    ])
}

both!(a_tiny_weights_file_cannot_ask_for_gigabytes, {
    // Its header describes a DCGAN at width 256, latent 1024, batch 1024:
    // refused from the header alone, saying how big it would be.
    let file = huge_dcgan();
    assert!(file.len() < 400, "{} bytes", file.len());
    let e = train::read_weights(&file).err().unwrap();
    assert!(
        e.contains("GiB of memory, more than genlab's budget of 1 GiB"),
        "{e}"
    );
    let (b, digits) = (
        Cpu::new(),
        Digits::from_idx(IMAGES, LABELS).unwrap().slice(0..600),
    );
    let mut lab = Lab::new(&b, &[small(ModelKind::Dcgan)], &digits, 1, None).unwrap();
    let e = lab.load(&b, 0, &file).unwrap_err();
    assert!(e.contains("GiB"), "{e}");
    assert_eq!(
        lab.panes[0].config(),
        &small(ModelKind::Dcgan),
        "the pane is left as it was"
    );
});

both!(settings_past_the_memory_budget_are_refused, {
    let c = ModelConfig {
        batch: 1024,
        width: 256,
        latent: 1024,
        ..ModelConfig::new(ModelKind::Dcgan)
    };
    assert!(c.layout().bytes > MEMORY_BUDGET);
    let e = c.validate().unwrap_err();
    assert!(e.contains("choose a smaller batch or width"), "{e}");
    // Every preset fits, at both page sizes.
    for kind in ModelKind::ALL {
        for size in [Size::Page, Size::Full] {
            preset(kind, size, 1).validate().unwrap();
        }
    }
});

fn small(kind: ModelKind) -> ModelConfig {
    ModelConfig {
        batch: 8,
        width: 4,
        hidden: if kind == ModelKind::Autoencoder {
            0
        } else {
            16
        },
        latent: if kind.is_gan() { 8 } else { 2 },
        ..ModelConfig::new(kind)
    }
}

/// `f` rewrites the tensors of a saved small DCGAN; the result must be
/// refused before a model is built, with `want` in the message.
async fn refused_after<B: Backend>(
    b: &B,
    f: impl FnOnce(&mut Vec<(String, Vec<f32>)>),
    want: &str,
) {
    let model = Model::new(b, small(ModelKind::Dcgan)).unwrap();
    let bytes = train::save_weights(b, &model).await.unwrap();
    let (tensors, meta) = genlab::nn::read_safetensors(&bytes).unwrap();
    let mut tensors: Vec<(String, Vec<f32>)> = tensors.into_iter().collect();
    tensors.sort_by(|a, b| a.0.cmp(&b.0));
    f(&mut tensors);
    let edited = genlab::nn::write_safetensors(&tensors, meta.unwrap()).unwrap();
    let e = train::read_weights(&edited).err().unwrap();
    assert!(e.contains(want), "{want:?} not in {e:?}");
}

async fn weights_are_checked_against_their_settings<B: Backend>(b: &B) {
    // The saved file itself reads back.
    let model = Model::new(b, small(ModelKind::Dcgan)).unwrap();
    let bytes = train::save_weights(b, &model).await.unwrap();
    let saved = train::read_weights(&bytes).unwrap();
    assert_eq!(saved.config.as_ref(), Some(model.config()));
    refused_after(
        b,
        |t| {
            t.iter_mut()
                .find(|(n, _)| n == "generator.0.weight")
                .unwrap()
                .1
                .pop()
                .map(|_| ())
                .unwrap()
        },
        "tensor generator.0.weight has shape",
    )
    .await;
    refused_after(
        b,
        |t| t.retain(|(n, _)| n != "discriminator.4.bias"),
        "no tensor discriminator.4.bias",
    )
    .await;
    refused_after(
        b,
        |t| t.push(("decoder.0.weight".into(), vec![0.0; 4])),
        "a tensor \"decoder.0.weight\" that a dcgan of its settings does not",
    )
    .await;
    // Adam's moments may be missing: the optimiser then starts afresh.
    let (tensors, meta) = genlab::nn::read_safetensors(&bytes).unwrap();
    let values: Vec<(String, Vec<f32>)> = tensors
        .into_iter()
        .filter(|(n, _)| !n.contains(".adam_"))
        .collect();
    let file = genlab::nn::write_safetensors(&values, meta.unwrap()).unwrap();
    let saved = train::read_weights(&file).unwrap();
    train::load_weights(b, &model, &saved).unwrap();
}
cpu_test!(
    weights_are_checked_against_their_settings_before_a_model_is_built,
    weights_are_checked_against_their_settings
);

// ------------------------------------------------------------ the page's settings

async fn a_changed_learning_rate_is_what_trains<B: Backend>(b: &B) {
    let digits = Digits::from_idx(IMAGES, LABELS).unwrap().slice(0..600);
    let c = small(ModelKind::MlpGan);
    let mut lab = Lab::new(b, std::slice::from_ref(&c), &digits, 1, None).unwrap();
    // What the page does for a learning rate: set in place, no rebuild.
    let new = with_setting(lab.panes[0].config(), "lr", "0.0005").unwrap();
    lab.panes[0].trainer.model.set_lr(b, new.lr);
    assert_eq!(
        lab.panes[0].config().lr,
        0.0005,
        "the settings box shows it"
    );
    let saved = train::read_weights(&lab.save(b, 0).await.unwrap()).unwrap();
    assert_eq!(saved.config.unwrap().lr, 0.0005, "Save weights writes it");
    lab.reset(b, 0).unwrap();
    assert_eq!(lab.panes[0].config().lr, 0.0005, "Reset keeps it");
    for (_, arena) in lab.panes[0].trainer.model.arenas() {
        assert_eq!(arena.adam.lr, 0.0005, "the optimiser uses it");
    }
}
cpu_test!(
    a_changed_learning_rate_shows_saves_and_survives_reset,
    a_changed_learning_rate_is_what_trains
);

// ------------------------------------------------------------------ loss reads

async fn the_step_count_goes_on_past_2_pow_24<B: Backend>(b: &B) {
    let digits = Digits::from_idx(IMAGES, LABELS).unwrap().slice(0..200);
    let model = Model::new(b, small(ModelKind::MlpGan)).unwrap();
    let sums = model.loss_sums.clone();
    let mut t = Trainer::new(b, model, digits).unwrap();
    // As if 2^24 steps had run since the last read: an f32 sum of ones
    // stops there, so a count kept since the start would stop with it.
    let many = (1u32 << 24) as f32;
    b.write(&sums, 0, &[0.5 * many, 0.7 * many, many]);
    let p = t.read_losses(b).await.unwrap().unwrap();
    assert_eq!(p.steps, 1 << 24);
    assert_eq!(p.values, vec![0.5, 0.7]);
    for k in 1..=3u64 {
        t.step(b);
        let p = t
            .read_losses(b)
            .await
            .unwrap()
            .expect("a step after 2^24 is still counted");
        assert_eq!((p.steps, p.step), (1, (1 << 24) + k));
        assert!(
            p.values.iter().all(|v| v.is_finite() && *v > 0.0),
            "{:?}",
            p.values
        );
    }
    assert!(t.read_losses(b).await.unwrap().is_none(), "no step since");
}
cpu_test!(
    loss_reads_keep_counting_past_2_pow_24_steps,
    the_step_count_goes_on_past_2_pow_24
);

// -------------------------------------------------------------- URL parameters

both!(an_unknown_parameter_is_shown_quoted_and_short, {
    let (_, problems) = PageOptions::parse("Your%20session%20has%20expired.%20Log%20in%20again=1");
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].starts_with("unknown parameter \"Your session has expired…\" ignored"),
        "{problems:?}"
    );
    assert!(!problems[0].contains("Log in again"), "{problems:?}");
    let (_, problems) =
        PageOptions::parse("backend=x%0Aplease%20reload%20the%20page%20now%20or%20else");
    assert!(
        problems[0].starts_with("backend=x\\nplease reload the page…:"),
        "{problems:?}"
    );
});

// ------------------------------------------------------- the memory estimate

/// The layout's estimate against what the CPU backend allocates for the
/// model, its training binding and a 64-sample sampler; and its tensors
/// are the ones the built model saves, by name and size.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn the_layout_matches_the_built_model() {
    for kind in ModelKind::ALL {
        for c in [
            preset(kind, Size::Page, 1),
            preset(kind, Size::Full, 1),
            small(kind),
        ] {
            let b = Cpu::new();
            let model = Model::new(&b, c.clone()).unwrap();
            let _sampler = model.sampler(&b, genlab::models::GRID);
            let layout = c.layout();
            let made = b.bytes_made() as f64;
            let ratio = layout.bytes as f64 / made;
            assert!(
                (0.8..=1.25).contains(&ratio),
                "{kind} {c:?}: estimate {} bytes, made {made} ({ratio:.2}×)",
                layout.bytes
            );
            assert_eq!(layout.params, model.param_count(), "{kind}");
            let saved = pollster::block_on(async {
                let mut all = Vec::new();
                for (_, arena) in model.arenas() {
                    all.extend(arena.export(&b).await.unwrap());
                }
                all
            });
            let saved: Vec<(String, usize)> =
                saved.into_iter().map(|(n, _, v)| (n, v.len())).collect();
            let declared: Vec<(String, usize)> = layout
                .arenas
                .iter()
                .flat_map(|(_, t)| t.iter().map(|t| (t.name.clone(), t.len)))
                .collect();
            assert_eq!(saved, declared, "{kind}");
        }
    }
}
