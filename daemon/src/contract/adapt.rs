//! Input adapters: payloads of other model servers turned into events of contract v1.
//!
//! A source reads one format (`[source.adapter] format`):
//!
//! - `driftd-v1` (the default): the event contract itself; no adapter runs.
//! - `kserve-cloudevents`: KServe's payload logger. Each inference is two CloudEvents with the
//!   same `id` — `org.kubeflow.serving.inference.request` carrying the request body and
//!   `….response` carrying the response body — in binary mode (attributes in `Ce-*` HTTP headers
//!   or `ce_*` Kafka headers, the body as is) or structured mode (one JSON object with `data` or
//!   `data_base64`; CloudEvents' HTTP and Kafka protocol bindings, JSON event format). Bodies are
//!   KServe's V1 protocol (`instances`/`inputs` → `predictions`) or Open Inference Protocol V2.
//! - `open-inference-v2`: Open Inference Protocol (V2) JSON requests and responses, as MLServer's
//!   Kafka server writes them (`mlserver-input` / `mlserver-output`) and as Seldon Core v2's model
//!   topics hold them in JSON mode (`seldon.<ns>.model.<m>.inputs` / `.outputs`). Request and
//!   response are joined on the `x-request-id` header (Seldon), else the record key (MLServer; the
//!   last `.`-separated part of Seldon's composite keys), else the body's `id`.
//!
//! Each joined pair gives one prediction event per row of the batch (`shape[0]`): its id is the
//! inference id, with `-<row>` appended when the batch holds more than one row, so labels can be
//! posted for it; its time is the request's. Feature names come from the tensors' names (a
//! tensor of one column per row is one feature; MLServer's pandas encoding is one tensor per
//! column), from `features` for the columns of a multi-column tensor or of V1's positional rows,
//! else `<tensor>.<column>`. The label, score or value come from the output tensors
//! (`label_output`, `probabilities_output`, else chosen by shape and name) with class indices
//! named by `classes`.
//!
//! **Pairing** is pure and deterministic: halves wait in [`Pairs`], bounded by `max_pending` and
//! by `pair_timeout` of event time behind the newest record of the other side (so a topic of
//! requests consumed ahead of its topic of responses does not push its halves out). A half whose other half never comes
//! is not dropped: a request becomes a prediction with its features and no output, a response a
//! prediction with its output and no features, both counted (`driftd_adapter_unpaired_total`).
//! The waiting halves are checkpointed with the offsets, in the same atomic write
//! ([`Pairs::checkpoint`]), so a restart neither loses a half nor pairs one twice. A record that
//! cannot be read is rejected with a reason like any event and dead-lettered whole (its headers
//! too); a record whose rows are rejected by contract v1 (e.g. NaN) is dead-lettered with the
//! first row's reason.
//!
//! Seldon Core v2's model topics are protobuf by default (`ModelInferRequest` /
//! `ModelInferResponse`, typed or raw contents, with or without the schema-registry framing):
//! those are read too (`adapt/protobuf.rs`), on topics whose name says the half (`….inputs`,
//! `….outputs`). Not read here: the binary tensor extension of the REST protocol, and gRPC.

pub mod cloudevents;
mod oip;
mod protobuf;

#[cfg(test)]
mod tests;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::contract::event::{RejectReason, Rejection, valid_model_name};
use crate::contract::settings::{ConfigError, err};

/// The key the waiting halves are checkpointed under.
pub const PAIRS_KEY: &str = "adapter/pairs";

/// What a source's records are.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Format {
    /// Event contract v1 (DESIGN.md §2).
    #[default]
    #[serde(rename = "driftd-v1")]
    DriftdV1,
    /// KServe payload-logger CloudEvents (V1 or V2 bodies).
    #[serde(rename = "kserve-cloudevents")]
    KserveCloudevents,
    /// Open Inference Protocol V2 JSON (MLServer, Seldon Core v2).
    #[serde(rename = "open-inference-v2")]
    OpenInferenceV2,
}

impl Format {
    /// The config's name for it.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::DriftdV1 => "driftd-v1",
            Format::KserveCloudevents => "kserve-cloudevents",
            Format::OpenInferenceV2 => "open-inference-v2",
        }
    }
}

