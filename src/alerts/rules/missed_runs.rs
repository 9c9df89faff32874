//! Missed runs: the DAG's schedule called for runs in the last `missed_runs_hours` (default 24)
//! that never came (`dag_schedule_missed`, computed by the transform from the catalogue: only
//! while the DAG was unpaused and present, once due by more than 10 minutes). One alert per
//! episode: it stays open while missing runs remain in the window and resolves when the window
//! holds none. On by default (`missed_runs = false` turns it off, in `[alerts]` or a DAG's
//! section).

use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;

use crate::alerts::error::{AlertError, sql_error};
use crate::alerts::rule::{AlertRule, Finding, Judgement, Judging, on_unless_off, owners_clause};
use crate::config::{AlertRules, AlertSettings};

const MISSED_RUNS_SQL: &str = include_str!("../../../sql/alerts/missed_runs.sql");

/// The rule.
pub struct MissedRuns;

impl AlertRule for MissedRuns {
    fn name(&self) -> &'static str {
        "missed_runs"
    }

    fn title(&self) -> &'static str {
        "scheduled runs missing"
    }

    fn on_by_default(&self) -> bool {
        true
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        on_unless_off(alerts, |r| r.missed_runs)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move {
            let hours = cx
                .longest(|r| r.missed_runs_hours)
                .max(crate::config::DEFAULT_MISSED_RUNS_HOURS) as i32;
            let mut findings = Vec::new();
            for r in cx
                .warehouse
                .query(MISSED_RUNS_SQL, &[&hours])
                .await
                .map_err(sql_error("read the missing runs (dag_schedule_missed)"))?
            {
                let instance: String = r.get("airflow_instance");
                let dag_id: String = r.get("dag_id");
                let Some(rules) = cx.rules_for(&instance, &dag_id) else {
                    continue;
                };
                let owners: Vec<String> = r.get("owners");
                let Some(judged) = judge_dag(
                    &rules,
                    r.get("judged_until"),
                    &r.get::<_, Vec<DateTime<Utc>>>("missing_due_at"),
                    &owners,
                ) else {
                    continue;
                };
                findings.push(Judging::finding(
                    self, &instance, &dag_id, cx.today, &rules, judged,
                ));
            }
            Ok(findings)
        })
    }
}

/// Judges one DAG from the due times of its missing runs (sorted), None when the rule is off.
fn judge_dag(
    rules: &AlertRules,
    judged_until: DateTime<Utc>,
    missing: &[DateTime<Utc>],
    owners: &[String],
) -> Option<Judgement> {
    if rules.missed_runs != Some(true) {
        return None;
    }
    let hours = rules.missed_runs_hours.unwrap_or(24);
    let from = judged_until - Duration::hours(hours as i64);
    let missing: Vec<&DateTime<Utc>> = missing.iter().filter(|t| **t > from).collect();
    let breached = !missing.is_empty();
    let fmt = |t: &DateTime<Utc>| t.format("%Y-%m-%d %H:%M").to_string();
    let message = match (missing.first(), missing.last()) {
        (Some(first), Some(last)) => format!(
            "{} the schedule called for in the {hours} hours to {} UTC never came (due {}{}){}",
            crate::format::plural(missing.len() as u64, "run", "runs"),
            fmt(&judged_until),
            fmt(first),
            if missing.len() > 1 {
                format!(" to {}", fmt(last))
            } else {
                String::new()
            },
            owners_clause(owners)
        ),
        _ => format!(
            "every run the schedule called for in the {hours} hours to {} UTC came",
            fmt(&judged_until)
        ),
    };
    let details = serde_json::json!({
        "missing_runs": missing.len(),
        "first_missing_due_at": missing.first().map(|t| t.to_rfc3339()),
        "last_missing_due_at": missing.last().map(|t| t.to_rfc3339()),
        "judged_until": judged_until.to_rfc3339(),
        "missed_runs_hours": hours,
        "owners": owners,
    });
    Some((breached, message, details))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_runs_in_the_window_alert_older_ones_do_not() {
        let rules = AlertRules {
            missed_runs: Some(true),
            missed_runs_hours: Some(24),
            ..AlertRules::default()
        };
        let now: DateTime<Utc> = "2026-04-02T12:00:00Z".parse().unwrap();
        let old = now - Duration::hours(30);
        let recent = [now - Duration::hours(3), now - Duration::hours(2)];
        let (breached, message, details) = judge_dag(
            &rules,
            now,
            &[old, recent[0], recent[1]],
            &["data-eng".into()],
        )
        .unwrap();
        assert!(breached);
        assert_eq!(details["missing_runs"], 2);
        assert!(
            message.starts_with("2 runs the schedule called for in the 24 hours"),
            "{message}"
        );
        assert!(message.contains("owners data-eng"), "{message}");
        assert!(!judge_dag(&rules, now, &[old], &[]).unwrap().0);
        assert!(judge_dag(&AlertRules::default(), now, &recent, &[]).is_none());
    }
}
