//! The report's charts, drawn by plotters into SVG strings (its SVG backend writes text as
//! `<text>`, so no font is needed to draw).

use plotters::prelude::*;

use super::ReportError;
use crate::contract::onset::{Onset, OnsetKind};
use crate::monitor::Distribution;
use crate::monitor::history::Point;

const REFERENCE: RGBColor = RGBColor(84, 110, 150);
const CURRENT: RGBColor = RGBColor(230, 126, 34);
const ONSET: RGBColor = RGBColor(196, 30, 58);
const ACCURACY: RGBColor = RGBColor(26, 127, 55);

fn e(err: impl std::fmt::Display) -> ReportError {
    ReportError(err.to_string())
}

/// Event time on the x axis: hours since `t0` (ms), labelled with the UTC time.
struct TimeAxis {
    t0: i64,
    span_h: f64,
}

impl TimeAxis {
    fn new(times: impl Iterator<Item = i64>) -> Self {
        let (mut lo, mut hi) = (i64::MAX, i64::MIN);
        for t in times {
            lo = lo.min(t);
            hi = hi.max(t);
        }
        if lo > hi {
            (lo, hi) = (0, 0);
        }
        TimeAxis {
            t0: lo,
            span_h: ((hi - lo) as f64 / 3.6e6).max(1.0 / 60.0),
        }
    }

    fn x(&self, ts_ms: i64) -> f64 {
        (ts_ms - self.t0) as f64 / 3.6e6
    }

    fn label(&self, x: f64) -> String {
        let ms = self.t0 + (x * 3.6e6) as i64;
        let Some(t) = chrono::DateTime::from_timestamp_millis(ms) else {
            return String::new();
        };
        if self.span_h > 48.0 {
            t.format("%m-%d %H:%M").to_string()
        } else {
            t.format("%H:%M:%S").to_string()
        }
    }
}

fn onset_ms(o: &Onset) -> Option<i64> {
    crate::contract::event::parse_ts(&o.ts).map(|t| t.timestamp_millis())
}

/// The lane an onset is drawn on: its feature, or its kind.
fn lane(o: &Onset) -> String {
    match (o.kind, &o.feature) {
        (OnsetKind::Data, Some(f)) => f.clone(),
        (OnsetKind::Accuracy, Some(m)) => format!("accuracy: {m}"),
        (k, _) => format!("({})", k.as_str()),
    }
}

/// Each onset as a mark on its lane over event time.
pub(super) fn timeline(points: &[Point], onsets: &[Onset]) -> Result<String, ReportError> {
    let mut lanes: Vec<String> = onsets.iter().map(lane).collect();
    lanes.sort();
    lanes.dedup();
    let axis = TimeAxis::new(
        points
            .iter()
            .map(|p| p.ts_ms)
            .chain(onsets.iter().filter_map(onset_ms)),
    );
    let rows = lanes.len().max(1);
    let height = (60 + 22 * rows).clamp(140, 900) as u32;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1100, height)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(190)
            .build_cartesian_2d(0f64..axis.span_h, -0.5f64..rows as f64 - 0.5)
            .map_err(e)?;
        let names = lanes.clone();
        chart
            .configure_mesh()
            .disable_y_mesh()
            .y_labels(rows)
            .y_label_formatter(&|y| {
                let i = y.round();
                if (y - i).abs() < 1e-6 && i >= 0.0 {
                    names.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .x_labels(8)
            .x_label_formatter(&|x| axis.label(*x))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(e)?;
        if onsets.is_empty() {
            chart
                .draw_series(std::iter::once(Text::new(
                    "no onset",
                    (axis.span_h / 2.0, 0.0),
                    ("sans-serif", 14).into_font().color(&BLACK.mix(0.6)),
                )))
                .map_err(e)?;
        }
        chart
            .draw_series(onsets.iter().filter_map(|o| {
                let row = lanes.iter().position(|l| *l == lane(o))?;
                Some(Circle::new(
                    (axis.x(onset_ms(o)?), row as f64),
                    5,
                    ONSET.filled(),
                ))
            }))
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(out)
}

/// How many features are in the drift state over event time.
pub(super) fn drifting(points: &[Point]) -> Result<String, ReportError> {
    let axis = TimeAxis::new(points.iter().map(|p| p.ts_ms));
    let top = points.iter().map(|p| p.drifting).max().unwrap_or(0).max(1) as f64;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1100, 200)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(190)
            .build_cartesian_2d(0f64..axis.span_h, 0f64..top * 1.1)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_labels(8)
            .x_label_formatter(&|x| axis.label(*x))
            .y_labels(5)
            .y_label_formatter(&|y| format!("{y:.0}"))
            .y_desc("features in drift")
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(
                points
                    .iter()
                    .map(|p| (axis.x(p.ts_ms), f64::from(p.drifting))),
                ONSET.stroke_width(2),
            ))
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(out)
}

