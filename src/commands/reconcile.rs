//! `pipewatch reconcile`: is every finished run of the source in the warehouse?
//!
//! Per Airflow instance and day (the day of a run's logical date, or `run_after` when it has
//! none, in the reporting time zone), counts the finished (`success`/`failed`) runs in the
//! source and in `dag_run_history`, and reports the days whose counts differ (exit 1). To
//! avoid false alarms, the source side counts only runs Airflow last changed at or before the
//! clock of the newest loaded extract: a run that finished after the last load is not "missing".
//! A run cleared in Airflow after the last load can still make its day differ until the next
//! load; re-run reconcile after a `pipewatch run` before investigating.
//!
//! When task instances are extracted, finished task tries (success, failed, skipped,
//! upstream_failed; the day of their DAG run) are compared the same way, and a difference fails
//! too. Tries Airflow itself did not keep (a try_number above the earlier tries in
//! task_instance_history) are reported on a line of their own and do not fail: pipewatch cannot
//! copy what Airflow lost.

use std::collections::BTreeMap;
use std::fmt;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use tokio_postgres::Client;

use super::Report;
use crate::config::Settings;
use crate::context::RunContext;
use crate::db::SqlError;
use crate::format::plural;
use crate::migrate;
use crate::reporting;
use crate::run_log::{self, RunLogError, Stage, StageCounts, StageReport, Verdict};
use crate::source::{DayBounds, DayDigest, RunFacts, Source, SourceError};
use crate::{Outcome, UsageError};

const WAREHOUSE_SQL: &str = include_str!("../../sql/reconcile/warehouse_finished_per_day.sql");
const WAREHOUSE_TRIES_SQL: &str =
    include_str!("../../sql/reconcile/warehouse_finished_tries_per_day.sql");
const LOADED_UNTIL_SQL: &str = include_str!("../../sql/reconcile/loaded_until.sql");
const WAREHOUSE_RUNS_SQL: &str = include_str!("../../sql/reconcile/warehouse_runs_on_days.sql");

/// Default number of days compared, ending today.
pub const DEFAULT_DAYS: u32 = 30;
/// Most days one reconcile compares (about a century): a longer window is a typing mistake.
pub const MAX_DAYS: u32 = 36_525;

/// Arguments of `reconcile`.
#[derive(Debug, Clone)]
pub struct Args {
    /// Only this Airflow instance (default: every configured one).
    pub instance: Option<String>,
    /// First day to compare (default: `days` before `to`).
    pub from: Option<NaiveDate>,
    /// Last day to compare (default: today in the reporting time zone).
    pub to: Option<NaiveDate>,
    /// How many days to compare when `from` is not given.
    pub days: u32,
}

impl Default for Args {
    fn default() -> Self {
        Args {
            instance: None,
            from: None,
            to: None,
            days: DEFAULT_DAYS,
        }
    }
}

/// Why one instance could not be compared.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// The source could not be read.
    #[error("reconcile of Airflow instance {instance}")]
    Source {
        /// The instance.
        instance: String,
        /// What failed.
        #[source]
        source: SourceError,
    },
    /// A warehouse query failed.
    #[error("reconcile of Airflow instance {instance}: could not {step}")]
    Warehouse {
        /// The instance.
        instance: String,
        /// What was being done.
        step: &'static str,
        /// The failure.
        #[source]
        source: SqlError,
    },
    /// Recording the stage failed.
    #[error(transparent)]
    RunLog(#[from] RunLogError),
}

/// One day whose finished runs differ (for task tries: whose counts differ).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayDifference {
    /// The day.
    pub day: NaiveDate,
    /// Finished runs in the source.
    pub source_finished: i64,
    /// Finished runs in the warehouse.
    pub warehouse_finished: i64,
    /// Runs finished in Airflow that the warehouse lacks or holds as unfinished, as
    /// `dag_id run_id (state)`.
    pub missing: Vec<String>,
    /// Runs whose state or end the warehouse holds differently, as
    /// `dag_id run_id: warehouse state/end, Airflow state/end`.
    pub stale: Vec<String>,
}

