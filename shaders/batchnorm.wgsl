// batchnorm.wgsl: batch normalisation over [N, C, P] (P = H·W for images,
// 1 for dense features), one workgroup per channel for the training kernels.
// Statistics are the batch mean and biased variance (two passes, for accuracy);
// running statistics follow Keras: r = momentum·r + (1 − momentum)·batch.

struct BatchNormParams {
    n: u32,
    c: u32,
    p: u32,
    accumulate: u32, // backward: 1 ⇒ dx += ..., 0 ⇒ dx = ...
    eps: f32,
    momentum: f32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: BatchNormParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> gamma: array<f32>;
@group(0) @binding(3) var<storage, read> beta: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;
@group(0) @binding(5) var<storage, read_write> mean: array<f32>;
@group(0) @binding(6) var<storage, read_write> invstd: array<f32>;
@group(0) @binding(7) var<storage, read_write> running_mean: array<f32>;
@group(0) @binding(8) var<storage, read_write> running_var: array<f32>;
@group(0) @binding(9) var<storage, read> dy: array<f32>;
@group(0) @binding(10) var<storage, read_write> dx: array<f32>;
@group(0) @binding(11) var<storage, read_write> dgamma: array<f32>;
@group(0) @binding(12) var<storage, read_write> dbeta: array<f32>;

fn bn_index(c: u32, e: u32) -> u32 {
    return ((e / params.p) * params.c + c) * params.p + e % params.p;
}

// y = γ·(x − μ_B)/√(σ²_B + ε) + β, saving μ_B and 1/√(σ²_B + ε) for backward.
@compute @workgroup_size(WG)
fn batchnorm_forward_train(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let c = wg.x;
    let count = params.n * params.p;
    var s = 0.0;
    for (var e = li; e < count; e += WG) { s += x[bn_index(c, e)]; }
    let mu = workgroup_sum(s, li) / f32(count);
    var q = 0.0;
    for (var e = li; e < count; e += WG) {
        let d = x[bn_index(c, e)] - mu;
        q += d * d;
    }
    let var_b = workgroup_sum(q, li) / f32(count);
    let inv = 1.0 / sqrt(var_b + params.eps);
    let g = gamma[c];
    let b = beta[c];
    for (var e = li; e < count; e += WG) {
        let i = bn_index(c, e);
        y[i] = g * (x[i] - mu) * inv + b;
    }
    if (li == 0u) {
        mean[c] = mu;
        invstd[c] = inv;
        running_mean[c] = params.momentum * running_mean[c] + (1.0 - params.momentum) * mu;
        running_var[c] = params.momentum * running_var[c] + (1.0 - params.momentum) * var_b;
    }
}

// y = γ·(x − r_μ)/√(r_σ² + ε) + β with the running statistics (evaluation).
@compute @workgroup_size(WG)
fn batchnorm_forward_eval(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * WG + li;
    if (i >= params.n * params.c * params.p) { return; }
    let c = (i / params.p) % params.c;
    y[i] = gamma[c] * (x[i] - running_mean[c]) / sqrt(running_var[c] + params.eps) + beta[c];
}

// With x̂ = (x − μ)·inv and M = N·P:
//   dγ += Σ dy·x̂,  dβ += Σ dy,
//   dx (+)= γ·inv·(dy − Σdy/M − x̂·Σ(dy·x̂)/M)
@compute @workgroup_size(WG)
fn batchnorm_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let c = wg.x;
    let count = params.n * params.p;
    let mu = mean[c];
    let inv = invstd[c];
    var s_dy = 0.0;
    var s_dyx = 0.0;
    for (var e = li; e < count; e += WG) {
        let i = bn_index(c, e);
        s_dy += dy[i];
        s_dyx += dy[i] * (x[i] - mu) * inv;
    }
    let sum_dy = workgroup_sum(s_dy, li);
    let sum_dyx = workgroup_sum(s_dyx, li);
    let m = f32(count);
    let scale = gamma[c] * inv;
    for (var e = li; e < count; e += WG) {
        let i = bn_index(c, e);
        let xhat = (x[i] - mu) * inv;
        let g = scale * (dy[i] - sum_dy / m - xhat * sum_dyx / m);
        dx[i] = select(g, dx[i] + g, params.accumulate != 0u);
    }
    if (li == 0u) {
        dgamma[c] += sum_dyx;
        dbeta[c] += sum_dy;
    }
}

// The narrow forms: one thread per channel, for channels of few values
// (N·P ≤ NARROW_MAX in Rust: a dense layer's features at a small batch),
// where a workgroup per channel would leave most of its threads idle.
// Threads are consecutive channels, so with P = 1 their loads coalesce.
@compute @workgroup_size(WG)
fn batchnorm_forward_train_narrow(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= params.c) { return; }
    let count = params.n * params.p;
    var s = 0.0;
    for (var e = 0u; e < count; e++) { s += x[bn_index(c, e)]; }
    let mu = s / f32(count);
    var q = 0.0;
    for (var e = 0u; e < count; e++) {
        let d = x[bn_index(c, e)] - mu;
        q += d * d;
    }
    let var_b = q / f32(count);
    let inv = 1.0 / sqrt(var_b + params.eps);
    let g = gamma[c];
    let b = beta[c];
    for (var e = 0u; e < count; e++) {
        let i = bn_index(c, e);
        y[i] = g * (x[i] - mu) * inv + b;
    }
    mean[c] = mu;
    invstd[c] = inv;
    running_mean[c] = params.momentum * running_mean[c] + (1.0 - params.momentum) * mu;
    running_var[c] = params.momentum * running_var[c] + (1.0 - params.momentum) * var_b;
}

@compute @workgroup_size(WG)
fn batchnorm_backward_narrow(@builtin(global_invocation_id) gid: vec3<u32>) {
    let c = gid.x;
    if (c >= params.c) { return; }
    let count = params.n * params.p;
    let mu = mean[c];
    let inv = invstd[c];
    var sum_dy = 0.0;
    var sum_dyx = 0.0;
    for (var e = 0u; e < count; e++) {
        let i = bn_index(c, e);
        sum_dy += dy[i];
        sum_dyx += dy[i] * (x[i] - mu) * inv;
    }
    let m = f32(count);
    let scale = gamma[c] * inv;
    for (var e = 0u; e < count; e++) {
        let i = bn_index(c, e);
        let xhat = (x[i] - mu) * inv;
        let g = scale * (dy[i] - sum_dy / m - xhat * sum_dyx / m);
        dx[i] = select(g, dx[i] + g, params.accumulate != 0u);
    }
    dgamma[c] += sum_dyx;
    dbeta[c] += sum_dy;
}
