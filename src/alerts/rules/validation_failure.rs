//! Validation failure: a test's latest execution failed or could not run
//! (`validation_failures = true`).

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::alerts::error::{AlertError, sql_error};
use crate::alerts::rule::{AlertRule, Finding, Judging, Subject};
use crate::config::{AlertRules, AlertSettings};

const LATEST_VALIDATION_SQL: &str = include_str!("../../../sql/alerts/latest_validation.sql");

/// The rule.
pub struct ValidationFailure;

impl AlertRule for ValidationFailure {
    fn name(&self) -> &'static str {
        "validation_failure"
    }

    fn title(&self) -> &'static str {
        "validation test failing"
    }

    fn subject(&self) -> Subject {
        Subject::ValidationTest
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        alerts.validation_failures
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move {
            let mut findings = Vec::new();
            if !cx.alerts.validation_failures {
                return Ok(findings);
            }
            let rules = cx.alerts.rules.over(&AlertRules::default());
            for r in cx
                .warehouse
                .query(LATEST_VALIDATION_SQL, &[])
                .await
                .map_err(sql_error("read the latest validation results"))?
            {
                let outcome: String = r.get("outcome");
                let name: String = r.get("test_name");
                let database: String = r.get("target_database");
                let at: DateTime<Utc> = r.get("test_run_at");
                let error: Option<String> = r.get("error_message");
                let values = match &error {
                    Some(e) => format!("could not run: {e}"),
                    None => format!(
                        "{} {} {}",
                        r.get::<_, Option<String>>("script_1_value")
                            .as_deref()
                            .unwrap_or("NULL"),
                        r.get::<_, String>("comp_operator"),
                        r.get::<_, Option<String>>("script_2_value")
                            .as_deref()
                            .unwrap_or("NULL")
                    ),
                };
                let airflow: Option<String> = r.get("airflow_dag_id");
                let run: Option<String> = r.get("airflow_run_id");
                let message = format!(
                    "latest execution ({}, severity {}) {outcome}: {values}{}",
                    at.format("%Y-%m-%d %H:%M UTC"),
                    r.get::<_, String>("severity"),
                    match (&airflow, &run) {
                        (Some(d), Some(run)) => format!("; in DAG {d}, run {run}"),
                        _ => String::new(),
                    }
                );
                let details = serde_json::json!({"outcome": outcome, "at": at.to_rfc3339(), "values": values});
                findings.push(Judging::finding(
                    self,
                    &database,
                    &name,
                    cx.today,
                    &rules,
                    (outcome != "passed", message, details),
                ));
            }
            Ok(findings)
        })
    }
}
