//! Central finite differences check every backward of the CPU reference.
//! Each op's output y is reduced to L = Σ r·y with fixed random r; the op's
//! backward, fed dy = r, must give ∂L/∂input.
#![cfg(not(target_arch = "wasm32"))]

use genlab::core::rng::Rng;
use genlab::core::{
    Activation, BatchNormConfig, Conv2dGeom, Grad, LinearShape, MatmulShape, RandomStream,
};
use genlab::ops::{self as cpu, Target};

const H: f32 = 1e-2;

/// Compares `analytic` with central differences of `f` at `x`, over every element.
fn check(what: &str, x: &[f32], analytic: &[f32], f: impl Fn(&[f32]) -> f64) {
    assert_eq!(x.len(), analytic.len(), "{what}: gradient length");
    let mut xp = x.to_vec();
    let mut bad = Vec::new();
    for i in 0..x.len() {
        xp[i] = x[i] + H;
        let up = f(&xp);
        xp[i] = x[i] - H;
        let down = f(&xp);
        xp[i] = x[i];
        let numeric = ((up - down) / (2.0 * H as f64)) as f32;
        if (numeric - analytic[i]).abs() > 2e-3 + 2e-2 * numeric.abs().max(analytic[i].abs()) {
            bad.push(format!(
                "  [{i}] numeric {numeric:.6} analytic {:.6}",
                analytic[i]
            ));
        }
    }
    assert!(
        bad.is_empty(),
        "{what}: {} of {} gradients differ; first:\n{}",
        bad.len(),
        x.len(),
        bad[..bad.len().min(8)].join("\n")
    );
}

fn dot(a: &[f32], b: &[f32]) -> f64 {
    a.iter().zip(b).map(|(&a, &b)| a as f64 * b as f64).sum()
}

/// Random values kept away from 0 (the kink of relu and leaky relu).
fn away_from_zero(rng: &mut Rng, len: usize) -> Vec<f32> {
    (0..len)
        .map(|_| {
            let v = rng.uniform(0.1, 1.0);
            if rng.uniform(0.0, 1.0) < 0.5 {
                -v
            } else {
                v
            }
        })
        .collect()
}

#[test]
fn linear_backward_matches_finite_differences() {
    for &(n, d_in, d_out) in &[(1, 3, 2), (4, 5, 3)] {
        for act in [Activation::None, Activation::Tanh, Activation::Sigmoid] {
            let mut rng = Rng::new(1, 0);
            let x = rng.uniform_vec(n * d_in, -1.0, 1.0);
            let w = rng.uniform_vec(d_out * d_in, -1.0, 1.0);
            let b = rng.uniform_vec(d_out, -1.0, 1.0);
            let r = rng.uniform_vec(n * d_out, -1.0, 1.0);
            let loss = |x: &[f32], w: &[f32], b: &[f32]| {
                let mut y = vec![0.0; n * d_out];
                cpu::linear_forward(&mut y, x, w, Some(b), LinearShape { n, d_in, d_out }, act);
                dot(&y, &r)
            };
            let mut y = vec![0.0; n * d_out];
            cpu::linear_forward(
                &mut y,
                &x,
                &w,
                Some(&b),
                LinearShape { n, d_in, d_out },
                act,
            );
            let mut dz = vec![0.0; n * d_out];
            cpu::activation_backward(&mut dz, &r, &y, act);
            let (mut dx, mut dw, mut db) =
                (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; b.len()]);
            cpu::linear_backward(
                Some(&mut dx),
                &mut dw,
                Some(&mut db),
                &dz,
                &x,
                &w,
                LinearShape { n, d_in, d_out },
            );
            check("linear dx", &x, &dx, |x| loss(x, &w, &b));
            check("linear dw", &w, &dw, |w| loss(&x, w, &b));
            check("linear db", &b, &db, |b| loss(&x, &w, b));
        }
    }
}

