//! Browser glue: the minimal page that proves the engine on the browser's
//! WebGPU. It finds the adapter, runs the tiled matmul on odd shapes, checks
//! it against the CPU reference and shows the adapter and the result.

use crate::cpu::{self, Activation};
use crate::gpu::{ops, Gpu, Tensor};
use crate::rng::Rng;
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
