//! `genlab bench`: GFLOP/s of the matmul and of every conv kernel at the
//! shapes of the DCGAN (TensorFlow tutorial), on the GPU and, for comparison,
//! of the same whole op on the CPU: the plain-loop reference and the fast
//! form (sgemm + im2col). Medians of repeated, warmed-up runs.
//!
//! GPU timing: R dispatches of one launch are recorded into one pass and
//! submitted once, then the device is drained; time = wall / R. R is chosen so
//! that a run lasts at least `--min-ms`.

use genlab::backends::cpu::Scratch;
use genlab::backends::gpu::{Gpu, GpuError, Launch, Tensor};
use genlab::backends::Backend;
use genlab::core::rng::Rng;
use genlab::core::{Activation, Conv2dGeom, Grad, LinearShape, MatmulShape};
use genlab::ops::{self as cpu, fast, *};
use std::rc::Rc;
use std::time::Instant;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Batch sizes to measure.
    #[arg(long, value_delimiter = ',', default_value = "8,64")]
    batch: Vec<usize>,
    /// Measurements per kernel (the median is printed).
    #[arg(long, default_value_t = 5)]
    samples: usize,
    /// Shortest GPU measurement, in milliseconds (more dispatches are batched until it is reached).
    #[arg(long, default_value_t = 50.0)]
    min_ms: f64,
    /// Largest batch at which the CPU reference is also timed (it is plain loops, and slow).
    #[arg(long, default_value_t = 8)]
    cpu_max_batch: usize,
}

