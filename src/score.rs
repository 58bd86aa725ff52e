//! Scores for generated digits, from a small MNIST classifier that genlab
//! trains with its own kernels: the Fréchet distance between the classifier's
//! features of samples and of real digits (FID with this classifier in the
//! place of Inception), the classifier Inception Score, and the share of each
//! digit class among the samples.
//!
//! The classifier: conv 5×5/2 to w → ReLU → conv 5×5/2 to 2w → ReLU → dense
//! 128 → ReLU (the features) → dense 10 (the logits), trained with softmax
//! cross-entropy on digits shifted by up to `shift` pixels.

use crate::backends::{Backend, BackendError, TensorLen};
use crate::core::rng::Rng;
use crate::core::{Activation, AdamConfig};
use crate::data::{Digits, PIXELS, SIDE};
use crate::nn::{
    ArenaPart, InputGrad, LayerSpec, Learner, Mode, NetParams, NetSpec, ParamArena, ParamsBuilder,
    Sequential,
};
use crate::ops::{add_assign, SoftmaxCrossEntropy, TargetLossTensors};
use std::collections::HashMap;

pub const CLASSES: usize = 10;
/// The random stream of the shifts of step s is this + s.
const SHIFT_STREAM: u32 = 1 << 24;

#[derive(Clone, Debug, PartialEq)]
pub struct ClassifierConfig {
    pub batch: usize,
    /// Channels of the first convolution (the second has twice as many).
    pub width: usize,
    /// Features: the width of the dense layer before the logits.
    pub features: usize,
    pub lr: f32,
    pub seed: u32,
    /// Training digits are shifted by up to this many pixels each way.
    pub shift: usize,
}

impl Default for ClassifierConfig {
    fn default() -> Self {
        ClassifierConfig {
            batch: 64,
            width: 16,
            features: 128,
            lr: 1e-3,
            seed: 1,
            shift: 2,
        }
    }
}

impl ClassifierConfig {
    pub fn validate(&self) -> Result<(), String> {
        let bad = |m: String| Err(format!("classifier: {m}"));
        if self.batch == 0 || self.batch > 1024 {
            return bad(format!("batch size {} is out of 1..=1024", self.batch));
        }
        if self.width == 0 || self.width > 128 || self.features == 0 || self.features > 1024 {
            return bad(format!(
                "width {} or features {} out of range",
                self.width, self.features
            ));
        }
        if !(self.lr > 0.0 && self.lr < 1.0) {
            return bad(format!("learning rate {} is out of (0, 1)", self.lr));
        }
        if self.shift > 6 {
            return bad(format!("shift {} is more than 6 pixels", self.shift));
        }
        Ok(())
    }

    fn body(&self) -> NetSpec {
        let conv = |c_out| LayerSpec::Conv {
            c_out,
            k: 5,
            stride: 2,
            bias: true,
            act: Activation::Relu,
        };
        NetSpec {
            input: [1, SIDE, SIDE],
            layers: vec![
                conv(self.width),
                conv(2 * self.width),
                LayerSpec::Dense {
                    out: self.features,
                    bias: true,
                    act: Activation::Relu,
                },
            ],
        }
    }

    fn head(&self) -> NetSpec {
        NetSpec {
            input: [self.features, 1, 1],
            layers: vec![LayerSpec::Dense {
                out: CLASSES,
                bias: true,
                act: Activation::None,
            }],
        }
    }

