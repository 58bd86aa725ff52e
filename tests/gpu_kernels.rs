//! Every WGSL kernel against the CPU reference, on random inputs and shapes
//! that are not multiples of the 64×64×16 GEMM tile or the 256-thread
//! workgroup, with batch 1 and batch > 1. Runs natively (`cargo test`) and in
//! headless Chrome (`wasm-pack test --headless --chrome`).

mod common;

use common::{assert_close, run_read};
use genlab::backends::gpu::{Gpu, Launch, Tensor, Tile};
use genlab::backends::Backend;
use genlab::core::rng::Rng;
use genlab::core::{
    Activation, AdamConfig, BatchNormConfig, ChannelShape, Conv2dGeom, Grad, LinearShape,
    MatmulShape, RandomStream,
};
use genlab::ops::{self as cpu, *};

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const RTOL: f32 = 1e-4;
const ATOL: f32 = 1e-5;

fn upload(gpu: &Gpu, v: &[f32]) -> Tensor {
    Tensor::from_slice(gpu, v)
}

async fn matmul_all_variants(gpu: &'static Gpu) {
    // (m, n, k): single elements, a tile edge plus one, ragged everything.
    // Every tile shape and split-K are covered; the assertions keep it so.
    let shapes = [
        (1, 1, 1),
        (1, 37, 70),
        (65, 3, 17),
        (70, 67, 33),
        (5, 130, 40),
        (300, 1, 50),
        (20, 30, 1100),
        (40, 36, 1100),
        (33, 65, 70),
    ];
    let tiles: std::collections::HashSet<_> = shapes
        .iter()
        .map(|&(m, n, k)| Tile::choose(m, n, k))
        .collect();
    assert_eq!(
        tiles.len(),
        Tile::ALL.len(),
        "matmul shapes must cover every tile"
    );
    for &(m, n, k) in &shapes {
        for (trans_a, trans_b) in [(false, false), (true, false), (false, true), (true, true)] {
            for (accumulate, bias, act) in [
                (false, false, Activation::None),
                (true, true, Activation::LeakyRelu(0.2)),
                (false, true, Activation::Tanh),
            ] {
                let mut rng = Rng::new((m * 1000 + n * 10 + k) as u32, 1);
                let a = rng.uniform_vec(m * k, -1.0, 1.0);
                let b = rng.uniform_vec(k * n, -1.0, 1.0);
                let bv = rng.uniform_vec(n, -1.0, 1.0);
                let c0 = rng.uniform_vec(m * n, -1.0, 1.0);
                let mut want = c0.clone();
                cpu::matmul(
                    &mut want,
                    &a,
                    &b,
                    MatmulShape {
                        m,
                        n,
                        k,
                        trans_a,
                        trans_b,
                    },
                    Grad::from_accumulate(accumulate),
                );
                for i in 0..m * n {
                    let v = want[i] + if bias { bv[i % n] } else { 0.0 };
                    want[i] = act.apply(v);
                }
                let (ga, gb, gbias, gc) = (
                    upload(gpu, &a),
                    upload(gpu, &b),
                    upload(gpu, &bv),
                    upload(gpu, &c0),
                );
                let op = Matmul {
                    shape: MatmulShape {
                        m,
                        n,
                        k,
                        trans_a,
                        trans_b,
                    },
                    grad: if accumulate {
                        Grad::Accumulate
                    } else {
                        Grad::Write
                    },
                    act,
                };
                let t = MatmulTensors {
                    c: &gc,
                    a: &ga,
                    b: &gb,
                    bias: bias.then_some(&gbias),
                };
                let l = gpu.bind(&op, t);
                if (m, n, k) == (20, 30, 1100) {
                    assert_eq!(
                        l.dispatch_count(),
                        2,
                        "this shape must take the split-K path"
                    );
                }
                let got = run_read(gpu, &[&l], &gc).await;
                assert_close(
                    &format!(
                        "matmul m{m} n{n} k{k} tA {trans_a} tB {trans_b} acc {accumulate} {act:?}"
                    ),
                    &got,
                    &want,
                    RTOL,
                    ATOL,
                );
            }
        }
    }
}
gpu_test!(matmul_matches_cpu, matmul_all_variants);

async fn linear_forward_backward(gpu: &'static Gpu) {
    for &(n, d_in, d_out) in &[(1, 70, 45), (5, 13, 129)] {
        let mut rng = Rng::new(11, n as u32);
        let x = rng.uniform_vec(n * d_in, -1.0, 1.0);
        let w = rng.uniform_vec(d_out * d_in, -0.5, 0.5);
        let b = rng.uniform_vec(d_out, -0.5, 0.5);
        let dy = rng.uniform_vec(n * d_out, -1.0, 1.0);
        let dw0 = rng.uniform_vec(d_out * d_in, -1.0, 1.0); // non-zero: weight grads accumulate
        let db0 = rng.uniform_vec(d_out, -1.0, 1.0);
        let mut y = vec![0.0; n * d_out];
        cpu::linear_forward(
            &mut y,
            &x,
            &w,
            Some(&b),
            LinearShape { n, d_in, d_out },
            Activation::Sigmoid,
        );
        let (mut dx, mut dw, mut db) = (vec![0.0; n * d_in], dw0.clone(), db0.clone());
        cpu::linear_backward(
            Some(&mut dx),
            &mut dw,
            Some(&mut db),
            &dy,
            &x,
            &w,
            LinearShape { n, d_in, d_out },
        );

        let (gx, gw, gb, gdy) = (
            upload(gpu, &x),
            upload(gpu, &w),
            upload(gpu, &b),
            upload(gpu, &dy),
        );
        let (gy, gdx, gdw, gdb) = (
            Tensor::zeros(gpu, n * d_out),
            Tensor::zeros(gpu, n * d_in),
            upload(gpu, &dw0),
            upload(gpu, &db0),
        );
        let shape = LinearShape { n, d_in, d_out };
        let fwd = gpu.bind(
            &LinearForward {
                shape,
                act: Activation::Sigmoid,
            },
            LinearForwardTensors {
                y: &gy,
                x: &gx,
                w: &gw,
                b: Some(&gb),
            },
        );
        let bi = gpu.bind(
            &LinearBackwardInput {
                shape,
                grad: Grad::Write,
            },
            LinearBackwardInputTensors {
                dx: &gdx,
                dy: &gdy,
                w: &gw,
            },
        );
        let bw = gpu.bind(
            &LinearBackwardWeight { shape },
            LinearBackwardWeightTensors {
                dw: &gdw,
                dy: &gdy,
                x: &gx,
            },
        );
        let bb = gpu.bind(
            &BiasBackward {
                shape: ChannelShape { n, c: d_out, p: 1 },
            },
            BiasBackwardTensors { db: &gdb, dy: &gdy },
        );
        gpu.run_launches(&[&fwd, &bi, &bw, &bb]);
        let tag = format!("n{n} in{d_in} out{d_out}");
        assert_close(
            &format!("linear_forward {tag}"),
            &gy.read(gpu).await.unwrap(),
            &y,
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("linear_backward_input {tag}"),
            &gdx.read(gpu).await.unwrap(),
            &dx,
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("linear_backward_weight {tag}"),
            &gdw.read(gpu).await.unwrap(),
            &dw,
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("bias_backward {tag}"),
            &gdb.read(gpu).await.unwrap(),
            &db,
            RTOL,
            ATOL,
        );
    }
}
gpu_test!(linear_matches_cpu, linear_forward_backward);

