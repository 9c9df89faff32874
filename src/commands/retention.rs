//! `pipewatch retention`: applies retention on its own (the stage itself is `crate::retention`),
//! for schedulers that run the stages as separate tasks (`run` applies it at its end).

use std::fmt;

use super::Report;
use crate::config::Settings;
use crate::context::RunContext;
use crate::retention::{self as stage, RetentionReport};

impl fmt::Display for RetentionReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "Retention: deleted {} loaded extract objects and {} run-log rows past their retention.",
            self.objects_deleted, self.run_log_rows_deleted
        )
    }
}

impl Report for RetentionReport {}

/// Deletes loaded extract objects and run-log rows past `[retention]`, under the run lock.
pub async fn run(settings: &Settings, ctx: &RunContext) -> anyhow::Result<RetentionReport> {
    let (mut warehouse, store) = super::open_with_stage(settings, ctx).await?;
    Ok(stage::apply(&mut warehouse, &store, &settings.retention, ctx).await?)
}
