//! Loading one object of one kind (DAG runs or task tries) in the load's transaction: straight
//! into the history table for an instance's first load (the bulk path, without indexes, when
//! the table is empty: `bulk.rs`), else into a batch table merged by one upsert; and the days it
//! touches queued for the transform.

use tokio_postgres::Transaction;

use super::bulk;
use super::copy::copy_object;
use super::error::{LoadError, sql_error};
use crate::context::RunContext;
use crate::source::ObjectKind;
use crate::stage::{ObjectReader, ObjectStore};

const CREATE_BATCH_SQL: &str = include_str!("../../sql/load/create_batch_table.sql");
const COPY_BATCH_SQL: &str = include_str!("../../sql/load/copy_into_batch.sql");
const COPY_HISTORY_SQL: &str = include_str!("../../sql/load/copy_into_history.sql");
const HAS_RUNS_SQL: &str = include_str!("../../sql/load/instance_has_runs.sql");
const UPSERT_SQL: &str = include_str!("../../sql/load/upsert_dag_runs.sql");
const QUEUE_MOVED_DAYS_SQL: &str = include_str!("../../sql/load/queue_moved_days.sql");
const QUEUE_INSTANCE_DAYS_SQL: &str = include_str!("../../sql/load/queue_instance_days.sql");
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

/// The statements that load one kind of object.
pub(super) struct KindSql {
    /// The history table.
    pub(super) table: &'static str,
    /// Fresh statistics of the history table, after a bulk load.
    pub(super) analyze: &'static str,
    /// Whether the warehouse holds rows of an instance ($1), and any row: if not, the
    /// first-load path.
    pub(super) has_rows: &'static str,
    /// The transaction's batch table.
    pub(super) create_batch: &'static str,
    /// COPY into the batch table, and straight into the history table: CSV, and binary.
    pub(super) copy_batch: &'static str,
    pub(super) copy_direct: &'static str,
    pub(super) copy_batch_binary: &'static str,
    pub(super) copy_direct_binary: &'static str,
    /// After a straight COPY: queue the days of the instance's rows ($1 instance, $2 zone).
    pub(super) queue_direct_days: &'static str,
    /// Before the upsert: queue the days rows move out of ($1 zone), if the kind can move.
    pub(super) queue_moved_days: Option<&'static str>,
    /// Merge the batch ($1 run id, $2 zone); returns the rows inserted or changed.
    pub(super) upsert: &'static str,
    /// What the upsert does, for its error.
    pub(super) upsert_step: &'static str,
}

pub(super) fn kind_sql(kind: ObjectKind) -> KindSql {
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
pub(super) struct Loaded {
    pub(super) rows_read: u64,
    pub(super) rows_changed: u64,
    pub(super) direct: bool,
}

/// Copies one object of `kind` (its key and reader) into its history table and queues the days
/// it touches.
/// `registered` is the extract's (instance, rows staged: None while it is still being written,
/// checked by the caller then), None for an object given by hand
/// (always merged); `days_queued` says every day of the instance is queued already.
pub(super) async fn load_kind(
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
        bulk::drop_indexes(tx, sql.table, key).await?
    } else {
        Vec::new()
    };
    let copy = match direct_for {
        Some(_) => (sql.copy_direct_binary, sql.copy_direct),
        None => (sql.copy_batch_binary, sql.copy_batch),
    };
    let rows_read = copy_object(tx, copy, store, key, &mut reader, kind).await?;
    if !rebuild.is_empty() {
        bulk::rebuild_indexes(tx, sql.table, sql.analyze, &rebuild, key).await?;
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