#[test]
fn matmul_transposes_match_a_plain_product() {
    let (m, n, k) = (3, 4, 5);
    let mut rng = Rng::new(2, 0);
    let a = rng.uniform_vec(m * k, -1.0, 1.0);
    let b = rng.uniform_vec(k * n, -1.0, 1.0);
    let transpose = |v: &[f32], rows: usize, cols: usize| {
        (0..rows * cols)
            .map(|i| v[(i % rows) * cols + i / rows])
            .collect::<Vec<_>>()
    };
    let (at, bt) = (transpose(&a, m, k), transpose(&b, k, n));
    let mut want = vec![0.0; m * n];
    cpu::matmul(
        &mut want,
        &a,
        &b,
        MatmulShape {
            m,
            n,
            k,
            trans_a: false,
            trans_b: false,
        },
        Grad::Write,
    );
    for (ta, tb) in [(true, false), (false, true), (true, true)] {
        let mut got = vec![0.0; m * n];
        cpu::matmul(
            &mut got,
            if ta { &at } else { &a },
            if tb { &bt } else { &b },
            MatmulShape {
                m,
                n,
                k,
                trans_a: ta,
                trans_b: tb,
            },
            Grad::Write,
        );
        for i in 0..m * n {
            assert!(
                (got[i] - want[i]).abs() < 1e-5,
                "trans ({ta}, {tb}) [{i}]: {} vs {}",
                got[i],
                want[i]
            );
        }
    }
}

fn conv_geometries() -> Vec<Conv2dGeom> {
    vec![
        Conv2dGeom::same(1, 1, 7, 6, 2, 3, 2), // asymmetric 'same' padding, batch 1
        Conv2dGeom::same(2, 2, 5, 5, 3, 5, 1), // 5×5 stride 1 (pad 2)
        Conv2dGeom::valid(2, 3, 6, 5, 2, 3, 1), // no padding
        Conv2dGeom::same(2, 2, 8, 8, 2, 5, 2), // the DCGAN discriminator's shape of conv, small
    ]
}

#[test]
fn conv2d_backward_matches_finite_differences() {
    for g in conv_geometries() {
        let mut rng = Rng::new(3, 0);
        let x = rng.uniform_vec(g.input_len(), -1.0, 1.0);
        let w = rng.uniform_vec(g.weight_len(), -1.0, 1.0);
        let b = rng.uniform_vec(g.c_out, -1.0, 1.0);
        let r = rng.uniform_vec(g.output_len(), -1.0, 1.0);
        let loss = |x: &[f32], w: &[f32], b: &[f32]| {
            let mut y = vec![0.0; g.output_len()];
            cpu::conv2d_forward(&mut y, x, w, Some(b), &g, Activation::None);
            dot(&y, &r)
        };
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; b.len()]);
        cpu::conv2d_backward_input(&mut dx, &r, &w, &g);
        cpu::conv2d_backward_weight(&mut dw, &r, &x, &g);
        cpu::bias_backward(&mut db, &r, g.n, g.c_out, g.h_out * g.w_out);
        check(&format!("conv2d dx {g:?}"), &x, &dx, |x| loss(x, &w, &b));
        check(&format!("conv2d dw {g:?}"), &w, &dw, |w| loss(&x, w, &b));
        check(&format!("conv2d db {g:?}"), &b, &db, |b| loss(&x, &w, b));
    }
}

