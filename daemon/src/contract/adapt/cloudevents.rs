//! KServe's payload logger: CloudEvents 1.0 in binary mode (HTTP `Ce-*` headers, Kafka `ce_*`
//! headers; CloudEvents HTTP and Kafka protocol bindings) or structured mode (JSON event format,
//! `data` or `data_base64`), with KServe V1 or Open Inference Protocol V2 bodies.

use std::collections::HashMap;

use base64::Engine as _;
use serde_json::{Map, Value};

use super::{
    AdapterConfig, Half, Record, Row, Rows, Side, column_names, feature_value, invalid, oip,
    prediction_of, ts_ns_of,
};
use crate::contract::event::{RejectReason, Rejection};

/// KServe's type of a logged request (`pkg/logger` in KServe: `CEInferenceRequest`).
pub const KSERVE_REQUEST: &str = "org.kubeflow.serving.inference.request";
/// KServe's type of a logged response (`CEInferenceResponse`).
pub const KSERVE_RESPONSE: &str = "org.kubeflow.serving.inference.response";

/// A CloudEvent: its attributes (lower-case names, extensions included) and its data.
#[derive(Debug)]
pub(crate) struct CloudEvent {
    /// Every attribute but `data`, by lower-case name.
    pub attrs: HashMap<String, String>,
    /// The data, as JSON.
    pub data: Value,
}

impl CloudEvent {
    fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .get(name)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }
}

/// The attribute a header carries in binary mode: `ce-id` (HTTP) or `ce_id` (Kafka) → `id`;
/// `content-type` → `datacontenttype`.
fn attribute_of(header: &str) -> Option<String> {
    let h = header.to_ascii_lowercase();
    if h == "content-type" {
        return Some("datacontenttype".into());
    }
    h.strip_prefix("ce-")
        .or_else(|| h.strip_prefix("ce_"))
        .map(str::to_owned)
}

/// Reads a record as a CloudEvent, in whichever mode it is.
pub(crate) fn parse(rec: &Record) -> Result<CloudEvent, Rejection> {
    let structured = rec
        .header_str("content-type")
        .is_some_and(|c| c.trim_start().starts_with("application/cloudevents"));
    let binary = rec.header("ce-id").is_some() || rec.header("ce_id").is_some();
    if binary && !structured {
        let mut attrs = HashMap::new();
        for (k, v) in &rec.headers {
            if let Some(a) = attribute_of(k) {
                attrs.insert(a, String::from_utf8_lossy(v).into_owned());
            }
        }
        // KServe reuses the request's Content-Type for both events, so it may be wrong: the
        // body is read as JSON whatever it says.
        let data = serde_json::from_slice(&rec.body).map_err(|e| {
            Rejection::new(
                RejectReason::InvalidJson,
                format!("the CloudEvent's body is not JSON: {e}"),
            )
        })?;
        return Ok(CloudEvent { attrs, data });
    }
    let v: Value = serde_json::from_slice(&rec.body).map_err(|e| {
        Rejection::new(
            RejectReason::InvalidJson,
            format!("not a CloudEvent: no ce-id header and the body is not JSON: {e}"),
        )
    })?;
    let Value::Object(mut m) = v else {
        return Err(Rejection::new(
            RejectReason::NotAnObject,
            "a structured CloudEvent must be a JSON object",
        ));
    };
    if !m.contains_key("specversion") {
        return Err(Rejection::new(
            RejectReason::MissingField,
            "not a CloudEvent: no ce-id header and no `specversion` in the body",
        ));
    }
    let data = match (m.remove("data"), m.remove("data_base64")) {
        (Some(_), Some(_)) => {
            return Err(invalid("a CloudEvent holds both `data` and `data_base64`"));
        }
        // JSON data is the value itself; a string that holds JSON (a sender that encoded it)
        // is read too.
        (Some(Value::String(s)), None) => serde_json::from_str(&s).unwrap_or(Value::String(s)),
        (Some(d), None) => d,
        (None, Some(Value::String(b))) => {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(b.as_bytes())
                .map_err(|e| invalid(format!("`data_base64` is not base64: {e}")))?;
            serde_json::from_slice(&bytes).map_err(|e| {
                Rejection::new(
                    RejectReason::InvalidJson,
                    format!("`data_base64` does not hold JSON: {e}"),
                )
            })?
        }
        (None, Some(_)) => return Err(invalid("`data_base64` must be a string")),
        (None, None) => {
            return Err(Rejection::new(
                RejectReason::MissingField,
                "the CloudEvent has no data",
            ));
        }
    };
    let attrs = m
        .into_iter()
        .map(|(k, v)| {
            let s = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            (k.to_ascii_lowercase(), s)
        })
        .collect();
    Ok(CloudEvent { attrs, data })
}

