//! `pipewatch metrics`: prints the metrics for Prometheus (the text format) on standard output,
//! the same text `[prometheus] textfile_directory` receives (the stage itself is
//! `crate::metrics`). For a scrape through a wrapper, a cron job writing a file of its own, or a
//! look at what would be published.

use std::fmt;

use super::Report;
use crate::config::Settings;
use crate::context::RunContext;
use crate::metrics::{self, Metrics, MetricsError};

/// The metrics, as text.
#[derive(Debug, Clone)]
pub struct MetricsReport(pub Metrics);

impl fmt::Display for MetricsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.text())
    }
}

impl Report for MetricsReport {}

/// Reads the metrics from the warehouse of `settings` (read only; the schema must be current).
pub async fn run(settings: &Settings, ctx: &RunContext) -> Result<MetricsReport, MetricsError> {
    let sessions = metrics::Sessions::open(settings, ctx).await?;
    let m = metrics::collect(&sessions, &settings.prometheus, &settings.time_zone).await?;
    Ok(MetricsReport(m))
}
