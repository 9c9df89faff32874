//! The queue of staged extracts: listing what waits to be loaded, setting aside an extract
//! whose load cannot succeed as it is (so the extracts after it are loaded), and discarding one
//! for good.

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use super::error::{LoadError, sql_error};
use crate::context::RunContext;
use crate::source::ExtractMode;

const STAGED_EXTRACTS_SQL: &str = include_str!("../../sql/load/staged_extracts.sql");
const SET_ASIDE_SQL: &str = include_str!("../../sql/load/set_aside.sql");
const SET_ASIDE_EXTRACTS_SQL: &str = include_str!("../../sql/load/set_aside_extracts.sql");
const DISCARD_SQL: &str = include_str!("../../sql/load/discard.sql");

/// A staged extract as registered in `staged_extract`.
#[derive(Debug, Clone)]
pub struct StagedExtract {
    /// Its key in the stage.
    pub object_key: String,
    /// The Airflow instance.
    pub airflow_instance: String,
    /// How its runs were chosen.
    pub extract_mode: ExtractMode,
    /// The source's clock at the extract.
    pub source_read_at: DateTime<Utc>,
    /// Rows the extract wrote.
    pub row_count: i64,
    /// Highest source id the extract saw.
    pub max_source_id: Option<i32>,
    /// Lower bound of its changed-run scan, if it scanned.
    pub changed_runs_since: Option<DateTime<Utc>>,
    /// Its task-instance object, if task instances were extracted with it.
    pub task_object_key: Option<String>,
    /// Task tries its task object holds.
    pub task_row_count: Option<i64>,
    /// When it was loaded, if it was.
    pub loaded_at: Option<DateTime<Utc>>,
    /// Why a load set it aside, if one did.
    pub set_aside_reason: Option<String>,
}

/// An extract a load set aside, waiting for an operator.
#[derive(Debug, Clone)]
pub struct SetAside {
    /// Its key in the stage.
    pub object_key: String,
    /// The Airflow instance.
    pub airflow_instance: String,
    /// When it was set aside.
    pub set_aside_at: DateTime<Utc>,
    /// Why.
    pub reason: String,
}

impl std::fmt::Display for SetAside {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "extract {} set aside since {}: {} (once the cause is fixed, `pipewatch load --object {}` loads it; `pipewatch load --discard {}` drops it, and later extracts bring its runs again)",
            self.object_key,
            self.set_aside_at.format("%Y-%m-%d %H:%M:%S UTC"),
            self.reason,
            self.object_key,
            self.object_key
        )
    }
}

/// Sets aside the registered extract `key` whose load failed with `error` (one for which
/// [`LoadError::is_in_the_object`] holds), so the extracts after it are loaded.
pub async fn set_aside(
    warehouse: &Client,
    key: &str,
    error: &LoadError,
    ctx: &RunContext,
) -> Result<(), LoadError> {
    let reason = crate::db::error_chain(error);
    warehouse
        .execute(SET_ASIDE_SQL, &[&key, &ctx.run_id, &reason])
        .await
        .map_err(sql_error(key, "set the extract aside"))?;
    tracing::warn!(
        object = %key,
        reason = %reason,
        "Set the extract aside: it cannot be loaded as it is; the extracts after it are loaded."
    );
    Ok(())
}

/// The extracts set aside and not dealt with yet, of `instance` or all.
pub async fn set_aside_extracts(
    warehouse: &Client,
    instance: Option<&str>,
) -> Result<Vec<SetAside>, LoadError> {
    let rows = warehouse
        .query(SET_ASIDE_EXTRACTS_SQL, &[&instance])
        .await
        .map_err(sql_error(
            "(set-aside extracts)",
            "list the set-aside extracts",
        ))?;
    Ok(rows
        .iter()
        .map(|r| SetAside {
            object_key: r.get("object_key"),
            airflow_instance: r.get("airflow_instance"),
            set_aside_at: r.get("set_aside_at"),
            reason: r.get("set_aside_reason"),
        })
        .collect())
}

/// Discards the extract `key` (pending or set aside): it leaves the queue for good. Returns its
/// instance and why it had been set aside, or None when no such extract waits to be loaded.
pub async fn discard(
    warehouse: &Client,
    key: &str,
    ctx: &RunContext,
) -> Result<Option<(String, Option<String>)>, LoadError> {
    let row = warehouse
        .query_opt(DISCARD_SQL, &[&key, &ctx.run_id])
        .await
        .map_err(sql_error(key, "discard the extract"))?;
    Ok(row.map(|r| (r.get("airflow_instance"), r.get("set_aside_reason"))))
}

/// Lists registered extracts: pending ones (of one instance or all), or the one with `key`.
pub async fn staged_extracts(
    warehouse: &Client,
    instance: Option<&str>,
    key: Option<&str>,
    pending_only: bool,
) -> Result<Vec<StagedExtract>, LoadError> {
    let rows = warehouse
        .query(STAGED_EXTRACTS_SQL, &[&instance, &key, &pending_only])
        .await
        .map_err(|e| LoadError::Sql {
            object: key.unwrap_or("(pending extracts)").to_string(),
            step: "list staged extracts",
            source: e.into(),
        })?;
    Ok(rows
        .iter()
        .map(|r| StagedExtract {
            object_key: r.get("object_key"),
            airflow_instance: r.get("airflow_instance"),
            extract_mode: ExtractMode::parse(r.get("extract_mode"))
                .unwrap_or(ExtractMode::Incremental),
            source_read_at: r.get("source_read_at"),
            row_count: r.get("row_count"),
            max_source_id: r.get("max_source_id"),
            changed_runs_since: r.get("changed_runs_since"),
            loaded_at: r.get("loaded_at"),
            task_object_key: r.get("task_object_key"),
            task_row_count: r.get("task_row_count"),
            set_aside_reason: r.get("set_aside_reason"),
        })
        .collect())
}
