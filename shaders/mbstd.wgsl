// mbstd.wgsl: minibatch standard deviation (ProGAN). The batch is cut into
// groups of `group` consecutive samples, never across a multiple of
// `segment` (the last group of a segment may be smaller); s_g, the mean
// over a sample's `per` values of their standard deviation over the group,
// joins each member as one more map of `spatial` positions.
//
//   minibatch_std_stat       a workgroup per group: stat[g] = s_g
//   minibatch_std_forward    a thread per output value: x, or stat[g]
//   minibatch_std_stat_grad  a workgroup per group: dstat[g] = Σ dy over the group's maps
//   minibatch_std_backward   a thread per input value:
//                            dx (+)= dy + dstat[g]·(x − μ)/(per·m·σ)

const EPS: f32 = 1e-8; // ops::MBSTD_EPS

struct MinibatchStdParams {
    n: u32,
    per: u32,
    spatial: u32,
    group: u32,
    segment: u32,
    accumulate: u32, // backward: 1 ⇒ dx += ..., 0 ⇒ dx = ...
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: MinibatchStdParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read_write> stat: array<f32>;
@group(0) @binding(3) var<storage, read_write> y: array<f32>;
@group(0) @binding(4) var<storage, read> dy: array<f32>;
@group(0) @binding(5) var<storage, read_write> dstat: array<f32>;
@group(0) @binding(6) var<storage, read_write> dx: array<f32>;

fn workgroup_index(wg: vec3<u32>, nwg: vec3<u32>) -> u32 {
    return wg.y * nwg.x + wg.x;
}

fn groups_per_segment() -> u32 {
    return (params.segment + params.group - 1u) / params.group;
}

fn group_count() -> u32 {
    return params.n / params.segment * groups_per_segment();
}

// The group of sample i.
fn group_of(i: u32) -> u32 {
    let seg = i / params.segment;
    return seg * groups_per_segment() + (i - seg * params.segment) / params.group;
}

// The first member of group g and the number of members.
fn members(g: u32) -> vec2<u32> {
    let gps = groups_per_segment();
    let seg = g / gps;
    let k = g - seg * gps;
    return vec2<u32>(seg * params.segment + k * params.group, min(params.group, params.segment - k * params.group));
}

// μ and σ of value j over the members of a group.
fn member_stats(m: vec2<u32>, j: u32) -> vec2<f32> {
    var sum = 0.0;
    for (var i = m.x; i < m.x + m.y; i++) {
        sum += x[i * params.per + j];
    }
    let mean = sum / f32(m.y);
    var ss = 0.0;
    for (var i = m.x; i < m.x + m.y; i++) {
        let d = x[i * params.per + j] - mean;
        ss += d * d;
    }
    return vec2<f32>(mean, sqrt(ss / f32(m.y) + EPS));
}

@compute @workgroup_size(WG)
fn minibatch_std_stat(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let g = workgroup_index(wg, nwg);
    if (g >= group_count()) { return; } // the whole workgroup returns: no barrier is skipped by part of it
    let m = members(g);
    var sum = 0.0;
    for (var j = li; j < params.per; j += WG) {
        sum += member_stats(m, j).y;
    }
    let total = workgroup_sum(sum, li);
    if (li == 0u) { stat[g] = total / f32(params.per); }
}

@compute @workgroup_size(WG)
fn minibatch_std_forward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let width = params.per + params.spatial;
    let i = workgroup_index(wg, nwg) * WG + li;
    if (i >= params.n * width) { return; }
    let sample = i / width;
    let j = i - sample * width;
    if (j < params.per) {
        y[i] = x[sample * params.per + j];
    } else {
        y[i] = stat[group_of(sample)];
    }
}

@compute @workgroup_size(WG)
fn minibatch_std_stat_grad(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let g = workgroup_index(wg, nwg);
    if (g >= group_count()) { return; } // the whole workgroup returns
    let m = members(g);
    let width = params.per + params.spatial;
    let len = m.y * params.spatial;
    var sum = 0.0;
    for (var k = li; k < len; k += WG) {
        let i = m.x + k / params.spatial;
        sum += dy[i * width + params.per + k % params.spatial];
    }
    let total = workgroup_sum(sum, li);
    if (li == 0u) { dstat[g] = total; }
}

@compute @workgroup_size(WG)
fn minibatch_std_backward(@builtin(workgroup_id) wg: vec3<u32>, @builtin(num_workgroups) nwg: vec3<u32>, @builtin(local_invocation_index) li: u32) {
    let k = workgroup_index(wg, nwg) * WG + li;
    if (k >= params.n * params.per) { return; }
    let sample = k / params.per;
    let j = k - sample * params.per;
    let g = group_of(sample);
    let m = members(g);
    let ms = member_stats(m, j);
    let spread = dstat[g] * (x[k] - ms.x) / (f32(params.per) * f32(m.y) * ms.y);
    let v = dy[sample * (params.per + params.spatial) + j] + spread;
    dx[k] = select(v, dx[k] + v, params.accumulate != 0u);
}
