//! The drawing pad: a drawing made into a digit as MNIST made its digits,
//! the classifier's reading of it, and each autoencoding pane's answer (its
//! reconstruction; a 2-D VAE's place for it; a conditional VAE's redrawing
//! of its style as every digit).

use super::pane::pixels01;
use super::*;
use crate::score::{argmax, probabilities};

/// MNIST fitted each digit into a 20×20 box (keeping its aspect ratio),
/// then centred it in 28×28 by its centre of mass.
const BOX: usize = 20;
/// The largest drawing the pad sends, a side.
pub const PAD_MAX_SIDE: usize = 1024;

/// A drawing (grey bytes, ink bright on black, `width`×`height`) as an
/// MNIST digit: the ink's bounding box scaled to fit 20×20 (area-averaged),
/// placed in 28×28 with its centre of mass at the centre. A blank drawing
/// is a blank digit.
pub fn mnist_like(grey: &[u8], width: usize, height: usize) -> Result<Vec<u8>, String> {
    if !(1..=PAD_MAX_SIDE).contains(&width) || !(1..=PAD_MAX_SIDE).contains(&height) {
        return Err(format!(
            "a drawing of {width}×{height}: each side must be 1 to {PAD_MAX_SIDE} pixels"
        ));
    }
    if grey.len() != width * height {
        return Err(format!(
            "a drawing of {width}×{height} has {} pixels, not {}",
            width * height,
            grey.len()
        ));
    }
    let mut out = vec![0u8; PIXELS];
    let ink = |x: usize, y: usize| grey[y * width + x] > 0;
    let cols: Vec<usize> = (0..width)
        .filter(|&x| (0..height).any(|y| ink(x, y)))
        .collect();
    let rows: Vec<usize> = (0..height)
        .filter(|&y| (0..width).any(|x| ink(x, y)))
        .collect();
    let (Some(&x0), Some(&x1), Some(&y0), Some(&y1)) =
        (cols.first(), cols.last(), rows.first(), rows.last())
    else {
        return Ok(out);
    };
    let (bw, bh) = (x1 - x0 + 1, y1 - y0 + 1);
    let scale = BOX as f64 / bw.max(bh) as f64;
    let (sw, sh) = (
        ((bw as f64 * scale).round() as usize).clamp(1, BOX),
        ((bh as f64 * scale).round() as usize).clamp(1, BOX),
    );
    // Each output pixel averages the source area it covers.
    let span = |o: usize, origin: usize| {
        let a = origin as f64 + o as f64 / scale;
        (a, a + 1.0 / scale)
    };
    let overlap = |s: usize, (a, b): (f64, f64)| ((s + 1) as f64).min(b) - (s as f64).max(a);
    let mut small = vec![0f64; sw * sh];
    for oy in 0..sh {
        let ys = span(oy, y0);
        for ox in 0..sw {
            let xs = span(ox, x0);
            let (mut sum, mut area) = (0.0, 0.0);
            for sy in ys.0.floor() as usize..(ys.1.ceil() as usize).min(height) {
                let wy = overlap(sy, ys);
                for sx in xs.0.floor() as usize..(xs.1.ceil() as usize).min(width) {
                    let w = wy * overlap(sx, xs);
                    if w > 0.0 {
                        sum += w * grey[sy * width + sx] as f64;
                        area += w;
                    }
                }
            }
            small[oy * sw + ox] = if area > 0.0 { sum / area } else { 0.0 };
        }
    }
    // The centre of mass (pixel centres at +½) goes to 14, 14.
    let mass: f64 = small.iter().sum();
    let centre = |along_x: bool| {
        let moment: f64 = (0..sw * sh)
            .map(|i| {
                let c = if along_x { i % sw } else { i / sw };
                small[i] * (c as f64 + 0.5)
            })
            .sum();
        moment / mass.max(f64::MIN_POSITIVE)
    };
    let place = |c: f64, size: usize| {
        ((SIDE as f64 / 2.0 - c).round() as i64).clamp(0, (SIDE - size) as i64) as usize
    };
    let (dx, dy) = (place(centre(true), sw), place(centre(false), sh));
    for y in 0..sh {
        for x in 0..sw {
            out[(y + dy) * SIDE + x + dx] = small[y * sw + x].round().clamp(0.0, 255.0) as u8;
        }
    }
    Ok(out)
}

/// What the pad's drawing became, and each pane's answer to it.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct PadView {
    /// The drawing as an MNIST digit (784 grey bytes): what the models see.
    pub digit: Vec<u8>,
    /// The classifier's probability of each digit (none without a classifier).
    pub reading: Option<Vec<f64>>,
    /// The label a conditional VAE encoded the drawing with: the one asked
    /// for, or else the classifier's reading.
    pub label: Option<u8>,
    /// One answer per pane, in order.
    pub panes: Vec<PadAnswer>,
}

