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

mod binary;

use std::time::Instant;

use bytes::BytesMut;
use chrono::{DateTime, Utc};
use futures_util::SinkExt;
use tokio_postgres::{Client, Transaction};

use crate::config::{Identifier, RetrySettings};
use crate::context::RunContext;
use crate::db::SqlError;
use crate::retry::{self, Transient};
use crate::run_log::{self, RunLogError, Stage, StageCounts, StageRecord, StageReport};
use crate::source::{ExtractMode, ObjectKind};
use crate::stage::{FeedReader, ObjectReader, ObjectStore, StageError};

const LOCK_SQL: &str = include_str!("../../sql/load/lock.sql");
const SET_SETTING_SQL: &str = include_str!("../../sql/common/set_setting.sql");
const CREATE_BATCH_SQL: &str = include_str!("../../sql/load/create_batch_table.sql");
const COPY_BATCH_SQL: &str = include_str!("../../sql/load/copy_into_batch.sql");
const COPY_HISTORY_SQL: &str = include_str!("../../sql/load/copy_into_history.sql");
const HAS_RUNS_SQL: &str = include_str!("../../sql/load/instance_has_runs.sql");
const UPSERT_SQL: &str = include_str!("../../sql/load/upsert_dag_runs.sql");
const QUEUE_MOVED_DAYS_SQL: &str = include_str!("../../sql/load/queue_moved_days.sql");
const QUEUE_INSTANCE_DAYS_SQL: &str = include_str!("../../sql/load/queue_instance_days.sql");
const ADVANCE_WATERMARK_SQL: &str = include_str!("../../sql/load/advance_watermark.sql");
const MARK_LOADED_SQL: &str = include_str!("../../sql/load/mark_loaded.sql");
const STAGED_EXTRACTS_SQL: &str = include_str!("../../sql/load/staged_extracts.sql");
const SET_ASIDE_SQL: &str = include_str!("../../sql/load/set_aside.sql");
const SET_ASIDE_EXTRACTS_SQL: &str = include_str!("../../sql/load/set_aside_extracts.sql");
const DISCARD_SQL: &str = include_str!("../../sql/load/discard.sql");
const HAS_TASK_TRIES_SQL: &str = include_str!("../../sql/load/instance_has_task_tries.sql");
const CREATE_TASK_BATCH_SQL: &str = include_str!("../../sql/load/create_task_batch_table.sql");
const COPY_TASK_TRIES_BATCH_SQL: &str =
    include_str!("../../sql/load/copy_task_tries_into_batch.sql");
const COPY_TASK_TRIES_HISTORY_SQL: &str =
    include_str!("../../sql/load/copy_task_tries_into_history.sql");
const QUEUE_TASK_DAYS_SQL: &str = include_str!("../../sql/load/queue_task_days.sql");
const UPSERT_TASK_TRIES_SQL: &str = include_str!("../../sql/load/upsert_task_tries.sql");
const COPY_BATCH_BINARY_SQL: &str = include_str!("../../sql/load/copy_into_batch_binary.sql");
const COPY_HISTORY_BINARY_SQL: &str = include_str!("../../sql/load/copy_into_history_binary.sql");
const COPY_TASK_TRIES_BATCH_BINARY_SQL: &str =
    include_str!("../../sql/load/copy_task_tries_into_batch_binary.sql");
const COPY_TASK_TRIES_HISTORY_BINARY_SQL: &str =
    include_str!("../../sql/load/copy_task_tries_into_history_binary.sql");
const ANALYZE_DAG_RUNS_SQL: &str = include_str!("../../sql/load/analyze_dag_run_history.sql");
const ANALYZE_TASK_TRIES_SQL: &str = include_str!("../../sql/load/analyze_task_run_history.sql");
const BULK_INDEX_STATEMENTS_SQL: &str = include_str!("../../sql/load/bulk_index_statements.sql");

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

