//! The headline: the period's figures beside the period before, and the open alerts' count.

use std::fmt::Write;

use chrono::{Days, NaiveDate};
use futures_util::future::BoxFuture;

use super::open_alerts::OpenAlerts;
use crate::report::section::{ReportData, ReportError, Scope, Section, sql_error};
use crate::report::text::{change_pp, change_ratio, percent, seconds};

const HEADLINE_SQL: &str = include_str!("../../../sql/report/headline.sql");

/// Headline figures of one period.
#[derive(Debug, Clone, Default)]
pub struct Period {
    /// First day.
    pub from: Option<NaiveDate>,
    /// Last day.
    pub to: Option<NaiveDate>,
    /// Finished (success or failed) runs.
    pub finished_runs: i64,
    /// Successful runs.
    pub successful_runs: i64,
    /// Failed runs.
    pub failed_runs: i64,
    /// Median runtime of successful runs.
    pub runtime_median: Option<f64>,
    /// p95 runtime of successful runs.
    pub runtime_p95: Option<f64>,
    /// Validation test executions.
    pub validation_executions: i64,
    /// Of which passed.
    pub validation_passed: i64,
}

impl Period {
    /// Successful over finished runs.
    pub fn success_rate(&self) -> Option<f64> {
        (self.finished_runs > 0).then(|| self.successful_runs as f64 / self.finished_runs as f64)
    }

    /// Passed over executed validation tests.
    pub fn pass_rate(&self) -> Option<f64> {
        (self.validation_executions > 0)
            .then(|| self.validation_passed as f64 / self.validation_executions as f64)
    }
}

/// The headline figures of the period and of the period before, as long.
#[derive(Debug, Clone, Default)]
pub struct Headline {
    /// The period.
    pub current: Period,
    /// The period before, as long.
    pub previous: Period,
}

/// Reads the section's figures.
pub fn gather<'a>(scope: &'a Scope<'a>) -> BoxFuture<'a, Result<Box<dyn Section>, ReportError>> {
    Box::pin(async move {
        let s = *scope;
        let previous_to = s.from - Days::new(1);
        let previous_from = previous_to - Days::new(u64::from(s.days) - 1);
        let current = period(&s, s.from, s.to).await?;
        let previous = period(&s, previous_from, previous_to).await?;
        Ok(Box::new(Headline { current, previous }) as Box<dyn Section>)
    })
}

async fn period(s: &Scope<'_>, from: NaiveDate, to: NaiveDate) -> Result<Period, ReportError> {
    let (instances, dag_ids) = s.dag_arrays();
    let r = s
        .client
        .query_one(
            HEADLINE_SQL,
            &[&s.instance, &from, &to, &s.time_zone, &instances, &dag_ids],
        )
        .await
        .map_err(sql_error("compute the headline figures"))?;
    Ok(Period {
        from: Some(from),
        to: Some(to),
        finished_runs: r.get("finished_runs"),
        successful_runs: r.get("successful_runs"),
        failed_runs: r.get("failed_runs"),
        runtime_median: r.get("runtime_median_seconds"),
        runtime_p95: r.get("runtime_p95_seconds"),
        validation_executions: r.get("validation_executions"),
        validation_passed: r.get("validation_passed"),
    })
}

impl Section for Headline {
    fn render(&self, page: &mut String, data: &ReportData) {
        let open_alerts = data.section::<OpenAlerts>().map_or(0, |a| a.alerts.len());
        headline(page, &self.current, &self.previous, open_alerts);
    }
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
