//! The ledger: turns findings into alerts, once. In one transaction it counts each subject's
//! consecutive breaches (`alert_state`; a subject that did not breach and has nothing counted
//! and nothing open is left alone), opens an alert when a breach has held for the rule's
//! `consecutive_breaches` and no cooldown runs, refreshes an open alert's numbers, resolves an
//! alert whose condition cleared (starting its cooldown), and resolves open alerts nothing
//! judges any more (rule switched off, DAG or test gone). `alert_history` holds at most one open
//! alert per rule and subject. Also lists the alerts for `pipewatch alerts`.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::Client;
use uuid::Uuid;

use super::error::{AlertError, sql_error};
use super::rule::Finding;
use crate::context::RunContext;

const COUNT_BREACH_SQL: &str = include_str!("../../sql/alerts/count_breach.sql");
const OPEN_SQL: &str = include_str!("../../sql/alerts/open.sql");
const REFRESH_SQL: &str = include_str!("../../sql/alerts/refresh.sql");
const RESOLVE_SQL: &str = include_str!("../../sql/alerts/resolve.sql");
const OPEN_ALERTS_SQL: &str = include_str!("../../sql/alerts/open_alerts.sql");
const LIST_SQL: &str = include_str!("../../sql/alerts/list.sql");
const ACTIVE_SUBJECTS_SQL: &str = include_str!("../../sql/alerts/active_subjects.sql");

/// What one evaluation did.
#[derive(Debug, Clone, Default)]
pub struct AlertReport {
    /// Rules judged (subjects times rules).
    pub judged: usize,
    /// Alerts opened now: (rule, instance, subject, message).
    pub opened: Vec<(String, String, String, String)>,
    /// Alerts resolved now: (rule, instance, subject).
    pub resolved: Vec<(String, String, String)>,
    /// Notices posted (one per alert transition and route).
    pub notified: usize,
    /// Messages posted (a route's notices go in one digest).
    pub messages: usize,
    /// Notices that could not be delivered (posted by the next evaluation).
    pub undelivered: usize,
    /// Notices no route takes while there is no default webhook (kept for one).
    pub unrouted: usize,
    /// No webhook is configured: openings and resolutions are recorded, never posted.
    pub no_webhook: bool,
}

/// Records every finding in one transaction, adding what opened and resolved to `report`.
pub async fn record(
    warehouse: &mut Client,
    findings: &[Finding],
    ctx: &RunContext,
    report: &mut AlertReport,
) -> Result<(), AlertError> {
    let tx = warehouse
        .transaction()
        .await
        .map_err(sql_error("start the alert transaction"))?;
    let mut evaluated = BTreeSet::new();
    // A subject that did not breach and has no breaches counted and no open alert has nothing
    // to record: it is skipped (one statement fewer per healthy DAG and rule).
    let active: BTreeSet<(String, String, String)> = tx
        .query(ACTIVE_SUBJECTS_SQL, &[])
        .await
        .map_err(sql_error("read the subjects with breaches or open alerts"))?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    for f in findings {
        let rule = f.rule;
        let key = (rule.to_string(), f.instance.clone(), f.subject.clone());
        if !f.breached && !active.contains(&key) {
            evaluated.insert(key);
            continue;
        }
        evaluated.insert(key);
        let state = tx
            .query_one(
                COUNT_BREACH_SQL,
                &[&rule, &f.instance, &f.subject, &f.breached],
            )
            .await
            .map_err(sql_error("count the breaches"))?;
        let breaches: i32 = state.get("consecutive_breaches");
        let cooling: Option<bool> = state.get("cooling_down");
        let details = f.details.to_string();
        if f.breached {
            let refreshed = tx
                .execute(
                    REFRESH_SQL,
                    &[&rule, &f.instance, &f.subject, &f.message, &details],
                )
                .await
                .map_err(sql_error("refresh an open alert"))?;
            if refreshed == 0 && breaches as u64 >= f.consecutive && cooling != Some(true) {
                let opened = tx
                    .query_opt(
                        OPEN_SQL,
                        &[
                            &Uuid::now_v7(),
                            &rule,
                            &f.instance,
                            &f.subject,
                            &f.day,
                            &ctx.run_id,
                            &f.message,
                            &details,
                        ],
                    )
                    .await
                    .map_err(sql_error("open an alert"))?;
                if opened.is_some() {
                    report.opened.push((
                        rule.to_string(),
                        f.instance.clone(),
                        f.subject.clone(),
                        f.message.clone(),
                    ));
                }
            }
        } else if tx
            .query_opt(
                RESOLVE_SQL,
                &[
                    &rule,
                    &f.instance,
                    &f.subject,
                    &ctx.run_id,
                    &(f.cooldown_minutes as i32),
                ],
            )
            .await
            .map_err(sql_error("resolve an alert"))?
            .is_some()
        {
            report
                .resolved
                .push((rule.to_string(), f.instance.clone(), f.subject.clone()));
        }
    }
    // Open alerts nothing judged any more (rule switched off, DAG or test gone) are resolved.
    for row in tx
        .query(OPEN_ALERTS_SQL, &[])
        .await
        .map_err(sql_error("read the open alerts"))?
    {
        let key: (String, String, String) = (row.get(0), row.get(1), row.get(2));
        if !evaluated.contains(&key)
            && tx
                .query_opt(RESOLVE_SQL, &[&key.0, &key.1, &key.2, &ctx.run_id, &0i32])
                .await
                .map_err(sql_error("resolve an alert no longer judged"))?
                .is_some()
        {
            report.resolved.push(key);
        }
    }
    tx.commit()
        .await
        .map_err(sql_error("commit the alert transaction"))
}

/// One alert as `pipewatch alerts` lists it.
#[derive(Debug, Clone)]
pub struct ListedAlert {
    /// Its id.
    pub id: Uuid,
    /// The rule.
    pub rule: String,
    /// The instance.
    pub instance: String,
    /// The DAG or test.
    pub subject: String,
    /// The day.
    pub day: NaiveDate,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// What was found.
    pub message: String,
    /// The numbers as JSON.
    pub details: serde_json::Value,
}

/// The open alerts and, unless `only_open`, those resolved in the last 30 days.
pub async fn list(warehouse: &Client, only_open: bool) -> Result<Vec<ListedAlert>, AlertError> {
    Ok(warehouse
        .query(LIST_SQL, &[&only_open])
        .await
        .map_err(sql_error("list the alerts"))?
        .iter()
        .map(|r| ListedAlert {
            id: r.get("alert_id"),
            rule: r.get("rule"),
            instance: r.get("airflow_instance"),
            subject: r.get("subject"),
            day: r.get("day"),
            opened_at: r.get("opened_at"),
            resolved_at: r.get("resolved_at"),
            message: r.get("message"),
            details: serde_json::from_str(r.get("details")).unwrap_or_default(),
        })
        .collect())
}
