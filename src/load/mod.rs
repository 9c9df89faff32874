//! `pipewatch load`: from the stage into `dag_run_history`, idempotently.
//!
//! Each staged object is loaded in one warehouse transaction: the CSV bytes are streamed with
//! `COPY ... FROM STDIN` (never parsed or held in memory here), merged with one upsert on the
//! natural key (airflow_instance, dag_id, run_id), and the instance's watermark, the object's
//! `staged_extract` row and the stage's `pipewatch_run_log` row are updated in the same
//! transaction. A crash at any point leaves the warehouse as it was or fully loaded; loading
//! the same object again changes no row.
//!
//! The first load of an instance (the warehouse holds none of its runs, so nothing can
//! conflict) copies straight into `dag_run_history`; later loads copy into a temporary table and
//! upsert from it. Loads into one warehouse schema are serialised by an advisory lock.
//!
//! The layout: this module holds the load of a staged extract ([`load_object`]), its
//! transaction and its errors; [`fed`] the load that reads an extract while it is written;
//! `object.rs` one object of one kind (straight or batch + upsert, the days queued);
//! `bulk.rs` the bulk first load's index handling; `copy.rs` the COPY itself (binary, the CSV
//! fallback, the header check, naming a refused value); `binary.rs` the binary COPY format;
//! [`queue`] the staged extracts waiting, set aside or discarded.

mod binary;
mod bulk;
mod copy;
mod fed;
mod object;
mod queue;

use std::time::Instant;

use tokio_postgres::{Client, Transaction};

use crate::config::{Identifier, RetrySettings};
use crate::context::RunContext;
use crate::db::SqlError;
use crate::retry::{self, Transient};
use crate::run_log::{self, RunLogError, Stage, StageCounts, StageRecord, StageReport};
use crate::source::{ExtractMode, ObjectKind};
use crate::stage::{ObjectStore, StageError};

use self::copy::name_the_value;
use self::object::load_kind;

pub use self::fed::{LoadFeed, load_fed};
pub use self::queue::{
    SetAside, StagedExtract, discard, set_aside, set_aside_extracts, staged_extracts,
};

const LOCK_SQL: &str = include_str!("../../sql/load/lock.sql");
const SET_SETTING_SQL: &str = include_str!("../../sql/common/set_setting.sql");
const ADVANCE_WATERMARK_SQL: &str = include_str!("../../sql/load/advance_watermark.sql");
const MARK_LOADED_SQL: &str = include_str!("../../sql/load/mark_loaded.sql");

/// Why a load failed. Nothing of a failed load is committed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A warehouse statement failed.
    #[error("load of {object}: could not {step}")]
    Sql {
        /// The object key.
        object: String,
        /// What was being done.
        step: &'static str,
        /// The failure; a serialization failure or deadlock makes the load worth running again.
        #[source]
        source: SqlError,
    },
    /// Reading the object failed.
    #[error("load of {object}")]
    Stage {
        /// The object key.
        object: String,
        /// The stage error (boxed: it is large and rare).
        #[source]
        source: Box<StageError>,
    },
    /// The object is not a pipewatch extract of the kind its key names.
    #[error(
        "load of {object}: not a pipewatch {kind} extract: its header is {found:?}, expected {expected:?}"
    )]
    Header {
        /// The object key.
        object: String,
        /// What the object should hold (`dag_run`, `task_instance`).
        kind: &'static str,
        /// The header found (first 300 bytes).
        found: String,
        /// The header expected.
        expected: String,
    },
    /// The object holds a different number of rows than its extract wrote.
    #[error(
        "load of {object}: the object holds {found} rows but its extract staged {expected}: the object was changed or truncated; re-extract (pipewatch extract) instead of loading it"
    )]
    RowCount {
        /// The object key.
        object: String,
        /// Rows copied.
        found: u64,
        /// Rows the extract recorded.
        expected: i64,
    },
    /// A value in the object that the warehouse cannot take.
    #[error(
        "load of {object}: line {line} ({row}): the warehouse cannot take its {column}: {detail}"
    )]
    Value {
        /// The object key.
        object: String,
        /// The line of the object (1 is the header).
        line: u64,
        /// The row, named by its key columns (`dag_id=..., run_id=...`).
        row: String,
        /// The column.
        column: String,
        /// PostgreSQL's message.
        detail: String,
    },
    /// Loading an extract while it was written did not work out; it is loaded from the stage.
    #[error("load of {object} while it was extracted: {reason}")]
    NotFed {
        /// The object (or the instance's extract, before its key is known).
        object: String,
        /// Why.
        reason: String,
    },
    /// Recording the stage failed.
    #[error(transparent)]
    RunLog(#[from] RunLogError),
}

impl LoadError {
    /// Whether the failure comes from what the object holds (missing, truncated or changed
    /// object, a value the warehouse refuses), so loading it again cannot succeed: such an
    /// extract is set aside instead of blocking the ones after it. Connection, lock, disk and
    /// other failures of the moment are not.
    pub fn is_in_the_object(&self) -> bool {
        match self {
            LoadError::Header { .. } | LoadError::RowCount { .. } | LoadError::Value { .. } => true,
            LoadError::Stage { source, .. } => {
                matches!(
                    **source,
                    StageError::NotFound { .. } | StageError::InvalidKey { .. }
                )
            }
            LoadError::Sql { source, .. } => is_data_error(&source.0),
            LoadError::RunLog(_) | LoadError::NotFed { .. } => false,
        }
    }
}

