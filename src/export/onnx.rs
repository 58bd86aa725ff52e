//! An exported network as an ONNX model (IR version 8, opset 17, standard
//! operators only), encoded with `prost` from message types written here
//! after onnx.proto: only the fields genlab writes, with onnx.proto's tags
//! (a oneof of one member is encoded as its field).

use super::{Graph, Node, Pixels, Tensor};
use crate::core::Activation;
use prost::Message;

/// The ONNX IR version and the default domain's opset written.
pub const IR_VERSION: i64 = 8;
pub const OPSET: i64 = 17;

#[derive(Clone, PartialEq, Message)]
pub struct ModelProto {
    #[prost(int64, tag = "1")]
    pub ir_version: i64,
    #[prost(message, repeated, tag = "8")]
    pub opset_import: Vec<OperatorSetIdProto>,
    #[prost(string, tag = "2")]
    pub producer_name: String,
    #[prost(string, tag = "3")]
    pub producer_version: String,
    #[prost(string, tag = "6")]
    pub doc_string: String,
    #[prost(message, optional, tag = "7")]
    pub graph: Option<GraphProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct OperatorSetIdProto {
    #[prost(string, tag = "1")]
    pub domain: String,
    #[prost(int64, tag = "2")]
    pub version: i64,
}

#[derive(Clone, PartialEq, Message)]
pub struct GraphProto {
    #[prost(message, repeated, tag = "1")]
    pub node: Vec<NodeProto>,
    #[prost(string, tag = "2")]
    pub name: String,
    #[prost(message, repeated, tag = "5")]
    pub initializer: Vec<TensorProto>,
    #[prost(string, tag = "10")]
    pub doc_string: String,
    #[prost(message, repeated, tag = "11")]
    pub input: Vec<ValueInfoProto>,
    #[prost(message, repeated, tag = "12")]
    pub output: Vec<ValueInfoProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct NodeProto {
    #[prost(string, repeated, tag = "1")]
    pub input: Vec<String>,
    #[prost(string, repeated, tag = "2")]
    pub output: Vec<String>,
    #[prost(string, tag = "3")]
    pub name: String,
    #[prost(string, tag = "4")]
    pub op_type: String,
    #[prost(message, repeated, tag = "5")]
    pub attribute: Vec<AttributeProto>,
}

/// AttributeProto.AttributeType values.
pub const ATTR_FLOAT: i32 = 1;
pub const ATTR_INT: i32 = 2;
pub const ATTR_INTS: i32 = 7;

#[derive(Clone, PartialEq, Message)]
pub struct AttributeProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(float, tag = "2")]
    pub f: f32,
    #[prost(int64, tag = "3")]
    pub i: i64,
    #[prost(int64, repeated, tag = "8")]
    pub ints: Vec<i64>,
    #[prost(int32, tag = "20")]
    pub r#type: i32,
}

/// TensorProto.DataType values.
pub const FLOAT: i32 = 1;
pub const INT64: i32 = 7;

#[derive(Clone, PartialEq, Message)]
pub struct TensorProto {
    #[prost(int64, repeated, tag = "1")]
    pub dims: Vec<i64>,
    #[prost(int32, tag = "2")]
    pub data_type: i32,
    #[prost(string, tag = "8")]
    pub name: String,
    /// Little-endian values.
    #[prost(bytes = "vec", tag = "9")]
    pub raw_data: Vec<u8>,
}

#[derive(Clone, PartialEq, Message)]
pub struct ValueInfoProto {
    #[prost(string, tag = "1")]
    pub name: String,
    #[prost(message, optional, tag = "2")]
    pub r#type: Option<TypeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TypeProto {
    /// The `tensor_type` member of onnx.proto's `value` oneof.
    #[prost(message, optional, tag = "1")]
    pub tensor_type: Option<TensorTypeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorTypeProto {
    #[prost(int32, tag = "1")]
    pub elem_type: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
}

#[derive(Clone, PartialEq, Message)]
pub struct TensorShapeProto {
    #[prost(message, repeated, tag = "1")]
    pub dim: Vec<Dimension>,
}

/// One of `dim_value` and `dim_param` (onnx.proto's oneof).
#[derive(Clone, PartialEq, Message)]
pub struct Dimension {
    #[prost(int64, optional, tag = "1")]
    pub dim_value: Option<i64>,
    #[prost(string, optional, tag = "2")]
    pub dim_param: Option<String>,
}

fn ints(name: &str, v: &[usize]) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints: v.iter().map(|&x| x as i64).collect(),
        r#type: ATTR_INTS,
        ..Default::default()
    }
}

