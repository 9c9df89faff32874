//! `pipewatch transform`: recomputes the daily models for the queued days, or every day with
//! `--full-refresh` (the stage itself is `crate::transform`).

use super::Report;
use crate::config::Settings;
use crate::context::RunContext;
use crate::transform::{self as stage, TransformReport};

/// Arguments of `transform`.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Rebuild every day from all history instead of the queued days.
    pub full_refresh: bool,
}

impl Report for TransformReport {}

/// Recomputes the queued days, or every day.
pub async fn run(
    settings: &Settings,
    ctx: &RunContext,
    args: &Args,
) -> anyhow::Result<TransformReport> {
    let mut warehouse = super::open_locked(settings, ctx).await?;
    Ok(stage::recompute_days(
        &mut warehouse,
        &settings.warehouse.schema,
        &settings.time_zone,
        args.full_refresh,
        settings.warehouse.retry,
        ctx,
    )
    .await?)
}