/// A pane's answer to the drawing (all none for a GAN: it has no encoder).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct PadAnswer {
    /// The reconstruction (784 grey bytes).
    pub reconstruction: Option<Vec<u8>>,
    /// The drawing's code μ in a 2-D latent, and where that falls on the
    /// manifold picture (its pixel x, y).
    pub position: Option<[f32; 2]>,
    pub manifold_at: Option<[f32; 2]>,
    /// A conditional VAE's decoding of the drawing's code as each digit
    /// 0–9 (10 × 784 grey bytes).
    pub styles: Option<Vec<u8>>,
}

/// What a pane answers the pad with: a VAE's encoder at one digit (and a
/// reader of its μ), and the decoder (the autoencoder: the whole network)
/// at one digit, or ten for a conditional VAE.
pub(super) struct PadBinding<B: Backend> {
    encoder: Option<(Evaluator<B>, B::Readback)>,
    decoder: Sampler<B>,
}

impl<B: Backend> PadBinding<B> {
    fn new(b: &B, model: &Model<B>) -> PadBinding<B> {
        let kind = model.config().kind;
        let encoder = kind.is_vae().then(|| {
            let e = model.evaluator(b, 1).expect("a VAE has an evaluator");
            let mu = e.codes()[0].1.clone();
            let readback = b.readback(&mu);
            (e, readback)
        });
        let n = if kind.is_conditional() { CLASSES } else { 1 };
        PadBinding {
            encoder,
            decoder: model.sampler(b, n),
        }
    }
}

impl<B: Backend> Pane<B> {
    /// The pane's answer to `digit` (784 bytes as MNIST's), encoded with
    /// `label` where the model is conditional.
    pub async fn pad(&mut self, b: &B, digit: &[u8], label: u8) -> Result<PadAnswer, BackendError> {
        let c = self.config().clone();
        if c.kind.is_gan() {
            return Ok(PadAnswer::default());
        }
        if self.pad.is_none() {
            self.pad = Some(PadBinding::new(b, &self.trainer.model));
        }
        let p = self.pad.as_ref().expect("made above");
        let model = &self.trainer.model;
        let x = pixels01(digit, 1);
        let Some((e, mu_reader)) = &p.encoder else {
            // The autoencoder: the whole network, fed the digit.
            let out = train::sample(b, model, &p.decoder, &x).await?;
            return Ok(PadAnswer {
                reconstruction: Some(train::to_bytes(&out)),
                ..PadAnswer::default()
            });
        };
        b.write(e.input(), 0, &x);
        e.write_labels(b, &[label as f32]);
        b.run(|pass| e.forward(pass));
        // The reconstruction decodes the code's mean: the same drawing, the same answer.
        let mu = b.read(mu_reader).await?;
        let n = p.decoder.n;
        let out = train::sample(b, model, &p.decoder, &mu.repeat(n)).await?;
        let bytes = train::to_bytes(&out);
        let (reconstruction, styles) = if c.kind.is_conditional() {
            let l = label as usize;
            (bytes[l * PIXELS..(l + 1) * PIXELS].to_vec(), Some(bytes))
        } else {
            (bytes, None)
        };
        let position = (c.latent == 2).then(|| [mu[0], mu[1]]);
        Ok(PadAnswer {
            reconstruction: Some(reconstruction),
            position,
            manifold_at: position.map(|z| manifold_pixel(z, MANIFOLD_SIDE)),
            styles,
        })
    }
}

impl<B: Backend> Lab<B> {
    /// The pad's drawing (grey bytes, `width`×`height`): made into an MNIST
    /// digit, read by the classifier, and answered by every pane; a
    /// conditional VAE encodes it with `label`, or else with the reading.
    pub async fn pad(
        &mut self,
        b: &B,
        grey: &[u8],
        (width, height): (usize, usize),
        label: Option<u8>,
    ) -> Result<PadView, String> {
        if let Some(l) = label.filter(|&l| l as usize >= CLASSES) {
            return Err(format!("label {l}: a digit is 0 to 9"));
        }
        let digit = mnist_like(grey, width, height)?;
        let err = |e: BackendError| e.to_string();
        let (reading, read_as) = match &mut self.judge {
            Some(j) => {
                let reader = j.reader.get_or_insert_with(|| j.classifier.extractor(b, 1));
                let out = reader.run(b, &digit).await.map_err(err)?;
                let logits = &out.logits[..CLASSES];
                (Some(probabilities(logits)), Some(argmax(logits) as u8))
            }
            None => (None, None),
        };
        let label = label.or(read_as);
        let mut panes = Vec::with_capacity(self.panes.len());
        for p in &mut self.panes {
            panes.push(p.pad(b, &digit, label.unwrap_or(0)).await.map_err(err)?);
        }
        let conditional = self.panes.iter().any(|p| p.config().kind.is_conditional());
        Ok(PadView {
            digit,
            reading,
            label: label.filter(|_| conditional),
            panes,
        })
    }

