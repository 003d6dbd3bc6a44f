//! Fuzzing the configuration loader with proptest (see `contract/fuzz.rs` for the engine and
//! `scripts/fuzz.sh` for long campaigns): raw text, and the reference configuration with values
//! replaced by hostile ones — every outcome is a loaded configuration or a list of problems, each
//! with its key path, never a panic.

use proptest::prelude::*;

use super::load_str;
use crate::contract::fuzz::config;

const REFERENCE: &str = include_str!("../../../config/driftd.toml");

/// A TOML value of any type, with edge values.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("0".to_owned()),
        Just("-1".to_owned()),
        Just("9223372036854775807".to_owned()),
        Just("nan".to_owned()),
        Just("-inf".to_owned()),
        Just("1e308".to_owned()),
        Just("true".to_owned()),
        Just("\"\"".to_owned()),
        Just("\"0s\"".to_owned()),
        Just("\"-5m\"".to_owned()),
        Just("\"999999999999h\"".to_owned()),
        Just("[]".to_owned()),
        Just("{}".to_owned()),
        Just("[1, \"a\"]".to_owned()),
        Just("{ env = \"DRIFTD_FUZZ_UNSET\" }".to_owned()),
        Just("2026-01-01T00:00:00Z".to_owned()),
        any::<f64>().prop_map(|x| format!("{x:?}").replace("inf", "1e999")),
        any::<i64>().prop_map(|x| x.to_string()),
        "[ -~]{0,16}".prop_map(|s| format!("{s:?}")),
    ]
}

/// Checks one outcome.
fn check(text: &str) {
    match load_str(text) {
        Ok(_) => {}
        Err(errors) => {
            assert!(!errors.0.is_empty());
            for e in &errors.0 {
                assert!(!e.message.is_empty(), "{e:?}");
                // Only a syntax error has no key path.
                assert!(
                    !e.path.is_empty() || e.message.starts_with("TOML syntax"),
                    "{e:?}"
                );
            }
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn raw_text_never_panics(text in "[ -~\n\\[\\]=\"]{0,200}") {
        check(&text);
    }

    #[test]
    fn the_reference_config_with_hostile_values_loads_or_says_where(
        edits in prop::collection::vec((any::<prop::sample::Index>(), toml_value()), 1..4),
    ) {
        let mut lines: Vec<String> = REFERENCE.lines().map(str::to_owned).collect();
        let settable: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| {
                let t = l.trim_start();
                !t.starts_with('#') && !t.starts_with('[') && t.contains(" = ")
            })
            .map(|(i, _)| i)
            .collect();
        prop_assume!(!settable.is_empty());
        for (at, value) in edits {
            let i = settable[at.index(settable.len())];
            let key = lines[i].split(" = ").next().unwrap_or_default().to_owned();
            lines[i] = format!("{key} = {value}");
        }
        check(&lines.join("\n"));
    }
}

#[test]
fn the_reference_config_loads() {
    assert!(load_str(REFERENCE).is_ok());
}