fn conv_geometries() -> Vec<Conv2dGeom> {
    vec![
        Conv2dGeom::same(1, 1, 28, 28, 3, 5, 2), // the DCGAN's 28→14, asymmetric padding, batch 1
        Conv2dGeom::same(2, 3, 14, 14, 5, 5, 2), // 14→7
        Conv2dGeom::same(3, 2, 7, 9, 3, 5, 1),   // 5×5 stride 1, non-square
        Conv2dGeom::valid(2, 3, 10, 11, 4, 3, 2), // no padding, ragged
        Conv2dGeom::same(1, 5, 6, 6, 70, 3, 1),  // C_out past one GEMM tile
        Conv2dGeom::same(4, 2, 28, 28, 3, 5, 2), // weight gradient over K = 784: split-K
        Conv2dGeom::valid(2, 2, 7, 7, 3, 1, 2),  // 1×1 stride 2: phases with no taps
        Conv2dGeom::same(2, 34, 9, 9, 37, 3, 2), // every side past Tile::SKINNY: the tiled GEMM form
    ]
}

async fn conv2d_all(gpu: &'static Gpu) {
    for g in conv_geometries() {
        let mut rng = Rng::new(12, g.c_out as u32);
        let x = rng.uniform_vec(g.input_len(), -1.0, 1.0);
        let w = rng.uniform_vec(g.weight_len(), -0.5, 0.5);
        let b = rng.uniform_vec(g.c_out, -0.5, 0.5);
        let dy = rng.uniform_vec(g.output_len(), -1.0, 1.0);
        let dx0 = rng.uniform_vec(g.input_len(), -1.0, 1.0);
        let dw0 = rng.uniform_vec(g.weight_len(), -1.0, 1.0);
        let db0 = rng.uniform_vec(g.c_out, -1.0, 1.0);
        let act = Activation::LeakyRelu(0.2);
        let mut y = vec![0.0; g.output_len()];
        cpu::conv2d_forward(&mut y, &x, &w, Some(&b), &g, act);
        let (mut dx, mut dw, mut db) = (dx0.clone(), dw0.clone(), db0.clone());
        cpu::conv2d_backward_input(&mut dx, &dy, &w, &g);
        cpu::conv2d_backward_weight(&mut dw, &dy, &x, &g);
        cpu::bias_backward(&mut db, &dy, g.n, g.c_out, g.h_out * g.w_out);

        let (gx, gw, gb, gdy) = (
            upload(gpu, &x),
            upload(gpu, &w),
            upload(gpu, &b),
            upload(gpu, &dy),
        );
        let (gy, gdx, gdw, gdb) = (
            Tensor::zeros(gpu, y.len()),
            upload(gpu, &dx0),
            upload(gpu, &dw0),
            upload(gpu, &db0),
        );
        let fwd = gpu.bind(
            &Conv2dForward { geom: g, act },
            ConvForwardTensors {
                y: &gy,
                x: &gx,
                w: &gw,
                b: Some(&gb),
            },
        );
        let bi = gpu.bind(
            &Conv2dBackwardInput {
                geom: g,
                grad: Grad::Accumulate,
                path: ConvInputPath::Auto,
            },
            ConvBackwardInputTensors {
                dx: &gdx,
                dy: &gdy,
                w: &gw,
            },
        );
        let bw = gpu.bind(
            &Conv2dBackwardWeight { geom: g },
            ConvBackwardWeightTensors {
                dw: &gdw,
                dy: &gdy,
                x: &gx,
            },
        );
        let channels = ChannelShape {
            n: g.n,
            c: g.c_out,
            p: g.h_out * g.w_out,
        };
        let bb = gpu.bind(
            &BiasBackward { shape: channels },
            BiasBackwardTensors { db: &gdb, dy: &gdy },
        );
        gpu.run_launches(&[&fwd, &bi, &bw, &bb]);
        assert_close(
            &format!("conv2d_forward {g:?}"),
            &gy.read(gpu).await.unwrap(),
            &y,
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("conv2d_backward_input {g:?}"),
            &gdx.read(gpu).await.unwrap(),
            &dx,
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("conv2d_backward_weight {g:?}"),
            &gdw.read(gpu).await.unwrap(),
            &dw,
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("bias_backward (conv) {g:?}"),
            &gdb.read(gpu).await.unwrap(),
            &db,
            RTOL,
            ATOL,
        );
        // Both forms of the input gradient, whatever Auto picks for this shape, in write mode.
        let mut dx_fresh = vec![0.0; g.input_len()];
        cpu::conv2d_backward_input(&mut dx_fresh, &dy, &w, &g);
        for path in [ConvInputPath::Gemm, ConvInputPath::Direct] {
            let out = upload(gpu, &dx0); // overwritten, not accumulated
            let op = Conv2dBackwardInput {
                geom: g,
                grad: Grad::Write,
                path,
            };
            let t = ConvBackwardInputTensors {
                dx: &out,
                dy: &gdy,
                w: &gw,
            };
            let l = gpu.bind(&op, t);
            assert_close(
                &format!("conv2d_backward_input {path:?} {g:?}"),
                &run_read(gpu, &[&l], &out).await,
                &dx_fresh,
                RTOL,
                ATOL,
            );
        }
    }
}
gpu_test!(conv2d_matches_cpu, conv2d_all);

