// bias.wgsl: db[c] (+)= Σ_{n,p} dy[n, c, p], the bias gradient of dense
// (P = 1) and convolution layers (P = H·W). One workgroup per channel.

struct BiasParams {
    n: u32,
    c: u32,
    p: u32,
    accumulate: u32,
}

@group(0) @binding(0) var<uniform> params: BiasParams;
@group(0) @binding(1) var<storage, read> dy: array<f32>;
@group(0) @binding(2) var<storage, read_write> db: array<f32>;

// db[c] (+)= Σ_{n,p} dY[n,c,p]
@compute @workgroup_size(WG)
fn bias_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let c = wg.x; // uniform across the workgroup, so no early return before the barriers
    let count = params.n * params.p;
    var s = 0.0;
    for (var e = li; e < count; e += WG) {
        let n = e / params.p;
        s += dy[(n * params.c + c) * params.p + e % params.p];
    }
    let total = workgroup_sum(s, li);
    if (li == 0u && c < params.c) {
        db[c] = select(total, db[c] + total, params.accumulate != 0u);
    }
}
