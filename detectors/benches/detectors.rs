//! Placeholder until the detectors benches land.
fn main() {}
