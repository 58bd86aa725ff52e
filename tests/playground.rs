//! The playground's logic (src/playground.rs), natively and in headless
//! Chrome: URL parameters, the run-state machine, settings that do or do not
//! rebuild, and a lab of two panes on the CPU backend (and the GPU): model
//! switching, interleaved steps, the step limit, a diverged loss, pictures,
//! weights from one pane to another, and data files; and the protocol of
//! the panes' Web Workers (commands decoded as the page sends them, each
//! command carried out on a lab, the run states the page shows at once).

mod common;

use genlab::app::{
    digits_from_files, needs_rebuild, preset, state_after, with_setting, Answer, BackendChoice,
    Command, Event, Lab, PageOptions, RunState, Size,
};
use genlab::backends::Backend;
use genlab::data::{Digits, PIXELS};
use genlab::models::{ModelConfig, ModelKind};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const IMAGES: &[u8] = include_bytes!("../www/data/mnist-train-10k-images-idx3-ubyte.gz");
const LABELS: &[u8] = include_bytes!("../www/data/mnist-train-10k-labels-idx1-ubyte.gz");

/// 600 bundled digits (540 to train on, 60 held out): enough for the lab.
fn digits() -> Digits {
    Digits::from_idx(IMAGES, LABELS).unwrap().slice(0..600)
}

/// A pane's model at test size: the page preset, narrower, at batch 6.
fn tiny(kind: ModelKind) -> ModelConfig {
    ModelConfig {
        batch: 6,
        width: 3,
        hidden: if kind == ModelKind::Autoencoder {
            0
        } else {
            24
        },
        latent: if kind.is_gan() { 10 } else { 2 },
        ..preset(kind, Size::Page, 3)
    }
}

both!(parses_page_parameters, {
    let (o, problems) = PageOptions::parse(
        "?models=mlp-gan%2Cae&autostart=1&seed=42&steps=500&controls=0&charts=0&compact=1&backend=cpu&size=full",
    );
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(o.models, vec![ModelKind::MlpGan, ModelKind::Autoencoder]);
    assert!(o.autostart && o.compact && !o.controls && !o.charts);
    assert_eq!((o.seed, o.steps), (42, Some(500)));
    assert_eq!((o.backend, o.size), (BackendChoice::Cpu, Size::Full));

    let (d, problems) = PageOptions::parse("");
    assert!(problems.is_empty());
    assert_eq!(d, PageOptions::default());
    assert_eq!(d.models, vec![ModelKind::Dcgan, ModelKind::ConvVae]);
    assert!(!d.autostart && d.controls && d.charts && d.steps.is_none());

    // A page latent size applies to every pane it suits; the others keep theirs, with a message.
    let (o, problems) = PageOptions::parse("models=dcgan,conv-vae&latent=100");
    assert!(problems.is_empty(), "{problems:?}");
    let (configs, problems) = o.configs();
    assert_eq!((configs[0].latent, configs[1].latent), (100, 20));
    assert_eq!(problems.len(), 1);
    assert!(
        problems[0].contains("latent=100: conv-vae: a VAE's latent size must be 2..=64"),
        "{problems:?}"
    );

    let (one, problems) = PageOptions::parse("models=mlp-vae&autostart");
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(one.models, vec![ModelKind::MlpVae]);
    assert!(one.autostart, "a bare flag means yes");
});

both!(reports_each_wrong_parameter, {
    let (o, problems) = PageOptions::parse(
        "models=dcgan,gan3&seed=-1&steps=0&autostart=maybe&backend=tpu&colour=red&models=a,b,c",
    );
    assert_eq!(problems.len(), 7, "{problems:#?}");
    let all = problems.join("\n");
    for want in [
        "models=dcgan,gan3: unknown model \"gan3\"",
        "seed=-1: expected a whole number",
        "steps=0: expected a whole number in 1..=",
        "autostart=maybe: use 1 or 0",
        "backend=tpu: choose auto, gpu or cpu",
        "unknown parameter \"colour\"",
        "models=a,b,c",
    ] {
        assert!(all.contains(want), "no {want:?} in\n{all}");
    }
    // Each wrong one is left at its default.
    assert_eq!(o, PageOptions::default());
});

both!(run_states_follow_the_buttons, {
    use RunState::*;
    let failed = || Failed("loss is NaN".into());
    let cases = [
        (Ready, Event::Train, Training),
        (Training, Event::Pause, Paused),
        (Paused, Event::Train, Training),
        (Ready, Event::Pause, Ready),
        (Training, Event::ReachedLimit, Finished),
        (Finished, Event::Train, Finished),
        (Paused, Event::ReachedLimit, Paused),
        (Training, Event::Failure("loss is NaN".into()), failed()),
        (failed(), Event::Train, failed()),
        (failed(), Event::Pause, failed()),
        (failed(), Event::Reset, Ready),
        (Finished, Event::Reset, Ready),
        (Training, Event::Reset, Ready),
    ];
    for (from, event, to) in cases {
        assert_eq!(from.clone().on(event.clone()), to, "{from:?} on {event:?}");
    }
});

