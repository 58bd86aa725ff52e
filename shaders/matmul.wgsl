// matmul.wgsl: C[M,N] (+)= op(A)·op(B) (+ bias[n]), then an activation.
// Built on gemm.wgsl (with activation.wgsl and a tile shape prepended). The dense layer uses it
// three ways (see src/ops/dense.rs):
//   linear_forward          Y  = act(X·Wᵀ + b)   trans_b = 1
//   linear_backward_input   dX (+)= dY·W         no transposes
//   linear_backward_weight  dW += dYᵀ·X          trans_a = 1

struct MatmulParams {
    m: u32,
    n: u32,
    k: u32,
    trans_a: u32,    // 1 ⇒ A is stored [K, M]
    trans_b: u32,    // 1 ⇒ B is stored [N, K]
    accumulate: u32, // 1 ⇒ C += ..., 0 ⇒ C = ...
    has_bias: u32,   // 1 ⇒ add bias[n] (length N)
    act: u32,        // ACT_* code, applied last
    slope: f32,      // leaky relu slope
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> params: MatmulParams;
@group(0) @binding(1) var<storage, read> a: array<f32>;
@group(0) @binding(2) var<storage, read> b: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;
@group(0) @binding(4) var<storage, read_write> c: array<f32>;

fn gemm_dims() -> vec3<u32> {
    return vec3<u32>(params.m, params.n, params.k);
}

fn load_a(m: u32, k: u32) -> f32 {
    return select(a[m * params.k + k], a[k * params.m + m], params.trans_a != 0u);
}

fn load_b(k: u32, n: u32) -> f32 {
    return select(b[k * params.n + n], b[n * params.k + k], params.trans_b != 0u);
}

fn store_c(m: u32, n: u32, acc: f32) {
    let i = m * params.n + n;
    var v = acc;
    if (params.accumulate != 0u) { v += c[i]; }
    if (params.has_bias != 0u) { v += bias[n]; }
    c[i] = activate(v, params.act, params.slope);
}

@compute @workgroup_size(GEMM_WG_X, GEMM_WG_Y)
fn matmul(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    gemm(wg, lid.xy, li);
}
