//! MNIST-format data: the IDX reader for images and labels (gzip or raw), and
//! the digits they make.
//!
//! Any IDX unsigned-byte file of 28×28 images works (MNIST, Fashion-MNIST, …).
//! A bad file gets a [`DataError`] that says what is wrong, never a panic.

use std::borrow::Cow;
use std::fmt;
use std::io::Read;

/// Image side length the models are built for.
pub const SIDE: usize = 28;
/// Pixels per image.
pub const PIXELS: usize = SIDE * SIDE;

const MAGIC_IMAGES: u32 = 0x0000_0803; // unsigned byte, 3 dimensions
const MAGIC_LABELS: u32 = 0x0000_0801; // unsigned byte, 1 dimension

/// What is wrong with a data file, worded for the person who chose it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataError(pub String);

impl fmt::Display for DataError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for DataError {}

fn err<T>(msg: String) -> Result<T, DataError> {
    Err(DataError(msg))
}

/// The most bytes an IDX file may hold, raw or inflated: 256 MiB, about
/// 340,000 digits (MNIST has 70,000). A gzip stream that inflates past it,
/// or past what its header announces, is refused without reading the rest.
pub const MAX_IDX_BYTES: usize = 256 << 20;

/// The most digits a file may hold (what fits in [`MAX_IDX_BYTES`]).
pub const MAX_DIGITS: usize = (MAX_IDX_BYTES - 16) / PIXELS;

fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// Inflates at most `limit` bytes of a gzip stream; `Ok(None)` if it holds more.
fn gunzip_at_most(what: &str, bytes: &[u8], limit: usize) -> Result<Option<Vec<u8>>, DataError> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(bytes)
        // One byte more than allowed tells "exactly at the limit" from "over it".
        .take(limit as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| {
            DataError(format!(
                "{what}: the gzip data is corrupt or cut short ({e})"
            ))
        })?;
    Ok((out.len() <= limit).then_some(out))
}

/// The magic number of an IDX file (gzip or raw), from its first four bytes
/// (only those are inflated): tells images from labels.
pub fn idx_magic(what: &str, bytes: &[u8]) -> Result<u32, DataError> {
    Ok(header(what, &head(what, bytes, 4)?, 1)?[0])
}

/// Whether these are the bytes of an IDX labels file (gzip or raw); a file
/// that is not readable is not (reading it as images says what is wrong).
pub fn is_labels_file(bytes: &[u8]) -> bool {
    idx_magic("file", bytes).is_ok_and(|m| m == MAGIC_LABELS)
}

/// The first `n` bytes of a file (inflated if gzip), for its header.
fn head<'a>(what: &str, bytes: &'a [u8], n: usize) -> Result<Cow<'a, [u8]>, DataError> {
    if !is_gzip(bytes) {
        return Ok(Cow::Borrowed(&bytes[..n.min(bytes.len())]));
    }
    let mut out = Vec::with_capacity(n);
    flate2::read::GzDecoder::new(bytes)
        .take(n as u64)
        .read_to_end(&mut out)
        .map_err(|e| {
            DataError(format!(
                "{what}: the gzip data is corrupt or cut short ({e})"
            ))
        })?;
    Ok(Cow::Owned(out))
}

/// The whole file given its expected size from the header: a raw file is
/// taken as it is (its length is checked by the caller), a gzip stream is
/// inflated to at most one byte past `need`, so that a stream that
/// inflates to far more than announced costs nothing.
fn body<'a>(what: &str, bytes: &'a [u8], need: usize) -> Result<Cow<'a, [u8]>, DataError> {
    if !is_gzip(bytes) {
        return Ok(Cow::Borrowed(bytes));
    }
    match gunzip_at_most(what, bytes, need)? {
        Some(out) => Ok(Cow::Owned(out)),
        None => err(format!(
            "{what}: the gzip data inflates to more than the {need} bytes its header announces"
        )),
    }
}

fn header(what: &str, bytes: &[u8], words: usize) -> Result<Vec<u32>, DataError> {
    if bytes.len() < 4 * words {
        return err(format!(
            "{what}: {} bytes is too short for an IDX header ({} bytes)",
            bytes.len(),
            4 * words
        ));
    }
    Ok((0..words)
        .map(|i| u32::from_be_bytes(bytes[4 * i..4 * i + 4].try_into().unwrap()))
        .collect())
}