fn int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i: v,
        r#type: ATTR_INT,
        ..Default::default()
    }
}

fn float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        f: v,
        r#type: ATTR_FLOAT,
        ..Default::default()
    }
}

fn value_info(name: &str, dims: &[Option<usize>]) -> ValueInfoProto {
    ValueInfoProto {
        name: name.into(),
        r#type: Some(TypeProto {
            tensor_type: Some(TensorTypeProto {
                elem_type: FLOAT,
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| match d {
                            Some(v) => Dimension {
                                dim_value: Some(*v as i64),
                                dim_param: None,
                            },
                            None => Dimension {
                                dim_value: None,
                                dim_param: Some("N".into()),
                            },
                        })
                        .collect(),
                }),
            }),
        }),
    }
}

/// Builds the graph's nodes and initializers, naming values as it goes.
struct Builder {
    nodes: Vec<NodeProto>,
    init: Vec<TensorProto>,
    last: String,
    count: usize,
}

impl Builder {
    fn constant(&mut self, name: String, t: &Tensor) -> String {
        self.init.push(TensorProto {
            dims: t.shape.iter().map(|&d| d as i64).collect(),
            data_type: FLOAT,
            name: name.clone(),
            raw_data: t.values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        });
        name
    }

    /// A layer's weight and, if it has one, its bias as initializers
    /// `{p}.weight`, `{p}.bias`: the inputs after x of a Gemm or a convolution.
    fn params(&mut self, p: &str, weight: &Tensor, bias: &Option<Tensor>) -> Vec<String> {
        let mut inputs = vec![self.constant(format!("{p}.weight"), weight)];
        if let Some(bias) = bias {
            inputs.push(self.constant(format!("{p}.bias"), bias));
        }
        inputs
    }

    fn scalar(&mut self, name: &str, v: f32) -> String {
        self.constant(
            name.into(),
            &Tensor {
                shape: vec![],
                values: vec![v],
            },
        )
    }

    /// Appends `op` on the last value and `inputs`; its output is the new last value.
    fn op(&mut self, op: &str, inputs: Vec<String>, attribute: Vec<AttributeProto>) {
        self.count += 1;
        let out = format!("{}_{}", op.to_lowercase(), self.count);
        let mut input = vec![self.last.clone()];
        input.extend(inputs);
        self.nodes.push(NodeProto {
            input,
            output: vec![out.clone()],
            name: out.clone(),
            op_type: op.into(),
            attribute,
        });
        self.last = out;
    }
}

