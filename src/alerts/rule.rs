//! What every alert rule has in common: the [`AlertRule`] trait a rule implements, the
//! [`Judging`] context it judges from (the warehouse, the settings, the day, and the DAGs' daily
//! outcomes that several rules read), and the [`Finding`] it returns for each subject. The
//! ledger (`ledger.rs`) turns findings into opened and resolved alerts; the rules never touch it.

use std::collections::BTreeMap;

use chrono::{DateTime, Days, NaiveDate, NaiveDateTime, Utc};
use futures_util::future::BoxFuture;
use tokio_postgres::Client;

use super::error::{AlertError, sql_error};
use crate::config::{AlertRules, AlertSettings, Settings};

const DAG_DAYS_SQL: &str = include_str!("../../sql/alerts/dag_days.sql");
const LOCAL_NOW_SQL: &str = include_str!("../../sql/alerts/local_now.sql");
const SCHEDULE_STATUS_SQL: &str = include_str!("../../sql/alerts/schedule_status.sql");
const LAST_EVALUATION_SQL: &str = include_str!("../../sql/alerts/last_evaluation.sql");
const WATCHING_SQL: &str = include_str!("../../sql/alerts/watching.sql");
const RECENT_RUNS_SQL: &str = include_str!("../../sql/alerts/recent_runs.sql");

/// Days of runs the run-history rules read (their baselines are at most this long).
pub const HISTORY_DAYS: i32 = 29;
/// Runs per DAG the run-history rules read, the newest.
const HISTORY_RUNS: i64 = 400;

/// What a rule judges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A DAG of an Airflow instance (notices link to it in Airflow's UI).
    Dag,
    /// A validation test of a target database.
    ValidationTest,
    /// An Airflow instance as a whole (its scheduler); the subject names the part judged.
    Instance,
    /// A DAG file of an Airflow instance (its import errors).
    DagFile,
    /// A pool of an Airflow instance.
    Pool,
    /// An objective for a DAG ("<dag_id> / <objective>"; the details name both).
    Objective,
}

/// One alert rule: its name, what it judges, and how it judges every subject. A rule is one
/// module under `rules/` and one line in [`super::rules::ALL`].
pub trait AlertRule: Sync {
    /// The name stored in `alert_history.rule` (never changed once released).
    fn name(&self) -> &'static str;
    /// The rule in words, for notices.
    fn title(&self) -> &'static str;
    /// What its subjects are.
    fn subject(&self) -> Subject {
        Subject::Dag
    }
    /// Whether the configuration turns it on for any DAG (its threshold set in `[alerts]` or
    /// in a DAG's own section, or not switched off for a rule on by default), for
    /// `check-config`.
    fn configured(&self, alerts: &AlertSettings) -> bool;
    /// Whether an `[alerts]` section that says nothing about it turns it on.
    fn on_by_default(&self) -> bool {
        false
    }
    /// Judges every subject the rule applies to: one finding each, breached or not. A subject
    /// the rule does not apply to (rule off, too little history) gets none.
    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>>;
}

/// One rule judged for one subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The rule's stored name.
    pub rule: &'static str,
    /// The Airflow instance (or the test's database).
    pub instance: String,
    /// The DAG or the test.
    pub subject: String,
    /// The day judged.
    pub day: NaiveDate,
    /// Whether the condition breached.
    pub breached: bool,
    /// The numbers in words.
    pub message: String,
    /// The numbers as JSON.
    pub details: serde_json::Value,
    /// Evaluations in a row needed before opening.
    pub consecutive: u64,
    /// Minutes without reopening after a resolution.
    pub cooldown_minutes: u64,
}

/// A judgement before it is tied to its subject: breached, the numbers in words and as JSON.
pub type Judgement = (bool, String, serde_json::Value);

/// A DAG's figures on one day.
#[derive(Debug, Clone, Copy, Default)]
pub struct Day {
    /// Finished runs.
    pub finished: i64,
    /// Successful runs.
    pub successful: i64,
}

/// Every DAG's daily outcomes: (instance, dag_id) to day to figures.
pub type DagDays = BTreeMap<(String, String), BTreeMap<NaiveDate, Day>>;

/// A DAG run as the run-history rules see it.
#[derive(Debug, Clone, PartialEq)]
pub struct RunPoint {
    /// Airflow's run_id.
    pub run_id: String,
    /// Its state when last read.
    pub state: String,
    /// When it started.
    pub start: DateTime<Utc>,
    /// When it ended (None while it runs).
    pub end: Option<DateTime<Utc>>,
}

