//! Export (src/export/): genlab's weights files store real shapes and still
//! read the flat files of before; an exported network is the sampler's
//! layers with TensorFlow's 'same' padding made explicit; the ONNX file
//! decodes to the model it should be (opset, input, output, operators,
//! initializers); bad files are refused with a reason. Natively and in
//! headless Chrome. The arithmetic of the exports is checked against
//! genlab's own samples by ONNX Runtime and a NumPy forward pass that
//! follows PyTorch (scripts/check_export.py, in scripts/test.sh).

mod common;

use genlab::backends::{Backend, Cpu};
use genlab::export::onnx::{ModelProto, OPSET};
use genlab::export::{export, parts, Format, Graph, Node, Part, Pixels};
use genlab::models::{Model, ModelConfig, ModelKind};
use genlab::train;
use prost::Message;

#[cfg(target_arch = "wasm32")]
wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

fn small(kind: ModelKind) -> ModelConfig {
    ModelConfig {
        width: 4,
        hidden: 16,
        batch: 4,
        ..ModelConfig::new(kind)
    }
}

async fn saved_file(kind: ModelKind) -> Vec<u8> {
    let b = Cpu::new();
    let model = Model::new(&b, small(kind)).unwrap();
    train::save_weights(&b, &model).await.unwrap()
}

async fn weights_keep_real_shapes<B: Backend>(b: &B) {
    let model = Model::new(b, small(ModelKind::Dcgan)).unwrap();
    let bytes = train::save_weights(b, &model).await.unwrap();
    let st = safetensors::SafeTensors::deserialize(&bytes).unwrap();
    let shape = |n: &str| st.tensor(n).unwrap().shape().to_vec();
    // Dense [out, in]; transposed conv [in, out, k, k]; conv [out, in, k, k]; batch norm [C].
    assert_eq!(shape("generator.0.weight"), [7 * 7 * 16, 100]);
    assert_eq!(shape("generator.4.weight"), [16, 8, 5, 5]);
    assert_eq!(shape("generator.4.weight.adam_m"), [16, 8, 5, 5]);
    assert_eq!(shape("discriminator.0.weight"), [4, 1, 5, 5]);
    assert_eq!(shape("generator.1.running_var"), [7 * 7 * 16]);

    // A file of before (every tensor flat) still loads, to the same values.
    let saved = train::read_weights(&bytes).unwrap();
    let (meta, flat): (_, Vec<(String, Vec<f32>)>) = {
        let (t, m) = genlab::nn::read_safetensors(&bytes).unwrap();
        (m.unwrap(), t.into_iter().collect())
    };
    let old = genlab::nn::write_safetensors(&flat, meta).unwrap();
    let st_old = safetensors::SafeTensors::deserialize(&old).unwrap();
    assert_eq!(
        st_old.tensor("generator.4.weight").unwrap().shape(),
        [16 * 8 * 25]
    );
    let again = Model::new(b, small(ModelKind::Dcgan)).unwrap();
    train::load_weights(b, &again, &train::read_weights(&old).unwrap()).unwrap();
    let back = train::read_weights(&train::save_weights(b, &again).await.unwrap()).unwrap();
    assert_eq!(back.tensors, saved.tensors);
}
cpu_test!(weights_keep_real_shapes_cpu, weights_keep_real_shapes);

async fn exports_the_sampler_network(_: &Cpu) {
    let g = Graph::from_weights(
        &train::read_weights(&saved_file(ModelKind::Dcgan).await).unwrap(),
        Part::Generator,
    )
    .unwrap();
    assert_eq!((g.input_name, g.input.as_slice()), ("z", &[100][..]));
    // TensorFlow's 'same' for a 5×5 transposed convolution: stride 1 crops
    // 2 a side; stride 2 crops 1 before and 2 after.
    let crops: Vec<([usize; 4], usize)> = g
        .nodes
        .iter()
        .filter_map(|n| match n {
            Node::ConvTranspose { crops, stride, .. } => Some((*crops, *stride)),
            _ => None,
        })
        .collect();
    assert_eq!(
        crops,
        [([2, 2, 2, 2], 1), ([1, 1, 2, 2], 2), ([1, 1, 2, 2], 2)]
    );
    assert_eq!(g.nodes.last(), Some(&Node::Pixels(Pixels::Tanh)));
    let bn = g
        .nodes
        .iter()
        .filter(|n| matches!(n, Node::BatchNorm { .. }))
        .count();
    assert_eq!(bn, 3);

    // The conv VAE: its decoder ends in logits, so the sigmoid; its encoder
    // takes digits and ends in the μ and log σ² heads.
    let vae = train::read_weights(&saved_file(ModelKind::ConvVae).await).unwrap();
    assert_eq!(parts(ModelKind::ConvVae), [Part::Decoder, Part::Encoder]);
    let v = Graph::from_weights(&vae, Part::Decoder).unwrap();
    assert_eq!(v.nodes.last(), Some(&Node::Pixels(Pixels::Sigmoid)));
    let e = Graph::from_weights(&vae, Part::Encoder).unwrap();
    assert_eq!((e.input_name, e.input.as_slice()), ("x", &[1, 28, 28][..]));
    let z = vae.config.as_ref().unwrap().latent;
    assert_eq!(e.outputs, [("mu", vec![z]), ("logvar", vec![z])]);
    assert!(matches!(e.nodes.last(), Some(Node::Heads(h)) if h.len() == 2));
    let err = Graph::from_weights(&vae, Part::Generator).unwrap_err();
    assert!(err.contains("no generator"), "{err}");
    // The autoencoder splits at its code: the encoder's output, the decoder's input.
    let ae = train::read_weights(&saved_file(ModelKind::Autoencoder).await).unwrap();
    let code = ae.config.as_ref().unwrap().latent;
    let enc = Graph::from_weights(&ae, Part::Encoder).unwrap();
    let dec = Graph::from_weights(&ae, Part::Decoder).unwrap();
    assert_eq!(enc.outputs, [("code", vec![code])]);
    assert_eq!(dec.input, [code]);
}
cpu_test!(exports_the_sampler_network_cpu, exports_the_sampler_network);

