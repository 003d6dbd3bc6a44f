//! Reports people can look at: one self-contained HTML page per model set, with SVG charts drawn
//! by plotters — the drift timeline (each onset on its feature's lane, and how many features are
//! in drift over time), label coverage and accuracy over time, each feature's reference
//! distribution against the current sliding window, the tests and their statistics, the onsets,
//! and the alerts that fired. No script loads anything, no font or style is fetched: the page
//! opens offline. `driftd replay --html` writes one for a recorded stream (with the alerts the
//! rules would have sent); `GET /v1/models/{model}/report` answers one for a live model.
//!
//! The page carries one small inline script that only counts the charts the browser actually
//! laid out (`data-charts-drawn` on `<html>`), so a headless browser can check the page.
//!
//! May depend on: contract, monitor.

mod charts;

use std::fmt::Write as _;

use crate::contract::onset::Onset;
use crate::monitor::{ModelMonitor, WindowResult};

/// One alert notification, as the report lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    /// When it was sent (event time, RFC 3339).
    pub ts: String,
    /// `firing` or `resolved`.
    pub status: String,
    /// The rule.
    pub rule: String,
    /// Its labels, as `name=value` pairs.
    pub labels: String,
    /// The value that decided.
    pub value: f64,
}

/// One model's part of a report.
pub struct ModelReport<'a> {
    /// The model.
    pub model: &'a str,
    /// Its monitor (history, distributions, counts).
    pub monitor: &'a ModelMonitor,
    /// The tests of the current window (evaluated on demand), if there is one.
    pub tests: Option<WindowResult>,
    /// Its onsets, oldest first.
    pub onsets: &'a [Onset],
    /// Feedback events seen (when known).
    pub feedback: Option<u64>,
    /// The alert notifications about it (`None`: not known here, e.g. a live report).
    pub alerts: Option<Vec<AlertRow>>,
}

/// Why a report could not be drawn.
#[derive(Debug, thiserror::Error)]
#[error("drawing the report's charts: {0}")]
pub struct ReportError(pub String);

