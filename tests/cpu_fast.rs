//! The fast CPU ops (sgemm + im2col) against the plain-loop reference, on
//! shapes that are not multiples of anything, batch 1 and > 1, with the
//! accumulate semantics of backward. Runs natively and, since these are the
//! CPU backend's kernels in the page, in headless Chrome (wasm32 + simd128).

mod common;

use common::assert_close;
use genlab::backends::cpu::Scratch;
use genlab::core::rng::Rng;
use genlab::core::{Activation, Conv2dGeom, Grad, LinearShape, MatmulShape};
use genlab::ops::{self as cpu, fast};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const RTOL: f32 = 1e-4;
const ATOL: f32 = 1e-5;

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn matmul_matches_reference_for_every_transpose() {
    for &(m, n, k) in &[
        (1, 1, 1),
        (1, 37, 70),
        (65, 3, 17),
        (70, 67, 33),
        (130, 129, 257),
    ] {
        for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
            let mut rng = Rng::new(1, (m + n + k) as u32);
            let a = rng.uniform_vec(m * k, -1.0, 1.0);
            let b = rng.uniform_vec(k * n, -1.0, 1.0);
            let c0 = rng.uniform_vec(m * n, -1.0, 1.0);
            for accumulate in [false, true] {
                let (mut want, mut got) = (c0.clone(), c0.clone());
                cpu::matmul(
                    &mut want,
                    &a,
                    &b,
                    MatmulShape {
                        m,
                        n,
                        k,
                        trans_a: ta,
                        trans_b: tb,
                    },
                    Grad::from_accumulate(accumulate),
                );
                fast::matmul(
                    &mut got,
                    &a,
                    &b,
                    MatmulShape {
                        m,
                        n,
                        k,
                        trans_a: ta,
                        trans_b: tb,
                    },
                    Grad::from_accumulate(accumulate),
                );
                assert_close(
                    &format!("matmul {m}x{n}x{k} tA {ta} tB {tb} acc {accumulate}"),
                    &got,
                    &want,
                    RTOL,
                    ATOL,
                );
            }
        }
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn linear_matches_reference() {
    for &(n, d_in, d_out) in &[(1, 70, 45), (5, 13, 129)] {
        let mut rng = Rng::new(2, n as u32);
        let x = rng.uniform_vec(n * d_in, -1.0, 1.0);
        let w = rng.uniform_vec(d_out * d_in, -0.5, 0.5);
        let b = rng.uniform_vec(d_out, -0.5, 0.5);
        let dy = rng.uniform_vec(n * d_out, -1.0, 1.0);
        let init = rng.uniform_vec(d_out * d_in + d_out + n * d_in, -1.0, 1.0);
        let (mut y_want, mut y_got) = (vec![0.0; n * d_out], vec![0.0; n * d_out]);
        cpu::linear_forward(
            &mut y_want,
            &x,
            &w,
            Some(&b),
            LinearShape { n, d_in, d_out },
            Activation::LeakyRelu(0.2),
        );
        fast::linear_forward(
            &mut y_got,
            &x,
            &w,
            Some(&b),
            LinearShape { n, d_in, d_out },
            Activation::LeakyRelu(0.2),
            1,
        );
        assert_close("linear_forward", &y_got, &y_want, RTOL, ATOL);
        let mut want = init.clone();
        let mut got = init.clone();
        for (buf, f) in [
            (&mut want, cpu::linear_backward as fn(_, _, _, _, _, _, _)),
            (&mut got, |dx, dw, db, dy, x, w, shape| {
                fast::linear_backward(dx, dw, db, dy, x, w, shape, 1)
            }),
        ] {
            let (dw, rest) = buf.split_at_mut(d_out * d_in);
            let (db, dx) = rest.split_at_mut(d_out);
            f(
                Some(dx),
                dw,
                Some(db),
                &dy,
                &x,
                &w,
                LinearShape { n, d_in, d_out },
            );
        }
        assert_close("linear_backward (dw, db, dx)", &got, &want, RTOL, ATOL);
    }
}

fn conv_geometries() -> Vec<Conv2dGeom> {
    vec![
        Conv2dGeom::same(1, 1, 28, 28, 3, 5, 2),
        Conv2dGeom::same(2, 3, 14, 14, 5, 5, 2),
        Conv2dGeom::same(3, 2, 7, 9, 3, 5, 1),
        Conv2dGeom::valid(2, 3, 10, 11, 4, 3, 2),
        Conv2dGeom::same(1, 5, 6, 6, 70, 3, 1),
        Conv2dGeom::valid(2, 2, 7, 7, 3, 1, 2),
        // Five images: three threads take two, two and one.
        Conv2dGeom::same(5, 2, 9, 8, 3, 5, 2),
        // Stride 3 (im2col's general strided copy), and a one-pixel-wide
        // image under a 5-wide kernel: most taps fall wholly outside it.
        Conv2dGeom::same(2, 2, 11, 10, 3, 4, 3),
        Conv2dGeom::same(2, 2, 3, 1, 3, 5, 2),
    ]
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn conv2d_matches_reference() {
    // Shared by every shape, as a training step shares it.
    conv2d_check(&mut Scratch::default());
}

fn conv2d_check(scratch: &mut Scratch) {
    let scratch = &mut *scratch;
    for g in conv_geometries() {
        let mut rng = Rng::new(3, g.c_out as u32);
        let x = rng.uniform_vec(g.input_len(), -1.0, 1.0);
        let w = rng.uniform_vec(g.weight_len(), -0.5, 0.5);
        let b = rng.uniform_vec(g.c_out, -0.5, 0.5);
        let dy = rng.uniform_vec(g.output_len(), -1.0, 1.0);
        let dx0 = rng.uniform_vec(g.input_len(), -1.0, 1.0);
        let dw0 = rng.uniform_vec(g.weight_len(), -1.0, 1.0);
        let act = Activation::Tanh;
        let (mut y_want, mut y_got) = (vec![0.0; g.output_len()], vec![0.0; g.output_len()]);
        cpu::conv2d_forward(&mut y_want, &x, &w, Some(&b), &g, act);
        fast::conv2d_forward(&mut y_got, &x, &w, Some(&b), &g, act, scratch);
        assert_close(
            &format!("conv2d_forward {g:?}"),
            &y_got,
            &y_want,
            RTOL,
            ATOL,
        );
        let (mut want, mut got) = (dx0.clone(), dx0.clone());
        cpu::conv2d_backward_input(&mut want, &dy, &w, &g);
        fast::conv2d_backward_input(&mut got, &dy, &w, &g, scratch);
        assert_close(
            &format!("conv2d_backward_input {g:?}"),
            &got,
            &want,
            RTOL,
            ATOL,
        );
        let (mut want, mut got) = (dw0.clone(), dw0.clone());
        cpu::conv2d_backward_weight(&mut want, &dy, &x, &g);
        fast::conv2d_backward_weight(&mut got, &dy, &x, &g, scratch);
        assert_close(
            &format!("conv2d_backward_weight {g:?}"),
            &got,
            &want,
            RTOL,
            ATOL,
        );
    }
}

#[cfg_attr(not(target_arch = "wasm32"), test)]
#[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
fn conv_transpose2d_matches_reference() {
    conv_transpose2d_check(&mut Scratch::default());
}

fn conv_transpose2d_check(scratch: &mut Scratch) {
    let geometries = [
        Conv2dGeom::transposed_same(1, 6, 7, 7, 5, 5, 1),
        Conv2dGeom::transposed_same(2, 5, 7, 7, 3, 5, 2),
        Conv2dGeom::transposed_same(2, 3, 10, 9, 1, 5, 2),
        Conv2dGeom::transposed_same(1, 2, 3, 4, 3, 1, 2),
        Conv2dGeom::transposed_same(5, 4, 7, 7, 3, 5, 2),
        Conv2dGeom::transposed_same(2, 3, 4, 3, 2, 5, 3),
    ];
    for g in geometries {
        let mut rng = Rng::new(4, g.c_in as u32);
        let x = rng.uniform_vec(g.output_len(), -1.0, 1.0);
        let w = rng.uniform_vec(g.weight_len(), -0.5, 0.5);
        let b = rng.uniform_vec(g.c_in, -0.5, 0.5);
        let dy = rng.uniform_vec(g.input_len(), -1.0, 1.0);
        let dx0 = rng.uniform_vec(g.output_len(), -1.0, 1.0);
        let dw0 = rng.uniform_vec(g.weight_len(), -1.0, 1.0);
        let (mut y_want, mut y_got) = (vec![0.0; g.input_len()], vec![1.0; g.input_len()]);
        cpu::conv_transpose2d_forward(&mut y_want, &x, &w, Some(&b), &g, Activation::Sigmoid);
        fast::conv_transpose2d_forward(
            &mut y_got,
            &x,
            &w,
            Some(&b),
            &g,
            Activation::Sigmoid,
            scratch,
        );
        assert_close(
            &format!("conv_transpose2d_forward {g:?}"),
            &y_got,
            &y_want,
            RTOL,
            ATOL,
        );
        let (mut want, mut got) = (dx0.clone(), dx0.clone());
        cpu::conv_transpose2d_backward_input(&mut want, &dy, &w, &g);
        fast::conv_transpose2d_backward_input(&mut got, &dy, &w, &g, scratch);
        assert_close(
            &format!("conv_transpose2d_backward_input {g:?}"),
            &got,
            &want,
            RTOL,
            ATOL,
        );
        let (mut want, mut got) = (dw0.clone(), dw0.clone());
        cpu::conv_transpose2d_backward_weight(&mut want, &dy, &x, &g);
        fast::conv_transpose2d_backward_weight(&mut got, &dy, &x, &g, scratch);
        assert_close(
            &format!("conv_transpose2d_backward_weight {g:?}"),
            &got,
            &want,
            RTOL,
            ATOL,
        );
    }
}

/// The same ops on several threads (natively; the browser's build uses one):
/// products split by rows or by columns, convolutions by images, partial
/// weight gradients summed in order.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn threaded_ops_match_reference() {
    for threads in [2, 3] {
        // Rows split (m ≥ n), columns split (n > m), and one below the size that splits.
        for &(m, n, k) in &[(130, 129, 257), (5, 700, 100), (64, 1, 6272), (20, 20, 20)] {
            for (ta, tb) in [(false, false), (true, false), (false, true), (true, true)] {
                let mut rng = Rng::new(5, (m + n + k) as u32);
                let a = rng.uniform_vec(m * k, -1.0, 1.0);
                let b = rng.uniform_vec(k * n, -1.0, 1.0);
                let c0 = rng.uniform_vec(m * n, -1.0, 1.0);
                for accumulate in [false, true] {
                    let (mut want, mut got) = (c0.clone(), c0.clone());
                    cpu::matmul(
                        &mut want,
                        &a,
                        &b,
                        MatmulShape {
                            m,
                            n,
                            k,
                            trans_a: ta,
                            trans_b: tb,
                        },
                        Grad::from_accumulate(accumulate),
                    );
                    fast::matmul_threaded(
                        threads,
                        &mut got,
                        &a,
                        &b,
                        MatmulShape {
                            m,
                            n,
                            k,
                            trans_a: ta,
                            trans_b: tb,
                        },
                        Grad::from_accumulate(accumulate),
                    );
                    let what = format!(
                        "matmul on {threads} threads {m}x{n}x{k} tA {ta} tB {tb} acc {accumulate}"
                    );
                    // Long sums cancel: the absolute error grows like √K.
                    assert_close(&what, &got, &want, RTOL, ATOL * (k as f32).sqrt());
                }
            }
        }
        conv2d_check(&mut Scratch::with_threads(threads));
        conv_transpose2d_check(&mut Scratch::with_threads(threads));
    }
}

/// A given thread count gives the same bits every time.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn threaded_weight_gradients_repeat_exactly() {
    let g = Conv2dGeom::same(7, 16, 14, 14, 32, 5, 2);
    let mut rng = Rng::new(6, 0);
    let x = rng.uniform_vec(g.input_len(), -1.0, 1.0);
    let dy = rng.uniform_vec(g.output_len(), -1.0, 1.0);
    let run = || {
        let mut dw = vec![0.0; g.weight_len()];
        fast::conv2d_backward_weight(&mut dw, &dy, &x, &g, &mut Scratch::with_threads(3));
        dw
    };
    let first = run();
    for _ in 0..3 {
        assert!(
            run() == first,
            "conv2d_backward_weight on 3 threads changed between runs"
        );
    }
}