/// What a load reading an extract while it is written gets from it (see
/// [`crate::extract::ExtractFeed`], its other end).
#[derive(Debug)]
pub struct LoadFeed {
    /// The DAG-run object's bytes.
    pub dag_runs: tokio::sync::mpsc::Receiver<bytes::Bytes>,
    /// The task-instance object's bytes, when task instances are extracted.
    pub task_instances: Option<tokio::sync::mpsc::Receiver<bytes::Bytes>>,
    /// The extract, once registered; dropped unsent when the extract fails.
    pub registered: tokio::sync::oneshot::Receiver<StagedExtract>,
}

/// Loads the extract of `instance` that is being written (`run`, a source that writes its
/// objects in turn), in one transaction like [`load_object`]: the rows are copied as the
/// extract sends them, and the transaction commits only after the extract registered its
/// objects with the row counts the load copied. Any failure rolls it all back and leaves the
/// registered extract pending, for [`load_object`] to load from the stage (which also takes
/// the CSV path for values the binary copy declines); nothing here is retried.
pub async fn load_fed(
    warehouse: &mut Client,
    target: &LoadTarget<'_>,
    instance: &str,
    feed: LoadFeed,
    ctx: &RunContext,
) -> Result<LoadReport, LoadError> {
    let mut feed = Some(feed);
    let report = run_log::record_stage(
        warehouse,
        ctx,
        Stage::Load,
        Some(instance),
        async |warehouse, record| {
            let Some(feed) = feed.take() else {
                unreachable!("record_stage runs the load once")
            };
            load_fed_inner(warehouse, target, instance, feed, ctx, record).await
        },
    )
    .await?;
    report.log("Loaded extract while it was extracted.");
    Ok(report)
}

