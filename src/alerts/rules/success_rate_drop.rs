//! Success-rate drop: a stretch of the DAG's recent runs failed more often than its own failure
//! rate makes likely.
//!
//! The runs judged are those finished in the last day (at least the newest 2, at most the
//! newest [`MAX_JUDGED`]); a stretch is any run of consecutive ones among them that starts and
//! ends with a failure, holds at least `success_rate_min_runs` runs and 2 failures, and whose
//! success rate is below the baseline's by more than `success_rate_drop`. The baseline is the
//! DAG's finished runs of the `success_rate_baseline_days` before the judged ones (at least
//! [`MIN_BASELINE`] runs). The chance of so many failures in the stretch, for a failure rate as
//! uncertain as the baseline leaves it (the beta-binomial tail: a uniform prior updated with
//! the baseline's failures and successes, so a short or clean baseline is not taken for a
//! certain low rate), multiplied by the number of stretches of at least 2 runs that could have
//! been picked, must be below `success_rate_chance` (1 %): one random failure of an hourly DAG stays
//! quiet; three failures in four runs against a 1 % baseline alert; a daily DAG alerts on its
//! second failure in a row. It opens when the stretch's last failure finished since the
//! previous evaluation; while it is open it judges the whole last day, against the baseline as
//! it was when it opened.

use chrono::{DateTime, Duration, Utc};
use futures_util::future::BoxFuture;

use crate::alerts::error::AlertError;
use crate::alerts::rule::{AlertRule, Finding, Judgement, Judging, RunPoint, Watch, on_unless_off};
use crate::config::{AlertRules, AlertSettings, Threshold};

/// The most runs judged at once (the newest).
const MAX_JUDGED: usize = 48;
/// The fewest baseline runs for a judgement.
const MIN_BASELINE: usize = 10;
/// The most baseline runs (the newest).
const MAX_BASELINE: usize = 200;

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
        on_unless_off(alerts, |r| r.success_rate_drop.map(|t| t != Threshold::Off))
    }

    fn on_by_default(&self) -> bool {
        true
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move {
            let mut findings = Vec::new();
            for (instance, dag, runs, rules, watch) in cx.dags_with_runs() {
                if let Some(judged) =
                    judge_runs(&rules, runs, cx.now, cx.look_from(&rules, watch), watch)
                {
                    findings.push(Judging::finding(
                        self, instance, dag, cx.today, &rules, judged,
                    ));
                }
            }
            Ok(findings)
        })
    }
}

/// ln(n!) for n up to what the rule needs (the baseline and the judged runs), computed once.
fn ln_factorial(n: usize) -> f64 {
    static TABLE: std::sync::OnceLock<Vec<f64>> = std::sync::OnceLock::new();
    let table = TABLE.get_or_init(|| {
        let mut t = vec![0.0; MAX_BASELINE + MAX_JUDGED + 4];
        for i in 1..t.len() {
            t[i] = t[i - 1] + (i as f64).ln();
        }
        t
    });
    table.get(n).copied().unwrap_or_else(|| {
        // Beyond the table (never with the rule's limits): Stirling's series.
        let x = n as f64;
        x * x.ln() - x + 0.5 * (2.0 * std::f64::consts::PI * x).ln() + 1.0 / (12.0 * x)
    })
}

/// ln B(a, b) for whole a, b >= 1.
fn ln_beta(a: usize, b: usize) -> f64 {
    ln_factorial(a - 1) + ln_factorial(b - 1) - ln_factorial(a + b - 1)
}

/// The chance of at least `k` failures in `m` runs for a DAG whose baseline had `failed` of
/// `runs` runs fail: the beta-binomial tail, the failure rate being uncertain as much as the
/// baseline leaves it (a uniform prior updated with the baseline), so a short or clean baseline
/// is not taken for a certain low rate.
pub fn failures_chance(k: usize, m: usize, failed: usize, runs: usize) -> f64 {
    if k == 0 {
        return 1.0;
    }
    if k > m {
        return 0.0;
    }
    let (a, b) = (failed + 1, runs - failed + 1);
    let ln_prior = ln_beta(a, b);
    let total: f64 = (k..=m)
        .map(|i| {
            let ln_choose = ln_factorial(m) - ln_factorial(i) - ln_factorial(m - i);
            (ln_choose + ln_beta(i + a, m - i + b) - ln_prior).exp()
        })
        .sum();
    total.min(1.0)
}

