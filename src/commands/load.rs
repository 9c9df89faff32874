//! `pipewatch load`: loads the pending extracts (of one instance or all), oldest first, or one
//! object given by its key (the stage itself is `crate::load`). Loading is idempotent.

use std::fmt;

use tokio_postgres::Client;

use super::{Failures, Report};
use crate::UsageError;
use crate::config::Settings;
use crate::context::RunContext;
use crate::load::{self as stage, LoadReport, LoadTarget, StagedExtract};
use crate::stage::{ObjectStore, check_key};

/// Arguments of `load`.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Load (or reload) this staged object instead of the pending extracts.
    pub object: Option<String>,
    /// Only the pending extracts of this Airflow instance.
    pub instance: Option<String>,
}

/// What `load` loaded.
#[derive(Debug, Clone, Default)]
pub struct LoadCommandReport {
    /// One per object loaded.
    pub loads: Vec<LoadReport>,
}

impl fmt::Display for LoadCommandReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.loads.iter().try_for_each(|r| writeln!(f, "{r}"))
    }
}

impl Report for LoadCommandReport {}

/// Loads the object `args.object`, or every pending extract (of `args.instance`).
pub async fn run(
    settings: &Settings,
    ctx: &RunContext,
    args: &Args,
) -> anyhow::Result<LoadCommandReport> {
    if let Some(key) = &args.object {
        check_key(key).map_err(|e| UsageError(format!("--object: {e}")))?;
    }
    if let Some(name) = &args.instance {
        super::select_instances(settings, Some(name))?;
    }
    let (mut warehouse, store) = super::open_with_stage(settings, ctx).await?;
    let target = LoadTarget {
        schema: &settings.warehouse.schema,
        time_zone: &settings.time_zone,
        retry: settings.warehouse.retry,
    };
    if let Some(key) = &args.object {
        let registered = stage::staged_extracts(&warehouse, None, Some(key), false).await?;
        if registered.is_empty() {
            tracing::warn!(
                object = %key,
                "The object is not a registered extract of this warehouse: merging its rows without moving any watermark."
            );
        }
        let report = stage::load_object(
            &mut warehouse,
            &target,
            &store,
            key,
            registered.first(),
            ctx,
        )
        .await?;
        return Ok(LoadCommandReport {
            loads: vec![report],
        });
    }
    let mut failures = Failures::default();
    let loads = load_pending(
        &mut warehouse,
        &target,
        &store,
        args.instance.as_deref(),
        ctx,
        &mut failures,
        |extract| extract.object_key.clone(),
    )
    .await?;
    let total = loads.len() + failures.len();
    failures.finish("pending extracts", total, LoadCommandReport { loads })
}

/// Loads the pending extracts of `instance` (or all), oldest first; a failing object is logged
/// and kept in `failures`, and the others are still loaded.
pub(super) async fn load_pending(
    warehouse: &mut Client,
    target: &LoadTarget<'_>,
    store: &ObjectStore,
    instance: Option<&str>,
    ctx: &RunContext,
    failures: &mut Failures,
    unit: impl Fn(&StagedExtract) -> String,
) -> anyhow::Result<Vec<LoadReport>> {
    let pending: Vec<StagedExtract> =
        stage::staged_extracts(warehouse, instance, None, true).await?;
    if pending.is_empty() {
        tracing::info!(airflow_instance = instance, "No pending extracts to load.");
    }
    let mut loads = Vec::new();
    for extract in &pending {
        match stage::load_object(
            warehouse,
            target,
            store,
            &extract.object_key,
            Some(extract),
            ctx,
        )
        .await
        {
            Ok(report) => loads.push(report),
            Err(e) => failures.push(&unit(extract), "Load", &e),
        }
    }
    Ok(loads)
}
