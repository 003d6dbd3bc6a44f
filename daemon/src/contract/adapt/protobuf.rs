//! Open Inference Protocol V2 in its protobuf encoding, as Seldon Core v2 writes model topics by
//! default: `inference.ModelInferRequest` / `ModelInferResponse` (field numbers of the protocol's
//! `open_inference_grpc.proto`), optionally behind the Confluent schema-registry framing (a zero
//! byte, a 4-byte schema id, the message indexes) that Seldon writes when a registry is
//! configured. A message becomes the protocol's JSON form, which [`super::oip`] reads.
//!
//! The messages are declared here with prost's derive rather than generated from the `.proto`
//! file: the subset read is small (names, shapes, contents, raw contents) and a build step with
//! `protoc` is not worth it for it. Request and response share their layout but for the raw
//! contents' field (7 in a request, 6 in a response), so one message reads both; the topic says
//! which half it is.

use prost::Message as _;
use serde_json::{Map, Value, json};

use crate::contract::event::{RejectReason, Rejection};

/// `ModelInferRequest` and `ModelInferResponse` read as one (parameters and requested outputs,
/// which the monitor does not use, are skipped as unknown fields).
#[derive(Clone, PartialEq, prost::Message)]
struct InferMessage {
    #[prost(string, tag = "1")]
    model_name: String,
    #[prost(string, tag = "2")]
    model_version: String,
    #[prost(string, tag = "3")]
    id: String,
    /// Request `inputs` / response `outputs`.
    #[prost(message, repeated, tag = "5")]
    tensors: Vec<Tensor>,
    /// Response `raw_output_contents`.
    #[prost(bytes = "vec", repeated, tag = "6")]
    raw_outputs: Vec<Vec<u8>>,
    /// Request `raw_input_contents`.
    #[prost(bytes = "vec", repeated, tag = "7")]
    raw_inputs: Vec<Vec<u8>>,
}

/// `InferInputTensor` / `InferOutputTensor` (the same fields).
#[derive(Clone, PartialEq, prost::Message)]
struct Tensor {
    #[prost(string, tag = "1")]
    name: String,
    #[prost(string, tag = "2")]
    datatype: String,
    #[prost(int64, repeated, tag = "3")]
    shape: Vec<i64>,
    #[prost(message, optional, tag = "5")]
    contents: Option<Contents>,
}

/// `InferTensorContents`.
#[derive(Clone, PartialEq, prost::Message)]
struct Contents {
    #[prost(bool, repeated, tag = "1")]
    bool_contents: Vec<bool>,
    #[prost(int32, repeated, tag = "2")]
    int_contents: Vec<i32>,
    #[prost(int64, repeated, tag = "3")]
    int64_contents: Vec<i64>,
    #[prost(uint32, repeated, tag = "4")]
    uint_contents: Vec<u32>,
    #[prost(uint64, repeated, tag = "5")]
    uint64_contents: Vec<u64>,
    #[prost(float, repeated, tag = "6")]
    fp32_contents: Vec<f32>,
    #[prost(double, repeated, tag = "7")]
    fp64_contents: Vec<f64>,
    #[prost(bytes = "vec", repeated, tag = "8")]
    bytes_contents: Vec<Vec<u8>>,
}

fn bad(detail: impl Into<String>) -> Rejection {
    Rejection::new(RejectReason::InvalidJson, detail)
}

/// Strips the Confluent framing: magic byte 0, schema id (4 bytes), then the message indexes (a
/// zigzag varint count, then that many zigzag varints; a lone 0 means the first message).
fn unframe(b: &[u8]) -> Result<&[u8], Rejection> {
    if b.first() != Some(&0) {
        return Ok(b);
    }
    let mut rest = b
        .get(5..)
        .ok_or_else(|| bad("a schema-registry frame shorter than its header"))?;
    let count = prost::encoding::decode_varint(&mut rest)
        .map_err(|e| bad(format!("the frame's message indexes: {e}")))?;
    let count = (count >> 1) as i64 ^ -((count & 1) as i64);
    for _ in 0..count.max(0) {
        prost::encoding::decode_varint(&mut rest)
            .map_err(|e| bad(format!("the frame's message indexes: {e}")))?;
    }
    Ok(rest)
}

fn float(x: f64) -> Value {
    // JSON has no NaN or infinity: such a value is missing (contract v1 would refuse it).
    serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)
}