/// What a scalar model output is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputKind {
    /// A class label (classification).
    #[default]
    Label,
    /// A number (regression).
    Value,
    /// The probability of the positive class (a binary classifier's score).
    Score,
}

/// `[source.adapter]`: how payloads of other servers become events.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AdapterConfig {
    /// The format of the source's records.
    pub format: Format,
    /// Kafka: the topics read in `format`, besides `prediction_topic` and `feedback_topic` (which
    /// stay contract v1). The file source reads its file in `format`.
    pub topics: Vec<String>,
    /// The model every event is for; default: from the payload (the V2 response's `model_name`,
    /// Seldon's topic, MLServer's `mlserver-model` header, KServe's `inferenceservicename`).
    pub model: Option<String>,
    /// Names of the columns of a multi-column input tensor, or of V1's positional rows.
    pub features: Vec<String>,
    /// Names of the classes, by index: what an integer label or a probability column means.
    pub classes: Vec<String>,
    /// What a scalar output is: `label`, `value` (regression) or `score` (binary).
    pub output: OutputKind,
    /// The output tensor holding the label (or value); default: chosen by shape and name.
    pub label_output: Option<String>,
    /// The output tensor holding per-class probabilities; default: chosen by shape and name.
    pub probabilities_output: Option<String>,
    /// The output tensor holding a binary model's score (the positive class's probability, one
    /// value per row); default: none.
    pub score_output: Option<String>,
    /// How long (event time) a half waits for its other half.
    #[serde(with = "humantime_serde")]
    pub pair_timeout: Duration,
    /// Most halves waiting at once; the oldest go first.
    pub max_pending: usize,
}

impl Default for AdapterConfig {
    fn default() -> Self {
        AdapterConfig {
            format: Format::DriftdV1,
            topics: Vec::new(),
            model: None,
            features: Vec::new(),
            classes: Vec::new(),
            output: OutputKind::Label,
            label_output: None,
            probabilities_output: None,
            score_output: None,
            pair_timeout: Duration::from_secs(60),
            max_pending: 10_000,
        }
    }
}

impl AdapterConfig {
    /// Checks the section (`kafka`: whether the source is Kafka).
    pub fn validate(&self, kafka: bool, e: &mut Vec<ConfigError>) {
        let p = "source.adapter";
        if let Some(m) = &self.model
            && !valid_model_name(m)
        {
            err(
                e,
                format!("{p}.model"),
                format!("`{m}` is not a valid model name ([A-Za-z0-9_.:-], at most 128 bytes)"),
            );
        }
        if self.max_pending == 0 {
            err(e, format!("{p}.max_pending"), "must be at least 1");
        }
        if self.format == Format::DriftdV1 && !self.topics.is_empty() {
            err(
                e,
                format!("{p}.topics"),
                "topics in driftd-v1 belong in prediction_topic; set format to an adapter",
            );
        }
        if kafka && self.format != Format::DriftdV1 && self.topics.is_empty() {
            err(
                e,
                format!("{p}.topics"),
                "the Kafka source reads an adapter's format only from these topics; name at least one",
            );
        }
        if !kafka && !self.topics.is_empty() {
            err(
                e,
                format!("{p}.topics"),
                "only a Kafka source has topics; the file source reads its file in `format`",
            );
        }
    }
}

/// One record of a foreign format: what a Kafka message, an HTTP request or a line carries.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Record {
    /// The Kafka topic it came from.
    pub topic: Option<String>,
    /// The Kafka record key.
    pub key: Option<Vec<u8>>,
    /// Headers (Kafka headers or HTTP headers), names as sent.
    pub headers: Vec<(String, Vec<u8>)>,
    /// The record's own time (Kafka timestamp, HTTP arrival), ms since the epoch.
    pub timestamp_ms: Option<i64>,
    /// The payload.
    pub body: Vec<u8>,
}

impl Record {
    /// A header's value, by name regardless of case.
    pub fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// A header's value as text.
    pub fn header_str(&self, name: &str) -> Option<&str> {
        self.header(name).and_then(|v| std::str::from_utf8(v).ok())
    }