fn check_magic(what: &str, magic: u32, want: u32, kind: &str) -> Result<(), DataError> {
    if magic == want {
        return Ok(());
    }
    let hint = match magic {
        MAGIC_IMAGES => "that is an images file: are the two files swapped?",
        MAGIC_LABELS => "that is a labels file: are the two files swapped?",
        m if m >> 8 == 0x08 => "unsigned bytes, but the wrong number of dimensions",
        m if m >> 16 == 0 => {
            "an IDX file of another element type: only unsigned bytes are supported"
        }
        _ => "not an IDX file",
    };
    err(format!(
        "{what}: magic number 0x{magic:08x} ({hint}); expected 0x{want:08x} for IDX {kind}"
    ))
}

/// `header + count × item` bytes, or an error if that is more than a file may hold
/// (checked arithmetic: on wasm32 `usize` is 32 bits).
fn expected_len(what: &str, count: u32, item: usize, header: usize) -> Result<usize, DataError> {
    (count as usize)
        .checked_mul(item)
        .and_then(|n| n.checked_add(header))
        .filter(|&n| n <= MAX_IDX_BYTES)
        .ok_or_else(|| {
            DataError(format!(
                "{what}: the header says {count} items, more than the {MAX_DIGITS} genlab reads"
            ))
        })
}

/// Images from an IDX file (gzip or raw): `(count, pixels)` with 28×28 bytes per image.
pub fn read_idx_images(bytes: &[u8]) -> Result<(usize, Vec<u8>), DataError> {
    let what = "images file";
    // The magic first: a swapped or foreign file is named as such, not as "too short".
    let magic = idx_magic(what, bytes)?;
    check_magic(
        what,
        magic,
        MAGIC_IMAGES,
        "images (unsigned bytes, 3 dimensions)",
    )?;
    let h = header(what, &head(what, bytes, 16)?, 4)?;
    let (count, rows, cols) = (h[1], h[2] as usize, h[3] as usize);
    if (rows, cols) != (SIDE, SIDE) {
        return err(format!(
            "{what}: images are {rows}×{cols}; genlab's models take 28×28 (MNIST-format) images"
        ));
    }
    if count == 0 {
        return err(format!("{what}: the header says it holds no images"));
    }
    let need = expected_len(what, count, PIXELS, 16)?;
    let bytes = body(what, bytes, need)?;
    if bytes.len() != need {
        return err(format!(
            "{what}: the header says {count} images of 28×28 ({need} bytes) but the file holds {} bytes{}",
            bytes.len(),
            if bytes.len() < need { ": it is cut short" } else { "" }
        ));
    }
    let pixels = match bytes {
        Cow::Borrowed(b) => b[16..].to_vec(),
        // Inflated: drop the header in place rather than copy the pixels.
        Cow::Owned(mut v) => {
            v.drain(..16);
            v
        }
    };
    Ok((count as usize, pixels))
}

/// Labels from an IDX file (gzip or raw).
pub fn read_idx_labels(bytes: &[u8]) -> Result<Vec<u8>, DataError> {
    let what = "labels file";
    let magic = idx_magic(what, bytes)?;
    check_magic(
        what,
        magic,
        MAGIC_LABELS,
        "labels (unsigned bytes, 1 dimension)",
    )?;
    let count = header(what, &head(what, bytes, 8)?, 2)?[1];
    if count == 0 {
        return err(format!("{what}: the header says it holds no labels"));
    }
    let need = expected_len(what, count, 1, 8)?;
    let bytes = body(what, bytes, need)?;
    if bytes.len() != need {
        return err(format!(
            "{what}: the header says {count} labels ({need} bytes) but the file holds {} bytes",
            bytes.len()
        ));
    }
    let labels = bytes[8..].to_vec();
    if let Some((i, &l)) = labels.iter().enumerate().find(|(_, &l)| l > 9) {
        return err(format!(
            "{what}: label {i} is {l}; labels must be the digits 0 to 9"
        ));
    }
    Ok(labels)
}

/// Digits with their labels: `images[i·784 .. (i+1)·784]` is digit `labels[i]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Digits {
    pub images: Vec<u8>,
    pub labels: Vec<u8>,
}

