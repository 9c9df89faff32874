//! Recording pipewatch's own stages in `pipewatch_run_log`, written once: [`record_stage`].
//!
//! pipewatch measures itself the way it measures pipelines: each stage of each invocation is a
//! row with its start and end, rows read and written, outcome and error text. A stage's row is
//! inserted as `running` when it starts and finished when it ends. A stage that writes in one
//! transaction finishes its row inside that transaction ([`StageRecord::succeed_in`]), so the
//! row says `succeeded` exactly when the stage's writes committed.
//!
//! The outcome matches the exit code: `succeeded` (0), `checks_failed` (1: the stage ran and
//! found failures, see [`StageReport::verdict`]), `failed` (3). A stage whose process died
//! stays `running` until the next stage of any invocation starts and finds no session of its
//! run id on the server (every pipewatch connection's `application_name` is
//! `pipewatch <run_id>`): it is then marked `abandoned`.
//!
//! Bookkeeping never hides the real error: when a stage fails and its failure cannot be
//! recorded (often because the warehouse connection is what broke), the recording failure is
//! logged and the stage's own error is returned. A stage that succeeded but whose success could
//! not be recorded stays a success (its work is done); the recording failure is logged.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use tokio_postgres::{Client, GenericClient};

use crate::context::{RunContext, VERSION};
use crate::db::{self, SqlError};

const START_SQL: &str = include_str!("../sql/run_log/start.sql");
const FINISH_SQL: &str = include_str!("../sql/run_log/finish.sql");
const RECORD_SQL: &str = include_str!("../sql/run_log/record.sql");
const MARK_ABANDONED_SQL: &str = include_str!("../sql/run_log/mark_abandoned.sql");

/// The stages pipewatch records, as stored in `pipewatch_run_log.stage`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// Applying schema migrations.
    Migrate,
    /// Reading DAG runs from a source into the stage.
    Extract,
    /// Loading a staged extract into the warehouse.
    Load,
    /// Reading an instance's DAG catalogue into the warehouse.
    Catalog,
    /// Recomputing the daily models.
    Transform,
    /// Comparing the source with the warehouse.
    Reconcile,
    /// Deleting what is past retention.
    Retention,
    /// Running validation tests.
    Validate,
}

impl Stage {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Migrate => "migrate",
            Stage::Extract => "extract",
            Stage::Load => "load",
            Stage::Catalog => "catalog",
            Stage::Transform => "transform",
            Stage::Reconcile => "reconcile",
            Stage::Retention => "retention",
            Stage::Validate => "validate",
        }
    }
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `pipewatch_run_log` could not be written.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not record stage {stage} in pipewatch_run_log{}",
    if source.is_undefined_table() { " (run `pipewatch migrate`: the table is missing)" } else { "" }
)]
pub struct RunLogError {
    stage: Stage,
    #[source]
    source: SqlError,
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageOutcome {
    /// The stage did all its work, and everything it checked held (exit code 0).
    Succeeded,
    /// The stage did its work and found failures: a `halt` validation test failed, reconcile
    /// found a difference (exit code 1). What it found is recorded as the error text.
    ChecksFailed,
    /// The stage could not do its work (exit code 3); its error text is recorded.
    Failed,
}

impl StageOutcome {
    fn as_str(self) -> &'static str {
        match self {
            StageOutcome::Succeeded => "succeeded",
            StageOutcome::ChecksFailed => "checks_failed",
            StageOutcome::Failed => "failed",
        }
    }
}

/// What a finished stage reports.
#[derive(Debug, Clone, Default)]
pub struct StageCounts {
    /// Rows read from the stage's source, when it reads rows.
    pub rows_read: Option<i64>,
    /// Rows written (inserted or updated), when it writes rows.
    pub rows_written: Option<i64>,
    /// Task tries read, for the stages that carry them beside DAG runs (extract, load).
    pub task_rows_read: Option<i64>,
    /// Task tries staged (extract) or inserted or changed (load).
    pub task_rows_written: Option<i64>,
}

/// What a stage that returned a report found: its run-log row's outcome and error text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Everything it checked held (or it checks nothing): `succeeded`.
    Clean,
    /// It ran and found failures, described here: `checks_failed`.
    ChecksFailed(String),
    /// Part of its work could not run (a validation test that errored), described here:
    /// `failed`.
    CouldNotRun(String),
}

/// A stage's report: what its run-log row records when the stage returns.
pub trait StageReport {
    /// Rows read and written.
    fn counts(&self) -> StageCounts;
    /// How the stage ended, for stages that check something; the default is [`Verdict::Clean`].
    fn verdict(&self) -> Verdict {
        Verdict::Clean
    }
}

/// A stage whose start is recorded.
#[derive(Debug)]
pub struct StageRecord {
    run_log_id: i64,
    stage: Stage,
    /// Set once the stage finished its row itself (inside its transaction).
    finished: AtomicBool,
}

impl StageRecord {
    /// Finishes the row as succeeded with `counts`, inside the stage's own transaction `tx`,
    /// so that the row says `succeeded` exactly when the stage's writes commit.
    pub async fn succeed_in(
        &self,
        tx: &impl GenericClient,
        counts: &StageCounts,
    ) -> Result<(), RunLogError> {
        finish(tx, self, StageOutcome::Succeeded, counts, None).await?;
        self.finished.store(true, Ordering::SeqCst);
        Ok(())
    }
}