    /// Held-out digit `index` (784 bytes), for the pad (keyboard users load
    /// one instead of drawing), with its label.
    pub fn held_out_digit(&self, index: usize) -> Result<(Vec<u8>, u8), String> {
        if index >= self.held_out.len() {
            return Err(format!(
                "held-out digit {index}: there are {} (0 to {})",
                self.held_out.len(),
                self.held_out.len().saturating_sub(1)
            ));
        }
        Ok((
            self.held_out.image(index).to_vec(),
            self.held_out.labels[index],
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn centre_of_mass(d: &[u8]) -> (f64, f64) {
        let (mut m, mut x, mut y) = (0.0, 0.0, 0.0);
        for (i, &v) in d.iter().enumerate() {
            let v = v as f64;
            m += v;
            x += v * ((i % SIDE) as f64 + 0.5);
            y += v * ((i / SIDE) as f64 + 0.5);
        }
        (x / m, y / m)
    }

    fn ink_box(d: &[u8]) -> (usize, usize) {
        let on: Vec<usize> = (0..PIXELS).filter(|&i| d[i] > 0).collect();
        let xs = on.iter().map(|i| i % SIDE);
        let ys = on.iter().map(|i| i / SIDE);
        (
            xs.clone().max().unwrap() - xs.min().unwrap() + 1,
            ys.clone().max().unwrap() - ys.min().unwrap() + 1,
        )
    }

    #[test]
    fn a_drawing_becomes_a_centred_digit_in_a_20_pixel_box() {
        // A tall stroke drawn in the top-left corner of a 200×150 pad.
        let (w, h) = (200, 150);
        let mut grey = vec![0u8; w * h];
        for y in 10..110 {
            for x in 20..45 {
                grey[y * w + x] = 255;
            }
        }
        let d = mnist_like(&grey, w, h).unwrap();
        assert_eq!(d.len(), PIXELS);
        // 25×100 scaled to fit 20 tall: 5×20.
        assert_eq!(ink_box(&d), (5, 20));
        let (cx, cy) = centre_of_mass(&d);
        assert!(
            (cx - 14.0).abs() <= 0.5 && (cy - 14.0).abs() <= 0.5,
            "{cx}, {cy}"
        );
        assert!(
            d.iter().all(|&v| v == 0 || v == 255),
            "a solid block stays solid"
        );
    }

    #[test]
    fn area_averaging_keeps_the_ink() {
        // A 1-pixel diagonal line over 100×100: scaled 5×, each output pixel
        // averages 25 source pixels of which about 5 are ink.
        let mut grey = vec![0u8; 100 * 100];
        for i in 0..100 {
            grey[i * 100 + i] = 255;
        }
        let d = mnist_like(&grey, 100, 100).unwrap();
        let ink: f64 = d.iter().map(|&v| v as f64).sum::<f64>() / 255.0;
        // The source has 100 ink pixels; at 1/25 the area, about 4 pixels' worth.
        assert!((ink - 4.0).abs() < 0.5, "{ink}");
    }

    #[test]
    fn blank_and_bad_drawings() {
        assert!(mnist_like(&vec![0; 64 * 64], 64, 64)
            .unwrap()
            .iter()
            .all(|&v| v == 0));
        assert!(mnist_like(&[0; 10], 4, 4)
            .unwrap_err()
            .contains("16 pixels, not 10"));
        assert!(mnist_like(&[], 0, 0).unwrap_err().contains("1 to 1024"));
        assert!(mnist_like(&[], 5000, 1).unwrap_err().contains("1 to 1024"));
    }

    #[test]
    fn an_mnist_digit_stays_itself() {
        let (images, labels) = (
            include_bytes!("../../www/data/mnist-train-10k-images-idx3-ubyte.gz"),
            include_bytes!("../../www/data/mnist-train-10k-labels-idx1-ubyte.gz"),
        );
        let digits = Digits::from_idx(images, labels).unwrap();
        for i in 0..20 {
            let src = digits.image(i);
            let d = mnist_like(src, SIDE, SIDE).unwrap();
            let (a, b) = (centre_of_mass(src), centre_of_mass(&d));
            assert!(
                (a.0 - b.0).abs() < 1.5 && (a.1 - b.1).abs() < 1.5,
                "{i}: {a:?} vs {b:?}"
            );
            let (w, h) = ink_box(&d);
            assert!(w.max(h) == BOX || w.max(h) == BOX - 1, "{i}: box {w}×{h}");
        }
    }
}