/// `&`, `<`, `>`, `"` and `'` as entities: safe in HTML element content and quoted attributes
/// (the reports, and the alert emails' HTML part).
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0;color:#1b1f24;background:#fff}
header{background:#14324f;color:#fff;padding:16px 24px}header h1{margin:0;font-size:22px}
header p{margin:4px 0 0;color:#d5e2ef}main{padding:8px 24px 40px;max-width:1500px}
nav a{margin-right:12px}section{border-top:1px solid #d0d7de;margin-top:24px}
h2{font-size:20px}h3{font-size:16px;margin:20px 0 8px}
dl.figures{display:flex;flex-wrap:wrap;gap:8px 24px;margin:0}
dl.figures div{min-width:120px}dt{font-size:12px;color:#57606a}dd{margin:0;font-size:18px;font-weight:600}
figure{margin:0}figure.chart svg{max-width:100%;height:auto}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(360px,1fr));gap:12px}
table{border-collapse:collapse;font-size:13px;margin:4px 0}
th,td{border:1px solid #d0d7de;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
.drift{color:#a40e26;font-weight:600}.ok{color:#1a7f37}.muted{color:#57606a}
";

fn fmt_num(x: f64) -> String {
    if !x.is_finite() {
        return x.to_string();
    }
    if x != 0.0 && (x.abs() < 1e-3 || x.abs() >= 1e6) {
        format!("{x:.3e}")
    } else {
        format!("{x:.4}")
    }
}

/// The report page for `models`; `title` names the run (a file, a deployment).
pub fn render(
    title: &str,
    generated: &str,
    models: &[ModelReport<'_>],
) -> Result<String, ReportError> {
    let mut h = String::with_capacity(64 * 1024);
    let _ = write!(
        h,
        "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>driftd report: {t}</title><style>{STYLE}</style></head><body>\
         <header><h1>driftd report</h1><p>{t} · {g}</p></header><main>",
        t = esc(title),
        g = esc(generated),
    );
    if models.len() > 1 {
        h.push_str("<nav aria-label=\"models\"><p>");
        for m in models {
            let _ = write!(h, "<a href=\"#model-{0}\">{0}</a>", esc(m.model));
        }
        h.push_str("</p></nav>");
    }
    if models.is_empty() {
        h.push_str("<p>No model was seen.</p>");
    }
    for m in models {
        model_section(&mut h, m)?;
    }
    h.push_str(
        "</main><script>(function(){var n=0;document.querySelectorAll('figure.chart svg')\
         .forEach(function(s){var b=s.getBoundingClientRect();if(b.width>0&&b.height>0&&\
         s.querySelector('rect,circle,polyline,path,line'))n++;});\
         document.documentElement.setAttribute('data-charts-drawn',String(n));})();</script>\
         </body></html>\n",
    );
    Ok(h)
}

fn model_section(h: &mut String, r: &ModelReport<'_>) -> Result<(), ReportError> {
    let m = r.monitor;
    let id = esc(r.model);
    let (labelled, errors) = m.labels();
    let _ = write!(
        h,
        "<section id=\"model-{id}\"><h2>{id}</h2><dl class=\"figures\">"
    );
    let mut fig = |name: &str, value: String| {
        let _ = write!(h, "<div><dt>{name}</dt><dd>{value}</dd></div>");
    };
    fig("predictions", m.predictions().to_string());
    if let Some(f) = r.feedback {
        fig("feedback", f.to_string());
    }
    fig("labelled", labelled.to_string());
    let coverage = labelled as f64 / m.predictions().max(1) as f64;
    fig("label coverage", format!("{:.1}%", 100.0 * coverage));
    if labelled > 0 {
        fig(
            "accuracy",
            format!("{:.2}%", 100.0 * (1.0 - errors as f64 / labelled as f64)),
        );
    }
    fig("onsets", r.onsets.len().to_string());
    fig(
        "reference",
        if m.has_reference() {
            "complete"
        } else {
            "filling"
        }
        .to_owned(),
    );
    h.push_str("</dl>");

    let points = m.history().points();
    h.push_str("<h3>Drift timeline</h3>");
    if points.is_empty() && r.onsets.is_empty() {
        h.push_str("<p class=\"muted\">Not enough predictions yet.</p>");
    } else {
        chart(
            h,
            &format!("timeline-{id}"),
            "Onsets by feature over event time",
            charts::timeline(points, r.onsets)?,
        );
        chart(
            h,
            &format!("drifting-{id}"),
            "Features in drift over event time",
            charts::drifting(points)?,
        );
    }
    h.push_str("<h3>Labels and accuracy</h3>");
    if labelled == 0 {
        h.push_str("<p class=\"muted\">No prediction has been joined with its label yet.</p>");
    } else {
        chart(
            h,
            &format!("labels-{id}"),
            "Label coverage and accuracy over event time",
            charts::labels(points)?,
        );
    }

    h.push_str("<h3>Tests and statistics (the current window)</h3>");
    match &r.tests {
        None => {
            h.push_str("<p class=\"muted\">No window to test yet (the reference is filling).</p>")
        }
        Some(w) => {
            let _ = write!(
                h,
                "<p>Share of features in drift: {:.1}% · dataset drift: {}</p>",
                100.0 * w.share,
                if w.dataset_drift {
                    "<span class=\"drift\">yes</span>"
                } else {
                    "<span class=\"ok\">no</span>"
                }
            );
            h.push_str(
                "<table><thead><tr><th scope=\"col\">feature</th><th scope=\"col\">test</th>\
                 <th scope=\"col\">statistic</th><th scope=\"col\">p-value</th>\
                 <th scope=\"col\">threshold</th><th scope=\"col\">state</th>\
                 <th scope=\"col\">reference</th><th scope=\"col\">current</th></tr></thead><tbody>",
            );
            for f in &w.features {
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td>{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td>\
                     <td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    esc(&f.feature),
                    esc(&f.test),
                    fmt_num(f.statistic),
                    f.p_value.map(fmt_num).unwrap_or_default(),
                    fmt_num(f.threshold),
                    if f.drift {
                        "<span class=\"drift\">drift</span>"
                    } else {
                        "<span class=\"ok\">ok</span>"
                    },
                    esc(&f.reference),
                    esc(&f.current),
                );
            }
            if let Some((test, stat, drift)) = &w.prediction {
                let _ = write!(
                    h,
                    "<tr><td><em>prediction</em></td><td>{}</td><td class=\"num\">{}</td><td></td><td></td><td>{}</td><td></td><td></td></tr>",
                    esc(test),
                    fmt_num(*stat),
                    if *drift {
                        "<span class=\"drift\">drift</span>"
                    } else {
                        "<span class=\"ok\">ok</span>"
                    },
                );
            }
            h.push_str("</tbody></table>");
        }
    }

    h.push_str("<h3>Reference against the current window</h3>");
    let dists = m.distributions();
    if dists.is_empty() {
        h.push_str(
            "<p class=\"muted\">Distributions are drawn for streaming detection once the reference is complete.</p>",
        );
    } else {
        h.push_str("<div class=\"grid\">");
        for (i, d) in dists.iter().enumerate() {
            chart(
                h,
                &format!("dist-{id}-{i}"),
                &format!("{}: reference and current shares per bin", d.feature),
                charts::distribution(d)?,
            );
        }
        h.push_str("</div>");
    }

    h.push_str("<h3>Onsets</h3>");
    if r.onsets.is_empty() {
        h.push_str("<p class=\"muted\">No drift onset.</p>");
    } else {
        h.push_str(
            "<table><thead><tr><th scope=\"col\">event time</th><th scope=\"col\">prediction #</th>\
             <th scope=\"col\">kind</th><th scope=\"col\">feature</th><th scope=\"col\">test</th>\
             <th scope=\"col\">statistic</th><th scope=\"col\">p-value</th>\
             <th scope=\"col\">threshold</th></tr></thead><tbody>",
        );
        for o in r.onsets {
            let _ = write!(
                h,
                "<tr><td>{}</td><td class=\"num\">{}</td><td>{}</td><td>{}</td><td>{}</td>\
                 <td class=\"num\">{}</td><td class=\"num\">{}</td><td class=\"num\">{}</td></tr>",
                esc(&o.ts),
                o.event_index,
                o.kind.as_str(),
                esc(o.feature.as_deref().unwrap_or("")),
                esc(&o.test),
                fmt_num(o.statistic),
                o.p_value.map(fmt_num).unwrap_or_default(),
                fmt_num(o.threshold),
            );
        }
        h.push_str("</tbody></table>");
    }

    h.push_str("<h3>Alerts</h3>");
    match &r.alerts {
        None => h.push_str(
            "<p class=\"muted\">Live alerts are at <code>GET /v1/alerts</code>; \
             <code>driftd replay --alerts --html</code> lists those the rules would have sent.</p>",
        ),
        Some(a) if a.is_empty() => h.push_str("<p class=\"muted\">No alert would have fired.</p>"),
        Some(a) => {
            h.push_str(
                "<table><thead><tr><th scope=\"col\">event time</th><th scope=\"col\">status</th>\
                 <th scope=\"col\">rule</th><th scope=\"col\">labels</th><th scope=\"col\">value</th>\
                 </tr></thead><tbody>",
            );
            for row in a {
                let class = if row.status == "firing" {
                    "drift"
                } else {
                    "ok"
                };
                let _ = write!(
                    h,
                    "<tr><td>{}</td><td class=\"{class}\">{}</td><td>{}</td><td>{}</td><td class=\"num\">{}</td></tr>",
                    esc(&row.ts),
                    esc(&row.status),
                    esc(&row.rule),
                    esc(&row.labels),
                    fmt_num(row.value),
                );
            }
            h.push_str("</tbody></table>");
        }
    }
    h.push_str("</section>");
    Ok(())
}

fn chart(h: &mut String, id: &str, caption: &str, svg: String) {
    // plotters writes a bare <svg>; it gets a title for screen readers.
    let svg = svg.replacen(
        "<svg ",
        &format!("<svg role=\"img\" aria-label=\"{}\" ", esc(caption)),
        1,
    );
    let _ = write!(
        h,
        "<figure class=\"chart\" id=\"{}\">{svg}<figcaption class=\"muted\">{}</figcaption></figure>",
        esc(id),
        esc(caption)
    );
}

#[cfg(test)]
mod tests;