/// The values of a tensor from its raw contents (little-endian, row-major; BYTES elements behind
/// a 4-byte length).
fn raw_values(datatype: &str, raw: &[u8]) -> Result<Vec<Value>, String> {
    let fixed = |n: usize| -> Result<std::slice::ChunksExact<'_, u8>, String> {
        if !raw.len().is_multiple_of(n) {
            return Err(format!(
                "{} raw bytes are not a whole number of {datatype}",
                raw.len()
            ));
        }
        Ok(raw.chunks_exact(n))
    };
    Ok(match datatype {
        "BOOL" => raw.iter().map(|b| Value::Bool(*b != 0)).collect(),
        "UINT8" => raw.iter().map(|b| json!(b)).collect(),
        "INT8" => raw.iter().map(|b| json!(*b as i8)).collect(),
        "UINT16" => fixed(2)?
            .map(|c| json!(u16::from_le_bytes([c[0], c[1]])))
            .collect(),
        "INT16" => fixed(2)?
            .map(|c| json!(i16::from_le_bytes([c[0], c[1]])))
            .collect(),
        "UINT32" => fixed(4)?
            .map(|c| json!(u32::from_le_bytes(c.try_into().expect("4 bytes"))))
            .collect(),
        "INT32" => fixed(4)?
            .map(|c| json!(i32::from_le_bytes(c.try_into().expect("4 bytes"))))
            .collect(),
        "UINT64" => fixed(8)?
            .map(|c| json!(u64::from_le_bytes(c.try_into().expect("8 bytes"))))
            .collect(),
        "INT64" => fixed(8)?
            .map(|c| json!(i64::from_le_bytes(c.try_into().expect("8 bytes"))))
            .collect(),
        "FP32" => fixed(4)?
            .map(|c| {
                float(f64::from(f32::from_le_bytes(
                    c.try_into().expect("4 bytes"),
                )))
            })
            .collect(),
        "FP64" => fixed(8)?
            .map(|c| float(f64::from_le_bytes(c.try_into().expect("8 bytes"))))
            .collect(),
        "BYTES" => {
            let mut out = Vec::new();
            let mut rest = raw;
            while !rest.is_empty() {
                let (len, tail) = rest
                    .split_first_chunk::<4>()
                    .ok_or("a BYTES element without its 4-byte length")?;
                let len = u32::from_le_bytes(*len) as usize;
                let (s, tail) = tail
                    .split_at_checked(len)
                    .ok_or("a BYTES element longer than the raw contents")?;
                out.push(Value::String(String::from_utf8_lossy(s).into_owned()));
                rest = tail;
            }
            out
        }
        other => return Err(format!("raw contents of datatype {other} are not read")),
    })
}

/// The values of a tensor from its typed contents.
fn typed_values(c: &Contents) -> Vec<Value> {
    let mut v: Vec<Value> = Vec::new();
    v.extend(c.bool_contents.iter().map(|b| Value::Bool(*b)));
    v.extend(c.int_contents.iter().map(|x| json!(x)));
    v.extend(c.int64_contents.iter().map(|x| json!(x)));
    v.extend(c.uint_contents.iter().map(|x| json!(x)));
    v.extend(c.uint64_contents.iter().map(|x| json!(x)));
    v.extend(c.fp32_contents.iter().map(|x| float(f64::from(*x))));
    v.extend(c.fp64_contents.iter().map(|x| float(*x)));
    v.extend(
        c.bytes_contents
            .iter()
            .map(|b| Value::String(String::from_utf8_lossy(b).into_owned())),
    );
    v
}

/// A protobuf request (`field` = `inputs`) or response (`outputs`) as the protocol's JSON form.
pub(super) fn to_json(body: &[u8], field: &str) -> Result<Map<String, Value>, Rejection> {
    let m = InferMessage::decode(unframe(body)?).map_err(|e| {
        bad(format!(
            "neither JSON nor an Open Inference Protocol protobuf message: {e}"
        ))
    })?;
    if m.tensors.is_empty() {
        return Err(bad(
            "not an Open Inference Protocol message: it holds no tensor",
        ));
    }
    let raw = if m.raw_inputs.is_empty() {
        &m.raw_outputs
    } else {
        &m.raw_inputs
    };
    let mut tensors = Vec::with_capacity(m.tensors.len());
    for (i, t) in m.tensors.iter().enumerate() {
        let data = match raw.get(i) {
            Some(r) => raw_values(&t.datatype, r).map_err(|e| {
                Rejection::new(
                    RejectReason::InvalidField,
                    format!("tensor `{}`: {e}", t.name),
                )
            })?,
            None => t.contents.as_ref().map(typed_values).unwrap_or_default(),
        };
        tensors
            .push(json!({"name": t.name, "datatype": t.datatype, "shape": t.shape, "data": data}));
    }
    let mut out = Map::new();
    out.insert(field.to_owned(), Value::Array(tensors));
    if !m.model_name.is_empty() {
        out.insert("model_name".into(), m.model_name.into());
    }
    if !m.model_version.is_empty() {
        out.insert("model_version".into(), m.model_version.into());
    }
    if !m.id.is_empty() {
        out.insert("id".into(), m.id.into());
    }
    Ok(out)
}

#[cfg(test)]
pub(super) mod encode {
    //! Messages written the way Seldon's gateways write them, for the tests.
    use super::*;

    /// A request (`raw`: tensors in raw contents) or response, optionally framed.
    pub fn message(
        request: bool,
        tensors: &[(&str, &str, Vec<i64>, Vec<f64>)],
        raw: bool,
        framed: bool,
    ) -> Vec<u8> {
        let mut m = InferMessage {
            model_name: "iris_1".into(),
            model_version: "1".into(),
            ..InferMessage::default()
        };
        for (name, datatype, shape, values) in tensors {
            let mut t = Tensor {
                name: (*name).into(),
                datatype: (*datatype).into(),
                shape: shape.clone(),
                contents: None,
            };
            if raw {
                let bytes: Vec<u8> = match *datatype {
                    "FP32" => values
                        .iter()
                        .flat_map(|v| (*v as f32).to_le_bytes())
                        .collect(),
                    "INT64" => values
                        .iter()
                        .flat_map(|v| (*v as i64).to_le_bytes())
                        .collect(),
                    _ => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
                };
                if request {
                    m.raw_inputs.push(bytes);
                } else {
                    m.raw_outputs.push(bytes);
                }
            } else {
                let mut c = Contents::default();
                match *datatype {
                    "INT64" => c.int64_contents = values.iter().map(|v| *v as i64).collect(),
                    "FP32" => c.fp32_contents = values.iter().map(|v| *v as f32).collect(),
                    _ => c.fp64_contents = values.clone(),
                }
                t.contents = Some(c);
            }
            m.tensors.push(t);
        }
        let mut out = if framed {
            vec![0, 0, 0, 0, 7, 0]
        } else {
            Vec::new()
        };
        m.encode(&mut out).expect("a Vec grows");
        out
    }
}
