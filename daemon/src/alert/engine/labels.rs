//! Label helpers shared by rules, routes, silences and inhibitions: matchers, fingerprints,
//! group keys, annotation templates, and the lossless float encoding of the persisted state.

use crate::contract::sample::Labels;

/// Splits a matcher value into `(negated, value)`: `"!x"` is `(true, "x")`.
///
/// There is no escape, so a rule cannot match a literal value starting with `!` (label values
/// in driftd are model, feature, test and metric names).
pub(super) fn parse_matcher(pattern: &str) -> (bool, &str) {
    match pattern.strip_prefix('!') {
        Some(rest) => (true, rest),
        None => (false, pattern),
    }
}

/// Whether every matcher holds on `labels`: `name = "value"` needs the label to equal `value`,
/// `name = "!value"` to differ from it. As in Alertmanager, an absent label reads as the empty
/// string, so `name = ""` means "absent or empty".
pub(super) fn matches(matchers: &Labels, labels: &Labels) -> bool {
    matchers.iter().all(|(name, pattern)| {
        let actual = labels.get(name).map_or("", String::as_str);
        let (negated, wanted) = parse_matcher(pattern);
        (actual == wanted) != negated
    })
}

/// FNV-1a, 64 bits: tiny, and stable across builds and platforms, which matters because
/// fingerprints are persisted in checkpoints and used as notification ids (std's `DefaultHasher`
/// is only stable within one build).
#[derive(Debug, Clone, Copy)]
pub(super) struct Fnv(u64);

impl Fnv {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    pub(super) fn new() -> Fnv {
        Fnv(Self::OFFSET)
    }

    /// Adds one field followed by a 0xff separator (a byte UTF-8 never contains), so that
    /// `("ab", "c")` and `("a", "bc")` hash differently.
    pub(super) fn field(self, text: &str) -> Fnv {
        let mut h = self.0;
        for b in text.bytes().chain(std::iter::once(0xff)) {
            h ^= u64::from(b);
            h = h.wrapping_mul(Self::PRIME);
        }
        Fnv(h)
    }

    pub(super) fn hex(self) -> String {
        format!("{:016x}", self.0)
    }
}

/// The fingerprint of an alert: FNV-1a over its labels in order, as 16 hex digits.
pub(super) fn fingerprint(labels: &Labels) -> String {
    labels
        .iter()
        .fold(Fnv::new(), |h, (k, v)| h.field(k).field(v))
        .hex()
}

/// A group key as Alertmanager prints it: `{feature="age",model="churn"}` (sorted, quotes and
/// backslashes escaped).
pub(super) fn render_key(labels: &Labels) -> String {
    let parts: Vec<String> = labels
        .iter()
        .map(|(k, v)| {
            let v = v.replace('\\', "\\\\").replace('"', "\\\"");
            format!("{k}=\"{v}\"")
        })
        .collect();
    format!("{{{}}}", parts.join(","))
}

/// Replaces each `{name}` (letters, digits, `_`) for which `lookup` has a value; anything else —
/// unknown names, lone braces — is copied as is.
pub(super) fn render_template(template: &str, lookup: impl Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let name = after.find('}').map(|close| &after[..close]);
        match name
            .filter(|n| is_name(n))
            .and_then(|n| Some((n, lookup(n)?)))
        {
            Some((name, value)) => {
                out.push_str(&value);
                rest = &after[name.len() + 1..];
            }
            None => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

fn is_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// A value for humans: six significant digits, so that `0.30000000000000004` reads `0.3` and a
/// p-value keeps its magnitude.
pub(super) fn format_value(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    format!("{v:.5e}")
        .parse::<f64>()
        .map_or_else(|_| v.to_string(), |rounded| rounded.to_string())
}

/// Serde for an `f64` that may be infinite: JSON has no infinity (serde_json writes `null`, which
/// does not read back), so non-finite values are written as the strings `"inf"`, `"-inf"`,
/// `"NaN"`. Finite values stay plain numbers.
pub(super) mod lossless_f64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(in crate::alert::engine) fn serialize<S: Serializer>(
        v: &f64,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else {
            s.serialize_str(&v.to_string())
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Number(f64),
        Text(String),
    }

    pub(in crate::alert::engine) fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Number(v) => Ok(v),
            Repr::Text(t) => t
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("not a number: {t:?}"))),
        }
    }
}
