//! Recording pipewatch's own stages in `pipewatch_run_log`.
//!
//! pipewatch measures itself the way it measures pipelines: each stage of each invocation is a
//! row with its start and end, rows read and written, outcome and error text. A stage's row is
//! inserted as `running` when it starts and finished when it ends; the finishing update can run
//! inside the stage's own transaction, so the row says `succeeded` exactly when the stage's
//! writes committed.

use chrono::{DateTime, Utc};
use tokio_postgres::GenericClient;

use crate::context::{RunContext, VERSION};
use crate::db;

const START_SQL: &str = include_str!("../sql/run_log/start.sql");
const FINISH_SQL: &str = include_str!("../sql/run_log/finish.sql");
const RECORD_SQL: &str = include_str!("../sql/run_log/record.sql");

/// `pipewatch_run_log` could not be written.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not record stage {stage} in pipewatch_run_log: {detail} (run `pipewatch migrate` if the table is missing)"
)]
pub struct RunLogError {
    stage: String,
    detail: String,
}

/// How a stage ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageOutcome {
    /// The stage did all its work.
    Succeeded,
    /// The stage failed; its error text is recorded.
    Failed,
}

impl StageOutcome {
    fn as_str(self) -> &'static str {
        match self {
            StageOutcome::Succeeded => "succeeded",
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
}

/// A stage whose start is recorded.
#[derive(Debug, Clone)]
pub struct StageRecord {
    run_log_id: i64,
    stage: String,
}

/// Records the start of `stage` (for `airflow_instance`, when the stage works per instance).
pub async fn start(
    client: &impl GenericClient,
    ctx: &RunContext,
    stage: &str,
    airflow_instance: Option<&str>,
) -> Result<StageRecord, RunLogError> {
    let row = client
        .query_one(
            START_SQL,
            &[
                &ctx.run_id,
                &ctx.command,
                &stage,
                &airflow_instance,
                &VERSION,
                &ctx.hostname,
            ],
        )
        .await
        .map_err(|e| RunLogError {
            stage: stage.to_string(),
            detail: db::describe(&e),
        })?;
    Ok(StageRecord {
        run_log_id: row.get(0),
        stage: stage.to_string(),
    })
}

/// Records how a started stage ended.
pub async fn finish(
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
                &error_message,
            ],
        )
        .await
        .map_err(|e| RunLogError {
            stage: record.stage.clone(),
            detail: db::describe(&e),
        })?;
    Ok(())
}

/// Records that a started stage failed with `error` (after its transaction rolled back).
pub async fn finish_failed(
    client: &impl GenericClient,
    record: &StageRecord,
    error: &str,
) -> Result<(), RunLogError> {
    finish(
        client,
        record,
        StageOutcome::Failed,
        &StageCounts::default(),
        Some(error),
    )
    .await
}

/// Records a whole stage after it ended (for stages that run before the table can be written).
pub async fn record(
    client: &impl GenericClient,
    ctx: &RunContext,
    stage: &str,
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
                &stage,
                &None::<String>,
                &started_at,
                &outcome.as_str(),
                &counts.rows_read,
                &counts.rows_written,
                &error_message,
                &VERSION,
                &ctx.hostname,
            ],
        )
        .await
        .map_err(|e| RunLogError {
            stage: stage.to_string(),
            detail: db::describe(&e),
        })?;
    Ok(())
}