#[test]
fn conv_transpose2d_backward_matches_finite_differences() {
    let geometries = [
        Conv2dGeom::transposed_same(1, 2, 3, 3, 2, 5, 2), // 3→6, the generator's upsampling, batch 1
        Conv2dGeom::transposed_same(2, 3, 4, 3, 2, 5, 1), // stride 1
        Conv2dGeom::transposed_same(2, 2, 3, 4, 1, 3, 2),
    ];
    for g in geometries {
        let mut rng = Rng::new(4, 0);
        let x = rng.uniform_vec(g.output_len(), -1.0, 1.0); // the transposed conv's input
        let w = rng.uniform_vec(g.weight_len(), -1.0, 1.0);
        let b = rng.uniform_vec(g.c_in, -1.0, 1.0);
        let r = rng.uniform_vec(g.input_len(), -1.0, 1.0);
        let loss = |x: &[f32], w: &[f32], b: &[f32]| {
            let mut y = vec![0.0; g.input_len()];
            cpu::conv_transpose2d_forward(&mut y, x, w, Some(b), &g, Activation::None);
            dot(&y, &r)
        };
        let (mut dx, mut dw, mut db) = (vec![0.0; x.len()], vec![0.0; w.len()], vec![0.0; b.len()]);
        cpu::conv_transpose2d_backward_input(&mut dx, &r, &w, &g);
        cpu::conv_transpose2d_backward_weight(&mut dw, &r, &x, &g);
        cpu::bias_backward(&mut db, &r, g.n, g.c_in, g.h * g.w);
        check(&format!("conv_transpose2d dx {g:?}"), &x, &dx, |x| {
            loss(x, &w, &b)
        });
        check(&format!("conv_transpose2d dw {g:?}"), &w, &dw, |w| {
            loss(&x, w, &b)
        });
        check(&format!("conv_transpose2d db {g:?}"), &b, &db, |b| {
            loss(&x, &w, b)
        });
    }
}

#[test]
fn activation_backward_matches_finite_differences() {
    let acts = [
        Activation::Relu,
        Activation::LeakyRelu(0.3),
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::None,
    ];
    for act in acts {
        let mut rng = Rng::new(5, 0);
        let x = away_from_zero(&mut rng, 13);
        let r = rng.uniform_vec(13, -1.0, 1.0);
        let mut y = vec![0.0; 13];
        cpu::activation_forward(&mut y, &x, act);
        let mut dx = vec![0.0; 13];
        cpu::activation_backward(&mut dx, &r, &y, act);
        check(&format!("{act:?}"), &x, &dx, |x| {
            let mut y = vec![0.0; 13];
            cpu::activation_forward(&mut y, x, act);
            dot(&y, &r)
        });
    }
}

#[test]
fn batchnorm_backward_matches_finite_differences() {
    for &(n, c, p) in &[(4, 3, 1), (2, 2, 5), (1, 2, 6)] {
        let mut rng = Rng::new(6, 0);
        let x = rng.uniform_vec(n * c * p, -2.0, 2.0);
        let gamma = rng.uniform_vec(c, 0.5, 1.5);
        let beta = rng.uniform_vec(c, -0.5, 0.5);
        let r = rng.uniform_vec(n * c * p, -1.0, 1.0);
        let cfg = BatchNormConfig::default();
        let forward = |x: &[f32], gamma: &[f32], beta: &[f32]| {
            let mut y = vec![0.0; x.len()];
            let (mut mean, mut invstd, mut rm, mut rv) =
                (vec![0.0; c], vec![0.0; c], vec![0.0; c], vec![1.0; c]);
            cpu::batchnorm_forward_train(
                &mut y,
                &mut mean,
                &mut invstd,
                &mut rm,
                &mut rv,
                x,
                gamma,
                beta,
                (n, c, p),
                cfg,
            );
            (y, mean, invstd)
        };
        let (_, mean, invstd) = forward(&x, &gamma, &beta);
        let (mut dx, mut dg, mut db) = (vec![0.0; x.len()], vec![0.0; c], vec![0.0; c]);
        cpu::batchnorm_backward(
            &mut dx,
            &mut dg,
            &mut db,
            &r,
            &x,
            &gamma,
            &mean,
            &invstd,
            (n, c, p),
        );
        check("batchnorm dx", &x, &dx, |x| {
            dot(&forward(x, &gamma, &beta).0, &r)
        });
        check("batchnorm dgamma", &gamma, &dg, |g| {
            dot(&forward(&x, g, &beta).0, &r)
        });
        check("batchnorm dbeta", &beta, &db, |b| {
            dot(&forward(&x, &gamma, b).0, &r)
        });
    }
}