/// Runs `work` as `stage` (of `airflow_instance`, when the stage works per instance), recorded
/// in `pipewatch_run_log`: the row is started before `work` and finished after it, as
/// succeeded with the report's counts or as failed with the error and its causes. `work` gets
/// the warehouse connection back, and the record for [`StageRecord::succeed_in`].
pub async fn record_stage<T, E>(
    warehouse: &mut Client,
    ctx: &RunContext,
    stage: Stage,
    airflow_instance: Option<&str>,
    work: impl AsyncFnOnce(&mut Client, &StageRecord) -> Result<T, E>,
) -> Result<T, E>
where
    T: StageReport,
    E: std::error::Error + From<RunLogError> + 'static,
{
    let record = start(&*warehouse, ctx, stage, airflow_instance).await?;
    let result = work(warehouse, &record).await;
    let written = match &result {
        Ok(_) if record.finished.load(Ordering::SeqCst) => Ok(()),
        Ok(report) => {
            let (outcome, message) = match report.verdict() {
                Verdict::Clean => (StageOutcome::Succeeded, None),
                Verdict::ChecksFailed(found) => (StageOutcome::ChecksFailed, Some(found)),
                Verdict::CouldNotRun(why) => (StageOutcome::Failed, Some(why)),
            };
            finish(
                &*warehouse,
                &record,
                outcome,
                &report.counts(),
                message.as_deref(),
            )
            .await
        }
        Err(error) => {
            let message = db::error_chain(error);
            finish(
                &*warehouse,
                &record,
                StageOutcome::Failed,
                &StageCounts::default(),
                Some(&message),
            )
            .await
        }
    };
    if let Err(bookkeeping) = written {
        tracing::warn!(
            stage = stage.as_str(),
            airflow_instance,
            error = %db::error_chain(&bookkeeping),
            "Could not record how the stage ended in pipewatch_run_log."
        );
    }
    result
}

async fn start(
    client: &impl GenericClient,
    ctx: &RunContext,
    stage: Stage,
    airflow_instance: Option<&str>,
) -> Result<StageRecord, RunLogError> {
    // Stages of invocations that died are closed first, so the log never shows them running
    // forever.
    let abandoned = client
        .execute(MARK_ABANDONED_SQL, &[])
        .await
        .map_err(|e| RunLogError {
            stage,
            source: e.into(),
        })?;
    if abandoned > 0 {
        tracing::warn!(
            stages = abandoned,
            "Marked stages of earlier invocations that died without recording their end as abandoned in pipewatch_run_log."
        );
    }
    let row = client
        .query_one(
            START_SQL,
            &[
                &ctx.run_id,
                &ctx.command,
                &stage.as_str(),
                &airflow_instance,
                &VERSION,
                &ctx.hostname,
            ],
        )
        .await
        .map_err(|e| RunLogError {
            stage,
            source: e.into(),
        })?;
    Ok(StageRecord {
        run_log_id: row.get(0),
        stage,
        finished: AtomicBool::new(false),
    })
}

async fn finish(
    client: &impl GenericClient,
    record: &StageRecord,
    outcome: StageOutcome,
    counts: &StageCounts,
    error_message: Option<&str>,
) -> Result<(), RunLogError> {
    client
        .execute(
            FINISH_SQL,
            &[
                &record.run_log_id,
                &outcome.as_str(),
                &counts.rows_read,
                &counts.rows_written,
                &counts.task_rows_read,
                &counts.task_rows_written,
                &error_message,
            ],
        )
        .await
        .map_err(|e| RunLogError {
            stage: record.stage,
            source: e.into(),
        })?;
    Ok(())
}

/// Records a whole stage after it ended, in one row (for migrations, which run before the table
/// can be written).
pub async fn record_finished(
    client: &impl GenericClient,
    ctx: &RunContext,
    stage: Stage,
    started_at: DateTime<Utc>,
    counts: &StageCounts,
) -> Result<(), RunLogError> {
    record_row(
        client,
        ctx,
        (stage, None),
        started_at,
        StageOutcome::Succeeded,
        counts,
        None,
    )
    .await
}

/// Records that a stage of this invocation failed without running anything of its own (an
/// extract still set aside makes `run` and `load` exit 3): the run log's outcome of the
/// invocation then means what its exit code means.
pub async fn record_failure(
    client: &impl GenericClient,
    ctx: &RunContext,
    stage: Stage,
    airflow_instance: Option<&str>,
    message: &str,
) -> Result<(), RunLogError> {
    record_row(
        client,
        ctx,
        (stage, airflow_instance),
        Utc::now(),
        StageOutcome::Failed,
        &StageCounts::default(),
        Some(message),
    )
    .await
}

async fn record_row(
    client: &impl GenericClient,
    ctx: &RunContext,
    (stage, airflow_instance): (Stage, Option<&str>),
    started_at: DateTime<Utc>,
    outcome: StageOutcome,
    counts: &StageCounts,
    error_message: Option<&str>,
) -> Result<(), RunLogError> {
    client
        .execute(
            RECORD_SQL,
            &[
                &ctx.run_id,
                &ctx.command,
                &stage.as_str(),
                &airflow_instance,
                &started_at,
                &outcome.as_str(),
                &counts.rows_read,
                &counts.rows_written,
                &counts.task_rows_read,
                &counts.task_rows_written,
                &error_message,
                &VERSION,
                &ctx.hostname,
            ],
        )
        .await
        .map_err(|e| RunLogError {
            stage,
            source: e.into(),
        })?;
    Ok(())
}