/// Judges one DAG from its runs (the oldest first) at `now`.
fn judge_runs(
    rules: &AlertRules,
    runs: &[RunPoint],
    now: DateTime<Utc>,
    look_from: DateTime<Utc>,
    watch: Watch,
) -> Option<Judgement> {
    let drop = rules.success_rate_drop?.value()?;
    let baseline_days = rules.success_rate_baseline_days.unwrap_or(28);
    let min_runs = rules.success_rate_min_runs.unwrap_or(2).max(2) as usize;
    let chance = rules.success_rate_chance.unwrap_or(0.01);
    let mut finished: Vec<&RunPoint> = runs
        .iter()
        .filter(|r| r.finished() && r.end.is_some_and(|e| e <= now))
        .collect();
    finished.sort_by_key(|r| (r.end, r.start));
    // The runs judged: those finished in the last day, or since `look_from` when that is
    // further back (an open alert's span).
    let window_from = look_from.min(now - Duration::days(1));
    let in_day = finished
        .iter()
        .filter(|r| r.end.is_some_and(|e| e > window_from))
        .count();
    let judged_n = in_day.clamp(2, MAX_JUDGED).min(finished.len());
    let (before, judged) = finished.split_at(finished.len() - judged_n);
    let first_judged = judged.first()?.end?;
    let freeze = watch.opened_at.unwrap_or(now);
    let baseline_from = first_judged - Duration::days(baseline_days as i64);
    let baseline: Vec<&&RunPoint> = before
        .iter()
        .filter(|r| r.end.is_some_and(|e| e >= baseline_from && e <= freeze))
        .collect();
    let baseline = &baseline[baseline.len().saturating_sub(MAX_BASELINE)..];
    if baseline.len() < MIN_BASELINE {
        return None;
    }
    let base_failed = baseline.iter().filter(|r| r.state == "failed").count();
    // The baseline's failure rate, as the stretch's share of failures must exceed it by the drop.
    let p0 = (base_failed as f64 + 1.0) / (baseline.len() as f64 + 2.0);
    let failed: Vec<bool> = judged.iter().map(|r| r.state == "failed").collect();
    // Every stretch [i, j] that starts and ends with a failure; the most unlikely one counts,
    // its chance multiplied by the stretches of at least 2 runs there were to pick from.
    let picks = (judged.len() * (judged.len() - 1) / 2).max(1) as f64;
    let mut best: Option<(f64, usize, usize, usize)> = None;
    for i in (0..judged.len()).filter(|&i| failed[i]) {
        let mut f = 0;
        for j in i..judged.len() {
            f += usize::from(failed[j]);
            let m = j - i + 1;
            let ends_new = judged[j].end.is_some_and(|e| e > look_from);
            if !failed[j] || !ends_new || f < 2 || m < min_runs {
                continue;
            }
            if (f as f64 / m as f64) <= p0 + drop {
                continue;
            }
            let p = failures_chance(f, m, base_failed, baseline.len()) * picks;
            if best.is_none_or(|(b, ..)| p < b) {
                best = Some((p, i, j, f));
            }
        }
    }
    let breached = best.is_some_and(|(p, ..)| p < chance);
    let base_rate = 1.0 - base_failed as f64 / baseline.len() as f64;
    let (message, stretch) = match best {
        Some((p, i, j, f)) => {
            let m = j - i + 1;
            let ids: Vec<&str> = judged[i..=j]
                .iter()
                .filter(|r| r.state == "failed")
                .map(|r| r.run_id.as_str())
                .collect();
            (
                format!(
                    "{f} of {m} runs failed (success {:.0} %, from {} to {} UTC) against a success rate of {:.1} % over the {} runs before; so many failures happen by chance {}; alert below {}; failed runs: {}",
                    100.0 * (m - f) as f64 / m as f64,
                    judged[i].start.format("%Y-%m-%d %H:%M"),
                    judged[j].end.unwrap_or(now).format("%Y-%m-%d %H:%M"),
                    base_rate * 100.0,
                    baseline.len(),
                    odds(p),
                    odds(chance),
                    ids.join(", ")
                ),
                serde_json::json!({"runs": m, "failed": f, "chance": p, "failed_runs": ids}),
            )
        }
        None => (
            format!(
                "no stretch of recent runs failed beyond chance (success rate {:.1} % over the {} runs before)",
                base_rate * 100.0,
                baseline.len()
            ),
            serde_json::Value::Null,
        ),
    };
    let details = serde_json::json!({
        "stretch": stretch, "baseline_runs": baseline.len(), "baseline_failed_runs": base_failed,
        "baseline_success_rate": base_rate, "drop_threshold": drop, "chance_threshold": chance,
        "min_runs": min_runs,
    });
    Some((breached, message, details))
}

