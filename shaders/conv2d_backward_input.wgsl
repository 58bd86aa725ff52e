// conv2d_backward_input.wgsl: dX = conv2d_transpose(dY, W), i.e.
//   dx[n,ci,ih,iw] = Σ_{co,kh,kw} dy[n, co, oh, ow] · w[co,ci,kh,kw]
//   where oh·S = ih + pad_h − kh and ow·S = iw + pad_w − kw (exact division),
// as an implicit GEMM with M = N·H·W (input pixels), N = C_in, K = C_out·K·K.
// With bias and activation it is also the forward of a transposed convolution.

@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

fn conv_x_load(i: u32) -> f32 {
    return 0.0; // this module gathers from dy, never from x
}

fn gemm_dims() -> vec3<u32> {
    return vec3<u32>(params.n * params.h * params.w, params.c_in, params.c_out * params.k * params.k);
}

fn load_a(m: u32, k: u32) -> f32 {
    let px = split_pixel(m, params.h, params.w);
    let pt = split_patch(k); // (co, kh, kw)
    let th = i32(px.y + params.pad_h) - i32(pt.y);
    let tw = i32(px.z + params.pad_w) - i32(pt.z);
    let s = i32(params.stride);
    if (th < 0 || tw < 0 || th % s != 0 || tw % s != 0) {
        return 0.0;
    }
    let oh = u32(th / s);
    let ow = u32(tw / s);
    if (oh >= params.h_out || ow >= params.w_out) {
        return 0.0;
    }
    return dy[((px.x * params.c_out + pt.x) * params.h_out + oh) * params.w_out + ow];
}

fn load_b(k: u32, ci: u32) -> f32 {
    let kk = params.k * params.k;
    let co = k / kk;
    return w[(co * params.c_in + ci) * kk + k % kk];
}

fn store_c(m: u32, ci: u32, acc: f32) {
    let px = split_pixel(m, params.h, params.w);
    let i = ((px.x * params.c_in + ci) * params.h + px.y) * params.w + px.z;
    var v = acc;
    if (params.accumulate != 0u) { v += dx[i]; }
    if (params.has_bias != 0u) { v += bias[ci]; }
    dx[i] = activate(v, params.act, params.slope);
}

@compute @workgroup_size(GEMM_WG_X, GEMM_WG_Y)
fn conv2d_backward_input(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    gemm(wg, lid.xy, li);
}