async fn conv_transpose2d_all(gpu: &'static Gpu) {
    let geometries = [
        Conv2dGeom::transposed_same(1, 6, 7, 7, 5, 5, 1), // the generator's 7→7, batch 1
        Conv2dGeom::transposed_same(2, 5, 7, 7, 3, 5, 2), // 7→14
        Conv2dGeom::transposed_same(2, 3, 10, 9, 1, 5, 2), // to one channel (tall tile), ragged
        Conv2dGeom::transposed_same(1, 3, 4, 4, 67, 3, 2),
        Conv2dGeom::transposed_same(1, 2, 3, 4, 3, 1, 2), // 1×1: odd pixels get the bias alone
        Conv2dGeom::transposed_same(2, 35, 5, 5, 33, 3, 2), // past Tile::SKINNY: the tiled form
    ];
    for g in geometries {
        let mut rng = Rng::new(13, g.c_in as u32);
        let x = rng.uniform_vec(g.output_len(), -1.0, 1.0); // transposed conv input
        let w = rng.uniform_vec(g.weight_len(), -0.5, 0.5);
        let b = rng.uniform_vec(g.c_in, -0.5, 0.5);
        let dy = rng.uniform_vec(g.input_len(), -1.0, 1.0);
        let dw0 = rng.uniform_vec(g.weight_len(), -1.0, 1.0);
        let act = Activation::Tanh;
        let mut y = vec![0.0; g.input_len()];
        cpu::conv_transpose2d_forward(&mut y, &x, &w, Some(&b), &g, act);
        let (mut dx, mut dw) = (vec![0.0; g.output_len()], dw0.clone());
        cpu::conv_transpose2d_backward_input(&mut dx, &dy, &w, &g);
        cpu::conv_transpose2d_backward_weight(&mut dw, &dy, &x, &g);

        let (gx, gw, gb, gdy) = (
            upload(gpu, &x),
            upload(gpu, &w),
            upload(gpu, &b),
            upload(gpu, &dy),
        );
        let (gy, gdx, gdw) = (
            Tensor::zeros(gpu, y.len()),
            Tensor::zeros(gpu, dx.len()),
            upload(gpu, &dw0),
        );
        let fwd = gpu.bind(
            &ConvTranspose2dForward { geom: g, act },
            ConvForwardTensors {
                y: &gy,
                x: &gx,
                w: &gw,
                b: Some(&gb),
            },
        );
        let bi = gpu.bind(
            &ConvTranspose2dBackwardInput {
                geom: g,
                grad: Grad::Write,
            },
            ConvBackwardInputTensors {
                dx: &gdx,
                dy: &gdy,
                w: &gw,
            },
        );
        let bw = gpu.bind(
            &ConvTranspose2dBackwardWeight { geom: g },
            ConvBackwardWeightTensors {
                dw: &gdw,
                dy: &gdy,
                x: &gx,
            },
        );
        gpu.run_launches(&[&fwd, &bi, &bw]);
        assert_close(
            &format!("conv_transpose2d_forward {g:?}"),
            &gy.read(gpu).await.unwrap(),
            &y,
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("conv_transpose2d_backward_input {g:?}"),
            &gdx.read(gpu).await.unwrap(),
            &dx,
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("conv_transpose2d_backward_weight {g:?}"),
            &gdw.read(gpu).await.unwrap(),
            &dw,
            RTOL,
            ATOL,
        );
    }
}
gpu_test!(conv_transpose2d_matches_cpu, conv_transpose2d_all);

async fn activations_all(gpu: &'static Gpu) {
    let len = 1000; // four workgroups, the last one ragged
    let mut rng = Rng::new(14, 0);
    let x = rng.uniform_vec(len, -12.0, 12.0); // past tanh's and exp's comfortable range
    let dy = rng.uniform_vec(len, -1.0, 1.0);
    let dx0 = rng.uniform_vec(len, -1.0, 1.0);
    for act in [
        Activation::Relu,
        Activation::LeakyRelu(0.2),
        Activation::Tanh,
        Activation::Sigmoid,
    ] {
        for accumulate in [false, true] {
            let mut y = vec![0.0; len];
            cpu::activation_forward(&mut y, &x, act);
            let mut dx = if accumulate {
                dx0.clone()
            } else {
                vec![0.0; len]
            };
            cpu::activation_backward(&mut dx, &dy, &y, act);
            let (gx, gdy, gy) = (upload(gpu, &x), upload(gpu, &dy), Tensor::zeros(gpu, len));
            let gdx = if accumulate {
                upload(gpu, &dx0)
            } else {
                Tensor::zeros(gpu, len)
            };
            let f = gpu.bind(
                &ActivationForward { act },
                ActivationForwardTensors { y: &gy, x: &gx },
            );
            let grad = if accumulate {
                Grad::Accumulate
            } else {
                Grad::Write
            };
            let b = gpu.bind(
                &ActivationBackward { act, grad },
                ActivationBackwardTensors {
                    dx: &gdx,
                    dy: &gdy,
                    y: &gy,
                },
            );
            gpu.run_launches(&[&f, &b]);
            assert_close(
                &format!("{act:?} forward"),
                &gy.read(gpu).await.unwrap(),
                &y,
                RTOL,
                ATOL,
            );
            assert_close(
                &format!("{act:?} backward acc {accumulate}"),
                &gdx.read(gpu).await.unwrap(),
                &dx,
                RTOL,
                ATOL,
            );
        }
    }
}
gpu_test!(activations_match_cpu, activations_all);

