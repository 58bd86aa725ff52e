// label.wgsl: conditioning on a class label. Each sample's `per` values are
// followed by the one-hot code of its label, repeated over `spatial`
// positions (a map per class); backward passes the gradient of the
// sample's own part back. Labels are class indices held as floats.

struct LabelParams {
    n: u32,
    per: u32,
    classes: u32,
    spatial: u32,
    accumulate: u32, // backward: 1 ⇒ dx += ..., 0 ⇒ dx = ...
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: LabelParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> labels: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dx: array<f32>;

fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, local: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * WG + local;
}

// One thread per output value: a copy of x, or 1/0 by the sample's label.
@compute @workgroup_size(WG)
fn label_concat(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let width = params.per + params.classes * params.spatial;
    let i = flat_index(wg, nwg, li);
    if (i >= params.n * width) { return; }
    let sample = i / width;
    let j = i - sample * width;
    if (j < params.per) {
        y[i] = x[sample * params.per + j];
        return;
    }
    let k = (j - params.per) / params.spatial;
    y[i] = select(0.0, 1.0, labels[sample] == f32(k));
}

// One thread per input value.
@compute @workgroup_size(WG)
fn label_concat_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= params.n * params.per) { return; }
    let width = params.per + params.classes * params.spatial;
    let sample = i / params.per;
    let g = dy[sample * width + (i - sample * params.per)];
    dx[i] = select(g, dx[i] + g, params.accumulate != 0u);
}