/// Batch norm and Adam on threads give the reference's bits exactly: each
/// channel (each weight) is computed by one thread, in the reference's order.
#[cfg(not(target_arch = "wasm32"))]
#[test]
fn threaded_batchnorm_and_adam_are_the_reference_to_the_bit() {
    use genlab::core::{AdamConfig, BatchNormConfig, ChannelShape};
    // Odd channel counts, images of 1 and 7×5 pixels, more channels than threads and fewer.
    for (n, c, p) in [(64, 515, 1), (9, 3, 35), (33, 128, 49), (2, 1, 40000)] {
        let s = ChannelShape { n, c, p };
        let mut rng = Rng::new(c as u32, p as u32);
        let x = rng.uniform_vec(s.len(), -2.0, 3.0);
        let dy = rng.uniform_vec(s.len(), -1.0, 1.0);
        let gamma = rng.uniform_vec(c, 0.5, 1.5);
        let beta = rng.uniform_vec(c, -0.5, 0.5);
        let cfg = BatchNormConfig::default();
        let reference = || {
            let (mut y, mut mean, mut inv) = (vec![0.0; s.len()], vec![0.0; c], vec![0.0; c]);
            let (mut rm, mut rv) = (vec![0.1; c], vec![0.9; c]);
            cpu::batchnorm_forward_train(
                &mut y,
                &mut mean,
                &mut inv,
                &mut rm,
                &mut rv,
                &x,
                &gamma,
                &beta,
                (n, c, p),
                cfg,
            );
            let (mut dx, mut dg, mut db) = (vec![0.5; s.len()], vec![0.25; c], vec![0.0; c]);
            cpu::batchnorm_backward(
                &mut dx,
                &mut dg,
                &mut db,
                &dy,
                &x,
                &gamma,
                &mean,
                &inv,
                (n, c, p),
            );
            [y, mean, inv, rm, rv, dx, dg, db]
        };
        let threaded = |threads| {
            let (mut y, mut mean, mut inv) = (vec![0.0; s.len()], vec![0.0; c], vec![0.0; c]);
            let (mut rm, mut rv) = (vec![0.1; c], vec![0.9; c]);
            fast::batchnorm_forward_train(
                &mut y, &mut mean, &mut inv, &mut rm, &mut rv, &x, &gamma, &beta, s, cfg, threads,
            );
            let (mut dx, mut dg, mut db) = (vec![0.5; s.len()], vec![0.25; c], vec![0.0; c]);
            fast::batchnorm_backward(
                &mut dx, &mut dg, &mut db, &dy, &x, &gamma, &mean, &inv, s, threads,
            );
            [y, mean, inv, rm, rv, dx, dg, db]
        };
        let want = reference();
        for threads in [1, 2, 3, 8] {
            assert!(
                threaded(threads) == want,
                "batch norm {s:?} on {threads} threads"
            );
        }
    }
    let len = 100_003;
    let mut rng = Rng::new(3, 3);
    let (p0, g) = (
        rng.uniform_vec(len, -1.0, 1.0),
        rng.uniform_vec(len, -1.0, 1.0),
    );
    let cfg = AdamConfig::default();
    let run = |threads| {
        let (mut p, mut m, mut v) = (p0.clone(), vec![0.0; len], vec![0.0; len]);
        for t in 1..=3 {
            fast::adam_step_threaded(threads, &mut p, &g, &mut m, &mut v, t, cfg);
        }
        [p, m, v]
    };
    let one = run(1);
    let mut want = [p0.clone(), vec![0.0; len], vec![0.0; len]];
    {
        let [p, m, v] = &mut want;
        for t in 1..=3 {
            fast::adam_step(p, &g, m, v, t, cfg);
        }
    }
    assert!(one == want);
    for threads in [2, 3] {
        assert!(run(threads) == want, "adam on {threads} threads");
    }
}
