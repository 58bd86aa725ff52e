// conv2d_backward_weight.wgsl: dW (+)= Σ_{n,oh,ow} dY[n,co,oh,ow] · X[n, ci, oh·S+kh−pad_h, ow·S+kw−pad_w],
// an implicit GEMM with M = C_out, N = C_in·K·K, K = N·H_out·W_out:
//   A[co, m] = dy[n, co, oh, ow] for output pixel m = (n, oh, ow),
//   B[m, j]  = the patch element j = (ci, kh, kw) of output pixel m.
// With dy and x swapped it is the weight gradient of a transposed convolution.

@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(4) var<storage, read_write> dw: array<f32>;

fn conv_x_load(i: u32) -> f32 {
    return x[i];
}

fn gemm_dims() -> vec3<u32> {
    return vec3<u32>(params.c_out, params.c_in * params.k * params.k, params.n * params.h_out * params.w_out);
}

fn load_a(co: u32, m: u32) -> f32 {
    let px = split_pixel(m, params.h_out, params.w_out);
    return dy[((px.x * params.c_out + co) * params.h_out + px.y) * params.w_out + px.z];
}

fn load_b(m: u32, j: u32) -> f32 {
    let px = split_pixel(m, params.h_out, params.w_out);
    let pt = split_patch(j);
    return conv_input_at(px.x, pt.x, px.y, px.z, pt.y, pt.z);
}

fn store_c(co: u32, j: u32, acc: f32) {
    let i = co * params.c_in * params.k * params.k + j;
    dw[i] = select(acc, dw[i] + acc, params.accumulate != 0u);
}

@compute @workgroup_size(GEMM_WG_X, GEMM_WG_Y)
fn conv2d_backward_weight(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    gemm(wg, lid.xy, li);
}
