//! `pipewatch transform`: the daily models dashboards read, recomputed day by day.
//!
//! Loads (and `validate`, and backfills) queue the days whose figures may have changed, in
//! their own transactions: the old and the new day of every DAG run they inserted or changed,
//! the day of every validation result. A transform takes the queued days and, in one
//! transaction, deletes those days' rows from each model and inserts them again from
//! `dag_run_history` / `validation_run_history` (SQL in `sql/transform/`). The cost follows the
//! days touched, not all of history: each day's runs are found by an index range on the run's
//! instant. A dashboard reading meanwhile sees the old rows or the new ones (no TRUNCATE, no
//! table lock), never a day missing.
//!
//! `--full-refresh` rebuilds every day; so does the first transform, and any transform after the
//! reporting time zone changed (the zone of the models is kept in `transform_state`). A full
//! refresh reads every run once, with its day and figures, into a temporary table, and computes
//! the four DAG-run models from one aggregation of it (`sql/transform/full_refresh_*.sql`);
//! the incremental path keeps one statement per model over the queued days' runs.

use std::time::Instant;

use chrono::NaiveDate;
use tokio_postgres::Client;

use crate::config::{Identifier, Objective, RetrySettings};
use crate::context::RunContext;
use crate::db::SqlError;
use crate::reporting::{self, TimeZoneError};
use crate::retry::{self, Transient};
use crate::run_log::{self, RunLogError, Stage, StageCounts, StageRecord, StageReport};

const LOCK_SQL: &str = include_str!("../sql/transform/lock.sql");
const STATE_SQL: &str = include_str!("../sql/transform/state.sql");
const SAVE_STATE_SQL: &str = include_str!("../sql/transform/save_state.sql");
const TAKE_DAG_RUN_DAYS_SQL: &str = include_str!("../sql/transform/take_pending_dag_run_days.sql");
const TAKE_VALIDATION_DAYS_SQL: &str =
    include_str!("../sql/transform/take_pending_validation_days.sql");
const ALL_VALIDATION_DAYS_SQL: &str = include_str!("../sql/transform/all_validation_days.sql");
const DELETE_DAG_RUN_DAYS_SQL: &str = include_str!("../sql/transform/delete_dag_run_days.sql");
const DELETE_ALL_DAG_RUN_DAYS_SQL: &str =
    include_str!("../sql/transform/delete_all_dag_run_days.sql");
const DELETE_VALIDATION_DAYS_SQL: &str =
    include_str!("../sql/transform/delete_validation_days.sql");
const QUEUE_WINDOW_SQL: &str = include_str!("../sql/transform/queue_window.sql");
const DAY_FUNCTIONS_SQL: &str = include_str!("../sql/transform/day_functions.sql");
const PLAN_FOR_FEW_DAYS_SQL: &str = include_str!("../sql/transform/plan_for_few_days.sql");
const PLAN_FOR_MANY_DAYS_SQL: &str = include_str!("../sql/transform/plan_for_many_days.sql");
const ANY_TASK_TRIES_SQL: &str = include_str!("../sql/transform/any_task_tries.sql");
const FULL_REFRESH_DAG_MODELS_SQL: &str =
    include_str!("../sql/transform/full_refresh_dag_models.sql");

/// Up to this many (instance, day) pairs, the transform steers the planner to index range scans
/// per day (see `sql/transform/plan_for_few_days.sql`); beyond, one pass over history is cheaper.
const FEW_DAYS: usize = 400;

/// The DAG-run models, each an INSERT over one of the day functions (`dag_runs_on_days`,
/// `dag_run_delays_on_days`) with ($1 instances, $2 days, $3 time zone, $4 run id), for the
/// days an incremental transform recomputes. A full refresh computes the four from one
/// aggregation instead (`sql/transform/full_refresh_dag_models.sql`).
const DAG_RUN_MODELS: [(&str, &str); 4] = [
    (
        "dag_history_daily",
        include_str!("../sql/transform/dag_history_daily.sql"),
    ),
    (
        "dag_success_daily",
        include_str!("../sql/transform/dag_success_daily.sql"),
    ),
    (
        "dag_runtime_daily",
        include_str!("../sql/transform/dag_runtime_daily.sql"),
    ),
    (
        "dag_delay_daily",
        include_str!("../sql/transform/dag_delay_daily.sql"),
    ),
];

