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
//! The layout: this module holds the load of a staged extract ([`load_object`]);
//! `transaction.rs` the load's transaction (lock, run id, watermark, marking) and its report;
//! `error.rs` its errors; [`fed`] the load that reads an extract while it is written;
//! `object.rs` one object of one kind (straight or batch + upsert, the days queued);
//! `bulk.rs` the bulk first load's index handling; `copy.rs` the COPY itself (binary, the CSV
//! fallback, the header check, naming a refused value); `binary.rs` the binary COPY format;
//! [`queue`] the staged extracts waiting, set aside or discarded.

mod binary;
mod bulk;
mod copy;
mod error;
mod fed;
mod object;
mod queue;
mod transaction;

use std::time::Instant;

use tokio_postgres::Client;

use crate::context::RunContext;
use crate::retry;
use crate::run_log::{self, Stage, StageRecord, StageReport};
use crate::source::ObjectKind;
use crate::stage::ObjectStore;

use self::copy::name_the_value;
use self::error::sql_error;
use self::object::load_kind;
pub use self::transaction::{LoadReport, LoadTarget, TaskLoadReport};
use self::transaction::{begin, finish_registered};

pub use self::error::LoadError;
pub use self::fed::{LoadFeed, load_fed};
pub use self::queue::{
    SetAside, StagedExtract, discard, set_aside, set_aside_extracts, staged_extracts,
};

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