/// One op at one shape: its GPU launch, its CPU reference and its fast CPU form.
struct Case {
    name: String,
    flops: f64,
    launch: Launch,
    reference: Box<dyn FnMut()>,
    fast: Box<dyn FnMut()>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn gpu_ms(gpu: &Gpu, launch: &Launch, args: &BenchArgs) -> Result<f64, GpuError> {
    let time = |reps: usize| -> Result<f64, GpuError> {
        let launches: Vec<&Launch> = std::iter::repeat_n(launch, reps).collect();
        let t = Instant::now();
        gpu.run_launches(&launches);
        gpu.wait()?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };
    let once = time(1)?; // warm-up (pipeline compilation, first touch of buffers)
    let reps = ((args.min_ms / once.max(1e-3)).ceil() as usize).clamp(1, 1000);
    let mut samples = Vec::new();
    for _ in 0..args.samples {
        samples.push(time(reps)? / reps as f64);
    }
    Ok(median(samples))
}

fn cpu_ms(f: &mut dyn FnMut(), samples: usize) -> f64 {
    f(); // warm-up (and the scratch buffers' one allocation)
    median(
        (0..samples)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

fn rand(rng: &mut Rng, len: usize) -> Rc<Vec<f32>> {
    Rc::new(rng.uniform_vec(len, -1.0, 1.0))
}

/// An output buffer the closures write into, allocated once.
fn out(len: usize) -> Vec<f32> {
    vec![0.0; len]
}

/// The dense layers of the DCGAN: G's z(100) → 7·7·256 and D's 7·7·128 → 1.
fn dense_cases(gpu: &Gpu, n: usize, rng: &mut Rng) -> Vec<Case> {
    let mut cases = Vec::new();
    for (label, d_in, d_out) in [
        ("G dense 100→12544", 100, 12544),
        ("D dense 6272→1", 6272, 1),
    ] {
        let (x, w, dy) = (
            rand(rng, n * d_in),
            rand(rng, d_out * d_in),
            rand(rng, n * d_out),
        );
        let (gx, gw, gdy) = (
            Tensor::from_slice(gpu, &x),
            Tensor::from_slice(gpu, &w),
            Tensor::from_slice(gpu, &dy),
        );
        let (gy, gdx, gdw) = (
            Tensor::zeros(gpu, n * d_out),
            Tensor::zeros(gpu, n * d_in),
            Tensor::zeros(gpu, d_out * d_in),
        );
        let flops = 2.0 * (n * d_in * d_out) as f64;
        let shape = LinearShape { n, d_in, d_out };
        let name = |op: &str| format!("{label} {op}");
        let (x1, w1, x2, w2, mut y1, mut y2) = (
            x.clone(),
            w.clone(),
            x.clone(),
            w.clone(),
            out(n * d_out),
            out(n * d_out),
        );
        cases.push(Case {
            name: name("linear_forward"),
            flops,
            launch: gpu.bind(
                &LinearForward {
                    shape,
                    act: Activation::None,
                },
                LinearForwardTensors {
                    y: &gy,
                    x: &gx,
                    w: &gw,
                    b: None,
                },
            ),
            reference: Box::new(move || {
                cpu::linear_forward(
                    &mut y1,
                    &x1,
                    &w1,
                    None,
                    LinearShape { n, d_in, d_out },
                    Activation::None,
                )
            }),
            fast: Box::new(move || {
                fast::linear_forward(
                    &mut y2,
                    &x2,
                    &w2,
                    None,
                    LinearShape { n, d_in, d_out },
                    Activation::None,
                    1,
                )
            }),
        });
        let (dy1, w1, dy2, w2, mut dx1, mut dx2) = (
            dy.clone(),
            w.clone(),
            dy.clone(),
            w.clone(),
            out(n * d_in),
            out(n * d_in),
        );
        cases.push(Case {
            name: name("linear_backward_input"),
            flops,
            launch: gpu.bind(
                &LinearBackwardInput {
                    shape,
                    grad: Grad::Write,
                },
                LinearBackwardInputTensors {
                    dx: &gdx,
                    dy: &gdy,
                    w: &gw,
                },
            ),
            reference: Box::new(move || {
                cpu::matmul(
                    &mut dx1,
                    &dy1,
                    &w1,
                    MatmulShape {
                        m: n,
                        n: d_in,
                        k: d_out,
                        trans_a: false,
                        trans_b: false,
                    },
                    Grad::Write,
                )
            }),
            fast: Box::new(move || {
                fast::matmul(
                    &mut dx2,
                    &dy2,
                    &w2,
                    MatmulShape {
                        m: n,
                        n: d_in,
                        k: d_out,
                        trans_a: false,
                        trans_b: false,
                    },
                    Grad::Write,
                )
            }),
        });
        let (dy1, x1, dy2, x2, mut dw1, mut dw2) = (
            dy.clone(),
            x.clone(),
            dy.clone(),
            x.clone(),
            out(d_out * d_in),
            out(d_out * d_in),
        );
        cases.push(Case {
            name: name("linear_backward_weight"),
            flops,
            launch: gpu.bind(
                &LinearBackwardWeight { shape },
                LinearBackwardWeightTensors {
                    dw: &gdw,
                    dy: &gdy,
                    x: &gx,
                },
            ),
            reference: Box::new(move || {
                cpu::matmul(
                    &mut dw1,
                    &dy1,
                    &x1,
                    MatmulShape {
                        m: d_out,
                        n: d_in,
                        k: n,
                        trans_a: true,
                        trans_b: false,
                    },
                    Grad::Accumulate,
                )
            }),
            fast: Box::new(move || {
                fast::matmul(
                    &mut dw2,
                    &dy2,
                    &x2,
                    MatmulShape {
                        m: d_out,
                        n: d_in,
                        k: n,
                        trans_a: true,
                        trans_b: false,
                    },
                    Grad::Accumulate,
                )
            }),
        });
    }
    cases
}

/// The convolutions of the DCGAN; `transposed` ones are G's upsampling layers.
fn conv_cases(gpu: &Gpu, n: usize, rng: &mut Rng) -> Vec<Case> {
    let layers = [
        (
            "D conv 1→64 28→14",
            false,
            Conv2dGeom::same(n, 1, 28, 28, 64, 5, 2),
        ),
        (
            "D conv 64→128 14→7",
            false,
            Conv2dGeom::same(n, 64, 14, 14, 128, 5, 2),
        ),
        (
            "G convT 256→128 7→7",
            true,
            Conv2dGeom::transposed_same(n, 256, 7, 7, 128, 5, 1),
        ),
        (
            "G convT 128→64 7→14",
            true,
            Conv2dGeom::transposed_same(n, 128, 7, 7, 64, 5, 2),
        ),
        (
            "G convT 64→1 14→28",
            true,
            Conv2dGeom::transposed_same(n, 64, 14, 14, 1, 5, 2),
        ),
    ];
    let mut cases = Vec::new();
    for (label, transposed, g) in layers {
        // Data on the underlying conv's input side (xs) and output side (ys).
        let (xs, ys, w) = (
            rand(rng, g.input_len()),
            rand(rng, g.output_len()),
            rand(rng, g.weight_len()),
        );
        let (gxs, gys, gw) = (
            Tensor::from_slice(gpu, &xs),
            Tensor::from_slice(gpu, &ys),
            Tensor::from_slice(gpu, &w),
        );
        let (oxs, oys, ow) = (
            Tensor::zeros(gpu, xs.len()),
            Tensor::zeros(gpu, ys.len()),
            Tensor::zeros(gpu, w.len()),
        );
        let flops = g.flops();
        let act = Activation::None;
        let name = |op: &str| format!("{label} {op}");
        // Each closure owns its output and (fast form) its scratch: nothing is allocated while timing.
        macro_rules! case {
            ($op:literal, $launch:expr, $out_len:expr, |$o:ident, $s:ident, $xs:ident, $ys:ident, $w:ident| $reference:expr, $fast:expr) => {{
                let (mut o1, mut o2, mut $s) = (out($out_len), out($out_len), Scratch::default());
                let (xs1, ys1, w1, xs2, ys2, w2) = (
                    xs.clone(),
                    ys.clone(),
                    w.clone(),
                    xs.clone(),
                    ys.clone(),
                    w.clone(),
                );
                cases.push(Case {
                    name: name($op),
                    flops,
                    launch: $launch,
                    reference: Box::new(move || {
                        let ($o, $xs, $ys, $w) = (&mut o1, &xs1[..], &ys1[..], &w1[..]);
                        $reference
                    }),
                    fast: Box::new(move || {
                        let ($o, $xs, $ys, $w) = (&mut o2, &xs2[..], &ys2[..], &w2[..]);
                        $fast
                    }),
                });
            }};
        }
        if transposed {
            case!(
                "conv_transpose2d_forward",
                gpu.bind(
                    &ConvTranspose2dForward { geom: g, act },
                    ConvForwardTensors {
                        y: &oxs,
                        x: &gys,
                        w: &gw,
                        b: None
                    }
                ),
                g.input_len(),
                |o, s, _xs, ys, w| cpu::conv_transpose2d_forward(o, ys, w, None, &g, act),
                fast::conv_transpose2d_forward(o, ys, w, None, &g, act, &mut s)
            );
            case!(
                "conv_transpose2d_backward_input",
                gpu.bind(
                    &ConvTranspose2dBackwardInput {
                        geom: g,
                        grad: Grad::Write
                    },
                    ConvBackwardInputTensors {
                        dx: &oys,
                        dy: &gxs,
                        w: &gw
                    }
                ),
                g.output_len(),
                |o, s, xs, _ys, w| cpu::conv_transpose2d_backward_input(o, xs, w, &g),
                fast::conv_transpose2d_backward_input(o, xs, w, &g, &mut s)
            );
            case!(
                "conv_transpose2d_backward_weight",
                gpu.bind(
                    &ConvTranspose2dBackwardWeight { geom: g },
                    ConvBackwardWeightTensors {
                        dw: &ow,
                        dy: &gxs,
                        x: &gys
                    }
                ),
                g.weight_len(),
                |o, s, xs, ys, _w| cpu::conv_transpose2d_backward_weight(o, xs, ys, &g),
                fast::conv_transpose2d_backward_weight(o, xs, ys, &g, &mut s)
            );
        } else {
            case!(
                "conv2d_forward",
                gpu.bind(
                    &Conv2dForward { geom: g, act },
                    ConvForwardTensors {
                        y: &oys,
                        x: &gxs,
                        w: &gw,
                        b: None
                    }
                ),
                g.output_len(),
                |o, s, xs, _ys, w| cpu::conv2d_forward(o, xs, w, None, &g, act),
                fast::conv2d_forward(o, xs, w, None, &g, act, &mut s)
            );
            case!(
                "conv2d_backward_input",
                gpu.bind(
                    &Conv2dBackwardInput {
                        geom: g,
                        grad: Grad::Write,
                        path: ConvInputPath::Auto
                    },
                    ConvBackwardInputTensors {
                        dx: &oxs,
                        dy: &gys,
                        w: &gw
                    }
                ),
                g.input_len(),
                |o, s, _xs, ys, w| cpu::conv2d_backward_input(o, ys, w, &g),
                fast::conv2d_backward_input(o, ys, w, &g, &mut s)
            );
            case!(
                "conv2d_backward_weight",
                gpu.bind(
                    &Conv2dBackwardWeight { geom: g },
                    ConvBackwardWeightTensors {
                        dw: &ow,
                        dy: &gys,
                        x: &gxs
                    }
                ),
                g.weight_len(),
                |o, s, xs, ys, _w| cpu::conv2d_backward_weight(o, ys, xs, &g),
                fast::conv2d_backward_weight(o, ys, xs, &g, &mut s)
            );
        }
    }
    cases
}

pub async fn run(args: BenchArgs) -> Result<(), GpuError> {
    let gpu = Gpu::new().await?;
    println!("adapter: {}", gpu.adapter_summary());
    println!("CPU columns: one thread; 'reference' is the plain loops of genlab::cpu, 'fast' is genlab::fast (sgemm + im2col)");
    println!(
        "{:<54} {:>5} {:>8} {:>10} {:>8} {:>10} {:>8} {:>10} {:>8}",
        "op", "batch", "MFLOP", "GPU ms", "GF/s", "ref ms", "GF/s", "fast ms", "GF/s"
    );
    let mut rng = Rng::new(1, 0);
    for &n in &args.batch {
        let mut cases = dense_cases(&gpu, n, &mut rng);
        cases.extend(conv_cases(&gpu, n, &mut rng));
        for mut case in cases {
            let gflops = |ms: f64| case.flops / ms / 1e6;
            let g = gpu_ms(&gpu, &case.launch, &args)?;
            let f = cpu_ms(&mut case.fast, args.samples);
            let (r, rg) = if n <= args.cpu_max_batch {
                let r = cpu_ms(&mut case.reference, args.samples.min(3));
                (format!("{r:.2}"), format!("{:.2}", gflops(r)))
            } else {
                ("-".into(), "-".into())
            };
            println!(
                "{:<54} {:>5} {:>8.1} {:>10.3} {:>8.2} {:>10} {:>8} {:>10.3} {:>8.2}",
                case.name,
                n,
                case.flops / 1e6,
                g,
                gflops(g),
                r,
                rg,
                f,
                gflops(f)
            );
        }
    }
    Ok(())
}