async fn batchnorm_all(gpu: &'static Gpu) {
    let cfg = BatchNormConfig::default();
    // (N, C, P): dense features, batch 1 images, images past one workgroup per
    // channel; a thread per channel (N·P ≤ NARROW_MAX) over more channels than
    // one workgroup, with P > 1, and just past it (a workgroup per channel).
    for &(n, c, p) in &[
        (7, 5, 1),
        (1, 3, 49),
        (3, 4, 196),
        (2, 300, 1),
        (9, 2, 7),
        (NARROW_MAX + 1, 3, 1),
    ] {
        let len = n * c * p;
        let mut rng = Rng::new(15, len as u32);
        let x = rng.uniform_vec(len, -2.0, 3.0);
        let gamma = rng.uniform_vec(c, 0.5, 1.5);
        let beta = rng.uniform_vec(c, -0.5, 0.5);
        let dy = rng.uniform_vec(len, -1.0, 1.0);
        let rm0 = rng.uniform_vec(c, -0.1, 0.1);
        let rv0 = rng.uniform_vec(c, 0.9, 1.1);
        let (mut y, mut mean, mut invstd, mut rm, mut rv) = (
            vec![0.0; len],
            vec![0.0; c],
            vec![0.0; c],
            rm0.clone(),
            rv0.clone(),
        );
        cpu::batchnorm_forward_train(
            &mut y,
            &mut mean,
            &mut invstd,
            &mut rm,
            &mut rv,
            &x,
            &gamma,
            &beta,
            (n, c, p),
            cfg,
        );
        let (mut dx, mut dg, mut db) = (vec![0.0; len], vec![0.0; c], vec![0.0; c]);
        cpu::batchnorm_backward(
            &mut dx,
            &mut dg,
            &mut db,
            &dy,
            &x,
            &gamma,
            &mean,
            &invstd,
            (n, c, p),
        );
        let mut y_eval = vec![0.0; len];
        cpu::batchnorm_forward_eval(&mut y_eval, &x, &gamma, &beta, &rm, &rv, (n, c, p), cfg);

        let (gx, gg, gbeta, gdy) = (
            upload(gpu, &x),
            upload(gpu, &gamma),
            upload(gpu, &beta),
            upload(gpu, &dy),
        );
        let (gy, gmean, ginv, grm, grv) = (
            Tensor::zeros(gpu, len),
            Tensor::zeros(gpu, c),
            Tensor::zeros(gpu, c),
            upload(gpu, &rm0),
            upload(gpu, &rv0),
        );
        let (gdx, gdg, gdb, gy_eval) = (
            Tensor::zeros(gpu, len),
            Tensor::zeros(gpu, c),
            Tensor::zeros(gpu, c),
            Tensor::zeros(gpu, len),
        );
        let t = BatchNormTensors {
            x: &gx,
            gamma: &gg,
            beta: &gbeta,
            y: &gy,
            mean: &gmean,
            invstd: &ginv,
            running_mean: &grm,
            running_var: &grv,
        };
        let te = BatchNormTensors { y: &gy_eval, ..t };
        let shape = ChannelShape { n, c, p };
        let f = gpu.bind(&BatchNormForwardTrain { shape, cfg }, t);
        let b = gpu.bind(
            &BatchNormBackward {
                shape,
                grad: Grad::Write,
            },
            BatchNormBackwardTensors {
                dx: &gdx,
                dgamma: &gdg,
                dbeta: &gdb,
                dy: &gdy,
                fwd: &t,
            },
        );
        let e = gpu.bind(&BatchNormForwardEval { shape, cfg }, te);
        gpu.run_launches(&[&f, &b, &e]);
        let tag = format!("n{n} c{c} p{p}");
        assert_close(
            &format!("batchnorm_forward_train y {tag}"),
            &gy.read(gpu).await.unwrap(),
            &y,
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("batchnorm mean {tag}"),
            &gmean.read(gpu).await.unwrap(),
            &mean,
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("batchnorm invstd {tag}"),
            &ginv.read(gpu).await.unwrap(),
            &invstd,
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("batchnorm running_mean {tag}"),
            &grm.read(gpu).await.unwrap(),
            &rm,
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("batchnorm running_var {tag}"),
            &grv.read(gpu).await.unwrap(),
            &rv,
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("batchnorm_backward dx {tag}"),
            &gdx.read(gpu).await.unwrap(),
            &dx,
            1e-3,
            1e-4,
        );
        assert_close(
            &format!("batchnorm_backward dgamma {tag}"),
            &gdg.read(gpu).await.unwrap(),
            &dg,
            1e-3,
            1e-4,
        );
        assert_close(
            &format!("batchnorm_backward dbeta {tag}"),
            &gdb.read(gpu).await.unwrap(),
            &db,
            1e-3,
            1e-4,
        );
        assert_close(
            &format!("batchnorm_forward_eval {tag}"),
            &gy_eval.read(gpu).await.unwrap(),
            &y_eval,
            RTOL,
            ATOL,
        );
    }
}
gpu_test!(batchnorm_matches_cpu, batchnorm_all);