impl RunPoint {
    /// Whether it finished (success or failed) with an end.
    pub fn finished(&self) -> bool {
        self.end.is_some() && matches!(self.state.as_str(), "success" | "failed")
    }
    /// Its runtime in seconds, when it ended.
    pub fn runtime(&self) -> Option<f64> {
        self.end
            .map(|e| (e - self.start).num_milliseconds() as f64 / 1000.0)
    }
}

/// What the run-history rules know of one DAG's alerts: whether one of its incident rules has
/// an alert open or breaches counted (the rules then judge the whole last day), and when the
/// open one opened (its baseline stays as it was then).
#[derive(Debug, Clone, Copy, Default)]
pub struct Watch {
    /// An incident alert is open, or breaches are counted towards one.
    pub watching: bool,
    /// When the open incident alert opened.
    pub opened_at: Option<DateTime<Utc>>,
}

/// One DAG at the last catalogue reading of its instance (view `dag_schedule_status`), for the
/// catalogue's DAG rules.
#[derive(Debug, Clone)]
pub struct Scheduled {
    /// The instance.
    pub instance: String,
    /// The DAG.
    pub dag_id: String,
    /// on_schedule, overdue, blocked, paused, stale, import_error, unscheduled, scheduler_down.
    pub status: String,
    /// Since when the status holds, as far as pipewatch knows.
    pub since: Option<DateTime<Utc>>,
    /// The DAG's owners.
    pub owners: Vec<String>,
    /// The reading (Airflow's clock).
    pub as_of: DateTime<Utc>,
    /// When the scheduler may create the next run.
    pub next_run_due_at: Option<DateTime<Utc>>,
    /// The overdue grace in seconds.
    pub grace_seconds: f64,
    /// Whether the next run is due for longer than the grace (scheduler up or down).
    pub past_due: bool,
    /// The run that holds the next one back, and since when.
    pub blocking: Option<(String, DateTime<Utc>)>,
    /// A paused DAG's newest scheduled run's start.
    pub last_scheduled_run_at: Option<DateTime<Utc>>,
}

/// What the rules judge from.
pub struct Judging<'a> {
    /// The warehouse.
    pub warehouse: &'a Client,
    /// The whole configuration.
    pub settings: &'a Settings,
    /// `[alerts]` and its per-DAG overrides.
    pub alerts: &'a AlertSettings,
    /// Today in the reporting time zone.
    pub today: NaiveDate,
    /// The reporting time zone.
    pub zone: &'a str,
    /// The clock in the reporting time zone.
    pub local_now: NaiveDateTime,
    /// The DAGs' daily outcomes of the days the day-based rules look at.
    pub dag_days: DagDays,
    /// Every catalogued DAG's schedule status (empty without a catalogue).
    pub scheduled: Vec<Scheduled>,
    /// The warehouse's clock.
    pub now: DateTime<Utc>,
    /// The previous evaluation, at most a day back: the run-history rules open on what
    /// happened since.
    pub since: DateTime<Utc>,
    /// Each DAG's runs of the last [`HISTORY_DAYS`] days, the oldest first.
    pub runs: BTreeMap<(String, String), Vec<RunPoint>>,
    /// Subjects with an alert open or breaches counted, by (rule, instance, subject), with
    /// when the open alert opened.
    pub watched: BTreeMap<(String, String, String), Option<DateTime<Utc>>>,
}

