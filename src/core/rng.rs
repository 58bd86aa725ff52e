//! Counter-based random numbers: Threefry-2x32 with 20 rounds (Salmon et al.,
//! "Parallel random numbers: as easy as 1, 2, 3", SC 2011).
//!
//! A number is a pure function of a key `(seed, stream)` and a counter
//! `(index, step)`, so the GPU (`shaders/random.wgsl`, the same function bit
//! for bit) and the CPU draw identical numbers with no state to carry, and the
//! same seed always gives the same numbers.

const ROTATIONS: [u32; 8] = [13, 15, 26, 6, 17, 29, 16, 24];
const PARITY: u32 = 0x1BD1_1BDA;

/// Threefry-2x32-20 of `counter` under `key`.
pub fn threefry2x32(counter: [u32; 2], key: [u32; 2]) -> [u32; 2] {
    let ks = [key[0], key[1], PARITY ^ key[0] ^ key[1]];
    let mut x0 = counter[0].wrapping_add(ks[0]);
    let mut x1 = counter[1].wrapping_add(ks[1]);
    for r in 0..20 {
        x0 = x0.wrapping_add(x1);
        x1 = x1.rotate_left(ROTATIONS[r % 8]);
        x1 ^= x0;
        if r % 4 == 3 {
            let s = r / 4 + 1;
            x0 = x0.wrapping_add(ks[s % 3]);
            x1 = x1.wrapping_add(ks[(s + 1) % 3]).wrapping_add(s as u32);
        }
    }
    [x0, x1]
}

/// The top 24 bits as a float in [0, 1): exact in f32, so every device agrees.
pub fn to_unit(bits: u32) -> f32 {
    (bits >> 8) as f32 * (1.0 / 16_777_216.0)
}

/// The random words for element `index` of draw `step` in stream `stream`.
pub fn random_bits(seed: u32, stream: u32, index: u32, step: u32) -> [u32; 2] {
    threefry2x32([index, step], [seed, stream])
}

/// A uniform number in [0, 1).
pub fn uniform(seed: u32, stream: u32, index: u32, step: u32) -> f32 {
    to_unit(random_bits(seed, stream, index, step)[0])
}

/// A standard normal number, by Box–Muller on the two words of one counter.
pub fn normal(seed: u32, stream: u32, index: u32, step: u32) -> f32 {
    let [a, b] = random_bits(seed, stream, index, step);
    let u1 = ((a >> 8) + 1) as f32 * (1.0 / 16_777_216.0); // (0, 1]
    let u2 = to_unit(b);
    (-2.0 * u1.ln()).sqrt() * (std::f32::consts::TAU * u2).cos()
}

/// A sequential generator over one stream, for initial weights and test data.
#[derive(Clone, Debug)]
pub struct Rng {
    seed: u32,
    stream: u32,
    index: u32,
    step: u32,
}

impl Rng {
    pub fn new(seed: u32, stream: u32) -> Self {
        Rng {
            seed,
            stream,
            index: 0,
            step: 0,
        }
    }

    fn next_counter(&mut self) -> (u32, u32) {
        let c = (self.index, self.step);
        self.index = self.index.wrapping_add(1);
        if self.index == 0 {
            self.step += 1;
        }
        c
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f32, hi: f32) -> f32 {
        let (i, s) = self.next_counter();
        lo + (hi - lo) * uniform(self.seed, self.stream, i, s)
    }

    pub fn normal(&mut self) -> f32 {
        let (i, s) = self.next_counter();
        normal(self.seed, self.stream, i, s)
    }

    pub fn uniform_vec(&mut self, len: usize, lo: f32, hi: f32) -> Vec<f32> {
        (0..len).map(|_| self.uniform(lo, hi)).collect()
    }

    pub fn normal_vec(&mut self, len: usize, std: f32) -> Vec<f32> {
        (0..len).map(|_| std * self.normal()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Known-answer vectors from Random123's kat_vectors (counter, key, result).
    #[test]
    fn threefry_known_answers() {
        assert_eq!(threefry2x32([0, 0], [0, 0]), [0x6b20_0159, 0x99ba_4efe]);
        assert_eq!(
            threefry2x32([0xffff_ffff, 0xffff_ffff], [0xffff_ffff, 0xffff_ffff]),
            [0x1cb9_96fc, 0xbb00_2be7]
        );
        assert_eq!(
            threefry2x32([0x243f_6a88, 0x85a3_08d3], [0x1319_8a2e, 0x0370_7344]),
            [0xc492_3a9c, 0x483d_f7a0]
        );
    }

    #[test]
    fn normal_has_unit_moments() {
        let mut r = Rng::new(7, 0);
        let v = r.normal_vec(100_000, 1.0);
        let mean = v.iter().map(|&x| x as f64).sum::<f64>() / v.len() as f64;
        let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / v.len() as f64;
        assert!(mean.abs() < 0.02, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "var {var}");
    }
}
