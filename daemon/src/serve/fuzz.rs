//! Fuzzing the body of `POST /v1/models/{model}/predict` with proptest (see `contract/fuzz.rs`):
//! raw bytes and hostile batches of items. What must hold: nothing panics; a refusal is a 4xx
//! answer; an accepted split holds between one and `max` items, each decoded as an item or
//! refused with its own reason.

use proptest::prelude::*;

use super::api::{Item, split_body};
use axum::response::IntoResponse;

fn check(body: &[u8], max: usize) {
    match split_body(body, max) {
        Ok((batch, items)) => {
            assert!(!items.is_empty() && items.len() <= max);
            assert!(batch || items.len() == 1);
            for raw in items {
                // Each item is decoded alone; a bad one is listed, never a panic.
                let _ = serde_json::from_str::<Item>(raw.get());
            }
        }
        Err(e) => {
            let s = e.into_response().status();
            assert!(s.is_client_error(), "{s}");
        }
    }
}

fn item() -> impl Strategy<Value = String> {
    let value = prop_oneof![
        Just("null".to_owned()),
        Just("1e999".to_owned()),
        Just("\"\\ud800\"".to_owned()),
        Just("[[[[[[[[[[]]]]]]]]]]".to_owned()),
        any::<f64>().prop_map(|x| format!("{x:?}")),
        "[a-z]{0,12}".prop_map(|s| format!("\"{s}\"")),
    ];
    (
        proptest::collection::vec(("[a-z_]{0,8}", value.clone()), 0..5),
        proptest::option::of(value),
    )
        .prop_map(|(features, id)| {
            let f: Vec<String> = features
                .into_iter()
                .map(|(k, v)| format!("\"{k}\":{v}"))
                .collect();
            match id {
                Some(id) => format!("{{\"id\":{id},\"features\":{{{}}}}}", f.join(",")),
                None => format!("{{\"features\":{{{}}}}}", f.join(",")),
            }
        })
}

proptest! {
    #![proptest_config(crate::contract::fuzz::config())]

    #[test]
    fn predict_bodies_of_raw_bytes(body in proptest::collection::vec(any::<u8>(), 0..512), max in 1usize..8) {
        check(&body, max);
    }

    #[test]
    fn predict_batches_of_hostile_items(items in proptest::collection::vec(item(), 0..6), max in 1usize..8) {
        check(format!("[{}]", items.join(",")).as_bytes(), max);
        if let Some(one) = items.first() {
            check(one.as_bytes(), max);
        }
    }
}