both!(only_the_learning_rate_changes_in_place, {
    let c = preset(ModelKind::ConvVae, Size::Page, 1);
    let faster = with_setting(&c, "lr", "0.003").unwrap();
    assert_eq!(faster.lr, 0.003);
    assert!(!needs_rebuild(&c, &faster));
    for (key, value) in [
        ("batch", "16"),
        ("latent", "2"),
        ("beta", "4"),
        ("seed", "9"),
    ] {
        let new = with_setting(&c, key, value).unwrap();
        assert!(needs_rebuild(&c, &new), "{key}");
    }
    let gan = with_setting(
        &preset(ModelKind::Dcgan, Size::Page, 1),
        "gan_loss",
        "least-squares",
    );
    assert!(needs_rebuild(
        &preset(ModelKind::Dcgan, Size::Page, 1),
        &gan.unwrap()
    ));
    // Switching the model takes the new model's page preset and keeps the seed.
    let switched = with_setting(
        &ModelConfig {
            seed: 7,
            ..c.clone()
        },
        "model",
        "mlp-gan",
    )
    .unwrap();
    assert_eq!(switched, preset(ModelKind::MlpGan, Size::Page, 7));

    let err = |k: &str, v: &str| with_setting(&c, k, v).unwrap_err();
    assert!(err("latent", "100").contains("a VAE's latent size must be 2..=64"));
    assert!(err("lr", "fast").contains("learning rate \"fast\" is not a number"));
    assert!(err("lr", "2").contains("learning rate 2 is out of (0, 1)"));
    assert!(err("batch", "0").contains("batch size 0 is out of 1..=1024"));
    assert!(err("model", "gpt").contains("unknown model"));
    assert!(err("depth", "3").contains("unknown setting"));
});

both!(page_presets_are_valid_and_full_is_the_material, {
    for kind in [
        ModelKind::MlpGan,
        ModelKind::Dcgan,
        ModelKind::Autoencoder,
        ModelKind::MlpVae,
        ModelKind::ConvVae,
    ] {
        preset(kind, Size::Page, 5).validate().unwrap();
        assert_eq!(
            preset(kind, Size::Full, 5),
            ModelConfig {
                seed: 5,
                ..ModelConfig::new(kind)
            }
        );
    }
});

both!(
    the_full_dcgan_balances_its_digits_and_other_losses_ignore_it,
    {
        // The material's DCGAN has G's digit-balance term on and the page's
        // preset has it off (it did not lift the preset's score).
        let full = preset(ModelKind::Dcgan, Size::Full, 1);
        assert_eq!(full.g_balance, 1.0);
        assert_eq!(preset(ModelKind::Dcgan, Size::Page, 1).g_balance, 0.0);
        // Another loss keeps the value and ignores it (it has no digits to
        // read), so switching the loss needs no second change.
        for loss in ["bce", "hinge", "least-squares"] {
            let c = with_setting(&full, "gan_loss", loss).unwrap();
            assert_eq!((c.gan_loss.name(), c.g_balance), (loss, 1.0));
            assert!(!c.takes_labels(), "{loss}");
        }
    }
);

both!(reads_data_files_in_either_order, {
    let d = Digits::from_idx(IMAGES, LABELS).unwrap();
    assert_eq!(digits_from_files(&[LABELS, IMAGES]).unwrap(), d);
    assert_eq!(digits_from_files(&[IMAGES, LABELS]).unwrap(), d);
    let e = digits_from_files(&[IMAGES]).unwrap_err();
    assert!(e.contains("choose two files"), "{e}");
    let e = digits_from_files(&[IMAGES, b"\0\0\x08\x07rest"]).unwrap_err();
    assert!(e.contains("magic"), "{e}");
});

