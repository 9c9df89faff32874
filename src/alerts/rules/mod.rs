//! The alert rules, one module each. A new rule is a module here implementing
//! [`AlertRule`](super::rule::AlertRule) and one line in [`ALL`]; the ledger, the notices and
//! `pipewatch alerts` need nothing else.

mod blocked;
mod error_budget;
mod freshness;
mod import_error;
mod landing_deadline;
mod missed_runs;
mod objective_at_risk;
mod objective_missed;
mod objectives;
mod overdue;
mod paused;
mod pool_empty;
mod runtime_regression;
mod scheduler_down;
mod success_rate_drop;
mod validation_failure;

use super::rule::AlertRule;

/// Every rule, in the order they are judged.
pub const ALL: &[&dyn AlertRule] = &[
    &success_rate_drop::SuccessRateDrop,
    &landing_deadline::LandingDeadline,
    &runtime_regression::RuntimeRegression,
    &freshness::Freshness,
    &validation_failure::ValidationFailure,
    &scheduler_down::SchedulerDown,
    &pool_empty::PoolEmpty,
    &overdue::Overdue,
    &blocked::Blocked,
    &paused::Paused,
    &import_error::ImportError,
    &missed_runs::MissedRuns,
    &objective_at_risk::ObjectiveAtRisk,
    &objective_missed::ObjectiveMissed,
    &error_budget::ErrorBudgetSpent,
];

/// The rule stored as `name`.
pub fn named(name: &str) -> Option<&'static dyn AlertRule> {
    ALL.iter().copied().find(|r| r.name() == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rule_names_are_unique() {
        let mut names: Vec<&str> = ALL.iter().map(|r| r.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), ALL.len());
    }
}