/// The ONNX model of `g`: input `z` [N, Z] or `x` [N, 1, 28, 28]; outputs
/// `images` [N, 1, 28, 28] in [0, 1], or an encoder's `mu` and `logvar`
/// (or `code`) [N, Z].
pub fn write(g: &Graph) -> Result<Vec<u8>, String> {
    let mut b = Builder {
        nodes: Vec::new(),
        init: Vec::new(),
        last: g.input_name.into(),
        count: 0,
    };
    for (i, node) in g.nodes.iter().enumerate() {
        let p = format!("{}.{i}", g.part.name());
        match node {
            Node::Linear { weight, bias } => {
                let inputs = b.params(&p, weight, bias);
                b.op("Gemm", inputs, vec![int("transB", 1)]);
            }
            // ONNX's pads of a transposed convolution crop its full output.
            Node::Conv {
                weight,
                bias,
                stride,
                pads,
            }
            | Node::ConvTranspose {
                weight,
                bias,
                stride,
                crops: pads,
            } => {
                let op = if matches!(node, Node::Conv { .. }) {
                    "Conv"
                } else {
                    "ConvTranspose"
                };
                let inputs = b.params(&p, weight, bias);
                let k = weight.shape[2];
                b.op(
                    op,
                    inputs,
                    vec![
                        ints("kernel_shape", &[k, k]),
                        ints("strides", &[*stride, *stride]),
                        ints("pads", pads),
                    ],
                );
            }
            Node::BatchNorm {
                weight,
                bias,
                mean,
                var,
                eps,
                ..
            } => {
                let inputs = vec![
                    b.constant(format!("{p}.weight"), weight),
                    b.constant(format!("{p}.bias"), bias),
                    b.constant(format!("{p}.running_mean"), mean),
                    b.constant(format!("{p}.running_var"), var),
                ];
                b.op("BatchNormalization", inputs, vec![float("epsilon", *eps)]);
            }
            Node::Act(act) => match act {
                Activation::None => {}
                Activation::Relu => b.op("Relu", vec![], vec![]),
                Activation::LeakyRelu(a) => b.op("LeakyRelu", vec![], vec![float("alpha", *a)]),
                Activation::Tanh => b.op("Tanh", vec![], vec![]),
                Activation::Sigmoid => b.op("Sigmoid", vec![], vec![]),
            },
            Node::Flatten => b.op("Flatten", vec![], vec![int("axis", 1)]),
            Node::Unflatten([c, h, w]) => {
                let name = format!("{p}.shape");
                b.init.push(TensorProto {
                    dims: vec![4],
                    data_type: INT64,
                    name: name.clone(),
                    raw_data: [-1i64, *c as i64, *h as i64, *w as i64]
                        .iter()
                        .flat_map(|v| v.to_le_bytes())
                        .collect(),
                });
                b.op("Reshape", vec![name], vec![]);
            }
            Node::Pixels(Pixels::Sigmoid) => b.op("Sigmoid", vec![], vec![]),
            Node::Heads(heads) => {
                // Side by side on the same input, each an output of the graph.
                let x = b.last.clone();
                for h in heads {
                    let mut inputs = vec![x.clone()];
                    inputs.extend(b.params(&format!("{p}.{}", h.name), &h.weight, &h.bias));
                    b.nodes.push(NodeProto {
                        input: inputs,
                        output: vec![h.name.into()],
                        name: format!("{p}.{}", h.name),
                        op_type: "Gemm".into(),
                        attribute: vec![int("transB", 1)],
                    });
                }
                b.last = String::new();
            }
            Node::Pixels(Pixels::Tanh) => {
                let one = b.scalar("one", 1.0);
                let half = b.scalar("half", 0.5);
                let zero = b.scalar("zero", 0.0);
                b.op("Add", vec![one.clone()], vec![]);
                b.op("Mul", vec![half], vec![]);
                b.op("Clip", vec![zero, one], vec![]);
            }
        }
    }
    // The last value is the output, under its own name (heads name theirs).
    if !b.last.is_empty() {
        b.op("Identity", vec![], vec![]);
        let last = b.nodes.last_mut().unwrap();
        last.output = vec![g.outputs[0].0.into()];
    }
    let batch = |dims: &[usize]| -> Vec<Option<usize>> {
        std::iter::once(None)
            .chain(dims.iter().map(|&d| Some(d)))
            .collect()
    };
    let model = ModelProto {
        ir_version: IR_VERSION,
        opset_import: vec![OperatorSetIdProto {
            domain: String::new(),
            version: OPSET,
        }],
        producer_name: "genlab".into(),
        producer_version: env!("CARGO_PKG_VERSION").into(),
        doc_string: g.description(),
        graph: Some(GraphProto {
            node: b.nodes,
            name: format!("genlab-{}-{}", g.config.kind, g.part.name()),
            initializer: b.init,
            doc_string: g.description(),
            input: vec![value_info(g.input_name, &batch(&g.input))],
            output: g
                .outputs
                .iter()
                .map(|(name, dims)| value_info(name, &batch(dims)))
                .collect(),
        }),
    };
    Ok(model.encode_to_vec())
}
