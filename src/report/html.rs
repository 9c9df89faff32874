//! The report page: HTML with inline CSS and the SVG charts of [`super::svg`]. No script, no
//! web font, no external link; readable on a laptop screen and printable (sections do not
//! break across pages where it can be helped).

use std::fmt::Write;

use chrono::{DateTime, NaiveDate, Utc};

use super::svg::{self, Series, Unit};
use super::{DagSection, Period, ReportData};

const BLUE: &str = "#2563eb";
const RED: &str = "#dc2626";
const GREEN: &str = "#16a34a";
const GREY: &str = "#6b7280";

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
.worse { color: #b91c1c; } .better { color: #15803d; }
.dag { border: 1px solid #e5e7eb; border-radius: 8px; padding: 14px 16px; margin: 16px 0; }
.dag.bad { border-left: 6px solid #dc2626; } .dag.warn { border-left: 6px solid #f59e0b; } .dag.good { border-left: 6px solid #16a34a; }
.charts { display: flex; flex-wrap: wrap; gap: 8px; }
.chart { max-width: 100%; height: auto; font-size: 11px; }
.chart .tick { fill: #4b5563; } .chart .axis-title { fill: #374151; font-weight: 600; } .chart .legend { fill: #111827; }
.empty { background: #f9fafb; border: 1px dashed #9ca3af; border-radius: 8px; padding: 16px 20px; }
code { background: #f3f4f6; padding: 1px 4px; border-radius: 3px; }
footer { margin-top: 32px; color: #6b7280; font-size: 0.85rem; }
@media print {
  body { max-width: none; padding: 0; }
  .dag, table, .chart { break-inside: avoid; }
  h2 { break-after: avoid; }
}
"#;

/// Escapes text for HTML and SVG (element content and quoted attributes).
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
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

fn percent(value: Option<f64>) -> String {
    value.map_or("–".into(), |v| format!("{:.1} %", v * 100.0))
}

fn seconds(value: Option<f64>) -> String {
    value.map_or("–".into(), svg::duration)
}

fn when(value: Option<DateTime<Utc>>) -> String {
    value.map_or("–".into(), |t| t.format("%Y-%m-%d %H:%M UTC").to_string())
}

/// "+2.1 pp" for rates; worse is red, better green (`higher_is_better` says which way).
fn change_pp(now: Option<f64>, before: Option<f64>, higher_is_better: bool) -> String {
    match (now, before) {
        (Some(n), Some(b)) => {
            let d = (n - b) * 100.0;
            classed(d, higher_is_better, format!("{d:+.1} pp"))
        }
        _ => "–".into(),
    }
}

/// "+12 %" for durations and counts.
fn change_ratio(now: Option<f64>, before: Option<f64>, higher_is_better: bool) -> String {
    match (now, before) {
        (Some(n), Some(b)) if b > 0.0 => {
            let d = (n / b - 1.0) * 100.0;
            classed(d, higher_is_better, format!("{d:+.0} %"))
        }
        _ => "–".into(),
    }
}

fn classed(delta: f64, higher_is_better: bool, text: String) -> String {
    if delta.abs() < 1e-9 {
        return text;
    }
    let class = if (delta > 0.0) == higher_is_better {
        "better"
    } else {
        "worse"
    };
    format!(r#"<span class="{class}">{text}</span>"#)
}

/// The headline figures as a short text message (the digest posted by `report --post`).
pub fn digest(data: &ReportData) -> String {
    let (now, before) = (&data.current, &data.previous);
    let pct = |v: Option<f64>| v.map_or("–".into(), |v| format!("{:.1} %", v * 100.0));
    let mut text = format!(
        "pipewatch digest, {} to {} ({}): {} DAG runs finished ({} the period before), success rate {} ({}), {} failed; median runtime {}, p95 {}; {} validation tests ran, {} passed; {} open alerts.",
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
        data.open_alerts.len()
    );
    let worst: Vec<String> = data
        .dags
        .iter()
        .filter(|d| d.failed() > 0)
        .take(3)
        .map(|d| format!("{} {}", d.dag_id, pct(d.success_rate())))
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
    let scope = match &data.instance {
        Some(i) => format!("Airflow instance {}", escape(i)),
        None => "all Airflow instances".into(),
    };
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
    if data.is_empty() {
        let _ = write!(
            page,
            r#"<section class="empty"><h2>No data yet</h2>
<p>The warehouse holds no DAG runs and no validation results for {period}. Once <code>pipewatch run</code>
has loaded Airflow's runs (and <code>pipewatch validate</code> has recorded tests), this report shows
success rates, runtimes, failures, tasks and delays per DAG, and validation results.</p></section>
"#
        );
    } else {
        headline(
            &mut page,
            &data.current,
            &data.previous,
            data.open_alerts.len(),
        );
        open_alerts(&mut page, data);
        dag_sections(&mut page, data);
        validation(&mut page, data);
    }
    health(&mut page, data);
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

fn open_alerts(page: &mut String, data: &ReportData) {
    if data.open_alerts.is_empty() {
        return;
    }
    let _ = write!(
        page,
        r#"<section><h2>Open alerts <span class="muted">({})</span></h2><table><tr><th>rule</th><th>subject</th><th>day</th><th>opened</th><th>what was found</th></tr>"#,
        data.open_alerts.len()
    );
    for a in &data.open_alerts {
        let _ = write!(
            page,
            r#"<tr><td class="worse">{}</td><td>{} <span class="muted">on {}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
            escape(&a.rule),
            escape(&a.subject),
            escape(&a.instance),
            a.day,
            when(Some(a.opened_at)),
            escape(&a.message)
        );
    }
    page.push_str("</table></section>\n");
}

fn headline(page: &mut String, now: &Period, before: &Period, open_alerts: usize) {
    let range = |p: &Period| match (p.from, p.to) {
        (Some(f), Some(t)) => format!("{f} – {t}"),
        _ => "–".into(),
    };
    let count = |v: i64| Some(v as f64);
    let rows = [
        (
            "DAG runs finished",
            now.finished_runs.to_string(),
            before.finished_runs.to_string(),
            change_ratio(count(now.finished_runs), count(before.finished_runs), true),
        ),
        (
            "success rate",
            percent(now.success_rate()),
            percent(before.success_rate()),
            change_pp(now.success_rate(), before.success_rate(), true),
        ),
        (
            "failed runs",
            now.failed_runs.to_string(),
            before.failed_runs.to_string(),
            change_ratio(count(now.failed_runs), count(before.failed_runs), false),
        ),
        (
            "median runtime (successful runs)",
            seconds(now.runtime_median),
            seconds(before.runtime_median),
            change_ratio(now.runtime_median, before.runtime_median, false),
        ),
        (
            "p95 runtime (successful runs)",
            seconds(now.runtime_p95),
            seconds(before.runtime_p95),
            change_ratio(now.runtime_p95, before.runtime_p95, false),
        ),
        (
            "validation test executions",
            now.validation_executions.to_string(),
            before.validation_executions.to_string(),
            change_ratio(
                count(now.validation_executions),
                count(before.validation_executions),
                true,
            ),
        ),
        (
            "validation pass rate",
            percent(now.pass_rate()),
            percent(before.pass_rate()),
            change_pp(now.pass_rate(), before.pass_rate(), true),
        ),
        (
            "open alerts (now)",
            open_alerts.to_string(),
            "".to_string(),
            "".to_string(),
        ),
    ];
    let _ = write!(
        page,
        r#"<section><h2>Headline</h2><table class="headline"><tr><th></th><th class="num">this period<br><span class="muted">{}</span></th><th class="num">the period before<br><span class="muted">{}</span></th><th class="num">change</th></tr>"#,
        range(now),
        range(before)
    );
    for (name, a, b, change) in rows {
        let _ = write!(
            page,
            r#"<tr><td>{name}</td><td class="num">{a}</td><td class="num">{b}</td><td class="num">{change}</td></tr>"#
        );
    }
    page.push_str("</table></section>\n");
}

fn per_day<T>(
    days: &[NaiveDate],
    dag: &DagSection,
    value: impl Fn(&super::DagDay) -> Option<T>,
) -> Vec<Option<T>> {
    days.iter()
        .map(|day| dag.days.iter().find(|d| d.day == *day).and_then(&value))
        .collect()
}

fn dag_sections(page: &mut String, data: &ReportData) {
    let _ = write!(
        page,
        r#"<section><h2>DAGs, the worst first <span class="muted">({} with runs in the period)</span></h2>"#,
        data.dags.len()
    );
    for dag in &data.dags {
        let rate = dag.success_rate();
        let class = match rate {
            Some(r) if r < 0.9 => "bad",
            Some(r) if r < 0.99 => "warn",
            Some(_) => "good",
            None => "",
        };
        let unfinished: i64 = dag.days.iter().map(|d| d.unfinished).sum();
        let _ = write!(
            page,
            r#"<article class="dag {class}"><h3>{} <small>on {}</small></h3><p>Success rate <strong>{}</strong>: {} failed of {} finished runs{}.</p><div class="charts">"#,
            escape(&dag.dag_id),
            escape(&dag.instance),
            percent(rate),
            dag.failed(),
            dag.finished(),
            if unfinished > 0 {
                format!(", {unfinished} not finished yet")
            } else {
                String::new()
            }
        );
        let rates = per_day(&data.days, dag, |d| d.success_rate);
        page.push_str(&svg::share_bars(
            &format!("{}: daily success rate", dag.dag_id),
            "success rate",
            &data.days,
            &rates,
            ("successful", BLUE),
            ("failed", RED),
        ));
        page.push_str(&svg::lines(
            &format!("{}: daily runtime of successful runs", dag.dag_id),
            "runtime",
            Unit::Duration,
            &data.days,
            &[
                Series {
                    name: "median",
                    color: BLUE,
                    values: per_day(&data.days, dag, |d| d.runtime_median),
                },
                Series {
                    name: "p95",
                    color: RED,
                    values: per_day(&data.days, dag, |d| d.runtime_p95),
                },
            ],
        ));
        page.push_str("</div>");
        if !dag.failed_runs.is_empty() {
            page.push_str(r#"<h4>Failures</h4><table><tr><th>day</th><th>run</th><th>started</th><th>ended</th></tr>"#);
            for f in &dag.failed_runs {
                let _ = write!(
                    page,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    f.day,
                    escape(&f.run_id),
                    when(f.start_date),
                    when(f.end_date)
                );
            }
            page.push_str("</table>");
        }
        if !dag.slowest.is_empty() {
            page.push_str(r#"<h4>Slowest tasks <span class="muted">(p95 of successful tries, against the days before)</span></h4><table><tr><th>task</th><th class="num">tries</th><th class="num">p95</th><th class="num">before</th><th class="num">change</th></tr>"#);
            for t in &dag.slowest {
                let _ = write!(
                    page,
                    r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                    escape(&t.task_id),
                    t.count,
                    seconds(t.value),
                    seconds(t.previous),
                    change_ratio(t.value, t.previous, false)
                );
            }
            page.push_str("</table>");
        }
        if !dag.flakiest.is_empty() {
            page.push_str(r#"<h4>Flakiest tasks <span class="muted">(share of instances that needed a retry)</span></h4><table><tr><th>task</th><th class="num">instances</th><th class="num">retried</th><th class="num">time in retried tries</th></tr>"#);
            for t in &dag.flakiest {
                let _ = write!(
                    page,
                    r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                    escape(&t.task_id),
                    t.count,
                    percent(t.value),
                    seconds(t.retry_seconds)
                );
            }
            page.push_str("</table>");
        }
        if let Some(d) = &dag.delays {
            let _ = write!(
                page,
                r#"<h4>Where the time went <span class="muted">({} runs; median of the days' medians, and the worst day's p95)</span></h4><table><tr><th>delay</th><th class="num">median</th><th class="num">p95</th></tr>"#,
                d.runs
            );
            for (name, (median, p95)) in [
                ("queued before starting (start − queued)", d.queue),
                ("scheduling delay (start − data interval end)", d.schedule),
                (
                    "first task waited (first task start − run start)",
                    d.first_task,
                ),
                ("landing (end − data interval end)", d.landing),
            ] {
                let _ = write!(
                    page,
                    r#"<tr><td>{name}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                    seconds(median),
                    seconds(p95)
                );
            }
            page.push_str("</table>");
        }
        page.push_str("</article>\n");
    }
    page.push_str("</section>\n");
}

fn validation(page: &mut String, data: &ReportData) {
    page.push_str("<section><h2>Validation</h2>");
    if data.validation_days.is_empty() {
        page.push_str(r#"<p class="muted">No validation test ran in the period.</p>"#);
    } else {
        let pick = |f: &dyn Fn(&super::ValidationDay) -> f64| -> Vec<Option<f64>> {
            data.days
                .iter()
                .map(|day| data.validation_days.iter().find(|v| v.day == *day).map(f))
                .collect()
        };
        page.push_str(r#"<div class="charts">"#);
        page.push_str(&svg::bars(
            "validation test executions per day",
            "executions",
            Unit::Count,
            &data.days,
            &pick(&|v| v.executions as f64),
            GREY,
        ));
        page.push_str(&svg::lines(
            "validation pass rate per day",
            "pass rate",
            Unit::Percent,
            &data.days,
            &[Series {
                name: "passed",
                color: GREEN,
                values: pick(&|v| {
                    if v.executions > 0 {
                        v.passed as f64 / v.executions as f64
                    } else {
                        0.0
                    }
                }),
            }],
        ));
        page.push_str("</div>");
        let (failed, errors): (i64, i64) = data
            .validation_days
            .iter()
            .fold((0, 0), |(f, e), v| (f + v.failed, e + v.errors));
        let _ = write!(
            page,
            "<p>{failed} failed and {errors} could not run in the period.</p>"
        );
    }
    if !data.failing_tests.is_empty() {
        page.push_str(r#"<h3>Failing tests <span class="muted">(their latest failure)</span></h3><table><tr><th>test</th><th>severity</th><th>outcome</th><th>last values</th><th>when</th><th class="num">times</th><th>DAG run</th></tr>"#);
        for t in &data.failing_tests {
            let values = match &t.error {
                Some(e) => format!("could not run: {}", escape(e)),
                None => format!(
                    "{} <em>{}</em> {}",
                    escape(t.value_1.as_deref().unwrap_or("NULL")),
                    escape(&t.operator),
                    escape(t.value_2.as_deref().unwrap_or("NULL"))
                ),
            };
            let run = t
                .airflow_run
                .as_ref()
                .map(|(d, r)| format!("{} {}", escape(d), escape(r)))
                .unwrap_or_else(|| "–".into());
            let _ = write!(
                page,
                r#"<tr><td>{}</td><td>{}</td><td class="worse">{}</td><td>{values}</td><td>{}</td><td class="num">{}</td><td>{run}</td></tr>"#,
                escape(&t.name),
                escape(&t.severity),
                escape(&t.outcome),
                when(Some(t.at)),
                t.times
            );
        }
        page.push_str("</table>");
    }
    page.push_str("</section>\n");
}

fn health(page: &mut String, data: &ReportData) {
    let h = &data.health;
    let _ = write!(
        page,
        r#"<section><h2>pipewatch's health</h2><p>Last successful load: <strong>{}</strong>; last successful transform: <strong>{}</strong>.</p>"#,
        when(h.last_load),
        when(h.last_transform)
    );
    if h.instances.is_empty() {
        page.push_str(r#"<p class="muted">No Airflow instance has been loaded yet.</p>"#);
    } else {
        page.push_str(r#"<table><tr><th>Airflow instance</th><th>newest loaded read of Airflow</th><th class="num">lag</th><th>latest reconcile</th></tr>"#);
        for i in &h.instances {
            let reconcile = match &i.reconcile {
                None => "never run".to_string(),
                Some((outcome, at, message)) => {
                    let class = if outcome == "succeeded" {
                        "better"
                    } else {
                        "worse"
                    };
                    format!(
                        r#"<span class="{class}">{}</span> at {}{}"#,
                        escape(outcome),
                        when(*at),
                        message
                            .as_deref()
                            .map(|m| format!(": {}", escape(m)))
                            .unwrap_or_default()
                    )
                }
            };
            let _ = write!(
                page,
                r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td>{reconcile}</td></tr>"#,
                escape(&i.instance),
                when(i.last_read),
                seconds(i.lag_seconds)
            );
        }
        page.push_str("</table>");
    }
    page.push_str("</section>\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            escape(r#"<a href="x">Tom & 'Jerry'</a>"#),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; &#39;Jerry&#39;&lt;/a&gt;"
        );
    }

    #[test]
    fn an_empty_period_says_no_data_yet_and_loads_nothing() {
        let data = ReportData {
            generated_at: Utc::now(),
            time_zone: "Europe/Berlin".into(),
            instance: None,
            days: vec![NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()],
            current: Period::default(),
            previous: Period::default(),
            dags: Vec::new(),
            validation_days: Vec::new(),
            failing_tests: Vec::new(),
            health: Default::default(),
            open_alerts: Vec::new(),
        };
        let page = render(&data);
        assert!(page.contains("No data yet"));
        assert!(page.contains("Europe/Berlin"));
        for external in ["<script", "<link", "@import", "url(", "src="] {
            assert!(!page.contains(external), "{external} in the page");
        }
    }
}