/// A run the warehouse keeps that Airflow no longer has (removed there on purpose, e.g. by
/// `airflow db clean` or a deleted DAG): reported, never a difference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoneRun {
    /// Its day.
    pub day: NaiveDate,
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub run_id: String,
}

/// The comparison for one instance.
#[derive(Debug, Clone)]
pub struct InstanceReconciliation {
    /// The instance.
    pub instance: String,
    /// First day compared.
    pub from: NaiveDate,
    /// Last day compared.
    pub to: NaiveDate,
    /// Source runs counted were changed at or before this time.
    pub source_changed_until: DateTime<Utc>,
    /// Finished runs in the source over the window.
    pub source_finished: i64,
    /// Finished runs in the warehouse over the window.
    pub warehouse_finished: i64,
    /// The days that differ.
    pub differences: Vec<DayDifference>,
    /// Finished runs kept in the warehouse that Airflow no longer has.
    pub gone_from_airflow: Vec<GoneRun>,
    /// The same comparison for finished task tries, when task instances are extracted.
    pub tasks: Option<TaskReconciliation>,
}

/// Finished task tries compared per day, and the tries Airflow itself did not keep.
#[derive(Debug, Clone)]
pub enum TaskReconciliation {
    /// Compared.
    Compared {
        /// Finished tries in the source over the window.
        source_finished: i64,
        /// Finished tries in task_run_history over the window.
        warehouse_finished: i64,
        /// The days whose counts differ.
        differences: Vec<DayDifference>,
        /// Task instances whose earlier tries Airflow did not keep (not a failure).
        instances_missing_tries: i64,
        /// Tries Airflow did not keep.
        missing_tries: i64,
        /// One such instance.
        missing_example: Option<String>,
        /// Finished tries kept in the warehouse of runs gone from Airflow (not a difference).
        gone_tries: i64,
    },
    /// Not comparable: the source keeps only current tries (Airflow before 2.10).
    CurrentTriesOnly,
}

impl StageReport for InstanceReconciliation {
    fn counts(&self) -> StageCounts {
        StageCounts {
            rows_read: Some(self.source_finished + self.warehouse_finished),
            rows_written: None,
            ..StageCounts::default()
        }
    }

    /// A day that differs makes the stage `checks_failed` (exit 1).
    fn verdict(&self) -> Verdict {
        let days = |differences: &[DayDifference]| {
            let list = differences
                .iter()
                .map(|d| d.day.to_string())
                .collect::<Vec<_>>()
                .join(", ");
            let word = if differences.len() == 1 {
                "day"
            } else {
                "days"
            };
            format!("{} {word}: {list}", differences.len())
        };
        let mut found = Vec::new();
        if !self.differences.is_empty() {
            found.push(format!(
                "finished DAG runs differ on {}",
                days(&self.differences)
            ));
        }
        if let Some(TaskReconciliation::Compared { differences, .. }) = &self.tasks
            && !differences.is_empty()
        {
            found.push(format!(
                "finished task tries differ on {}",
                days(differences)
            ));
        }
        if found.is_empty() {
            Verdict::Clean
        } else {
            Verdict::ChecksFailed(found.join("; "))
        }
    }
}

/// What `reconcile` found.
#[derive(Debug, Clone)]
pub struct ReconcileReport {
    /// The reporting time zone of the days.
    pub time_zone: String,
    /// One per instance.
    pub instances: Vec<InstanceReconciliation>,
}

impl fmt::Display for ReconcileReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.instances {
            write!(
                f,
                "Airflow instance {}: {}..{} ({}): {} finished runs in Airflow, {} in the warehouse; ",
                r.instance, r.from, r.to, self.time_zone, r.source_finished, r.warehouse_finished
            )?;
            match r.differences.len() {
                0 => writeln!(f, "every day matches")?,
                1 => writeln!(f, "1 day differs:")?,
                n => writeln!(f, "{n} days differ:")?,
            }
            if !r.differences.is_empty() {
                write_differences(f, &r.differences)?;
            }
            if !r.gone_from_airflow.is_empty() {
                write_gone(f, &r.gone_from_airflow)?;
            }
            if let Some(tasks) = &r.tasks {
                write!(f, "{tasks}")?;
            }
        }
        Ok(())
    }
}