async fn random_ops(gpu: &'static Gpu) {
    let len = 777;
    let (seed, stream, step_value) = (1234, 7, 5u32);
    let r = RandomStream {
        seed,
        stream,
        step: step_value,
    };
    let mut rng = Rng::new(16, 0);
    let x = rng.uniform_vec(len, -1.0, 1.0);
    let dy = rng.uniform_vec(len, -1.0, 1.0);
    let (mut y, mut dx, mut noise) = (vec![0.0; len], vec![0.0; len], vec![0.0; len]);
    cpu::dropout_forward(&mut y, &x, 0.3, r);
    cpu::dropout_backward(&mut dx, &dy, 0.3, r);
    cpu::gaussian_noise(&mut noise, 0.5, 2.0, r);

    let step = Tensor::zeros(gpu, 1);
    let bump: Vec<_> = (0..step_value)
        .map(|_| gpu.bind(&StepIncrement, StepTensors { step: &step }))
        .collect();
    let (gx, gdy, gy, gdx, gnoise) = (
        upload(gpu, &x),
        upload(gpu, &dy),
        Tensor::zeros(gpu, len),
        Tensor::zeros(gpu, len),
        Tensor::zeros(gpu, len),
    );
    let key = Key { seed, stream };
    let f = gpu.bind(
        &DropoutForward { rate: 0.3, key },
        DropoutForwardTensors {
            y: &gy,
            x: &gx,
            step: &step,
        },
    );
    let b = gpu.bind(
        &DropoutBackward {
            rate: 0.3,
            key,
            grad: Grad::Write,
        },
        DropoutBackwardTensors {
            dx: &gdx,
            dy: &gdy,
            step: &step,
        },
    );
    let nz = gpu.bind(
        &GaussianNoise {
            mean: 0.5,
            std: 2.0,
            key,
        },
        NoiseTensors {
            out: &gnoise,
            step: &step,
        },
    );
    let mut launches: Vec<_> = bump.iter().collect();
    launches.extend([&f, &b, &nz]);
    gpu.run_launches(&launches);
    // The mask is exact integer arithmetic and an exact float compare: identical on every device.
    assert_close(
        "dropout_forward",
        &gy.read(gpu).await.unwrap(),
        &y,
        1e-6,
        0.0,
    );
    assert_close(
        "dropout_backward",
        &gdx.read(gpu).await.unwrap(),
        &dx,
        1e-6,
        0.0,
    );
    // Box–Muller goes through log and cos, whose last bits vary between implementations.
    assert_close(
        "gaussian_noise",
        &gnoise.read(gpu).await.unwrap(),
        &noise,
        1e-3,
        1e-3,
    );
    let kept = y.iter().filter(|v| **v != 0.0).count() as f32 / len as f32;
    assert!(
        (kept - 0.7).abs() < 0.06,
        "dropout kept {kept} of the values, expected about 0.7"
    );
}
gpu_test!(random_ops_match_cpu, random_ops);

async fn losses_all(gpu: &'static Gpu) {
    for &len in &[1usize, 300, 2 * 784] {
        let mut rng = Rng::new(17, len as u32);
        let x = rng.uniform_vec(len, -6.0, 6.0);
        let t = rng.uniform_vec(len, 0.0, 1.0);
        let (gx, gt, gdx, gloss) = (
            upload(gpu, &x),
            upload(gpu, &t),
            Tensor::zeros(gpu, len),
            Tensor::zeros(gpu, 4),
        );
        type CpuLoss = fn(&mut [f32], &[f32], Target) -> f32;
        type GpuLoss = fn(&Gpu, LossTensors<Tensor>, usize) -> Launch;
        let losses: [(&str, CpuLoss, GpuLoss); 5] = [
            ("bce_with_logits", cpu::bce_with_logits, |g, t, slot| {
                g.bind(&BceWithLogits { slot }, t)
            }),
            ("least_squares", cpu::least_squares, |g, t, slot| {
                g.bind(&LeastSquares { slot }, t)
            }),
            ("mse", cpu::mse, |g, t, slot| g.bind(&Mse { slot }, t)),
            (
                "hinge",
                |dx, x, t| cpu::hinge(dx, x, t, 3),
                |g, t, slot| g.bind(&Hinge { n: 3, slot }, t),
            ),
            ("hinge_generator", cpu::hinge_generator, |g, t, slot| {
                g.bind(&HingeGenerator { slot }, t)
            }),
        ];
        for (name, cpu_loss, gpu_loss) in losses {
            for (target, gtarget) in [
                (Target::Const(1.0), LossTarget::Const(1.0)),
                (Target::Values(&t), LossTarget::Values(&gt)),
            ] {
                let mut dx = vec![0.0; len];
                let l = cpu_loss(&mut dx, &x, target);
                let t = LossTensors {
                    dx: &gdx,
                    x: &gx,
                    target: gtarget,
                    loss: &gloss,
                };
                let launch = gpu_loss(gpu, t, 2);
                let got = run_read(gpu, &[&launch], &gloss).await;
                assert_close(
                    &format!("{name} len {len} loss"),
                    &got[2..3],
                    &[l],
                    RTOL,
                    ATOL,
                );
                assert_close(
                    &format!("{name} len {len} grad"),
                    &gdx.read(gpu).await.unwrap(),
                    &dx,
                    RTOL,
                    1e-7,
                );
            }
        }
        let n = len.div_ceil(784);
        let mut dx = vec![0.0; len];
        let l = cpu::bernoulli_reconstruction(&mut dx, &x, &t, n);
        let launch = gpu.bind(
            &BernoulliReconstruction { n, slot: 0 },
            LossTensors {
                dx: &gdx,
                x: &gx,
                target: LossTarget::Values(&gt),
                loss: &gloss,
            },
        );
        let got = run_read(gpu, &[&launch], &gloss).await;
        assert_close(
            &format!("bernoulli_reconstruction len {len} loss"),
            &got[0..1],
            &[l],
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("bernoulli_reconstruction len {len} grad"),
            &gdx.read(gpu).await.unwrap(),
            &dx,
            RTOL,
            1e-7,
        );
    }
    // Softmax cross-entropy: rows of 10 (and 3) classes, more rows than a workgroup has threads.
    for &(n, k) in &[(1usize, 10usize), (7, 10), (300, 3)] {
        let mut rng = Rng::new(19, n as u32);
        let x = rng.uniform_vec(n * k, -6.0, 6.0);
        let mut t = vec![0.0; n * k];
        for r in 0..n {
            t[r * k + (r * 7 + 3) % k] = 1.0;
        }
        let mut dx = vec![0.0; n * k];
        let l = cpu::softmax_cross_entropy(&mut dx, &x, &t, n);
        let (gx, gt, gdx, gloss) = (
            upload(gpu, &x),
            upload(gpu, &t),
            Tensor::zeros(gpu, n * k),
            Tensor::zeros(gpu, 2),
        );
        let launch = gpu.bind(
            &SoftmaxCrossEntropy { n, slot: 1 },
            TargetLossTensors {
                dx: &gdx,
                logits: &gx,
                t: &gt,
                loss: &gloss,
            },
        );
        let got = run_read(gpu, &[&launch], &gloss).await;
        assert_close(
            &format!("softmax_cross_entropy {n}×{k} loss"),
            &got[1..2],
            &[l],
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("softmax_cross_entropy {n}×{k} grad"),
            &gdx.read(gpu).await.unwrap(),
            &dx,
            RTOL,
            1e-7,
        );
    }
    // The classes loss's G: rows of 1 + 10 (and 1 + 2, and the least,
    // 1 + 1), more rows than a workgroup has threads.
    // With and without the balance term (a sum over rows: the 300 rows
    // are more than the workgroup's threads).
    let cases = [
        (1usize, 11usize, 0.0f32),
        (7, 11, 0.0),
        (300, 3, 0.0),
        (5, 2, 0.0),
        (1, 11, 1.0),
        (7, 11, 0.5),
        (300, 11, 2.0),
        (5, 2, 1.0),
    ];
    for &(n, k, balance) in &cases {
        let mut rng = Rng::new(29, n as u32);
        let x = rng.uniform_vec(n * k, -6.0, 6.0);
        let mut dx = vec![0.0; n * k];
        let l = cpu::classes_generator(&mut dx, &x, n, balance);
        let (gx, gdx, gloss) = (
            upload(gpu, &x),
            Tensor::zeros(gpu, n * k),
            Tensor::zeros(gpu, 2),
        );
        let launch = gpu.bind(
            &ClassesGenerator {
                n,
                slot: 1,
                balance,
            },
            LogitLossTensors {
                dx: &gdx,
                x: &gx,
                loss: &gloss,
            },
        );
        let got = run_read(gpu, &[&launch], &gloss).await;
        assert_close(
            &format!("classes_generator {n}×{k} balance {balance} loss"),
            &got[1..2],
            &[l],
            RTOL,
            ATOL,
        );
        assert_close(
            &format!("classes_generator {n}×{k} balance {balance} grad"),
            &gdx.read(gpu).await.unwrap(),
            &dx,
            RTOL,
            1e-7,
        );
    }
    for &(n, z) in &[(1usize, 2usize), (9, 20)] {
        let mut rng = Rng::new(18, n as u32);
        let mu = rng.uniform_vec(n * z, -2.0, 2.0);
        let lv = rng.uniform_vec(n * z, -3.0, 1.5);
        let (mut dmu, mut dlv) = (vec![0.0; n * z], vec![0.0; n * z]);
        let l = cpu::gaussian_kl(&mut dmu, &mut dlv, &mu, &lv, n, 0.5);
        let (gmu, glv, gdmu, gdlv, gloss) = (
            upload(gpu, &mu),
            upload(gpu, &lv),
            Tensor::zeros(gpu, n * z),
            Tensor::zeros(gpu, n * z),
            Tensor::zeros(gpu, 2),
        );
        let launch = gpu.bind(
            &GaussianKl {
                n,
                beta: 0.5,
                slot: 1,
            },
            GaussianKlTensors {
                dmu: &gdmu,
                dlogvar: &gdlv,
                mu: &gmu,
                logvar: &glv,
                loss: &gloss,
            },
        );
        let got = run_read(gpu, &[&launch], &gloss).await;
        assert_close(
            &format!("gaussian_kl n{n} z{z} loss"),
            &got[1..2],
            &[l],
            RTOL,
            ATOL,
        );
        assert_close(
            "gaussian_kl dmu",
            &gdmu.read(gpu).await.unwrap(),
            &dmu,
            RTOL,
            ATOL,
        );
        assert_close(
            "gaussian_kl dlogvar",
            &gdlv.read(gpu).await.unwrap(),
            &dlv,
            RTOL,
            ATOL,
        );
    }
}
gpu_test!(losses_match_cpu, losses_all);

