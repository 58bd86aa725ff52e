// loss.wgsl: losses and their gradients. Each loss is scale · Σ_i ℓ_i, written
// to loss[slot], and writes (not accumulates) its gradient, which starts the
// backward pass. One workgroup strides over all elements, so the sum is
// computed in one place, deterministically.
//
//   bce_with_logits  ℓ = max(x,0) − x·t + log(1 + e^−|x|),  ∂ = σ(x) − t
//                    mean: scale = 1/len; Bernoulli reconstruction summed per
//                    image and averaged over the batch: scale = 1/N
//   least_squares    ℓ = ½(x − t)²,  ∂ = x − t          (LSGAN, scale = 1/len)
//   mse              ℓ = (x − t)²,   ∂ = 2(x − t)        (scale = 1/len)
//   hinge            with s = 2t − 1 (real +1, fake −1): ℓ = max(0, 1 − s·x),
//                    ∂ = −s·[s·x < 1]   (the hinge GAN's D; scale = 1/N over 2N logits)
//   hinge_generator  ℓ = −s·x, ∂ = −s   (its G: −D(G(z)) with t = 1; scale = 1/len)
//   softmax_cross_entropy  rows of `classes` logits against target
//                    distributions: ℓ = −Σ_k t_k log softmax(x)_k,
//                    ∂_k = softmax(x)_k·Σt − t_k        (scale = 1/N)
//   classes_generator  rows of `classes` logits, the first "fake": ℓ =
//                    −log(1 − softmax(x)_0) = lse(x) − lse(x[1..]),
//                    ∂_0 = p_0, ∂_j = p_j − q_j with q = softmax(x[1..])
//                    (an unconditional G under the classes loss; scale = 1/N);
//                    with balance λ > 0, plus λ·Σ_j Q_j log Q_j, Q the mean
//                    of q over the rows, ∂_rj += λ·q_rj·(g_j − Σ_i q_ri·g_i)/N,
//                    g = log Q (the batch's digits evened out)
//   gaussian_kl      KL(N(μ, e^lv) ‖ N(0, I)) = −½ Σ (1 + lv − μ² − e^lv),
//                    ∂μ = μ, ∂lv = ½(e^lv − 1)          (scale = β/N)

const BALANCE_MAX_CLASSES: u32 = 64u; // ops::BALANCE_MAX_CLASSES
const BALANCE_EPS: f32 = 1e-12;       // ops::BALANCE_EPS

