//! Alerts: rules over the warehouse's figures, a ledger that opens each alert once and resolves
//! it when its condition clears, and a Slack-compatible notice per transition.
//!
//! [`evaluate`] reads the figures (sql/alerts/), judges every rule for every DAG (and every
//! validation test) with that DAG's rules ([`crate::config::AlertSettings::rules_for`]), and
//! records each judgement in one transaction: `alert_state` counts consecutive breaches and
//! holds the cooldown; `alert_history` gets one row per rule, instance, subject and day. Notices
//! are posted after the commit, and marked; one that could not be delivered is posted by the next
//! evaluation. `run` evaluates after its transform, under the run lock.
//!
//! The rules (each on when its threshold is set in `[alerts]` or a DAG's `[alerts_<label>]`):
//! - success-rate drop: today's finished runs (at least `success_rate_min_runs`) succeeded less
//!   often than over the `success_rate_baseline_days` before, by more than `success_rate_drop`;
//! - runtime regression: the median of the newest `runtime_recent_runs` successful runs is
//!   above the baseline median plus `runtime_mad_multiple` median absolute deviations (at least
//!   one second), the baseline being the successful runs of the `runtime_baseline_days` before
//!   them (at least `runtime_baseline_min_runs`);
//! - freshness: the newest successful run ended more than `freshness_hours` ago (DAGs with runs
//!   in the last 30 days);
//! - landing deadline: the newest day whose deadline (`landing_deadline`, local time of the next
//!   day) has passed has no successful run (DAGs with runs in the week before);
//! - validation failure: a test's latest execution failed or could not run
//!   (`validation_failures = true`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use chrono::{DateTime, Days, NaiveDate, Utc};
use tokio_postgres::Client;
use uuid::Uuid;

use crate::config::{AlertRules, AlertSettings, Settings};
use crate::context::RunContext;
use crate::db::SqlError;
use crate::report::svg::duration;

const DAG_DAYS_SQL: &str = include_str!("../../sql/alerts/dag_days.sql");
const FAILED_RUNS_SQL: &str = include_str!("../../sql/alerts/failed_runs_of_day.sql");
const RUNTIMES_SQL: &str = include_str!("../../sql/alerts/successful_runtimes.sql");
const LAST_SUCCESS_SQL: &str = include_str!("../../sql/alerts/last_success.sql");
const LATEST_VALIDATION_SQL: &str = include_str!("../../sql/alerts/latest_validation.sql");
const COUNT_BREACH_SQL: &str = include_str!("../../sql/alerts/count_breach.sql");
const OPEN_SQL: &str = include_str!("../../sql/alerts/open.sql");
const REFRESH_SQL: &str = include_str!("../../sql/alerts/refresh.sql");
const RESOLVE_SQL: &str = include_str!("../../sql/alerts/resolve.sql");
const OPEN_ALERTS_SQL: &str = include_str!("../../sql/alerts/open_alerts.sql");
const UNNOTIFIED_SQL: &str = include_str!("../../sql/alerts/unnotified.sql");
const MARK_NOTIFIED_SQL: &str = include_str!("../../sql/alerts/mark_notified.sql");
const LIST_SQL: &str = include_str!("../../sql/alerts/list.sql");
const LOCAL_NOW_SQL: &str = include_str!("../../sql/alerts/local_now.sql");

/// The alerts could not be evaluated or listed.
#[derive(Debug, thiserror::Error)]
#[error("alerts: could not {step} in the warehouse")]
pub struct AlertError {
    step: &'static str,
    #[source]
    source: SqlError,
}

fn sql_error(step: &'static str) -> impl FnOnce(tokio_postgres::Error) -> AlertError {
    move |e| AlertError {
        step,
        source: e.into(),
    }
}

/// The rules, by the name stored in `alert_history.rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Rule {
    /// Today's success rate against the days before.
    SuccessRateDrop,
    /// Recent runtimes against the baseline.
    RuntimeRegression,
    /// Time since the newest successful run.
    Freshness,
    /// A day's run not succeeded by the deadline.
    LandingDeadline,
    /// A validation test failing.
    ValidationFailure,
}

