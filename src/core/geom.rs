//! Convolution geometry, shared by the CPU reference and the GPU kernels.
//!
//! Shape letters: N batch, C channels, H×W image, K kernel (square), S stride.
//! Images are NCHW, conv weights `[C_out, C_in, K, K]`. A transposed
//! convolution is described by the convolution it transposes: its input is
//! that convolution's output and its weights are `[C_in_t, C_out_t, K, K]`,
//! which is the transposed convolution's own `[C_out, C_in, K, K]`.

/// The geometry of one 2-D convolution x[N, C_in, H, W] → y[N, C_out, H_out, W_out].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Conv2dGeom {
    pub n: usize,
    pub c_in: usize,
    pub h: usize,
    pub w: usize,
    pub c_out: usize,
    pub h_out: usize,
    pub w_out: usize,
    pub k: usize,
    pub stride: usize,
    /// Padding on the top and on the left; the bottom/right padding is
    /// whatever makes `h_out`/`w_out` come out (it may differ: TensorFlow puts
    /// the odd pixel at the bottom/right).
    pub pad_h: usize,
    pub pad_w: usize,
}

/// TensorFlow's `padding='same'`: out = ⌈in / s⌉ and total padding
/// max((out − 1)·s + k − in, 0), of which ⌊total / 2⌋ goes first.
fn same_1d(size: usize, k: usize, stride: usize) -> (usize, usize) {
    let out = size.div_ceil(stride);
    let total = ((out - 1) * stride + k).saturating_sub(size);
    (out, total / 2)
}

impl Conv2dGeom {
    /// A convolution with TensorFlow's `padding='same'`.
    pub fn same(
        n: usize,
        c_in: usize,
        h: usize,
        w: usize,
        c_out: usize,
        k: usize,
        stride: usize,
    ) -> Self {
        assert!(
            k > 0 && stride > 0 && h > 0 && w > 0,
            "conv2d: bad geometry h={h} w={w} k={k} s={stride}"
        );
        let (h_out, pad_h) = same_1d(h, k, stride);
        let (w_out, pad_w) = same_1d(w, k, stride);
        Conv2dGeom {
            n,
            c_in,
            h,
            w,
            c_out,
            h_out,
            w_out,
            k,
            stride,
            pad_h,
            pad_w,
        }
    }

    /// A convolution with no padding (`padding='valid'`).
    pub fn valid(
        n: usize,
        c_in: usize,
        h: usize,
        w: usize,
        c_out: usize,
        k: usize,
        stride: usize,
    ) -> Self {
        assert!(
            h >= k && w >= k,
            "conv2d valid: image {h}x{w} smaller than kernel {k}"
        );
        let h_out = (h - k) / stride + 1;
        let w_out = (w - k) / stride + 1;
        Conv2dGeom {
            n,
            c_in,
            h,
            w,
            c_out,
            h_out,
            w_out,
            k,
            stride,
            pad_h: 0,
            pad_w: 0,
        }
    }

    /// The convolution transposed by TensorFlow's `Conv2DTranspose(padding='same')`
    /// from x[N, c_in, h, w] to y[N, c_out, h·s, w·s]: the 'same' convolution
    /// from y's shape back to x's.
    pub fn transposed_same(
        n: usize,
        c_in: usize,
        h: usize,
        w: usize,
        c_out: usize,
        k: usize,
        stride: usize,
    ) -> Self {
        let g = Conv2dGeom::same(n, c_out, h * stride, w * stride, c_in, k, stride);
        debug_assert_eq!((g.h_out, g.w_out), (h, w));
        g
    }

    pub fn input_len(&self) -> usize {
        self.n * self.c_in * self.h * self.w
    }
    pub fn output_len(&self) -> usize {
        self.n * self.c_out * self.h_out * self.w_out
    }
    pub fn weight_len(&self) -> usize {
        self.c_out * self.c_in * self.k * self.k
    }
    /// Multiply-adds of the forward pass, times two.
    pub fn flops(&self) -> f64 {
        2.0 * self.output_len() as f64 * (self.c_in * self.k * self.k) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_matches_tensorflow_dcgan_shapes() {
        // Discriminator: 28 → 14 → 7 with 5×5, stride 2, asymmetric padding (1 top, 2 bottom).
        let d1 = Conv2dGeom::same(1, 1, 28, 28, 64, 5, 2);
        assert_eq!((d1.h_out, d1.w_out, d1.pad_h, d1.pad_w), (14, 14, 1, 1));
        let d2 = Conv2dGeom::same(1, 64, 14, 14, 128, 5, 2);
        assert_eq!((d2.h_out, d2.pad_h), (7, 1));
        // Generator: 7 → 7 (stride 1, pad 2) → 14 → 28.
        let g1 = Conv2dGeom::transposed_same(1, 256, 7, 7, 128, 5, 1);
        assert_eq!((g1.h, g1.h_out, g1.pad_h), (7, 7, 2));
        let g2 = Conv2dGeom::transposed_same(1, 128, 7, 7, 64, 5, 2);
        assert_eq!(
            (g2.h, g2.h_out, g2.c_in, g2.c_out, g2.pad_h),
            (14, 7, 64, 128, 1)
        );
        let g3 = Conv2dGeom::transposed_same(1, 64, 14, 14, 1, 5, 2);
        assert_eq!((g3.h, g3.h_out, g3.pad_h), (28, 14, 1));
    }

    #[test]
    fn same_with_odd_sizes() {
        let g = Conv2dGeom::same(1, 1, 9, 6, 1, 3, 2);
        assert_eq!((g.h_out, g.w_out, g.pad_h, g.pad_w), (5, 3, 1, 0));
    }
}
