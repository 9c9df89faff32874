//! The ledger: turns findings into alerts, once. In one transaction it counts each subject's
//! consecutive breaches (`alert_state`; a subject that did not breach and has nothing counted
//! and nothing open is left alone), opens an alert when a breach has held for the rule's
//! `consecutive_breaches` and no cooldown runs, refreshes an open alert's numbers, resolves an
//! alert whose condition cleared (starting its cooldown), and resolves open alerts nothing
//! judges any more (rule switched off, DAG or test gone). `alert_history` holds at most one open
//! alert per rule and subject. Also lists the alerts for `pipewatch alerts`.

use std::collections::{BTreeMap, BTreeSet};

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
const RECORD_EVALUATION_SQL: &str = include_str!("../../sql/alerts/record_evaluation.sql");

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

/// The DAG rules whose alerts make one incident per DAG: while one of them has an alert open
/// for a DAG, the others that breach for it add their names to it instead of opening their own
/// (a run that never came is one alert, not a freshness, a missed-runs and an overdue alert),
/// and it stays open while any of them breaches. When several breach at once, the first in
/// this order opens it: the catalogue's facts (the schedule's own slots, the scheduler's state)
/// before what the DAG's history suggests.
pub const INCIDENT_RULES: &[&str] = &[
    "missed_runs",
    "overdue",
    "blocked",
    "landing_deadline",
    "success_rate_drop",
    "runtime_regression",
    "freshness",
];

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
    tx.execute(RECORD_EVALUATION_SQL, &[&ctx.run_id])
        .await
        .map_err(sql_error("record the evaluation (alert_evaluation)"))?;
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
    let open: Vec<(String, String, String)> = tx
        .query(OPEN_ALERTS_SQL, &[])
        .await
        .map_err(sql_error("read the open alerts"))?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    // The incidents: a DAG's findings of the incident rules, in the order of the rules.
    let mut incidents: BTreeMap<(&str, &str), Vec<&Finding>> = BTreeMap::new();
    let mut ledger = Ledger {
        tx: &tx,
        ctx,
        report,
    };
    for f in findings {
        let key = (f.rule.to_string(), f.instance.clone(), f.subject.clone());
        let counted = f.breached || active.contains(&key);
        evaluated.insert(key);
        if INCIDENT_RULES.contains(&f.rule) {
            incidents
                .entry((f.instance.as_str(), f.subject.as_str()))
                .or_default()
                .push(f);
        } else if counted {
            let (breaches, cooling) = ledger.count(f).await?;
            if f.breached {
                if !ledger.refresh(f.rule, f, &[]).await?
                    && breaches as u64 >= f.consecutive
                    && !cooling
                {
                    ledger.open(f, &[]).await?;
                }
            } else {
                ledger
                    .resolve(f.rule, &f.instance, &f.subject, f.cooldown_minutes)
                    .await?;
            }
        }
    }
    for ((instance, subject), group) in incidents {
        let mut counts = Vec::new();
        for f in &group {
            let key = (f.rule.to_string(), f.instance.clone(), f.subject.clone());
            counts.push(if f.breached || active.contains(&key) {
                ledger.count(f).await?
            } else {
                (0, false)
            });
        }
        // The incident's findings in the order of INCIDENT_RULES (which rule leads).
        let mut order: Vec<usize> = (0..group.len()).collect();
        order.sort_by_key(|&i| INCIDENT_RULES.iter().position(|r| *r == group[i].rule));
        let group: Vec<&Finding> = order.iter().map(|&i| group[i]).collect();
        let counts: Vec<(i32, bool)> = order.iter().map(|&i| counts[i]).collect();
        let breached: Vec<&Finding> = group.iter().copied().filter(|f| f.breached).collect();
        let agreeing: Vec<&str> = breached.iter().map(|f| f.rule).collect();
        let opened: Vec<&(String, String, String)> = open
            .iter()
            .filter(|(rule, i, s)| {
                i == instance && s == subject && INCIDENT_RULES.contains(&rule.as_str())
            })
            .collect();
        if !opened.is_empty() {
            for (rule, _, _) in opened {
                // Judged here, whether its own rule judged the DAG or not: not resolved below as
                // an alert nothing judges.
                evaluated.insert((rule.clone(), instance.to_string(), subject.to_string()));
                // Its own finding when it breaches, else the first rule that does.
                let own = breached.iter().find(|f| f.rule == rule.as_str());
                match own.or(breached.first()) {
                    Some(f) => {
                        ledger.refresh(rule, f, &agreeing).await?;
                    }
                    None => {
                        let cooldown = group
                            .iter()
                            .find(|f| f.rule == rule.as_str())
                            .map_or(0, |f| f.cooldown_minutes);
                        ledger.resolve(rule, instance, subject, cooldown).await?;
                    }
                }
            }
            continue;
        }
        // None open: the first breaching rule that held long enough and is not cooling down
        // opens the incident.
        if let Some(f) = group
            .iter()
            .zip(&counts)
            .find(|(f, (breaches, cooling))| {
                f.breached && *breaches as u64 >= f.consecutive && !cooling
            })
            .map(|(f, _)| *f)
        {
            ledger.open(f, &agreeing).await?;
        }
    }
    // Open alerts nothing judged any more (rule switched off, DAG or test gone) are resolved.
    for key in open {
        if !evaluated.contains(&key) {
            ledger.resolve(&key.0, &key.1, &key.2, 0).await?;
        }
    }
    tx.commit()
        .await
        .map_err(sql_error("commit the alert transaction"))
}