fn write_differences(f: &mut fmt::Formatter<'_>, differences: &[DayDifference]) -> fmt::Result {
    writeln!(
        f,
        "  {:<10}  {:>8}  {:>9}  {:>10}",
        "day", "airflow", "warehouse", "difference"
    )?;
    for d in differences {
        writeln!(
            f,
            "  {:<10}  {:>8}  {:>9}  {:>+10}",
            d.day.to_string(),
            d.source_finished,
            d.warehouse_finished,
            d.warehouse_finished - d.source_finished
        )?;
        for run in &d.missing {
            writeln!(f, "      missing from the warehouse: {run}")?;
        }
        for run in &d.stale {
            writeln!(f, "      stale in the warehouse: {run}")?;
        }
    }
    Ok(())
}

fn write_gone(f: &mut fmt::Formatter<'_>, gone: &[GoneRun]) -> fmt::Result {
    let days: std::collections::BTreeSet<NaiveDate> = gone.iter().map(|g| g.day).collect();
    let examples: Vec<String> = gone
        .iter()
        .take(3)
        .map(|g| format!("{} {} ({})", g.dag_id, g.run_id, g.day))
        .collect();
    writeln!(
        f,
        "  note: {} on {} {} kept in the warehouse, gone from Airflow (removed there on purpose, e.g. by `airflow db clean` or a deleted DAG; not a difference): {}{}",
        plural(gone.len() as u64, "finished run", "finished runs"),
        plural(days.len() as u64, "day", "days"),
        if gone.len() == 1 { "is" } else { "are" },
        examples.join(", "),
        if gone.len() > examples.len() {
            ", ..."
        } else {
            ""
        }
    )
}

impl fmt::Display for TaskReconciliation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let TaskReconciliation::Compared {
            source_finished,
            warehouse_finished,
            differences,
            instances_missing_tries,
            missing_tries,
            missing_example,
            gone_tries,
        } = self
        else {
            return writeln!(
                f,
                "  task tries: not compared (this Airflow keeps only current tries: before 2.10)"
            );
        };
        write!(
            f,
            "  task tries: {source_finished} finished in Airflow, {warehouse_finished} in the warehouse; "
        )?;
        match differences.len() {
            0 => writeln!(f, "every day matches")?,
            1 => writeln!(f, "1 day differs:")?,
            n => writeln!(f, "{n} days differ:")?,
        }
        if !differences.is_empty() {
            write_differences(f, differences)?;
        }
        if *gone_tries > 0 {
            writeln!(
                f,
                "  note: {} of runs gone from Airflow {} kept in the warehouse (not a difference)",
                plural(
                    *gone_tries as u64,
                    "finished task try",
                    "finished task tries"
                ),
                if *gone_tries == 1 { "is" } else { "are" }
            )?;
        }
        if *missing_tries > 0 {
            writeln!(
                f,
                "  note: Airflow itself did not keep {missing_tries} earlier tries of {instances_missing_tries} task instances (e.g. {}): not in task_instance_history, so not in the warehouse either; not a pipewatch failure",
                missing_example.as_deref().unwrap_or("?")
            )?;
        }
        Ok(())
    }
}

impl Report for ReconcileReport {
    fn outcome(&self) -> Outcome {
        let task_differences = |r: &InstanceReconciliation| matches!(&r.tasks, Some(TaskReconciliation::Compared { differences, .. }) if !differences.is_empty());
        if self
            .instances
            .iter()
            .all(|r| r.differences.is_empty() && !task_differences(r))
        {
            Outcome::Success
        } else {
            Outcome::ChecksFailed
        }
    }
}

/// Checks the arguments that need no database: the day count, and the order of explicit days.
fn check_args(args: &Args) -> Result<(), UsageError> {
    if !(1..=MAX_DAYS).contains(&args.days) {
        return Err(UsageError(format!(
            "--days {} is out of range: compare from 1 to {MAX_DAYS} days",
            args.days
        )));
    }
    for (flag, day) in [("--from", args.from), ("--to", args.to)] {
        if let Some(day) = day {
            super::check_day(flag, day)?;
        }
    }
    if let (Some(from), Some(to)) = (args.from, args.to)
        && from > to
    {
        return Err(UsageError(format!("--from {from} is after --to {to}")));
    }
    Ok(())
}

