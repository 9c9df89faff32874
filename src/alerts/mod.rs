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
//! The run-history rules, on in any `[alerts]` section unless switched off, judge each DAG
//! against its own recent runs (read once, [`rule::Judging`]), one module each under `rules/`:
//! - success-rate drop: a stretch of recent runs failed more often than the DAG's own failure
//!   rate makes likely (a binomial tail, counted over every stretch it could pick);
//! - runtime regression: the newest successful runs (the last 5, or for a DAG with few runs a
//!   day the shorter of its last 2) took longer than the baseline median plus the larger of
//!   `runtime_mad_multiple` MADs and `runtime_min_increase`;
//! - freshness: no run started for longer than the DAG's rhythm allows (`auto`), or no
//!   successful run within `freshness_hours`;
//! - landing deadline (off unless set): the newest day whose deadline has passed has no
//!   successful run;
//! - validation failure: a test's latest execution failed or could not run
//!   (`validation_failures = true`).
//!
//! They open on what happened since the previous evaluation (`alert_evaluation`) and, while an
//! alert is open, judge the last day against the baseline they opened with. A DAG's
//! run-history and schedule rules make one incident ([`ledger::INCIDENT_RULES`]).
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