async fn reparameterize_all(gpu: &'static Gpu) {
    let len = 5 * 20 + 3;
    let mut rng = Rng::new(19, 0);
    let mu = rng.uniform_vec(len, -1.0, 1.0);
    let lv = rng.uniform_vec(len, -3.0, 1.0);
    let eps = rng.normal_vec(len, 1.0);
    let dz = rng.uniform_vec(len, -1.0, 1.0);
    let dmu0 = rng.uniform_vec(len, -1.0, 1.0);
    let dlv0 = rng.uniform_vec(len, -1.0, 1.0);
    let mut z = vec![0.0; len];
    cpu::reparameterize_forward(&mut z, &mu, &lv, &eps);
    let (mut dmu, mut dlv) = (dmu0.clone(), dlv0.clone());
    cpu::reparameterize_backward(&mut dmu, &mut dlv, &dz, &lv, &eps);
    let (gmu, glv, geps, gdz, gz, gdmu, gdlv) = (
        upload(gpu, &mu),
        upload(gpu, &lv),
        upload(gpu, &eps),
        upload(gpu, &dz),
        Tensor::zeros(gpu, len),
        upload(gpu, &dmu0),
        upload(gpu, &dlv0),
    );
    let f = gpu.bind(
        &ReparameterizeForward,
        ReparameterizeForwardTensors {
            z: &gz,
            mu: &gmu,
            logvar: &glv,
            eps: &geps,
        },
    );
    let b = gpu.bind(
        &ReparameterizeBackward {
            grad: Grad::Accumulate,
        },
        ReparameterizeBackwardTensors {
            dmu: &gdmu,
            dlogvar: &gdlv,
            dz: &gdz,
            logvar: &glv,
            eps: &geps,
        },
    );
    gpu.run_launches(&[&f, &b]);
    assert_close(
        "reparameterize_forward",
        &gz.read(gpu).await.unwrap(),
        &z,
        RTOL,
        ATOL,
    );
    assert_close(
        "reparameterize_backward dmu",
        &gdmu.read(gpu).await.unwrap(),
        &dmu,
        RTOL,
        ATOL,
    );
    assert_close(
        "reparameterize_backward dlogvar",
        &gdlv.read(gpu).await.unwrap(),
        &dlv,
        RTOL,
        ATOL,
    );
}
gpu_test!(reparameterize_matches_cpu, reparameterize_all);

