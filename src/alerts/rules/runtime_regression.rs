//! Runtime regression: the DAG's recent successful runs took longer than its baseline allows.
//!
//! The recent runs are the newest `runtime_recent_runs` (5) successful ones for a DAG with at
//! least 4 successful runs in the last day, compared by their median; for a DAG with fewer (a
//! daily DAG) its newest 2, compared by the shorter of the two, so one slow run stays quiet
//! and the second in a row alerts. The baseline is the successful runs before them that ended
//! in the `runtime_baseline_days` before (at most 200, at least `runtime_baseline_min_runs`);
//! the limit is its median plus the larger of `runtime_mad_multiple` median absolute deviations,
//! `runtime_min_increase` of the median and one second. While an alert is open the baseline
//! stays as it was when it opened, so a lasting step does not become the new normal and
//! resolve itself.

use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;

use crate::alerts::error::AlertError;
use crate::alerts::rule::{
    AlertRule, Finding, Judgement, Judging, RunPoint, Watch, median, on_unless_off,
};
use crate::config::{AlertRules, AlertSettings, Threshold};
use crate::format::duration;

/// The most baseline runs (the newest).
const MAX_BASELINE: usize = 200;
/// Successful runs in the last day from which a DAG's recent runs are `runtime_recent_runs`.
const MANY_A_DAY: usize = 4;

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
        on_unless_off(alerts, |r| {
            r.runtime_mad_multiple.map(|t| t != Threshold::Off)
        })
    }

    fn on_by_default(&self) -> bool {
        true
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move {
            let mut findings = Vec::new();
            for (instance, dag, runs, rules, watch) in cx.dags_with_runs() {
                if let Some(judged) = judge_runs(&rules, runs, cx.now, watch) {
                    findings.push(Judging::finding(
                        self, instance, dag, cx.today, &rules, judged,
                    ));
                }
            }
            Ok(findings)
        })
    }
}