#[test]
fn dropout_backward_matches_finite_differences() {
    let mut rng = Rng::new(7, 0);
    let x = rng.uniform_vec(40, -1.0, 1.0);
    let r = rng.uniform_vec(40, -1.0, 1.0);
    let stream = RandomStream {
        seed: 9,
        stream: 2,
        step: 3,
    };
    let mut dx = vec![0.0; 40];
    cpu::dropout_backward(&mut dx, &r, 0.3, stream);
    check("dropout", &x, &dx, |x| {
        let mut y = vec![0.0; 40];
        cpu::dropout_forward(&mut y, x, 0.3, stream);
        dot(&y, &r)
    });
}

#[test]
fn loss_gradients_match_finite_differences() {
    let mut rng = Rng::new(8, 0);
    let x = rng.uniform_vec(12, -3.0, 3.0);
    let t = rng.uniform_vec(12, 0.0, 1.0);
    type LossFn = fn(&mut [f32], &[f32], Target) -> f32;
    let losses: [(&str, LossFn); 5] = [
        ("bce_with_logits", cpu::bce_with_logits),
        ("least_squares", cpu::least_squares),
        ("mse", cpu::mse),
        ("hinge", |dx, x, t| cpu::hinge(dx, x, t, 3)),
        ("hinge_generator", cpu::hinge_generator),
    ];
    for (name, f) in losses {
        for target in [Target::Const(1.0), Target::Const(0.0), Target::Values(&t)] {
            let mut dx = vec![0.0; 12];
            f(&mut dx, &x, target);
            check(name, &x, &dx, |x| f(&mut [0.0; 12], x, target) as f64);
        }
    }
    let mut dx = vec![0.0; 12];
    cpu::bernoulli_reconstruction(&mut dx, &x, &t, 3);
    check("bernoulli_reconstruction", &x, &dx, |x| {
        cpu::bernoulli_reconstruction(&mut [0.0; 12], x, &t, 3) as f64
    });
}

/// The hinge GAN's losses at points whose values are known: D pays nothing
/// for a real logit above 1 or a fake one below −1, and G's loss is −D(G(z)).
#[test]
fn hinge_losses_have_their_textbook_values() {
    let x = [2.0, 0.5, -0.5, -2.0];
    let t = [1.0, 1.0, 0.0, 0.0];
    let mut dx = [0.0; 4];
    // real: max(0, 1 − 2) + max(0, 1 − 0.5); fake: max(0, 1 − 0.5) + max(0, 1 − 2); over n = 2.
    let l = cpu::hinge(&mut dx, &x, Target::Values(&t), 2);
    assert!((l - 0.5).abs() < 1e-6, "hinge {l}");
    assert_eq!(dx, [0.0, -0.5, 0.5, 0.0]);
    let l = cpu::hinge_generator(&mut dx, &x, Target::Const(1.0));
    assert!((l - 0.0).abs() < 1e-6, "hinge_generator {l}");
    assert_eq!(dx, [-0.25; 4]);
}

#[test]
fn softmax_cross_entropy_gradients_match_finite_differences() {
    let mut rng = Rng::new(21, 0);
    // 3 rows of 7 classes; one-hot targets and a soft distribution.
    let x = rng.uniform_vec(21, -3.0, 3.0);
    let mut t = vec![0.0; 21];
    for (r, c) in [(0, 2), (1, 6), (2, 0)] {
        t[r * 7 + c] = 1.0;
    }
    let soft: Vec<f32> = (0..21).map(|i| ((i % 7) as f32 + 1.0) / 28.0).collect();
    for t in [&t, &soft] {
        let mut dx = vec![0.0; 21];
        cpu::softmax_cross_entropy(&mut dx, &x, t, 3);
        check("softmax_cross_entropy", &x, &dx, |x| {
            cpu::softmax_cross_entropy(&mut [0.0; 21], x, t, 3) as f64
        });
    }
    // The loss of uniform logits against one-hot labels is log K.
    let l = cpu::softmax_cross_entropy(&mut [0.0; 21], &[0.5; 21], &t, 3);
    assert!((l - 7f32.ln()).abs() < 1e-6, "{l}");
}

