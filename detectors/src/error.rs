//! Error types of the crate (all `thiserror` enums/structs, no `anyhow`).

use std::fmt;

use thiserror::Error;

/// One invalid setting: which field, the value given and why it is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParamProblem {
    /// The field name as written in the configuration (e.g. `delta`).
    pub field: &'static str,
    /// What is wrong, including the offending value.
    pub message: String,
}

impl fmt::Display for ParamProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.message)
    }
}

/// Settings that cannot be built. Validation collects *every* problem at once, so a user fixing a
/// configuration file sees all of them in one go (Vector's habit).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid {component} settings: {}", render(.problems))]
pub struct ConfigError {
    /// The component being configured (e.g. `adwin`, `psi`, `kll`).
    pub component: &'static str,
    /// All problems found, in field order.
    pub problems: Vec<ParamProblem>,
}

fn render(problems: &[ParamProblem]) -> String {
    problems
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// Collects problems while validating a settings struct.
#[derive(Debug)]
pub(crate) struct Validator {
    component: &'static str,
    problems: Vec<ParamProblem>,
}

impl Validator {
    pub(crate) fn new(component: &'static str) -> Self {
        Self {
            component,
            problems: Vec::new(),
        }
    }

    /// Records a problem unless `ok`.
    pub(crate) fn check(
        &mut self,
        ok: bool,
        field: &'static str,
        message: impl FnOnce() -> String,
    ) {
        if !ok {
            self.problems.push(ParamProblem {
                field,
                message: message(),
            });
        }
    }

    /// `lo < x < hi` (open interval) and finite.
    pub(crate) fn open_interval(&mut self, field: &'static str, x: f64, lo: f64, hi: f64) {
        self.check(x.is_finite() && x > lo && x < hi, field, || {
            format!("must be in ({lo}, {hi}), got {x}")
        });
    }

    /// `x > 0` and finite.
    pub(crate) fn positive(&mut self, field: &'static str, x: f64) {
        self.check(x.is_finite() && x > 0.0, field, || {
            format!("must be a finite number > 0, got {x}")
        });
    }

    /// `x >= 0` and finite.
    pub(crate) fn non_negative(&mut self, field: &'static str, x: f64) {
        self.check(x.is_finite() && x >= 0.0, field, || {
            format!("must be a finite number >= 0, got {x}")
        });
    }

    pub(crate) fn finish(self) -> Result<(), ConfigError> {
        if self.problems.is_empty() {
            Ok(())
        } else {
            Err(ConfigError {
                component: self.component,
                problems: self.problems,
            })
        }
    }
}

/// An observation a stream detector refused. The detector's state is left untouched.
#[derive(Debug, Clone, Copy, PartialEq, Error)]
pub enum RejectedInput {
    /// NaN or an infinity.
    #[error("non-finite value {0} rejected")]
    NonFinite(f64),
    /// A binary (error-stream) detector received something other than `0.0` or `1.0`.
    #[error("binary detector expects 0 or 1 (1 = the model was wrong), got {0}")]
    NotBinary(f64),
}

/// Summaries that cannot be combined or compared.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SummaryError {
    /// Two histograms (or category tables) were built on different bins.
    #[error("summaries use different bins/categories and cannot be merged or compared")]
    BinsMismatch,
    /// Two quantile sketches have different accuracy parameters `k`.
    #[error("quantile sketches have different k ({0} vs {1})")]
    SketchKMismatch(u16, u16),
    /// A numeric test was asked of a categorical summary or the reverse.
    #[error("feature kinds differ: {0}")]
    KindMismatch(&'static str),
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validator_collects_every_problem() {
        let mut v = Validator::new("demo");
        v.positive("a", -1.0);
        v.open_interval("b", 2.0, 0.0, 1.0);
        v.non_negative("c", 0.0);
        let err = v.finish().unwrap_err();
        assert_eq!(err.problems.len(), 2);
        let text = err.to_string();
        assert!(
            text.contains("a: must be a finite number > 0, got -1"),
            "{text}"
        );
        assert!(text.contains("b: must be in (0, 1), got 2"), "{text}");
    }
}
