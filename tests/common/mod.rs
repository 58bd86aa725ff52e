//! Shared by the integration tests: the GPU (one per test binary), a macro that
//! makes each GPU test both a native test and a headless-browser test, and a
//! comparison that prints the first mismatches.
#![allow(dead_code)]

use genlab::backends::gpu::{Gpu, Launch, Tensor};

/// `gpu_test!(name, body_fn)`: a native `#[test]` that blocks on the async body,
/// and a `wasm_bindgen_test` in the browser that awaits it.
#[macro_export]
macro_rules! gpu_test {
    ($name:ident, $body:path) => {
        #[cfg(not(target_arch = "wasm32"))]
        #[test]
        fn $name() {
            pollster::block_on($body(common::gpu_blocking()));
        }

        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen_test::wasm_bindgen_test]
        async fn $name() {
            $body(common::gpu().await).await;
        }
    };
}

/// `both!(name, { body })`: a test both natively and in the browser.
#[macro_export]
macro_rules! both {
    ($name:ident, $body:block) => {
        #[cfg_attr(not(target_arch = "wasm32"), test)]
        #[cfg_attr(target_arch = "wasm32", wasm_bindgen_test::wasm_bindgen_test)]
        fn $name() $body
    };
}

/// `cpu_test!(name, body_fn)`: an async test on the CPU backend, natively
/// and in the browser.
#[macro_export]
macro_rules! cpu_test {
    ($name:ident, $body:path) => {
        #[cfg(not(target_arch = "wasm32"))]
        #[test]
        fn $name() {
            pollster::block_on($body(&genlab::backends::Cpu::new()));
        }

        #[cfg(target_arch = "wasm32")]
        #[wasm_bindgen_test::wasm_bindgen_test]
        async fn $name() {
            $body(&genlab::backends::Cpu::new()).await;
        }
    };
}

/// The test binary's GPU. A missing adapter fails the test with the reason:
/// nothing is skipped.
#[cfg(not(target_arch = "wasm32"))]
pub fn gpu_blocking() -> &'static Gpu {
    static GPU: std::sync::OnceLock<Gpu> = std::sync::OnceLock::new();
    GPU.get_or_init(|| {
        let gpu = pollster::block_on(Gpu::new()).unwrap_or_else(|e| panic!("{e}"));
        eprintln!("GPU: {}", gpu.adapter_summary());
        gpu
    })
}

#[cfg(target_arch = "wasm32")]
pub async fn gpu() -> &'static Gpu {
    use std::cell::Cell;
    thread_local! {
        static GPU: Cell<Option<&'static Gpu>> = const { Cell::new(None) };
    }
    if let Some(g) = GPU.with(|c| c.get()) {
        return g;
    }
    let gpu: &'static Gpu = Box::leak(Box::new(Gpu::new().await.unwrap_or_else(|e| panic!("{e}"))));
    web_sys_log(&format!("GPU: {}", gpu.adapter_summary()));
    GPU.with(|c| c.set(Some(gpu)));
    gpu
}

#[cfg(target_arch = "wasm32")]
fn web_sys_log(s: &str) {
    wasm_bindgen_test::console_log!("{}", s);
}

/// Records the launches in one pass, submits once, reads `out` back.
pub async fn run_read(gpu: &Gpu, launches: &[&Launch], out: &Tensor) -> Vec<f32> {
    gpu.run_launches(launches);
    out.read(gpu).await.unwrap_or_else(|e| panic!("{e}"))
}

/// |got − want| ≤ atol + rtol·|want| everywhere (NaN fails), else panics with
/// the first mismatches.
pub fn assert_close(what: &str, got: &[f32], want: &[f32], rtol: f32, atol: f32) {
    assert_eq!(
        got.len(),
        want.len(),
        "{what}: got {} values, want {}",
        got.len(),
        want.len()
    );
    // Written so that NaN is never "within".
    let within = |i: usize| (got[i] - want[i]).abs() <= atol + rtol * want[i].abs();
    let bad: Vec<usize> = (0..got.len()).filter(|&i| !within(i)).collect();
    if !bad.is_empty() {
        let first: Vec<String> = bad
            .iter()
            .take(8)
            .map(|&i| format!("  [{i}] got {:.7} want {:.7}", got[i], want[i]))
            .collect();
        panic!(
            "{what}: {} of {} values differ (rtol {rtol}, atol {atol}); first:\n{}",
            bad.len(),
            got.len(),
            first.join("\n")
        );
    }
}

/// A line in the test's output, natively and in the browser.
pub fn log(s: &str) {
    #[cfg(target_arch = "wasm32")]
    wasm_bindgen_test::console_log!("{}", s);
    #[cfg(not(target_arch = "wasm32"))]
    eprintln!("{s}");
}
