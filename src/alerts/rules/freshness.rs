//! Freshness: the newest successful run ended more than `freshness_hours` ago (DAGs with runs in
//! the last 30 days).

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::alerts::error::{AlertError, sql_error};
use crate::alerts::rule::{AlertRule, Finding, Judgement, Judging, any_sets};
use crate::config::{AlertRules, AlertSettings};
use crate::format::duration;

const LAST_SUCCESS_SQL: &str = include_str!("../../../sql/alerts/last_success.sql");

/// The rule.
pub struct Freshness;

impl AlertRule for Freshness {
    fn name(&self) -> &'static str {
        "freshness"
    }

    fn title(&self) -> &'static str {
        "no fresh successful run"
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        any_sets(alerts, |r| r.freshness_hours)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move {
            let mut findings = Vec::new();
            let now = Utc::now();
            for r in cx
                .warehouse
                .query(LAST_SUCCESS_SQL, &[])
                .await
                .map_err(sql_error("read the newest successful runs"))?
            {
                let (instance, dag): (String, String) =
                    (r.get("airflow_instance"), r.get("dag_id"));
                let Some(rules) = cx.rules_for(&instance, &dag) else {
                    continue;
                };
                let last: Option<DateTime<Utc>> = r.get("last_success_at");
                let run: Option<String> = r.get("last_success_run");
                if let Some(judged) = judge_dag(&rules, last.zip(run), now) {
                    findings.push(Judging::finding(
                        self, &instance, &dag, cx.today, &rules, judged,
                    ));
                }
            }
            Ok(findings)
        })
    }
}

/// Judges one DAG: the newest successful run's end against the allowed age.
fn judge_dag(
    rules: &AlertRules,
    last_success: Option<(DateTime<Utc>, String)>,
    now: DateTime<Utc>,
) -> Option<Judgement> {
    let hours = rules.freshness_hours?;
    let age = last_success
        .as_ref()
        .map(|(at, _)| (now - *at).num_seconds() as f64 / 3600.0);
    let breached = age.is_none_or(|a| a > hours);
    let message = match &last_success {
        Some((at, run)) => format!(
            "the newest successful run ({run}) ended {} ago, at {}; alert after {hours} hours",
            duration(age.unwrap_or(0.0) * 3600.0),
            at.format("%Y-%m-%d %H:%M UTC")
        ),
        None => format!("no successful run in the last 30 days; alert after {hours} hours"),
    };
    let details = serde_json::json!({
        "last_success_at": last_success.as_ref().map(|(at, _)| at.to_rfc3339()),
        "last_success_run": last_success.as_ref().map(|(_, r)| r.clone()),
        "age_hours": age, "freshness_hours": hours,
    });
    Some((breached, message, details))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rule::test_support::rules;

    #[test]
    fn freshness_compares_the_newest_success_with_the_allowed_age() {
        let now = Utc::now();
        let old = Some((now - chrono::Duration::hours(30), "r1".to_string()));
        assert!(judge_dag(&rules(), old, now).unwrap().0);
        let fresh = Some((now - chrono::Duration::hours(2), "r2".to_string()));
        assert!(!judge_dag(&rules(), fresh, now).unwrap().0);
        assert!(judge_dag(&rules(), None, now).unwrap().0);
    }
}