async fn label_concat_all(gpu: &'static Gpu) {
    // Batch 1 and batch > 1; vectors (spatial 1) and odd maps (3×3, 7×5);
    // an out-of-range label (its code is all zeros); both gradient modes.
    let shapes = [
        (1, 7, 10, 1),
        (5, 13, 10, 9),
        (3, 35, 4, 35),
        (300, 1, 3, 1),
    ];
    for (i, &(n, per, classes, spatial)) in shapes.iter().enumerate() {
        let s = LabelShape {
            n,
            per,
            classes,
            spatial,
        };
        let mut rng = Rng::new(40 + i as u32, 0);
        let x = rng.uniform_vec(n * per, -1.0, 1.0);
        let labels: Vec<f32> = (0..n)
            .map(|j| ((j * 7 + i) % (classes + 1)) as f32)
            .collect();
        let dy = rng.uniform_vec(n * s.width(), -1.0, 1.0);
        let dx0 = rng.uniform_vec(n * per, -1.0, 1.0);
        for grad in [Grad::Write, Grad::Accumulate] {
            let mut y = vec![0.0; n * s.width()];
            cpu::label_concat_forward(&mut y, &x, &labels, s);
            let mut dx = if grad.accumulates() {
                dx0.clone()
            } else {
                vec![0.0; n * per]
            };
            cpu::label_concat_backward(&mut dx, &dy, s);
            let (gx, gl, gy, gdy, gdx) = (
                upload(gpu, &x),
                upload(gpu, &labels),
                Tensor::zeros(gpu, n * s.width()),
                upload(gpu, &dy),
                upload(gpu, &dx0),
            );
            let f = gpu.bind(
                &LabelConcat { shape: s },
                LabelConcatTensors {
                    y: &gy,
                    x: &gx,
                    labels: &gl,
                },
            );
            let b = gpu.bind(
                &LabelConcatBackward { shape: s, grad },
                LabelConcatBackwardTensors { dx: &gdx, dy: &gdy },
            );
            gpu.run_launches(&[&f, &b]);
            let what = format!("label_concat {s:?} {grad:?}");
            assert_close(&what, &gy.read(gpu).await.unwrap(), &y, 0.0, 0.0);
            assert_close(&what, &gdx.read(gpu).await.unwrap(), &dx, RTOL, ATOL);
        }
    }
}
gpu_test!(label_concat_matches_cpu, label_concat_all);

async fn adam_and_fill(gpu: &'static Gpu) {
    let len = 1031;
    let cfg = AdamConfig {
        lr: 3e-3,
        ..Default::default()
    };
    let mut rng = Rng::new(20, 0);
    let mut p = rng.uniform_vec(len, -1.0, 1.0);
    let (mut m, mut v) = (vec![0.0; len], vec![0.0; len]);
    let (gp, gg, gm, gv, step) = (
        upload(gpu, &p),
        Tensor::zeros(gpu, len),
        Tensor::zeros(gpu, len),
        Tensor::zeros(gpu, len),
        Tensor::zeros(gpu, 1),
    );
    let tick = gpu.bind(&StepIncrement, StepTensors { step: &step });
    let adam = gpu.bind(
        &AdamStep { cfg },
        AdamTensors {
            p: &gp,
            g: &gg,
            m: &gm,
            v: &gv,
            step: &step,
            avg: None,
        },
    );
    for t in 1..=3u32 {
        // A new gradient each step, then the same three-kernel step as training uses.
        let g = rng.uniform_vec(len, -1.0, 1.0);
        gg.write(gpu, &g);
        gpu.run_launches(&[&tick, &adam]);
        cpu::adam_step(&mut p, &g, &mut m, &mut v, t, cfg);
    }
    assert_close(
        "adam_step p after 3 steps",
        &gp.read(gpu).await.unwrap(),
        &p,
        1e-4,
        1e-6,
    );
    assert_close("adam_step m", &gm.read(gpu).await.unwrap(), &m, 1e-4, 1e-6);
    assert_close("adam_step v", &gv.read(gpu).await.unwrap(), &v, 1e-4, 1e-7);

    // With the moving average of the weights (a GAN generator's EMA), on
    // an odd length: the same update, then avg = d·avg + (1 − d)·p.
    let len2 = 1000 + 37;
    let cfg2 = AdamConfig {
        lr: 1e-2,
        average: 0.9,
        ..Default::default()
    };
    let mut p2 = rng.uniform_vec(len2, -1.0, 1.0);
    let mut avg = p2.clone();
    let (mut m2, mut v2) = (vec![0.0; len2], vec![0.0; len2]);
    let (gp2, gg2, gm2, gv2, ga2, step2) = (
        upload(gpu, &p2),
        Tensor::zeros(gpu, len2),
        Tensor::zeros(gpu, len2),
        Tensor::zeros(gpu, len2),
        upload(gpu, &avg),
        Tensor::zeros(gpu, 1),
    );
    let tick2 = gpu.bind(&StepIncrement, StepTensors { step: &step2 });
    let averaged = gpu.bind(
        &AdamStep { cfg: cfg2 },
        AdamTensors {
            p: &gp2,
            g: &gg2,
            m: &gm2,
            v: &gv2,
            step: &step2,
            avg: Some(&ga2),
        },
    );
    for t in 1..=4u32 {
        let g = rng.uniform_vec(len2, -1.0, 1.0);
        gg2.write(gpu, &g);
        gpu.run_launches(&[&tick2, &averaged]);
        cpu::adam_step(&mut p2, &g, &mut m2, &mut v2, t, cfg2);
        cpu::average_update(&mut avg, &p2, cfg2.average);
    }
    // Steps of 1e-2: f32 rounding in the bias corrections reaches 1e-6 near zero.
    assert_close(
        "averaged adam_step p",
        &gp2.read(gpu).await.unwrap(),
        &p2,
        1e-4,
        1e-5,
    );
    assert_close(
        "adam_step average",
        &ga2.read(gpu).await.unwrap(),
        &avg,
        1e-4,
        1e-5,
    );
    // The average moved, and lags the weights.
    let moved = avg
        .iter()
        .zip(&p2)
        .filter(|(a, p)| (*a - *p).abs() > 1e-4)
        .count();
    assert!(
        moved > len2 / 2,
        "{moved} of {len2} averages differ from the weights"
    );
    let zero = gpu.bind(&Fill { value: 0.0 }, FillTensors { out: &gg });
    assert_close(
        "fill",
        &run_read(gpu, &[&zero], &gg).await,
        &vec![0.0; len],
        0.0,
        0.0,
    );
    let steps = step.read(gpu).await.unwrap();
    assert_eq!(steps[0].to_bits(), 3, "step counter after three steps");
}
gpu_test!(adam_and_fill_match_cpu, adam_and_fill);

