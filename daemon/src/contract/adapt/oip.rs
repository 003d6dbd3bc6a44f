//! Open Inference Protocol (V2) JSON: tensors into rows of features and predictions.
//!
//! A tensor is `{"name", "shape", "datatype", "data"}` (the REST form; `contents` of the
//! protobuf-JSON form that `seldon pipeline inspect` prints is read too). `data` is row-major,
//! nested or flat; `shape[0]` is the batch: row `i` is the `i`-th block of `shape[1] × …`
//! values. A tensor of one value per row is one feature named after the tensor (MLServer's
//! pandas encoding sends one such tensor per column); a wider one is one feature per column.

use serde_json::{Map, Value};

use super::protobuf;
use super::{
    AdapterConfig, Half, OutputKind, Record, Row, Rows, Side, column_names, feature_value, invalid,
    label_of, probabilities, scalar_prediction,
};
use crate::contract::event::{RejectReason, Rejection};

/// The tensor datatypes of the protocol.
const DATATYPES: &[&str] = &[
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
    "FP32", "FP64", "BF16", "BYTES",
];
/// Output names taken for the label when no `label_output` is set.
const LABEL_NAMES: &[&str] = &[
    "predict",
    "label",
    "labels",
    "predicted_label",
    "output_label",
    "class",
];
/// Output names taken for the probabilities when no `probabilities_output` is set.
const PROBABILITY_NAMES: &[&str] = &[
    "predict_proba",
    "probabilities",
    "probability",
    "proba",
    "scores",
];

/// One tensor, its values flattened.
struct Tensor<'a> {
    name: &'a str,
    rows: usize,
    width: usize,
    values: Vec<&'a Value>,
}

impl Tensor<'_> {
    fn row(&self, i: usize) -> &[&Value] {
        &self.values[i * self.width..(i + 1) * self.width]
    }
}

/// Whether `body[field]` is a list of V2 tensors (objects with `name`, `datatype`, `shape`).
pub(super) fn is_v2(body: &Map<String, Value>, field: &str) -> bool {
    body.get(field).and_then(Value::as_array).is_some_and(|a| {
        !a.is_empty()
            && a.iter().all(|t| {
                t.get("name").is_some() && t.get("datatype").is_some() && t.get("shape").is_some()
            })
    })
}

fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>) {
    match v {
        Value::Array(a) => a.iter().for_each(|x| flatten(x, out)),
        x => out.push(x),
    }
}

fn dim(v: &Value) -> Option<usize> {
    match v {
        Value::Number(n) => n.as_u64().map(|d| d as usize),
        // The protobuf-JSON form writes int64s as strings.
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

fn tensor(t: &Value) -> Result<Tensor<'_>, Rejection> {
    let name = t
        .get("name")
        .and_then(Value::as_str)
        .ok_or_else(|| invalid("a tensor has no name"))?;
    let datatype = t
        .get("datatype")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !DATATYPES.contains(&datatype) {
        return Err(invalid(format!(
            "tensor `{name}`: unknown datatype `{datatype}`"
        )));
    }
    let shape: Vec<usize> = t
        .get("shape")
        .and_then(Value::as_array)
        .ok_or_else(|| invalid(format!("tensor `{name}` has no shape")))?
        .iter()
        .map(|d| {
            dim(d).ok_or_else(|| invalid(format!("tensor `{name}`: a dimension is not a count")))
        })
        .collect::<Result<_, _>>()?;
    let data = match (t.get("data"), t.get("contents")) {
        (Some(d), _) => d,
        // Protobuf JSON: one `…Contents` list.
        (None, Some(Value::Object(c))) => c
            .values()
            .find(|v| v.is_array())
            .ok_or_else(|| invalid(format!("tensor `{name}`: empty contents")))?,
        _ => {
            return Err(Rejection::new(
                RejectReason::MissingField,
                format!("tensor `{name}` has no data"),
            ));
        }
    };
    let mut values = Vec::new();
    flatten(data, &mut values);
    let rows = shape.first().copied().unwrap_or(1);
    let width: usize = shape.iter().skip(1).product();
    let expected = rows
        .checked_mul(width)
        .ok_or_else(|| invalid(format!("tensor `{name}`: shape too large")))?;
    if values.len() != expected {
        return Err(invalid(format!(
            "tensor `{name}`: shape {shape:?} needs {expected} values, it has {}",
            values.len()
        )));
    }
    for v in &values {
        let ok = match datatype {
            "BYTES" => v.is_string(),
            "BOOL" => v.is_boolean(),
            // JSON has no NaN; a null in a number tensor is a missing value (MLServer writes one).
            _ => v.is_number() || v.is_null(),
        };
        if !ok {
            return Err(invalid(format!(
                "tensor `{name}`: `{v}` is not of datatype {datatype}"
            )));
        }
    }
    Ok(Tensor {
        name,
        rows,
        width,
        values,
    })
}

fn tensors<'a>(body: &'a Map<String, Value>, field: &str) -> Result<Vec<Tensor<'a>>, Rejection> {
    let list = body.get(field).and_then(Value::as_array).ok_or_else(|| {
        Rejection::new(RejectReason::MissingField, format!("no `{field}` tensors"))
    })?;
    if list.is_empty() {
        return Err(Rejection::new(
            RejectReason::MissingField,
            format!("`{field}` holds no tensor"),
        ));
    }
    list.iter().map(tensor).collect()
}

