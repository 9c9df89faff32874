//! `pipewatch run`, the scheduled job: for each selected Airflow instance, extract new and
//! changed runs, then load its pending extracts (the new one and any left over by an earlier
//! failed run); then recompute the days the loads (and validation results) touched; then apply
//! retention. A failing instance does not stop the others, and the transform runs even then,
//! so the healthy instances' figures stay current; the command fails at the end naming each
//! failure. `backfill` shares the extract-load-transform sequence ([`extract_load_transform`]).

use std::fmt;

use tokio_postgres::Client;

use super::{Failures, Report};
use crate::config::{Settings, SourceSettings};
use crate::context::RunContext;
use crate::extract::ExtractReport;
use crate::load::{LoadReport, LoadTarget};
use crate::retention::{self, RetentionReport};
use crate::source::ExtractScope;
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
    for &instance in instances {
        let name = instance.instance();
        let extracted = super::extract::extract_instance(
            settings,
            ctx,
            instance,
            scope,
            warehouse,
            store,
            &mut failures,
        )
        .await;
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
