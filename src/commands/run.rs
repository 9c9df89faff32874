//! `pipewatch run`, the scheduled job: for each selected Airflow instance, extract new and
//! changed runs, then load its pending extracts (the new one and any left over by an earlier
//! failed run), then read its DAG catalogue (`catalog`); then recompute the days the loads (and validation results) touched; then apply
//! retention. A failing instance does not stop the others, and the transform runs even then,
//! so the healthy instances' figures stay current; the command fails at the end naming each
//! failure. For a database source with nothing pending, the load reads the extract while it is
//! written, on a second warehouse connection (see `load::load_fed`): the two overlap instead of
//! following each other, and the stage object is still written and registered before the load
//! commits. `backfill` shares the extract-load-transform sequence ([`extract_load_transform`]).

use std::fmt;

use tokio_postgres::Client;

use super::{Failures, Report};
use crate::config::{Settings, SourceSettings};
use crate::context::RunContext;
use crate::db::{self, Role};
use crate::extract::{ExtractFeed, ExtractReport};
use crate::load::{LoadFeed, LoadReport, LoadTarget};
use crate::retention::{self, RetentionReport};
use crate::source::{ExtractScope, Source};
use crate::stage::ObjectStore;
use crate::transform::{self, TransformReport};

/// Arguments of `run`: those of `extract`.
pub type Args = super::extract::Args;

/// What `run` (or `backfill`) did.
#[derive(Debug, Clone, Default)]
pub struct RunReport {
    /// The extracts staged.
    pub extracts: Vec<ExtractReport>,
    /// The loads done.
    pub loads: Vec<LoadReport>,
    /// The DAG catalogues read (`run` only).
    pub catalogs: Vec<crate::catalog::CatalogReport>,
    /// The transform, when it ran.
    pub transform: Option<TransformReport>,
    /// Retention, when it ran.
    pub retention: Option<RetentionReport>,
    /// The alert evaluation, when `[alerts]` is set.
    pub alerts: Option<crate::alerts::AlertReport>,
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.extracts {
            writeln!(f, "{r}")?;
        }
        for r in &self.loads {
            writeln!(f, "{r}")?;
        }
        for r in &self.catalogs {
            writeln!(f, "{r}")?;
        }
        if let Some(t) = &self.transform {
            writeln!(f, "{t}")?;
        }
        if let Some(a) = &self.alerts {
            writeln!(f, "{a}")?;
        }
        Ok(())
    }
}

impl Report for RunReport {}

/// Extract, load, transform, retention.
pub async fn run(settings: &Settings, ctx: &RunContext, args: &Args) -> anyhow::Result<RunReport> {
    let instances = super::select_instances(settings, args.instance.as_deref())?;
    let (mut warehouse, store) = super::open_with_stage(settings, ctx).await?;
    let scope = ExtractScope::Incremental { full: args.full };
    let (mut report, failures) =
        extract_load_transform(settings, ctx, &instances, scope, &mut warehouse, &store).await?;
    // The alerts judge what the transform just computed, under the same run lock.
    if let Some(alerts) = &settings.alerts {
        let today = super::today_in_reporting_zone(&warehouse, settings).await?;
        match crate::alerts::evaluate(&mut warehouse, settings, alerts, today, ctx).await {
            Ok(a) => report.alerts = Some(a),
            Err(e) => return Err(failures.before(e.into())),
        }
    }
    report.retention =
        Some(retention::apply(&mut warehouse, &store, &settings.retention, ctx).await?);
    failures.finish("Airflow instances", instances.len(), report)
}

/// The two ends of an extract fed to a load: what the extract sends, what the load reads. A few
/// chunks of 256 KiB in flight: the faster side waits for the slower.
fn feed_pair(task_instances: bool) -> (ExtractFeed, LoadFeed) {
    let (runs, runs_in) = tokio::sync::mpsc::channel(8);
    let (tasks, tasks_in) = tokio::sync::mpsc::channel(8);
    let (registered, registered_in) = tokio::sync::oneshot::channel();
    (
        ExtractFeed {
            dag_runs: runs,
            task_instances: tasks,
            registered,
        },
        LoadFeed {
            dag_runs: runs_in,
            task_instances: task_instances.then_some(tasks_in),
            registered: registered_in,
        },
    )
}

