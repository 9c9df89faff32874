//! The page around the sections: the document, its style, the header, the "No data yet" notice
//! and the footer; and the digest, the headline figures as a short text for `report --post`.

use std::fmt::Write;

use super::escape::{escape, name};
use super::section::ReportData;
use super::sections::dags::Dags;
use super::sections::headline::Headline;
use super::sections::open_alerts::OpenAlerts;
use super::text::{seconds, when};

const STYLE: &str = r#"
:root { color-scheme: light; }
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
       color: #111827; background: #ffffff; margin: 0 auto; max-width: 1040px; padding: 24px; line-height: 1.4; }
h1 { font-size: 1.6rem; margin: 0 0 4px; }
h2 { font-size: 1.25rem; border-bottom: 2px solid #e5e7eb; padding-bottom: 4px; margin-top: 32px; }
h3 { font-size: 1.1rem; margin: 0 0 4px; }
h3 small, .muted { color: #6b7280; font-weight: normal; }
.period { color: #374151; margin: 0; }
table { border-collapse: collapse; margin: 8px 0 16px; font-size: 0.92rem; }
th, td { text-align: left; padding: 4px 10px; border-bottom: 1px solid #e5e7eb; vertical-align: top; }
th { background: #f3f4f6; font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
td, th, h3 { overflow-wrap: anywhere; }
.worse { color: #b91c1c; } .better { color: #15803d; }
.dag { border: 1px solid #e5e7eb; border-radius: 8px; padding: 14px 16px; margin: 16px 0; }
.dag.bad { border-left: 6px solid #dc2626; } .dag.warn { border-left: 6px solid #f59e0b; } .dag.good { border-left: 6px solid #16a34a; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; }
.chart { max-width: 100%; height: auto; font-size: 11px; }
.chart .tick { fill: #4b5563; } .chart .inside { fill: #ffffff; } .chart .axis-title { fill: #374151; font-weight: 600; } .chart .legend { fill: #111827; }
.empty { background: #f9fafb; border: 1px dashed #9ca3af; border-radius: 8px; padding: 16px 20px; }
code { background: #f3f4f6; padding: 1px 4px; border-radius: 3px; }
footer { margin-top: 32px; color: #6b7280; font-size: 0.85rem; }
@media print {
  body { max-width: none; padding: 0; }
  .dag, table, .chart { break-inside: avoid; }
  h2 { break-after: avoid; }
}
"#;

/// The headline figures as a short text message (the digest posted by `report --post`).
pub fn digest(data: &ReportData) -> String {
    let headline = data.section::<Headline>().cloned().unwrap_or_default();
    let (now, before) = (&headline.current, &headline.previous);
    let open_alerts = data.section::<OpenAlerts>().map_or(0, |a| a.alerts.len());
    let dags = data.section::<Dags>().map_or(&[][..], |d| &d.dags[..]);
    let pct = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.1} %", v * 100.0));
    let mut text = format!(
        "pipewatch digest{}, {} to {} ({}): {} DAG runs finished ({} the period before), success rate {} ({}), {} failed; median runtime {}, p95 {}; {} validation tests ran, {} passed; {}.",
        data.filter
            .as_ref()
            .map(|f| format!(" ({})", crate::notify::text_of(f)))
            .unwrap_or_default(),
        data.days.first().map(|d| d.to_string()).unwrap_or_default(),
        data.days.last().map(|d| d.to_string()).unwrap_or_default(),
        data.time_zone,
        now.finished_runs,
        before.finished_runs,
        pct(now.success_rate()),
        pct(before.success_rate()),
        now.failed_runs,
        seconds(now.runtime_median),
        seconds(now.runtime_p95),
        now.validation_executions,
        pct(now.pass_rate()),
        crate::format::plural(open_alerts as u64, "open alert", "open alerts")
    );
    let worst: Vec<String> = dags
        .iter()
        .filter(|d| d.failed() > 0)
        .take(3)
        .map(|d| {
            format!(
                "{} {}",
                crate::notify::text_of(&d.dag_id),
                pct(d.success_rate())
            )
        })
        .collect();
    if !worst.is_empty() {
        let _ = write!(text, " Worst DAGs: {}.", worst.join(", "));
    }
    text
}

/// The whole page.
pub fn render(data: &ReportData) -> String {
    let mut page = String::with_capacity(64 * 1024);
    let (from, to) = (data.days.first().copied(), data.days.last().copied());
    let period = match (from, to) {
        (Some(f), Some(t)) => format!("{f} to {t}"),
        _ => "–".into(),
    };
    let mut scope = match &data.instance {
        Some(i) => format!("Airflow instance {}", name(i)),
        None => "all Airflow instances".into(),
    };
    if let Some(filter) = &data.filter {
        let _ = write!(scope, "; {}", escape(filter));
    }
    let _ = write!(
        page,
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>pipewatch report: {period}</title><style>{STYLE}</style></head><body>
<header><h1>Pipeline performance report</h1>
<p class="period"><strong>{period}</strong> ({days} days), days in the reporting time zone <strong>{tz}</strong>; {scope}.
Generated {generated} by pipewatch {version}.</p></header>
"#,
        days = data.days.len(),
        tz = escape(&data.time_zone),
        generated = when(Some(data.generated_at)),
        version = crate::context::VERSION,
    );
    let empty = data.is_empty();
    if empty {
        let _ = write!(
            page,
            r#"<section class="empty"><h2>No data yet</h2>
<p>The warehouse holds no DAG runs and no validation results for {period}. Once <code>pipewatch run</code>
has loaded Airflow's runs (and <code>pipewatch validate</code> has recorded tests), this report shows
success rates, runtimes, failures, tasks and delays per DAG, and validation results.</p></section>
"#
        );
    }
    // With no data, only the sections that speak of pipewatch itself (its health).
    for section in data
        .sections
        .iter()
        .filter(|s| !empty || s.shown_when_empty())
    {
        section.render(&mut page, data);
    }
    let _ = write!(
        page,
        r#"<footer>Figures: runs are counted on the day of their logical date (run_after when there is none) in
{tz}; success rate is successful over finished runs; runtimes are end minus start of successful runs.
Source tables: dag_success_daily, dag_runtime_daily, dag_delay_daily, task_daily, validation_test_daily,
validation_run_history and pipewatch_run_log in the warehouse.</footer>
</body></html>
"#,
        tz = escape(&data.time_zone)
    );
    page
}