async fn lab_switches_models_and_interleaves<B: Backend>(b: &B) {
    let configs = [tiny(ModelKind::Dcgan), tiny(ModelKind::ConvVae)];
    let mut lab = Lab::new(b, &configs, &digits(), 11, None).unwrap();
    assert_eq!(lab.held_out.len(), 60);
    // One data order for both panes: at one batch size, the same mini-batches.
    assert!(lab.panes.iter().all(|p| p.trainer.data_seed == 11));
    assert_eq!(lab.step_round(b), 0, "nothing trains before Train");
    lab.send(0, Event::Train).unwrap();
    lab.send(1, Event::Train).unwrap();
    for _ in 0..3 {
        assert_eq!(lab.step_round(b), 2);
    }
    lab.send(1, Event::Pause).unwrap();
    assert_eq!(lab.step_round(b), 1);
    lab.poll(b).await.unwrap();
    let steps: Vec<u64> = lab.panes.iter().map(|p| p.trainer.step).collect();
    assert_eq!(steps, [4, 3]);
    // A paused pane's losses are read up to date; a training pane's trail
    // by one poll (its next frame's steps run while the read waits).
    let p1 = lab.panes[1].latest().unwrap();
    assert_eq!((p1.step, p1.steps), (3, 3));
    assert!(lab.panes[0].latest().is_none());
    assert_eq!(lab.step_round(b), 1);
    lab.poll(b).await.unwrap();
    let p0 = lab.panes[0].latest().unwrap();
    assert_eq!((p0.step, p0.steps, p0.values.len()), (4, 4, 2));
    // Pausing catches up: the step after them, and nothing lost.
    lab.send(0, Event::Pause).unwrap();
    lab.poll(b).await.unwrap();
    let p0 = lab.panes[0].latest().unwrap();
    assert_eq!((p0.step, p0.steps), (5, 1));

    // Switching pane 0's model leaves pane 1 as it was.
    lab.rebuild(b, 0, tiny(ModelKind::MlpVae)).unwrap();
    assert_eq!(lab.panes[0].config().kind, ModelKind::MlpVae);
    assert_eq!(lab.panes[0].state, RunState::Ready);
    assert_eq!(lab.panes[0].trainer.step, 0);
    assert!(lab.panes[0].history.is_empty());
    assert_eq!(lab.panes[1].config().kind, ModelKind::ConvVae);
    assert_eq!(
        (lab.panes[1].trainer.step, lab.panes[1].state.clone()),
        (3, RunState::Paused)
    );
    assert!(lab.send(2, Event::Train).unwrap_err().contains("no pane 2"));
}
cpu_test!(
    lab_switches_models_and_interleaves_cpu,
    lab_switches_models_and_interleaves
);

async fn lab_stops_at_the_limit_and_on_divergence<B: Backend>(b: &B) {
    let mut lab = Lab::new(b, &[tiny(ModelKind::MlpGan)], &digits(), 1, Some(2)).unwrap();
    lab.send(0, Event::Train).unwrap();
    for _ in 0..5 {
        lab.step_round(b);
    }
    lab.poll(b).await.unwrap();
    assert_eq!(lab.panes[0].trainer.step, 2);
    assert_eq!(lab.panes[0].state, RunState::Finished);

    // A loss that is not finite fails the pane with what to do; Reset recovers.
    let mut lab = Lab::new(b, &[tiny(ModelKind::MlpGan)], &digits(), 1, None).unwrap();
    lab.send(0, Event::Train).unwrap();
    lab.step_round(b);
    let sums = &lab.panes[0].trainer.model.loss_sums;
    b.write(sums, 0, &[f32::NAN, 1.0, 1.0]);
    lab.poll(b).await.unwrap(); // begins the read
    lab.poll(b).await.unwrap(); // and awaits it
    match &lab.panes[0].state {
        RunState::Failed(why) => {
            assert!(
                why.contains("d loss became NaN") && why.contains("lower learning rate"),
                "{why}"
            )
        }
        s => panic!("a NaN loss left the pane {s:?}"),
    }
    assert_eq!(lab.step_round(b), 0, "a failed pane does not train");
    lab.reset(b, 0).unwrap();
    assert_eq!(lab.panes[0].state, RunState::Ready);
    assert_eq!(lab.panes[0].trainer.step, 0);
}
cpu_test!(
    lab_stops_at_the_limit_and_on_divergence_cpu,
    lab_stops_at_the_limit_and_on_divergence
);

async fn lab_draws_pictures<B: Backend>(b: &B) {
    let configs = [
        tiny(ModelKind::Dcgan),
        tiny(ModelKind::MlpVae),
        tiny(ModelKind::Autoencoder),
    ];
    let mut lab = Lab::new(b, &configs, &digits(), 1, None).unwrap();
    for i in 0..3 {
        lab.send(i, Event::Train).unwrap();
    }
    lab.step_round(b);
    lab.draw(b).await.unwrap();
    let [gan, vae, ae] = &lab.panes[..] else {
        unreachable!()
    };
    for p in [gan, vae, ae] {
        assert_eq!((p.grid.width, p.grid.height), (242, 242));
        assert!(!p.grid.is_blank(), "{}", p.config().kind);
        assert_eq!(p.grid.rgba().len(), 242 * 242 * 4);
    }
    // GAN: grid and strip; VAE (latent 2): also reconstructions and the manifold; AE: no strip.
    assert!(gan.reconstructions.is_none() && gan.manifold.is_none());
    assert_eq!(
        gan.strip.as_ref().map(|s| (s.width, s.height)),
        Some((302, 32))
    );
    let recon = vae.reconstructions.as_ref().unwrap();
    assert_eq!((recon.width, recon.height), (242, 62));
    // The top row is the held-out digits themselves.
    let first = &lab.held_out.images[..PIXELS];
    let row: Vec<u8> = (0..28)
        .map(|x| recon.grey[(2 + 14) * recon.width + 2 + x])
        .collect();
    assert_eq!(row, first[14 * 28..15 * 28]);
    assert_eq!(
        vae.manifold.as_ref().map(|m| (m.width, m.height)),
        Some((302, 302))
    );
    assert!(ae.strip.is_none() && ae.reconstructions.is_some());
}
cpu_test!(lab_draws_pictures_cpu, lab_draws_pictures);