/// The window `from..=to`, with `today` (reporting time zone) as the default end.
fn window(args: &Args, today: NaiveDate) -> Result<(NaiveDate, NaiveDate), UsageError> {
    let to = args.to.unwrap_or(today);
    let from = match args.from {
        Some(from) => from,
        None => to
            .checked_sub_signed(Duration::days(i64::from(args.days) - 1))
            .ok_or_else(|| {
                UsageError(format!(
                    "--days {} before {to} is before the first representable date",
                    args.days
                ))
            })?,
    };
    if from > to {
        return Err(UsageError(format!("--from {from} is after --to {to}")));
    }
    Ok((from, to))
}

/// Compares each selected instance over the window.
pub async fn run(
    settings: &Settings,
    ctx: &RunContext,
    args: &Args,
) -> anyhow::Result<ReconcileReport> {
    check_args(args)?;
    let instances = super::select_instances(settings, args.instance.as_deref())?;
    let mut warehouse = migrate::connect_and_apply(&settings.warehouse, ctx).await?;
    let today = super::today_in_reporting_zone(&warehouse, settings).await?;
    let (from, to) = window(args, today)?;
    let mut report = ReconcileReport {
        time_zone: settings.time_zone.clone(),
        instances: Vec::new(),
    };
    let window = reporting::day_bounds(&warehouse, &settings.time_zone, from, to)
        .await
        .map_err(|source| ReconcileError::Warehouse {
            instance: "(all)".to_string(),
            step: "compute the window's days",
            source,
        })?;
    for instance in instances {
        let source = Source::new(instance);
        let name = source.instance();
        let compared = run_log::record_stage(
            &mut warehouse,
            ctx,
            Stage::Reconcile,
            Some(name),
            async |warehouse, _| compare(settings, &source, warehouse, ctx, &window).await,
        )
        .await?;
        report.instances.push(compared);
    }
    Ok(report)
}

async fn compare(
    settings: &Settings,
    source: &Source<'_>,
    warehouse: &Client,
    ctx: &RunContext,
    window: &DayBounds,
) -> Result<InstanceReconciliation, ReconcileError> {
    let (from, to) = (window.first, window.last());
    let name = source.instance();
    let warehouse_error = |step: &'static str| {
        move |e: tokio_postgres::Error| ReconcileError::Warehouse {
            instance: name.to_string(),
            step,
            source: e.into(),
        }
    };
    let zone = settings.time_zone.as_str();
    let loaded_until: Option<DateTime<Utc>> = warehouse
        .query_opt(LOADED_UNTIL_SQL, &[&name])
        .await
        .map_err(warehouse_error("read the watermark"))?
        .and_then(|r| r.get(0));
    // Nothing loaded yet: every finished source run counts (and is missing).
    let until = loaded_until.unwrap_or_else(|| Utc::now() + Duration::days(1));
    let warehouse_days: BTreeMap<NaiveDate, DayDigest> = warehouse
        .query(WAREHOUSE_SQL, &[&name, &zone, &from, &to])
        .await
        .map_err(warehouse_error("count finished runs in the warehouse"))?
        .iter()
        .map(|r| {
            let digest = DayDigest {
                finished: r.get("finished_runs"),
                digest: r.get("digest"),
            };
            (r.get("day"), digest)
        })
        .collect();
    let source_error = |source| ReconcileError::Source {
        instance: name.to_string(),
        source,
    };
    let source_days = source
        .finished_runs_per_day(zone, window, until, ctx)
        .await
        .map_err(source_error)?;
    // Days whose count or digest differ are looked at run by run.
    let mut suspect: Vec<NaiveDate> = source_days
        .keys()
        .chain(warehouse_days.keys())
        .copied()
        .filter(|day| source_days.get(day) != warehouse_days.get(day))
        .collect();
    suspect.sort_unstable();
    suspect.dedup();
    let (differences, gone_from_airflow) = if suspect.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        let source_runs = source
            .runs_on_days(zone, window, &suspect, until, ctx)
            .await
            .map_err(source_error)?;
        let warehouse_runs: Vec<RunFacts> = warehouse
            .query(WAREHOUSE_RUNS_SQL, &[&name, &zone, &suspect])
            .await
            .map_err(warehouse_error("read the runs of the days that differ"))?
            .iter()
            .map(|r| RunFacts {
                day: r.get("day"),
                dag_id: r.get("dag_id"),
                run_id: r.get("run_id"),
                state: r.get("state"),
                end_date: r.get("end_date"),
                updated_at: None,
            })
            .collect();
        let count = |days: &BTreeMap<NaiveDate, DayDigest>, day: NaiveDate| {
            days.get(&day).map(|d| d.finished).unwrap_or(0)
        };
        let (differences, gone) = compare_runs(&source_runs, &warehouse_runs, until);
        let differences = differences
            .into_iter()
            .map(|mut d| {
                d.source_finished = count(&source_days, d.day);
                d.warehouse_finished = count(&warehouse_days, d.day);
                d
            })
            .collect();
        (differences, gone)
    };
    let tasks = if settings.extract.task_instances && source.compares_task_tries() {
        let window = (zone, from, to, until);
        Some(compare_tasks(source, warehouse, ctx, window, &gone_from_airflow).await?)
    } else {
        None
    };
    Ok(InstanceReconciliation {
        tasks,
        instance: name.to_string(),
        from,
        to,
        source_changed_until: until,
        source_finished: source_days.values().map(|d| d.finished).sum(),
        warehouse_finished: warehouse_days.values().map(|d| d.finished).sum(),
        differences,
        gone_from_airflow,
    })
}