    /// One line of a file in an adapter format: a Kafka record as `kcat -J` prints it
    /// (`{"topic", "key", "ts", "headers": [name, value, …], "payload"}`; the payload a string),
    /// or the payload alone (a structured-mode CloudEvent, an OIP body).
    pub fn from_line(line: &[u8]) -> Record {
        let whole = Record {
            body: line.to_vec(),
            ..Record::default()
        };
        // Only an envelope names a payload: other lines are not parsed twice.
        if memchr::memmem::find(line, b"\"payload\"").is_none() {
            return whole;
        }
        let Ok(Value::Object(m)) = serde_json::from_slice::<Value>(line) else {
            return whole;
        };
        let Some(payload) = m.get("payload") else {
            return whole;
        };
        if !(m.contains_key("ts") || m.contains_key("headers") || m.contains_key("key")) {
            return whole;
        }
        let text = |v: &Value| match v {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        };
        let mut headers = Vec::new();
        match m.get("headers") {
            // kcat: a flat list, name then value.
            Some(Value::Array(a)) => {
                for pair in a.chunks(2) {
                    if let [Value::String(k), v] = pair {
                        headers.push((k.clone(), text(v).unwrap_or_default().into_bytes()));
                    }
                }
            }
            Some(Value::Object(o)) => {
                for (k, v) in o {
                    headers.push((k.clone(), text(v).unwrap_or_default().into_bytes()));
                }
            }
            _ => {}
        }
        Record {
            topic: m.get("topic").and_then(text),
            key: m.get("key").and_then(text).map(String::into_bytes),
            headers,
            timestamp_ms: m.get("ts").and_then(Value::as_i64),
            body: text(payload).unwrap_or_default().into_bytes(),
        }
    }
}

/// Which half of an inference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Side {
    /// The request: the features.
    Request,
    /// The response: the outputs.
    Response,
}

impl Side {
    /// `request` or `response`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Request => "request",
            Side::Response => "response",
        }
    }
}

/// One row's named values, in order: a request row's features, a response row's prediction.
pub type Row = Vec<(String, Value)>;

/// A row as a JSON object, its names in order (serde_json's own map sorts them).
struct Ordered<'a>(&'a [(String, Value)]);

impl Serialize for Ordered<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            m.serialize_entry(k, v)?;
        }
        m.end()
    }
}

/// One half of an inference, as read: per row, the features (request) or the prediction object
/// of contract v1 (response).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Half {
    /// Request or response.
    pub side: Side,
    /// The inference id (the join key).
    pub id: String,
    /// What pairs are looked up within (KServe's InferenceService; empty otherwise).
    pub scope: String,
    /// Event time, ns since the epoch.
    pub ts_ns: i64,
    /// The model, if this half names it.
    pub model: Option<String>,
    /// The model version, if this half names it.
    pub model_version: Option<String>,
    /// Per row: features (request) or the prediction (response), in the payload's order.
    pub rows: Vec<Row>,
}

/// A waiting half and its place in the arrival order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Waiting {
    seq: u64,
    half: Half,
}

/// What converting one record gave.
#[derive(Debug, Default)]
pub struct Converted {
    /// Contract-v1 events (JSON), in order: halves evicted unpaired first, then this record's.
    pub events: Vec<Vec<u8>>,
    /// Halves emitted without their other half, by side.
    pub unpaired: Vec<Side>,
    /// The event time of the record's half (ns): how far its source has come.
    pub ts_ns: Option<i64>,
    /// The record was read and its half used, but its pair is wrong (rows differ, no model):
    /// the record is dead-lettered with this reason; the events above still count.
    pub rejection: Option<Rejection>,
}

/// The halves waiting for their other half, and the conversion of records into events.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Pairs {
    waiting: HashMap<String, Waiting>,
    /// (key, seq) in arrival order; entries whose seq no longer matches were paired.
    fifo: VecDeque<(String, u64)>,
    seq: u64,
    /// The newest event time seen of each side (ns): a half waits until the *other* side has
    /// come `pair_timeout` past it, so a topic of requests read ahead of the topic of responses
    /// does not push its halves out.
    newest_request_ns: i64,
    newest_response_ns: i64,
    /// Halves seen twice (a retried log call); the second is ignored.
    pub duplicates: u64,
}

