//! Objective missed: the newest decided judgement of an objective for a DAG (due in the last 8
//! days) was missed: landed late, failed, or never came. One alert per episode: it stays open
//! while the newest judgement is missed and resolves when one is met. On by default
//! (`objective_missed = false` turns it off, in `[alerts]` or a DAG's section).

use futures_util::future::BoxFuture;

use super::objectives::{Promised, judge_each, when};
use crate::alerts::error::AlertError;
use crate::alerts::rule::{
    AlertRule, Finding, Judgement, Judging, Subject, on_unless_off, owners_clause,
};
use crate::config::{AlertRules, AlertSettings};

/// The rule.
pub struct ObjectiveMissed;

impl AlertRule for ObjectiveMissed {
    fn name(&self) -> &'static str {
        "objective_missed"
    }

    fn title(&self) -> &'static str {
        "objective missed"
    }

    fn subject(&self) -> Subject {
        Subject::Objective
    }

    fn on_by_default(&self) -> bool {
        true
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        alerts.objectives && on_unless_off(alerts, |r| r.objective_missed)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(judge_each(self, cx, judge_dag))
    }
}

fn judge_dag(rules: &AlertRules, p: &Promised) -> Option<Judgement> {
    if rules.objective_missed != Some(true) {
        return None;
    }
    let (status, due) = (p.last_status.as_deref()?, p.last_due_at?);
    let breached = status == "missed";
    let late = p.last_minutes_late.unwrap_or(0.0);
    let what = match (p.last_landed_at, p.last_note.as_deref()) {
        (Some(at), _) => format!("landed {}, {late:.0} min late", when(at)),
        (None, Some(note)) if note.contains("never came") => {
            "the scheduled run never came".to_string()
        }
        (None, Some(note)) if late <= 0.0 => note.to_string(),
        (None, Some(note)) => format!("{note}, {late:.0} min past due"),
        (None, None) => format!("not landed, {late:.0} min past due"),
    };
    let run = p
        .last_run_id
        .as_deref()
        .map(|r| format!(" (run {r})"))
        .unwrap_or_default();
    let message = if breached {
        format!(
            "[objective_{}] due {}{run}: {what}{}",
            p.objective,
            when(due),
            owners_clause(&p.owners)
        )
    } else {
        format!("[objective_{}] met, due {}", p.objective, when(due))
    };
    let details = serde_json::json!({
        "status": status,
        "due_at": due.to_rfc3339(),
        "landed_at": p.last_landed_at.map(|t| t.to_rfc3339()),
        "minutes_late": late,
        "run_id": p.last_run_id,
        "owners": p.owners,
    });
    Some((breached, message, details))
}
