//! `genlab train` end to end on the CPU backend: the four files, their
//! formats, `--resume`, and the errors a user can cause.

use std::path::Path;
use std::process::Command;

fn genlab(args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_genlab"))
        .args(args)
        .output()
        .expect("genlab runs")
}

fn ok(args: &[&str]) -> String {
    let out = genlab(args);
    assert!(
        out.status.success(),
        "genlab {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn metrics(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("metrics.json")).unwrap()).unwrap()
}

fn tmp(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("genlab-cli-test-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn train_writes_samples_metrics_and_weights_and_resumes() {
    let dir = tmp("vae");
    let d = dir.to_str().unwrap();
    let common = [
        "--backend",
        "cpu",
        "--batch",
        "16",
        "--hidden",
        "64",
        "--latent",
        "4",
    ];
    let mut args = vec![
        "train",
        "--model",
        "mlp-vae",
        "--steps",
        "30",
        "--samples",
        "100",
        "--out",
        d,
    ];
    args.extend(common);
    let stdout = ok(&args);
    assert!(stdout.contains("held-out −ELBO"), "{stdout}");

    // samples.png: an 8×8 grid of 28×28 tiles with 2-pixel gaps.
    let png = std::fs::read(dir.join("samples.png")).unwrap();
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let reader = decoder.read_info().unwrap();
    assert_eq!((reader.info().width, reader.info().height), (242, 242));
    // samples.idx: 100 digits, IDX unsigned bytes 100×28×28.
    let idx = std::fs::read(dir.join("samples.idx")).unwrap();
    assert_eq!(
        &idx[..16],
        &[0, 0, 8, 3, 0, 0, 0, 100, 0, 0, 0, 28, 0, 0, 0, 28]
    );
    assert_eq!(idx.len(), 16 + 100 * 784);
    assert!(idx[16..].iter().any(|&p| p > 128), "samples are blank");
    // The samples file reads back as IDX through genlab's own reader.
    let (count, _) = genlab::data::read_idx_images(&idx).unwrap();
    assert_eq!(count, 100);

    let m = metrics(&dir);
    assert_eq!(m["model"], "mlp-vae");
    assert_eq!(m["steps"], 30);
    assert_eq!(m["config"]["batch"], 16);
    assert_eq!(m["loss_curve"].as_array().unwrap().len(), 3); // every 10 steps
    assert!(m["steps_per_second"].as_f64().unwrap() > 0.0);
    let nelbo = m["held_out_negative_elbo"].as_f64().unwrap();
    assert!(nelbo > 50.0 && nelbo < 600.0, "held-out −ELBO {nelbo}");
    assert!(dir.join("weights.safetensors").exists());
    // The scoring classifier's view: 30 steps are far from real digits.
    let (fid, real_fid) = (
        m["scores"]["samples"]["fid"].as_f64().unwrap(),
        m["scores"]["real_held_out"]["fid"].as_f64().unwrap(),
    );
    assert!(
        real_fid < 15.0 && fid > 3.0 * real_fid,
        "FID {fid}, real {real_fid}"
    );
    assert_eq!(m["scores"]["samples"]["count"], 100);
    assert_eq!(
        m["scores"]["samples"]["class_shares"]
            .as_array()
            .unwrap()
            .len(),
        10
    );

    // --resume: 20 more steps, the curve continues, the config comes from the file.
    ok(&[
        "train",
        "--resume",
        d,
        "--steps",
        "20",
        "--samples",
        "10",
        "--backend",
        "cpu",
    ]);
    let m = metrics(&dir);
    assert_eq!(m["steps"], 50);
    assert_eq!(m["resumed_from_step"], 30);
    assert_eq!(m["config"]["latent"], 4);
    let steps: Vec<u64> = m["loss_curve"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, [10, 20, 30, 40, 50]);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_autoencoder_grid_shows_held_out_digits_and_reconstructions() {
    let dir = tmp("ae");
    let d = dir.to_str().unwrap();
    ok(&[
        "train",
        "--model",
        "ae",
        "--steps",
        "20",
        "--batch",
        "32",
        "--samples",
        "64",
        "--backend",
        "cpu",
        "--out",
        d,
    ]);
    let m = metrics(&dir);
    assert!(m["held_out"]["reconstruction"].as_f64().unwrap() > 0.0);
    assert!(m["held_out_negative_elbo"].is_null());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn the_classifier_trains_scores_and_evaluates() {
    let dir = tmp("classifier");
    let d = dir.to_str().unwrap();
    let out = ok(&[
        "train",
        "--model",
        "classifier",
        "--steps",
        "60",
        "--backend",
        "cpu",
        "--out",
        d,
    ]);
    assert!(out.contains("held-out accuracy"), "{out}");
    let m = metrics(&dir);
    assert_eq!(m["model"], "classifier");
    // 60 steps of 64 digits already classify most held-out digits.
    let acc = m["held_out_accuracy"].as_f64().unwrap();
    assert!(acc > 0.6, "accuracy {acc}");
    let eval: serde_json::Value = serde_json::from_str(&ok(&["eval", d])).unwrap();
    assert_eq!(eval["digits"], 1000);
    assert!((eval["accuracy"].as_f64().unwrap() - acc).abs() < 1e-9);

    // genlab score, with the shipped classifier: real digits near the floor.
    let samples = dir.join("real.idx");
    let all = genlab::data::Digits::from_idx(
        include_bytes!("../../www/data/mnist-train-10k-images-idx3-ubyte.gz"),
        include_bytes!("../../www/data/mnist-train-10k-labels-idx1-ubyte.gz"),
    )
    .unwrap();
    let mut idx = vec![0, 0, 8, 3, 0, 0, 1, 244, 0, 0, 0, 28, 0, 0, 0, 28]; // 500 digits
    idx.extend(&all.images[9000 * 784..9500 * 784]);
    std::fs::write(&samples, idx).unwrap();
    let s: serde_json::Value =
        serde_json::from_str(&ok(&["score", samples.to_str().unwrap()])).unwrap();
    assert_eq!(s["samples"]["count"], 500);
    assert!(s["samples"]["fid"].as_f64().unwrap() < 15.0, "{s}");
    assert!(
        s["samples"]["inception_score"].as_f64().unwrap() > 9.0,
        "{s}"
    );
    assert!(
        s["samples"]["class_accuracy"].is_null(),
        "no labels, no accuracy"
    );
    // With the digits they are (the class accuracy of real digits: the
    // classifier's own accuracy), and with every label off by one.
    let labels_file = |name: &str, shift: u8| {
        let path = dir.join(name);
        let mut idx = vec![0, 0, 8, 1, 0, 0, 1, 244];
        idx.extend(all.labels[9000..9500].iter().map(|&l| (l + shift) % 10));
        std::fs::write(&path, idx).unwrap();
        path
    };
    let score_with = |labels: &Path| -> serde_json::Value {
        let args = [
            "score",
            samples.to_str().unwrap(),
            "--labels",
            labels.to_str().unwrap(),
        ];
        serde_json::from_str(&ok(&args)).unwrap()
    };
    let right = score_with(&labels_file("right.idx", 0))["samples"]["class_accuracy"]
        .as_f64()
        .unwrap();
    let wrong = score_with(&labels_file("wrong.idx", 1))["samples"]["class_accuracy"]
        .as_f64()
        .unwrap();
    assert!(right > 0.95 && wrong < 0.05, "right {right}, wrong {wrong}");
    let mut short = vec![0, 0, 8, 1, 0, 0, 0, 3];
    short.extend([1, 2, 3]);
    std::fs::write(dir.join("short.idx"), short).unwrap();
    let out = genlab(&[
        "score",
        samples.to_str().unwrap(),
        "--labels",
        dir.join("short.idx").to_str().unwrap(),
    ]);
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(
        !out.status.success() && e.contains("holds 3 labels but"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_conditional_model_draws_a_row_per_digit_and_is_scored_on_them() {
    let dir = tmp("conditional");
    let d = dir.to_str().unwrap();
    let out = ok(&[
        "train",
        "--model",
        "cvae",
        "--steps",
        "30",
        "--batch",
        "16",
        "--hidden",
        "32",
        "--latent",
        "4",
        "--samples",
        "50",
        "--backend",
        "cpu",
        "--out",
        d,
    ]);
    assert!(out.contains("read as the digit asked for"), "{out}");
    // 10 columns, 10 rows (a row per digit) of 28 pixels and 2-pixel gaps.
    let png = std::fs::read(dir.join("samples.png")).unwrap();
    let (w, h) = (
        u32::from_be_bytes(png[16..20].try_into().unwrap()),
        u32::from_be_bytes(png[20..24].try_into().unwrap()),
    );
    assert_eq!((w, h), (302, 302));
    // The digits asked for: sample i is i mod 10.
    let labels = std::fs::read(dir.join("samples-labels.idx")).unwrap();
    assert_eq!(&labels[..8], &[0, 0, 8, 1, 0, 0, 0, 50]);
    assert!(labels[8..]
        .iter()
        .enumerate()
        .all(|(i, &l)| l as usize == i % 10));
    let m = metrics(&dir);
    let a = m["scores"]["samples"]["class_accuracy"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&a));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn user_errors_say_what_to_do() {
    let dir = tmp("errors");
    let d = dir.to_str().unwrap();
    let err = |args: &[&str]| {
        let out = genlab(args);
        assert!(!out.status.success(), "genlab {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    assert!(err(&["train", "--steps", "1", "--out", d]).contains("--model"));
    assert!(err(&["train", "--model", "vae", "--out", d]).contains("mlp-vae"));
    assert!(err(&[
        "train",
        "--model",
        "mlp-vae",
        "--latent",
        "100",
        "--backend",
        "cpu",
        "--out",
        d
    ])
    .contains("latent size"));
    let bad = dir.join("bad.idx");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(&bad, b"not an idx file at all").unwrap();
    let b = bad.to_str().unwrap();
    let e = err(&[
        "train",
        "--model",
        "ae",
        "--images",
        b,
        "--labels",
        b,
        "--backend",
        "cpu",
        "--out",
        d,
    ]);
    assert!(e.contains("images file"), "{e}");
    assert!(err(&["train", "--resume", d, "--backend", "cpu"]).contains("weights.safetensors"));
    // A setting the model does not have is refused, naming the models that have it.
    let e = err(&[
        "train", "--model", "mlp-gan", "--width", "16", "--steps", "1", "--out", d,
    ]);
    assert!(
        e.contains("--width does not change the mlp-gan") && e.contains("dcgan"),
        "{e}"
    );
    let e = err(&[
        "train", "--model", "mlp-vae", "--recipe", "tutorial", "--out", d,
    ]);
    assert!(
        e.contains("--recipe tutorial") && e.contains("dcgan"),
        "{e}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// `--recipe tutorial` trains the DCGAN with the TensorFlow tutorial's
/// settings, the default with the recipe that works best; metrics.json says which.
#[test]
fn the_dcgan_trains_with_the_tutorials_recipe_by_name() {
    let dir = tmp("recipe");
    let d = dir.to_str().unwrap();
    let small = [
        "--model",
        "dcgan",
        "--steps",
        "2",
        "--batch",
        "4",
        "--width",
        "2",
        "--latent",
        "3",
        "--samples",
        "64",
        "--backend",
        "cpu",
        "--out",
        d,
    ];
    let config = |recipe: &[&str]| {
        let mut args = vec!["train"];
        args.extend(small);
        args.extend(recipe);
        ok(&args);
        metrics(&dir)["config"].clone()
    };
    let tutorial = config(&["--recipe", "tutorial"]);
    assert_eq!(tutorial["gan_loss"], "bce", "{tutorial}");
    assert_eq!(tutorial["lr"].as_f64().unwrap() as f32, 1e-4);
    assert_eq!(tutorial["adam_beta1"].as_f64().unwrap() as f32, 0.9);
    assert_eq!(tutorial["g_average"].as_f64().unwrap(), 0.0);
    let default = config(&[]);
    assert_eq!(default["gan_loss"], "classes", "{default}");
    assert_eq!(default["lr"].as_f64().unwrap() as f32, 2e-4);
    assert_eq!(default["adam_beta1"].as_f64().unwrap() as f32, 0.5);
    // A flag still applies on top of a recipe.
    let hinge = config(&["--recipe", "tutorial", "--gan-loss", "hinge"]);
    assert_eq!(hinge["gan_loss"], "hinge", "{hinge}");
    assert_eq!(hinge["lr"].as_f64().unwrap() as f32, 1e-4);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A weights file of a DCGAN at width 256, latent 1024, batch 1024 that holds
/// no tensors (under 400 bytes).
fn huge_weights_file() -> Vec<u8> {
    let json = r#"{"__metadata__":{"genlab.model":"dcgan","genlab.batch":"1024","genlab.latent":"1024","genlab.hidden":"128","genlab.width":"256","genlab.lr":"0.0001","genlab.adam_beta1":"0.9","genlab.beta":"1","genlab.gan_loss":"bce","genlab.dropout":"0.3","genlab.seed":"1","genlab.step":"0"}}"#;
    let mut file = (json.len() as u64).to_le_bytes().to_vec();
    file.extend(json.as_bytes());
    file
}

#[test]
fn flags_and_files_are_checked_before_training() {
    let dir = tmp("checks");
    let d = dir.to_str().unwrap();
    let err = |args: &[&str]| {
        let out = genlab(args);
        assert!(!out.status.success(), "genlab {args:?} should fail");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let ae = [
        "train",
        "--model",
        "ae",
        "--steps",
        "3",
        "--backend",
        "cpu",
        "--out",
        d,
    ];
    let with = |more: &[&'static str]| {
        let mut a = ae.to_vec();
        a.extend_from_slice(more);
        a
    };
    // Each of these was a panic or a failure after training.
    for (more, want) in [
        (&["--log-every", "0"][..], "--log-every must be at least 1"),
        (&["--held-out", "10"], "--held-out 10: keep at least 64"),
        (&["--held-out", "0"], "--held-out 0: keep at least 64"),
        (&["--lr-final", "2"], "--lr-final 2 must be a fraction"),
        (&["--samples", "0"], "the scores need at least 2 samples"),
    ] {
        let e = err(&with(more));
        assert!(e.contains(want), "{more:?}: {e}");
        assert!(
            !dir.join("weights.safetensors").exists(),
            "{more:?}: nothing trained"
        );
    }

    // A tiny weights file cannot make genlab allocate gigabytes.
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("weights.safetensors"), huge_weights_file()).unwrap();
    let e = err(&["train", "--resume", d, "--backend", "cpu"]);
    assert!(
        e.contains("GiB of memory, more than genlab's budget of 1 GiB"),
        "{e}"
    );

    // --resume: flags it would ignore are refused, --lr applies, --steps may not pass 2^32.
    ok(&[
        "train",
        "--model",
        "mlp-gan",
        "--steps",
        "2",
        "--hidden",
        "8",
        "--batch",
        "8",
        "--samples",
        "2",
        "--backend",
        "cpu",
        "--out",
        d,
    ]);
    let e = err(&[
        "train",
        "--resume",
        d,
        "--batch",
        "16",
        "--seed",
        "3",
        "--backend",
        "cpu",
    ]);
    assert!(e.contains("--batch, --seed would be ignored"), "{e}");
    let e = err(&[
        "train",
        "--resume",
        d,
        "--steps",
        "4294967295",
        "--backend",
        "cpu",
    ]);
    assert!(e.contains("passes 2^32 - 1 steps"), "{e}");
    ok(&[
        "train",
        "--resume",
        d,
        "--steps",
        "2",
        "--lr",
        "0.001",
        "--samples",
        "2",
        "--backend",
        "cpu",
    ]);
    let m = metrics(&dir);
    assert_eq!(m["steps"], 4);
    assert!(
        (m["config"]["lr"].as_f64().unwrap() - 0.001).abs() < 1e-9,
        "{}",
        m["config"]
    );

    // Scores of zero samples are refused (an empty IDX file is).
    let empty = dir.join("empty.idx");
    std::fs::write(&empty, [0, 0, 8, 3, 0, 0, 0, 0, 0, 0, 0, 28, 0, 0, 0, 28]).unwrap();
    let e = err(&["score", empty.to_str().unwrap()]);
    assert!(e.contains("holds no images"), "{e}");
    let _ = std::fs::remove_dir_all(&dir);
}