    fn to_metadata(&self) -> HashMap<String, String> {
        [
            ("model", "classifier".to_string()),
            ("batch", self.batch.to_string()),
            ("width", self.width.to_string()),
            ("features", self.features.to_string()),
            ("lr", self.lr.to_string()),
            ("seed", self.seed.to_string()),
            ("shift", self.shift.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (format!("genlab.{k}"), v))
        .collect()
    }

    fn from_metadata(m: &HashMap<String, String>) -> Result<Self, String> {
        let get = |k: &str| -> Result<&String, String> {
            m.get(&format!("genlab.{k}"))
                .ok_or_else(|| format!("the classifier file does not say its {k}"))
        };
        if get("model")? != "classifier" {
            return Err(format!(
                "this weights file holds a {}, not the scoring classifier",
                get("model")?
            ));
        }
        fn num<T: std::str::FromStr>(k: &str, v: &str) -> Result<T, String> {
            v.parse()
                .map_err(|_| format!("the classifier file's {k} {v:?} is not a number"))
        }
        let c = ClassifierConfig {
            batch: num("batch", get("batch")?)?,
            width: num("width", get("width")?)?,
            features: num("features", get("features")?)?,
            lr: num("lr", get("lr")?)?,
            seed: num("seed", get("seed")?)?,
            shift: num("shift", get("shift")?)?,
        };
        c.validate()?;
        Ok(c)
    }
}

/// The classifier's parameters on a backend.
pub struct Classifier<B: Backend> {
    pub config: ClassifierConfig,
    body: NetParams,
    head: NetParams,
    pub arena: ParamArena<B>,
}

/// The classifier bound at `n` digits: x → features → logits.
pub struct ClassifierBinding<B: Backend> {
    pub n: usize,
    pub x: B::Tensor,
    pub body: Sequential<B>,
    pub head: Sequential<B>,
}

/// The classifier as a training loop's learner (`train::Trainer`): the
/// binding, one-hot targets, the loss and its running sums.
pub struct ClassifierTrainer<B: Backend> {
    /// The classifier trained (its weights live on in it after training).
    pub classifier: Classifier<B>,
    pub net: ClassifierBinding<B>,
    targets: B::Tensor,
    /// Running sum of the loss, then of the step count.
    pub loss_sums: B::Tensor,
    /// The step's loss (and a constant 1 that counts steps in `loss_sums`).
    _losses: B::Tensor,
    loss: B::Op,
    accumulate: B::Op,
    batch: Vec<f32>,
    onehot: Vec<f32>,
}

/// Features and logits of digits, `n` at a time, read back.
pub struct FeatureExtractor<B: Backend> {
    pub net: ClassifierBinding<B>,
    features: B::Readback,
    logits: B::Readback,
}

impl<B: Backend> Classifier<B> {
    pub fn new(b: &B, config: ClassifierConfig) -> Result<Self, String> {
        config.validate()?;
        let mut rng = Rng::new(config.seed, 0);
        let mut pb = ParamsBuilder::new(b);
        let body = NetParams::declare(&mut pb, "classifier.body", &config.body(), &mut rng);
        let head = NetParams::declare(&mut pb, "classifier.head", &config.head(), &mut rng);
        let adam = AdamConfig {
            lr: config.lr,
            ..AdamConfig::default()
        };
        let arena = pb.build(b, adam);
        Ok(Classifier {
            config,
            body,
            head,
            arena,
        })
    }

    pub fn param_count(&self) -> usize {
        self.arena.count()
    }

    fn bind(&self, b: &B, n: usize, mode: Mode) -> ClassifierBinding<B> {
        let x = b.zeros(n * PIXELS);
        let seeds = (self.config.seed, 0);
        let body = self
            .body
            .bind(b, &self.arena, n, &x, InputGrad::None, None, mode, seeds);
        let head = self.head.bind(
            b,
            &self.arena,
            n,
            &body.y,
            InputGrad::Write(&body.dy),
            None,
            mode,
            seeds,
        );
        ClassifierBinding { n, x, body, head }
    }

    /// The classifier bound for training, as a learner of `train::Trainer`.
    pub fn trainer(self, b: &B) -> ClassifierTrainer<B> {
        let n = self.config.batch;
        let net = self.bind(b, n, Mode::Train);
        let targets = b.zeros(n * CLASSES);
        let losses = b.upload(&[0.0, 1.0]);
        let loss_sums = b.zeros(2);
        let loss = b.bind(
            &SoftmaxCrossEntropy { n, slot: 0 },
            TargetLossTensors {
                dx: &net.head.dy,
                logits: &net.head.y,
                t: &targets,
                loss: &losses,
            },
        );
        let accumulate = add_assign(b, &loss_sums, &losses);
        ClassifierTrainer {
            classifier: self,
            net,
            targets,
            loss_sums,
            _losses: losses,
            loss,
            accumulate,
            batch: vec![0.0; n * PIXELS],
            onehot: vec![0.0; n * CLASSES],
        }
    }