async fn spectral_norm_all(gpu: &'static Gpu) {
    // One workgroup walks every matrix: rows and columns below, at and
    // above its 256 threads, a single row and a single column.
    let shapes = [
        (1, 1),
        (1, 37),
        (13, 37),
        (300, 7),
        (7, 300),
        (65, 1),
        (129, 257),
    ];
    for (i, &(rows, cols)) in shapes.iter().enumerate() {
        let s = SpectralShape { rows, cols };
        let mut rng = Rng::new(60 + i as u32, 0);
        let w = rng.uniform_vec(s.len(), -1.0, 1.0);
        let u0 = rng.normal_vec(rows, 1.0);
        let dw_sn = rng.uniform_vec(s.len(), -1.0, 1.0);
        let dw0 = rng.uniform_vec(s.len(), -1.0, 1.0);
        for grad in [Grad::Write, Grad::Accumulate] {
            let (mut w_sn, mut u, mut v, mut sigma) =
                (vec![0.0; s.len()], u0.clone(), vec![0.0; cols], vec![0.0]);
            // Two steps: the second starts from the first's u.
            for _ in 0..2 {
                cpu::spectral_norm_forward(&mut w_sn, &mut u, &mut v, &mut sigma, &w, s);
            }
            let mut dw = if grad.accumulates() {
                dw0.clone()
            } else {
                vec![0.0; s.len()]
            };
            cpu::spectral_norm_backward(&mut dw, &dw_sn, &w_sn, &u, &v, &sigma, s);
            let (gw, gu, gv, gs, gwsn, gdwsn, gdw) = (
                upload(gpu, &w),
                upload(gpu, &u0),
                Tensor::zeros(gpu, cols),
                Tensor::zeros(gpu, 1),
                Tensor::zeros(gpu, s.len()),
                upload(gpu, &dw_sn),
                upload(gpu, &dw0),
            );
            let f = gpu.bind(
                &SpectralNormForward { shape: s },
                SpectralNormForwardTensors {
                    w_sn: &gwsn,
                    u: &gu,
                    v: &gv,
                    sigma: &gs,
                    w: &gw,
                },
            );
            let b = gpu.bind(
                &SpectralNormBackward { shape: s, grad },
                SpectralNormBackwardTensors {
                    dw: &gdw,
                    dw_sn: &gdwsn,
                    w_sn: &gwsn,
                    u: &gu,
                    v: &gv,
                    sigma: &gs,
                },
            );
            gpu.run_launches(&[&f, &f, &b]);
            let what = |t: &str| format!("spectral_norm {s:?} {grad:?}: {t}");
            for (t, g, c) in [
                ("sigma", &gs, &sigma),
                ("u", &gu, &u),
                ("v", &gv, &v),
                ("w_sn", &gwsn, &w_sn),
                ("dw", &gdw, &dw),
            ] {
                assert_close(&what(t), &g.read(gpu).await.unwrap(), c, RTOL, ATOL);
            }
        }
    }
}
gpu_test!(spectral_norm_matches_cpu, spectral_norm_all);

async fn minibatch_std_all(gpu: &'static Gpu) {
    // (n, per, spatial, group, segment): values per sample below, at and
    // above the 256-thread workgroup; ragged last groups; a single sample;
    // a group larger than its segment; 49 positions as D's 7×7 maps.
    let shapes = [
        (1, 1, 1, 4, 1),
        (2, 7, 3, 4, 1),
        (10, 6, 3, 2, 5),
        (2 * 37, 300, 7, 4, 37),
        (12, 256, 49, 4, 6),
        (6, 13, 2, 8, 3),
        (9, 257, 1, 3, 9),
    ];
    for (i, &(n, per, spatial, group, segment)) in shapes.iter().enumerate() {
        let s = MinibatchStdShape {
            n,
            per,
            spatial,
            group,
            segment,
        };
        let mut rng = Rng::new(80 + i as u32, 0);
        let x = rng.uniform_vec(n * per, -1.0, 1.0);
        let dy = rng.uniform_vec(n * s.width(), -1.0, 1.0);
        let dx0 = rng.uniform_vec(n * per, -1.0, 1.0);
        let (mut y, mut stat) = (vec![0.0; n * s.width()], vec![0.0; s.groups()]);
        cpu::minibatch_std_forward(&mut y, &mut stat, &x, s);
        for grad in [Grad::Write, Grad::Accumulate] {
            let mut dx = if grad.accumulates() {
                dx0.clone()
            } else {
                vec![0.0; n * per]
            };
            let mut dstat = vec![0.0; s.groups()];
            cpu::minibatch_std_backward(&mut dx, &mut dstat, &dy, &x, s);
            let (gx, gy, gstat, gdy, gdstat, gdx) = (
                upload(gpu, &x),
                Tensor::zeros(gpu, n * s.width()),
                Tensor::zeros(gpu, s.groups()),
                upload(gpu, &dy),
                Tensor::zeros(gpu, s.groups()),
                upload(gpu, &dx0),
            );
            let f = gpu.bind(
                &MinibatchStdForward { shape: s },
                MinibatchStdForwardTensors {
                    y: &gy,
                    stat: &gstat,
                    x: &gx,
                },
            );
            let b = gpu.bind(
                &MinibatchStdBackward { shape: s, grad },
                MinibatchStdBackwardTensors {
                    dx: &gdx,
                    dstat: &gdstat,
                    dy: &gdy,
                    x: &gx,
                },
            );
            gpu.run_launches(&[&f, &b]);
            let what = |t: &str| format!("minibatch_std {s:?} {grad:?}: {t}");
            for (t, g, c) in [
                ("stat", &gstat, &stat),
                ("y", &gy, &y),
                ("dstat", &gdstat, &dstat),
                ("dx", &gdx, &dx),
            ] {
                assert_close(&what(t), &g.read(gpu).await.unwrap(), c, RTOL, ATOL);
            }
        }
    }
}
gpu_test!(minibatch_std_matches_cpu, minibatch_std_all);