/// Label coverage (labelled share of predictions so far) and accuracy between points.
pub(super) fn labels(points: &[Point]) -> Result<String, ReportError> {
    let axis = TimeAxis::new(points.iter().map(|p| p.ts_ms));
    let coverage: Vec<(f64, f64)> = points
        .iter()
        .map(|p| {
            (
                axis.x(p.ts_ms),
                p.labelled as f64 / p.predictions.max(1) as f64,
            )
        })
        .collect();
    let accuracy: Vec<(f64, f64)> = points
        .windows(2)
        .filter_map(|w| {
            let n = w[1].labelled.checked_sub(w[0].labelled)?;
            let wrong = w[1].errors.checked_sub(w[0].errors)?;
            (n > 0).then(|| (axis.x(w[1].ts_ms), 1.0 - wrong as f64 / n as f64))
        })
        .collect();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (1100, 260)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .x_label_area_size(28)
            .y_label_area_size(190)
            .build_cartesian_2d(0f64..axis.span_h, 0f64..1.05)
            .map_err(e)?;
        chart
            .configure_mesh()
            .x_labels(8)
            .x_label_formatter(&|x| axis.label(*x))
            .y_labels(6)
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(e)?;
        chart
            .draw_series(LineSeries::new(coverage, REFERENCE.stroke_width(2)))
            .map_err(e)?
            .label("label coverage")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], REFERENCE.stroke_width(2)));
        chart
            .draw_series(LineSeries::new(accuracy, ACCURACY.stroke_width(2)))
            .map_err(e)?
            .label("accuracy (between points)")
            .legend(|(x, y)| PathElement::new([(x, y), (x + 16, y)], ACCURACY.stroke_width(2)));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::LowerRight)
            .border_style(BLACK.mix(0.3))
            .background_style(WHITE.mix(0.9))
            .label_font(("sans-serif", 12))
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(out)
}

/// A feature's reference share of each bin (or category) beside the current window's.
pub(super) fn distribution(d: &Distribution) -> Result<String, ReportError> {
    let k = d.columns.len().max(1);
    let top = d
        .reference
        .iter()
        .chain(&d.current)
        .copied()
        .fold(0.0f64, f64::max)
        .max(0.01)
        * 1.15;
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (380, 240)).into_drawing_area();
        root.fill(&WHITE).map_err(e)?;
        let mut chart = ChartBuilder::on(&root)
            .caption(&d.feature, ("sans-serif", 14))
            .margin(6)
            .x_label_area_size(34)
            .y_label_area_size(42)
            .build_cartesian_2d(-0.5f64..k as f64 - 0.5, 0f64..top)
            .map_err(e)?;
        // Numeric bins are labelled by their lower edge, sparsely; categories by name.
        let labels: Vec<String> = d
            .columns
            .iter()
            .map(|c| {
                let c = if d.numeric {
                    c.trim_start_matches(['[', '('])
                        .split(',')
                        .next()
                        .unwrap_or(c)
                        .trim()
                } else {
                    c.as_str()
                };
                c.chars().take(10).collect()
            })
            .collect();
        chart
            .configure_mesh()
            .disable_x_mesh()
            .x_labels(k.min(if d.numeric { 6 } else { 8 }))
            .x_label_formatter(&|x| {
                let i = x.round();
                if (x - i).abs() < 1e-6 && i >= 0.0 {
                    labels.get(i as usize).cloned().unwrap_or_default()
                } else {
                    String::new()
                }
            })
            .y_labels(5)
            .y_label_formatter(&|y| format!("{:.0}%", y * 100.0))
            .label_style(("sans-serif", 10))
            .draw()
            .map_err(e)?;
        chart
            .draw_series(d.reference.iter().enumerate().map(|(j, r)| {
                let x = j as f64;
                Rectangle::new([(x - 0.42, 0.0), (x, *r)], REFERENCE.filled())
            }))
            .map_err(e)?
            .label("reference")
            .legend(|(x, y)| Rectangle::new([(x, y - 4), (x + 10, y + 4)], REFERENCE.filled()));
        chart
            .draw_series(d.current.iter().enumerate().map(|(j, c)| {
                let x = j as f64;
                Rectangle::new([(x, 0.0), (x + 0.42, *c)], CURRENT.filled())
            }))
            .map_err(e)?
            .label(format!("current (n {})", d.n_current))
            .legend(|(x, y)| Rectangle::new([(x, y - 4), (x + 10, y + 4)], CURRENT.filled()));
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperRight)
            .border_style(BLACK.mix(0.3))
            .background_style(WHITE.mix(0.9))
            .label_font(("sans-serif", 10))
            .draw()
            .map_err(e)?;
        root.present().map_err(e)?;
    }
    Ok(out)
}