/// The statements of one evaluation's transaction.
struct Ledger<'a, 'r> {
    tx: &'a tokio_postgres::Transaction<'a>,
    ctx: &'a RunContext,
    report: &'r mut AlertReport,
}

impl Ledger<'_, '_> {
    /// Counts a finding's consecutive breaches: (breaches now, cooling down).
    async fn count(&self, f: &Finding) -> Result<(i32, bool), AlertError> {
        let state = self
            .tx
            .query_one(
                COUNT_BREACH_SQL,
                &[&f.rule, &f.instance, &f.subject, &f.breached],
            )
            .await
            .map_err(sql_error("count the breaches"))?;
        Ok((
            state.get("consecutive_breaches"),
            state.get::<_, Option<bool>>("cooling_down") == Some(true),
        ))
    }

    /// Keeps the open alert of `rule` for the finding's subject with the finding's numbers (and
    /// the other rules that agree); false when none is open.
    async fn refresh(
        &self,
        rule: &str,
        f: &Finding,
        agreeing: &[&str],
    ) -> Result<bool, AlertError> {
        let (message, details) = with_agreeing(f, rule, agreeing);
        Ok(self
            .tx
            .execute(
                REFRESH_SQL,
                &[&rule, &f.instance, &f.subject, &message, &details],
            )
            .await
            .map_err(sql_error("refresh an open alert"))?
            > 0)
    }

    /// Opens an alert for the finding (naming the other rules that agree).
    async fn open(&mut self, f: &Finding, agreeing: &[&str]) -> Result<(), AlertError> {
        let (message, details) = with_agreeing(f, f.rule, agreeing);
        let opened = self
            .tx
            .query_opt(
                OPEN_SQL,
                &[
                    &Uuid::now_v7(),
                    &f.rule,
                    &f.instance,
                    &f.subject,
                    &f.day,
                    &self.ctx.run_id,
                    &message,
                    &details,
                ],
            )
            .await
            .map_err(sql_error("open an alert"))?;
        if opened.is_some() {
            self.report.opened.push((
                f.rule.to_string(),
                f.instance.clone(),
                f.subject.clone(),
                message,
            ));
        }
        Ok(())
    }

    /// Resolves the open alert of a rule and subject, if any, starting its cooldown.
    async fn resolve(
        &mut self,
        rule: &str,
        instance: &str,
        subject: &str,
        cooldown_minutes: u64,
    ) -> Result<(), AlertError> {
        if self
            .tx
            .query_opt(
                RESOLVE_SQL,
                &[
                    &rule,
                    &instance,
                    &subject,
                    &self.ctx.run_id,
                    &(cooldown_minutes as i32),
                ],
            )
            .await
            .map_err(sql_error("resolve an alert"))?
            .is_some()
        {
            self.report.resolved.push((
                rule.to_string(),
                instance.to_string(),
                subject.to_string(),
            ));
        }
        Ok(())
    }
}

/// The message and details of an incident's alert of `rule` from finding `f`: the finding's
/// own when it is the rule's, else marked as the rule that breaches now; the other rules that
/// agree are named in both.
fn with_agreeing(f: &Finding, rule: &str, agreeing: &[&str]) -> (String, String) {
    let mut message = if f.rule == rule {
        f.message.clone()
    } else {
        format!("still breaching by {}: {}", f.rule, f.message)
    };
    let others: Vec<&str> = agreeing.iter().copied().filter(|r| *r != rule).collect();
    if !others.is_empty() {
        message.push_str(&format!("; also breaching: {}", others.join(", ")));
    }
    let mut details = f.details.clone();
    if !agreeing.is_empty()
        && let Some(map) = details.as_object_mut()
    {
        map.insert("agreeing_rules".into(), serde_json::json!(agreeing));
    }
    (message, details.to_string())
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
