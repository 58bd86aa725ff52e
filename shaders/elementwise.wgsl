// elementwise.wgsl: activation layers as their own kernels (when they are not
// fused into the producing matmul or conv), gradient zeroing and fills, and
// the per-model step counter. Prepended with activation.wgsl.
//
// Launch grid: 1-D over `len`, spread over x and y so that more than
// 65535 × WG elements fit: i = (wg.y · num_wg.x + wg.x) · WG + local.

struct ElementwiseParams {
    len: u32,
    act: u32,
    slope: f32,
    accumulate: u32, // backward: 1 ⇒ dx += ..., 0 ⇒ dx = ...
    value: f32,      // fill
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: ElementwiseParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> y: array<f32>;
@group(0) @binding(3) var<storage, read> dy: array<f32>;
@group(0) @binding(4) var<storage, read> y_in: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;
@group(0) @binding(6) var<storage, read_write> step: array<u32>;

fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, local: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * WG + local;
}

// y = act(x) for the activation in params.act.
@compute @workgroup_size(WG)
fn activation_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= params.len) { return; }
    y[i] = activate(x[i], params.act, params.slope);
}

// dx (+)= dy · act'(x), with act' written through y = act(x).
@compute @workgroup_size(WG)
fn activation_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= params.len) { return; }
    let g = dy[i] * activate_grad(y_in[i], params.act, params.slope);
    dx[i] = select(g, dx[i] + g, params.accumulate != 0u);
}

// y = value (gradient zeroing is fill with 0).
@compute @workgroup_size(WG)
fn fill(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= params.len) { return; }
    y[i] = params.value;
}

// step[0] += 1: the training-step counter that Adam's bias correction and the
// RNG streams read, kept on the GPU so a step needs no upload.
@compute @workgroup_size(1)
fn step_increment() {
    if (params.len == 0u) { return; }
    step[0] = step[0] + 1u;
}