async fn lab_gpu<B: Backend>(b: &B) {
    lab_draws_pictures(b).await;
    lab_stops_at_the_limit_and_on_divergence(b).await;
}
gpu_test!(lab_on_the_gpu, lab_gpu);

async fn lab_moves_weights_and_data<B: Backend>(b: &B) {
    let configs = [tiny(ModelKind::ConvVae), tiny(ModelKind::Dcgan)];
    let mut lab = Lab::new(b, &configs, &digits(), 1, None).unwrap();
    lab.send(0, Event::Train).unwrap();
    for _ in 0..3 {
        lab.step_round(b);
    }
    let bytes = lab.save(b, 0).await.unwrap();
    lab.load(b, 1, &bytes).unwrap();
    assert_eq!(lab.panes[1].config(), lab.panes[0].config());
    assert_eq!(lab.panes[1].trainer.step, 3);
    let e = lab.load(b, 1, b"not safetensors").unwrap_err();
    assert!(e.contains("not a safetensors file"), "{e}");

    // Too few digits: refused, nothing changes.
    let e = lab.set_data(&digits().slice(0..100)).unwrap_err();
    assert!(e.contains("100 digits are too few to train on"), "{e}");
    assert_eq!(lab.train_set.len(), 540);
    let other = Digits::from_idx(IMAGES, LABELS).unwrap().slice(1000..3000);
    lab.set_data(&other).unwrap();
    assert_eq!((lab.train_set.len(), lab.held_out.len()), (1800, 200));
    lab.step_round(b);
    assert_eq!(lab.panes[0].trainer.train.len(), 1800);
}
cpu_test!(lab_moves_weights_and_data_cpu, lab_moves_weights_and_data);

const CLASSIFIER: &[u8] = include_bytes!("../www/classifier.safetensors");

async fn lab_scores_in_slices<B: Backend>(b: &B) {
    use genlab::app::{REFERENCE_DIGITS, SCORE_CHUNK, SCORE_SAMPLES};
    let all = Digits::from_idx(IMAGES, LABELS).unwrap();
    let configs = [tiny(ModelKind::MlpVae), tiny(ModelKind::MlpGan)];
    let mut lab = Lab::new(b, &configs, &all, 1, None).unwrap();
    lab.score_first = 3;
    for p in &mut lab.panes {
        p.next_score = 3;
    }
    lab.set_judge(b, CLASSIFIER).unwrap();
    // First the reference statistics and the real digits' floor, a slice per tick.
    let mut ticks = 0;
    while lab.real_score().is_none() {
        assert!(lab.judge_tick(b).await.unwrap());
        ticks += 1;
    }
    assert_eq!(ticks, (REFERENCE_DIGITS + SCORE_SAMPLES) / SCORE_CHUNK);
    let real = lab.real_score().unwrap().clone();
    assert!(real.fid < 15.0 && real.inception_score > 9.0, "{real:?}");
    assert!(
        !lab.judge_tick(b).await.unwrap(),
        "no pane has trained: nothing to score"
    );

    // Pane 0 trains 3 steps and is scored over the next ticks; pane 1 is not.
    lab.send(0, Event::Train).unwrap();
    for _ in 0..3 {
        lab.step_round(b);
    }
    let mut ticks = 0;
    while lab.panes[0].score.is_none() {
        assert!(lab.judge_tick(b).await.unwrap());
        ticks += 1;
        assert!(
            ticks <= SCORE_SAMPLES / SCORE_CHUNK,
            "scoring did not finish"
        );
    }
    assert_eq!(ticks, SCORE_SAMPLES / SCORE_CHUNK);
    let s = lab.panes[0].score.clone().unwrap();
    assert_eq!((s.step, s.samples), (3, SCORE_SAMPLES));
    assert!(
        s.fid > 3.0 * real.fid,
        "3 steps: FID {} vs real {}",
        s.fid,
        real.fid
    );
    assert!((s.class_shares.iter().sum::<f64>() - 1.0).abs() < 1e-9);
    assert_eq!(lab.panes[0].next_score, 503);
    assert!(lab.panes[1].score.is_none());
    assert!(
        !lab.judge_tick(b).await.unwrap(),
        "nothing due until step 503"
    );

    // A pane rebuilt while it is being scored drops that work.
    lab.panes[0].next_score = 0;
    assert!(lab.judge_tick(b).await.unwrap());
    lab.rebuild(b, 0, tiny(ModelKind::Autoencoder)).unwrap();
    assert!(lab.panes[0].score.is_none());
    assert!(
        !lab.judge_tick(b).await.unwrap(),
        "the rebuilt pane has not trained"
    );
    let e = lab.set_judge(b, b"not a classifier").err().unwrap();
    assert!(e.contains("not a safetensors file"), "{e}");
}
cpu_test!(lab_scores_in_slices_cpu, lab_scores_in_slices);