impl Pairs {
    /// Halves waiting now.
    pub fn len(&self) -> usize {
        self.waiting.len()
    }

    /// Whether no half waits.
    pub fn is_empty(&self) -> bool {
        self.waiting.is_empty()
    }

    /// Converts one record: reads its half, pairs it, and returns the events that are complete.
    pub fn convert(
        &mut self,
        cfg: &AdapterConfig,
        format: Format,
        rec: &Record,
    ) -> Result<Converted, Rejection> {
        let half = match format {
            Format::DriftdV1 => {
                return Ok(Converted {
                    events: vec![rec.body.clone()],
                    ..Converted::default()
                });
            }
            Format::KserveCloudevents => cloudevents::read(cfg, rec)?,
            Format::OpenInferenceV2 => oip::read_record(cfg, rec)?,
        };
        if cfg.model.is_none() && half.model.is_none() {
            return Err(no_model());
        }
        let mut out = Converted {
            ts_ns: Some(half.ts_ns),
            ..Converted::default()
        };
        let key = format!("{}\u{1f}{}", half.scope, half.id);
        let newest = match half.side {
            Side::Request => &mut self.newest_request_ns,
            Side::Response => &mut self.newest_response_ns,
        };
        *newest = (*newest).max(half.ts_ns);
        match self.waiting.get(&key) {
            Some(w) if w.half.side != half.side => {
                let other = self.waiting.remove(&key).expect("just found").half;
                let (req, resp) = match half.side {
                    Side::Request => (half, other),
                    Side::Response => (other, half),
                };
                // Evictions first: they are older than this pair.
                self.evict(cfg, &mut out);
                if let Err(r) = pair(cfg, &req, &resp, &mut out.events) {
                    out.rejection = Some(r);
                }
            }
            Some(_) => {
                self.duplicates += 1;
                self.evict(cfg, &mut out);
            }
            None => {
                self.seq += 1;
                self.fifo.push_back((key.clone(), self.seq));
                self.waiting.insert(
                    key,
                    Waiting {
                        seq: self.seq,
                        half,
                    },
                );
                // The new half itself waits at least until the next record, however old it is
                // (a replayed log): its pair may be that record.
                self.evict_before(cfg, &mut out, self.seq);
            }
        }
        Ok(out)
    }

    /// Emits, unpaired, the halves over `max_pending`, and from the oldest on those the other
    /// side has passed by more than `pair_timeout`.
    fn evict(&mut self, cfg: &AdapterConfig, out: &mut Converted) {
        self.evict_before(cfg, out, u64::MAX);
    }

    /// [`Pairs::evict`] of the halves that came before the one numbered `keep`.
    fn evict_before(&mut self, cfg: &AdapterConfig, out: &mut Converted, keep: u64) {
        let timeout = i64::try_from(cfg.pair_timeout.as_nanos()).unwrap_or(i64::MAX);
        while let Some((key, seq)) = self.fifo.front() {
            let Some(w) = self.waiting.get(key).filter(|w| w.seq == *seq) else {
                self.fifo.pop_front();
                continue;
            };
            if w.seq >= keep {
                break;
            }
            let other = match w.half.side {
                Side::Request => self.newest_response_ns,
                Side::Response => self.newest_request_ns,
            };
            let expired = other.saturating_sub(timeout) > w.half.ts_ns;
            if self.waiting.len() <= cfg.max_pending && !expired {
                break;
            }
            let (key, _) = self.fifo.pop_front().expect("front exists");
            let w = self.waiting.remove(&key).expect("checked");
            out.unpaired.push(w.half.side);
            alone(cfg, &w.half, &mut out.events);
        }
    }

    /// Emits every waiting half, unpaired (the end of a finite input).
    pub fn drain(&mut self, cfg: &AdapterConfig) -> Converted {
        let mut out = Converted::default();
        while let Some((key, seq)) = self.fifo.pop_front() {
            if self.waiting.get(&key).is_some_and(|w| w.seq == seq) {
                let w = self.waiting.remove(&key).expect("just found");
                out.unpaired.push(w.half.side);
                alone(cfg, &w.half, &mut out.events);
            }
        }
        out
    }

    /// The checkpoint record: the waiting halves in arrival order.
    pub fn checkpoint(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("pairs serialise")
    }

