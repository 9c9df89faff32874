//! `pipewatch extract`: stages one extract per selected Airflow instance (the stage itself is
//! `crate::extract`). A failing instance does not stop the others; the command fails at the end
//! naming each failure.

use std::fmt;

use tokio_postgres::Client;

use super::{Failures, Report};
use crate::config::{Settings, SourceSettings};
use crate::context::RunContext;
use crate::extract::{self as stage, ExtractReport};
use crate::source::{ExtractScope, Source};
use crate::stage::ObjectStore;

/// Arguments of `extract` (and `run`).
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Read every DAG run, not only new and changed ones.
    pub full: bool,
    /// Only this Airflow instance (default: every configured one).
    pub instance: Option<String>,
}

/// What `extract` staged.
#[derive(Debug, Clone, Default)]
pub struct ExtractCommandReport {
    /// One per instance that succeeded.
    pub extracts: Vec<ExtractReport>,
}

impl fmt::Display for ExtractCommandReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.extracts {
            writeln!(
                f,
                "staged {} ({} runs, {} extract of Airflow instance {})",
                r.object_key,
                r.rows,
                r.mode.as_str(),
                r.instance
            )?;
        }
        Ok(())
    }
}

impl Report for ExtractCommandReport {}

/// Stages one extract per selected instance.
pub async fn run(
    settings: &Settings,
    ctx: &RunContext,
    args: &Args,
) -> anyhow::Result<ExtractCommandReport> {
    let instances = super::select_instances(settings, args.instance.as_deref())?;
    let (mut warehouse, store) = super::open_with_stage(settings, ctx).await?;
    let scope = ExtractScope::Incremental { full: args.full };
    let mut report = ExtractCommandReport::default();
    let mut failures = Failures::default();
    for &instance in &instances {
        let extracted = extract_instance(
            settings,
            ctx,
            instance,
            scope,
            &mut warehouse,
            &store,
            &mut failures,
            None,
        )
        .await;
        report.extracts.extend(extracted);
    }
    failures.finish("Airflow instances", instances.len(), report)
}

/// Extracts one instance (with `feed`, also sending it to a load: see
/// [`stage::extract_instance`]); a failure is logged and kept in `failures`.
#[allow(clippy::too_many_arguments)]
pub(super) async fn extract_instance(
    settings: &Settings,
    ctx: &RunContext,
    instance: SourceSettings<'_>,
    scope: ExtractScope<'_>,
    warehouse: &mut Client,
    store: &ObjectStore,
    failures: &mut Failures,
    feed: Option<stage::ExtractFeed>,
) -> Option<ExtractReport> {
    let source = Source::new(instance);
    match stage::extract_instance(
        &source,
        &settings.extract,
        scope,
        warehouse,
        store,
        ctx,
        feed,
    )
    .await
    {
        Ok(report) => Some(report),
        Err(e) => {
            failures.push(instance.instance(), "Extract", &e);
            None
        }
    }
}