#[test]
fn classes_generator_gradients_match_finite_differences() {
    let mut rng = Rng::new(23, 0);
    // 4 rows of 1 + 6 logits (fake first), and 2 rows of the least: 1 + 1.
    for (n, k) in [(4, 7), (2, 2)] {
        let x = rng.uniform_vec(n * k, -3.0, 3.0);
        let mut dx = vec![0.0; n * k];
        cpu::classes_generator(&mut dx, &x, n, 0.0);
        check("classes_generator", &x, &dx, |x| {
            cpu::classes_generator(&mut vec![0.0; n * k], x, n, 0.0) as f64
        });
    }
    // It is −log(1 − p_fake): with every logit equal, p_fake = 1/K, so the
    // loss is log(K / (K − 1)); a fake logit far below the rest costs nothing.
    let l = cpu::classes_generator(&mut [0.0; 22], &[0.5; 22], 2, 0.0);
    assert!((l - (11f32 / 10.0).ln()).abs() < 1e-6, "{l}");
    let mut x = [2.0; 11];
    x[0] = -40.0;
    assert!(cpu::classes_generator(&mut [0.0; 11], &x, 1, 0.0) < 1e-6);
}

/// The classes loss's G with the balance term: λ·Σ Q log Q over the batch's
/// digit shares Q, computed here from its definition.
fn balanced_loss(x: &[f32], n: usize, balance: f64) -> f64 {
    let k = x.len() / n;
    let lse = |v: &[f32]| v.iter().map(|&a| (a as f64).exp()).sum::<f64>().ln();
    let mut share = vec![0.0; k];
    let mut fake = 0.0;
    for row in x.chunks(k) {
        let classes = lse(&row[1..]);
        fake += lse(row) - classes;
        for j in 1..k {
            share[j] += (row[j] as f64 - classes).exp() / n as f64;
        }
    }
    fake / n as f64 + balance * share[1..].iter().map(|&q| q * q.ln()).sum::<f64>()
}

#[test]
fn classes_generator_balance_term_evens_out_the_digits() {
    let mut rng = Rng::new(24, 0);
    // Rows of 1 + 10 and 1 + 3 logits; one row alone; balance 0.5 and 2.
    for (n, k, balance) in [(6, 11, 0.5), (5, 4, 2.0), (1, 11, 2.0)] {
        let x = rng.uniform_vec(n * k, -3.0, 3.0);
        let mut dx = vec![0.0; n * k];
        let l = cpu::classes_generator(&mut dx, &x, n, balance);
        let want = balanced_loss(&x, n, balance as f64);
        assert!(
            (l as f64 - want).abs() < 1e-5,
            "{n}×{k}: loss {l} against {want}"
        );
        check(
            &format!("classes_generator balance {n}×{k}"),
            &x,
            &dx,
            |x| cpu::classes_generator(&mut vec![0.0; n * k], x, n, balance) as f64,
        );
    }
    // Two fakes D reads as the same digit pay log 2 more (at balance 1)
    // than two it reads as different digits: Σ Q log Q is 0 against −log 2.
    let row = |digit: usize| {
        let mut r = [-30.0f32; 11];
        r[1 + digit] = 30.0;
        r
    };
    let (same, apart) = ([row(3), row(3)].concat(), [row(3), row(5)].concat());
    let l = |x: &[f32]| cpu::classes_generator(&mut [0.0; 22], x, 2, 1.0);
    assert!(
        (l(&same) - l(&apart) - 2f32.ln()).abs() < 1e-5,
        "{} {}",
        l(&same),
        l(&apart)
    );
}