/// The task model, keyed by its DAG run's day: an INSERT over `task_tries_on_days` with the
/// parameters of [`DAG_RUN_MODELS`], incremental or full.
const TASK_DAILY_SQL: &str = include_str!("../sql/transform/task_daily.sql");
/// task_cost_daily, with the parameters of task_daily.
const TASK_COST_DAILY_SQL: &str = include_str!("../sql/transform/task_cost_daily.sql");

/// The validation models, each an INSERT over `validation_results_on_days($1, $2)`.
const VALIDATION_MODELS: [(&str, &str); 2] = [
    (
        "validation_test_daily",
        include_str!("../sql/transform/validation_test_daily.sql"),
    ),
    (
        "validator_summary_daily",
        include_str!("../sql/transform/validator_summary_daily.sql"),
    ),
];

/// Why a transform failed; nothing of it is committed.
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// A statement failed.
    #[error("transform: could not {step}")]
    Sql {
        /// What was being done.
        step: String,
        /// The failure; a serialization failure or deadlock makes the transform worth running
        /// again.
        #[source]
        source: SqlError,
    },
    /// The reporting time zone is unknown.
    #[error(transparent)]
    TimeZone(#[from] TimeZoneError),
    /// Recording the stage failed.
    #[error(transparent)]
    RunLog(#[from] RunLogError),
    /// Expected runs (dag_schedule_daily) could not be computed.
    #[error(transparent)]
    ExpectedRuns(#[from] crate::expected_runs::ExpectedRunsError),
    /// Objectives (objective_run) could not be judged.
    #[error(transparent)]
    Objectives(#[from] crate::objectives::ObjectiveError),
    /// Critical paths (dag_run_critical_path) could not be computed.
    #[error(transparent)]
    CriticalPaths(#[from] crate::critical_path::CriticalPathError),
}

impl Transient for TransformError {
    fn is_transient(&self) -> bool {
        match self {
            TransformError::Sql { source, .. } => source.is_transient(),
            TransformError::ExpectedRuns(e) => e.is_transient(),
            TransformError::Objectives(e) => e.is_transient(),
            TransformError::CriticalPaths(e) => e.is_transient(),
            _ => false,
        }
    }
}

/// What a transform did.
#[derive(Debug, Clone, Default)]
pub struct TransformReport {
    /// Whether every day was rebuilt.
    pub full_refresh: bool,
    /// (instance, day) pairs recomputed.
    pub dag_run_days: usize,
    /// Validation days recomputed.
    pub validation_days: usize,
    /// Expected-run (instance, day) pairs recomputed (dag_schedule_daily).
    pub schedule_days: usize,
    /// Missing runs found on those days.
    pub missed_runs: u64,
    /// Objectives judged, and their judgements written.
    pub objectives: crate::objectives::ObjectivesReport,
    /// Model rows written.
    pub rows_written: u64,
    /// Wall time.
    pub seconds: f64,
}

impl StageReport for TransformReport {
    fn counts(&self) -> StageCounts {
        StageCounts {
            rows_read: Some((self.dag_run_days + self.validation_days) as i64),
            rows_written: Some(self.rows_written as i64),
            ..StageCounts::default()
        }
    }
}

impl std::fmt::Display for TransformReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "recomputed {} and {}{} ({} model rows); expected runs: {} ({})",
            crate::format::plural(self.dag_run_days as u64, "DAG-run day", "DAG-run days"),
            crate::format::plural(
                self.validation_days as u64,
                "validation day",
                "validation days"
            ),
            if self.full_refresh {
                ", full refresh"
            } else {
                ""
            },
            self.rows_written,
            crate::format::plural(self.schedule_days as u64, "day", "days"),
            crate::format::plural(self.missed_runs, "missing run", "missing runs"),
        )?;
        if self.objectives.objectives > 0 {
            write!(
                f,
                "; objectives: {} over {} ({}, {:.2} s)",
                crate::format::plural(self.objectives.objectives as u64, "objective", "objectives"),
                crate::format::plural(self.objectives.days as u64, "day", "days"),
                crate::format::plural(self.objectives.judgements, "judgement", "judgements"),
                self.objectives.seconds,
            )?;
        }
        Ok(())
    }
}

/// Recomputes the queued days (or every day), recorded in `pipewatch_run_log`; a transaction
/// rolled back by a serialization failure or deadlock runs again as `retry` says.
pub async fn recompute_days(
    warehouse: &mut Client,
    schema: &Identifier,
    time_zone: &str,
    objectives: &[Objective],
    full_refresh: bool,
    retry: RetrySettings,
    ctx: &RunContext,
) -> Result<TransformReport, TransformError> {
    let report = run_log::record_stage(
        warehouse,
        ctx,
        Stage::Transform,
        None,
        async |warehouse, record| {
            retry::with_retry(&retry, "Transform", async || {
                recompute(
                    warehouse,
                    schema,
                    time_zone,
                    objectives,
                    full_refresh,
                    ctx,
                    record,
                )
                .await
            })
            .await
        },
    )
    .await?;
    tracing::info!(
        full_refresh = report.full_refresh,
        dag_run_days = report.dag_run_days,
        validation_days = report.validation_days,
        schedule_days = report.schedule_days,
        missed_runs = report.missed_runs,
        rows_written = report.rows_written,
        seconds = report.seconds,
        "Recomputed daily models."
    );
    Ok(report)
}

fn sql_error(step: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> TransformError {
    let step = step.into();
    move |e| TransformError::Sql {
        step,
        source: e.into(),
    }
}

async fn recompute(
    warehouse: &mut Client,
    schema: &Identifier,
    time_zone: &str,
    objectives: &[Objective],
    full_refresh: bool,
    ctx: &RunContext,
    record: &StageRecord,
) -> Result<TransformReport, TransformError> {
    let started = Instant::now();
    reporting::today_in_zone(warehouse, time_zone).await?;
    let tx = warehouse
        .transaction()
        .await
        .map_err(sql_error("begin a transaction"))?;
    tx.query_one(LOCK_SQL, &[&schema.as_str()])
        .await
        .map_err(sql_error("take the transform lock"))?;
    // What a day means lives in sql/transform/, not in a migration: re-created every time.
    tx.batch_execute(DAY_FUNCTIONS_SQL)
        .await
        .map_err(sql_error("create the day functions"))?;
    let previous_zone: Option<String> = tx
        .query_opt(STATE_SQL, &[])
        .await
        .map_err(sql_error("read transform_state"))?
        .map(|r| r.get(0));
    let full = full_refresh || previous_zone.as_deref() != Some(time_zone);
    if full && !full_refresh {
        tracing::info!(
            previous_zone = previous_zone.as_deref().unwrap_or("(none)"),
            time_zone,
            "The models were not computed in this reporting time zone yet: rebuilding every day."
        );
    }
    // Queued days are taken (deleted) either way: a full refresh covers them.
    let queued_dag_days = tx
        .query(TAKE_DAG_RUN_DAYS_SQL, &[])
        .await
        .map_err(sql_error("take the queued DAG-run days"))?;
    let queued_validation_days = tx
        .query(TAKE_VALIDATION_DAYS_SQL, &[])
        .await
        .map_err(sql_error("take the queued validation days"))?;
    let validation_days: Vec<NaiveDate> = if full {
        tx.query(ALL_VALIDATION_DAYS_SQL, &[&time_zone])
            .await
            .map_err(sql_error("list every validation day"))?
    } else {
        queued_validation_days
    }
    .iter()
    .map(|r| r.get(0))
    .collect();
    let (plan, plan_step) = if !full && queued_dag_days.len() + validation_days.len() <= FEW_DAYS {
        (PLAN_FOR_FEW_DAYS_SQL, "set the planner for a few days")
    } else {
        (PLAN_FOR_MANY_DAYS_SQL, "set the planner for many days")
    };
    tx.batch_execute(plan).await.map_err(sql_error(plan_step))?;
    let mut rows_written = 0;
    let (instances, dag_days): (Vec<String>, Vec<NaiveDate>) = if full {
        tx.execute(DELETE_ALL_DAG_RUN_DAYS_SQL, &[])
            .await
            .map_err(sql_error("delete the DAG-run model rows"))?;
        let any_tries: bool = tx
            .query_one(ANY_TASK_TRIES_SQL, &[])
            .await
            .map_err(sql_error("look for task tries"))?
            .get(0);
        // Every day: the four DAG-run models from one read of the runs; the days it found
        // are the days task_daily rebuilds below.
        let row = tx
            .query_one(
                FULL_REFRESH_DAG_MODELS_SQL,
                &[&time_zone, &ctx.run_id, &any_tries],
            )
            .await
            .map_err(sql_error(format!(
                "compute {}",
                DAG_RUN_MODELS.map(|(model, _)| model).join(", ")
            )))?;
        rows_written += row.get::<_, i64>(0) as u64;
        (row.get(1), row.get(2))
    } else {
        let instances = queued_dag_days.iter().map(|r| r.get(0)).collect();
        let days: Vec<NaiveDate> = queued_dag_days.iter().map(|r| r.get(1)).collect();
        tx.execute(DELETE_DAG_RUN_DAYS_SQL, &[&instances, &days])
            .await
            .map_err(sql_error("delete the DAG-run model rows of the days"))?;
        (instances, days)
    };
    tx.execute(DELETE_VALIDATION_DAYS_SQL, &[&validation_days, &full])
        .await
        .map_err(sql_error("delete the validation model rows of the days"))?;
    if !dag_days.is_empty() {
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 4] =
            [&instances, &dag_days, &time_zone, &ctx.run_id];
        if !full {
            for (model, sql) in DAG_RUN_MODELS {
                rows_written += tx
                    .execute(sql, &params)
                    .await
                    .map_err(sql_error(format!("compute {model}")))?;
            }
        }
        for (model, sql) in [
            ("task_daily", TASK_DAILY_SQL),
            ("task_cost_daily", TASK_COST_DAILY_SQL),
        ] {
            let started = Instant::now();
            rows_written += tx
                .execute(sql, &params)
                .await
                .map_err(sql_error(format!("compute {model}")))?;
            tracing::debug!(
                model,
                seconds = started.elapsed().as_secs_f64(),
                "computed a task model"
            );
        }
    }
    // The critical path of every finished run of the days (after task_daily, from the same
    // tries); a full refresh first clears every day's.
    let paths_started = Instant::now();
    let paths =
        crate::critical_path::recompute(&tx, &instances, &dag_days, time_zone, full, &ctx.run_id)
            .await?;
    rows_written += paths.runs + paths.steps + paths.daily_rows;
    tracing::debug!(
        runs = paths.runs,
        computed = paths.computed,
        steps = paths.steps,
        seconds = paths_started.elapsed().as_secs_f64(),
        "critical paths"
    );
    if !validation_days.is_empty() {
        for (model, sql) in VALIDATION_MODELS {
            rows_written += tx
                .execute(sql, &[&validation_days, &time_zone, &ctx.run_id])
                .await
                .map_err(sql_error(format!("compute {model}")))?;
        }
    }
    // Expected against actual runs, after the runs' models, in the same transaction.
    let queued: Vec<(String, NaiveDate)> = instances
        .iter()
        .cloned()
        .zip(dag_days.iter().copied())
        .collect();
    let expected =
        crate::expected_runs::recompute(&tx, time_zone, full, &queued, &ctx.run_id).await?;
    rows_written += expected.rows;
    // Objectives, after the expected runs (whose missing slots they count as missed).
    let judged =
        crate::objectives::judge(&tx, objectives, time_zone, full, &dag_days, &ctx.run_id).await?;
    rows_written += judged.judgements;
    tx.execute(SAVE_STATE_SQL, &[&time_zone, &full, &ctx.run_id])
        .await
        .map_err(sql_error("save transform_state"))?;
    let report = TransformReport {
        full_refresh: full,
        dag_run_days: dag_days.len(),
        validation_days: validation_days.len(),
        schedule_days: expected.days,
        missed_runs: expected.missed,
        objectives: judged,
        rows_written,
        seconds: started.elapsed().as_secs_f64(),
    };
    record.succeed_in(&tx, &report.counts()).await?;
    tx.commit().await.map_err(sql_error("commit"))?;
    Ok(report)
}

/// Queues the days of `from..=to` that have runs, results or model rows, for `instance` (and
/// for validation), for a backfill: work proportional to the data in the window.
pub async fn queue_window(
    warehouse: &Client,
    instance: &str,
    from: NaiveDate,
    to: NaiveDate,
    time_zone: &str,
) -> Result<(), TransformError> {
    warehouse
        .execute(QUEUE_WINDOW_SQL, &[&instance, &from, &to, &time_zone])
        .await
        .map_err(sql_error("queue the backfill window"))?;
    Ok(())
}
