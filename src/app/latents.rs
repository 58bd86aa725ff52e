//! The latents the page draws from: interpolation strips, the 2-D
//! manifold's grid of normal quantiles.

use crate::core::rng::Rng;
use crate::data::SIDE;
use crate::models::ModelConfig;

/// `n` latents on the great-circle path between two fixed N(0, I) draws
/// (slerp: a linear path would pass through the unlikely middle of the ball).
pub fn interpolation_latents(c: &ModelConfig, n: usize, seed: u32) -> Vec<f32> {
    let mut rng = Rng::new(seed, 11);
    let (a, b) = (rng.normal_vec(c.latent, 1.0), rng.normal_vec(c.latent, 1.0));
    let dot: f64 = a.iter().zip(&b).map(|(x, y)| (x * y) as f64).sum();
    let norm = |v: &[f32]| v.iter().map(|x| (x * x) as f64).sum::<f64>().sqrt();
    let omega = (dot / (norm(&a) * norm(&b))).clamp(-1.0, 1.0).acos();
    let mut out = Vec::with_capacity(n * c.latent);
    for i in 0..n {
        let t = i as f64 / (n.max(2) - 1) as f64;
        let (wa, wb) = if omega.abs() < 1e-6 {
            (1.0 - t, t)
        } else {
            (
                ((1.0 - t) * omega).sin() / omega.sin(),
                (t * omega).sin() / omega.sin(),
            )
        };
        out.extend(
            a.iter()
                .zip(&b)
                .map(|(x, y)| (wa * *x as f64 + wb * *y as f64) as f32),
        );
    }
    out
}

/// The inverse of the standard normal CDF (Acklam's rational approximation,
/// relative error below 1.2e-9).
pub fn normal_quantile(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969683028665376e1,
        2.209460984245205e2,
        -2.759285104469687e2,
        1.38357751867269e2,
        -3.066479806614716e1,
        2.506628277459239,
    ];
    const B: [f64; 5] = [
        -5.447609879822406e1,
        1.615858368580409e2,
        -1.556989798598866e2,
        6.680131188771972e1,
        -1.328068155288572e1,
    ];
    const C: [f64; 6] = [
        -7.784894002430293e-3,
        -3.223964580411365e-1,
        -2.400758277161838,
        -2.549732539343734,
        4.374664141464968,
        2.938163982698783,
    ];
    const D: [f64; 4] = [
        7.784695709041462e-3,
        3.224671290700398e-1,
        2.445134137142996,
        3.754408661907416,
    ];
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < 0.02425 {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - 0.02425 {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// The standard normal CDF (the complementary error function of Numerical
/// Recipes' erfcc, relative error below 1.2e-7): the inverse of [`normal_quantile`].
pub fn normal_cdf(x: f64) -> f64 {
    let z = x.abs() / std::f64::consts::SQRT_2;
    let t = 1.0 / (1.0 + 0.5 * z);
    let poly = -z * z - 1.26551223
        + t * (1.00002368
            + t * (0.37409196
                + t * (0.09678418
                    + t * (-0.18628806
                        + t * (0.27886807
                            + t * (-1.13520398
                                + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277))))))));
    let erfc = t * poly.exp();
    if x >= 0.0 {
        1.0 - 0.5 * erfc
    } else {
        0.5 * erfc
    }
}

/// Where a 2-D latent `z` falls on the manifold picture of
/// [`manifold_latents`] (`side` tiles a side, drawn by `train::tile` with
/// 2-pixel gaps): its pixel (x, y), between the tiles' centres.
pub fn manifold_pixel(z: [f32; 2], side: usize) -> [f32; 2] {
    let pitch = (SIDE + 2) as f64;
    // The tile whose quantile is z, fractionally: column c holds Φ⁻¹((c + ½)/side).
    let tile = |v: f32| (normal_cdf(v as f64) * side as f64 - 0.5).clamp(0.0, (side - 1) as f64);
    let at = |t: f64| (2.0 + t * pitch + SIDE as f64 / 2.0) as f32;
    [at(tile(z[0])), at((side - 1) as f64 - tile(z[1]))]
}

/// A `side`×`side` grid over a 2-D latent space at evenly spaced quantiles
/// of N(0, 1) on each axis (rows: the second coordinate, top = high).
pub fn manifold_latents(side: usize) -> Vec<f32> {
    let q = |i: usize| normal_quantile((i as f64 + 0.5) / side as f64) as f32;
    let mut out = Vec::with_capacity(side * side * 2);
    for r in 0..side {
        for col in 0..side {
            out.extend([q(col), q(side - 1 - r)]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cdf_inverts_the_quantile() {
        for p in [1e-4, 0.01, 0.2, 0.5, 0.77, 0.999] {
            let back = normal_cdf(normal_quantile(p));
            assert!((back - p).abs() < 1e-6 * p.max(1e-2), "{p} → {back}");
        }
    }

    #[test]
    fn a_manifold_latent_falls_on_its_tile() {
        let side = 10;
        let z = manifold_latents(side);
        for (i, pair) in z.chunks(2).enumerate() {
            let [x, y] = manifold_pixel([pair[0], pair[1]], side);
            let (row, col) = (i / side, i % side);
            let centre = |k: usize| (2 + k * 30 + 14) as f32;
            assert!(
                (x - centre(col)).abs() < 0.01 && (y - centre(row)).abs() < 0.01,
                "{i}: {x}, {y}"
            );
        }
    }
}
