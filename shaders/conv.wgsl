// conv.wgsl: the geometry every convolution kernel shares (prepended to
// conv2d_forward.wgsl, conv2d_backward_input.wgsl, conv2d_backward_weight.wgsl).
//
// Layout: images NCHW, weights [C_out, C_in, K, K]. A convolution maps
// x[N, C_in, H, W] to y[N, C_out, H_out, W_out] with
//   y[n,co,oh,ow] = Σ_{ci,kh,kw} x[n, ci, oh·S + kh − pad_h, ow·S + kw − pad_w] · w[co,ci,kh,kw]
// (out-of-range x reads are zero). Only the top/left padding enters the index
// arithmetic; the bottom/right padding is whatever makes H_out come out, which
// is how TensorFlow's asymmetric 'same' padding (28→14 with 5×5, stride 2:
// pad 1 on top, 2 at the bottom) is expressed.
// A transposed convolution is described by the convolution it transposes.

struct ConvParams {
    n: u32,
    c_in: u32,
    h: u32,
    w: u32,
    c_out: u32,
    h_out: u32,
    w_out: u32,
    k: u32,
    stride: u32,
    pad_h: u32,
    pad_w: u32,
    accumulate: u32, // 1 ⇒ out += ..., 0 ⇒ out = ...
    has_bias: u32,   // 1 ⇒ add bias[channel of the output]
    act: u32,        // ACT_* applied last
    slope: f32,
    // The input-gradient kernel runs once per stride phase (see
    // conv2d_backward_input.wgsl); the other kernels ignore these.
    phase_h: u32,    // (ih + pad_h) mod S of the rows this dispatch computes
    phase_w: u32,
    first_h: u32,    // the first such row (column)
    first_w: u32,
    rows: u32,       // how many such rows (columns)
    cols: u32,
    taps_h: u32,     // kernel rows (columns) with kh ≡ phase_h (mod S)
    taps_w: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: ConvParams;

// (n, row, col) of pixel index m in an N × rows × cols grid.
fn split_pixel(m: u32, rows: u32, cols: u32) -> vec3<u32> {
    let hw = rows * cols;
    let p = m % hw;
    return vec3<u32>(m / hw, p / cols, p % cols);
}

// (channel, kh, kw) of index k in a channels × K × K patch.
fn split_patch(k: u32) -> vec3<u32> {
    let kk = params.k * params.k;
    let r = k % kk;
    return vec3<u32>(k / kk, r / params.k, r % params.k);
}

// x[n, ci, oh·S + kh − pad_h, ow·S + kw − pad_w], zero outside the image.
fn conv_input_at(n: u32, ci: u32, oh: u32, ow: u32, kh: u32, kw: u32) -> f32 {
    let ih = i32(oh * params.stride + kh) - i32(params.pad_h);
    let iw = i32(ow * params.stride + kw) - i32(params.pad_w);
    if (ih < 0 || iw < 0 || ih >= i32(params.h) || iw >= i32(params.w)) {
        return 0.0;
    }
    return conv_x_load(((n * params.c_in + ci) * params.h + u32(ih)) * params.w + u32(iw));
}
