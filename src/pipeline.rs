//! The commands that move DAG runs: `extract`, `load`, `run` (extract then load, per instance,
//! then transform), `backfill` (the same for a window of days) and `transform`.
//!
//! Each opens the warehouse once (applying pending migrations first) and works through the
//! selected Airflow instances one by one. A failing instance does not stop the others: each
//! failure is logged with its instance, and the command fails at the end naming them all, so a
//! scheduler retries while the healthy instances stay current.

use tokio_postgres::Client;

use crate::config::Settings;
use crate::context::RunContext;
use crate::extract::{self, ExtractOptions, ExtractReport, ExtractScope};
use crate::load::{self, LoadReport};
use crate::migrate;
use crate::reconcile;
use crate::run_lock;
use crate::stage::ObjectStore;
use crate::transform::{self, TransformReport};

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
    /// The transform, when it ran.
    pub transform: Option<TransformReport>,
    /// Retention, when it ran.
    pub retention: Option<crate::retention::RetentionReport>,
}

/// Connects to the warehouse (migrating it) and takes the run lock (see `run_lock`).
async fn open_locked(settings: &Settings, ctx: &RunContext) -> anyhow::Result<Client> {
    let warehouse = migrate::connect_and_apply(&settings.warehouse, ctx).await?;
    run_lock::acquire(
        &warehouse,
        &settings.warehouse.schema,
        std::time::Duration::from_secs(settings.warehouse.lock_wait_seconds),
    )
    .await?;
    Ok(warehouse)
}

async fn open(settings: &Settings, ctx: &RunContext) -> anyhow::Result<(Client, ObjectStore)> {
    let warehouse = open_locked(settings, ctx).await?;
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
    let scope = ExtractScope::Incremental { full: options.full };
    let mut reports = Vec::new();
    let mut errors = Vec::new();
    for instance in &instances {
        if let Some(report) = extract_logged(
            settings,
            ctx,
            instance,
            scope,
            &warehouse,
            &store,
            &mut errors,
        )
        .await
        {
            reports.push(report);
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
        let target = load::LoadTarget {
            schema,
            time_zone: &settings.time_zone,
            retry: settings.warehouse.retry,
        };
        let report = load::load_object(
            &mut warehouse,
            &target,
            &store,
            key,
            registered.first(),
            ctx,
        )
        .await?;
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
        let target = load::LoadTarget {
            schema: &settings.warehouse.schema,
            time_zone: &settings.time_zone,
            retry: settings.warehouse.retry,
        };
        match load::load_object(
            warehouse,
            &target,
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
/// new one and any left over by an earlier failed run); then recompute the days the loads (and
/// validation results) touched. The transform runs even when an instance failed, so the healthy
/// instances' figures stay current.
pub async fn run(
    settings: &Settings,
    ctx: &RunContext,
    options: &ExtractOptions,
) -> anyhow::Result<RunReport> {
    let instances = extract::select_instances(settings, options.instance.as_deref())?;
    let (mut warehouse, store) = open(settings, ctx).await?;
    let scope = ExtractScope::Incremental { full: options.full };
    let (mut report, errors) =
        extract_load_transform(settings, ctx, &instances, scope, &mut warehouse, &store).await?;
    report.retention =
        Some(crate::retention::apply(&warehouse, &store, &settings.retention, ctx).await?);
    finish("Airflow instances", instances.len(), errors, report)
}

/// Extracts one instance; a failure is logged with its instance and collected in `errors`.
async fn extract_logged(
    settings: &Settings,
    ctx: &RunContext,
    instance: &crate::config::AirflowSettings,
    scope: ExtractScope<'_>,
    warehouse: &Client,
    store: &ObjectStore,
    errors: &mut Vec<String>,
) -> Option<ExtractReport> {
    match extract::extract_instance(instance, &settings.extract, scope, warehouse, store, ctx).await
    {
        Ok(report) => Some(report),
        Err(e) => {
            tracing::error!(instance = %instance.instance, error = %e, "Extract failed.");
            errors.push(e.to_string());
            None
        }
    }
}

/// For each instance: extract (a failure is logged and collected), then load its pending
/// extracts (the new one and any left over by an earlier failed run); for a window extract,
/// queue every day of the window. Then recompute the queued days. The transform runs even when
/// an instance failed, so the healthy instances' figures stay current.
async fn extract_load_transform(
    settings: &Settings,
    ctx: &RunContext,
    instances: &[&crate::config::AirflowSettings],
    scope: ExtractScope<'_>,
    warehouse: &mut Client,
    store: &ObjectStore,
) -> anyhow::Result<(RunReport, Vec<String>)> {
    let mut report = RunReport::default();
    let mut errors = Vec::new();
    for instance in instances {
        let name = instance.instance.as_str();
        if let Some(e) = extract_logged(
            settings,
            ctx,
            instance,
            scope,
            warehouse,
            store,
            &mut errors,
        )
        .await
        {
            report.extracts.push(e);
        }
        let pending = load::staged_extracts(warehouse, Some(name), None, true).await?;
        match load_pending(warehouse, settings, store, &pending, ctx).await {
            Ok(loads) => report.loads.extend(loads),
            Err(e) => errors.push(format!("{e:#}")),
        }
        if let ExtractScope::Window { from, to, .. } = scope {
            transform::queue_window(warehouse, name, from, to).await?;
        }
    }
    report.transform = Some(
        transform::run(
            warehouse,
            &settings.warehouse.schema,
            &settings.time_zone,
            false,
            settings.warehouse.retry,
            ctx,
        )
        .await?,
    );
    Ok((report, errors))
}

/// `pipewatch backfill`: re-extracts every run of the window `from..=to` (days in the reporting
/// time zone) of each selected instance, loads it, and recomputes exactly those days (with
/// any other days already queued). Watermarks do not move.
pub async fn backfill(
    settings: &Settings,
    ctx: &RunContext,
    instance: Option<&str>,
    from: chrono::NaiveDate,
    to: chrono::NaiveDate,
) -> anyhow::Result<RunReport> {
    if from > to {
        anyhow::bail!("--from {from} is after --to {to}");
    }
    let instances = extract::select_instances(settings, instance)?;
    let (mut warehouse, store) = open(settings, ctx).await?;
    reconcile::today_in_zone(&warehouse, &settings.time_zone).await?;
    let scope = ExtractScope::Window {
        from,
        to,
        time_zone: &settings.time_zone,
    };
    let (report, errors) =
        extract_load_transform(settings, ctx, &instances, scope, &mut warehouse, &store).await?;
    finish("Airflow instances", instances.len(), errors, report)
}

/// `pipewatch transform`: recomputes the queued days, or every day with `full_refresh`.
pub async fn transform(
    settings: &Settings,
    ctx: &RunContext,
    full_refresh: bool,
) -> anyhow::Result<TransformReport> {
    let mut warehouse = open_locked(settings, ctx).await?;
    Ok(transform::run(
        &mut warehouse,
        &settings.warehouse.schema,
        &settings.time_zone,
        full_refresh,
        settings.warehouse.retry,
        ctx,
    )
    .await?)
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
