//! Landing deadline: the newest day whose deadline (`landing_deadline`, local time of the next
//! day) has passed has no successful run (DAGs with runs in the week before).

use std::collections::BTreeMap;

use chrono::{Days, NaiveDate, NaiveDateTime};
use futures_util::future::BoxFuture;

use crate::alerts::error::AlertError;
use crate::alerts::rule::{AlertRule, Day, Finding, Judging, any_sets};
use crate::config::{AlertRules, AlertSettings};

/// The rule.
pub struct LandingDeadline;

impl AlertRule for LandingDeadline {
    fn name(&self) -> &'static str {
        "landing_deadline"
    }

    fn title(&self) -> &'static str {
        "landing deadline missed"
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        any_sets(alerts, |r| r.landing_deadline)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move {
            let mut findings = Vec::new();
            for (instance, dag, dag_days, rules) in cx.dags_with_days() {
                if let Some((day, breached, message, details)) =
                    judge_dag(&rules, dag_days, cx.local_now)
                {
                    findings.push(Judging::finding(
                        self,
                        instance,
                        dag,
                        day,
                        &rules,
                        (breached, message, details),
                    ));
                }
            }
            Ok(findings)
        })
    }
}

/// Judges one DAG: the day judged is the newest whose deadline (that time of the next day) has
/// passed.
fn judge_dag(
    rules: &AlertRules,
    days: &BTreeMap<NaiveDate, Day>,
    local_now: NaiveDateTime,
) -> Option<(NaiveDate, bool, String, serde_json::Value)> {
    let deadline = rules.landing_deadline?;
    let today = local_now.date();
    let day = if local_now.time() >= deadline {
        today - Days::new(1)
    } else {
        today - Days::new(2)
    };
    let active = days
        .range(day - Days::new(7)..day)
        .any(|(_, d)| d.finished > 0);
    if !active {
        return None;
    }
    let d = days.get(&day).copied().unwrap_or_default();
    let breached = d.successful == 0;
    let message = format!(
        "the runs of {day} had to succeed by {} on {} (reporting time zone): {} of {} finished runs succeeded",
        deadline.format("%H:%M"),
        day + Days::new(1),
        d.successful,
        d.finished
    );
    let details = serde_json::json!({
        "day": day.to_string(), "deadline": deadline.format("%H:%M").to_string(),
        "successful_runs": d.successful, "finished_runs": d.finished,
    });
    Some((day, breached, message, details))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::rule::test_support::{d, rules};

    #[test]
    fn the_day_judged_is_the_newest_whose_deadline_passed() {
        let mut days = BTreeMap::new();
        for day in 1..=9 {
            days.insert(
                d(day),
                Day {
                    finished: 1,
                    successful: 1,
                },
            );
        }
        let morning = d(10).and_hms_opt(7, 0, 0).unwrap();
        let (day, breached, _, _) = judge_dag(&rules(), &days, morning).unwrap();
        assert_eq!((day, breached), (d(9), false));
        days.insert(
            d(9),
            Day {
                finished: 1,
                successful: 0,
            },
        );
        assert!(judge_dag(&rules(), &days, morning).unwrap().1);
        let early = d(10).and_hms_opt(5, 0, 0).unwrap();
        assert_eq!(judge_dag(&rules(), &days, early).unwrap().0, d(8));
    }
}