    pub fn extractor(&self, b: &B, n: usize) -> FeatureExtractor<B> {
        let net = self.bind(b, n, Mode::Eval);
        let features = b.readback(&net.body.y);
        let logits = b.readback(&net.head.y);
        FeatureExtractor {
            net,
            features,
            logits,
        }
    }

    /// The weights (values only: no optimiser state) and config as safetensors.
    pub async fn save(&self, b: &B) -> Result<Vec<u8>, BackendError> {
        let tensors = self
            .arena
            .read_parts(b, &[ArenaPart::Value, ArenaPart::State])
            .await?;
        crate::nn::write_safetensors_shaped(&tensors, self.config.to_metadata())
    }

    /// A classifier from a file written by [`Classifier::save`].
    pub fn load(b: &B, bytes: &[u8]) -> Result<Self, String> {
        let (tensors, meta) = crate::nn::read_safetensors(bytes)?;
        let m = meta.ok_or("this safetensors file has no genlab settings in its header")?;
        let config = ClassifierConfig::from_metadata(&m)?;
        let c = Classifier::new(b, config)?;
        c.arena
            .import(b, |name| tensors.get(name).cloned(), None)
            .map_err(|e| e.to_string())?;
        Ok(c)
    }
}

/// Shifts a 28×28 digit by (dx, dy) pixels, filling with zeros.
pub fn shift_digit(out: &mut [f32], digit: &[u8], dx: i32, dy: i32) {
    let side = SIDE as i32;
    for y in 0..side {
        for x in 0..side {
            let (sx, sy) = (x - dx, y - dy);
            out[(y * side + x) as usize] = if (0..side).contains(&sx) && (0..side).contains(&sy) {
                digit[(sy * side + sx) as usize] as f32 / 255.0
            } else {
                0.0
            };
        }
    }
}

impl<B: Backend> Learner<B> for ClassifierTrainer<B> {
    fn batch_size(&self) -> usize {
        self.net.n
    }

    fn seed(&self) -> u32 {
        self.classifier.config.seed
    }

    fn loss_names(&self) -> Vec<&'static str> {
        vec!["cross_entropy"]
    }

    /// Digits `indices` of `data`, each shifted at random by up to `shift`
    /// pixels (drawn from the seed and the step), with one-hot labels.
    fn write_batch(&mut self, b: &B, data: &Digits, indices: &[u32], step: u64) {
        let c = &self.classifier;
        let s = c.config.shift as i32;
        let mut rng = Rng::new(c.config.seed, SHIFT_STREAM.wrapping_add(step as u32));
        let mut draw = || {
            let r = (rng.uniform(0.0, 1.0) * (2 * s + 1) as f32) as i32;
            r.min(2 * s) - s
        };
        self.onehot.fill(0.0);
        for (i, &j) in indices.iter().take(self.net.n).enumerate() {
            let (dx, dy) = (draw(), draw());
            shift_digit(
                &mut self.batch[i * PIXELS..(i + 1) * PIXELS],
                data.image(j as usize),
                dx,
                dy,
            );
            self.onehot[i * CLASSES + data.labels[j as usize] as usize] = 1.0;
        }
        b.write(&self.net.x, 0, &self.batch);
        b.write(&self.targets, 0, &self.onehot);
    }

    fn step(&self, pass: &mut B::Pass<'_>) {
        let arena = &self.classifier.arena;
        arena.zero_grad(pass);
        self.net.body.forward(pass); // features: [N, F]
        self.net.head.forward(pass); // logits: [N, 10]
        B::record(pass, &self.loss);
        self.net.head.backward(pass);
        self.net.body.backward_params(pass);
        arena.update(pass);
        B::record(pass, &self.accumulate);
    }

    fn loss_sums(&self) -> &B::Tensor {
        &self.loss_sums
    }

    fn lr(&self) -> f32 {
        self.classifier.arena.adam.lr
    }

    fn set_lr(&mut self, b: &B, lr: f32) {
        self.classifier.config.lr = lr;
        self.classifier.arena.set_lr(b, lr);
    }
}

/// What the classifier makes of a set of digits.
#[derive(Clone, Debug, Default)]
pub struct Outputs {
    pub count: usize,
    /// count × features, row-major.
    pub features: Vec<f32>,
    /// count × 10.
    pub logits: Vec<f32>,
}

