//! The fed load: `run` loads an extract while it is written (a source that writes its objects
//! in turn), in one transaction with the rows copied as the extract sends them; any failure
//! leaves the registered extract pending for the ordinary load from the stage.

use std::time::Instant;

use tokio_postgres::Client;

use super::error::LoadError;
use super::object::load_kind;
use super::queue::StagedExtract;
use super::transaction::{LoadReport, LoadTarget, TaskLoadReport, begin, finish_registered};
use crate::context::RunContext;
use crate::run_log::{self, Stage, StageRecord, StageReport};
use crate::source::ObjectKind;
use crate::stage::{FeedReader, ObjectReader};

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
    // The load's stage is recorded once the extract sent its first bytes: the extract records
    // its own stage before it reads anything, so the run log lists extract before load however
    // the two connections are scheduled. Nothing of the load happens before those bytes anyway.
    let LoadFeed {
        dag_runs,
        task_instances,
        registered,
    } = feed;
    let first = FeedReader::first_bytes(dag_runs).await;
    let mut feed = Some((first, task_instances, registered));
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

/// What is left of the feed once its first bytes came (or did not).
type StartedFeed = (
    Option<FeedReader>,
    Option<tokio::sync::mpsc::Receiver<bytes::Bytes>>,
    tokio::sync::oneshot::Receiver<StagedExtract>,
);

async fn load_fed_inner(
    warehouse: &mut Client,
    target: &LoadTarget<'_>,
    instance: &str,
    (dag_runs, task_instances, registered): StartedFeed,
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
    let dag_runs = dag_runs.ok_or_else(|| not_fed("the extract sent nothing"))?;
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
    let tasks = match task_instances {
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
    let registered = registered
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
        .map_err(super::error::sql_error(&registered.object_key, "commit"))?;
    Ok(report)
}
