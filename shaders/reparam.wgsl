// reparam.wgsl: the VAE reparameterisation z = μ + e^{½·lv}·ε with ε ~ N(0, I)
// drawn beforehand (gaussian_noise) into its own buffer, so backward sees it.

struct ReparamParams {
    len: u32,
    accumulate: u32, // backward: 1 ⇒ dμ, dlv += ..., 0 ⇒ = ...
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: ReparamParams;
@group(0) @binding(1) var<storage, read> mu: array<f32>;
@group(0) @binding(2) var<storage, read> logvar: array<f32>;
@group(0) @binding(3) var<storage, read> eps: array<f32>;
@group(0) @binding(4) var<storage, read_write> z: array<f32>;
@group(0) @binding(5) var<storage, read> dz: array<f32>;
@group(0) @binding(6) var<storage, read_write> dmu: array<f32>;
@group(0) @binding(7) var<storage, read_write> dlogvar: array<f32>;

fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, local: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * WG + local;
}

@compute @workgroup_size(WG)
fn reparameterize_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= params.len) { return; }
    z[i] = mu[i] + exp(0.5 * logvar[i]) * eps[i];
}

// dμ (+)= dz,  dlv (+)= dz · ε · ½ e^{½·lv}
@compute @workgroup_size(WG)
fn reparameterize_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= params.len) { return; }
    let g = dz[i];
    let glv = g * eps[i] * 0.5 * exp(0.5 * logvar[i]);
    let acc = params.accumulate != 0u;
    dmu[i] = select(g, dmu[i] + g, acc);
    dlogvar[i] = select(glv, dlogvar[i] + glv, acc);
}