fn is_finished(state: &Option<String>) -> bool {
    matches!(state.as_deref(), Some("success" | "failed"))
}

fn describe(state: &Option<String>, end: &Option<DateTime<Utc>>) -> String {
    format!(
        "{} ended {}",
        state.as_deref().unwrap_or("no state"),
        end.map(|e| e.format("%Y-%m-%d %H:%M:%S%.6f UTC").to_string())
            .unwrap_or_else(|| "-".into())
    )
}

/// `dag_id run_id: the warehouse has ..., Airflow ...` for a run the warehouse holds differently.
fn stale(warehouse: &RunFacts, source: &RunFacts) -> String {
    format!(
        "{} {}: the warehouse has {}, Airflow {}",
        source.dag_id,
        source.run_id,
        describe(&warehouse.state, &warehouse.end_date),
        describe(&source.state, &source.end_date)
    )
}

/// Names what differs between the runs of the same days in the source and the warehouse:
/// per day, runs finished in Airflow that the warehouse lacks or holds differently (a
/// difference), and finished runs only the warehouse still has (gone from Airflow, not a
/// difference). Source runs changed after `until` (after the newest loaded extract) are left
/// out on both sides: the next load brings them.
fn compare_runs(
    source: &[RunFacts],
    warehouse: &[RunFacts],
    until: DateTime<Utc>,
) -> (Vec<DayDifference>, Vec<GoneRun>) {
    type Key<'a> = (&'a str, &'a str);
    let source_by_key: BTreeMap<Key, &RunFacts> = source
        .iter()
        .map(|r| ((r.dag_id.as_str(), r.run_id.as_str()), r))
        .collect();
    let warehouse_by_key: BTreeMap<Key, &RunFacts> = warehouse
        .iter()
        .map(|r| ((r.dag_id.as_str(), r.run_id.as_str()), r))
        .collect();
    let recent = |r: &RunFacts| r.updated_at.is_some_and(|u| u > until);
    let mut days: BTreeMap<NaiveDate, DayDifference> = BTreeMap::new();
    fn entry(days: &mut BTreeMap<NaiveDate, DayDifference>, day: NaiveDate) -> &mut DayDifference {
        days.entry(day).or_insert_with(|| DayDifference {
            day,
            source_finished: 0,
            warehouse_finished: 0,
            missing: Vec::new(),
            stale: Vec::new(),
        })
    }
    for (key, s) in &source_by_key {
        if recent(s) || !is_finished(&s.state) {
            continue;
        }
        match warehouse_by_key.get(key) {
            None => entry(&mut days, s.day).missing.push(format!(
                "{} {} ({})",
                s.dag_id,
                s.run_id,
                describe(&s.state, &s.end_date)
            )),
            Some(w) if w.state != s.state || w.end_date != s.end_date => {
                entry(&mut days, s.day).stale.push(stale(w, s))
            }
            Some(_) => {}
        }
    }
    let mut gone = Vec::new();
    for (key, w) in &warehouse_by_key {
        if !is_finished(&w.state) {
            continue;
        }
        match source_by_key.get(key) {
            None => gone.push(GoneRun {
                day: w.day,
                dag_id: w.dag_id.clone(),
                run_id: w.run_id.clone(),
            }),
            // Unfinished in Airflow now and not changed since the last load: the warehouse is
            // behind (a cleared run whose clearing the load missed).
            Some(s) if !recent(s) && !is_finished(&s.state) => {
                entry(&mut days, w.day).stale.push(stale(w, s))
            }
            Some(_) => {}
        }
    }
    (days.into_values().collect(), gone)
}

