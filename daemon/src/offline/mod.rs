//! The offline stage: recorded events instead of a live source, with no wall clock and no service.
//!
//! - [`replay`]: `driftd replay`, the monitors over recorded files in the daemon's event-time order.
//! - [`backtest`]: onsets scored against a ground-truth file (delay, misses, false alarms).
//! - [`streams`]: the project's seeded benchmark streams with known drift (`driftd streams`).
//!
//! Nothing of the live daemon uses this stage.
//!
//! May depend on: contract, monitor, report, alert, intake, config.

pub mod backtest;
pub mod replay;
pub mod streams;