/// Judges one DAG from its runs (the oldest first).
fn judge_runs(
    rules: &AlertRules,
    runs: &[RunPoint],
    now: DateTime<Utc>,
    watch: Watch,
) -> Option<Judgement> {
    let multiple = rules.runtime_mad_multiple?.value()?;
    let min_increase = rules.runtime_min_increase.unwrap_or(0.3);
    let baseline_days = rules.runtime_baseline_days.unwrap_or(14);
    let min_baseline = rules.runtime_baseline_min_runs.unwrap_or(10) as usize;
    let mut ok: Vec<(&RunPoint, DateTime<Utc>, f64)> = runs
        .iter()
        .filter(|r| r.state == "success")
        .filter_map(|r| Some((r, r.end?, r.runtime()?)))
        .filter(|(_, end, _)| *end <= now)
        .collect();
    ok.sort_by_key(|(r, end, _)| (*end, r.start));
    let day_ago = now - Duration::days(1);
    let many = ok.iter().filter(|(_, end, _)| *end > day_ago).count() >= MANY_A_DAY;
    let recent_n = if many {
        rules.runtime_recent_runs.unwrap_or(5).max(1) as usize
    } else {
        2
    };
    if ok.len() < recent_n {
        return None;
    }
    let (older, recent) = ok.split_at(ok.len() - recent_n);
    let freeze = watch.opened_at.unwrap_or(now);
    let first = recent[0].1 - Duration::days(baseline_days as i64);
    let mut baseline: Vec<f64> = older
        .iter()
        .filter(|(_, end, _)| *end >= first && *end <= freeze)
        .map(|(_, _, s)| *s)
        .collect();
    let keep = baseline.len().saturating_sub(MAX_BASELINE);
    baseline.drain(..keep);
    if baseline.len() < min_baseline {
        return None;
    }
    let mut recent_values: Vec<f64> = recent.iter().map(|(_, _, s)| *s).collect();
    let statistic = if many {
        median(&mut recent_values)?
    } else {
        recent_values.iter().copied().fold(f64::INFINITY, f64::min)
    };
    let base_median = median(&mut baseline)?;
    let mut deviations: Vec<f64> = baseline.iter().map(|v| (v - base_median).abs()).collect();
    let mad = median(&mut deviations)?;
    let limit = base_median + (multiple * mad).max(min_increase * base_median).max(1.0);
    let breached = statistic > limit;
    let run_ids: Vec<&str> = recent.iter().map(|(r, _, _)| r.run_id.as_str()).collect();
    let compared = if many {
        format!("median runtime of the last {recent_n} successful runs")
    } else {
        "the shorter of the last 2 successful runs".to_string()
    };
    let message = format!(
        "{compared} {} against a baseline median of {} (MAD {}, {} runs over {baseline_days} days); alert above {} (the larger of {multiple} MADs and {:.0} % more); runs: {}",
        duration(statistic),
        duration(base_median),
        duration(mad),
        baseline.len(),
        duration(limit),
        min_increase * 100.0,
        run_ids.join(", ")
    );
    let details = serde_json::json!({
        "recent_seconds": statistic, "baseline_median_seconds": base_median,
        "baseline_mad_seconds": mad, "baseline_runs": baseline.len(), "limit_seconds": limit,
        "mad_multiple": multiple, "min_increase": min_increase, "recent_runs": run_ids,
    });
    Some((breached, message, details))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rule::test_support::rules;

    fn at(h: i64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-03-20T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::hours(h)
    }

    fn run(id: i64, start: i64, seconds: f64) -> RunPoint {
        RunPoint {
            run_id: format!("r{id}"),
            state: "success".into(),
            start: at(start),
            end: Some(at(start) + Duration::milliseconds((seconds * 1000.0) as i64)),
        }
    }

    #[test]
    fn an_hourly_dag_compares_the_median_of_its_last_five_runs() {
        let mut runs: Vec<RunPoint> = (0..100)
            .map(|h| run(h, h - 100, 600.0 + (h % 7) as f64 * 10.0))
            .collect();
        runs.extend((0..3).map(|h| run(100 + h, h, 1500.0)));
        // Three slow runs of the last five: the median is slow.
        let (breached, message, _) = judge_runs(&rules(), &runs, at(4), Watch::default()).unwrap();
        assert!(breached, "{message}");
        assert!(
            message.starts_with("median runtime of the last 5 successful runs 25.0 min"),
            "{message}"
        );
        // One slow run alone: quiet.
        runs.truncate(101);
        assert!(
            !judge_runs(&rules(), &runs, at(2), Watch::default())
                .unwrap()
                .0
        );
    }

    #[test]
    fn a_daily_dags_doubled_runtime_alerts_on_its_second_slow_run() {
        let mut runs: Vec<RunPoint> = (0..20)
            .map(|d| run(d, 24 * (d - 20) + 2, 3000.0 + (d % 5) as f64 * 60.0))
            .collect();
        runs.push(run(20, 2, 6400.0));
        let one = judge_runs(&rules(), &runs, at(5), Watch::default()).unwrap();
        assert!(!one.0, "one slow run: {}", one.1);
        runs.push(run(21, 26, 6200.0));
        let two = judge_runs(&rules(), &runs, at(29), Watch::default()).unwrap();
        assert!(two.0, "two slow runs: {}", two.1);
        assert!(
            two.1
                .starts_with("the shorter of the last 2 successful runs 103.3 min"),
            "{}",
            two.1
        );
    }

    #[test]
    fn an_open_alerts_baseline_stays_as_it_was_when_it_opened() {
        // A lasting step: 30 slow daily runs after 20 normal ones. Against a baseline that
        // absorbed the step it looks normal; frozen at the opening it still breaches.
        let mut runs: Vec<RunPoint> = (0..20).map(|d| run(d, 24 * (d - 50) + 2, 3000.0)).collect();
        runs.extend((20..50).map(|d| run(d, 24 * (d - 50) + 2, 6000.0)));
        assert!(
            !judge_runs(&rules(), &runs, at(0), Watch::default())
                .unwrap()
                .0
        );
        let frozen = Watch {
            watching: true,
            opened_at: Some(at(24 * -29)),
        };
        let mut long = rules();
        long.runtime_baseline_days = Some(60);
        assert!(judge_runs(&long, &runs, at(0), frozen).unwrap().0);
    }

    #[test]
    fn too_few_baseline_runs_judge_nothing() {
        let runs: Vec<RunPoint> = (0..8).map(|d| run(d, 24 * (d - 8), 100.0)).collect();
        assert!(judge_runs(&rules(), &runs, at(0), Watch::default()).is_none());
    }
}
