//! Paused: a DAG that started a scheduled run within `paused_ran_within_days` (default 7) before
//! it was paused is paused: the pause that stops a working pipeline, not the DAGs kept paused on
//! purpose. Off by default (`paused = true` turns it on, in `[alerts]` or a DAG's section).

use chrono::Duration;
use futures_util::future::BoxFuture;

use crate::alerts::error::AlertError;
use crate::alerts::rule::{
    AlertRule, Finding, Judgement, Judging, Scheduled, owners_clause, switched_on,
};
use crate::config::{AlertRules, AlertSettings};

/// The rule.
pub struct Paused;

impl AlertRule for Paused {
    fn name(&self) -> &'static str {
        "paused"
    }

    fn title(&self) -> &'static str {
        "DAG paused"
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        switched_on(alerts, |r| r.paused)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move { Ok(cx.judge_scheduled(self, judge_dag)) })
    }
}

/// Judges one DAG, None when the rule is off for it.
fn judge_dag(rules: &AlertRules, dag: &Scheduled) -> Option<Judgement> {
    if rules.paused != Some(true) {
        return None;
    }
    let days = rules.paused_ran_within_days?;
    let paused = dag.status == "paused";
    let since = dag.since.unwrap_or(dag.as_of);
    let ran = dag
        .last_scheduled_run_at
        .filter(|at| *at >= since - Duration::days(days as i64));
    let breached = paused && ran.is_some();
    let message = match ran {
        Some(at) if paused => format!(
            "paused since {} UTC (as pipewatch first saw it), after a scheduled run started at {} UTC{}",
            since.format("%Y-%m-%d %H:%M"),
            at.format("%Y-%m-%d %H:%M"),
            owners_clause(&dag.owners)
        ),
        _ if paused => format!("paused, with no scheduled run in the {days} days before"),
        _ => "not paused".to_string(),
    };
    let details = serde_json::json!({
        "status": dag.status,
        "paused_since": paused.then(|| since.to_rfc3339()),
        "last_scheduled_run_at": dag.last_scheduled_run_at.map(|t| t.to_rfc3339()),
        "paused_ran_within_days": days,
        "owners": dag.owners,
    });
    Some((breached, message, details))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rules::overdue::tests::scheduled;

    #[test]
    fn a_pause_alerts_only_for_a_dag_that_ran_on_schedule_before_it() {
        let rules = AlertRules {
            paused: Some(true),
            paused_ran_within_days: Some(7),
            ..AlertRules::default()
        };
        let mut dag = scheduled("paused");
        dag.since = Some(dag.as_of - Duration::hours(1));
        dag.last_scheduled_run_at = Some(dag.as_of - Duration::days(2));
        assert!(judge_dag(&rules, &dag).unwrap().0);
        dag.last_scheduled_run_at = Some(dag.as_of - Duration::days(30));
        assert!(
            !judge_dag(&rules, &dag).unwrap().0,
            "paused for long: on purpose"
        );
        dag.last_scheduled_run_at = None;
        assert!(!judge_dag(&rules, &dag).unwrap().0);
        assert!(!judge_dag(&rules, &scheduled("on_schedule")).unwrap().0);
        assert!(
            judge_dag(&AlertRules::default(), &dag).is_none(),
            "off by default"
        );
    }
}
