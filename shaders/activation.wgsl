// activation.wgsl: relu, leaky relu, tanh and sigmoid, forward and backward.
//
// Every backward takes the forward's *output* y, which is all these four need:
// relu' = [y > 0], leaky' = y > 0 ? 1 : slope (slope >= 0), tanh' = 1 - y²,
// sigmoid' = y·(1 - y). That is what lets matmul and conv fuse the forward
// activation into their store and still be differentiated here.
//
// The activate() helper is shared with gemm-based modules (they prepend this
// file), with codes ACT_NONE..ACT_SIGMOID prepended from `core::ACTIVATION_CODES`.

// tanh via exp of a clamped argument: tanh(±10) is ±1 in f32, and some
// implementations return NaN for large |x|.
fn tanh_stable(x: f32) -> f32 {
    let e = exp(-2.0 * abs(clamp(x, -10.0, 10.0)));
    return sign(x) * (1.0 - e) / (1.0 + e);
}

// σ(x) without overflow for either sign.
fn sigmoid_stable(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

fn activate(x: f32, act: u32, slope: f32) -> f32 {
    switch act {
        case 1u: { return max(x, 0.0); }
        case 2u: { return select(slope * x, x, x > 0.0); }
        case 3u: { return tanh_stable(x); }
        case 4u: { return sigmoid_stable(x); }
        default: { return x; }
    }
}

// d act / d x expressed through y = act(x).
fn activate_grad(y: f32, act: u32, slope: f32) -> f32 {
    switch act {
        case 1u: { return select(0.0, 1.0, y > 0.0); }
        case 2u: { return select(slope, 1.0, y > 0.0); }
        case 3u: { return 1.0 - y * y; }
        case 4u: { return y * (1.0 - y); }
        default: { return 1.0; }
    }
}