fn same_rows(ts: &[&Tensor<'_>]) -> Result<usize, Rejection> {
    let n = ts.first().map_or(0, |t| t.rows);
    if let Some(t) = ts.iter().find(|t| t.rows != n) {
        return Err(invalid(format!(
            "tensor `{}` has {} rows, `{}` has {n}",
            t.name, t.rows, ts[0].name
        )));
    }
    Ok(n)
}

/// The features per row of a request's tensors in `body[field]`.
pub(super) fn request_rows(
    cfg: &AdapterConfig,
    body: &Map<String, Value>,
    field: &str,
) -> Result<Vec<Row>, Rejection> {
    let ts = tensors(body, field)?;
    let n = same_rows(&ts.iter().collect::<Vec<_>>())?;
    // `features` names the columns of the one wide tensor, if there is exactly one.
    let wide = ts.iter().filter(|t| t.width > 1).count();
    let mut rows = vec![Row::new(); n];
    for t in &ts {
        let names = if t.width == 1 {
            vec![t.name.to_owned()]
        } else {
            column_names(cfg, t.name, t.width, wide == 1)
        };
        for (i, row) in rows.iter_mut().enumerate() {
            for (name, v) in names.iter().zip(t.row(i)) {
                row.push((name.clone(), feature_value(name, v)?));
            }
        }
    }
    Ok(rows)
}

fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// The predictions per row of a response's `outputs`, with its `model_name` and `model_version`.
pub(super) fn response(cfg: &AdapterConfig, body: &Map<String, Value>) -> Result<Rows, Rejection> {
    let ts = tensors(body, "outputs")?;
    let named = |want: &Option<String>, what: &str| -> Result<Option<&Tensor<'_>>, Rejection> {
        match want {
            Some(n) => ts.iter().find(|t| t.name == n).map(Some).ok_or_else(|| {
                Rejection::new(
                    RejectReason::InvalidPrediction,
                    format!("the response has no output `{n}` ({what})"),
                )
            }),
            None => Ok(None),
        }
    };
    let mut label = named(&cfg.label_output, "label_output")?;
    let mut probs = named(&cfg.probabilities_output, "probabilities_output")?;
    let score = named(&cfg.score_output, "score_output")?;
    if let Some(t) = score.filter(|t| t.width != 1) {
        return Err(Rejection::new(
            RejectReason::InvalidPrediction,
            format!(
                "output `{}` has {} values per row; a score has one",
                t.name, t.width
            ),
        ));
    }
    if label.is_none() && probs.is_none() {
        // The candidates: every output but the score's.
        let rest: Vec<&Tensor<'_>> = ts
            .iter()
            .filter(|t| cfg.score_output.as_deref() != Some(t.name))
            .collect();
        if rest.len() == 1 {
            if rest[0].width == 1 {
                label = Some(rest[0]);
            } else {
                probs = Some(rest[0]);
            }
        } else {
            let pick = |names: &[&str], wide: bool| {
                let mut of_shape = rest.iter().copied().filter(|t| (t.width > 1) == wide);
                of_shape
                    .clone()
                    .find(|t| names.contains(&t.name))
                    .or_else(|| of_shape.next())
            };
            label = pick(LABEL_NAMES, false);
            probs = pick(PROBABILITY_NAMES, true);
        }
    }
    let chosen: Vec<&Tensor<'_>> = label.into_iter().chain(probs).chain(score).collect();
    let n = same_rows(&chosen)?;
    let mut rows = Vec::with_capacity(n);
    for i in 0..n {
        let mut p = Map::new();
        if let Some(t) = label {
            if t.width != 1 {
                return Err(Rejection::new(
                    RejectReason::InvalidPrediction,
                    format!(
                        "output `{}` has {} values per row; a label has one",
                        t.name, t.width
                    ),
                ));
            }
            p.extend(scalar_prediction(cfg, t.row(i)[0])?);
        }
        if let Some(t) = probs {
            let row: Vec<Value> = t.row(i).iter().map(|v| (*v).clone()).collect();
            if t.width == 1 && cfg.output != OutputKind::Label {
                p.extend(scalar_prediction(cfg, &row[0])?);
            } else {
                p.insert("probabilities".into(), probabilities(cfg, &row)?);
                if cfg.output == OutputKind::Label && !p.contains_key("label") {
                    // The most probable class, as a label, so accuracy needs no threshold.
                    if let Some(best) = argmax(&row) {
                        p.insert("label".into(), label_of(cfg, &Value::from(best))?.into());
                    }
                }
            }
        }
        if let Some(t) = score {
            let x = t.row(i)[0].as_f64().ok_or_else(|| {
                Rejection::new(
                    RejectReason::InvalidPrediction,
                    format!("output `{}`: a score is a number", t.name),
                )
            })?;
            p.insert("score".into(), x.into());
        }
        rows.push(p.into_iter().collect());
    }
    Ok((
        rows,
        text(body.get("model_name")),
        text(body.get("model_version")),
    ))
}