impl<B: Backend> FeatureExtractor<B> {
    /// The features and logits of `digits` (count × 784 bytes), `n` at a time.
    pub async fn run(&self, b: &B, digits: &[u8]) -> Result<Outputs, BackendError> {
        let n = self.net.n;
        let count = digits.len() / PIXELS;
        let f = self.net.body.y.len() / n;
        let mut out = Outputs {
            count,
            features: Vec::with_capacity(count * f),
            logits: Vec::with_capacity(count * CLASSES),
        };
        let mut x = vec![0.0; n * PIXELS];
        for start in (0..count).step_by(n) {
            let take = n.min(count - start);
            x.fill(0.0);
            for (v, &p) in x
                .iter_mut()
                .zip(&digits[start * PIXELS..(start + take) * PIXELS])
            {
                *v = p as f32 / 255.0;
            }
            b.write(&self.net.x, 0, &x);
            b.run(|pass| {
                self.net.body.forward(pass);
                self.net.head.forward(pass);
            });
            out.features
                .extend_from_slice(&b.read(&self.features).await?[..take * f]);
            out.logits
                .extend_from_slice(&b.read(&self.logits).await?[..take * CLASSES]);
        }
        Ok(out)
    }
}

// ------------------------------------------------------------------ scores

/// Accuracy of logits against labels.
pub fn accuracy(logits: &[f32], labels: &[u8]) -> f64 {
    let right = logits
        .chunks(CLASSES)
        .zip(labels)
        .filter(|(l, &y)| argmax(l) == y as usize)
        .count();
    right as f64 / labels.len().max(1) as f64
}

/// The index of the largest value (the first of equals).
pub fn argmax(v: &[f32]) -> usize {
    (0..v.len()).fold(0, |best, i| if v[i] > v[best] { i } else { best })
}

/// The classifier's probability of each class from its logits of one digit.
pub fn probabilities(logits: &[f32]) -> Vec<f64> {
    softmax(logits)
}

fn softmax(l: &[f32]) -> Vec<f64> {
    let m = l.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v)) as f64;
    let e: Vec<f64> = l.iter().map(|&v| (v as f64 - m).exp()).collect();
    let s: f64 = e.iter().sum();
    e.into_iter().map(|v| v / s).collect()
}

/// The mean and covariance of feature vectors (rows of `d`).
#[derive(Clone, Debug, PartialEq)]
pub struct FeatureStats {
    pub d: usize,
    pub count: usize,
    pub mean: Vec<f64>,
    /// d × d, the unbiased sample covariance.
    pub cov: Vec<f64>,
}

impl FeatureStats {
    pub fn of(features: &[f32], d: usize) -> FeatureStats {
        let count = features.len() / d;
        let mut mean = vec![0.0; d];
        for row in features.chunks(d) {
            for (m, &v) in mean.iter_mut().zip(row) {
                *m += v as f64;
            }
        }
        mean.iter_mut().for_each(|m| *m /= count.max(1) as f64);
        let mut cov = vec![0.0; d * d];
        let mut c = vec![0.0; d];
        for row in features.chunks(d) {
            for i in 0..d {
                c[i] = row[i] as f64 - mean[i];
            }
            for i in 0..d {
                if c[i] == 0.0 {
                    continue;
                }
                for j in i..d {
                    cov[i * d + j] += c[i] * c[j];
                }
            }
        }
        let denom = (count.max(2) - 1) as f64;
        for i in 0..d {
            for j in i..d {
                let v = cov[i * d + j] / denom;
                cov[i * d + j] = v;
                cov[j * d + i] = v;
            }
        }
        FeatureStats {
            d,
            count,
            mean,
            cov,
        }
    }
}

