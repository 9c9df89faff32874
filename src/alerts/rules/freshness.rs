//! Freshness: the DAG's runs stopped, or came late, for its own rhythm (`freshness_hours =
//! auto`, the default); or, with `freshness_hours` set to a number, its newest successful run
//! ended longer ago than that many hours.
//!
//! The rhythm is the gaps between the starts of the DAG's runs before the last day (at least
//! [`MIN_GAPS`] of them): a gap alerts when it is longer than the larger of "its usual gap
//! (the median) times 3, at most its usual gap plus 3 hours" and "its longest usual gap (the
//! 99th percentile) plus a quarter of the usual gap, at most an hour". An hourly DAG alerts
//! after 3 hours without a run; a daily DAG 3 hours after its usual start; a weekly DAG is not
//! judged daily; a DAG triggered at irregular times by its own longest gaps. The gaps judged
//! are those that ended since the previous evaluation and the open one (now since the newest
//! start); while an alert is open, those of the last day. DAGs the catalogue says are paused or
//! stale are left to the `paused` rule.

use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;

use crate::alerts::error::{AlertError, sql_error};
use crate::alerts::rule::{
    AlertRule, Finding, Judgement, Judging, RunPoint, Watch, median, on_unless_off,
};
use crate::config::{AlertSettings, Freshness as Mode};
use crate::format::duration;

const LAST_SUCCESS_SQL: &str = include_str!("../../../sql/alerts/last_success.sql");

/// The fewest usual gaps for a rhythm.
const MIN_GAPS: usize = 5;

/// The rule.
pub struct Freshness;

impl AlertRule for Freshness {
    fn name(&self) -> &'static str {
        "freshness"
    }

    fn title(&self) -> &'static str {
        "no fresh run"
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        on_unless_off(alerts, |r| r.freshness_hours.map(|m| m != Mode::Off))
    }

    fn on_by_default(&self) -> bool {
        true
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move {
            let mut findings = Vec::new();
            let resting: std::collections::BTreeSet<(&str, &str)> = cx
                .scheduled
                .iter()
                .filter(|s| matches!(s.status.as_str(), "paused" | "stale"))
                .map(|s| (s.instance.as_str(), s.dag_id.as_str()))
                .collect();
            for (instance, dag, runs, rules, watch) in cx.dags_with_runs() {
                if rules.freshness_hours != Some(Mode::Rhythm) || resting.contains(&(instance, dag))
                {
                    continue;
                }
                if let Some(judged) = judge_rhythm(runs, cx.now, cx.look_from(&rules, watch), watch)
                {
                    findings.push(Judging::finding(
                        self, instance, dag, cx.today, &rules, judged,
                    ));
                }
            }
            let fixed_hours = |instance: &str, dag: &str| match cx
                .rules_for(instance, dag)
                .map(|r| (r.freshness_hours, r))
            {
                Some((Some(Mode::Hours(h)), r)) => Some((h, r)),
                _ => None,
            };
            let hours_set =
                |r: &crate::config::AlertRules| matches!(r.freshness_hours, Some(Mode::Hours(_)));
            if !hours_set(&cx.alerts.rules)
                && !cx.alerts.overrides.iter().any(|o| hours_set(&o.rules))
            {
                return Ok(findings);
            }
            for r in cx
                .warehouse
                .query(LAST_SUCCESS_SQL, &[])
                .await
                .map_err(sql_error("read the newest successful runs"))?
            {
                let (instance, dag): (String, String) =
                    (r.get("airflow_instance"), r.get("dag_id"));
                let Some((hours, rules)) = fixed_hours(&instance, &dag) else {
                    continue;
                };
                let last: Option<DateTime<Utc>> = r.get("last_success_at");
                let run: Option<String> = r.get("last_success_run");
                let judged = judge_age(hours, last.zip(run), cx.now);
                findings.push(Judging::finding(
                    self, &instance, &dag, cx.today, &rules, judged,
                ));
            }
            Ok(findings)
        })
    }
}

/// The gap that alerts for a DAG whose usual gaps are `gaps` (hours), None with too few.
fn limit_hours(gaps: &mut [f64]) -> Option<(f64, f64)> {
    if gaps.len() < MIN_GAPS {
        return None;
    }
    let usual = median(gaps)?;
    // `median` sorted them.
    let longest = gaps[((gaps.len() - 1) as f64 * 0.99).floor() as usize];
    let by_usual = (3.0 * usual).min(usual + 3.0);
    let by_longest = longest + (usual / 4.0).min(1.0);
    Some((usual, by_usual.max(by_longest)))
}

