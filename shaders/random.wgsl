// random.wgsl: counter-based random numbers (Threefry-2x32, 20 rounds, from
// Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
// Every number is a pure function of (key, counter) = ((seed, stream), (index, step)):
// the same seed gives the same numbers on every device and in src/rng.rs,
// which implements the same function bit for bit.
// `step` comes from the model's step counter on the GPU, so each training
// step draws new numbers with nothing uploaded.

struct RandomParams {
    len: u32,
    seed: u32,
    stream: u32,
    accumulate: u32, // dropout backward: 1 ⇒ dx += ..., 0 ⇒ dx = ...
    rate: f32,       // dropout probability
    mean: f32,       // gaussian noise
    stddev: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> params: RandomParams;
@group(0) @binding(1) var<storage, read> step: array<u32>;
@group(0) @binding(2) var<storage, read> x: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;

fn rotl(x: u32, r: u32) -> u32 {
    return (x << r) | (x >> (32u - r));
}

fn threefry2x32(counter: vec2<u32>, key: vec2<u32>) -> vec2<u32> {
    let rot = array<u32, 8>(13u, 15u, 26u, 6u, 17u, 29u, 16u, 24u);
    let ks = array<u32, 3>(key.x, key.y, 0x1BD11BDAu ^ key.x ^ key.y);
    var x0 = counter.x + ks[0];
    var x1 = counter.y + ks[1];
    for (var r = 0u; r < 20u; r++) {
        x0 += x1;
        x1 = rotl(x1, rot[r % 8u]);
        x1 ^= x0;
        if (r % 4u == 3u) {
            let s = r / 4u + 1u;
            x0 += ks[s % 3u];
            x1 += ks[(s + 1u) % 3u] + s;
        }
    }
    return vec2<u32>(x0, x1);
}

fn random_bits(i: u32) -> vec2<u32> {
    return threefry2x32(vec2<u32>(i, step[0]), vec2<u32>(params.seed, params.stream));
}

// The top 24 bits as a float in [0, 1): exact in f32, so CPU and GPU agree.
fn to_unit(bits: u32) -> f32 {
    return f32(bits >> 8u) * (1.0 / 16777216.0);
}

fn flat_index(wg: vec3<u32>, nwg: vec3<u32>, local: u32) -> u32 {
    return (wg.y * nwg.x + wg.x) * WG + local;
}

// y = keep ? x / (1 − rate) : 0, keep ⇔ u ≥ rate (inverted dropout).
@compute @workgroup_size(WG)
fn dropout_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= params.len) { return; }
    let keep = to_unit(random_bits(i).x) >= params.rate;
    y[i] = select(0.0, x[i] / (1.0 - params.rate), keep);
}

// dx (+)= keep ? dy / (1 − rate) : 0, with the mask regenerated from the same
// counter rather than stored. Binding 2 carries dy, binding 3 dx.
@compute @workgroup_size(WG)
fn dropout_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= params.len) { return; }
    let keep = to_unit(random_bits(i).x) >= params.rate;
    let g = select(0.0, x[i] / (1.0 - params.rate), keep);
    y[i] = select(g, y[i] + g, params.accumulate != 0u);
}

// y = mean + std·N(0, 1), by Box–Muller on the two words of one counter.
@compute @workgroup_size(WG)
fn gaussian_noise(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let i = flat_index(wg, nwg, li);
    if (i >= params.len) { return; }
    let bits = random_bits(i);
    let u1 = f32((bits.x >> 8u) + 1u) * (1.0 / 16777216.0); // (0, 1]
    let u2 = to_unit(bits.y);
    y[i] = params.mean + params.stddev * sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}