struct LossParams {
    len: u32,
    has_target: u32, // 1 ⇒ targets from the buffer, 0 ⇒ every target = target_value
    target_value: f32,
    scale: f32,
    slot: u32,       // index in the loss buffer
    classes: u32,    // softmax_cross_entropy: logits per row
    balance: f32,    // classes_generator: the balance term's weight (0: none)
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> params: LossParams;
@group(0) @binding(1) var<storage, read> x: array<f32>;
@group(0) @binding(2) var<storage, read> targets: array<f32>;
@group(0) @binding(3) var<storage, read_write> dx: array<f32>;
@group(0) @binding(4) var<storage, read_write> loss: array<f32>;
@group(0) @binding(5) var<storage, read> mu: array<f32>;
@group(0) @binding(6) var<storage, read> logvar: array<f32>;
@group(0) @binding(7) var<storage, read_write> dmu: array<f32>;
@group(0) @binding(8) var<storage, read_write> dlogvar: array<f32>;

fn target_at(i: u32) -> f32 {
    return select(params.target_value, targets[i], params.has_target != 0u);
}

fn sigmoid(x: f32) -> f32 {
    let e = exp(-abs(x));
    return select(e / (1.0 + e), 1.0 / (1.0 + e), x >= 0.0);
}

@compute @workgroup_size(WG)
fn bce_with_logits(@builtin(local_invocation_index) li: u32) {
    var s = 0.0;
    for (var i = li; i < params.len; i += WG) {
        let v = x[i];
        let t = target_at(i);
        s += max(v, 0.0) - v * t + log(1.0 + exp(-abs(v)));
        dx[i] = params.scale * (sigmoid(v) - t);
    }
    let total = workgroup_sum(s, li);
    if (li == 0u) { loss[params.slot] = params.scale * total; }
}

@compute @workgroup_size(WG)
fn least_squares(@builtin(local_invocation_index) li: u32) {
    var s = 0.0;
    for (var i = li; i < params.len; i += WG) {
        let d = x[i] - target_at(i);
        s += 0.5 * d * d;
        dx[i] = params.scale * d;
    }
    let total = workgroup_sum(s, li);
    if (li == 0u) { loss[params.slot] = params.scale * total; }
}

@compute @workgroup_size(WG)
fn hinge(@builtin(local_invocation_index) li: u32) {
    var s = 0.0;
    for (var i = li; i < params.len; i += WG) {
        let sign = 2.0 * target_at(i) - 1.0;
        let margin = 1.0 - sign * x[i];
        s += max(margin, 0.0);
        dx[i] = select(0.0, -params.scale * sign, margin > 0.0);
    }
    let total = workgroup_sum(s, li);
    if (li == 0u) { loss[params.slot] = params.scale * total; }
}

@compute @workgroup_size(WG)
fn hinge_generator(@builtin(local_invocation_index) li: u32) {
    var s = 0.0;
    for (var i = li; i < params.len; i += WG) {
        let sign = 2.0 * target_at(i) - 1.0;
        s -= sign * x[i];
        dx[i] = -params.scale * sign;
    }
    let total = workgroup_sum(s, li);
    if (li == 0u) { loss[params.slot] = params.scale * total; }
}

@compute @workgroup_size(WG)
fn mse(@builtin(local_invocation_index) li: u32) {
    var s = 0.0;
    for (var i = li; i < params.len; i += WG) {
        let d = x[i] - target_at(i);
        s += d * d;
        dx[i] = params.scale * 2.0 * d;
    }
    let total = workgroup_sum(s, li);
    if (li == 0u) { loss[params.slot] = params.scale * total; }
}

// log Σ e^x over x[base + lo .. base + hi), from the largest (no overflow).
fn log_sum_exp(base: u32, lo: u32, hi: u32) -> f32 {
    var m = x[base + lo];
    for (var j = lo + 1u; j < hi; j++) { m = max(m, x[base + j]); }
    var sum = 0.0;
    for (var j = lo; j < hi; j++) { sum += exp(x[base + j] - m); }
    return m + log(sum);
}

@compute @workgroup_size(WG)
fn softmax_cross_entropy(@builtin(local_invocation_index) li: u32) {
    let k = params.classes;
    let rows = params.len / k;
    var s = 0.0;
    for (var r = li; r < rows; r += WG) {
        let base = r * k;
        let lse = log_sum_exp(base, 0u, k);
        var t_sum = 0.0;
        for (var j = 0u; j < k; j++) { t_sum += targets[base + j]; }
        for (var j = 0u; j < k; j++) {
            let t = targets[base + j];
            s -= t * (x[base + j] - lse);
            dx[base + j] = params.scale * (exp(x[base + j] - lse) * t_sum - t);
        }
    }
    let total = workgroup_sum(s, li);
    if (li == 0u) { loss[params.slot] = params.scale * total; }
}

@compute @workgroup_size(WG)
fn classes_generator(@builtin(local_invocation_index) li: u32) {
    let k = params.classes;
    let rows = params.len / k;
    var s = 0.0;
    for (var r = li; r < rows; r += WG) {
        let base = r * k;
        let lse = log_sum_exp(base, 0u, k);
        let lse_c = log_sum_exp(base, 1u, k);
        s += lse - lse_c;
        dx[base] = params.scale * exp(x[base] - lse);
        for (var j = 1u; j < k; j++) {
            dx[base + j] = params.scale * (exp(x[base + j] - lse) - exp(x[base + j] - lse_c));
        }
    }
    var total = params.scale * workgroup_sum(s, li);
    let lam = params.balance;
    if (lam > 0.0) {
        // Each class's share Q_j of the rows, in every thread: g_j = log Q_j.
        var g: array<f32, BALANCE_MAX_CLASSES>;
        for (var j = 1u; j < k; j++) {
            var q = 0.0;
            for (var r = li; r < rows; r += WG) {
                q += exp(x[r * k + j] - log_sum_exp(r * k, 1u, k));
            }
            let share = params.scale * workgroup_sum(q, li);
            g[j] = log(max(share, BALANCE_EPS));
            total += lam * share * g[j];
        }
        // The same rows as above, so each thread adds to its own dx.
        for (var r = li; r < rows; r += WG) {
            let base = r * k;
            let lse_c = log_sum_exp(base, 1u, k);
            var mean = 0.0;
            for (var j = 1u; j < k; j++) {
                mean += exp(x[base + j] - lse_c) * g[j];
            }
            for (var j = 1u; j < k; j++) {
                dx[base + j] += lam * params.scale * exp(x[base + j] - lse_c) * (g[j] - mean);
            }
        }
    }
    if (li == 0u) { loss[params.slot] = total; }
}

@compute @workgroup_size(WG)
fn gaussian_kl(@builtin(local_invocation_index) li: u32) {
    var s = 0.0;
    for (var i = li; i < params.len; i += WG) {
        let m = mu[i];
        let lv = logvar[i];
        let e = exp(lv);
        s += -0.5 * (1.0 + lv - m * m - e);
        dmu[i] = params.scale * m;
        dlogvar[i] = params.scale * 0.5 * (e - 1.0);
    }
    let total = workgroup_sum(s, li);
    if (li == 0u) { loss[params.slot] = params.scale * total; }
}