    /// Restores a checkpoint record.
    pub fn restore(bytes: &[u8]) -> Result<Pairs, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// The model of a pair: the config's, else the first half that names one.
fn model_of(cfg: &AdapterConfig, a: &Half, b: Option<&Half>) -> Option<String> {
    cfg.model
        .clone()
        .or_else(|| a.model.clone())
        .or_else(|| b.and_then(|b| b.model.clone()))
}

fn row_id(id: &str, i: usize, n: usize) -> String {
    if n == 1 {
        id.to_owned()
    } else {
        format!("{id}-{i}")
    }
}

fn event(
    id: String,
    model: &str,
    version: Option<&String>,
    ts_ns: i64,
    features: &[(String, Value)],
    prediction: Option<&Row>,
) -> Vec<u8> {
    /// An event of contract v1, in its documented field order.
    #[derive(Serialize)]
    struct Out<'a> {
        kind: &'static str,
        id: String,
        model: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        model_version: Option<&'a String>,
        ts: String,
        features: Ordered<'a>,
        #[serde(skip_serializing_if = "Option::is_none")]
        prediction: Option<Ordered<'a>>,
    }
    let ts = chrono::DateTime::from_timestamp_nanos(ts_ns)
        .to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    serde_json::to_vec(&Out {
        kind: "prediction",
        id,
        model,
        model_version: version,
        ts,
        features: Ordered(features),
        prediction: prediction.map(|p| Ordered(p)),
    })
    .expect("JSON values serialise")
}

/// The events of a joined request and response: one per row.
fn pair(
    cfg: &AdapterConfig,
    req: &Half,
    resp: &Half,
    out: &mut Vec<Vec<u8>>,
) -> Result<(), Rejection> {
    let model = model_of(cfg, resp, Some(req)).ok_or_else(no_model)?;
    if req.rows.len() != resp.rows.len() {
        // Both halves are kept: the request's rows as predictions without output.
        alone(cfg, req, out);
        return Err(Rejection::new(
            RejectReason::InvalidPrediction,
            format!(
                "inference `{}`: the request has {} rows, the response {}; the request's rows were kept without outputs",
                req.id,
                req.rows.len(),
                resp.rows.len()
            ),
        ));
    }
    let n = req.rows.len();
    let version = resp.model_version.as_ref().or(req.model_version.as_ref());
    for (i, (f, p)) in req.rows.iter().zip(&resp.rows).enumerate() {
        out.push(event(
            row_id(&req.id, i, n),
            &model,
            version,
            req.ts_ns,
            f,
            Some(p),
        ));
    }
    Ok(())
}

/// The events of a half whose other half never came.
fn alone(cfg: &AdapterConfig, h: &Half, out: &mut Vec<Vec<u8>>) {
    // Every half names a model unless neither the payload nor the config does; such a half
    // was refused when it was read (see [`Pairs::convert`]), so this is never `None`.
    let Some(model) = model_of(cfg, h, None) else {
        return;
    };
    let n = h.rows.len();
    for (i, row) in h.rows.iter().enumerate() {
        let (features, prediction): (&[(String, Value)], _) = match h.side {
            Side::Request => (row, None),
            Side::Response => (&[], Some(row)),
        };
        out.push(event(
            row_id(&h.id, i, n),
            &model,
            h.model_version.as_ref(),
            h.ts_ns,
            features,
            prediction,
        ));
    }
}

fn no_model() -> Rejection {
    Rejection::new(
        RejectReason::MissingField,
        "no model name: the payload names none; set [source.adapter] model",
    )
}

/// A value as a feature of contract v1: numbers and strings as they are, booleans as strings,
/// `null` missing; nested values are not features.
fn feature_value(name: &str, v: &Value) -> Result<Value, Rejection> {
    match v {
        Value::Number(_) | Value::String(_) | Value::Null => Ok(v.clone()),
        Value::Bool(b) => Ok(Value::String(b.to_string())),
        Value::Array(_) | Value::Object(_) => Err(invalid(format!(
            "feature `{name}` is nested (an array or object): contract v1 takes numbers and strings"
        ))),
    }
}

/// A half's rows, with the model and version its payload names.
type Rows = (Vec<Row>, Option<String>, Option<String>);

