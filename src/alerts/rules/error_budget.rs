//! Error budget spent: over the last 28 days an objective missed at least as many judgements
//! for a DAG as its target allows (`objective_compliance.error_budget_left` at or below 0).
//! Resolves when old misses leave the window. On by default (`error_budget_spent = false` turns
//! it off).

use futures_util::future::BoxFuture;

use super::objectives::{Promised, judge_each};
use crate::alerts::error::AlertError;
use crate::alerts::rule::{
    AlertRule, Finding, Judgement, Judging, Subject, on_unless_off, owners_clause,
};
use crate::config::{AlertRules, AlertSettings};

/// The rule.
pub struct ErrorBudgetSpent;

impl AlertRule for ErrorBudgetSpent {
    fn name(&self) -> &'static str {
        "error_budget_spent"
    }

    fn title(&self) -> &'static str {
        "error budget spent"
    }

    fn subject(&self) -> Subject {
        Subject::Objective
    }

    fn on_by_default(&self) -> bool {
        true
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        alerts.objectives && on_unless_off(alerts, |r| r.error_budget_spent)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(judge_each(self, cx, judge_dag))
    }
}

fn judge_dag(rules: &AlertRules, p: &Promised) -> Option<Judgement> {
    if rules.error_budget_spent != Some(true) {
        return None;
    }
    let (due, missed, left) = (p.due_28d?, p.missed_28d?, p.error_budget_left?);
    if due == 0 {
        return None;
    }
    let breached = left <= 0.0;
    let message = format!(
        "[objective_{}] {missed} of {due} missed over 28 days ({:.1} % met against a target of {:.1} %): {}{}",
        p.objective,
        p.compliance_28d.unwrap_or(0.0) * 100.0,
        p.target.unwrap_or(0.0) * 100.0,
        if breached {
            "the error budget is spent".to_string()
        } else {
            format!("{:.0} % of the error budget left", left * 100.0)
        },
        owners_clause(&p.owners)
    );
    let details = serde_json::json!({
        "due_28d": due,
        "missed_28d": missed,
        "error_budget_left": left,
        "target": p.target,
        "owners": p.owners,
    });
    Some((breached, message, details))
}
