//! Intake benchmark.
fn main() {}