/// A rejection for an unreadable part of a payload.
fn invalid(detail: impl Into<String>) -> Rejection {
    Rejection::new(RejectReason::InvalidField, detail)
}

/// Parses an RFC 3339 time into ns since the epoch.
fn ts_ns_of(s: &str) -> Option<i64> {
    crate::contract::event::parse_ts(s).and_then(|t| t.timestamp_nanos_opt())
}

/// The prediction object of contract v1 for one output value (a scalar label or value, or a
/// row of probabilities).
fn prediction_of(cfg: &AdapterConfig, v: &Value) -> Result<Map<String, Value>, Rejection> {
    let mut p = Map::new();
    match v {
        Value::Array(probs) => {
            p.insert("probabilities".into(), probabilities(cfg, probs)?);
        }
        Value::Object(o) => {
            // Already in the contract's shape (a custom V1 predictor): kept as is.
            for k in ["label", "score", "value", "probabilities"] {
                if let Some(x) = o.get(k) {
                    p.insert(k.into(), x.clone());
                }
            }
            if p.is_empty() {
                return Err(Rejection::new(
                    RejectReason::InvalidPrediction,
                    "a prediction object holds none of label, score, value, probabilities",
                ));
            }
        }
        scalar => {
            p = scalar_prediction(cfg, scalar)?;
        }
    }
    Ok(p)
}

/// A scalar output as a label (a class index named by `classes`) or a value.
fn scalar_prediction(cfg: &AdapterConfig, v: &Value) -> Result<Map<String, Value>, Rejection> {
    let mut p = Map::new();
    match cfg.output {
        OutputKind::Value => {
            let x = v.as_f64().ok_or_else(|| {
                Rejection::new(
                    RejectReason::InvalidPrediction,
                    format!("output `{v}` is not a number (output = \"value\")"),
                )
            })?;
            p.insert("value".into(), x.into());
        }
        OutputKind::Score => {
            let x = v.as_f64().ok_or_else(|| {
                Rejection::new(
                    RejectReason::InvalidPrediction,
                    format!("output `{v}` is not a number (output = \"score\")"),
                )
            })?;
            p.insert("score".into(), x.into());
        }
        OutputKind::Label => {
            p.insert("label".into(), label_of(cfg, v)?.into());
        }
    }
    Ok(p)
}

fn label_of(cfg: &AdapterConfig, v: &Value) -> Result<String, Rejection> {
    Ok(match v {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => {
            let idx = n.as_u64().or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                    .map(|f| f as u64)
            });
            match (idx, cfg.classes.is_empty()) {
                (Some(i), false) => cfg.classes.get(i as usize).cloned().ok_or_else(|| {
                    Rejection::new(
                        RejectReason::InvalidPrediction,
                        format!(
                            "class index {i} is beyond the {} configured classes",
                            cfg.classes.len()
                        ),
                    )
                })?,
                (Some(i), true) => i.to_string(),
                (None, _) => n.to_string(),
            }
        }
        other => {
            return Err(Rejection::new(
                RejectReason::InvalidPrediction,
                format!("output `{other}` is not a label"),
            ));
        }
    })
}

fn probabilities(cfg: &AdapterConfig, probs: &[Value]) -> Result<Value, Rejection> {
    if !cfg.classes.is_empty() && cfg.classes.len() != probs.len() {
        return Err(Rejection::new(
            RejectReason::InvalidPrediction,
            format!(
                "{} probabilities for {} configured classes",
                probs.len(),
                cfg.classes.len()
            ),
        ));
    }
    let mut m = Map::new();
    for (i, p) in probs.iter().enumerate() {
        let name = cfg.classes.get(i).cloned().unwrap_or_else(|| i.to_string());
        m.insert(name, p.clone());
    }
    Ok(Value::Object(m))
}

/// Names for `n` positional columns: `features` when it names exactly them, else
/// `<prefix>.<column>`.
fn column_names(cfg: &AdapterConfig, prefix: &str, n: usize, use_config: bool) -> Vec<String> {
    if use_config && cfg.features.len() == n {
        cfg.features.clone()
    } else {
        (0..n).map(|j| format!("{prefix}.{j}")).collect()
    }
}