/// The days of either map whose counts differ (a day missing from one side counts 0 there).
fn day_differences(
    source: &BTreeMap<NaiveDate, i64>,
    warehouse: &BTreeMap<NaiveDate, i64>,
) -> Vec<DayDifference> {
    let mut days: Vec<NaiveDate> = source.keys().chain(warehouse.keys()).copied().collect();
    days.sort_unstable();
    days.dedup();
    days.into_iter()
        .filter_map(|day| {
            let s = source.get(&day).copied().unwrap_or(0);
            let w = warehouse.get(&day).copied().unwrap_or(0);
            (s != w).then_some(DayDifference {
                day,
                source_finished: s,
                warehouse_finished: w,
                missing: Vec::new(),
                stale: Vec::new(),
            })
        })
        .collect()
}

/// Compares finished task tries per day, like the runs.
/// Compares finished task tries per day; the tries of `gone` runs (gone from Airflow, kept in
/// the warehouse) are counted apart, as their runs are.
async fn compare_tasks(
    source: &Source<'_>,
    warehouse: &Client,
    ctx: &RunContext,
    (zone, from, to, until): (&str, NaiveDate, NaiveDate, DateTime<Utc>),
    gone: &[GoneRun],
) -> Result<TaskReconciliation, ReconcileError> {
    let name = source.instance();
    let Some(counts) = source
        .task_tries_per_day(zone, from, to, until, ctx)
        .await
        .map_err(|source| ReconcileError::Source {
            instance: name.to_string(),
            source,
        })?
    else {
        return Ok(TaskReconciliation::CurrentTriesOnly);
    };
    let gone_dags: Vec<&str> = gone.iter().map(|g| g.dag_id.as_str()).collect();
    let gone_runs: Vec<&str> = gone.iter().map(|g| g.run_id.as_str()).collect();
    let rows = warehouse
        .query(
            WAREHOUSE_TRIES_SQL,
            &[&name, &zone, &from, &to, &gone_dags, &gone_runs],
        )
        .await
        .map_err(|e| ReconcileError::Warehouse {
            instance: name.to_string(),
            step: "count finished task tries in the warehouse",
            source: e.into(),
        })?;
    let warehouse_days: BTreeMap<NaiveDate, i64> = rows
        .iter()
        .map(|r| (r.get("day"), r.get("finished_tries")))
        .filter(|(_, tries)| *tries > 0)
        .collect();
    let gone_tries = rows.iter().map(|r| r.get::<_, i64>("gone_tries")).sum();
    Ok(TaskReconciliation::Compared {
        source_finished: counts.finished_per_day.values().sum(),
        warehouse_finished: warehouse_days.values().sum(),
        differences: day_differences(&counts.finished_per_day, &warehouse_days),
        instances_missing_tries: counts.instances_missing_tries,
        missing_tries: counts.missing_tries,
        missing_example: counts.missing_example,
        gone_tries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(text: &str) -> NaiveDate {
        text.parse().unwrap()
    }

    #[test]
    fn day_counts_and_explicit_days_are_checked_without_a_database() {
        for days in [0, MAX_DAYS + 1, u32::MAX] {
            let args = Args {
                days,
                ..Args::default()
            };
            assert!(check_args(&args).is_err(), "--days {days}");
        }
        let args = Args {
            from: Some(day("2026-02-01")),
            to: Some(day("2026-01-01")),
            ..Args::default()
        };
        assert!(check_args(&args).is_err());
    }

    #[test]
    fn days_outside_0001_to_9999_are_refused_as_backfill_refuses_them() {
        let args = |from: NaiveDate| Args {
            instance: None,
            from: Some(from),
            to: None,
            days: DEFAULT_DAYS,
        };
        let year_zero = NaiveDate::from_ymd_opt(0, 1, 1).unwrap();
        let err = check_args(&args(year_zero)).unwrap_err().to_string();
        assert!(err.contains("--from 0000-01-01 is out of range"), "{err}");
        assert!(check_args(&args(day("0001-01-01"))).is_ok());
    }

    /// No input panics: a deterministic sweep (a small linear congruential generator, so a
    /// failure is reproducible) over day counts, explicit days and "today", extremes included.
    /// Whenever the arguments are accepted, the window is ordered and as long as asked.
    #[test]
    fn no_argument_or_date_panics_and_accepted_windows_are_well_formed() {
        let mut state: u64 = 0x5eed;
        let mut next = move || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            state >> 11
        };
        let edge_days = [0, 1, 2, MAX_DAYS - 1, MAX_DAYS, MAX_DAYS + 1, u32::MAX];
        let edge_dates = [
            NaiveDate::MIN,
            NaiveDate::MIN.succ_opt().unwrap(),
            day("0001-01-01"),
            day("1970-01-01"),
            day("2026-11-23"),
            day("9999-12-31"),
            NaiveDate::MAX.pred_opt().unwrap(),
            NaiveDate::MAX,
        ];
        let any_date = |r: u64| {
            if r.is_multiple_of(3) {
                edge_dates[(r / 3) as usize % edge_dates.len()]
            } else {
                let span = (NaiveDate::MAX - NaiveDate::MIN).num_days() as u64;
                NaiveDate::MIN + Duration::days(((r / 3) % (span + 1)) as i64)
            }
        };
        for _ in 0..200_000 {
            let r = next();
            let days = if r.is_multiple_of(2) {
                edge_days[(r / 2) as usize % edge_days.len()]
            } else {
                (next() % (u64::from(u32::MAX) + 1)) as u32
            };
            let (r1, r2, r3, r4) = (next(), next(), next(), next());
            let pick = |r: u64, d: u64| (!r.is_multiple_of(4)).then(|| any_date(d));
            let args = Args {
                days,
                from: pick(r1, r2),
                to: pick(r3, r4),
                ..Args::default()
            };
            let today = any_date(next());
            if check_args(&args).is_err() {
                continue;
            }
            if let Ok((from, to)) = window(&args, today) {
                assert!(from <= to, "{args:?} today {today}");
                if args.from.is_none() {
                    assert_eq!((to - from).num_days() + 1, i64::from(days), "{args:?}");
                }
            }
        }
    }

    #[test]
    fn the_window_ends_today_and_reaches_back_days_minus_one() {
        let args = Args {
            days: 3,
            ..Args::default()
        };
        assert!(check_args(&args).is_ok());
        assert_eq!(
            window(&args, day("2026-03-10")).unwrap(),
            (day("2026-03-08"), day("2026-03-10"))
        );
        let args = Args {
            days: MAX_DAYS,
            ..Args::default()
        };
        assert!(window(&args, NaiveDate::MIN).is_err());
        let args = Args {
            from: Some(day("2026-04-01")),
            ..Args::default()
        };
        assert!(window(&args, day("2026-03-10")).is_err());
    }
}