/// Eigenvalues and eigenvectors (columns of the returned d × d matrix) of a
/// symmetric matrix, by cyclic Jacobi rotations: slow (O(d³) a sweep) but
/// accurate to rounding, which the matrix square root needs.
pub fn symmetric_eigen(a: &[f64], d: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = a.to_vec();
    let mut v = vec![0.0; d * d];
    for i in 0..d {
        v[i * d + i] = 1.0;
    }
    let norm: f64 = a.iter().map(|x| x * x).sum::<f64>().sqrt();
    for _sweep in 0..60 {
        let off: f64 = (0..d)
            .flat_map(|i| (0..d).filter(move |&j| j != i).map(move |j| (i, j)))
            .map(|(i, j)| a[i * d + j] * a[i * d + j])
            .sum::<f64>()
            .sqrt();
        if off <= 1e-15 * norm.max(1e-300) {
            break;
        }
        for p in 0..d {
            for q in p + 1..d {
                let apq = a[p * d + q];
                if apq.abs() <= 1e-300 {
                    continue;
                }
                let (app, aqq) = (a[p * d + p], a[q * d + q]);
                let theta = (aqq - app) / (2.0 * apq);
                let sign = if theta >= 0.0 { 1.0 } else { -1.0 };
                let t = sign / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..d {
                    let (akp, akq) = (a[k * d + p], a[k * d + q]);
                    a[k * d + p] = c * akp - s * akq;
                    a[k * d + q] = s * akp + c * akq;
                }
                for k in 0..d {
                    let (apk, aqk) = (a[p * d + k], a[q * d + k]);
                    a[p * d + k] = c * apk - s * aqk;
                    a[q * d + k] = s * apk + c * aqk;
                }
                for k in 0..d {
                    let (vkp, vkq) = (v[k * d + p], v[k * d + q]);
                    v[k * d + p] = c * vkp - s * vkq;
                    v[k * d + q] = s * vkp + c * vkq;
                }
            }
        }
    }
    ((0..d).map(|i| a[i * d + i]).collect(), v)
}

/// The square root of a symmetric positive semi-definite matrix (negative
/// eigenvalues from rounding are taken as zero).
pub fn sqrt_psd(a: &[f64], d: usize) -> Vec<f64> {
    let (w, v) = symmetric_eigen(a, d);
    let r: Vec<f64> = w.iter().map(|&x| x.max(0.0).sqrt()).collect();
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for j in i..d {
            let s: f64 = (0..d).map(|k| v[i * d + k] * r[k] * v[j * d + k]).sum();
            out[i * d + j] = s;
            out[j * d + i] = s;
        }
    }
    out
}

fn matmul(a: &[f64], b: &[f64], d: usize) -> Vec<f64> {
    let mut out = vec![0.0; d * d];
    for i in 0..d {
        for k in 0..d {
            let aik = a[i * d + k];
            if aik == 0.0 {
                continue;
            }
            for j in 0..d {
                out[i * d + j] += aik * b[k * d + j];
            }
        }
    }
    out
}

/// ‖μ₁ − μ₂‖² + tr(Σ₁ + Σ₂ − 2(Σ₁^½ Σ₂ Σ₁^½)^½): the product's root is taken
/// of the symmetric form Σ₁^½ Σ₂ Σ₁^½, whose eigenvalues are those of Σ₁Σ₂.
pub fn frechet_distance(a: &FeatureStats, b: &FeatureStats) -> f64 {
    assert_eq!(a.d, b.d, "features of different widths");
    let d = a.d;
    let dmu: f64 = a
        .mean
        .iter()
        .zip(&b.mean)
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    let trace = |m: &[f64]| (0..d).map(|i| m[i * d + i]).sum::<f64>();
    let s1 = sqrt_psd(&a.cov, d);
    let mut m = matmul(&matmul(&s1, &b.cov, d), &s1, d);
    // Symmetrise away the rounding of the products.
    for i in 0..d {
        for j in i + 1..d {
            let v = 0.5 * (m[i * d + j] + m[j * d + i]);
            m[i * d + j] = v;
            m[j * d + i] = v;
        }
    }
    let (w, _) = symmetric_eigen(&m, d);
    let tr_root: f64 = w.iter().map(|&x| x.max(0.0).sqrt()).sum();
    (dmu + trace(&a.cov) + trace(&b.cov) - 2.0 * tr_root).max(0.0)
}