impl<'a> Judging<'a> {
    /// Reads what several rules share: the clock in the reporting time zone and the DAGs'
    /// daily outcomes over the longest success-rate baseline (at least a week) and the days
    /// before it that the landing deadline looks at.
    pub async fn read(
        warehouse: &'a Client,
        settings: &'a Settings,
        alerts: &'a AlertSettings,
        today: NaiveDate,
    ) -> Result<Judging<'a>, AlertError> {
        let zone = settings.time_zone.as_str();
        let mut cx = Judging {
            warehouse,
            settings,
            alerts,
            today,
            zone,
            local_now: NaiveDateTime::default(),
            dag_days: DagDays::new(),
            scheduled: Vec::new(),
            now: Utc::now(),
            since: Utc::now(),
            runs: BTreeMap::new(),
            watched: BTreeMap::new(),
        };
        let clock = warehouse
            .query_one(LAST_EVALUATION_SQL, &[])
            .await
            .map_err(sql_error("read the previous evaluation (alert_evaluation)"))?;
        cx.now = clock.get("now");
        let day_ago = cx.now - chrono::Duration::days(1);
        cx.since = clock
            .get::<_, Option<DateTime<Utc>>>("last_evaluated_at")
            .map_or(day_ago, |t| t.max(day_ago));
        for r in warehouse
            .query(WATCHING_SQL, &[])
            .await
            .map_err(sql_error("read the open and pending alerts"))?
        {
            cx.watched.insert(
                (r.get("rule"), r.get("airflow_instance"), r.get("subject")),
                r.get("opened_at"),
            );
        }
        for r in warehouse
            .query(RECENT_RUNS_SQL, &[&HISTORY_DAYS, &HISTORY_RUNS])
            .await
            .map_err(sql_error("read the DAGs' recent runs"))?
        {
            cx.runs
                .entry((r.get("airflow_instance"), r.get("dag_id")))
                .or_default()
                .push(RunPoint {
                    run_id: r.get("run_id"),
                    state: r.get::<_, Option<String>>("state").unwrap_or_default(),
                    start: r.get("start_date"),
                    end: r.get("end_date"),
                });
        }
        let back = cx.longest(|r| r.success_rate_baseline_days).max(7) + 9;
        for r in warehouse
            .query(DAG_DAYS_SQL, &[&(today - Days::new(back)), &today])
            .await
            .map_err(sql_error("read the DAGs' daily outcomes"))?
        {
            cx.dag_days
                .entry((r.get("airflow_instance"), r.get("dag_id")))
                .or_default()
                .insert(
                    r.get("day"),
                    Day {
                        finished: i64::from(r.get::<_, i32>("finished_runs")),
                        successful: i64::from(r.get::<_, i32>("successful_runs")),
                    },
                );
        }
        cx.local_now = warehouse
            .query_one(LOCAL_NOW_SQL, &[&zone])
            .await
            .map_err(sql_error("read the clock in the reporting time zone"))?
            .get("local_now");
        cx.scheduled = warehouse
            .query(SCHEDULE_STATUS_SQL, &[])
            .await
            .map_err(sql_error(
                "read the DAGs' schedule status (dag_schedule_status)",
            ))?
            .iter()
            .map(|r| Scheduled {
                instance: r.get("airflow_instance"),
                dag_id: r.get("dag_id"),
                status: r.get("status"),
                since: r.get("since"),
                owners: r.get("owners"),
                as_of: r.get("as_of"),
                next_run_due_at: r.get("next_run_due_at"),
                grace_seconds: r.get::<_, Option<f64>>("grace_seconds").unwrap_or(0.0),
                past_due: r.get("past_due"),
                blocking: r
                    .get::<_, Option<String>>("blocking_run_id")
                    .zip(r.get("blocking_since")),
                last_scheduled_run_at: r.get("last_scheduled_run_at"),
            })
            .collect();
        Ok(cx)
    }

    /// What the DAG's incident rules have open or counted (see [`Watch`]).
    pub fn watch(&self, instance: &str, dag_id: &str) -> Watch {
        let mut watch = Watch::default();
        for rule in super::ledger::INCIDENT_RULES {
            let key = (rule.to_string(), instance.to_string(), dag_id.to_string());
            if let Some(opened) = self.watched.get(&key) {
                watch.watching = true;
                watch.opened_at = match (watch.opened_at, *opened) {
                    (Some(a), Some(b)) => Some(a.min(b)),
                    (a, b) => a.or(b),
                };
            }
        }
        watch
    }

    /// Every DAG with recent runs whose alerts are on, with its runs, its rules and its watch.
    pub fn dags_with_runs(
        &self,
    ) -> impl Iterator<Item = (&str, &str, &[RunPoint], AlertRules, Watch)> {
        self.runs.iter().filter_map(|((instance, dag), runs)| {
            let rules = self.rules_for(instance, dag)?;
            Some((
                instance.as_str(),
                dag.as_str(),
                runs.as_slice(),
                rules,
                self.watch(instance, dag),
            ))
        })
    }

    /// Where a DAG's judgement opens from: the previous evaluation, or while it is watched
    /// `resolve_after_hours` back (an open alert resolves once that span is clean).
    pub fn look_from(&self, rules: &AlertRules, watch: Watch) -> DateTime<Utc> {
        if watch.watching {
            let hours = rules.resolve_after_hours.unwrap_or(24) as i64;
            self.now - chrono::Duration::hours(hours)
        } else {
            self.since
        }
    }

    /// The largest value of a setting over `[alerts]` and every override (0 when none sets it).
    pub fn longest(&self, pick: fn(&AlertRules) -> Option<u64>) -> u64 {
        self.alerts
            .overrides
            .iter()
            .filter_map(|o| pick(&o.rules))
            .chain(pick(&self.alerts.rules))
            .max()
            .unwrap_or(0)
    }

    /// Every DAG with daily outcomes whose alerts are on, with its days and its rules.
    pub fn dags_with_days(
        &self,
    ) -> impl Iterator<Item = (&str, &str, &BTreeMap<NaiveDate, Day>, AlertRules)> {
        self.dag_days.iter().filter_map(|((instance, dag), days)| {
            let rules = self.rules_for(instance, dag)?;
            Some((instance.as_str(), dag.as_str(), days, rules))
        })
    }

    /// One finding of `rule` per catalogued DAG (view `dag_schedule_status`) whose alerts are
    /// on and that `judge` judges (None: the rule is off for that DAG).
    pub fn judge_scheduled(
        &self,
        rule: &dyn AlertRule,
        judge: impl Fn(&AlertRules, &Scheduled) -> Option<Judgement>,
    ) -> Vec<Finding> {
        self.scheduled
            .iter()
            .filter_map(|dag| {
                let rules = self.rules_for(&dag.instance, &dag.dag_id)?;
                let judged = judge(&rules, dag)?;
                Some(Self::finding(
                    rule,
                    &dag.instance,
                    &dag.dag_id,
                    self.today,
                    &rules,
                    judged,
                ))
            })
            .collect()
    }

    /// The rules of one DAG, or None when its alerts are off (`enabled = false`).
    pub fn rules_for(&self, instance: &str, dag_id: &str) -> Option<AlertRules> {
        let rules = self.alerts.rules_for(instance, dag_id);
        (rules.enabled != Some(false)).then_some(rules)
    }

    /// The finding of `rule` for one subject, with the noise controls of `rules`.
    pub fn finding(
        rule: &dyn AlertRule,
        instance: &str,
        subject: &str,
        day: NaiveDate,
        rules: &AlertRules,
        (breached, message, details): Judgement,
    ) -> Finding {
        Finding {
            rule: rule.name(),
            instance: instance.to_string(),
            subject: subject.to_string(),
            day,
            breached,
            message,
            details,
            consecutive: rules.consecutive_breaches.unwrap_or(1),
            cooldown_minutes: rules.cooldown_minutes.unwrap_or(0),
        }
    }
}

