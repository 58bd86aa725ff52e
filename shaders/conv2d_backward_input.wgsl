// conv2d_backward_input.wgsl: dX = conv2d_transpose(dY, W), i.e.
//   dx[n,ci,ih,iw] = Σ_{co,kh,kw} dy[n, co, oh, ow] · w[co,ci,kh,kw]
//   where oh·S = ih + pad_h − kh and ow·S = iw + pad_w − kw (exact division).
// With bias and activation it is also the forward of a transposed convolution.
//
// Only taps with kh ≡ ih + pad_h (mod S) can divide exactly, so the pixels
// are split by phase (ih + pad_h mod S, iw + pad_w mod S) and each phase is its
// own implicit GEMM (one dispatch each, S² in all) over just its taps:
//   M = N · rows · cols (that phase's pixels), N = C_in, K = C_out · taps_h · taps_w.
// At stride 2 with 5×5 kernels that gathers 25 taps per pixel instead of
// 4 × 25; at stride 1 there is one phase and every tap.

@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read> w: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> dx: array<f32>;

fn conv_x_load(i: u32) -> f32 {
    return 0.0; // this module gathers from dy, never from x
}

fn gemm_dims() -> vec3<u32> {
    return vec3<u32>(params.n * params.rows * params.cols, params.c_in, params.c_out * params.taps_h * params.taps_w);
}

// (n, ih, iw) of this phase's pixel m.
fn phase_pixel(m: u32) -> vec3<u32> {
    let px = split_pixel(m, params.rows, params.cols);
    return vec3<u32>(px.x, params.first_h + px.y * params.stride, params.first_w + px.z * params.stride);
}

// (co, kh, kw) of this phase's patch index k.
fn phase_tap(k: u32) -> vec3<u32> {
    let taps = params.taps_h * params.taps_w;
    let t = k % taps;
    return vec3<u32>(k / taps, params.phase_h + (t / params.taps_w) * params.stride, params.phase_w + (t % params.taps_w) * params.stride);
}

fn load_a(m: u32, k: u32) -> f32 {
    let px = phase_pixel(m);
    let tap = phase_tap(k); // (co, kh, kw)
    // ih + pad_h − kh is a multiple of S by construction; it may still fall outside dy.
    let th = i32(px.y + params.pad_h) - i32(tap.y);
    let tw = i32(px.z + params.pad_w) - i32(tap.z);
    if (th < 0 || tw < 0) {
        return 0.0;
    }
    let oh = u32(th) / params.stride;
    let ow = u32(tw) / params.stride;
    if (oh >= params.h_out || ow >= params.w_out) {
        return 0.0;
    }
    return dy[((px.x * params.c_out + tap.x) * params.h_out + oh) * params.w_out + ow];
}

fn load_b(k: u32, ci: u32) -> f32 {
    let tap = phase_tap(k);
    return w[((tap.x * params.c_in + ci) * params.k + tap.y) * params.k + tap.z];
}

fn store_c(m: u32, ci: u32, acc: f32) {
    let px = phase_pixel(m);
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

// The same dX without a GEMM: one thread per dx element, looping over C_out
// and only the taps of its phase. With few input channels the GEMM's N is 1
// or 2, nothing is shared across its tile, and its barriers dominate; this
// form has none. Same bindings and store semantics as the GEMM form.
@compute @workgroup_size(WG)
fn conv2d_backward_input_direct(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = (wg.y * nwg.x + wg.x) * WG + li;
    if (i >= params.n * params.c_in * params.h * params.w) { return; }
    let iw = i % params.w;
    let ih = (i / params.w) % params.h;
    let ci = (i / (params.w * params.h)) % params.c_in;
    let n = i / (params.w * params.h * params.c_in);
    let s = params.stride;
    let rh = (ih + params.pad_h) % s;
    let rw = (iw + params.pad_w) % s;
    var acc = 0.0;
    for (var co = 0u; co < params.c_out; co++) {
        let dy_base = (n * params.c_out + co) * params.h_out * params.w_out;
        let w_base = (co * params.c_in + ci) * params.k * params.k;
        // kh grows, so ih + pad_h − kh shrinks: once negative, no later tap fits.
        for (var kh = rh; kh < params.k && kh <= ih + params.pad_h; kh += s) {
            let oh = (ih + params.pad_h - kh) / s;
            if (oh >= params.h_out) { continue; }
            for (var kw = rw; kw < params.k && kw <= iw + params.pad_w; kw += s) {
                let ow = (iw + params.pad_w - kw) / s;
                if (ow >= params.w_out) { continue; }
                acc = fma(dy[dy_base + oh * params.w_out + ow], w[w_base + kh * params.k + kw], acc);
            }
        }
    }
    var v = acc;
    if (params.accumulate != 0u) { v += dx[i]; }
    if (params.has_bias != 0u) { v += bias[ci]; }
    dx[i] = activate(v, params.act, params.slope);
}