/// A KServe payload-logger CloudEvent in either mode (an HTTP request's headers and body, with
/// `arrived_ms` the arrival time) as one structured-mode JSON object: what `POST /v1/kserve`
/// hands to the pipeline or produces to Kafka. Checks that it is an inference request or
/// response with an id; `time` is the arrival when the logger sets none (KServe before 0.18).
pub fn to_structured(rec: &Record, arrived_ms: i64) -> Result<Vec<u8>, Rejection> {
    let ce = parse(rec)?;
    let ty = ce.attr("type").unwrap_or_default();
    if !(ty.ends_with(".inference.request") || ty.ends_with(".inference.response")) {
        return Err(Rejection::new(
            RejectReason::UnknownKind,
            format!("CloudEvent type `{ty}` is neither {KSERVE_REQUEST} nor {KSERVE_RESPONSE}"),
        ));
    }
    if ce.attr("id").is_none() {
        return Err(Rejection::new(
            RejectReason::MissingField,
            "the CloudEvent has no id",
        ));
    }
    let mut m = Map::new();
    for (k, v) in &ce.attrs {
        m.insert(k.clone(), Value::String(v.clone()));
    }
    m.entry("specversion").or_insert_with(|| "1.0".into());
    if ce.attr("time").is_none() {
        let t = chrono::DateTime::from_timestamp_millis(arrived_ms)
            .unwrap_or_default()
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        m.insert("time".into(), t.into());
    }
    // The data is JSON now, whatever the logger's Content-Type said.
    m.insert("datacontenttype".into(), "application/json".into());
    m.insert("data".into(), ce.data);
    Ok(serde_json::to_vec(&Value::Object(m)).expect("JSON values serialise"))
}

/// One half of an inference from a KServe payload-logger CloudEvent.
pub(super) fn read(cfg: &AdapterConfig, rec: &Record) -> Result<Half, Rejection> {
    let ce = parse(rec)?;
    let id = ce
        .attr("id")
        .ok_or_else(|| Rejection::new(RejectReason::MissingField, "the CloudEvent has no id"))?
        .to_owned();
    if id.len() > crate::contract::event::MAX_ID_BYTES {
        return Err(invalid("the CloudEvent's id is longer than 256 bytes"));
    }
    let ty = ce.attr("type").unwrap_or_default();
    // KServe's types, and MLServer's own (`io.seldon.serving.inference.request|response`).
    let side = if ty == KSERVE_REQUEST || ty.ends_with(".inference.request") {
        Side::Request
    } else if ty == KSERVE_RESPONSE || ty.ends_with(".inference.response") {
        Side::Response
    } else {
        return Err(Rejection::new(
            RejectReason::UnknownKind,
            format!("CloudEvent type `{ty}` is neither {KSERVE_REQUEST} nor {KSERVE_RESPONSE}"),
        ));
    };
    // `time` is set from KServe 0.18; earlier loggers send none, and then the record's own time
    // (Kafka timestamp, HTTP arrival) stands in.
    let ts_ns = match ce.attr("time").or_else(|| ce.attr("recordedtime")) {
        Some(t) => ts_ns_of(t).ok_or_else(|| {
            Rejection::new(
                RejectReason::BadTimestamp,
                format!("the CloudEvent's time `{t}` is not RFC 3339"),
            )
        })?,
        None => rec
            .timestamp_ms
            .map(|ms| ms.saturating_mul(1_000_000))
            .ok_or_else(|| {
                Rejection::new(
                    RejectReason::BadTimestamp,
                    "the CloudEvent has no time and the record none either",
                )
            })?,
    };
    let service = ce.attr("inferenceservicename").map(str::to_owned);
    let Value::Object(body) = &ce.data else {
        return Err(Rejection::new(
            RejectReason::NotAnObject,
            "the logged body is not a JSON object",
        ));
    };
    let (rows, model, model_version) = match side {
        Side::Request => (request_rows(cfg, body)?, None, None),
        Side::Response => response_rows(cfg, body)?,
    };
    Ok(Half {
        side,
        id,
        scope: service.clone().unwrap_or_default(),
        ts_ns,
        model: model.or(service),
        model_version,
        rows,
    })
}

/// The features per row of a logged request: V2 (`inputs` of tensors) or V1 (`instances`, or
/// `inputs` of rows).
fn request_rows(cfg: &AdapterConfig, body: &Map<String, Value>) -> Result<Vec<Row>, Rejection> {
    if oip::is_v2(body, "inputs") {
        return oip::request_rows(cfg, body, "inputs");
    }
    let rows = body
        .get("instances")
        .or_else(|| body.get("inputs"))
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Rejection::new(
                RejectReason::MissingField,
                "the request holds neither V1 `instances` nor V2 `inputs`",
            )
        })?;
    rows.iter().map(|r| v1_row(cfg, r)).collect()
}

/// One V1 instance: a row of values (named by `features`), an object of named values, or one value.
fn v1_row(cfg: &AdapterConfig, row: &Value) -> Result<Row, Rejection> {
    let mut out = Row::new();
    match row {
        Value::Object(o) => {
            for (k, v) in o {
                out.push((k.clone(), feature_value(k, v)?));
            }
        }
        Value::Array(a) => {
            let names = column_names(cfg, "x", a.len(), true);
            for (name, v) in names.into_iter().zip(a) {
                let v = feature_value(&name, v)?;
                out.push((name, v));
            }
        }
        v => {
            let name = column_names(cfg, "x", 1, true).remove(0);
            let v = feature_value(&name, v)?;
            out.push((name, v));
        }
    }
    Ok(out)
}

/// The predictions per row of a logged response, with the model and version it names.
fn response_rows(cfg: &AdapterConfig, body: &Map<String, Value>) -> Result<Rows, Rejection> {
    if body.get("outputs").is_some_and(Value::is_array) {
        return oip::response(cfg, body);
    }
    let preds = body
        .get("predictions")
        .and_then(Value::as_array)
        .ok_or_else(|| {
            Rejection::new(
                RejectReason::MissingField,
                "the response holds neither V1 `predictions` nor V2 `outputs`",
            )
        })?;
    let rows = preds
        .iter()
        .map(|p| prediction_of(cfg, p).map(|m| m.into_iter().collect()))
        .collect::<Result<_, _>>()?;
    Ok((rows, None, None))
}