#[test]
fn gaussian_kl_gradients_match_finite_differences() {
    let mut rng = Rng::new(9, 0);
    let mu = rng.uniform_vec(10, -2.0, 2.0);
    let lv = rng.uniform_vec(10, -2.0, 1.0);
    let (mut dmu, mut dlv) = (vec![0.0; 10], vec![0.0; 10]);
    let kl = |mu: &[f32], lv: &[f32]| {
        cpu::gaussian_kl(&mut [0.0; 10], &mut [0.0; 10], mu, lv, 2, 0.7) as f64
    };
    cpu::gaussian_kl(&mut dmu, &mut dlv, &mu, &lv, 2, 0.7);
    check("gaussian_kl dmu", &mu, &dmu, |m| kl(m, &lv));
    check("gaussian_kl dlogvar", &lv, &dlv, |l| kl(&mu, l));
}

#[test]
fn reparameterize_backward_matches_finite_differences() {
    let mut rng = Rng::new(10, 0);
    let mu = rng.uniform_vec(9, -1.0, 1.0);
    let lv = rng.uniform_vec(9, -2.0, 1.0);
    let eps = rng.normal_vec(9, 1.0);
    let r = rng.uniform_vec(9, -1.0, 1.0);
    let (mut dmu, mut dlv) = (vec![0.0; 9], vec![0.0; 9]);
    cpu::reparameterize_backward(&mut dmu, &mut dlv, &r, &lv, &eps);
    let z = |mu: &[f32], lv: &[f32]| {
        let mut z = vec![0.0; 9];
        cpu::reparameterize_forward(&mut z, mu, lv, &eps);
        dot(&z, &r)
    };
    check("reparameterize dmu", &mu, &dmu, |m| z(m, &lv));
    check("reparameterize dlogvar", &lv, &dlv, |l| z(&mu, l));
}

#[test]
fn label_concat_matches_finite_differences_and_writes_one_hot_maps() {
    // 3 samples of 5 values (a 1×5 row), 4 classes: maps of 5 each. The
    // last label is out of range: its code is all zeros.
    let s = cpu::LabelShape {
        n: 3,
        per: 5,
        classes: 4,
        spatial: 5,
    };
    let mut rng = Rng::new(12, 0);
    let x = rng.uniform_vec(s.n * s.per, -1.0, 1.0);
    let labels = [2.0, 0.0, 7.0];
    let r = rng.uniform_vec(s.n * s.width(), -1.0, 1.0);
    let y = |x: &[f32]| {
        let mut y = vec![0.0; s.n * s.width()];
        cpu::label_concat_forward(&mut y, x, &labels, s);
        y
    };
    let out = y(&x);
    for i in 0..s.n {
        let row = &out[i * s.width()..(i + 1) * s.width()];
        assert_eq!(&row[..s.per], &x[i * s.per..(i + 1) * s.per]);
        for k in 0..s.classes {
            let on = labels[i] as usize == k;
            let map = &row[s.per + k * s.spatial..s.per + (k + 1) * s.spatial];
            assert!(map.iter().all(|&v| v == if on { 1.0 } else { 0.0 }));
        }
    }
    let mut dx = vec![0.0; x.len()];
    cpu::label_concat_backward(&mut dx, &r, s);
    check("label_concat dx", &x, &dx, |x| dot(&y(x), &r));
}

/// The samples of each group, written out by hand for the shapes below.
fn minibatch_std_cases() -> Vec<(cpu::MinibatchStdShape, Vec<Vec<usize>>)> {
    let shape = |n, per, spatial, group, segment| cpu::MinibatchStdShape {
        n,
        per,
        spatial,
        group,
        segment,
    };
    vec![
        // Two segments of 5 in groups of 2: each ends in a group of one.
        (
            shape(10, 6, 3, 2, 5),
            vec![
                vec![0, 1],
                vec![2, 3],
                vec![4],
                vec![5, 6],
                vec![7, 8],
                vec![9],
            ],
        ),
        // One segment of 7 in groups of 4, flat samples (one position).
        (shape(7, 5, 1, 4, 7), vec![vec![0, 1, 2, 3], vec![4, 5, 6]]),
        // A group larger than its segment: the segment is the group.
        (shape(6, 4, 2, 8, 3), vec![vec![0, 1, 2], vec![3, 4, 5]]),
    ]
}

