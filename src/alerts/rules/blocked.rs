//! Blocked: the scheduler may not create a DAG's next run (`next_dagrun_create_after` NULL with a
//! next run planned, usually `max_active_runs` reached) and the oldest queued or running run
//! holding it back is older than `blocked_minutes` (default 60). A run that merely takes its
//! usual time is not an alert until then. On by default (`blocked`).

use futures_util::future::BoxFuture;

use crate::alerts::error::AlertError;
use crate::alerts::rule::{
    AlertRule, Finding, Judgement, Judging, Scheduled, on_unless_off, owners_clause,
};
use crate::config::{AlertRules, AlertSettings};
use crate::format::duration;

/// The rule.
pub struct Blocked;

impl AlertRule for Blocked {
    fn name(&self) -> &'static str {
        "blocked"
    }

    fn title(&self) -> &'static str {
        "new runs blocked"
    }

    fn on_by_default(&self) -> bool {
        true
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        on_unless_off(alerts, |r| r.blocked)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move { Ok(cx.judge_scheduled(self, judge_dag)) })
    }
}

/// Judges one DAG, None when the rule is off for it.
fn judge_dag(rules: &AlertRules, dag: &Scheduled) -> Option<Judgement> {
    if rules.blocked != Some(true) {
        return None;
    }
    let minutes = rules.blocked_minutes?;
    let Some((run, since)) = &dag.blocking else {
        return Some((
            false,
            "no run holds the next one back".to_string(),
            serde_json::json!({"status": dag.status}),
        ));
    };
    let age = (dag.as_of - *since).num_seconds() as f64;
    let breached = age >= minutes as f64 * 60.0;
    let message = format!(
        "run {run} has been queued or running since {} UTC ({}), and the scheduler creates no new run until it ends (max_active_runs); alert after {minutes} min{}",
        since.format("%Y-%m-%d %H:%M"),
        duration(age.max(0.0)),
        owners_clause(&dag.owners)
    );
    let details = serde_json::json!({
        "status": dag.status,
        "blocking_run_id": run,
        "blocking_since": since.to_rfc3339(),
        "age_seconds": age,
        "blocked_minutes": minutes,
        "owners": dag.owners,
    });
    Some((breached, message, details))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::alerts::rules::overdue::tests::scheduled;

    #[test]
    fn blocked_waits_for_the_blocking_run_to_be_older_than_the_grace() {
        let rules = AlertRules {
            blocked: Some(true),
            blocked_minutes: Some(60),
            ..AlertRules::default()
        };
        let mut dag = scheduled("blocked");
        dag.blocking = Some(("manual__1".into(), dag.as_of - Duration::minutes(30)));
        assert!(!judge_dag(&rules, &dag).unwrap().0);
        dag.blocking = Some(("manual__1".into(), dag.as_of - Duration::hours(3)));
        let (breached, message, _) = judge_dag(&rules, &dag).unwrap();
        assert!(breached);
        assert!(message.starts_with("run manual__1 has been queued or running since"));
        assert!(!judge_dag(&rules, &scheduled("on_schedule")).unwrap().0);
        let off = AlertRules {
            blocked: Some(false),
            ..rules
        };
        assert!(judge_dag(&off, &dag).is_none());
    }
}