/// For each instance: extract (a failure is logged and kept), then load its pending extracts;
/// for a window extract, queue every day of the window. Then recompute the queued days.
pub(super) async fn extract_load_transform(
    settings: &Settings,
    ctx: &RunContext,
    instances: &[SourceSettings<'_>],
    scope: ExtractScope<'_>,
    warehouse: &mut Client,
    store: &ObjectStore,
) -> anyhow::Result<(RunReport, Failures)> {
    let mut report = RunReport::default();
    let mut failures = Failures::default();
    let target = LoadTarget {
        schema: &settings.warehouse.schema,
        time_zone: &settings.time_zone,
        retry: settings.warehouse.retry,
    };
    // A second warehouse connection, for loads that read an extract while it is written.
    let mut loader: Option<Client> = None;
    for &instance in instances {
        let name = instance.instance();
        let feedable = Source::new(instance).writes_objects_in_turn()
            && crate::load::staged_extracts(warehouse, Some(name), None, true)
                .await?
                .is_empty();
        if feedable && loader.is_none() {
            match db::connect(&settings.warehouse, Role::Warehouse, ctx.run_id).await {
                Ok(client) => loader = Some(client),
                Err(e) => tracing::warn!(
                    error = %crate::db::error_chain(&e),
                    "Could not open a second warehouse connection: loading after the extract instead of during it."
                ),
            }
        }
        // With a loader, the load reads the extract while it is written: their times overlap.
        // Should it fail, the extract is registered and pending, and is loaded from the stage
        // below.
        let (feed, load) = match loader.as_mut().filter(|_| feedable) {
            Some(loader) => {
                let (feed, load_feed) = feed_pair(settings.extract.task_instances);
                let load = crate::load::load_fed(loader, &target, name, load_feed, ctx);
                (Some(feed), Some(load))
            }
            None => (None, None),
        };
        let extract = super::extract::extract_instance(
            settings,
            ctx,
            instance,
            scope,
            warehouse,
            store,
            &mut failures,
            feed,
        );
        let extracted = match load {
            Some(load) => {
                let (extracted, loaded) = tokio::join!(extract, load);
                match loaded {
                    Ok(loaded) => report.loads.push(loaded),
                    Err(e) if extracted.is_some() => tracing::warn!(
                        instance = name,
                        error = %crate::db::error_chain(&e),
                        "Could not load the extract while it was written: loading it from the stage."
                    ),
                    // The extract failed: that failure is reported already.
                    Err(_) => {}
                }
                extracted
            }
            None => extract.await,
        };
        report.extracts.extend(extracted);
        let loads = super::load::load_pending(
            warehouse,
            &target,
            store,
            Some(name),
            ctx,
            &mut failures,
            |_, instance| instance.to_string(),
        )
        .await?;
        report.loads.extend(loads);
        // What Airflow has now, beside the runs it made: on every incremental run.
        if settings.extract.catalog && matches!(scope, ExtractScope::Incremental { .. }) {
            let interval = settings.extract.catalog_interval_minutes;
            match crate::catalog::read_recently(warehouse, name, interval).await {
                Ok(Some(age)) => tracing::info!(
                    instance = name,
                    "The DAG catalogue was read {:.0} min ago: not read again before {interval} min ([extract] catalog_interval_minutes).",
                    age.as_secs_f64() / 60.0
                ),
                Ok(None) => {
                    let source = Source::new(instance);
                    match crate::catalog::refresh(
                        &source,
                        settings.extract.max_clock_skew_seconds,
                        settings.extract.task_instances,
                        warehouse,
                        ctx,
                    )
                    .await
                    {
                        Ok(catalog) => report.catalogs.push(catalog),
                        Err(e) => failures.push(name, "Reading the DAG catalogue", &e),
                    }
                }
                Err(e) => failures.push(name, "Reading the DAG catalogue", &e),
            }
        }
        if let ExtractScope::Window {
            from,
            to,
            time_zone,
        } = scope
        {
            transform::queue_window(warehouse, name, from, to, time_zone).await?;
        }
    }
    let transformed = transform::recompute_days(
        warehouse,
        &settings.warehouse.schema,
        &settings.time_zone,
        &settings.objectives,
        false,
        settings.warehouse.retry,
        ctx,
    )
    .await;
    match transformed {
        Ok(t) => report.transform = Some(t),
        Err(e) => return Err(failures.before(e.into())),
    }
    Ok((report, failures))
}
