//! Browser glue: the minimal page that proves the engine on the browser's
//! WebGPU (it finds the adapter, runs the tiled matmul on odd shapes, checks
//! it against the CPU reference and shows the adapter and the result), and
//! `bench`, the headless training benchmark behind www/bench.html.

use crate::backend::{Backend, Cpu};
use crate::cpu::{self, Activation};
use crate::data::{Digits, PIXELS};
use crate::gpu::{ops, Gpu, Tensor};
use crate::models::{Model, ModelConfig, ModelKind};
use crate::rng::Rng;
use crate::train::Trainer;
use wasm_bindgen::prelude::*;

fn set_text(id: &str, text: &str) {
    if let Some(el) = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id(id))
    {
        el.set_text_content(Some(text));
    }
}

#[wasm_bindgen(start)]
pub fn start() {
    console_error_panic_hook::set_once();
    // Only the demo page has a result to fill (bench.html loads the same module).
    let on_demo_page = web_sys::window()
        .and_then(|w| w.document())
        .and_then(|d| d.get_element_by_id("result"))
        .is_some();
    if !on_demo_page {
        return;
    }
    wasm_bindgen_futures::spawn_local(async {
        match demo().await {
            Ok(msg) => set_text("result", &msg),
            Err(msg) => {
                set_text("adapter", "unavailable");
                set_text("result", &msg);
            }
        }
    });
}

/// Runs Y = tanh(X·Wᵀ + b) on the GPU and the CPU and reports the difference.
async fn demo() -> Result<String, String> {
    let gpu = Gpu::new().await.map_err(|e| e.to_string())?;
    set_text("adapter", &gpu.adapter_summary());
    let (n, d_in, d_out) = (37, 70, 45);
    let mut rng = Rng::new(1, 0);
    let x = rng.uniform_vec(n * d_in, -1.0, 1.0);
    let w = rng.uniform_vec(d_out * d_in, -0.3, 0.3);
    let b = rng.uniform_vec(d_out, -0.1, 0.1);
    let (gx, gw, gb, gy) = (
        Tensor::from_slice(&gpu, &x),
        Tensor::from_slice(&gpu, &w),
        Tensor::from_slice(&gpu, &b),
        Tensor::zeros(&gpu, n * d_out),
    );
    let launch = ops::linear_forward(
        &gpu,
        &gy,
        &gx,
        &gw,
        Some(&gb),
        n,
        d_in,
        d_out,
        Activation::Tanh,
    );
    // The first run includes the browser's pipeline compilation; the second is warm.
    let mut ms = [0.0; 2];
    let mut got = Vec::new();
    for t in ms.iter_mut() {
        let t0 = js_sys::Date::now();
        gpu.run(&[&launch]);
        got = gy.read(&gpu).await.map_err(|e| e.to_string())?;
        *t = js_sys::Date::now() - t0;
    }
    let mut want = vec![0.0; n * d_out];
    cpu::linear_forward(
        &mut want,
        &x,
        &w,
        Some(&b),
        n,
        d_in,
        d_out,
        Activation::Tanh,
    );
    let max_err = got
        .iter()
        .zip(&want)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    let verdict = if max_err < 1e-4 {
        "matches"
    } else {
        "DIFFERS FROM"
    };
    Ok(format!(
        "linear_forward [{n}×{d_in}]·[{d_out}×{d_in}]ᵀ + tanh on the GPU {verdict} the CPU reference \
         (max |Δ| = {max_err:.2e}); {:.1} ms warm, {:.1} ms the first time, readback included",
        ms[1], ms[0]
    ))
}

/// Trains `model` at `batch` for `warmup` then `steps` steps on `backend`
/// ("gpu": WebGPU, whatever the adapter; "cpu": the CPU backend in wasm) and
/// returns one JSON line with the milliseconds per step after warm-up, in the
/// form of the TensorFlow.js peer benchmark. The digits are random pixels, as
/// the peer's: the figure is the speed of the step, not of learning.
#[wasm_bindgen]
pub async fn bench(
    model: String,
    batch: usize,
    steps: usize,
    warmup: usize,
    backend: String,
) -> Result<String, JsValue> {
    let kind = ModelKind::parse(&model).map_err(|e| JsValue::from_str(&e))?;
    if steps == 0 {
        return Err(JsValue::from_str("steps must be at least 1"));
    }
    let config = ModelConfig {
        batch,
        ..ModelConfig::new(kind)
    };
    config.validate().map_err(|e| JsValue::from_str(&e))?;
    let (ms, losses, device) = match backend.as_str() {
        "gpu" | "webgpu" => {
            let gpu = Gpu::new()
                .await
                .map_err(|e| JsValue::from_str(&e.to_string()))?;
            time_steps(&gpu, config.clone(), steps, warmup).await?
        }
        "cpu" => time_steps(&Cpu::new(), config.clone(), steps, warmup).await?,
        other => {
            return Err(JsValue::from_str(&format!(
                "unknown backend {other:?}: choose gpu or cpu"
            )))
        }
    };
    let names = config.loss_names();
    let losses: Vec<String> = names
        .iter()
        .zip(&losses)
        .map(|(n, v)| format!("\"{n}\":{v}"))
        .collect();
    Ok(format!(
        "{{\"peer\":\"genlab-{}\",\"backend\":\"{backend}\",\"device\":{:?},\"model\":\"{kind}\",\"batch\":{batch},\"steps\":{steps},\"warmup\":{warmup},\"ms_per_step\":{ms:.2},{}}}",
        env!("CARGO_PKG_VERSION"),
        device,
        losses.join(",")
    ))
}

async fn time_steps<B: Backend>(
    b: &B,
    config: ModelConfig,
    steps: usize,
    warmup: usize,
) -> Result<(f64, Vec<f32>, String), JsValue> {
    let err = |e: String| JsValue::from_str(&e);
    let n = config.batch;
    let mut rng = Rng::new(config.seed, 99);
    let digits = Digits {
        images: (0..2 * n * PIXELS)
            .map(|_| (rng.uniform(0.0, 256.0) as u32).min(255) as u8)
            .collect(),
        labels: vec![0; 2 * n],
    };
    let model = Model::new(b, config).map_err(err)?;
    let mut t = Trainer::new(b, model, digits).map_err(err)?;
    for _ in 0..warmup {
        t.step(b);
    }
    // Reading the loss sums waits for every step submitted so far.
    t.read_losses(b).await.map_err(|e| err(e.to_string()))?;
    let t0 = js_sys::Date::now();
    for _ in 0..steps {
        t.step(b);
    }
    let point = t
        .read_losses(b)
        .await
        .map_err(|e| err(e.to_string()))?
        .ok_or_else(|| err("no step ran".into()))?;
    let ms = (js_sys::Date::now() - t0) / steps as f64;
    Ok((ms, point.values, b.describe()))
}