fn argmax(row: &[Value]) -> Option<usize> {
    row.iter()
        .enumerate()
        .filter_map(|(i, v)| v.as_f64().map(|x| (i, x)))
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
}

/// The model a Seldon Core v2 topic is for: `<prefix>.<namespace>.model.<model>.inputs|outputs`.
fn seldon_model(topic: &str) -> Option<&str> {
    let rest = topic
        .strip_suffix(".inputs")
        .or_else(|| topic.strip_suffix(".outputs"))?;
    let (head, model) = rest.rsplit_once('.')?;
    head.ends_with(".model").then_some(model)
}

/// One half of an inference from an OIP record (MLServer's Kafka topics, Seldon Core v2's model
/// topics in JSON).
pub(super) fn read_record(cfg: &AdapterConfig, rec: &Record) -> Result<Half, Rejection> {
    let topic = rec.topic.as_deref().unwrap_or_default();
    // Seldon's topics say which half they hold (a chained model's input may be the previous
    // model's response, whose `outputs` are then this model's features).
    let by_topic = if topic.ends_with(".inputs") {
        Some(Side::Request)
    } else if topic.ends_with(".outputs") {
        Some(Side::Response)
    } else {
        None
    };
    let body: Map<String, Value> = match serde_json::from_slice::<Value>(&rec.body) {
        Ok(Value::Object(b)) => b,
        Ok(_) => {
            return Err(Rejection::new(
                RejectReason::NotAnObject,
                "an OIP body must be a JSON object",
            ));
        }
        // Seldon Core v2 writes its model topics in protobuf by default.
        Err(e) => match by_topic {
            Some(Side::Request) => protobuf::to_json(&rec.body, "inputs")?,
            Some(Side::Response) => protobuf::to_json(&rec.body, "outputs")?,
            None => {
                return Err(Rejection::new(
                    RejectReason::InvalidJson,
                    format!(
                        "the record is not JSON ({e}); protobuf records are read on Seldon's model topics (….inputs, ….outputs) only"
                    ),
                ));
            }
        },
    };
    let side = if let Some(side) = by_topic {
        side
    } else if body.contains_key("inputs") {
        Side::Request
    } else if body.contains_key("outputs") {
        Side::Response
    } else {
        return Err(Rejection::new(
            RejectReason::MissingField,
            "neither `inputs` (a request) nor `outputs` (a response)",
        ));
    };
    let key_id = rec
        .key
        .as_deref()
        .and_then(|k| std::str::from_utf8(k).ok())
        .map(|k| {
            // Seldon 2.8+: `<resource>.<request id>`, 2.10+: `<partition>.<resource>.<request id>`.
            k.rsplit('.').next().unwrap_or(k).to_owned()
        });
    let id = rec
        .header_str("x-request-id")
        .map(str::to_owned)
        .or(key_id)
        .filter(|s| !s.is_empty())
        .or_else(|| text(body.get("id")))
        .ok_or_else(|| {
            Rejection::new(
                RejectReason::MissingField,
                "no inference id: no x-request-id header, no record key, no `id`",
            )
        })?;
    if id.len() > crate::contract::event::MAX_ID_BYTES {
        return Err(invalid("the inference id is longer than 256 bytes"));
    }
    let ts_ns = rec
        .timestamp_ms
        .map(|ms| ms.saturating_mul(1_000_000))
        .ok_or_else(|| Rejection::new(RejectReason::BadTimestamp, "the record has no timestamp"))?;
    let (rows, body_model, version) = match side {
        Side::Request => {
            let field = if body.contains_key("inputs") {
                "inputs"
            } else {
                "outputs"
            };
            (request_rows(cfg, &body, field)?, None, None)
        }
        Side::Response => response(cfg, &body)?,
    };
    let model = seldon_model(topic)
        .map(str::to_owned)
        .or_else(|| rec.header_str("mlserver-model").map(str::to_owned))
        .or(body_model);
    let version = rec
        .header_str("mlserver-version")
        .map(str::to_owned)
        .or(version);
    Ok(Half {
        side,
        id,
        scope: String::new(),
        ts_ns,
        model,
        model_version: version,
        rows,
    })
}
