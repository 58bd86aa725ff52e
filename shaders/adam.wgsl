// adam.wgsl: one fused, bias-corrected Adam update (Kingma & Ba, 2015) over a
// model's whole parameter arena, t read from the model's step counter:
//   m = β1·m + (1 − β1)·g,  v = β2·v + (1 − β2)·g²
//   p -= lr · (m / (1 − β1^t)) / (√(v / (1 − β2^t)) + ε)
// adam_step_averaged also keeps a moving average of the weights (Polyak):
//   avg = average·avg + (1 − average)·p

struct AdamParams {
    len: u32,
    lr: f32,
    beta1: f32,
    beta2: f32,
    eps: f32,
    average: f32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: AdamParams;
@group(0) @binding(1) var<storage, read> step: array<u32>;
@group(0) @binding(2) var<storage, read_write> p: array<f32>;
@group(0) @binding(3) var<storage, read> g: array<f32>;
@group(0) @binding(4) var<storage, read_write> m: array<f32>;
@group(0) @binding(5) var<storage, read_write> v: array<f32>;
@group(0) @binding(6) var<storage, read_write> avg: array<f32>;

// Updates element i; returns the new weight.
fn update(i: u32) -> f32 {
    let t = f32(max(step[0], 1u));
    let gi = g[i];
    let mi = params.beta1 * m[i] + (1.0 - params.beta1) * gi;
    let vi = params.beta2 * v[i] + (1.0 - params.beta2) * gi * gi;
    m[i] = mi;
    v[i] = vi;
    let m_hat = mi / (1.0 - pow(params.beta1, t));
    let v_hat = vi / (1.0 - pow(params.beta2, t));
    let pi = p[i] - params.lr * m_hat / (sqrt(v_hat) + params.eps);
    p[i] = pi;
    return pi;
}

@compute @workgroup_size(WG)
fn adam_step(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * WG + li;
    if (i >= params.len) { return; }
    update(i);
}

@compute @workgroup_size(WG)
fn adam_step_averaged(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * WG + li;
    if (i >= params.len) { return; }
    let pi = update(i);
    avg[i] = params.average * avg[i] + (1.0 - params.average) * pi;
}
