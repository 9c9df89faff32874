//! Runtime regression: the median of the newest `runtime_recent_runs` successful runs is above
//! the baseline median plus `runtime_mad_multiple` median absolute deviations (at least one
//! second), the baseline being the successful runs of the `runtime_baseline_days` before them
//! (at least `runtime_baseline_min_runs`).

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, Utc};
use futures_util::future::BoxFuture;

use crate::alerts::error::{AlertError, sql_error};
use crate::alerts::rule::{AlertRule, Finding, Judgement, Judging, any_sets, median};
use crate::config::{AlertRules, AlertSettings};
use crate::format::duration;

const RUNTIMES_SQL: &str = include_str!("../../../sql/alerts/successful_runtimes.sql");

/// A successful run: its id, when it ended, its runtime in seconds.
type TimedRun = (String, DateTime<Utc>, f64);

/// The rule.
pub struct RuntimeRegression;

impl AlertRule for RuntimeRegression {
    fn name(&self) -> &'static str {
        "runtime_regression"
    }

    fn title(&self) -> &'static str {
        "runtime regression"
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        any_sets(alerts, |r| r.runtime_mad_multiple)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move {
            let mut findings = Vec::new();
            if !any_sets(cx.alerts, |r| r.runtime_mad_multiple) {
                return Ok(findings);
            }
            let back = cx.longest(|r| r.runtime_baseline_days).max(14) + 2;
            let mut runs: BTreeMap<(String, String), Vec<TimedRun>> = BTreeMap::new();
            for r in cx
                .warehouse
                .query(RUNTIMES_SQL, &[&(cx.today - Days::new(back)), &cx.zone])
                .await
                .map_err(sql_error("read the successful runs' runtimes"))?
            {
                runs.entry((r.get("airflow_instance"), r.get("dag_id")))
                    .or_default()
                    .push((r.get("run_id"), r.get("end_date"), r.get("runtime_seconds")));
            }
            let offset = cx.local_now - Utc::now().naive_utc();
            let day_of = |t: DateTime<Utc>| (t.naive_utc() + offset).date();
            for ((instance, dag), dag_runs) in &runs {
                let Some(rules) = cx.rules_for(instance, dag) else {
                    continue;
                };
                if let Some(judged) = judge_runs(&rules, dag_runs, cx.today, day_of) {
                    findings.push(Judging::finding(
                        self, instance, dag, cx.today, &rules, judged,
                    ));
                }
            }
            Ok(findings)
        })
    }
}

/// Judges one DAG from its successful runs, the newest first.
fn judge_runs(
    rules: &AlertRules,
    runs: &[TimedRun],
    today: NaiveDate,
    day_of: impl Fn(DateTime<Utc>) -> NaiveDate,
) -> Option<Judgement> {
    let multiple = rules.runtime_mad_multiple?;
    let recent_n = rules.runtime_recent_runs.unwrap_or(5) as usize;
    let baseline_days = rules.runtime_baseline_days.unwrap_or(14);
    let min_baseline = rules.runtime_baseline_min_runs.unwrap_or(20) as usize;
    if runs.len() < recent_n {
        return None;
    }
    let (recent, older) = runs.split_at(recent_n);
    let first = today - Days::new(baseline_days);
    let mut baseline: Vec<f64> = older
        .iter()
        .filter(|(_, end, _)| day_of(*end) >= first)
        .map(|(_, _, s)| *s)
        .collect();
    if baseline.len() < min_baseline {
        return None;
    }
    let mut recent_values: Vec<f64> = recent.iter().map(|(_, _, s)| *s).collect();
    let recent_median = median(&mut recent_values)?;
    let base_median = median(&mut baseline)?;
    let mut deviations: Vec<f64> = baseline.iter().map(|v| (v - base_median).abs()).collect();
    let mad = median(&mut deviations)?.max(1.0);
    let limit = base_median + multiple * mad;
    let breached = recent_median > limit;
    let run_ids: Vec<&str> = recent.iter().map(|(id, _, _)| id.as_str()).collect();
    let message = format!(
        "median runtime of the last {recent_n} successful runs {} against a baseline median of {} (MAD {}, {} runs over {baseline_days} days); alert above {} ({multiple} MADs); runs: {}",
        duration(recent_median),
        duration(base_median),
        duration(mad),
        baseline.len(),
        duration(limit),
        run_ids.join(", ")
    );
    let details = serde_json::json!({
        "recent_median_seconds": recent_median, "baseline_median_seconds": base_median,
        "baseline_mad_seconds": mad, "baseline_runs": baseline.len(), "limit_seconds": limit,
        "mad_multiple": multiple, "recent_runs": run_ids,
    });
    Some((breached, message, details))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rule::test_support::rules;

    #[test]
    fn a_runtime_regression_compares_recent_runs_with_the_baseline_mad() {
        let at = |h: i64| Utc::now() - chrono::Duration::hours(h);
        let mut runs: Vec<(String, DateTime<Utc>, f64)> =
            (0..3).map(|i| (format!("new{i}"), at(i), 300.0)).collect();
        runs.extend((0..10).map(|i| (format!("old{i}"), at(10 + i), 100.0 + i as f64)));
        let today = Utc::now().date_naive();
        let day_of = |t: DateTime<Utc>| t.date_naive();
        let (breached, message, _) = judge_runs(&rules(), &runs, today, day_of).unwrap();
        assert!(breached, "{message}");
        for r in runs.iter_mut().take(3) {
            r.2 = 106.0;
        }
        assert!(!judge_runs(&rules(), &runs, today, day_of).unwrap().0);
        runs.truncate(6);
        assert!(
            judge_runs(&rules(), &runs, today, day_of).is_none(),
            "too few baseline runs"
        );
    }
}