/// exp(E_x KL(p(y|x) ‖ p(y))): 1 when every sample gets the same class
/// distribution, 10 when the samples are confidently and evenly all classes.
pub fn inception_score(logits: &[f32]) -> f64 {
    let probs: Vec<Vec<f64>> = logits.chunks(CLASSES).map(softmax).collect();
    let n = probs.len().max(1) as f64;
    let mut marginal = vec![0.0; CLASSES];
    for p in &probs {
        for (m, &v) in marginal.iter_mut().zip(p) {
            *m += v / n;
        }
    }
    let kl: f64 = probs
        .iter()
        .map(|p| {
            p.iter()
                .zip(&marginal)
                .filter(|(&v, _)| v > 0.0)
                .map(|(&v, &m)| v * (v.ln() - m.ln()))
                .sum::<f64>()
        })
        .sum::<f64>()
        / n;
    kl.exp()
}

/// The share of each class among the classifier's decisions.
pub fn class_shares(logits: &[f32]) -> [f64; CLASSES] {
    let mut counts = [0usize; CLASSES];
    for l in logits.chunks(CLASSES) {
        counts[argmax(l)] += 1;
    }
    let n = (logits.len() / CLASSES).max(1) as f64;
    counts.map(|c| c as f64 / n)
}

/// The scores of a set of digits against real ones.
#[derive(Clone, Debug)]
pub struct Scores {
    pub count: usize,
    pub fid: f64,
    pub inception_score: f64,
    pub class_shares: [f64; CLASSES],
}

impl Scores {
    pub fn of(outputs: &Outputs, real: &FeatureStats) -> Scores {
        let stats = FeatureStats::of(&outputs.features, real.d);
        Scores {
            count: outputs.count,
            fid: frechet_distance(&stats, real),
            inception_score: inception_score(&outputs.logits),
            class_shares: class_shares(&outputs.logits),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jacobi_diagonalises_and_roots() {
        // A = Q diag(9, 4, 1, 0) Qᵀ for a rotation Q.
        let d = 4;
        let mut rng = Rng::new(3, 0);
        let m: Vec<f64> = (0..d * d).map(|_| rng.uniform(-1.0, 1.0) as f64).collect();
        let a = matmul(&m, &transpose(&m, d), d);
        let (w, v) = symmetric_eigen(&a, d);
        // A v = λ v for every pair.
        for k in 0..d {
            for i in 0..d {
                let av: f64 = (0..d).map(|j| a[i * d + j] * v[j * d + k]).sum();
                assert!(
                    (av - w[k] * v[i * d + k]).abs() < 1e-10,
                    "{av} vs {}",
                    w[k] * v[i * d + k]
                );
            }
        }
        let r = sqrt_psd(&a, d);
        let rr = matmul(&r, &r, d);
        for (x, y) in rr.iter().zip(&a) {
            assert!((x - y).abs() < 1e-10, "{x} vs {y}");
        }
    }

    fn transpose(m: &[f64], d: usize) -> Vec<f64> {
        (0..d * d).map(|k| m[(k % d) * d + k / d]).collect()
    }

    #[test]
    fn frechet_distance_of_gaussians() {
        // Diagonal covariances: FID = |Δμ|² + Σ (σ₁ − σ₂)².
        let a = FeatureStats {
            d: 2,
            count: 0,
            mean: vec![0.0, 1.0],
            cov: vec![4.0, 0.0, 0.0, 1.0],
        };
        let b = FeatureStats {
            d: 2,
            count: 0,
            mean: vec![3.0, 1.0],
            cov: vec![1.0, 0.0, 0.0, 9.0],
        };
        let want = 9.0 + (2.0f64 - 1.0).powi(2) + (1.0f64 - 3.0).powi(2);
        assert!((frechet_distance(&a, &b) - want).abs() < 1e-9);
        assert!(frechet_distance(&a, &a).abs() < 1e-9);
    }

    #[test]
    fn inception_score_bounds() {
        let mut sure = vec![-20.0; 100];
        for i in 0..10 {
            sure[i * 10 + i] = 20.0;
        }
        assert!((inception_score(&sure) - 10.0).abs() < 1e-6);
        let same: Vec<f32> = (0..100)
            .map(|i| if i % 10 == 3 { 20.0 } else { -20.0 })
            .collect();
        assert!((inception_score(&same) - 1.0).abs() < 1e-6);
        assert_eq!(class_shares(&same)[3], 1.0);
    }
}
