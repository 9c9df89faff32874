//! Success-rate drop: today's finished runs (at least `success_rate_min_runs`) succeeded less
//! often than over the `success_rate_baseline_days` before, by more than `success_rate_drop`.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{Days, NaiveDate};
use futures_util::future::BoxFuture;

use crate::alerts::error::{AlertError, sql_error};
use crate::alerts::rule::{AlertRule, Day, Finding, Judgement, Judging, any_sets, rate};
use crate::config::{AlertRules, AlertSettings};

const FAILED_RUNS_SQL: &str = include_str!("../../../sql/alerts/failed_runs_of_day.sql");

/// The rule.
pub struct SuccessRateDrop;

impl AlertRule for SuccessRateDrop {
    fn name(&self) -> &'static str {
        "success_rate_drop"
    }

    fn title(&self) -> &'static str {
        "success-rate drop"
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        any_sets(alerts, |r| r.success_rate_drop)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move {
            let mut findings = Vec::new();
            for (instance, dag, dag_days, rules) in cx.dags_with_days() {
                let Some(mut judged) = judge_day(&rules, dag_days, cx.today) else {
                    continue;
                };
                if judged.0 {
                    let failed: Vec<String> = cx
                        .warehouse
                        .query(FAILED_RUNS_SQL, &[&instance, &dag, &cx.today, &cx.zone])
                        .await
                        .map_err(sql_error("read the failed runs of the day"))?
                        .iter()
                        .map(|r| r.get(0))
                        .collect();
                    let _ = write!(judged.1, "; failed runs: {}", failed.join(", "));
                    judged.2["failed_runs"] = serde_json::json!(failed);
                }
                findings.push(Judging::finding(
                    self, instance, dag, cx.today, &rules, judged,
                ));
            }
            Ok(findings)
        })
    }
}

/// Judges one DAG: today against the days before.
fn judge_day(
    rules: &AlertRules,
    days: &BTreeMap<NaiveDate, Day>,
    today: NaiveDate,
) -> Option<Judgement> {
    let drop = rules.success_rate_drop?;
    let baseline_days = rules.success_rate_baseline_days.unwrap_or(7);
    let min_runs = rules.success_rate_min_runs.unwrap_or(1) as i64;
    let day = days.get(&today).copied().unwrap_or_default();
    let first = today - Days::new(baseline_days);
    let (base_successful, base_finished) = days
        .range(first..today)
        .fold((0, 0), |(s, f), (_, d)| (s + d.successful, f + d.finished));
    let now = rate(day.successful, day.finished);
    let base = rate(base_successful, base_finished);
    let breached =
        day.finished >= min_runs && matches!((now, base), (Some(n), Some(b)) if n < b - drop);
    let message = format!(
        "{} of {} finished runs succeeded today ({}), against {} over the {baseline_days} days before ({} of {}); alert below a drop of {:.0} points, from {min_runs} finished runs",
        day.successful,
        day.finished,
        now.map_or("–".into(), |r| format!("{:.1} %", r * 100.0)),
        base.map_or("–".into(), |r| format!("{:.1} %", r * 100.0)),
        base_successful,
        base_finished,
        drop * 100.0
    );
    let details = serde_json::json!({
        "finished_runs": day.finished, "successful_runs": day.successful, "success_rate": now,
        "baseline_success_rate": base, "baseline_days": baseline_days,
        "baseline_finished_runs": base_finished, "drop_threshold": drop, "min_runs": min_runs,
    });
    Some((breached, message, details))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rule::test_support::{d, rules};

    #[test]
    fn a_success_rate_drop_needs_the_minimum_runs_and_the_margin() {
        let mut days = BTreeMap::new();
        for day in 1..=3 {
            days.insert(
                d(day),
                Day {
                    finished: 10,
                    successful: 10,
                },
            );
        }
        days.insert(
            d(4),
            Day {
                finished: 4,
                successful: 2,
            },
        );
        let (breached, message, _) = judge_day(&rules(), &days, d(4)).unwrap();
        assert!(breached, "{message}");
        assert!(
            message.contains("2 of 4 finished runs succeeded today (50.0 %)"),
            "{message}"
        );
        days.insert(
            d(4),
            Day {
                finished: 3,
                successful: 0,
            },
        );
        assert!(
            !judge_day(&rules(), &days, d(4)).unwrap().0,
            "below the minimum runs"
        );
        days.insert(
            d(4),
            Day {
                finished: 10,
                successful: 9,
            },
        );
        assert!(
            !judge_day(&rules(), &days, d(4)).unwrap().0,
            "within the margin"
        );
        let off = AlertRules {
            success_rate_drop: None,
            ..rules()
        };
        assert!(judge_day(&off, &days, d(4)).is_none());
    }
}
