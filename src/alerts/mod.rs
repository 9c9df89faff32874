//! Alerts: rules over the warehouse's figures, a ledger that opens each alert once and resolves
//! it when its condition clears, and a Slack-compatible notice per transition, sent to the routes
//! that take it ([`routing`]) as one digest per route and evaluation.
//!
//! [`evaluate`] reads what the rules share ([`rule::Judging`]), judges every rule of
//! [`rules::ALL`] for every DAG (and every validation test) with that DAG's rules
//! ([`crate::config::AlertSettings::rules_for`]), and records the findings in one transaction
//! ([`ledger`]): `alert_state` counts consecutive breaches and holds the cooldown;
//! `alert_history` gets one row per rule, instance, subject and day. Notices ([`notices`]) are
//! posted after the commit, and marked per route (`alert_notice`); one that could not be
//! delivered to a route is posted to it by the next evaluation. `run` evaluates after its transform, under the run lock.
//!
//! The rules (each on when its threshold is set in `[alerts]` or a DAG's `[alerts_<label>]`),
//! one module each under `rules/`:
//! - success-rate drop: today's finished runs (at least `success_rate_min_runs`) succeeded less
//!   often than over the `success_rate_baseline_days` before, by more than `success_rate_drop`;
//! - landing deadline: the newest day whose deadline (`landing_deadline`, local time of the next
//!   day) has passed has no successful run (DAGs with runs in the week before);
//! - runtime regression: the median of the newest `runtime_recent_runs` successful runs is
//!   above the baseline median plus `runtime_mad_multiple` median absolute deviations (at least
//!   one second), the baseline being the successful runs of the `runtime_baseline_days` before
//!   them (at least `runtime_baseline_min_runs`);
//! - freshness: the newest successful run ended more than `freshness_hours` ago (DAGs with runs
//!   in the last 30 days);
//! - validation failure: a test's latest execution failed or could not run
//!   (`validation_failures = true`).
//!
//! And the DAG catalogue's rules, on unless switched off (`paused` off unless switched on),
//! judged on the last catalogue reading (view `dag_schedule_status`, `import_error_history`):
//! - scheduler down: an instance with DAGs to schedule has no fresh scheduler heartbeat (one
//!   alert per instance);
//! - overdue: a DAG's next run is due for longer than its grace, scheduler up or down;
//! - blocked: no new run may be created because a run has been queued or running for
//!   `blocked_minutes`;
//! - paused: a DAG that ran on schedule within `paused_ran_within_days` was paused;
//! - import error: a DAG file has failed to import for `import_error_minutes` (one alert per
//!   file);
//! - pool empty: a pool has 0 slots while tasks wait for it (one alert per pool).

mod error;
mod ledger;
mod notices;
pub mod routing;
pub mod rule;
pub mod rules;

use chrono::NaiveDate;
use tokio_postgres::Client;

use crate::config::{AlertSettings, Settings};
use crate::context::RunContext;

pub use self::error::AlertError;
pub use self::ledger::{AlertReport, ListedAlert, list};
pub use self::rule::Finding;

/// Evaluates every rule and records the judgements; then posts the notices.
pub async fn evaluate(
    warehouse: &mut Client,
    settings: &Settings,
    alerts: &AlertSettings,
    today: NaiveDate,
    ctx: &RunContext,
) -> Result<AlertReport, AlertError> {
    let findings = judge(warehouse, settings, alerts, today).await?;
    let mut report = AlertReport {
        judged: findings.len(),
        ..AlertReport::default()
    };
    ledger::record(warehouse, &findings, ctx, &mut report).await?;
    notices::post(warehouse, settings, ctx, &mut report).await?;
    for (rule, instance, subject, message) in &report.opened {
        tracing::warn!(rule = %rule, instance = %instance, subject = %subject, "Alert opened: {message}");
    }
    for (rule, instance, subject) in &report.resolved {
        tracing::info!(rule = %rule, instance = %instance, subject = %subject, "Alert resolved.");
    }
    Ok(report)
}

/// Reads what the rules share and judges every rule for every subject.
async fn judge(
    warehouse: &Client,
    settings: &Settings,
    alerts: &AlertSettings,
    today: NaiveDate,
) -> Result<Vec<Finding>, AlertError> {
    let cx = rule::Judging::read(warehouse, settings, alerts, today).await?;
    let mut findings = Vec::new();
    for rule in rules::ALL {
        findings.extend(rule.judge(&cx).await?);
    }
    Ok(findings)
}