/// A conditional pane: a row per digit in its grid, a digit picked for the
/// whole grid, the strip as each digit; scored with the class accuracy.
async fn lab_asks_for_digits<B: Backend>(b: &B) {
    use genlab::app::{DIGIT_COLUMNS, SCORE_SAMPLES};
    let all = Digits::from_idx(IMAGES, LABELS).unwrap();
    let configs = [tiny(ModelKind::Cdcgan), tiny(ModelKind::MlpVae)];
    let mut lab = Lab::new(b, &configs, &all, 1, None).unwrap();
    lab.send(0, Event::Train).unwrap();
    lab.step_round(b);
    lab.draw(b).await.unwrap();
    let g = lab.panes[0].grid.clone();
    // 8 columns, 10 rows of 28 + 2-pixel gaps.
    assert_eq!((g.width, g.height), (DIGIT_COLUMNS * 30 + 2, 10 * 30 + 2));
    let row = |g: &genlab::app::Picture, r: usize| -> Vec<u8> {
        g.grey[(2 + r * 30) * g.width..(2 + r * 30 + 28) * g.width].to_vec()
    };
    // Rows ask for different digits of the same latents: they differ.
    for r in 1..10 {
        assert_ne!(row(&g, 0), row(&g, r), "row {r} draws as row 0");
    }
    assert!(lab.panes[0].view().grid_caption.contains("row per digit"));
    // The digit 3 everywhere: every row is the old row 3.
    lab.panes[0].pick_digit(Some(3)).unwrap();
    lab.draw(b).await.unwrap();
    let g3 = lab.panes[0].grid.clone();
    for r in 0..10 {
        assert_eq!(row(&g3, r), row(&g, 3), "row {r} with the digit 3 picked");
    }
    let strip = lab.panes[0].strip.clone().unwrap();
    assert_eq!(lab.panes[0].view().digit, Some(3));
    lab.panes[0].pick_digit(None).unwrap();
    lab.draw(b).await.unwrap();
    assert_ne!(lab.panes[0].strip.as_ref().unwrap().grey, strip.grey);
    assert_eq!(lab.panes[0].grid, g, "back to a row per digit");
    let e = lab.panes[0].pick_digit(Some(10)).unwrap_err();
    assert!(e.contains("pick one of 0 to 9"), "{e}");
    let e = lab.panes[1].pick_digit(Some(1)).unwrap_err();
    assert!(e.contains("not asked for digits"), "{e}");

    // The score adds the share read as the digit asked for (an untrained
    // model's: about chance); an unconditional pane has none.
    lab.set_judge(b, CLASSIFIER).unwrap();
    lab.panes[0].next_score = 0;
    while lab.panes[0].score.is_none() {
        assert!(lab.judge_tick(b).await.unwrap());
    }
    let s = lab.panes[0].score.clone().unwrap();
    assert_eq!(s.samples, SCORE_SAMPLES);
    let a = s
        .class_accuracy
        .expect("a conditional pane's score has a class accuracy");
    assert!((0.0..=0.5).contains(&a), "after one step: {a}");
}
cpu_test!(lab_asks_for_digits_cpu, lab_asks_for_digits);

