//! `pipewatch load`: loads the pending extracts (of one instance or all), oldest first, or one
//! object given by its key (the stage itself is `crate::load`). Loading is idempotent.

use std::fmt;

use tokio_postgres::Client;

use super::{Failures, Report};
use crate::UsageError;
use crate::config::Settings;
use crate::context::RunContext;
use crate::load::{self as stage, LoadReport, LoadTarget, StagedExtract};
use crate::run_log::{self, Stage};
use crate::stage::{ObjectStore, check_key};

/// Arguments of `load`.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Load (or reload) this staged object instead of the pending extracts.
    pub object: Option<String>,
    /// Only the pending extracts of this Airflow instance.
    pub instance: Option<String>,
    /// Discard this extract (pending or set aside) instead of loading anything.
    pub discard: Option<String>,
}

/// What `load` loaded (or discarded).
#[derive(Debug, Clone, Default)]
pub struct LoadCommandReport {
    /// One per object loaded.
    pub loads: Vec<LoadReport>,
    /// The extract discarded, with its instance.
    pub discarded: Option<(String, String)>,
}

impl fmt::Display for LoadCommandReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some((key, instance)) = &self.discarded {
            writeln!(
                f,
                "Discarded extract {key} of instance {instance}: it will not be loaded; later extracts bring its runs again."
            )?;
        }
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
    if let Some(key) = &args.discard {
        check_key(key).map_err(|e| UsageError(format!("--discard: {e}")))?;
        let warehouse = super::open_locked(settings, ctx).await?;
        let Some((instance, reason)) = stage::discard(&warehouse, key, ctx).await? else {
            return Err(UsageError(format!(
                "--discard {key}: no extract with that key waits to be loaded (it was loaded or discarded already, or never staged; `pipewatch status` lists the set-aside ones)"
            ))
            .into());
        };
        tracing::warn!(
            object = %key,
            airflow_instance = %instance,
            was_set_aside_because = reason.as_deref(),
            "Discarded the extract: it will not be loaded."
        );
        return Ok(LoadCommandReport {
            loads: Vec::new(),
            discarded: Some((key.clone(), instance)),
        });
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
        let loaded = stage::load_object(
            &mut warehouse,
            &target,
            &store,
            key,
            registered.first(),
            ctx,
        )
        .await;
        let report = match loaded {
            // Said once it is done: before, a missing object warned of a merge that never came.
            Ok(report) if registered.is_empty() => {
                tracing::warn!(
                    object = %key,
                    "The object is not a registered extract of this warehouse: merged its rows without moving any watermark."
                );
                report
            }
            Ok(report) => report,
            Err(e) => {
                // Loading a set-aside extract again that still fails keeps it aside, with the
                // new reason.
                if e.is_in_the_object() && !registered.is_empty() {
                    stage::set_aside(&warehouse, key, &e, ctx).await?;
                }
                return Err(e.into());
            }
        };
        return Ok(LoadCommandReport {
            loads: vec![report],
            discarded: None,
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
        |key, _| key.to_string(),
    )
    .await?;
    let total = loads.len() + failures.len();
    failures.finish(
        "pending extracts",
        total,
        LoadCommandReport {
            loads,
            discarded: None,
        },
    )
}

/// Loads the pending extracts of `instance` (or all), oldest first; a failing object is logged
/// and kept in `failures`, and the others are still loaded. An extract that fails for what it
/// holds is set aside (it would fail every time); every set-aside extract not dealt with yet is
/// kept in `failures` too, so the command exits 3 until an operator loads or discards it.
pub(super) async fn load_pending(
    warehouse: &mut Client,
    target: &LoadTarget<'_>,
    store: &ObjectStore,
    instance: Option<&str>,
    ctx: &RunContext,
    failures: &mut Failures,
    unit: impl Fn(&str, &str) -> String,
) -> anyhow::Result<Vec<LoadReport>> {
    let pending: Vec<StagedExtract> =
        stage::staged_extracts(warehouse, instance, None, true).await?;
    if pending.is_empty() {
        tracing::info!(airflow_instance = instance, "No pending extracts to load.");
    }
    let mut loads = Vec::new();
    let mut set_aside_now = Vec::new();
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
            Err(e) if e.is_in_the_object() => {
                stage::set_aside(warehouse, &extract.object_key, &e, ctx).await?;
                set_aside_now.push(extract.object_key.clone());
            }
            Err(e) => failures.push(
                &unit(&extract.object_key, &extract.airflow_instance),
                "Load",
                &e,
            ),
        }
    }
    for set_aside in stage::set_aside_extracts(warehouse, instance).await? {
        let unit = unit(&set_aside.object_key, &set_aside.airflow_instance);
        // The command exits 3 for it: its run log says so too (a load that set it aside just
        // now recorded its failure already).
        if !set_aside_now.contains(&set_aside.object_key) {
            run_log::record_failure(
                &*warehouse,
                ctx,
                Stage::Load,
                Some(&set_aside.airflow_instance),
                &set_aside.to_string(),
            )
            .await?;
        }
        failures.push_message(&unit, "Load", set_aside.to_string());
    }
    Ok(loads)
}