async fn load_fed_inner(
    warehouse: &mut Client,
    target: &LoadTarget<'_>,
    instance: &str,
    feed: LoadFeed,
    ctx: &RunContext,
    record: &StageRecord,
) -> Result<LoadReport, LoadError> {
    let started = Instant::now();
    let label = format!("the extract of Airflow instance {instance}");
    let not_fed = |reason: &str| LoadError::NotFed {
        object: label.clone(),
        reason: reason.to_string(),
    };
    // Nothing is locked before the extract has read what it reads from the warehouse: a first
    // load drops the history tables' indexes, which would make those reads wait for this load,
    // and this load waits for the extract.
    let dag_runs = FeedReader::first_bytes(feed.dag_runs)
        .await
        .ok_or_else(|| not_fed("the extract sent nothing"))?;
    let mut tx = begin(warehouse, target.schema, &label, ctx).await?;
    let runs = load_kind(
        &mut tx,
        ObjectKind::DagRuns,
        target.time_zone,
        (None, &label, ObjectReader::Feed(dag_runs)),
        Some((instance, None)),
        false,
        ctx,
    )
    .await?;
    let tasks = match feed.task_instances {
        Some(receiver) => Some(
            load_kind(
                &mut tx,
                ObjectKind::TaskInstances,
                target.time_zone,
                (None, &label, ObjectReader::Feed(FeedReader::wrap(receiver))),
                Some((instance, None)),
                runs.direct,
                ctx,
            )
            .await?,
        ),
        None => None,
    };
    // The rows copied are the extract's only once it registered them, with the same counts.
    let registered = feed
        .registered
        .await
        .map_err(|_| not_fed("the extract did not finish"))?;
    let task_rows = tasks.as_ref().map(|t| t.rows_read as i64);
    if registered.row_count != runs.rows_read as i64 || registered.task_row_count != task_rows {
        return Err(not_fed(&format!(
            "it copied {} runs and {:?} task tries, the extract registered {} and {:?}",
            runs.rows_read, task_rows, registered.row_count, registered.task_row_count
        )));
    }
    let mut report = LoadReport {
        object_key: registered.object_key.clone(),
        rows_read: runs.rows_read,
        rows_changed: runs.rows_changed,
        direct: runs.direct,
        tasks: tasks.map(|t| TaskLoadReport {
            rows_read: t.rows_read,
            rows_changed: t.rows_changed,
        }),
        seconds: 0.0,
    };
    finish_registered(&tx, &registered, &report, ctx).await?;
    report.seconds = started.elapsed().as_secs_f64();
    record.succeed_in(&tx, &report.counts()).await?;
    tx.commit()
        .await
        .map_err(self::sql_error(&registered.object_key, "commit"))?;
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

/// Turns a COPY failure on a value (PostgreSQL says `COPY <table>, line N, column C: ...`) into
/// [`LoadError::Value`], naming the row by its key columns, read again from the object.
async fn name_the_value<T>(
    result: Result<T, LoadError>,
    store: &ObjectStore,
    key: &str,
    kind: ObjectKind,
) -> Result<T, LoadError> {
    let error = match result {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    let LoadError::Sql { source, .. } = &error else {
        return Err(error);
    };
    let Some(db) = source.0.as_db_error() else {
        return Err(error);
    };
    let Some((line, column)) = db.where_().and_then(copy_position) else {
        return Err(error);
    };
    let row = match row_at(store, key, kind, line).await {
        Some(row) => row,
        None => "row not found again in the object".to_string(),
    };
    Err(LoadError::Value {
        object: key.to_string(),
        line,
        row,
        column,
        detail: db.message().to_string(),
    })
}

/// `(line, column)` of PostgreSQL's COPY context `COPY t, line 3, column dag_id: "..."`.
fn copy_position(context: &str) -> Option<(u64, String)> {
    let after_line = &context[context.find(", line ")? + ", line ".len()..];
    let digits: String = after_line
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let line = digits.parse().ok()?;
    let column = after_line[digits.len()..]
        .strip_prefix(", column ")
        .map(|rest| {
            rest.split([':', ','])
                .next()
                .unwrap_or(rest)
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| "row".to_string());
    Some((line, column))
}

/// The key columns of the object's `line` (1 is the header), read again from the stage.
async fn row_at(store: &ObjectStore, key: &str, kind: ObjectKind, line: u64) -> Option<String> {
    let mut reader = store.open(key).await.ok()?;
    let mut bytes = Vec::new();
    let mut lines = 0u64;
    // Read up to the line (and a little past it), never the whole object.
    while lines <= line {
        match reader.next_chunk().await.ok()? {
            Some(chunk) => {
                lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
                bytes.extend_from_slice(&chunk);
            }
            None => break,
        }
    }
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let header = csv.headers().ok()?.clone();
    let record = csv
        .records()
        .nth(usize::try_from(line).ok()?.checked_sub(2)?)?
        .ok()?;
    let keys: &[&str] = match kind {
        ObjectKind::DagRuns => &["dag_id", "run_id"],
        ObjectKind::TaskInstances => &["dag_id", "run_id", "task_id", "map_index", "try_number"],
    };
    let named: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            let i = header.iter().position(|h| h == *k)?;
            Some(format!("{k}={:?}", record.get(i)?))
        })
        .collect();
    (!named.is_empty()).then(|| named.join(", "))
}

fn sql_error(key: &str, step: &'static str) -> impl FnOnce(tokio_postgres::Error) -> LoadError {
    let object = key.to_string();
    move |e| LoadError::Sql {
        object,
        step,
        source: e.into(),
    }
}

/// The statements that load one kind of object.
struct KindSql {
    /// The history table.
    table: &'static str,
    /// Fresh statistics of the history table, after a bulk load.
    analyze: &'static str,
    /// Whether the warehouse holds rows of an instance ($1), and any row: if not, the
    /// first-load path.
    has_rows: &'static str,
    /// The transaction's batch table.
    create_batch: &'static str,
    /// COPY into the batch table, and straight into the history table: CSV, and binary.
    copy_batch: &'static str,
    copy_direct: &'static str,
    copy_batch_binary: &'static str,
    copy_direct_binary: &'static str,
    /// After a straight COPY: queue the days of the instance's rows ($1 instance, $2 zone).
    queue_direct_days: &'static str,
    /// Before the upsert: queue the days rows move out of ($1 zone), if the kind can move.
    queue_moved_days: Option<&'static str>,
    /// Merge the batch ($1 run id, $2 zone); returns the rows inserted or changed.
    upsert: &'static str,
    /// What the upsert does, for its error.
    upsert_step: &'static str,
}

fn kind_sql(kind: ObjectKind) -> KindSql {
    match kind {
        ObjectKind::DagRuns => KindSql {
            table: "dag_run_history",
            analyze: ANALYZE_DAG_RUNS_SQL,
            has_rows: HAS_RUNS_SQL,
            create_batch: CREATE_BATCH_SQL,
            copy_batch: COPY_BATCH_SQL,
            copy_direct: COPY_HISTORY_SQL,
            copy_batch_binary: COPY_BATCH_BINARY_SQL,
            copy_direct_binary: COPY_HISTORY_BINARY_SQL,
            queue_direct_days: QUEUE_INSTANCE_DAYS_SQL,
            queue_moved_days: Some(QUEUE_MOVED_DAYS_SQL),
            upsert: UPSERT_SQL,
            upsert_step: "merge the extract into dag_run_history",
        },
        ObjectKind::TaskInstances => KindSql {
            table: "task_run_history",
            analyze: ANALYZE_TASK_TRIES_SQL,
            has_rows: HAS_TASK_TRIES_SQL,
            create_batch: CREATE_TASK_BATCH_SQL,
            copy_batch: COPY_TASK_TRIES_BATCH_SQL,
            copy_direct: COPY_TASK_TRIES_HISTORY_SQL,
            copy_batch_binary: COPY_TASK_TRIES_BATCH_BINARY_SQL,
            copy_direct_binary: COPY_TASK_TRIES_HISTORY_BINARY_SQL,
            queue_direct_days: QUEUE_TASK_DAYS_SQL,
            queue_moved_days: None,
            upsert: UPSERT_TASK_TRIES_SQL,
            upsert_step: "merge the task tries into task_run_history",
        },
    }
}

/// What loading one object did: rows read, rows inserted or changed, and whether it went
/// straight into the history table (an instance's first load).
struct Loaded {
    rows_read: u64,
    rows_changed: u64,
    direct: bool,
}

/// Copies one object of `kind` (its key and reader) into its history table and queues the days
/// it touches.
/// `registered` is the extract's (instance, rows staged: None while it is still being written,
/// checked by the caller then), None for an object given by hand
/// (always merged); `days_queued` says every day of the instance is queued already.
async fn load_kind(
    tx: &mut Transaction<'_>,
    kind: ObjectKind,
    time_zone: &str,
    (store, key, mut reader): (Option<&ObjectStore>, &str, ObjectReader),
    registered: Option<(&str, Option<i64>)>,
    days_queued: bool,
    ctx: &RunContext,
) -> Result<Loaded, LoadError> {
    let sql = kind_sql(kind);
    let sql_error = |step: &'static str| sql_error(key, step);
    // A registered extract of an instance the warehouse has no row of is copied straight into
    // the history table; when the table is empty altogether, without its indexes, which are
    // built once after the COPY (the bulk first load).
    let (direct_for, bulk) = match registered {
        Some((instance, _)) => {
            let row = tx
                .query_one(sql.has_rows, &[&instance])
                .await
                .map_err(sql_error("check for loaded rows"))?;
            let (has_rows, table_has_rows): (bool, bool) = (row.get(0), row.get(1));
            ((!has_rows).then_some(instance), !table_has_rows)
        }
        None => (None, false),
    };
    if direct_for.is_none() {
        tx.batch_execute(sql.create_batch)
            .await
            .map_err(sql_error("create the batch table"))?;
    }
    let rebuild = if bulk {
        drop_indexes(tx, sql.table, key).await?
    } else {
        Vec::new()
    };
    let copy = match direct_for {
        Some(_) => (sql.copy_direct_binary, sql.copy_direct),
        None => (sql.copy_batch_binary, sql.copy_batch),
    };
    let rows_read = copy_object(tx, copy, store, key, &mut reader, kind).await?;
    if !rebuild.is_empty() {
        let started = Instant::now();
        for statements in &rebuild {
            tx.batch_execute(statements)
                .await
                .map_err(sql_error("build the indexes again after the bulk load"))?;
        }
        tx.batch_execute(sql.analyze)
            .await
            .map_err(sql_error("analyze the table after the bulk load"))?;
        tracing::debug!(
            table = sql.table,
            indexes = rebuild.len(),
            seconds = started.elapsed().as_secs_f64(),
            "Built the indexes and analyzed the table after the bulk load."
        );
    }

    if let Some((_, Some(expected))) = registered
        && rows_read != expected as u64
    {
        return Err(LoadError::RowCount {
            object: key.to_string(),
            found: rows_read,
            expected,
        });
    }
    // Every day whose figures may change is queued for the transform, in this transaction.
    let rows_changed = match direct_for {
        Some(instance) => {
            if !days_queued && rows_read > 0 {
                tx.execute(sql.queue_direct_days, &[&instance, &time_zone])
                    .await
                    .map_err(sql_error("queue the loaded days for the transform"))?;
            }
            rows_read
        }
        None => {
            if let Some(queue_moved) = sql.queue_moved_days {
                tx.execute(queue_moved, &[&time_zone])
                    .await
                    .map_err(sql_error("queue the days rows move out of"))?;
            }
            let changed: i64 = tx
                .query_one(sql.upsert, &[&ctx.run_id, &time_zone])
                .await
                .map_err(sql_error(sql.upsert_step))?
                .get(0);
            changed as u64
        }
    };
    Ok(Loaded {
        rows_read,
        rows_changed,
        direct: direct_for.is_some(),
    })
}

/// Drops every index of the empty history `table` in the load's transaction, returning the
/// statements that build them again (see sql/load/bulk_index_statements.sql); none when the
/// table cannot take the bulk path. Nothing is dropped unless the whole load commits.
async fn drop_indexes(
    tx: &Transaction<'_>,
    table: &str,
    key: &str,
) -> Result<Vec<String>, LoadError> {
    let rows = tx
        .query(BULK_INDEX_STATEMENTS_SQL, &[&table])
        .await
        .map_err(sql_error(
            key,
            "list the indexes to build after the bulk load",
        ))?;
    let mut rebuild = Vec::with_capacity(rows.len());
    for row in rows {
        tx.batch_execute(row.get("drop_sql"))
            .await
            .map_err(sql_error(key, "drop the indexes for the bulk load"))?;
        rebuild.push(row.get("create_sql"));
    }
    Ok(rebuild)
}

/// Copies one staged object into its table with `copy` (the binary COPY, and the CSV COPY it
/// falls back to), checking its header against `kind` before anything is sent; returns the rows
/// copied. The binary COPY runs under a savepoint: when pipewatch cannot convert a record, or
/// the warehouse refuses a value, it is rolled back and the object copied again as CSV, so
/// PostgreSQL itself reads every value and names the one it refuses (see load/binary.rs).
async fn copy_object(
    tx: &mut Transaction<'_>,
    (copy_binary, copy_csv): (&str, &str),
    store: Option<&ObjectStore>,
    key: &str,
    reader: &mut ObjectReader,
    kind: ObjectKind,
) -> Result<u64, LoadError> {
    let sql_error = |step: &'static str| sql_error(key, step);
    let savepoint = tx
        .savepoint("pipewatch_binary_copy")
        .await
        .map_err(sql_error("set a savepoint"))?;
    let why = match binary::copy(&savepoint, copy_binary, reader, kind).await {
        Ok(rows) => {
            savepoint
                .commit()
                .await
                .map_err(sql_error("release the savepoint"))?;
            return Ok(rows);
        }
        Err(binary::BinaryCopyError::Header(found)) => {
            return Err(header_error(key, kind, &found));
        }
        Err(binary::BinaryCopyError::Stage(error)) => {
            return Err(LoadError::Stage {
                object: key.to_string(),
                source: Box::new(error),
            });
        }
        Err(binary::BinaryCopyError::NotConvertible(line, reason)) => {
            format!("line {line}: {reason}")
        }
        Err(binary::BinaryCopyError::Sql(error)) if is_data_error(&error) => error
            .as_db_error()
            .map_or_else(|| error.to_string(), |db| db.message().to_string()),
        Err(binary::BinaryCopyError::Sql(error)) => {
            return Err(sql_error("copy the extract")(error));
        }
    };
    let Some(store) = store else {
        // The object is still being written: it cannot be read again from the stage now.
        return Err(LoadError::NotFed {
            object: key.to_string(),
            reason: format!("its binary copy stopped ({why})"),
        });
    };
    tracing::debug!(
        object = %key,
        why = %why,
        "Copying the extract as CSV: its binary copy stopped."
    );
    savepoint
        .rollback()
        .await
        .map_err(sql_error("roll back to the savepoint"))?;
    *reader = store.open(key).await.map_err(|error| LoadError::Stage {
        object: key.to_string(),
        source: Box::new(error),
    })?;
    copy_csv_object(tx, copy_csv, key, reader, kind).await
}

/// Streams one staged object into `copy` (a CSV `COPY ... FROM STDIN`), checking its header
/// against `kind` before anything is sent; returns the rows copied.
async fn copy_csv_object(
    tx: &Transaction<'_>,
    copy: &str,
    key: &str,
    reader: &mut ObjectReader,
    kind: ObjectKind,
) -> Result<u64, LoadError> {
    let sql_error = |step: &'static str| sql_error(key, step);
    let stage_error = |error| LoadError::Stage {
        object: key.to_string(),
        source: Box::new(error),
    };
    let sink = tx
        .copy_in(copy)
        .await
        .map_err(sql_error("start copying the extract"))?;
    futures_util::pin_mut!(sink);

    // The header is checked before anything is sent, so a wrong file fails with a clear message.
    let mut head = BytesMut::new();
    let mut header_checked = false;
    while let Some(chunk) = reader.next_chunk().await.map_err(stage_error)? {
        if header_checked {
            sink.send(chunk)
                .await
                .map_err(sql_error("copy the extract"))?;
            continue;
        }
        head.extend_from_slice(&chunk);
        if let Some(end) = head.iter().position(|&b| b == b'\n') {
            check_header(key, kind, &head[..end])?;
            header_checked = true;
            sink.send(head.split().freeze())
                .await
                .map_err(sql_error("copy the extract"))?;
        } else if head.len() > 64 * 1024 {
            check_header(key, kind, &head)?;
        }
    }
    if !header_checked {
        check_header(key, kind, &head)?;
        // A header without its newline, and no rows: still a valid, empty extract.
        sink.send(head.split().freeze())
            .await
            .map_err(sql_error("copy the extract"))?;
    }
    sink.as_mut()
        .finish()
        .await
        .map_err(sql_error("copy the extract"))
}

fn check_header(key: &str, kind: ObjectKind, line: &[u8]) -> Result<(), LoadError> {
    if header_matches(kind, line) {
        Ok(())
    } else {
        Err(header_error(key, kind, line))
    }
}

/// The error for an object whose header `line` does not name the columns of `kind`.
fn header_error(key: &str, kind: ObjectKind, line: &[u8]) -> LoadError {
    LoadError::Header {
        object: key.to_string(),
        kind: kind.prefix(),
        found: String::from_utf8_lossy(line).chars().take(300).collect(),
        expected: kind.columns().join(","),
    }
}

/// Whether a header line (without its newline) names exactly the columns of `kind`, each bare
/// or quoted.
fn header_matches(kind: ObjectKind, line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut names = line.split(|&b| b == b',').map(|name| {
        name.strip_prefix(b"\"")
            .and_then(|n| n.strip_suffix(b"\""))
            .unwrap_or(name)
    });
    kind.columns()
        .iter()
        .all(|column| names.next() == Some(column.as_bytes()))
        && names.next().is_none()
}
