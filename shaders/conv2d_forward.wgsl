// conv2d_forward.wgsl: y = act(conv2d(x, w) + b), an implicit GEMM with
//   M = N·H_out·W_out (output pixels), N = C_out, K = C_in·K·K (patch),
//   A[m, k] = the patch element k of output pixel m (gathered from x),
//   B[k, co] = w[co, k].
// Also the input gradient of a transposed convolution.

@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> y: array<f32>;

fn conv_x_load(i: u32) -> f32 {
    return x[i];
}

fn gemm_dims() -> vec3<u32> {
    return vec3<u32>(params.n * params.h_out * params.w_out, params.c_out, params.c_in * params.k * params.k);
}

fn load_a(m: u32, k: u32) -> f32 {
    let px = split_pixel(m, params.h_out, params.w_out);
    let pt = split_patch(k);
    return conv_input_at(px.x, pt.x, px.y, px.z, pt.y, pt.z);
}

fn load_b(k: u32, co: u32) -> f32 {
    return w[co * params.c_in * params.k * params.k + k];
}

fn store_c(m: u32, co: u32, acc: f32) {
    let px = split_pixel(m, params.h_out, params.w_out);
    let i = ((px.x * params.c_out + co) * params.h_out + px.y) * params.w_out + px.z;
    var v = acc;
    if (params.accumulate != 0u) { v += y[i]; }
    if (params.has_bias != 0u) { v += bias[co]; }
    y[i] = activate(v, params.act, params.slope);
}

@compute @workgroup_size(GEMM_WG_X, GEMM_WG_Y)
fn conv2d_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    gemm(wg, lid.xy, li);
}
