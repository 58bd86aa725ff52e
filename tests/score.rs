//! The scores with the shipped classifier (www/classifier.safetensors):
//! real held-out digits score near the floor, blurred digits, noise and one
//! repeated digit clearly worse; a set against itself is at zero; the GPU's
//! features and logits equal the CPU backend's.

mod common;

use genlab::backends::{Backend, Cpu};
use genlab::core::rng::Rng;
use genlab::data::{Digits, PIXELS, SIDE};
use genlab::score::{frechet_distance, Classifier, FeatureStats, Scores};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const IMAGES: &[u8] = include_bytes!("../www/data/mnist-train-10k-images-idx3-ubyte.gz");
const LABELS: &[u8] = include_bytes!("../www/data/mnist-train-10k-labels-idx1-ubyte.gz");
const CLASSIFIER: &[u8] = include_bytes!("../www/classifier.safetensors");

/// Each digit blurred by a 5×5 box.
fn blurred(images: &[u8]) -> Vec<u8> {
    let s = SIDE as i32;
    let mut out = vec![0; images.len()];
    for (d, o) in images.chunks(PIXELS).zip(out.chunks_mut(PIXELS)) {
        for y in 0..s {
            for x in 0..s {
                let mut sum = 0u32;
                for dy in -2..=2 {
                    for dx in -2..=2 {
                        let (u, v) = (x + dx, y + dy);
                        if (0..s).contains(&u) && (0..s).contains(&v) {
                            sum += d[(v * s + u) as usize] as u32;
                        }
                    }
                }
                o[(y * s + x) as usize] = (sum / 25) as u8;
            }
        }
    }
    out
}

async fn scores_order_real_blur_noise_repeat<B: Backend>(b: &B) {
    let all = Digits::from_idx(IMAGES, LABELS).unwrap();
    let (train, held) = all.split_held_out(1000);
    let c = Classifier::load(b, CLASSIFIER).unwrap();
    let ex = c.extractor(b, 250);
    let reference = ex.run(b, &train.images[..3000 * PIXELS]).await.unwrap();
    let stats = FeatureStats::of(&reference.features, c.config.features);
    let score = |digits: Vec<u8>| {
        let ex = &ex;
        let stats = &stats;
        async move { Scores::of(&ex.run(b, &digits).await.unwrap(), stats) }
    };
    let real = score(held.images.clone()).await;
    let blur = score(blurred(&held.images)).await;
    let mut rng = Rng::new(5, 0);
    let noise = score(
        (0..1000 * PIXELS)
            .map(|_| (rng.uniform(0.0, 1.0) * 255.0) as u8)
            .collect(),
    )
    .await;
    let one = score(held.image(0).repeat(1000)).await;
    let show = |name: &str, s: &Scores| {
        common::log(&format!(
            "{name}: FID {:.2}, IS {:.2}, shares {:?}",
            s.fid,
            s.inception_score,
            s.class_shares.map(|v| (v * 1000.0).round() / 1000.0)
        ))
    };
    show("real", &real);
    show("blurred", &blur);
    show("noise", &noise);
    show("one digit", &one);

    // Real held-out digits: near the floor, confidently every class in its share.
    assert!(real.fid < 10.0, "real FID {}", real.fid);
    assert!(
        real.inception_score > 9.0,
        "real IS {}",
        real.inception_score
    );
    assert!(real.class_shares.iter().all(|&s| (0.07..0.13).contains(&s)));
    // The others, clearly worse.
    for (name, s) in [("blurred", &blur), ("noise", &noise), ("one digit", &one)] {
        assert!(
            s.fid > 5.0 * real.fid,
            "{name}: FID {} vs real {}",
            s.fid,
            real.fid
        );
        assert!(
            s.inception_score < real.inception_score - 1.0,
            "{name}: IS {} vs real {}",
            s.inception_score,
            real.inception_score
        );
    }
    assert!(
        one.inception_score < 1.1,
        "one digit: IS {}",
        one.inception_score
    );
    assert_eq!(one.class_shares.iter().filter(|&&s| s == 1.0).count(), 1);
    assert!(
        noise.fid > blur.fid,
        "noise {} vs blurred {}",
        noise.fid,
        blur.fid
    );

    // A set against itself.
    let held_stats = FeatureStats::of(
        &ex.run(b, &held.images).await.unwrap().features,
        c.config.features,
    );
    assert!(frechet_distance(&held_stats, &held_stats).abs() < 1e-6);
}

#[cfg(not(target_arch = "wasm32"))]
#[test]
fn scores_order_real_blur_noise_repeat_cpu() {
    pollster::block_on(scores_order_real_blur_noise_repeat(&Cpu::new()));
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen_test::wasm_bindgen_test]
async fn scores_order_real_blur_noise_repeat_cpu() {
    scores_order_real_blur_noise_repeat(&Cpu::new()).await;
}

/// The GPU's features and logits of 300 digits equal the CPU backend's.
async fn gpu_features_match_cpu(gpu: &'static genlab::backends::Gpu) {
    let digits = Digits::from_idx(IMAGES, LABELS).unwrap().slice(0..300);
    let cpu = Cpu::new();
    let (gc, cc) = (
        Classifier::load(gpu, CLASSIFIER).unwrap(),
        Classifier::load(&cpu, CLASSIFIER).unwrap(),
    );
    // 300 = 2 × 128 + 44: a partial last batch.
    let g = gc
        .extractor(gpu, 128)
        .run(gpu, &digits.images)
        .await
        .unwrap();
    let c = cc
        .extractor(&cpu, 128)
        .run(&cpu, &digits.images)
        .await
        .unwrap();
    assert_eq!((g.count, g.features.len()), (300, 300 * 128));
    common::assert_close("classifier features", &g.features, &c.features, 1e-3, 1e-4);
    common::assert_close("classifier logits", &g.logits, &c.logits, 1e-3, 1e-4);
}
gpu_test!(gpu_features_match_cpu_backend, gpu_features_match_cpu);
