//! Scheduler down: an Airflow instance with DAGs to schedule (unpaused, with a schedule,
//! importing, not stale) has no scheduler heartbeat within 120 seconds of the newest catalogue
//! reading (the rule of view `dag_schedule_status`). One alert per instance, whose notice counts
//! the DAGs waiting and those already past due. On by default (`scheduler_down`, `[alerts]`
//! only).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::alerts::error::{AlertError, sql_error};
use crate::alerts::rule::{AlertRule, Finding, Judgement, Judging, Subject, on_unless_off};
use crate::config::AlertSettings;

const SCHEDULER_HEALTH_SQL: &str = include_str!("../../../sql/alerts/scheduler_health.sql");

/// The subject of every finding: the part of the instance judged.
const SUBJECT: &str = "scheduler";

/// The rule.
pub struct SchedulerDown;

/// One instance at its newest reading.
struct Health {
    as_of: DateTime<Utc>,
    scheduled_dags: i64,
    waiting_dags: i64,
    past_due_dags: i64,
    latest_heartbeat: Option<DateTime<Utc>>,
    hostname: Option<String>,
}

impl AlertRule for SchedulerDown {
    fn name(&self) -> &'static str {
        "scheduler_down"
    }

    fn title(&self) -> &'static str {
        "scheduler not heartbeating"
    }

    fn subject(&self) -> Subject {
        Subject::Instance
    }

    fn on_by_default(&self) -> bool {
        true
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        on_unless_off(alerts, |r| r.scheduler_down)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move {
            let mut findings = Vec::new();
            let heartbeats: BTreeMap<String, (Option<DateTime<Utc>>, Option<String>)> = cx
                .warehouse
                .query(SCHEDULER_HEALTH_SQL, &[])
                .await
                .map_err(sql_error("read the schedulers' health"))?
                .iter()
                .map(|r| {
                    (
                        r.get("airflow_instance"),
                        (r.get("latest_heartbeat"), r.get("hostname")),
                    )
                })
                .collect();
            // Each instance's DAGs, counted from the statuses every catalogue rule shares.
            let mut instances: BTreeMap<&str, Health> = BTreeMap::new();
            for dag in &cx.scheduled {
                let h = instances.entry(&dag.instance).or_insert_with(|| {
                    let (latest_heartbeat, hostname) =
                        heartbeats.get(&dag.instance).cloned().unwrap_or_default();
                    Health {
                        as_of: dag.as_of,
                        scheduled_dags: 0,
                        waiting_dags: 0,
                        past_due_dags: 0,
                        latest_heartbeat,
                        hostname,
                    }
                });
                h.as_of = h.as_of.max(dag.as_of);
                let scheduled = !matches!(
                    dag.status.as_str(),
                    "paused" | "stale" | "import_error" | "unscheduled"
                );
                h.scheduled_dags += i64::from(scheduled);
                h.waiting_dags += i64::from(dag.status == "scheduler_down");
                h.past_due_dags += i64::from(dag.past_due);
            }
            for (instance, health) in instances {
                // An instance with nothing to schedule is not judged.
                if health.scheduled_dags == 0 {
                    continue;
                }
                let Some(rules) = cx.rules_for(instance, "") else {
                    continue;
                };
                if rules.scheduler_down != Some(true) {
                    continue;
                }
                findings.push(Judging::finding(
                    self,
                    instance,
                    SUBJECT,
                    cx.today,
                    &rules,
                    judge_instance(&health),
                ));
            }
            Ok(findings)
        })
    }
}

/// Judges one instance.
fn judge_instance(h: &Health) -> Judgement {
    let breached = h.waiting_dags > 0;
    let heartbeat = match (h.latest_heartbeat, &h.hostname) {
        (Some(at), Some(host)) => format!(
            "the last scheduler heartbeat was at {} UTC ({host})",
            at.format("%Y-%m-%d %H:%M:%S")
        ),
        (Some(at), None) => format!(
            "the last scheduler heartbeat was at {} UTC",
            at.format("%Y-%m-%d %H:%M:%S")
        ),
        (None, _) => "no scheduler has ever heartbeated".to_string(),
    };
    let message = if breached {
        format!(
            "{heartbeat}, reading of {} UTC: {} of {} scheduled DAGs wait for it, {} past due",
            h.as_of.format("%Y-%m-%d %H:%M:%S"),
            h.waiting_dags,
            h.scheduled_dags,
            h.past_due_dags
        )
    } else {
        heartbeat
    };
    let details = serde_json::json!({
        "as_of": h.as_of.to_rfc3339(),
        "latest_heartbeat": h.latest_heartbeat.map(|t| t.to_rfc3339()),
        "hostname": h.hostname,
        "scheduled_dags": h.scheduled_dags,
        "waiting_dags": h.waiting_dags,
        "past_due_dags": h.past_due_dags,
    });
    (breached, message, details)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn a_silent_scheduler_is_one_alert_counting_the_dags_it_holds_up() {
        let now = Utc::now();
        let mut h = Health {
            as_of: now,
            scheduled_dags: 12,
            waiting_dags: 12,
            past_due_dags: 3,
            latest_heartbeat: Some(now - Duration::minutes(10)),
            hostname: Some("scheduler-1".into()),
        };
        let (breached, message, _) = judge_instance(&h);
        assert!(breached);
        assert!(message.contains("(scheduler-1)"), "{message}");
        assert!(
            message.ends_with("12 of 12 scheduled DAGs wait for it, 3 past due"),
            "{message}"
        );
        h.waiting_dags = 0;
        assert!(!judge_instance(&h).0);
    }
}
