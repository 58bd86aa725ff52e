//! A mutation fuzzer on stable Rust for the parsers that take outside input:
//! the IDX reader (raw and gzip, images, labels, and the page's two-file
//! sniffing), the weights loader (the path of the page's Load weights and of
//! `genlab train --resume`: read and check the file, build the model, load
//! it), and the page's URL parameters. Each input runs under a counting
//! allocator: no input may panic, and none may make the parser's peak memory
//! pass genlab's memory budget.
//!
//! In the test suite each target runs `GENLAB_FUZZ_EXECS` inputs (20,000 by
//! default). The benchmark-style run:
//!   GENLAB_FUZZ_EXECS=1000000 cargo test --release --test fuzz -- --nocapture --test-threads 1
//! prints executions, outcomes and the peak memory per target. A panicking
//! input is written to target/fuzz-crash-<target>.bin before the test fails.
#![cfg(not(target_arch = "wasm32"))]

use genlab::app::{digits_from_files, PageOptions};
use genlab::backends::Cpu;
use genlab::data::{read_idx_images, read_idx_labels, Digits};
use genlab::models::{Model, ModelConfig, ModelKind, MEMORY_BUDGET};
use genlab::train;
use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

// ------------------------------------------------------------ the allocator

/// The system allocator, counting bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        let p = System.alloc(l);
        if !p.is_null() {
            let now = IN_USE.fetch_add(l.size(), Relaxed) + l.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l);
        IN_USE.fetch_sub(l.size(), Relaxed);
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, new: usize) -> *mut u8 {
        let q = System.realloc(p, l, new);
        if !q.is_null() {
            if new > l.size() {
                let now = IN_USE.fetch_add(new - l.size(), Relaxed) + new - l.size();
                PEAK.fetch_max(now, Relaxed);
            } else {
                IN_USE.fetch_sub(l.size() - new, Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOC: Counting = Counting;

/// The targets run one at a time, so that the peak is one target's.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

// ------------------------------------------------------------- the mutator

/// xorshift64*: fast, and a seed makes a run repeatable.
struct Rand(u64);

impl Rand {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Values that find edges: sizes of the formats, powers of two, wrap points.
const INTERESTING: [u32; 12] = [
    0,
    1,
    2,
    28,
    784,
    10_000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    5_478_275,
    0x0000_0803,
    0x0000_0801,
];

/// One to four random edits of `seed`: bit flips, random or interesting
/// bytes and 32-bit words (both byte orders), insertions, deletions,
/// truncation, a repeated chunk, a splice of another seed.
fn mutate(r: &mut Rand, seed: &[u8], others: &[Vec<u8>]) -> Vec<u8> {
    let mut v = seed.to_vec();
    for _ in 0..1 + r.below(4) {
        let len = v.len();
        match r.below(9) {
            0 if len > 0 => {
                let i = r.below(len);
                v[i] ^= 1 << r.below(8);
            }
            1 if len > 0 => {
                let i = r.below(len);
                v[i] = r.next() as u8;
            }
            2 if len >= 4 => {
                let i = r.below(len - 3);
                let w = INTERESTING[r.below(INTERESTING.len())];
                let bytes = if r.below(2) == 0 {
                    w.to_be_bytes()
                } else {
                    w.to_le_bytes()
                };
                v[i..i + 4].copy_from_slice(&bytes);
            }
            3 => {
                let i = r.below(len + 1);
                let n = 1 + r.below(16);
                let bytes: Vec<u8> = (0..n).map(|_| r.next() as u8).collect();
                v.splice(i..i, bytes);
            }
            4 if len > 0 => {
                let i = r.below(len);
                let n = (1 + r.below(16)).min(len - i);
                v.drain(i..i + n);
            }
            5 if len > 0 => v.truncate(r.below(len)),
            6 if len > 0 => {
                let i = r.below(len);
                let n = (1 + r.below(64)).min(len - i);
                let chunk = v[i..i + n].to_vec();
                let at = r.below(len + 1);
                v.splice(at..at, chunk);
            }
            7 if !others.is_empty() => {
                let o = &others[r.below(others.len())];
                let cut = r.below(len + 1);
                let from = r.below(o.len() + 1);
                v.truncate(cut);
                v.extend_from_slice(&o[from..]);
            }
            _ if len > 0 => {
                // A decimal digit or a JSON/URL delimiter: the text formats' edges.
                let i = r.below(len);
                v[i] = b"0123456789\"{}:,=&%.-"[r.below(20)];
            }
            _ => v.push(r.next() as u8),
        }
    }
    v
}

/// Outcome counts and the peak memory of one target's run.
struct Report {
    execs: usize,
    accepted: usize,
    peak: usize,
}

/// Runs `target` on `execs` mutations of the seeds; panics (after writing the
/// input) if one panics, and fails if one's peak memory passes `MEMORY_BUDGET`.
fn fuzz(name: &str, seeds: &[Vec<u8>], target: impl Fn(&[u8]) -> bool) -> Report {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let execs: usize = std::env::var("GENLAB_FUZZ_EXECS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20_000);
    let mut r = Rand(0x9e37_79b9_7f4a_7c15 ^ name.len() as u64);
    let (mut accepted, mut peak) = (0, 0);
    let started = Instant::now();
    for i in 0..execs {
        // Every seed as it is first, then mutations.
        let input = match seeds.get(i) {
            Some(s) => s.clone(),
            None => {
                let seed = &seeds[r.below(seeds.len())];
                mutate(&mut r, seed, seeds)
            }
        };
        let base = IN_USE.load(Relaxed);
        PEAK.store(base, Relaxed);
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| target(&input)));
        let used = PEAK.load(Relaxed).saturating_sub(base);
        match outcome {
            Ok(ok) => accepted += ok as usize,
            Err(_) => {
                let path = format!(
                    "{}/../target/fuzz-crash-{name}.bin",
                    env!("CARGO_MANIFEST_DIR")
                );
                let _ = std::fs::write(&path, &input);
                panic!("{name}: input {i} panicked (written to {path})");
            }
        }
        assert!(
            used as u64 <= MEMORY_BUDGET,
            "{name}: input {i} took {used} bytes at its peak, past the budget"
        );
        peak = peak.max(used);
    }
    println!(
        "fuzz {name}: {execs} executions in {:.1} s, {accepted} accepted, peak {:.2} MiB per input",
        started.elapsed().as_secs_f64(),
        peak as f64 / (1 << 20) as f64
    );
    Report {
        execs,
        accepted,
        peak,
    }
}

// ---------------------------------------------------------------- the seeds

fn gzip(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

const IMAGES: &[u8] = include_bytes!("../www/data/mnist-train-10k-images-idx3-ubyte.gz");
const LABELS: &[u8] = include_bytes!("../www/data/mnist-train-10k-labels-idx1-ubyte.gz");

/// Three real digits as raw IDX images and labels.
fn idx_seeds() -> (Vec<u8>, Vec<u8>) {
    let d = Digits::from_idx(IMAGES, LABELS).unwrap().slice(0..3);
    let mut images = vec![0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 28, 0, 0, 0, 28];
    images.extend(&d.images);
    let mut labels = vec![0, 0, 8, 1, 0, 0, 0, 3];
    labels.extend(&d.labels);
    (images, labels)
}

// ---------------------------------------------------------------- the targets

#[test]
fn fuzz_idx_images() {
    let (images, labels) = idx_seeds();
    let seeds = vec![images.clone(), gzip(&images), labels.clone()];
    let r = fuzz("idx-images", &seeds, |b| read_idx_images(b).is_ok());
    assert!(r.accepted > 0 && r.accepted < r.execs);
    // Structure-aware: mutate the raw file, then gzip it (so the stream is valid
    // and the header's fields reach the inflater's bounds).
    let r = fuzz("idx-images-gzip", &[images], |b| {
        read_idx_images(&gzip(b)).is_ok()
    });
    assert!(r.accepted > 0);
    assert!(r.peak < 1 << 20, "a 3-digit file never needs a MiB");
}

#[test]
fn fuzz_idx_labels_and_pairs() {
    let (images, labels) = idx_seeds();
    let r = fuzz("idx-labels", &[labels.clone(), gzip(&labels)], |b| {
        read_idx_labels(b).is_ok()
    });
    assert!(r.accepted > 0);
    // The page's file picker: two files in either order, told apart by magic.
    let pair = [(8 + images.len()).to_le_bytes().to_vec(), images, labels].concat();
    let r = fuzz("idx-pair", &[pair], |b| {
        let Some(cut) = b.get(..8) else { return false };
        let cut = (usize::from_le_bytes(cut.try_into().unwrap()) % (b.len() + 1)).max(8);
        let (a, c) = b.split_at(cut);
        // Either order: the images first, or the labels.
        digits_from_files(&[&a[8..], c]).is_ok() && digits_from_files(&[c, &a[8..]]).is_ok()
    });
    assert!(r.accepted > 0);
}

fn tiny(kind: ModelKind) -> ModelConfig {
    ModelConfig {
        batch: 2,
        width: 2,
        hidden: if kind == ModelKind::Autoencoder { 0 } else { 4 },
        latent: 2,
        ..ModelConfig::new(kind)
    }
}

#[test]
fn fuzz_weights() {
    let b = Cpu::new();
    let seeds: Vec<Vec<u8>> = [ModelKind::MlpGan, ModelKind::Dcgan, ModelKind::Autoencoder]
        .into_iter()
        .map(|k| {
            let model = Model::new(&b, tiny(k)).unwrap();
            pollster::block_on(train::save_weights(&b, &model)).unwrap()
        })
        .collect();
    // What Load weights and --resume do: read and check, build, load.
    let r = fuzz("weights", &seeds, |bytes| {
        let Ok(saved) = train::read_weights(bytes) else {
            return false;
        };
        let Some(config) = saved.config.clone() else {
            return false;
        };
        let b = Cpu::new();
        let Ok(model) = Model::new(&b, config) else {
            return false;
        };
        train::load_weights(&b, &model, &saved).is_ok()
    });
    assert!(r.accepted > 0 && r.accepted < r.execs);
}

#[test]
fn fuzz_url_parameters() {
    let seeds: Vec<Vec<u8>> = [
        "models=dcgan,conv-vae&autostart=1&seed=7&steps=500",
        "?models=mlp-vae&latent=2&size=full&backend=cpu&controls=0&charts=1&compact=1",
        "models=ae&seed=4294967295&latent=1024&backend=gpu",
        "Your%20session%20has%20expired=1&models=%64cgan",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    let r = fuzz("url", &seeds, |b| {
        let q = String::from_utf8_lossy(b);
        let (o, problems) = PageOptions::parse(&q);
        let (configs, more) = o.configs();
        // Whatever the link, the page gets valid settings and short messages.
        configs.iter().all(|c| c.validate().is_ok())
            && problems
                .iter()
                .chain(&more)
                .all(|p| p.chars().count() < 400)
    });
    assert_eq!(
        r.accepted, r.execs,
        "every query gives valid settings and short messages"
    );
}