/// The drawing pad: the drawing as an MNIST digit, the classifier's
/// reading, and each pane's answer: the autoencoder's and the VAEs'
/// reconstructions, a 2-D VAE's place on its manifold, a conditional VAE's
/// style as every digit; nothing from a GAN.
async fn lab_answers_the_pad<B: Backend>(b: &B) {
    let configs = [
        tiny(ModelKind::Autoencoder),
        tiny(ModelKind::MlpVae),
        tiny(ModelKind::Cvae),
        tiny(ModelKind::MlpGan),
    ];
    let mut lab = Lab::new(b, &configs, &digits(), 1, None).unwrap();
    lab.set_judge(b, CLASSIFIER).unwrap();
    // A few steps, so that no answer is flat grey.
    for i in 0..configs.len() {
        lab.send(i, Event::Train).unwrap();
    }
    for _ in 0..10 {
        lab.step_round(b);
    }
    // A "1": a vertical bar on a 100×100 pad.
    let mut grey = vec![0u8; 100 * 100];
    for y in 15..85 {
        for x in 46..54 {
            grey[y * 100 + x] = 255;
        }
    }
    let v = lab.pad(b, &grey, (100, 100), None).await.unwrap();
    assert_eq!(v.digit.len(), PIXELS);
    let reading = v.reading.clone().unwrap();
    assert!((reading.iter().sum::<f64>() - 1.0).abs() < 1e-6);
    let best = (0..10).fold(0, |m, k| if reading[k] > reading[m] { k } else { m });
    assert_eq!(best, 1, "a bar reads as a 1: {reading:?}");
    assert_eq!(v.label, Some(1), "the cVAE encodes it as the reading");
    let [ae, vae, cvae, gan] = &v.panes[..] else {
        panic!("one answer per pane")
    };
    for (name, a) in [("ae", ae), ("vae", vae), ("cvae", cvae)] {
        let r = a.reconstruction.as_ref().unwrap();
        assert_eq!(r.len(), PIXELS, "{name}");
        assert!(
            r.iter().any(|&p| p != r[0]),
            "{name}: a blank reconstruction"
        );
    }
    assert!(vae.position.is_some() && vae.manifold_at.is_some());
    assert!(ae.position.is_none() && ae.styles.is_none());
    let styles = cvae.styles.as_ref().unwrap();
    assert_eq!(styles.len(), 10 * PIXELS);
    assert_eq!(
        &styles[PIXELS..2 * PIXELS],
        &cvae.reconstruction.clone().unwrap()[..]
    );
    assert_ne!(&styles[..PIXELS], &styles[PIXELS..2 * PIXELS]);
    assert_eq!(gan, &genlab::app::PadAnswer::default());
    // The same drawing, the same answer (the code's mean, no ε).
    assert_eq!(lab.pad(b, &grey, (100, 100), None).await.unwrap(), v);
    // A label asked for overrides the reading.
    let seven = lab.pad(b, &grey, (100, 100), Some(7)).await.unwrap();
    assert_eq!(seven.label, Some(7));
    assert_eq!(
        seven.panes[2].reconstruction.as_deref(),
        Some(&seven.panes[2].styles.as_ref().unwrap()[7 * PIXELS..8 * PIXELS])
    );
    // Bad drawings are refused before anything is made.
    let e = lab.pad(b, &grey, (99, 100), None).await.unwrap_err();
    assert!(e.contains("has 9900 pixels, not 10000"), "{e}");
    let e = lab.pad(b, &grey, (100, 100), Some(12)).await.unwrap_err();
    assert!(e.contains("a digit is 0 to 9"), "{e}");
    let (d, label) = lab.held_out_digit(0).unwrap();
    assert_eq!(
        (d.as_slice(), label),
        (lab.held_out.image(0), lab.held_out.labels[0])
    );
    assert!(lab.held_out_digit(60).unwrap_err().contains("there are 60"));
}
cpu_test!(lab_answers_the_pad_cpu, lab_answers_the_pad);

async fn conditional_lab_gpu<B: Backend>(b: &B) {
    lab_answers_the_pad(b).await;
}
gpu_test!(lab_answers_the_pad_on_the_gpu, conditional_lab_gpu);

/// A command as the page posts it (a plain object; JSON here).
fn command(json: &str) -> Result<Command, String> {
    Command::check(serde_json::from_str::<Command>(json))
}