#[test]
fn minibatch_std_groups_samples_within_segments_and_its_gradient() {
    for (case, (s, groups)) in minibatch_std_cases().into_iter().enumerate() {
        let mut rng = Rng::new(90 + case as u32, 0);
        // Members at least 0.2 apart in every value, so that no σ is near
        // 0, where |x − μ| / σ jumps and central differences cannot follow.
        let base = rng.uniform_vec(s.per, -1.0, 1.0);
        let noise = rng.uniform_vec(s.n * s.per, -0.05, 0.05);
        let x: Vec<f32> = (0..s.n * s.per)
            .map(|k| base[k % s.per] + 0.3 * (k / s.per) as f32 + noise[k])
            .collect();
        let forward = |x: &[f32]| {
            let (mut y, mut stat) = (vec![0.0; s.n * s.width()], vec![0.0; s.groups()]);
            cpu::minibatch_std_forward(&mut y, &mut stat, x, s);
            (y, stat)
        };
        let (y, stat) = forward(&x);
        assert_eq!(s.groups(), groups.len(), "{s:?}: group count");
        for (g, members) in groups.iter().enumerate() {
            assert_eq!(
                s.members(g).collect::<Vec<_>>(),
                *members,
                "{s:?}: group {g}"
            );
            // s_g by the textbook formula: the mean over values of √(E[x²] − E[x]² + ε).
            let m = members.len() as f64;
            let want = (0..s.per)
                .map(|j| {
                    let v = |i: &usize| x[i * s.per + j] as f64;
                    let mean = members.iter().map(v).sum::<f64>() / m;
                    let sq = members.iter().map(|i| v(i) * v(i)).sum::<f64>() / m;
                    (sq - mean * mean + cpu::MBSTD_EPS as f64).max(0.0).sqrt()
                })
                .sum::<f64>()
                / s.per as f64;
            assert!(
                (stat[g] as f64 - want).abs() < 1e-5,
                "{s:?}: group {g} s {} against {want}",
                stat[g]
            );
            for &i in members {
                assert_eq!(s.group_of(i), g, "{s:?}: sample {i}");
                let row = &y[i * s.width()..(i + 1) * s.width()];
                assert_eq!(&row[..s.per], &x[i * s.per..(i + 1) * s.per]);
                assert!(
                    row[s.per..].iter().all(|&v| v == stat[g]),
                    "{s:?}: sample {i}'s map"
                );
            }
        }
        let r = rng.uniform_vec(s.n * s.width(), -1.0, 1.0);
        let (mut dx, mut dstat) = (vec![0.0; x.len()], vec![0.0; s.groups()]);
        cpu::minibatch_std_backward(&mut dx, &mut dstat, &r, &x, s);
        check(&format!("minibatch_std {s:?}"), &x, &dx, |x| {
            dot(&forward(x).0, &r)
        });
    }
    // A group of one has s = √ε and passes its gradient straight through.
    let s = cpu::MinibatchStdShape {
        n: 2,
        per: 3,
        spatial: 2,
        group: 1,
        segment: 2,
    };
    let x = [0.5, -1.0, 2.0, 0.25, 0.0, -0.5];
    let (mut y, mut stat) = (vec![0.0; s.n * s.width()], vec![0.0; 2]);
    cpu::minibatch_std_forward(&mut y, &mut stat, &x, s);
    assert!(
        stat.iter()
            .all(|&v| (v - cpu::MBSTD_EPS.sqrt()).abs() < 1e-9),
        "{stat:?}"
    );
    let dy = [1.0, 2.0, 3.0, 9.0, 9.0, 4.0, 5.0, 6.0, 9.0, 9.0];
    let (mut dx, mut dstat) = (vec![0.0; 6], vec![0.0; 2]);
    cpu::minibatch_std_backward(&mut dx, &mut dstat, &dy, &x, s);
    assert_eq!(dx, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(dstat, [18.0, 18.0]);
}

#[test]
fn adam_first_step_moves_each_weight_by_lr_against_its_gradient_sign() {
    // At t = 1 bias correction makes m̂ = g and v̂ = g², so Δp = −lr·g/(|g| + ε).
    let cfg = genlab::core::AdamConfig {
        lr: 0.01,
        ..Default::default()
    };
    let g = [0.5f32, -2.0, 1e-3, -0.25];
    let mut p = [1.0f32; 4];
    let (mut m, mut v) = ([0.0f32; 4], [0.0f32; 4]);
    cpu::adam_step(&mut p, &g, &mut m, &mut v, 1, cfg);
    for i in 0..4 {
        let want = 1.0 - 0.01 * g[i] / (g[i].abs() + cfg.eps);
        assert!((p[i] - want).abs() < 1e-6, "[{i}] {} vs {want}", p[i]);
    }
}

/// The largest singular value of `w` (rows × cols) by Jacobi on WᵀW: an
/// independent reference for the power iteration.
fn top_singular_value(w: &[f32], rows: usize, cols: usize) -> f64 {
    let mut wtw = vec![0.0f64; cols * cols];
    for a in 0..cols {
        for b in 0..cols {
            wtw[a * cols + b] = (0..rows)
                .map(|i| w[i * cols + a] as f64 * w[i * cols + b] as f64)
                .sum();
        }
    }
    let (values, _) = genlab::score::symmetric_eigen(&wtw, cols);
    values.iter().fold(0.0f64, |m, &v| m.max(v)).sqrt()
}

/// σ and W_sn once the power iteration has converged from `u`.
fn converged(w: &[f32], u: &mut [f32], s: cpu::SpectralShape) -> (f32, Vec<f32>, Vec<f32>) {
    let (mut w_sn, mut v, mut sigma) = (vec![0.0; s.len()], vec![0.0; s.cols], [0.0]);
    for _ in 0..500 {
        cpu::spectral_norm_forward(&mut w_sn, u, &mut v, &mut sigma, w, s);
    }
    (sigma[0], w_sn, v)
}

#[test]
fn spectral_norm_finds_the_top_singular_value_and_its_gradient() {
    // Wide, tall, a single row and a single column.
    for (i, &(rows, cols)) in [(5, 9), (11, 4), (1, 7), (6, 1)].iter().enumerate() {
        let s = cpu::SpectralShape { rows, cols };
        let mut rng = Rng::new(70 + i as u32, 0);
        let w = rng.uniform_vec(s.len(), -1.0, 1.0);
        let u0 = rng.normal_vec(rows, 1.0);
        let mut u = u0.clone();
        let (sigma, w_sn, v) = converged(&w, &mut u, s);
        let want = top_singular_value(&w, rows, cols);
        assert!(
            (sigma as f64 - want).abs() < 1e-4 * want,
            "{s:?}: σ {sigma} against {want} by Jacobi"
        );
        let after = top_singular_value(&w_sn, rows, cols);
        assert!((after - 1.0).abs() < 1e-4, "{s:?}: W_sn's σ is {after}");
        // L = Σ r·W_sn(W), W_sn(W) = W / σ(W) with the exact σ; the backward
        // holds the converged u, v fixed, which is exact at convergence.
        let r = rng.uniform_vec(s.len(), -1.0, 1.0);
        let mut dw = vec![0.0; s.len()];
        cpu::spectral_norm_backward(&mut dw, &r, &w_sn, &u, &v, &[sigma], s);
        check(&format!("spectral_norm {s:?}"), &w, &dw, |wp| {
            let sig = top_singular_value(wp, rows, cols);
            wp.iter()
                .zip(&r)
                .map(|(&x, &ri)| x as f64 / sig * ri as f64)
                .sum()
        });
    }
    // An all-zero matrix gives W_sn = 0 and σ = 0, not NaN.
    let s = cpu::SpectralShape { rows: 3, cols: 2 };
    let (sigma, w_sn, _) = converged(&[0.0; 6], &mut [1.0, 0.0, 0.0], s);
    assert_eq!((sigma, w_sn), (0.0, vec![0.0; 6]));
}
