//! Retention, applied by `pipewatch run`: loaded extract objects older than
//! `[retention] staged_extract_days` are deleted from the stage (then forgotten in
//! `staged_extract`), and `pipewatch_run_log` rows older than `run_log_days` are deleted.
//!
//! Never deleted: an extract that was not loaded yet (a later load needs it), whatever its age;
//! objects pipewatch did not register (they are not its to delete). An object is deleted before
//! its row, so a failure leaves the row and the next run tries again.

use tokio_postgres::Client;

use crate::config::RetentionSettings;
use crate::context::RunContext;
use crate::db::SqlError;
use crate::run_log::{self, RunLogError, Stage, StageCounts, StageReport};
use crate::stage::{ObjectStore, StageError};

const EXPIRED_SQL: &str = include_str!("../sql/retention/expired_extracts.sql");
const FORGET_SQL: &str = include_str!("../sql/retention/forget_extract.sql");
const PRUNE_RUN_LOG_SQL: &str = include_str!("../sql/retention/prune_run_log.sql");

/// Why retention stopped.
#[derive(Debug, thiserror::Error)]
pub enum RetentionError {
    /// A query failed.
    #[error("retention: could not {step}")]
    Sql {
        /// What was being done.
        step: &'static str,
        /// The failure.
        #[source]
        source: SqlError,
    },
    /// An object could not be deleted.
    #[error("retention: could not delete an expired extract")]
    Stage(#[source] Box<StageError>),
    /// Recording the stage failed.
    #[error(transparent)]
    RunLog(#[from] RunLogError),
}

/// What retention deleted.
#[derive(Debug, Clone, Copy, Default)]
pub struct RetentionReport {
    /// Extract objects deleted.
    pub objects_deleted: u64,
    /// Run-log rows deleted.
    pub run_log_rows_deleted: u64,
}

impl StageReport for RetentionReport {
    fn counts(&self) -> StageCounts {
        StageCounts {
            rows_read: None,
            rows_written: Some((self.objects_deleted + self.run_log_rows_deleted) as i64),
            ..StageCounts::default()
        }
    }
}

/// Applies retention, recorded in `pipewatch_run_log`.
pub async fn apply(
    warehouse: &mut Client,
    store: &ObjectStore,
    settings: &RetentionSettings,
    ctx: &RunContext,
) -> Result<RetentionReport, RetentionError> {
    let report = run_log::record_stage(
        warehouse,
        ctx,
        Stage::Retention,
        None,
        async |warehouse, _| delete_expired(warehouse, store, settings).await,
    )
    .await?;
    tracing::info!(
        objects_deleted = report.objects_deleted,
        run_log_rows_deleted = report.run_log_rows_deleted,
        "Applied retention."
    );
    Ok(report)
}

async fn delete_expired(
    warehouse: &Client,
    store: &ObjectStore,
    settings: &RetentionSettings,
) -> Result<RetentionReport, RetentionError> {
    let sql_error = |step| {
        move |e: tokio_postgres::Error| RetentionError::Sql {
            step,
            source: e.into(),
        }
    };
    let mut report = RetentionReport::default();
    if settings.staged_extract_days > 0 {
        let days = settings.staged_extract_days as i32;
        let expired = warehouse
            .query(EXPIRED_SQL, &[&days])
            .await
            .map_err(sql_error("list expired extracts"))?;
        for row in expired {
            let key: String = row.get(0);
            store
                .delete(&key)
                .await
                .map_err(|e| RetentionError::Stage(Box::new(e)))?;
            warehouse
                .execute(FORGET_SQL, &[&key])
                .await
                .map_err(sql_error("forget a deleted extract"))?;
            report.objects_deleted += 1;
        }
    }
    if settings.run_log_days > 0 {
        report.run_log_rows_deleted = warehouse
            .execute(PRUNE_RUN_LOG_SQL, &[&(settings.run_log_days as i32)])
            .await
            .map_err(sql_error("prune pipewatch_run_log"))?;
    }
    Ok(report)
}