both!(decodes_worker_commands, {
    assert_eq!(command(r#"{"do": "train"}"#), Ok(Command::Train));
    assert_eq!(command(r#"{"do": "lose-device"}"#), Ok(Command::LoseDevice));
    assert_eq!(
        command(r#"{"do": "setting", "key": "lr", "value": "0.001"}"#),
        Ok(Command::Setting {
            key: "lr".into(),
            value: "0.001".into()
        })
    );
    assert_eq!(
        command(r#"{"do": "model", "model": "mlp-vae", "size": "full"}"#),
        Ok(Command::Model {
            model: "mlp-vae".into(),
            size: "full".into()
        })
    );
    assert_eq!(
        command(r#"{"do": "export", "format": "onnx"}"#),
        Ok(Command::Export {
            format: "onnx".into()
        })
    );
    assert_eq!(
        command(r#"{"do": "digit", "digit": null}"#),
        Ok(Command::Digit { digit: None })
    );
    assert_eq!(
        command(r#"{"do": "digit", "digit": 7}"#),
        Ok(Command::Digit { digit: Some(7) })
    );
    assert_eq!(
        command(r#"{"do": "held-out", "index": 4}"#),
        Ok(Command::HeldOut { index: 4 })
    );
    let pad = command(r#"{"do": "pad", "width": 2, "height": 1, "label": null}"#).unwrap();
    assert_eq!(
        pad.clone().with_files(vec![vec![0, 255]]),
        Ok(Command::Pad {
            width: 2,
            height: 1,
            label: None,
            files: vec![vec![0, 255]]
        })
    );
    assert!(pad.with_files(vec![]).unwrap_err().contains("one drawing"));
    // What is not a command says what a command is.
    for bad in [
        r#"{"do": "digit", "digit": -1}"#,
        r#"{"do": "pad", "width": 2}"#,
        r#"{"do": "fly"}"#,
        r#"{"key": "lr"}"#,
        r#"{"do": "setting", "key": "lr"}"#,
        r#"{"do": "setting", "key": "lr", "value": "1", "pane": 2}"#,
        r#"{"do": "model", "model": 3, "size": "page"}"#,
    ] {
        let e = command(bad).unwrap_err();
        assert!(
            e.contains("not a command") && e.contains("setting-rebuilds"),
            "{bad}: {e}"
        );
    }
    // Files travel beside the object, as many as the command takes.
    let two = vec![vec![1u8], vec![2u8]];
    let data = command(r#"{"do": "data"}"#).unwrap();
    assert_eq!(
        data.clone().with_files(two.clone()),
        Ok(Command::Data { files: two.clone() })
    );
    assert!(data
        .with_files(vec![vec![1]])
        .unwrap_err()
        .contains("choose two files"));
    let load = command(r#"{"do": "load"}"#).unwrap();
    assert!(load
        .clone()
        .with_files(two.clone())
        .unwrap_err()
        .contains("one weights file"));
    assert!(load
        .with_files(vec![])
        .unwrap_err()
        .contains("one weights file"));
    assert!(Command::Train
        .with_files(two)
        .unwrap_err()
        .contains("takes no files"));
    // A file's contents never come from the object itself.
    assert_eq!(
        command(r#"{"do": "load", "files": [[1, 2]]}"#).map_err(|e| e.contains("not a command")),
        Err(true)
    );
});

both!(shows_run_commands_at_once, {
    assert_eq!(state_after("training", "pause"), Ok("paused"));
    assert_eq!(state_after("paused", "train"), Ok("training"));
    assert_eq!(state_after("ready", "pause"), Ok("ready"));
    assert_eq!(state_after("finished", "train"), Ok("finished"));
    assert_eq!(state_after("failed", "train"), Ok("failed"));
    assert_eq!(state_after("failed", "reset"), Ok("ready"));
    assert!(state_after("crashed", "train").is_err());
    assert!(state_after("training", "fly")
        .unwrap_err()
        .contains("train, pause or reset"));
});

async fn lab_answers_worker_commands<B: Backend>(b: &B) {
    let mut lab = Lab::new(b, &[tiny(ModelKind::Dcgan)], &digits(), 5, None).unwrap();
    let done = (Answer::Done, false);
    assert_eq!(lab.handle(b, 0, Command::Train).await, Ok(done.clone()));
    assert_eq!(lab.panes[0].state, RunState::Training);
    for _ in 0..3 {
        lab.step_round(b);
    }
    assert_eq!(lab.handle(b, 0, Command::Pause).await, Ok(done.clone()));
    assert_eq!(lab.step_round(b), 0, "a paused pane does not step");

    // Whether a setting rebuilds, without changing anything.
    let ask = |key: &str, value: &str| Command::SettingRebuilds {
        key: key.into(),
        value: value.into(),
    };
    let set = |key: &str, value: &str| Command::Setting {
        key: key.into(),
        value: value.into(),
    };
    assert_eq!(
        lab.handle(b, 0, ask("lr", "0.002")).await,
        Ok((Answer::Rebuilds(false), false))
    );
    assert_eq!(
        lab.handle(b, 0, ask("batch", "8")).await,
        Ok((Answer::Rebuilds(true), false))
    );
    assert_eq!(lab.panes[0].trainer.step, 3);
    // The learning rate in place; another batch rebuilds; a bad value changes nothing.
    assert_eq!(
        lab.handle(b, 0, set("lr", "0.002")).await,
        Ok((Answer::Done, true))
    );
    assert_eq!(
        (lab.panes[0].config().lr, lab.panes[0].trainer.step),
        (0.002, 3)
    );
    let e = lab.handle(b, 0, set("batch", "0")).await.unwrap_err();
    assert!(e.contains("batch"), "{e}");
    assert_eq!(
        (lab.panes[0].config().batch, lab.panes[0].trainer.step),
        (6, 3)
    );
    let saved = match lab.handle(b, 0, Command::Save).await {
        Ok((Answer::Bytes(bytes), false)) => bytes,
        other => panic!("save answered {other:?}"),
    };
    lab.handle(b, 0, set("batch", "8")).await.unwrap();
    assert_eq!(
        (lab.panes[0].config().batch, lab.panes[0].trainer.step),
        (8, 0)
    );

    // Weights back (the file's model and step), and a bad file refused.
    let load = |f: &[u8]| Command::Load {
        files: vec![f.to_vec()],
    };
    assert_eq!(
        lab.handle(b, 0, load(&saved)).await,
        Ok((Answer::Done, true))
    );
    assert_eq!(
        (lab.panes[0].config().batch, lab.panes[0].trainer.step),
        (6, 3)
    );
    let e = lab.handle(b, 0, load(b"junk")).await.unwrap_err();
    assert!(e.contains("not a safetensors file"), "{e}");

    // Another model; data files (a bad one refused with its cause).
    let model = Command::Model {
        model: "mlp-vae".into(),
        size: "page".into(),
    };
    lab.handle(b, 0, model).await.unwrap();
    assert_eq!(lab.panes[0].config().kind, ModelKind::MlpVae);
    let e = lab
        .handle(
            b,
            0,
            Command::Model {
                model: "nope".into(),
                size: "page".into(),
            },
        )
        .await
        .unwrap_err();
    assert!(e.contains("nope"), "{e}");
    let data = |a: &[u8], c: &[u8]| Command::Data {
        files: vec![a.to_vec(), c.to_vec()],
    };
    let e = lab
        .handle(b, 0, data(b"\0\0\x08\x07rest", LABELS))
        .await
        .unwrap_err();
    assert!(e.contains("magic"), "{e}");
    assert_eq!(lab.train_set.len(), 540);
    match lab.handle(b, 0, data(LABELS, IMAGES)).await {
        Ok((Answer::Summary(s), true)) => {
            assert_eq!(s, "training on 9000 digits, 1000 held out")
        }
        other => panic!("data answered {other:?}"),
    }

    // The network the model draws with, for other runtimes.
    let export = |format: &str| Command::Export {
        format: format.into(),
    };
    match lab.handle(b, 0, export("pytorch")).await {
        Ok((Answer::Files(files), false)) => {
            let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
            assert_eq!(
                names,
                [
                    "genlab-mlp-vae-step0-decoder.safetensors",
                    "genlab-mlp-vae-step0-encoder.safetensors",
                    "model.py"
                ]
            );
        }
        other => panic!("export answered {other:?}"),
    }
    let e = lab.handle(b, 0, export("keras")).await.unwrap_err();
    assert!(e.contains("onnx, pytorch"), "{e}");

    // What needs the browser's worker, or a pane this lab lacks.
    let e = lab.handle(b, 0, Command::LoseDevice).await.unwrap_err();
    assert!(e.contains("browser"), "{e}");
    let e = lab.handle(b, 3, Command::Train).await.unwrap_err();
    assert!(e.contains("no pane 3"), "{e}");
    assert_eq!(
        lab.handle(b, 0, Command::Draw).await,
        Ok((Answer::Done, true))
    );
}
cpu_test!(lab_answers_worker_commands_cpu, lab_answers_worker_commands);

both!(a_pane_says_when_training_goes_wrong, {
    use genlab::app::{hint, ScoreView};
    use genlab::train::LossPoint;
    let gan = tiny(ModelKind::Dcgan);
    let points = |d: f32, n: u64| -> Vec<LossPoint> {
        (1..=n)
            .map(|i| LossPoint {
                step: 50 * i,
                steps: 50,
                values: vec![d, 6.0],
            })
            .collect()
    };
    // The discriminator winning outright for 200 steps or more.
    let h = hint(&gan, &points(0.01, 5), None).unwrap();
    assert!(
        h.contains("winning outright") && h.contains("200 steps"),
        "{h}"
    );
    assert_eq!(
        hint(&gan, &points(0.01, 3), None),
        None,
        "150 steps is not yet a while"
    );
    assert_eq!(hint(&gan, &points(0.9, 10), None), None);
    let mut mixed = points(0.01, 3);
    mixed.insert(
        0,
        LossPoint {
            step: 0,
            steps: 200,
            values: vec![1.2, 0.8],
        },
    );
    assert_eq!(
        hint(&gan, &mixed, None),
        None,
        "one good point in the window"
    );
    // The samples collapsing onto one or two digits.
    let score = |shares: [f64; 10]| ScoreView {
        step: 700,
        samples: 512,
        fid: 80.0,
        inception_score: 2.0,
        class_shares: shares,
        class_accuracy: None,
    };
    let two = score([0.05, 0.45, 0.02, 0.02, 0.02, 0.02, 0.02, 0.3, 0.05, 0.05]);
    let h = hint(&gan, &points(0.9, 4), Some(&two)).unwrap();
    assert!(
        h.contains("digits 1 and 7") && h.contains("75%") && h.contains("step 700"),
        "{h}"
    );
    let one = score([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.9, 0.1]);
    assert!(hint(&gan, &[], Some(&one)).unwrap().contains("the digit 8"));
    let even = score([0.1; 10]);
    assert_eq!(hint(&gan, &points(0.9, 4), Some(&even)), None);
    // Only GANs have a discriminator to win.
    assert_eq!(
        hint(&tiny(ModelKind::ConvVae), &points(0.01, 9), Some(&one)),
        None
    );
});
