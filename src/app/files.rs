//! Files the page is given.

use crate::data::Digits;

/// Reads the two files of an MNIST-format set (images and labels, gzip or
/// raw, in either order: told apart by their magic numbers).
pub fn digits_from_files(files: &[&[u8]]) -> Result<Digits, String> {
    let [a, b] = files else {
        return Err(format!(
            "choose two files, the images and the labels (IDX, gzip or raw), not {}",
            files.len()
        ));
    };
    let is_labels = crate::data::is_labels_file;
    let (images, labels) = if is_labels(a) && !is_labels(b) {
        (b, a)
    } else {
        (a, b)
    };
    Digits::from_idx(images, labels).map_err(|e| e.to_string())
}
