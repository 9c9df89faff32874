//! `pipewatch backfill --from DATE --to DATE`: re-extracts every run of that window of days
//! (reporting time zone) of each selected instance, loads it, and recomputes exactly those days
//! (with any other days already queued). Watermarks do not move, so the next `run` carries on
//! where it was.

use chrono::NaiveDate;

use super::run::RunReport;
use crate::UsageError;
use crate::config::Settings;
use crate::context::RunContext;
use crate::source::ExtractScope;

/// Arguments of `backfill`.
#[derive(Debug, Clone)]
pub struct Args {
    /// First day of the window (reporting time zone).
    pub from: NaiveDate,
    /// Last day of the window, included.
    pub to: NaiveDate,
    /// Only this Airflow instance (default: every configured one).
    pub instance: Option<String>,
}

/// Re-extracts, loads and recomputes the window.
pub async fn run(settings: &Settings, ctx: &RunContext, args: &Args) -> anyhow::Result<RunReport> {
    if args.from > args.to {
        return Err(UsageError(format!("--from {} is after --to {}", args.from, args.to)).into());
    }
    super::check_day("--from", args.from)?;
    super::check_day("--to", args.to)?;
    let instances = super::select_instances(settings, args.instance.as_deref())?;
    let (mut warehouse, store) = super::open_with_stage(settings, ctx).await?;
    let scope = ExtractScope::Window {
        from: args.from,
        to: args.to,
        time_zone: &settings.time_zone,
    };
    let (report, failures) = super::run::extract_load_transform(
        settings,
        ctx,
        &instances,
        scope,
        &mut warehouse,
        &store,
    )
    .await?;
    failures.finish("Airflow instances", instances.len(), report)
}
