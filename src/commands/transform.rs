//! `pipewatch transform`: recomputes the daily models for the queued days, or every day with
//! `--full-refresh` (the stage itself is `crate::transform`); then, when `[alerts]` is set,
//! judges the alert rules on what it computed, as `run` does, so that a scheduler running the
//! stages as separate tasks (the example Airflow DAG) gets its alerts without a task of their
//! own.

use std::fmt;

use super::Report;
use crate::alerts::AlertReport;
use crate::config::Settings;
use crate::context::RunContext;
use crate::transform::{self as stage, TransformReport};

/// Arguments of `transform`.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Rebuild every day from all history instead of the queued days.
    pub full_refresh: bool,
}

/// What `transform` did: the models, and the alert evaluation when `[alerts]` is set.
#[derive(Debug, Clone)]
pub struct Transformed {
    /// The recomputation.
    pub transform: TransformReport,
    /// The alert evaluation.
    pub alerts: Option<AlertReport>,
}

impl fmt::Display for Transformed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.transform)?;
        if let Some(a) = &self.alerts {
            writeln!(f, "{a}")?;
        }
        Ok(())
    }
}

impl Report for Transformed {}

/// Recomputes the queued days, or every day; then judges the alert rules.
pub async fn run(
    settings: &Settings,
    ctx: &RunContext,
    args: &Args,
) -> anyhow::Result<Transformed> {
    let mut warehouse = super::open_locked(settings, ctx).await?;
    let transform = stage::recompute_days(
        &mut warehouse,
        &settings.warehouse.schema,
        &settings.time_zone,
        &settings.objectives,
        args.full_refresh,
        settings.warehouse.retry,
        ctx,
    )
    .await?;
    // Under the same run lock, as in `run`.
    let alerts = match &settings.alerts {
        Some(alerts) => {
            let today = super::today_in_reporting_zone(&warehouse, settings).await?;
            Some(crate::alerts::evaluate(&mut warehouse, settings, alerts, today, ctx).await?)
        }
        None => None,
    };
    Ok(Transformed { transform, alerts })
}
