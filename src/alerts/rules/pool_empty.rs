//! Pool empty: a pool has 0 slots while tasks wait for it (scheduled or queued: they can never
//! run), at the newest catalogue reading (`pool_history`). A pool with no slots that nothing
//! wants is not an alert. One alert per pool; on by default (`pool_empty`, `[alerts]` only).

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::alerts::error::{AlertError, sql_error};
use crate::alerts::rule::{AlertRule, Finding, Judgement, Judging, Subject, on_unless_off};
use crate::config::AlertSettings;

const POOLS_SQL: &str = include_str!("../../../sql/alerts/pools.sql");

/// The rule.
pub struct PoolEmpty;

/// One pool at the newest reading.
struct Pool {
    slots: Option<i32>,
    running_slots: i64,
    waiting_slots: i64,
    read_at: DateTime<Utc>,
    empty_since: Option<DateTime<Utc>>,
}

impl AlertRule for PoolEmpty {
    fn name(&self) -> &'static str {
        "pool_empty"
    }

    fn title(&self) -> &'static str {
        "pool without slots"
    }

    fn subject(&self) -> Subject {
        Subject::Pool
    }

    fn on_by_default(&self) -> bool {
        true
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        on_unless_off(alerts, |r| r.pool_empty)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move {
            let mut findings = Vec::new();
            for r in cx
                .warehouse
                .query(POOLS_SQL, &[])
                .await
                .map_err(sql_error("read the pools"))?
            {
                let instance: String = r.get("airflow_instance");
                let Some(rules) = cx.rules_for(&instance, "") else {
                    continue;
                };
                if rules.pool_empty != Some(true) {
                    continue;
                }
                let name: String = r.get("pool");
                let pool = Pool {
                    slots: r.get("slots"),
                    running_slots: r.get("running_slots"),
                    waiting_slots: r.get("waiting_slots"),
                    read_at: r.get("read_at"),
                    empty_since: r.get("empty_since"),
                };
                findings.push(Judging::finding(
                    self,
                    &instance,
                    &name,
                    cx.today,
                    &rules,
                    judge_pool(&pool),
                ));
            }
            Ok(findings)
        })
    }
}

/// Judges one pool.
fn judge_pool(p: &Pool) -> Judgement {
    let breached = p.slots == Some(0) && p.waiting_slots > 0;
    let message = if breached {
        format!(
            "0 slots since {} UTC (as pipewatch read it) while tasks wanting {} slots wait at the reading of {} UTC: they cannot run until the pool has slots",
            p.empty_since.unwrap_or(p.read_at).format("%Y-%m-%d %H:%M"),
            p.waiting_slots,
            p.read_at.format("%Y-%m-%d %H:%M")
        )
    } else {
        format!(
            "{} slots, {} running, {} waiting",
            p.slots.map_or("?".to_string(), |s| s.to_string()),
            p.running_slots,
            p.waiting_slots
        )
    };
    let details = serde_json::json!({
        "slots": p.slots,
        "running_slots": p.running_slots,
        "waiting_slots": p.waiting_slots,
        "read_at": p.read_at.to_rfc3339(),
        "empty_since": p.empty_since.map(|t| t.to_rfc3339()),
    });
    (breached, message, details)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_pool_alerts_only_while_tasks_wait_for_it() {
        let mut p = Pool {
            slots: Some(0),
            running_slots: 0,
            waiting_slots: 3,
            read_at: Utc::now(),
            empty_since: None,
        };
        let (breached, message, _) = judge_pool(&p);
        assert!(breached);
        assert!(message.contains("tasks wanting 3 slots wait"), "{message}");
        p.waiting_slots = 0;
        assert!(!judge_pool(&p).0, "nothing wants it");
        p.waiting_slots = 3;
        p.slots = Some(4);
        assert!(!judge_pool(&p).0);
    }
}
