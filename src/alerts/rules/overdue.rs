//! Overdue: the scheduler's own condition for creating a DAG's next run holds, and the run is
//! due (`next_dagrun_create_after`) for longer than the grace of view `dag_schedule_status` (10
//! minutes plus the DAG's median schedule delay), whether the scheduler is up or down. Paused,
//! stale, unscheduled and failing-to-import DAGs are never overdue. On by default (`overdue`).

use futures_util::future::BoxFuture;

use crate::alerts::error::AlertError;
use crate::alerts::rule::{
    AlertRule, Finding, Judgement, Judging, Scheduled, on_unless_off, owners_clause,
};
use crate::config::AlertSettings;
use crate::format::duration;

/// The rule.
pub struct Overdue;

impl AlertRule for Overdue {
    fn name(&self) -> &'static str {
        "overdue"
    }

    fn title(&self) -> &'static str {
        "next run overdue"
    }

    fn on_by_default(&self) -> bool {
        true
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        on_unless_off(alerts, |r| r.overdue)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move {
            Ok(cx.judge_scheduled(self, |rules, dag| {
                (rules.overdue == Some(true)).then(|| judge_dag(dag))
            }))
        })
    }
}

/// Judges one DAG.
fn judge_dag(dag: &Scheduled) -> Judgement {
    let late = dag
        .next_run_due_at
        .map(|due| (dag.as_of - due).num_seconds() as f64);
    let mut message = match (dag.next_run_due_at, late) {
        (Some(due), Some(late)) => format!(
            "its next run was due at {} UTC, {} before the reading at {} UTC (grace {})",
            due.format("%Y-%m-%d %H:%M"),
            duration(late.max(0.0)),
            dag.as_of.format("%Y-%m-%d %H:%M"),
            duration(dag.grace_seconds)
        ),
        _ => format!("no next run is due (status {})", dag.status),
    };
    if dag.status == "scheduler_down" {
        message.push_str("; the scheduler is not heartbeating");
    }
    message.push_str(&owners_clause(&dag.owners));
    let details = serde_json::json!({
        "status": dag.status,
        "next_run_due_at": dag.next_run_due_at.map(|t| t.to_rfc3339()),
        "late_seconds": late,
        "grace_seconds": dag.grace_seconds,
        "as_of": dag.as_of.to_rfc3339(),
        "owners": dag.owners,
    });
    (dag.past_due, message, details)
}

#[cfg(test)]
pub(crate) mod tests {
    use chrono::{Duration, Utc};

    use super::*;

    /// A DAG as the view shows it, on schedule.
    pub fn scheduled(status: &str) -> Scheduled {
        let now = Utc::now();
        Scheduled {
            instance: "default".into(),
            dag_id: "orders".into(),
            status: status.into(),
            since: None,
            owners: vec!["team-a".into()],
            as_of: now,
            next_run_due_at: Some(now + Duration::minutes(5)),
            grace_seconds: 600.0,
            past_due: false,
            blocking: None,
            last_scheduled_run_at: None,
        }
    }

    #[test]
    fn overdue_follows_the_views_past_due_and_says_by_how_much() {
        let mut dag = scheduled("overdue");
        dag.next_run_due_at = Some(dag.as_of - Duration::hours(2));
        dag.past_due = true;
        let (breached, message, _) = judge_dag(&dag);
        assert!(breached);
        assert!(message.contains(", 2.0 h before the reading"), "{message}");
        assert!(message.contains("; owners team-a"), "{message}");
        dag.status = "scheduler_down".into();
        assert!(judge_dag(&dag).1.contains("not heartbeating"));
        assert!(!judge_dag(&scheduled("on_schedule")).0);
    }
}