/// Whether `[alerts]` or any DAG's own section sets `pick`.
pub fn any_sets<T>(alerts: &AlertSettings, pick: fn(&AlertRules) -> Option<T>) -> bool {
    pick(&alerts.rules).is_some() || alerts.overrides.iter().any(|o| pick(&o.rules).is_some())
}

/// Whether a rule that is on unless switched off (`pick` defaults to true) is on anywhere: not
/// switched off in `[alerts]`, or switched on in a DAG's own section.
pub fn on_unless_off(alerts: &AlertSettings, pick: fn(&AlertRules) -> Option<bool>) -> bool {
    pick(&alerts.rules) != Some(false)
        || alerts
            .overrides
            .iter()
            .any(|o| pick(&o.rules) == Some(true))
}

/// Whether a rule that is off unless switched on is on anywhere.
pub fn switched_on(alerts: &AlertSettings, pick: fn(&AlertRules) -> Option<bool>) -> bool {
    pick(&alerts.rules) == Some(true)
        || alerts
            .overrides
            .iter()
            .any(|o| pick(&o.rules) == Some(true))
}

/// ", owners a, b" for a notice, or nothing when the DAG names none.
pub fn owners_clause(owners: &[String]) -> String {
    if owners.is_empty() {
        String::new()
    } else {
        format!("; owners {}", owners.join(", "))
    }
}

/// `successful / finished`, None when nothing finished.
pub fn rate(successful: i64, finished: i64) -> Option<f64> {
    (finished > 0).then(|| successful as f64 / finished as f64)
}

/// The median of `values` (sorted in place), None when empty.
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

#[cfg(test)]
pub(crate) mod test_support {
    use super::*;

    pub use crate::config::{Freshness, Threshold};

    /// A day of March 2025.
    pub fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, day).unwrap()
    }

    /// Every rule on, with small thresholds.
    pub fn rules() -> AlertRules {
        AlertRules {
            success_rate_drop: Some(Threshold::At(0.2)),
            success_rate_baseline_days: Some(28),
            success_rate_min_runs: Some(2),
            success_rate_chance: Some(0.01),
            runtime_mad_multiple: Some(Threshold::At(4.0)),
            runtime_min_increase: Some(0.3),
            runtime_recent_runs: Some(5),
            runtime_baseline_days: Some(14),
            runtime_baseline_min_runs: Some(10),
            freshness_hours: Some(Freshness::Rhythm),
            resolve_after_hours: Some(24),
            landing_deadline: chrono::NaiveTime::from_hms_opt(6, 0, 0),
            ..AlertRules::default()
        }
    }
}