impl Rule {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Rule::SuccessRateDrop => "success_rate_drop",
            Rule::RuntimeRegression => "runtime_regression",
            Rule::Freshness => "freshness",
            Rule::LandingDeadline => "landing_deadline",
            Rule::ValidationFailure => "validation_failure",
        }
    }

    /// The rule stored as `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            Rule::SuccessRateDrop,
            Rule::RuntimeRegression,
            Rule::Freshness,
            Rule::LandingDeadline,
            Rule::ValidationFailure,
        ]
        .into_iter()
        .find(|r| r.as_str() == name)
    }

    /// The rule in words.
    pub fn title(self) -> &'static str {
        match self {
            Rule::SuccessRateDrop => "success-rate drop",
            Rule::RuntimeRegression => "runtime regression",
            Rule::Freshness => "no fresh successful run",
            Rule::LandingDeadline => "landing deadline missed",
            Rule::ValidationFailure => "validation test failing",
        }
    }
}

/// One rule judged for one subject.
#[derive(Debug, Clone, PartialEq)]
pub struct Finding {
    /// The rule.
    pub rule: Rule,
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

/// What one evaluation did.
#[derive(Debug, Clone, Default)]
pub struct AlertReport {
    /// Rules judged (subjects times rules).
    pub judged: usize,
    /// Alerts opened now: (rule, instance, subject, message).
    pub opened: Vec<(String, String, String, String)>,
    /// Alerts resolved now: (rule, instance, subject).
    pub resolved: Vec<(String, String, String)>,
    /// Notices posted.
    pub notified: usize,
    /// Notices that could not be delivered (posted by the next evaluation).
    pub undelivered: usize,
}

/// A successful run: its id, when it ended, its runtime in seconds.
type TimedRun = (String, DateTime<Utc>, f64);

/// A DAG's figures on one day.
#[derive(Debug, Clone, Copy)]
struct Day {
    finished: i64,
    successful: i64,
}

fn rate(successful: i64, finished: i64) -> Option<f64> {
    (finished > 0).then(|| successful as f64 / finished as f64)
}

fn median(values: &mut [f64]) -> Option<f64> {
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

/// Judges the success-rate drop of one DAG: today against the days before.
fn success_rate_drop(
    rules: &AlertRules,
    days: &BTreeMap<NaiveDate, Day>,
    today: NaiveDate,
) -> Option<(bool, String, serde_json::Value)> {
    let drop = rules.success_rate_drop?;
    let baseline_days = rules.success_rate_baseline_days.unwrap_or(7);
    let min_runs = rules.success_rate_min_runs.unwrap_or(1) as i64;
    let day = days.get(&today).copied().unwrap_or(Day {
        finished: 0,
        successful: 0,
    });
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

/// Judges the runtime regression of one DAG from its successful runs, the newest first.
fn runtime_regression(
    rules: &AlertRules,
    runs: &[TimedRun],
    today: NaiveDate,
    day_of: impl Fn(DateTime<Utc>) -> NaiveDate,
) -> Option<(bool, String, serde_json::Value)> {
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

/// Judges freshness: the newest successful run's end against the allowed age.
fn freshness(
    rules: &AlertRules,
    last_success: Option<(DateTime<Utc>, String)>,
    now: DateTime<Utc>,
) -> Option<(bool, String, serde_json::Value)> {
    let hours = rules.freshness_hours?;
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
        "last_success_at": last_success.as_ref().map(|(at, _)| at.to_rfc3339()),
        "last_success_run": last_success.as_ref().map(|(_, r)| r.clone()),
        "age_hours": age, "freshness_hours": hours,
    });
    Some((breached, message, details))
}

/// Judges the landing deadline: the day judged is the newest whose deadline (that time of the
/// next day) has passed.
fn landing_deadline(
    rules: &AlertRules,
    days: &BTreeMap<NaiveDate, Day>,
    local_now: chrono::NaiveDateTime,
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
    let d = days.get(&day).copied().unwrap_or(Day {
        finished: 0,
        successful: 0,
    });
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

/// Evaluates every rule and records the judgements; then posts the notices.
pub async fn evaluate(
    warehouse: &mut Client,
    settings: &Settings,
    alerts: &AlertSettings,
    today: NaiveDate,
    ctx: &RunContext,
) -> Result<AlertReport, AlertError> {
    let findings = judge(warehouse, settings, alerts, today).await?;
    let mut report = AlertReport {
        judged: findings.len(),
        ..AlertReport::default()
    };
    let tx = warehouse
        .transaction()
        .await
        .map_err(sql_error("start the alert transaction"))?;
    let mut evaluated = BTreeSet::new();
    for f in &findings {
        let rule = f.rule.as_str();
        evaluated.insert((rule.to_string(), f.instance.clone(), f.subject.clone()));
        let state = tx
            .query_one(
                COUNT_BREACH_SQL,
                &[&rule, &f.instance, &f.subject, &f.breached],
            )
            .await
            .map_err(sql_error("count the breaches"))?;
        let breaches: i32 = state.get("consecutive_breaches");
        let cooling: Option<bool> = state.get("cooling_down");
        let details = f.details.to_string();
        if f.breached {
            let refreshed = tx
                .execute(
                    REFRESH_SQL,
                    &[&rule, &f.instance, &f.subject, &f.message, &details],
                )
                .await
                .map_err(sql_error("refresh an open alert"))?;
            if refreshed == 0 && breaches as u64 >= f.consecutive && cooling != Some(true) {
                let opened = tx
                    .query_opt(
                        OPEN_SQL,
                        &[
                            &Uuid::now_v7(),
                            &rule,
                            &f.instance,
                            &f.subject,
                            &f.day,
                            &ctx.run_id,
                            &f.message,
                            &details,
                        ],
                    )
                    .await
                    .map_err(sql_error("open an alert"))?;
                if opened.is_some() {
                    report.opened.push((
                        rule.to_string(),
                        f.instance.clone(),
                        f.subject.clone(),
                        f.message.clone(),
                    ));
                }
            }
        } else if tx
            .query_opt(
                RESOLVE_SQL,
                &[
                    &rule,
                    &f.instance,
                    &f.subject,
                    &ctx.run_id,
                    &(f.cooldown_minutes as i32),
                ],
            )
            .await
            .map_err(sql_error("resolve an alert"))?
            .is_some()
        {
            report
                .resolved
                .push((rule.to_string(), f.instance.clone(), f.subject.clone()));
        }
    }
    // Open alerts nothing judged any more (rule switched off, DAG or test gone) are resolved.
    for row in tx
        .query(OPEN_ALERTS_SQL, &[])
        .await
        .map_err(sql_error("read the open alerts"))?
    {
        let key: (String, String, String) = (row.get(0), row.get(1), row.get(2));
        if !evaluated.contains(&key)
            && tx
                .query_opt(RESOLVE_SQL, &[&key.0, &key.1, &key.2, &ctx.run_id, &0i32])
                .await
                .map_err(sql_error("resolve an alert no longer judged"))?
                .is_some()
        {
            report.resolved.push(key);
        }
    }
    tx.commit()
        .await
        .map_err(sql_error("commit the alert transaction"))?;
    notify(warehouse, settings, &mut report).await?;
    for (rule, instance, subject, message) in &report.opened {
        tracing::warn!(rule = %rule, instance = %instance, subject = %subject, "Alert opened: {message}");
    }
    for (rule, instance, subject) in &report.resolved {
        tracing::info!(rule = %rule, instance = %instance, subject = %subject, "Alert resolved.");
    }
    Ok(report)
}

/// Reads the figures and judges every rule for every subject.
async fn judge(
    warehouse: &Client,
    settings: &Settings,
    alerts: &AlertSettings,
    today: NaiveDate,
) -> Result<Vec<Finding>, AlertError> {
    let zone = settings.time_zone.as_str();
    let mut findings = Vec::new();
    let finding =
        |rule: Rule,
         instance: &str,
         subject: &str,
         day: NaiveDate,
         rules: &AlertRules,
         (breached, message, details): (bool, String, serde_json::Value)| Finding {
            rule,
            instance: instance.to_string(),
            subject: subject.to_string(),
            day,
            breached,
            message,
            details,
            consecutive: rules.consecutive_breaches.unwrap_or(1),
            cooldown_minutes: rules.cooldown_minutes.unwrap_or(0),
        };
    let longest = |pick: fn(&AlertRules) -> Option<u64>| {
        alerts
            .overrides
            .iter()
            .filter_map(|o| pick(&o.rules))
            .chain(pick(&alerts.rules))
            .max()
            .unwrap_or(0)
    };
    // Daily outcomes: success-rate drop and landing deadline.
    let back = longest(|r| r.success_rate_baseline_days).max(7) + 9;
    let mut days: BTreeMap<(String, String), BTreeMap<NaiveDate, Day>> = BTreeMap::new();
    for r in warehouse
        .query(DAG_DAYS_SQL, &[&(today - Days::new(back)), &today])
        .await
        .map_err(sql_error("read the DAGs' daily outcomes"))?
    {
        days.entry((r.get("airflow_instance"), r.get("dag_id")))
            .or_default()
            .insert(
                r.get("day"),
                Day {
                    finished: i64::from(r.get::<_, i32>("finished_runs")),
                    successful: i64::from(r.get::<_, i32>("successful_runs")),
                },
            );
    }
    let local_now: chrono::NaiveDateTime = warehouse
        .query_one(LOCAL_NOW_SQL, &[&zone])
        .await
        .map_err(sql_error("read the clock in the reporting time zone"))?
        .get("local_now");
    for ((instance, dag), dag_days) in &days {
        let rules = alerts.rules_for(instance, dag);
        if rules.enabled == Some(false) {
            continue;
        }
        if let Some(mut judged) = success_rate_drop(&rules, dag_days, today) {
            if judged.0 {
                let failed: Vec<String> = warehouse
                    .query(FAILED_RUNS_SQL, &[instance, dag, &today, &zone])
                    .await
                    .map_err(sql_error("read the failed runs of the day"))?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let _ = write!(judged.1, "; failed runs: {}", failed.join(", "));
                judged.2["failed_runs"] = serde_json::json!(failed);
            }
            findings.push(finding(
                Rule::SuccessRateDrop,
                instance,
                dag,
                today,
                &rules,
                judged,
            ));
        }
        if let Some((day, breached, message, details)) =
            landing_deadline(&rules, dag_days, local_now)
        {
            findings.push(finding(
                Rule::LandingDeadline,
                instance,
                dag,
                day,
                &rules,
                (breached, message, details),
            ));
        }
    }
    // Runtimes: runtime regression.
    let runtime_wanted = alerts.rules.runtime_mad_multiple.is_some()
        || alerts
            .overrides
            .iter()
            .any(|o| o.rules.runtime_mad_multiple.is_some());
    if runtime_wanted {
        let back = longest(|r| r.runtime_baseline_days).max(14) + 2;
        let mut runs: BTreeMap<(String, String), Vec<TimedRun>> = BTreeMap::new();
        for r in warehouse
            .query(RUNTIMES_SQL, &[&(today - Days::new(back)), &zone])
            .await
            .map_err(sql_error("read the successful runs' runtimes"))?
        {
            runs.entry((r.get("airflow_instance"), r.get("dag_id")))
                .or_default()
                .push((r.get("run_id"), r.get("end_date"), r.get("runtime_seconds")));
        }
        let offset = local_now - Utc::now().naive_utc();
        let day_of = |t: DateTime<Utc>| (t.naive_utc() + offset).date();
        for ((instance, dag), dag_runs) in &runs {
            let rules = alerts.rules_for(instance, dag);
            if rules.enabled == Some(false) {
                continue;
            }
            if let Some(judged) = runtime_regression(&rules, dag_runs, today, day_of) {
                findings.push(finding(
                    Rule::RuntimeRegression,
                    instance,
                    dag,
                    today,
                    &rules,
                    judged,
                ));
            }
        }
    }
    // Freshness.
    let now = Utc::now();
    for r in warehouse
        .query(LAST_SUCCESS_SQL, &[])
        .await
        .map_err(sql_error("read the newest successful runs"))?
    {
        let (instance, dag): (String, String) = (r.get("airflow_instance"), r.get("dag_id"));
        let rules = alerts.rules_for(&instance, &dag);
        if rules.enabled == Some(false) {
            continue;
        }
        let last: Option<DateTime<Utc>> = r.get("last_success_at");
        let run: Option<String> = r.get("last_success_run");
        if let Some(judged) = freshness(&rules, last.zip(run), now) {
            findings.push(finding(
                Rule::Freshness,
                &instance,
                &dag,
                today,
                &rules,
                judged,
            ));
        }
    }
    // Validation failures.
    if alerts.validation_failures {
        let rules = alerts.rules.over(&AlertRules::default());
        for r in warehouse
            .query(LATEST_VALIDATION_SQL, &[])
            .await
            .map_err(sql_error("read the latest validation results"))?
        {
            let outcome: String = r.get("outcome");
            let name: String = r.get("test_name");
            let database: String = r.get("target_database");
            let at: DateTime<Utc> = r.get("test_run_at");
            let error: Option<String> = r.get("error_message");
            let values = match &error {
                Some(e) => format!("could not run: {e}"),
                None => format!(
                    "{} {} {}",
                    r.get::<_, Option<String>>("script_1_value")
                        .as_deref()
                        .unwrap_or("NULL"),
                    r.get::<_, String>("comp_operator"),
                    r.get::<_, Option<String>>("script_2_value")
                        .as_deref()
                        .unwrap_or("NULL")
                ),
            };
            let airflow: Option<String> = r.get("airflow_dag_id");
            let run: Option<String> = r.get("airflow_run_id");
            let message = format!(
                "latest execution ({}, severity {}) {outcome}: {values}{}",
                at.format("%Y-%m-%d %H:%M UTC"),
                r.get::<_, String>("severity"),
                match (&airflow, &run) {
                    (Some(d), Some(run)) => format!("; in DAG {d}, run {run}"),
                    _ => String::new(),
                }
            );
            let details =
                serde_json::json!({"outcome": outcome, "at": at.to_rfc3339(), "values": values});
            findings.push(finding(
                Rule::ValidationFailure,
                &database,
                &name,
                today,
                &rules,
                (outcome != "passed", message, details),
            ));
        }
    }
    Ok(findings)
}

/// Posts the openings and resolutions not posted yet, and marks them.
async fn notify(
    warehouse: &Client,
    settings: &Settings,
    report: &mut AlertReport,
) -> Result<(), AlertError> {
    let Some(url) = settings.alert_webhook() else {
        return Ok(());
    };
    let rows = warehouse
        .query(UNNOTIFIED_SQL, &[])
        .await
        .map_err(sql_error("read the alerts to post"))?;
    for row in rows {
        let id: Uuid = row.get("alert_id");
        let rule: String = row.get("rule");
        let instance: String = row.get("airflow_instance");
        let subject: String = row.get("subject");
        let day: NaiveDate = row.get("day");
        let message: String = row.get("message");
        let opened_at: DateTime<Utc> = row.get("opened_at");
        let rule = Rule::parse(&rule);
        let title = rule.map_or("alert", Rule::title);
        let validation = rule == Some(Rule::ValidationFailure);
        let what = if validation {
            format!("validation test {subject} (database {instance})")
        } else {
            format!("DAG {subject} on Airflow instance {instance}")
        };
        let link = match (&settings.airflow_ui, validation) {
            (Some(base), false) => format!(" {base}/dags/{}", url_segment(&subject)),
            _ => String::new(),
        };
        let mut posts = Vec::new();
        if row.get::<_, bool>("open_pending") {
            posts.push((
                "open",
                format!("pipewatch alert OPENED: {title} for {what}, {day}: {message}.{link}"),
            ));
        }
        if row.get::<_, bool>("resolve_pending") {
            posts.push((
                "resolve",
                format!(
                    "pipewatch alert RESOLVED: {title} for {what} (opened {}): the condition cleared.{link}",
                    opened_at.format("%Y-%m-%d %H:%M UTC")
                ),
            ));
        }
        for (kind, text) in posts {
            match crate::notify::post_text(&settings.validate, url, &text).await {
                Ok(()) => {
                    warehouse
                        .execute(MARK_NOTIFIED_SQL, &[&id, &kind])
                        .await
                        .map_err(sql_error("mark an alert posted"))?;
                    report.notified += 1;
                }
                Err(e) => {
                    tracing::warn!(alert = %id, error = %e, "Could not post the alert; the next evaluation posts it.");
                    report.undelivered += 1;
                    break;
                }
            }
        }
    }
    Ok(())
}

/// A path segment with what URLs reserve percent-encoded.
fn url_segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// One alert as `pipewatch alerts` lists it.
#[derive(Debug, Clone)]
pub struct ListedAlert {
    /// Its id.
    pub id: Uuid,
    /// The rule.
    pub rule: String,
    /// The instance.
    pub instance: String,
    /// The DAG or test.
    pub subject: String,
    /// The day.
    pub day: NaiveDate,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// When it resolved.
    pub resolved_at: Option<DateTime<Utc>>,
    /// What was found.
    pub message: String,
}

/// The open alerts and, unless `only_open`, those resolved in the last 30 days.
pub async fn list(warehouse: &Client, only_open: bool) -> Result<Vec<ListedAlert>, AlertError> {
    Ok(warehouse
        .query(LIST_SQL, &[&only_open])
        .await
        .map_err(sql_error("list the alerts"))?
        .iter()
        .map(|r| ListedAlert {
            id: r.get("alert_id"),
            rule: r.get("rule"),
            instance: r.get("airflow_instance"),
            subject: r.get("subject"),
            day: r.get("day"),
            opened_at: r.get("opened_at"),
            resolved_at: r.get("resolved_at"),
            message: r.get("message"),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 3, day).unwrap()
    }

    fn rules() -> AlertRules {
        AlertRules {
            success_rate_drop: Some(0.2),
            success_rate_baseline_days: Some(3),
            success_rate_min_runs: Some(4),
            runtime_mad_multiple: Some(3.0),
            runtime_recent_runs: Some(3),
            runtime_baseline_days: Some(10),
            runtime_baseline_min_runs: Some(5),
            freshness_hours: Some(24.0),
            landing_deadline: chrono::NaiveTime::from_hms_opt(6, 0, 0),
            ..AlertRules::default()
        }
    }

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
        let (breached, message, _) = success_rate_drop(&rules(), &days, d(4)).unwrap();
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
            !success_rate_drop(&rules(), &days, d(4)).unwrap().0,
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
            !success_rate_drop(&rules(), &days, d(4)).unwrap().0,
            "within the margin"
        );
        let off = AlertRules {
            success_rate_drop: None,
            ..rules()
        };
        assert!(success_rate_drop(&off, &days, d(4)).is_none());
    }

    #[test]
    fn a_runtime_regression_compares_recent_runs_with_the_baseline_mad() {
        let at = |h: i64| Utc::now() - chrono::Duration::hours(h);
        let mut runs: Vec<(String, DateTime<Utc>, f64)> =
            (0..3).map(|i| (format!("new{i}"), at(i), 300.0)).collect();
        runs.extend((0..10).map(|i| (format!("old{i}"), at(10 + i), 100.0 + i as f64)));
        let today = Utc::now().date_naive();
        let day_of = |t: DateTime<Utc>| t.date_naive();
        let (breached, message, _) = runtime_regression(&rules(), &runs, today, day_of).unwrap();
        assert!(breached, "{message}");
        for r in runs.iter_mut().take(3) {
            r.2 = 106.0;
        }
        assert!(
            !runtime_regression(&rules(), &runs, today, day_of)
                .unwrap()
                .0
        );
        runs.truncate(6);
        assert!(
            runtime_regression(&rules(), &runs, today, day_of).is_none(),
            "too few baseline runs"
        );
    }

    #[test]
    fn freshness_and_landing_deadline() {
        let now = Utc::now();
        let old = Some((now - chrono::Duration::hours(30), "r1".to_string()));
        assert!(freshness(&rules(), old, now).unwrap().0);
        let fresh = Some((now - chrono::Duration::hours(2), "r2".to_string()));
        assert!(!freshness(&rules(), fresh, now).unwrap().0);
        assert!(freshness(&rules(), None, now).unwrap().0);

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
        let (day, breached, _, _) = landing_deadline(&rules(), &days, morning).unwrap();
        assert_eq!((day, breached), (d(9), false));
        days.insert(
            d(9),
            Day {
                finished: 1,
                successful: 0,
            },
        );
        assert!(landing_deadline(&rules(), &days, morning).unwrap().1);
        let early = d(10).and_hms_opt(5, 0, 0).unwrap();
        assert_eq!(landing_deadline(&rules(), &days, early).unwrap().0, d(8));
    }

    #[test]
    fn url_segments_are_encoded() {
        assert_eq!(url_segment("my dag/x"), "my%20dag%2Fx");
    }
}
