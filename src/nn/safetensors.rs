//! Named f32 tensors in safetensors files, with string metadata in the
//! header: how weights (a model's arenas, the scoring classifier) are saved.

use super::ShapedTensor;
use crate::backends::{BackendError, ErrorKind};
use std::collections::HashMap;

/// Named f32 tensors, one-dimensional, as a safetensors file with `meta` in
/// its header (genlab's files before they stored shapes).
pub fn write_safetensors(
    tensors: &[(String, Vec<f32>)],
    meta: HashMap<String, String>,
) -> Result<Vec<u8>, BackendError> {
    let shaped: Vec<ShapedTensor> = tensors
        .iter()
        .map(|(n, v)| (n.clone(), vec![v.len()], v.clone()))
        .collect();
    write_safetensors_shaped(&shaped, meta)
}

/// Named f32 tensors with their shapes as a safetensors file with `meta` in its header.
pub fn write_safetensors_shaped(
    tensors: &[ShapedTensor],
    meta: HashMap<String, String>,
) -> Result<Vec<u8>, BackendError> {
    let bytes: Vec<Vec<u8>> = tensors
        .iter()
        .map(|(_, _, v)| v.iter().flat_map(|x| x.to_le_bytes()).collect())
        .collect();
    let views = tensors
        .iter()
        .zip(&bytes)
        .map(|((name, shape, v), data)| {
            if shape.iter().product::<usize>() != v.len() {
                return Err(BackendError::new(
                    ErrorKind::BadInput,
                    format!("tensor {name}: shape {shape:?} for {} values", v.len()),
                ));
            }
            safetensors::tensor::TensorView::new(safetensors::Dtype::F32, shape.clone(), data)
                .map(|view| (name.clone(), view))
                .map_err(|e| BackendError::new(ErrorKind::BadInput, format!("tensor {name}: {e}")))
        })
        .collect::<Result<Vec<_>, BackendError>>()?;
    safetensors::serialize(views, Some(meta))
        .map_err(|e| BackendError::new(ErrorKind::BadInput, format!("writing safetensors: {e}")))
}

/// Every f32 tensor of a safetensors file by name (its values, whatever its
/// shape: files before shapes were stored read the same), and its header's metadata.
#[allow(clippy::type_complexity)]
pub fn read_safetensors(
    bytes: &[u8],
) -> Result<(HashMap<String, Vec<f32>>, Option<HashMap<String, String>>), String> {
    let st = safetensors::SafeTensors::deserialize(bytes)
        .map_err(|e| format!("not a safetensors file ({e})"))?;
    let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)
        .map_err(|e| format!("not a safetensors file ({e})"))?;
    let mut tensors = HashMap::new();
    for name in st.names() {
        let t = st.tensor(name).map_err(|e| format!("tensor {name}: {e}"))?;
        if t.dtype() != safetensors::Dtype::F32 {
            return Err(format!(
                "tensor {name} is {:?}; genlab reads f32 weights",
                t.dtype()
            ));
        }
        let values = t
            .data()
            .chunks_exact(4)
            .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        tensors.insert(name.to_string(), values);
    }
    Ok((tensors, meta.metadata().clone()))
}
