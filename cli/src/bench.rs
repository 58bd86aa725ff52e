//! `genlab bench`: GFLOP/s of the matmul and of every conv kernel at the
//! shapes of the DCGAN (TensorFlow tutorial), on the GPU and, for comparison,
//! of the whole CPU-reference op. Medians of repeated, warmed-up runs.
//!
//! GPU timing: R dispatches of one launch are recorded into one pass and
//! submitted once, then the device is drained; time = wall / R. R is chosen so
//! that a run lasts at least `--min-ms`.

use genlab::cpu::{self, Activation};
use genlab::geom::Conv2dGeom;
use genlab::gpu::{ops, Gpu, GpuError, Launch, Tensor};
use genlab::rng::Rng;
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

/// One op at one shape: its GPU launch and its CPU reference.
struct Case {
    name: String,
    flops: f64,
    launch: Launch,
    cpu: Box<dyn FnMut()>,
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn gpu_ms(gpu: &Gpu, launch: &Launch, args: &BenchArgs) -> Result<f64, GpuError> {
    let time = |reps: usize| -> Result<f64, GpuError> {
        let t = Instant::now();
        let launches: Vec<&Launch> = std::iter::repeat_n(launch, reps).collect();
        gpu.run(&launches);
        gpu.wait()?;
        Ok(t.elapsed().as_secs_f64() * 1e3)
    };
    let once = time(1)?; // warm-up (pipeline compilation, first-touch of buffers)
    let reps = ((args.min_ms / once.max(1e-3)).ceil() as usize).clamp(1, 1000);
    let mut samples = Vec::new();
    for _ in 0..args.samples {
        samples.push(time(reps)? / reps as f64);
    }
    Ok(median(samples))
}

fn cpu_ms(f: &mut dyn FnMut(), samples: usize) -> f64 {
    f(); // warm-up
    median(
        (0..samples.min(3))
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed().as_secs_f64() * 1e3
            })
            .collect(),
    )
}