/// A chance in words: "about once in 1,200 evaluations".
fn odds(p: f64) -> String {
    if p >= 1.0 {
        return "always".into();
    }
    let n = (1.0 / p.max(1e-12)).round();
    if n >= 1e6 {
        "less than once in a million evaluations".into()
    } else {
        format!("about once in {n} evaluations")
    }
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

    /// An hourly DAG's runs from `from` hours to `to` (exclusive), 10 minutes each, failing
    /// where `fails` says.
    fn hourly(from: i64, to: i64, fails: impl Fn(i64) -> bool) -> Vec<RunPoint> {
        (from..to)
            .map(|h| RunPoint {
                run_id: format!("r{h}"),
                state: if fails(h) { "failed" } else { "success" }.into(),
                start: at(h),
                end: Some(at(h) + Duration::minutes(10)),
            })
            .collect()
    }

    #[test]
    fn the_chance_of_failures_is_the_beta_binomial_tail() {
        // A clean baseline of 28 runs: two failures in two runs, (1 * 2) / (30 * 31).
        assert!((failures_chance(2, 2, 0, 28) - 2.0 / 930.0).abs() < 1e-12);
        // One of 4 with a clean baseline of 200: 1 - (201 * 202 * 203 * 204) / (202..206).
        let none = (201.0 * 202.0 * 203.0 * 204.0) / (202.0 * 203.0 * 204.0 * 205.0);
        assert!((failures_chance(1, 4, 0, 200) - (1.0 - none)).abs() < 1e-12);
        assert_eq!(failures_chance(0, 5, 3, 100), 1.0);
        assert_eq!(failures_chance(6, 5, 3, 100), 0.0);
        assert!(failures_chance(40, 48, 2, 200) < 1e-30);
        // The more the baseline failed, the likelier the same failures.
        assert!(failures_chance(3, 4, 10, 200) > failures_chance(3, 4, 1, 200));
    }

    #[test]
    fn a_single_early_failure_of_an_hourly_dag_stays_quiet() {
        // Two weeks at about 2 % failures, then today's first four runs with one failure.
        let mut runs = hourly(-14 * 24, 0, |h| h % 50 == 0);
        runs.extend(hourly(0, 4, |h| h == 1));
        let (breached, message, _) =
            judge_runs(&rules(), &runs, at(4), at(3), Watch::default()).unwrap();
        assert!(!breached, "{message}");
    }

    #[test]
    fn three_failures_in_four_runs_against_a_one_percent_baseline_alert() {
        let mut runs = hourly(-14 * 24, 0, |h| h % 100 == 0);
        runs.extend(hourly(0, 4, |h| h != 1));
        let (breached, message, details) =
            judge_runs(&rules(), &runs, at(4), at(3), Watch::default()).unwrap();
        assert!(breached, "{message}");
        assert!(
            message.starts_with("3 of 4 runs failed (success 25 %"),
            "{message}"
        );
        assert_eq!(
            details["stretch"]["failed_runs"],
            serde_json::json!(["r0", "r2", "r3"])
        );
        // Judged again an hour later with nothing new: nothing ended since the previous
        // evaluation, so it does not open again; while watched, the last day still breaches.
        assert!(
            !judge_runs(&rules(), &runs, at(5), at(4), Watch::default())
                .unwrap()
                .0
        );
        let watched = Watch {
            watching: true,
            opened_at: Some(at(4)),
        };
        assert!(
            judge_runs(&rules(), &runs, at(5), at(-19), watched)
                .unwrap()
                .0
        );
    }

    #[test]
    fn a_daily_dag_alerts_on_its_second_failure_in_a_row() {
        let daily = |days: std::ops::Range<i64>, fails: &dyn Fn(i64) -> bool| -> Vec<RunPoint> {
            days.map(|d| RunPoint {
                run_id: format!("d{d}"),
                state: if fails(d) { "failed" } else { "success" }.into(),
                start: at(24 * d + 2),
                end: Some(at(24 * d + 3)),
            })
            .collect()
        };
        let mut runs = daily(-14..0, &|_| false);
        runs.extend(daily(0..1, &|_| true));
        let one = judge_runs(&rules(), &runs, at(5), at(0), Watch::default()).unwrap();
        assert!(!one.0, "one failure: {}", one.1);
        runs.extend(daily(1..2, &|_| true));
        let two = judge_runs(&rules(), &runs, at(24 + 5), at(24), Watch::default()).unwrap();
        assert!(two.0, "two failures in a row: {}", two.1);
    }

    #[test]
    fn too_little_history_or_the_rule_off_judges_nothing() {
        let runs = hourly(0, 5, |_| true);
        assert!(judge_runs(&rules(), &runs, at(6), at(5), Watch::default()).is_none());
        let runs = hourly(-48, 5, |h| h >= 0);
        let off = AlertRules {
            success_rate_drop: Some(Threshold::Off),
            ..rules()
        };
        assert!(judge_runs(&off, &runs, at(6), at(5), Watch::default()).is_none());
    }
}
