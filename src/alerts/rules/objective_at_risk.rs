//! Objective at risk: a judgement not due yet is expected to land after its due time (its run
//! failed, never came, or its start plus its median runtime falls after the due time), so the
//! team can act before the promise breaks. Resolves when it lands or its due time passes (then
//! `objective_missed` says the rest). On by default (`objective_at_risk = false` turns it off).

use futures_util::future::BoxFuture;

use super::objectives::{Promised, judge_each, when};
use crate::alerts::error::AlertError;
use crate::alerts::rule::{
    AlertRule, Finding, Judgement, Judging, Subject, on_unless_off, owners_clause,
};
use crate::config::{AlertRules, AlertSettings};

/// The rule.
pub struct ObjectiveAtRisk;

impl AlertRule for ObjectiveAtRisk {
    fn name(&self) -> &'static str {
        "objective_at_risk"
    }

    fn title(&self) -> &'static str {
        "objective at risk"
    }

    fn subject(&self) -> Subject {
        Subject::Objective
    }

    fn on_by_default(&self) -> bool {
        true
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        alerts.objectives && on_unless_off(alerts, |r| r.objective_at_risk)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(judge_each(self, cx, judge_dag))
    }
}

fn judge_dag(rules: &AlertRules, p: &Promised) -> Option<Judgement> {
    if rules.objective_at_risk != Some(true) {
        return None;
    }
    let Some(due) = p.risk_due_at else {
        return Some((
            false,
            format!("[objective_{}] nothing at risk", p.objective),
            serde_json::json!({}),
        ));
    };
    let run = p
        .risk_run_id
        .as_deref()
        .map(|r| format!("run {r}"))
        .unwrap_or_else(|| "the scheduled run".to_string());
    let why = match (p.risk_expected_at, p.risk_note.as_deref()) {
        (Some(at), _) => format!(
            "{run} is expected to land at {} ({:.0} min late)",
            when(at),
            (at - due).num_seconds() as f64 / 60.0
        ),
        (None, Some(note)) if note.contains("never came") => {
            "the scheduled run never came".to_string()
        }
        (None, Some(note)) => format!("{run}: {note}"),
        (None, None) => format!("{run} has not landed"),
    };
    let message = format!(
        "[objective_{}] due {}; {why}{}",
        p.objective,
        when(due),
        owners_clause(&p.owners)
    );
    let details = serde_json::json!({
        "due_at": due.to_rfc3339(),
        "expected_at": p.risk_expected_at.map(|t| t.to_rfc3339()),
        "run_id": p.risk_run_id,
        "owners": p.owners,
    });
    Some((true, message, details))
}
