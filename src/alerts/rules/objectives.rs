//! What the three objective rules share: one row per configured objective and DAG judged in the
//! last 8 days (`sql/alerts/objectives.sql`), and the finding's subject, "<dag_id> /
//! <objective>" with the DAG and the objective in the details (routes and links read the DAG
//! from there).

use chrono::{DateTime, Utc};

use crate::alerts::error::{AlertError, sql_error};
use crate::alerts::rule::{AlertRule, Finding, Judgement, Judging};
use crate::config::AlertRules;

const OBJECTIVES_SQL: &str = include_str!("../../../sql/alerts/objectives.sql");

/// One objective and DAG, as the rules judge it.
#[derive(Debug, Clone)]
pub struct Promised {
    pub objective: String,
    pub instance: String,
    pub dag_id: String,
    pub last_status: Option<String>,
    pub last_due_at: Option<DateTime<Utc>>,
    pub last_landed_at: Option<DateTime<Utc>>,
    pub last_minutes_late: Option<f64>,
    pub last_note: Option<String>,
    pub last_run_id: Option<String>,
    pub risk_due_at: Option<DateTime<Utc>>,
    pub risk_expected_at: Option<DateTime<Utc>>,
    pub risk_run_id: Option<String>,
    pub risk_note: Option<String>,
    pub due_28d: Option<i64>,
    pub missed_28d: Option<i64>,
    pub error_budget_left: Option<f64>,
    pub compliance_28d: Option<f64>,
    pub target: Option<f64>,
    pub owners: Vec<String>,
}

/// Every configured objective's DAGs judged lately.
pub async fn read(cx: &Judging<'_>) -> Result<Vec<Promised>, AlertError> {
    let configured: Vec<&str> = cx
        .settings
        .objectives
        .iter()
        .map(|o| o.label.as_str())
        .collect();
    if configured.is_empty() {
        return Ok(Vec::new());
    }
    Ok(cx
        .warehouse
        .query(OBJECTIVES_SQL, &[])
        .await
        .map_err(sql_error("read the objectives' judgements (objective_run)"))?
        .iter()
        .map(|r| Promised {
            objective: r.get("objective"),
            instance: r.get("airflow_instance"),
            dag_id: r.get("dag_id"),
            last_status: r.get("last_status"),
            last_due_at: r.get("last_due_at"),
            last_landed_at: r.get("last_landed_at"),
            last_minutes_late: r.get("last_minutes_late"),
            last_note: r.get("last_note"),
            last_run_id: r.get("last_run_id"),
            risk_due_at: r.get("risk_due_at"),
            risk_expected_at: r.get("risk_expected_at"),
            risk_run_id: r.get("risk_run_id"),
            risk_note: r.get("risk_note"),
            due_28d: r.get("due_28d"),
            missed_28d: r.get("missed_28d"),
            error_budget_left: r.get("error_budget_left"),
            compliance_28d: r.get("compliance_28d"),
            target: r.get("target"),
            owners: r.get("owners"),
        })
        .filter(|p| configured.contains(&p.objective.as_str()))
        .collect())
}

/// One finding of `rule` per objective and DAG whose alerts are on and that `judge` judges.
pub async fn judge_each(
    rule: &dyn AlertRule,
    cx: &Judging<'_>,
    judge: impl Fn(&AlertRules, &Promised) -> Option<Judgement>,
) -> Result<Vec<Finding>, AlertError> {
    Ok(read(cx)
        .await?
        .iter()
        .filter_map(|p| {
            let rules = cx.rules_for(&p.instance, &p.dag_id)?;
            let (breached, message, mut details) = judge(&rules, p)?;
            details["dag_id"] = p.dag_id.clone().into();
            details["objective"] = p.objective.clone().into();
            Some(Judging::finding(
                rule,
                &p.instance,
                &format!("{} / {}", p.dag_id, p.objective),
                cx.today,
                &rules,
                (breached, message, details),
            ))
        })
        .collect())
}

/// "06:00 UTC on 2026-12-07".
pub fn when(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%d %H:%M UTC").to_string()
}
