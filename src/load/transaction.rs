//! The load's transaction and what a load reports: [`begin`] takes the schema's load lock and
//! sets the run id, [`finish_registered`] moves the watermark past a registered extract and
//! marks it loaded, both inside the transaction that copies the rows.

use tokio_postgres::{Client, Transaction};

use super::error::{LoadError, sql_error};
use super::queue::StagedExtract;
use crate::config::{Identifier, RetrySettings};
use crate::context::RunContext;
use crate::run_log::{StageCounts, StageReport};
use crate::source::{ExtractMode, ObjectKind};

const LOCK_SQL: &str = include_str!("../../sql/load/lock.sql");
const SET_SETTING_SQL: &str = include_str!("../../sql/common/set_setting.sql");
const ADVANCE_WATERMARK_SQL: &str = include_str!("../../sql/load/advance_watermark.sql");
const MARK_LOADED_SQL: &str = include_str!("../../sql/load/mark_loaded.sql");

/// What one load did.
#[derive(Debug, Clone)]
pub struct LoadReport {
    /// The object loaded.
    pub object_key: String,
    /// Rows in the object.
    pub rows_read: u64,
    /// Rows of dag_run_history inserted or changed.
    pub rows_changed: u64,
    /// Whether the first-load fast path (straight COPY) was used.
    pub direct: bool,
    /// What was loaded from the task-instance object, if there was one.
    pub tasks: Option<TaskLoadReport>,
    /// Wall time.
    pub seconds: f64,
}

/// What one load did with a task-instance object.
#[derive(Debug, Clone)]
pub struct TaskLoadReport {
    /// Task tries in the object.
    pub rows_read: u64,
    /// Rows of task_run_history inserted, changed or deleted (replaced placeholders).
    pub rows_changed: u64,
}

/// Where loads go: the warehouse schema, and the reporting time zone in which the days of
/// changed runs are queued for the transform.
#[derive(Debug, Clone, Copy)]
pub struct LoadTarget<'a> {
    /// pipewatch's schema.
    pub schema: &'a Identifier,
    /// The reporting time zone.
    pub time_zone: &'a str,
    /// How a load rolled back by a serialization failure or deadlock is retried.
    pub retry: RetrySettings,
}

impl LoadReport {
    /// Logs what the load did, with `message`.
    pub(super) fn log(&self, message: &str) {
        tracing::info!(
            object = %self.object_key,
            rows_read = self.rows_read,
            rows_changed = self.rows_changed,
            first_load = self.direct,
            task_rows_read = self.tasks.as_ref().map(|t| t.rows_read),
            task_rows_changed = self.tasks.as_ref().map(|t| t.rows_changed),
            seconds = self.seconds,
            "{message}"
        );
    }
}

impl StageReport for LoadReport {
    fn counts(&self) -> StageCounts {
        StageCounts {
            rows_read: Some(self.rows_read as i64),
            rows_written: Some(self.rows_changed as i64),
            task_rows_read: self.tasks.as_ref().map(|t| t.rows_read as i64),
            task_rows_written: self.tasks.as_ref().map(|t| t.rows_changed as i64),
        }
    }
}

impl std::fmt::Display for LoadReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "loaded {} (", self.object_key)?;
        if ObjectKind::of_key(&self.object_key) == ObjectKind::DagRuns {
            write!(
                f,
                "{} runs read, {} inserted or changed",
                self.rows_read, self.rows_changed
            )?;
            if self.tasks.is_some() {
                f.write_str("; ")?;
            }
        }
        if let Some(t) = &self.tasks {
            write!(
                f,
                "{} task tries read, {} inserted or changed",
                t.rows_read, t.rows_changed
            )?;
        }
        f.write_str(")")
    }
}

/// Opens a load's transaction: takes the schema's load lock and sets `pipewatch.run_id`, which
/// fills `loaded_by_run_id`. `object` names what is loaded, for errors.
pub(super) async fn begin<'c>(
    warehouse: &'c mut Client,
    schema: &Identifier,
    object: &str,
    ctx: &RunContext,
) -> Result<Transaction<'c>, LoadError> {
    let sql_error = |step: &'static str| sql_error(object, step);
    let tx = warehouse
        .transaction()
        .await
        .map_err(sql_error("begin a transaction"))?;
    tx.query_one(LOCK_SQL, &[&schema.as_str()])
        .await
        .map_err(sql_error("take the load lock"))?;
    tx.query_one(
        SET_SETTING_SQL,
        &[&"pipewatch.run_id", &ctx.run_id.to_string()],
    )
    .await
    .map_err(sql_error("set the run id"))?;
    Ok(tx)
}

/// In the load's transaction: advances the instance's watermark past the registered extract
/// `r` and marks it loaded.
pub(super) async fn finish_registered(
    tx: &Transaction<'_>,
    r: &StagedExtract,
    report: &LoadReport,
    ctx: &RunContext,
) -> Result<(), LoadError> {
    let key = r.object_key.as_str();
    let sql_error = |step: &'static str| sql_error(key, step);

    // A full extract read everything, so it also counts as a changed-run scan. A window
    // extract (backfill) saw only some days: it moves no watermark, but it is loaded like
    // any other (so no later run loads it again, and retention can delete it).
    if r.extract_mode != ExtractMode::Window {
        let scanned_at = (r.extract_mode == ExtractMode::Full || r.changed_runs_since.is_some())
            .then_some(r.source_read_at);
        tx.execute(
            ADVANCE_WATERMARK_SQL,
            &[
                &r.airflow_instance,
                &r.max_source_id,
                &scanned_at,
                &r.source_read_at,
                &ctx.run_id,
            ],
        )
        .await
        .map_err(sql_error("advance the watermark"))?;
    }
    let task_rows_changed = report.tasks.as_ref().map(|t| t.rows_changed as i64);
    tx.execute(
        MARK_LOADED_SQL,
        &[
            &key,
            &ctx.run_id,
            &(report.rows_changed as i64),
            &task_rows_changed,
        ],
    )
    .await
    .map_err(sql_error("mark the extract loaded"))?;
    Ok(())
}
