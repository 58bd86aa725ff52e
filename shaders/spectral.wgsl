// spectral.wgsl: spectral normalisation of a weight matrix W [rows × cols]
// (row-major), W_sn = W / σ, σ from one power iteration per step on a kept
// vector u; and its backward with u, v fixed. One workgroup each: every
// phase needs the whole result of the one before (a barrier apart).
//
//   spectral_norm_forward   v = Wᵀu / ‖Wᵀu‖, u ← Wv / ‖Wv‖, σ = ‖Wv‖, W_sn = W / σ
//   spectral_norm_backward  dW (+)= (dW_sn − c·u·vᵀ) / σ,  c = ⟨dW_sn, W_sn⟩

const EPS: f32 = 1e-12; // ops::SPECTRAL_EPS

struct SpectralParams {
    rows: u32,
    cols: u32,
    accumulate: u32, // backward: 1 ⇒ dW += ..., 0 ⇒ dW = ...
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: SpectralParams;
@group(0) @binding(1) var<storage, read> w: array<f32>;
@group(0) @binding(2) var<storage, read_write> u: array<f32>;
@group(0) @binding(3) var<storage, read_write> v: array<f32>;
@group(0) @binding(4) var<storage, read_write> sigma: array<f32>;
@group(0) @binding(5) var<storage, read_write> w_sn: array<f32>;
@group(0) @binding(6) var<storage, read> dw_sn: array<f32>;
@group(0) @binding(7) var<storage, read_write> dw: array<f32>;

@compute @workgroup_size(WG)
fn spectral_norm_forward(@builtin(local_invocation_index) li: u32) {
    let rows = params.rows;
    let cols = params.cols;
    // v = Wᵀu (unnormalised), a column per thread: neighbours read neighbours.
    var vv = 0.0;
    for (var j = li; j < cols; j += WG) {
        var acc = 0.0;
        for (var i = 0u; i < rows; i++) {
            acc += w[i * cols + j] * u[i];
        }
        v[j] = acc;
        vv += acc * acc;
    }
    let vn = max(sqrt(workgroup_sum(vv, li)), EPS);
    storageBarrier(); // every v[j] written before any thread reads it, and u read before it is written
    // u = W·v / ‖Wᵀu‖ (v normalised on the fly), a row per thread.
    var uu = 0.0;
    for (var i = li; i < rows; i += WG) {
        var acc = 0.0;
        for (var j = 0u; j < cols; j++) {
            acc += w[i * cols + j] * v[j];
        }
        acc /= vn;
        u[i] = acc;
        uu += acc * acc;
    }
    let s = sqrt(workgroup_sum(uu, li));
    let d = max(s, EPS);
    storageBarrier(); // every thread done reading v before it is normalised
    for (var j = li; j < cols; j += WG) {
        v[j] /= vn;
    }
    for (var i = li; i < rows; i += WG) {
        u[i] /= d;
    }
    let len = rows * cols;
    for (var k = li; k < len; k += WG) {
        w_sn[k] = w[k] / d;
    }
    if (li == 0u) { sigma[0] = s; }
}

@compute @workgroup_size(WG)
fn spectral_norm_backward(@builtin(local_invocation_index) li: u32) {
    let cols = params.cols;
    let len = params.rows * cols;
    var c = 0.0;
    for (var k = li; k < len; k += WG) {
        c += dw_sn[k] * w_sn[k];
    }
    let total = workgroup_sum(c, li);
    let d = max(sigma[0], EPS);
    let acc = params.accumulate != 0u;
    for (var k = li; k < len; k += WG) {
        let g = (dw_sn[k] - total * u[k / cols] * v[k % cols]) / d;
        dw[k] = select(g, dw[k] + g, acc);
    }
}