/// Whether the warehouse refused what it was given: class 22 (data exception) or 23
/// (integrity constraint violation).
fn is_data_error(error: &tokio_postgres::Error) -> bool {
    error
        .code()
        .is_some_and(|code| code.code().starts_with("22") || code.code().starts_with("23"))
}

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
    fn log(&self, message: &str) {
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

impl Transient for LoadError {
    /// Whether running the whole load again may succeed.
    fn is_transient(&self) -> bool {
        matches!(self, LoadError::Sql { source, .. } if source.is_transient())
    }
}

impl StageReport for LoadReport {
    fn counts(&self) -> StageCounts {
        let (task_read, task_changed) = self
            .tasks
            .as_ref()
            .map_or((0, 0), |t| (t.rows_read, t.rows_changed));
        StageCounts {
            rows_read: Some((self.rows_read + task_read) as i64),
            rows_written: Some((self.rows_changed + task_changed) as i64),
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

/// Loads the object `key` (registered as `registered`, or an unregistered object given by
/// hand, which is merged but moves no watermark), recording the stage in `pipewatch_run_log`.
pub async fn load_object(
    warehouse: &mut Client,
    target: &LoadTarget<'_>,
    store: &ObjectStore,
    key: &str,
    registered: Option<&StagedExtract>,
    ctx: &RunContext,
) -> Result<LoadReport, LoadError> {
    let instance = registered.map(|r| r.airflow_instance.as_str());
    let report = run_log::record_stage(
        warehouse,
        ctx,
        Stage::Load,
        instance,
        async |warehouse, record| {
            retry::with_retry(&target.retry, "Load", async || {
                load_inner(warehouse, target, store, key, registered, ctx, record).await
            })
            .await
        },
    )
    .await?;
    report.log("Loaded extract.");
    Ok(report)
}

async fn load_inner(
    warehouse: &mut Client,
    target: &LoadTarget<'_>,
    store: &ObjectStore,
    key: &str,
    registered: Option<&StagedExtract>,
    ctx: &RunContext,
    record: &StageRecord,
) -> Result<LoadReport, LoadError> {
    let started = Instant::now();
    let (schema, time_zone) = (target.schema, target.time_zone);
    let sql_error = |step: &'static str| sql_error(key, step);
    // A registered extract is a DAG-run object with its task object, if any; an object given by
    // hand is what its key says.
    let kind = match registered {
        Some(_) => ObjectKind::DagRuns,
        None => ObjectKind::of_key(key),
    };
    let task_key = match kind {
        ObjectKind::TaskInstances => Some(key),
        ObjectKind::DagRuns => registered.and_then(|r| r.task_object_key.as_deref()),
    };
    // Open the objects first: a missing object fails before any lock is taken.
    let open = async |key: &str| {
        store.open(key).await.map_err(|error| LoadError::Stage {
            object: key.to_string(),
            source: Box::new(error),
        })
    };
    let dag_run_reader = match kind {
        ObjectKind::DagRuns => Some(open(key).await?),
        ObjectKind::TaskInstances => None,
    };
    let task_reader = match task_key {
        Some(task_key) => Some((task_key, open(task_key).await?)),
        None => None,
    };

    let mut tx = begin(warehouse, schema, key, ctx).await?;
    let mut report = LoadReport {
        object_key: key.to_string(),
        rows_read: 0,
        rows_changed: 0,
        direct: false,
        tasks: None,
        seconds: 0.0,
    };
    if let Some(reader) = dag_run_reader {
        let registered = registered.map(|r| (r.airflow_instance.as_str(), Some(r.row_count)));
        let loaded = load_kind(
            &mut tx,
            ObjectKind::DagRuns,
            time_zone,
            (Some(store), key, reader),
            registered,
            false,
            ctx,
        )
        .await;
        let loaded = name_the_value(loaded, store, key, ObjectKind::DagRuns).await?;
        report.rows_read = loaded.rows_read;
        report.rows_changed = loaded.rows_changed;
        report.direct = loaded.direct;
    }
    if let Some((task_key, reader)) = task_reader {
        let registered = registered.and_then(|r| {
            r.task_row_count
                .map(|rows| (r.airflow_instance.as_str(), Some(rows)))
        });
        // A first load of the instance's runs queued all its days already.
        let loaded = load_kind(
            &mut tx,
            ObjectKind::TaskInstances,
            time_zone,
            (Some(store), task_key, reader),
            registered,
            report.direct,
            ctx,
        )
        .await;
        let loaded = name_the_value(loaded, store, task_key, ObjectKind::TaskInstances).await?;
        report.tasks = Some(TaskLoadReport {
            rows_read: loaded.rows_read,
            rows_changed: loaded.rows_changed,
        });
    }
    if let Some(r) = registered {
        finish_registered(&tx, r, &report, ctx).await?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    record.succeed_in(&tx, &report.counts()).await?;
    tx.commit().await.map_err(sql_error("commit"))?;
    Ok(report)
}

/// Opens a load's transaction: takes the schema's load lock and sets `pipewatch.run_id`, which
/// fills `loaded_by_run_id`. `object` names what is loaded, for errors.
async fn begin<'c>(
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
async fn finish_registered(
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

fn sql_error(key: &str, step: &'static str) -> impl FnOnce(tokio_postgres::Error) -> LoadError {
    let object = key.to_string();
    move |e| LoadError::Sql {
        object,
        step,
        source: e.into(),
    }
}
