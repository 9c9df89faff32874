//! The commands that move DAG runs: `extract`, `load` and `run` (extract then load, per
//! instance; the transform stage joins when it is built).
//!
//! Each opens the warehouse once (applying pending migrations first) and works through the
//! selected Airflow instances one by one. A failing instance does not stop the others: each
//! failure is logged with its instance, and the command fails at the end naming them all, so a
//! scheduler retries while the healthy instances stay current.

use tokio_postgres::Client;

use crate::config::Settings;
use crate::context::RunContext;
use crate::extract::{self, ExtractOptions, ExtractReport};
use crate::load::{self, LoadReport};
use crate::migrate;
use crate::reconcile;
use crate::stage::ObjectStore;

/// Some instances or objects failed; the others were processed.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} {what} failed: {messages}")]
pub struct PartialFailure {
    what: &'static str,
    failed: usize,
    total: usize,
    messages: String,
}

/// What `run` did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// The extracts staged.
    pub extracts: Vec<ExtractReport>,
    /// The loads done.
    pub loads: Vec<LoadReport>,
}

async fn open(settings: &Settings, ctx: &RunContext) -> anyhow::Result<(Client, ObjectStore)> {
    let warehouse = migrate::connect_and_apply(&settings.warehouse, ctx).await?;
    let store = ObjectStore::from_settings(&settings.staging)?;
    // Fail before reading any source when the stage cannot be written (e.g. a missing bucket:
    // some S3-compatible servers would accept objects into a bucket that does not exist).
    store.check().await?;
    Ok((warehouse, store))
}

fn finish<T>(what: &'static str, total: usize, errors: Vec<String>, value: T) -> anyhow::Result<T> {
    if errors.is_empty() {
        Ok(value)
    } else {
        Err(PartialFailure {
            what,
            failed: errors.len(),
            total,
            messages: errors.join("; "),
        }
        .into())
    }
}

/// `pipewatch extract`: stages one extract per selected instance.
pub async fn extract(
    settings: &Settings,
    ctx: &RunContext,
    options: &ExtractOptions,
) -> anyhow::Result<Vec<ExtractReport>> {
    let instances = extract::select_instances(settings, options.instance.as_deref())?;
    let (warehouse, store) = open(settings, ctx).await?;
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for instance in &instances {
        match extract::extract_instance(
            instance,
            &settings.extract,
            options.full,
            &warehouse,
            &store,
            ctx,
        )
        .await
        {
            Ok(report) => reports.push(report),
            Err(e) => {
                tracing::error!(instance = %instance.instance, error = %e, "Extract failed.");
                errors.push(e.to_string());
            }
        }
    }
    finish("Airflow instances", instances.len(), errors, reports)
}

/// `pipewatch load`: loads the object `object`, or every pending extract (of `instance`).
pub async fn load(
    settings: &Settings,
    ctx: &RunContext,
    object: Option<&str>,
    instance: Option<&str>,
) -> anyhow::Result<Vec<LoadReport>> {
    let (mut warehouse, store) = open(settings, ctx).await?;
    let schema = &settings.warehouse.schema;
    if let Some(key) = object {
        let registered = load::staged_extracts(&warehouse, None, Some(key), false).await?;
        if registered.is_empty() {
            tracing::warn!(
                object = key,
                "The object is not a registered extract of this warehouse: merging its rows without moving any watermark."
            );
        }
        let report =
            load::load_object(&mut warehouse, schema, &store, key, registered.first(), ctx).await?;
        return Ok(vec![report]);
    }
    let pending = load::staged_extracts(&warehouse, instance, None, true).await?;
    load_pending(&mut warehouse, settings, &store, &pending, ctx).await
}

async fn load_pending(
    warehouse: &mut Client,
    settings: &Settings,
    store: &ObjectStore,
    pending: &[load::StagedExtract],
    ctx: &RunContext,
) -> anyhow::Result<Vec<LoadReport>> {
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    if pending.is_empty() {
        tracing::info!("No pending extracts to load.");
    }
    for extract in pending {
        match load::load_object(
            warehouse,
            &settings.warehouse.schema,
            store,
            &extract.object_key,
            Some(extract),
            ctx,
        )
        .await
        {
            Ok(report) => reports.push(report),
            Err(e) => {
                tracing::error!(object = %extract.object_key, error = %e, "Load failed.");
                errors.push(e.to_string());
            }
        }
    }
    finish("pending extracts", pending.len(), errors, reports)
}

/// `pipewatch run`: for each selected instance, extract, then load its pending extracts (the
/// new one and any left over by an earlier failed run).
pub async fn run(
    settings: &Settings,
    ctx: &RunContext,
    options: &ExtractOptions,
) -> anyhow::Result<RunReport> {
    let instances = extract::select_instances(settings, options.instance.as_deref())?;
    let (mut warehouse, store) = open(settings, ctx).await?;
    let mut report = RunReport::default();
    let mut errors = Vec::new();
    for instance in &instances {
        let name = instance.instance.as_str();
        let extracted = extract::extract_instance(
            instance,
            &settings.extract,
            options.full,
            &warehouse,
            &store,
            ctx,
        )
        .await;
        match extracted {
            Ok(e) => report.extracts.push(e),
            Err(e) => {
                tracing::error!(instance = name, error = %e, "Extract failed.");
                errors.push(e.to_string());
                // Older pending extracts of this instance can still be loaded below.
            }
        }
        let pending = load::staged_extracts(&warehouse, Some(name), None, true).await?;
        match load_pending(&mut warehouse, settings, &store, &pending, ctx).await {
            Ok(loads) => report.loads.extend(loads),
            Err(e) => errors.push(format!("{e:#}")),
        }
    }
    finish("Airflow instances", instances.len(), errors, report)
}

/// `pipewatch reconcile`: compares finished runs per day, per selected instance.
pub async fn reconcile(
    settings: &Settings,
    ctx: &RunContext,
    args: &crate::cli::ReconcileArgs,
) -> anyhow::Result<Vec<reconcile::InstanceReconciliation>> {
    let instances = extract::select_instances(settings, args.instance.as_deref())?;
    let warehouse = migrate::connect_and_apply(&settings.warehouse, ctx).await?;
    let today = reconcile::today_in_zone(&warehouse, &settings.time_zone).await?;
    let to = args.to.unwrap_or(today);
    let from = args
        .from
        .unwrap_or_else(|| to - chrono::Duration::days(i64::from(args.days.max(1)) - 1));
    if from > to {
        anyhow::bail!("--from {from} is after --to {to}");
    }
    let mut results = Vec::new();
    for instance in instances {
        results.push(
            reconcile::reconcile_instance(settings, instance, &warehouse, ctx, from, to).await?,
        );
    }
    Ok(results)
}