async fn onnx_file_is_the_model(_: &Cpu) {
    let saved = train::read_weights(&saved_file(ModelKind::MlpGan).await).unwrap();
    let files = export(&saved, Format::Onnx, "g", &[]).unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(files[0].0, "g-generator.onnx");
    let m = ModelProto::decode(files[0].1.as_slice()).unwrap();
    assert_eq!((m.ir_version, m.opset_import[0].version), (8, OPSET));
    let graph = m.graph.unwrap();
    let ops: Vec<&str> = graph.node.iter().map(|n| n.op_type.as_str()).collect();
    assert_eq!(
        ops,
        [
            "Gemm", "Relu", "Gemm", "Relu", "Gemm", "Tanh", "Reshape", "Add", "Mul", "Clip",
            "Identity"
        ]
    );
    let dims = |v: &genlab::export::onnx::ValueInfoProto| -> Vec<Option<i64>> {
        let t = v.r#type.as_ref().unwrap().tensor_type.as_ref().unwrap();
        t.shape
            .as_ref()
            .unwrap()
            .dim
            .iter()
            .map(|d| d.dim_value)
            .collect()
    };
    assert_eq!(
        (graph.input[0].name.as_str(), dims(&graph.input[0])),
        ("z", vec![None, Some(100)])
    );
    assert_eq!(
        (graph.output[0].name.as_str(), dims(&graph.output[0])),
        ("images", vec![None, Some(1), Some(28), Some(28)])
    );
    // Every weight, with its shape and its values.
    let w0 = graph
        .initializer
        .iter()
        .find(|t| t.name == "generator.0.weight")
        .unwrap();
    assert_eq!(w0.dims, [16, 100]);
    let values: Vec<f32> = w0
        .raw_data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(values, saved.tensors["generator.0.weight"]);

    // PyTorch: the state dict and model.py.
    let files = export(&saved, Format::Pytorch, "g", &[]).unwrap();
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["g-generator.safetensors", "model.py"]);
    let st = safetensors::SafeTensors::deserialize(&files[0].1).unwrap();
    assert_eq!(st.tensor("0.weight").unwrap().shape(), [16, 100]);
    let py = String::from_utf8(files[1].1.clone()).unwrap();
    assert!(
        py.contains("(\"Linear\", dict(in_features=100, out_features=16, bias=True)),"),
        "{py}"
    );
    assert!(
        py.contains("\"0.weight\": ((16, 100), \"float32\"),"),
        "{py}"
    );
}
cpu_test!(onnx_file_is_the_model_cpu, onnx_file_is_the_model);

async fn bad_files_are_refused(_: &Cpu) {
    let mut saved = train::read_weights(&saved_file(ModelKind::ConvVae).await).unwrap();
    saved.tensors.remove("decoder.2.weight");
    let e = Graph::from_weights(&saved, Part::Decoder).unwrap_err();
    assert!(e.contains("no tensor decoder.2.weight"), "{e}");
    saved.tensors.remove("encoder.mu.bias");
    let e = Graph::from_weights(&saved, Part::Encoder).unwrap_err();
    assert!(e.contains("no tensor encoder.mu.bias"), "{e}");
    saved.config = None;
    let e = Graph::from_weights(&saved, Part::Decoder).unwrap_err();
    assert!(e.contains("no genlab settings"), "{e}");
    assert!(Format::parse("keras")
        .unwrap_err()
        .contains("onnx, pytorch"));
}
cpu_test!(bad_files_are_refused_cpu, bad_files_are_refused);