/// Judges a DAG by the gaps between its runs' starts (its runs the oldest first).
fn judge_rhythm(
    runs: &[RunPoint],
    now: DateTime<Utc>,
    look_from: DateTime<Utc>,
    watch: Watch,
) -> Option<Judgement> {
    let hours = |a: DateTime<Utc>, b: DateTime<Utc>| (b - a).num_seconds() as f64 / 3600.0;
    let mut starts: Vec<DateTime<Utc>> =
        runs.iter().map(|r| r.start).filter(|s| *s <= now).collect();
    starts.sort();
    let day_ago = now - Duration::days(1);
    let usual_until = watch.opened_at.unwrap_or(now).min(day_ago);
    let mut usual: Vec<f64> = starts
        .windows(2)
        .filter(|w| w[1] <= usual_until)
        .map(|w| hours(w[0], w[1]))
        .collect();
    let (usual_gap, limit) = limit_hours(&mut usual)?;
    let newest = *starts.last()?;
    // The gaps judged: those that ended since `look_from`, and the open one.
    let mut judged: Vec<(DateTime<Utc>, Option<DateTime<Utc>>)> = starts
        .windows(2)
        .filter(|w| w[1] > look_from)
        .map(|w| (w[0], Some(w[1])))
        .collect();
    judged.push((newest, None));
    let (from, to) = judged
        .iter()
        .copied()
        .max_by(|a, b| hours(a.0, a.1.unwrap_or(now)).total_cmp(&hours(b.0, b.1.unwrap_or(now))))?;
    let gap = hours(from, to.unwrap_or(now));
    let breached = gap > limit;
    let message = match to {
        None => format!(
            "no run started for {} (since {} UTC); its runs usually start every {}; alert after {}",
            duration(gap * 3600.0),
            from.format("%Y-%m-%d %H:%M"),
            duration(usual_gap * 3600.0),
            duration(limit * 3600.0)
        ),
        Some(to) => format!(
            "no run started for {} (from {} to {} UTC); its runs usually start every {}; alert after {}",
            duration(gap * 3600.0),
            from.format("%Y-%m-%d %H:%M"),
            to.format("%Y-%m-%d %H:%M"),
            duration(usual_gap * 3600.0),
            duration(limit * 3600.0)
        ),
    };
    let details = serde_json::json!({
        "mode": "rhythm", "gap_hours": gap, "gap_from": from.to_rfc3339(),
        "gap_to": to.map(|t| t.to_rfc3339()), "usual_gap_hours": usual_gap,
        "limit_hours": limit, "usual_gaps": usual.len(),
    });
    Some((breached, message, details))
}

/// Judges a DAG by the age of its newest successful run against a fixed number of hours.
fn judge_age(
    hours: f64,
    last_success: Option<(DateTime<Utc>, String)>,
    now: DateTime<Utc>,
) -> Judgement {
    let age = last_success
        .as_ref()
        .map(|(at, _)| (now - *at).num_seconds() as f64 / 3600.0);
    let breached = age.is_none_or(|a| a > hours);
    let message = match &last_success {
        Some((at, run)) => format!(
            "the newest successful run ({run}) ended {} ago, at {}; alert after {hours} hours",
            duration(age.unwrap_or(0.0) * 3600.0),
            at.format("%Y-%m-%d %H:%M UTC")
        ),
        None => format!("no successful run in the last 30 days; alert after {hours} hours"),
    };
    let details = serde_json::json!({
        "mode": "hours",
        "last_success_at": last_success.as_ref().map(|(at, _)| at.to_rfc3339()),
        "last_success_run": last_success.as_ref().map(|(_, r)| r.clone()),
        "age_hours": age, "freshness_hours": hours,
    });
    (breached, message, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(h: f64) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2025-03-20T00:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
            + Duration::seconds((h * 3600.0) as i64)
    }

    fn starts(hours: impl Iterator<Item = f64>) -> Vec<RunPoint> {
        hours
            .map(|h| RunPoint {
                run_id: format!("r{h}"),
                state: "success".into(),
                start: at(h),
                end: Some(at(h) + Duration::minutes(5)),
            })
            .collect()
    }

    #[test]
    fn an_hourly_dag_without_a_run_for_three_gaps_alerts() {
        let runs = starts((-100..0).map(f64::from));
        let quiet = judge_rhythm(&runs, at(1.5), at(0.5), Watch::default()).unwrap();
        assert!(!quiet.0, "{}", quiet.1);
        let (breached, message, _) =
            judge_rhythm(&runs, at(2.2), at(1.2), Watch::default()).unwrap();
        assert!(breached, "{message}");
        assert!(
            message.contains("its runs usually start every 60.0 min; alert after 3.0 h"),
            "{message}"
        );
    }

    #[test]
    fn a_daily_dag_alerts_three_hours_after_its_usual_start_and_a_weekly_one_is_not_judged_daily() {
        let daily = starts((-20..0).map(|d| f64::from(d) * 24.0));
        assert!(
            !judge_rhythm(&daily, at(2.0), at(1.0), Watch::default())
                .unwrap()
                .0
        );
        assert!(
            judge_rhythm(&daily, at(3.5), at(2.5), Watch::default())
                .unwrap()
                .0
        );
        let weekly = starts((-8..=0).map(|w| f64::from(w) * 168.0));
        assert!(
            !judge_rhythm(&weekly, at(72.0), at(71.0), Watch::default())
                .unwrap()
                .0
        );
        assert!(
            judge_rhythm(&weekly, at(172.0), at(171.0), Watch::default())
                .unwrap()
                .0
        );
    }

    #[test]
    fn a_gap_that_ended_since_the_previous_evaluation_still_alerts_once() {
        // Stopped for 10 hours, running again before a daily evaluation.
        let mut runs = starts((-100..-12).map(f64::from));
        runs.extend(starts((-2..0).map(f64::from)));
        assert!(
            judge_rhythm(&runs, at(0.5), at(-23.5), Watch::default())
                .unwrap()
                .0
        );
        // The next hourly evaluation: nothing new, the gap is before the previous one.
        assert!(
            !judge_rhythm(&runs, at(0.5), at(-0.5), Watch::default())
                .unwrap()
                .0
        );
    }

    #[test]
    fn the_fixed_age_compares_the_newest_success_with_the_allowed_hours() {
        let now = Utc::now();
        let old = Some((now - Duration::hours(30), "r1".to_string()));
        assert!(judge_age(24.0, old, now).0);
        let fresh = Some((now - Duration::hours(2), "r2".to_string()));
        assert!(!judge_age(24.0, fresh, now).0);
        assert!(judge_age(24.0, None, now).0);
    }
}