impl Digits {
    /// Reads an images file and a labels file (each gzip or raw) and checks that they agree.
    pub fn from_idx(images: &[u8], labels: &[u8]) -> Result<Digits, DataError> {
        let (count, images) = read_idx_images(images)?;
        let labels = read_idx_labels(labels)?;
        if labels.len() != count {
            return err(format!(
                "the images file holds {count} images but the labels file {} labels: are they from the same set?",
                labels.len()
            ));
        }
        Ok(Digits { images, labels })
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The 784 pixel bytes of digit `i`.
    pub fn image(&self, i: usize) -> &[u8] {
        &self.images[i * PIXELS..(i + 1) * PIXELS]
    }

    /// Digits `range`, as a set of their own.
    pub fn slice(&self, range: std::ops::Range<usize>) -> Digits {
        Digits {
            images: self.images[range.start * PIXELS..range.end * PIXELS].to_vec(),
            labels: self.labels[range].to_vec(),
        }
    }

    /// The first `len − held_out` digits for training and the last `held_out` for evaluation.
    pub fn split_held_out(&self, held_out: usize) -> (Digits, Digits) {
        let cut = self.len().saturating_sub(held_out);
        (self.slice(0..cut), self.slice(cut..self.len()))
    }

    /// How many digits of each class.
    pub fn histogram(&self) -> [usize; 10] {
        let mut h = [0; 10];
        for &l in &self.labels {
            h[l as usize] += 1;
        }
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idx_images(count: u32, rows: u32, cols: u32, pixels: usize) -> Vec<u8> {
        let mut v = Vec::new();
        for w in [MAGIC_IMAGES, count, rows, cols] {
            v.extend(w.to_be_bytes());
        }
        v.extend(std::iter::repeat_n(7u8, pixels));
        v
    }

    fn idx_labels(labels: &[u8]) -> Vec<u8> {
        let mut v = MAGIC_LABELS.to_be_bytes().to_vec();
        v.extend((labels.len() as u32).to_be_bytes());
        v.extend(labels);
        v
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn reads_raw_and_gzip_alike() {
        let (images, labels) = (idx_images(3, 28, 28, 3 * PIXELS), idx_labels(&[4, 0, 9]));
        let raw = Digits::from_idx(&images, &labels).unwrap();
        let gz = Digits::from_idx(&gzip(&images), &gzip(&labels)).unwrap();
        assert_eq!(raw, gz);
        assert_eq!(raw.len(), 3);
        assert_eq!(raw.labels, vec![4, 0, 9]);
        assert_eq!(raw.image(2), &[7u8; PIXELS][..]);
    }

    fn error_of(images: &[u8], labels: &[u8]) -> String {
        Digits::from_idx(images, labels).unwrap_err().to_string()
    }

    #[test]
    fn bad_files_say_what_is_wrong() {
        let good_images = idx_images(2, 28, 28, 2 * PIXELS);
        let good_labels = idx_labels(&[1, 2]);
        let truncated = &good_images[..good_images.len() - 100];
        assert!(
            error_of(truncated, &good_labels).contains("cut short"),
            "{}",
            error_of(truncated, &good_labels)
        );
        let gz = gzip(&good_images);
        let gz_cut = &gz[..gz.len() / 2];
        assert!(error_of(gz_cut, &good_labels).contains("gzip data is corrupt or cut short"));
        assert!(error_of(&good_labels, &good_labels).contains("that is a labels file"));
        assert!(error_of(&good_images, &good_images).contains("that is an images file"));
        assert!(
            error_of(b"PNG\x0d\x0a\x1a\x0a not idx at all", &good_labels)
                .contains("not an IDX file")
        );
        let mut floats = good_images.clone();
        floats[2] = 0x0d; // IDX float elements
        assert!(error_of(&floats, &good_labels).contains("another element type"));
        assert!(error_of(&idx_images(2, 32, 32, 2 * 32 * 32), &good_labels).contains("32×32"));
        assert!(error_of(&good_images, &idx_labels(&[1, 2, 3]))
            .contains("2 images but the labels file 3 labels"));
        assert!(error_of(&good_images, &idx_labels(&[1, 12])).contains("label 1 is 12"));
        assert!(error_of(&[0, 0], &good_labels).contains("too short for an IDX header"));
        let mut long = good_images.clone();
        long.push(0);
        assert!(error_of(&long, &good_labels).contains("holds"));
    }
}