fn rand(rng: &mut Rng, len: usize) -> Vec<f32> {
    rng.uniform_vec(len, -1.0, 1.0)
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
        let (x1, w1) = (x.clone(), w.clone());
        cases.push(Case {
            name: format!("{label} linear_forward"),
            flops,
            launch: ops::linear_forward(gpu, &gy, &gx, &gw, None, n, d_in, d_out, Activation::None),
            cpu: Box::new(move || {
                let mut y = vec![0.0; n * d_out];
                cpu::linear_forward(&mut y, &x1, &w1, None, n, d_in, d_out, Activation::None);
            }),
        });
        let (dy1, w1) = (dy.clone(), w.clone());
        cases.push(Case {
            name: format!("{label} linear_backward_input"),
            flops,
            launch: ops::linear_backward_input(gpu, &gdx, &gdy, &gw, n, d_in, d_out, false),
            cpu: Box::new(move || {
                let mut dx = vec![0.0; n * d_in];
                cpu::matmul(&mut dx, &dy1, &w1, n, d_in, d_out, false, false, true);
            }),
        });
        let (dy1, x1) = (dy.clone(), x.clone());
        cases.push(Case {
            name: format!("{label} linear_backward_weight"),
            flops,
            launch: ops::linear_backward_weight(gpu, &gdw, &gdy, &gx, n, d_in, d_out),
            cpu: Box::new(move || {
                let mut dw = vec![0.0; d_out * d_in];
                cpu::matmul(&mut dw, &dy1, &x1, d_out, d_in, n, true, false, true);
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
        // Buffers on the conv's input side (x) and output side (y) of the underlying conv.
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
        if transposed {
            let (a, b) = (ys.clone(), w.clone());
            cases.push(Case {
                name: format!("{label} conv_transpose2d_forward"),
                flops,
                launch: ops::conv_transpose2d_forward(
                    gpu,
                    &oxs,
                    &gys,
                    &gw,
                    None,
                    &g,
                    Activation::None,
                ),
                cpu: Box::new(move || {
                    cpu::conv_transpose2d_forward(
                        &mut vec![0.0; g.input_len()],
                        &a,
                        &b,
                        None,
                        &g,
                        Activation::None,
                    )
                }),
            });
            let (a, b) = (xs.clone(), w.clone());
            cases.push(Case {
                name: format!("{label} conv_transpose2d_backward_input"),
                flops,
                launch: ops::conv_transpose2d_backward_input(gpu, &oys, &gxs, &gw, &g, false),
                cpu: Box::new(move || {
                    cpu::conv_transpose2d_backward_input(&mut vec![0.0; g.output_len()], &a, &b, &g)
                }),
            });
            let (a, b) = (xs.clone(), ys.clone());
            cases.push(Case {
                name: format!("{label} conv_transpose2d_backward_weight"),
                flops,
                launch: ops::conv_transpose2d_backward_weight(gpu, &ow, &gxs, &gys, &g),
                cpu: Box::new(move || {
                    cpu::conv_transpose2d_backward_weight(
                        &mut vec![0.0; g.weight_len()],
                        &a,
                        &b,
                        &g,
                    )
                }),
            });
        } else {
            let (a, b) = (xs.clone(), w.clone());
            cases.push(Case {
                name: format!("{label} conv2d_forward"),
                flops,
                launch: ops::conv2d_forward(gpu, &oys, &gxs, &gw, None, &g, Activation::None),
                cpu: Box::new(move || {
                    cpu::conv2d_forward(
                        &mut vec![0.0; g.output_len()],
                        &a,
                        &b,
                        None,
                        &g,
                        Activation::None,
                    )
                }),
            });
            let (a, b) = (ys.clone(), w.clone());
            cases.push(Case {
                name: format!("{label} conv2d_backward_input"),
                flops,
                launch: ops::conv2d_backward_input(gpu, &oxs, &gys, &gw, &g, false),
                cpu: Box::new(move || {
                    cpu::conv2d_backward_input(&mut vec![0.0; g.input_len()], &a, &b, &g)
                }),
            });
            let (a, b) = (ys.clone(), xs.clone());
            cases.push(Case {
                name: format!("{label} conv2d_backward_weight"),
                flops,
                launch: ops::conv2d_backward_weight(gpu, &ow, &gys, &gxs, &g),
                cpu: Box::new(move || {
                    cpu::conv2d_backward_weight(&mut vec![0.0; g.weight_len()], &a, &b, &g)
                }),
            });
        }
    }
    cases
}

pub async fn run(args: BenchArgs) -> Result<(), GpuError> {
    let gpu = Gpu::new().await?;
    println!("adapter: {}", gpu.adapter_summary());
    println!(
        "{:<54} {:>5} {:>8} {:>10} {:>9} {:>10} {:>9}",
        "op", "batch", "MFLOP", "GPU ms", "GPU GF/s", "CPU-ref ms", "CPU GF/s"
    );
    let mut rng = Rng::new(1, 0);
    for &n in &args.batch {
        let mut cases = dense_cases(&gpu, n, &mut rng);
        cases.extend(conv_cases(&gpu, n, &mut rng));
        for mut case in cases {
            let g = gpu_ms(&gpu, &case.launch, &args)?;
            let (c, cg) = if n <= args.cpu_max_batch {
                let c = cpu_ms(&mut case.cpu, args.samples);
                (format!("{c:.2}"), format!("{:.2}", case.flops / c / 1e6))
            } else {
                ("-".into(), "-".into())
            };
            println!(
                "{:<54} {:>5} {:>8.1} {:>10.3} {:>9.2} {:>10} {:>9}",
                case.name,
                n,
                case.flops / 1e6,
                g,
                case.flops / g / 1e6,
                c,
                cg
            );
        }
    }
    Ok(())
}
