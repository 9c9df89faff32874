//! Metrics for Prometheus: pipewatch's own health and a bounded set of per-DAG figures, read
//! from the warehouse and written in Prometheus' text format (0.0.4, which node_exporter's
//! textfile collector, the Pushgateway and `promtool check metrics` read).
//!
//! [`collect`] reads everything from the warehouse (the run log, the instances' watermarks and
//! stage, the open alerts, the daily models and the catalogue), so the figures are the same
//! whichever command or host publishes them and a failed command never moves a last-success
//! gauge. [`publish`] runs after every command that changes them: it writes
//! `<textfile_directory>/pipewatch.prom` through a temporary file renamed over it (a reader never
//! sees half a file) and push-adds to the Pushgateway, one group per Airflow instance
//! (`job="pipewatch", instance="<name>"`) and one for pipewatch itself (`job="pipewatch"`).
//! Publishing never changes the command's outcome: what fails is one warning naming the path or
//! the URL (credentials redacted). Its two warehouse sessions open while the command works
//! ([`Early`]), with their statements prepared, so that publishing adds only the reads (about
//! 45 ms at 10,000 DAGs with `max_dags = 500`: `scripts/bench metrics`).
//!
//! Every family is listed once in [`FAMILIES`], with its help text; the README's table and the
//! tests read it.
//!
//! Layout: `families.rs` the families and the text format; `read.rs` the warehouse sessions and
//! the reads (SQL in `sql/metrics/`); `textfile.rs` and `pushgateway.rs` the two destinations
//! and their check-config probes; `error.rs` the one error; here, [`publish`], which puts them
//! together after a command.

mod error;
mod families;
mod pushgateway;
mod read;
mod textfile;

pub use error::MetricsError;
pub use families::{FAMILIES, Family, Metrics};
pub use pushgateway::{check_pushgateway, push};
pub use read::{Early, Sessions, collect, read};
pub use textfile::{TEXTFILE_NAME, check_textfile, write_textfile};

use crate::config::Settings;
use crate::context::RunContext;
use crate::db;

/// After a command: reads the metrics and publishes them where `[prometheus]` says, if
/// anywhere. `succeeded` says whether the command succeeded (the last-success families are
/// pushed only then). Every failure is one warning; nothing here changes the command's outcome.
pub async fn publish(settings: &Settings, ctx: &RunContext, succeeded: bool, early: Early) {
    let p = &settings.prometheus;
    if !p.publishes() {
        return;
    }
    let started = std::time::Instant::now();
    let metrics = match read(settings, ctx, early).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "Metrics not published: could not read them from the warehouse.");
            return;
        }
    };
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "Read the metrics."
    );
    if let Some(directory) = &p.textfile_directory {
        match write_textfile(directory, &metrics.text()) {
            Ok(path) => tracing::debug!(path = %path.display(), "Wrote the metrics file."),
            Err(e) => tracing::warn!(error = %error_chain(&e), "Metrics file not written."),
        }
    }
    if let Some(url) = &p.pushgateway_url {
        match push(url, p.pushgateway_timeout_seconds, &metrics, succeeded).await {
            Ok(groups) => tracing::debug!(groups, "Pushed the metrics."),
            Err(e) => tracing::warn!(error = %error_chain(&e), "Metrics not pushed."),
        }
    }
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "Published the metrics."
    );
}

fn error_chain(e: &MetricsError) -> String {
    db::error_chain(e)
}
