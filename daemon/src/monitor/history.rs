//! A model's figures over time, for reports: predictions, labels, errors and features in drift at
//! regular points of its stream, bounded (when full, every second point goes and the spacing
//! doubles, so the whole stream stays covered at an even density).

use serde::{Deserialize, Serialize};

/// Most points kept.
pub const MAX_POINTS: usize = 240;

/// One point: the monitor's figures after a prediction.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// Event time of the prediction (ms since the epoch).
    pub ts_ms: i64,
    /// Predictions so far.
    pub predictions: u64,
    /// Predictions joined with their label so far.
    pub labelled: u64,
    /// Of those, wrong (classification).
    pub errors: u64,
    /// Features in the drift state now.
    pub drifting: u32,
}

/// Points every `every` predictions, at most [`MAX_POINTS`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    every: u64,
    points: Vec<Point>,
}

impl Default for History {
    fn default() -> Self {
        History {
            every: 100,
            points: Vec::new(),
        }
    }
}

impl History {
    /// Whether the point after `predictions` predictions is one to note (the caller builds it
    /// only then: this is asked on every prediction).
    pub fn due(&self, predictions: u64) -> bool {
        predictions > 0 && predictions.is_multiple_of(self.every)
    }

    /// Notes a point if the prediction count is on the spacing.
    pub fn note(&mut self, p: Point) {
        if !self.due(p.predictions) {
            return;
        }
        if self.points.len() == MAX_POINTS {
            // Keep the points on the doubled spacing.
            let every = self.every * 2;
            self.points.retain(|q| q.predictions.is_multiple_of(every));
            self.every = every;
            if !p.predictions.is_multiple_of(every) {
                return;
            }
        }
        self.points.push(p);
    }

    /// The points, oldest first.
    pub fn points(&self) -> &[Point] {
        &self.points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(n: u64) -> Point {
        Point {
            ts_ms: n as i64,
            predictions: n,
            labelled: n / 2,
            errors: n / 10,
            drifting: 0,
        }
    }

    #[test]
    fn the_points_stay_bounded_and_evenly_spaced_over_the_whole_stream() {
        let mut h = History::default();
        for n in 1..=1_000_000 {
            h.note(at(n));
        }
        let pts = h.points();
        assert!(
            pts.len() <= MAX_POINTS && pts.len() > MAX_POINTS / 2,
            "{}",
            pts.len()
        );
        let step = pts[1].predictions - pts[0].predictions;
        assert!(
            pts.windows(2)
                .all(|w| w[1].predictions - w[0].predictions == step)
        );
        assert_eq!(pts[0].predictions, step, "from the start");
        assert!(
            1_000_000 - pts.last().unwrap().predictions < step,
            "to the end"
        );
    }
}
