//! pipewatch: a batch ETL job that copies Apache Airflow's DAG-run history and data-validation
//! results into a PostgreSQL warehouse and computes daily pipeline-performance figures.
//!
//! Layout: [`commands`] holds one module per subcommand (arguments, report, `run`); [`run`]
//! here only dispatches and maps errors to exit codes ([`exit`]). The stages the commands
//! chain are modules of their own ([`extract`], [`load`], [`transform`], [`retention`],
//! [`validate`], [`migrate`]); sources of DAG runs sit behind [`source`]; shared infrastructure
//! (configuration, connections, the object store, the run log, retries) lives once. The binary
//! (`main.rs`, with its clap definitions in `cli.rs`) parses arguments, starts logging and
//! calls [`run`].

pub mod alerts;
pub mod catalog;
pub mod commands;
pub mod config;
pub mod context;
pub mod critical_path;
pub mod db;
pub mod expected_runs;
pub mod extract;
pub mod format;
pub mod http;
pub mod load;
pub mod logging;
pub mod metrics;
pub mod migrate;
pub mod notify;
pub mod objectives;
pub mod report;
pub mod reporting;
pub mod retention;
pub mod retry;
pub mod run_lock;
pub mod run_log;
pub mod schedule;
pub mod source;
pub mod stage;
pub mod transform;
pub mod validate;

use std::path::Path;

use std::io::Write;

use commands::Report;
use context::RunContext;

/// The documented exit codes (README, "Exit codes").
pub mod exit {
    /// Everything succeeded (validation: all passed, or only `warn` tests failed).
    pub const SUCCESS: u8 = 0;
    /// The command ran, and what it checked did not hold: a `halt` validation test failed, a
    /// connection in `check-config` failed, or `reconcile` found differences.
    pub const CHECKS_FAILED: u8 = 1;
    /// Usage or configuration error: bad arguments, an invalid or missing configuration file.
    /// Nothing was attempted; fix the call or the file before retrying.
    pub const USAGE: u8 = 2;
    /// The command could not do its work: a connection, query, object store or file failed, or
    /// a validation test could not run (whatever its severity). Retrying may help when the
    /// cause was transient.
    pub const ERROR: u8 = 3;
    /// Another pipewatch invocation held the warehouse's run lock for all of
    /// `[warehouse] lock_wait_seconds`: nothing was done; the next scheduled run will catch up.
    pub const LOCKED: u8 = 4;
}

/// Arguments that cannot work (dates in the wrong order, an unknown instance, a malformed key,
/// a bad validation test): found before anything connects, exit 2.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// How a command that ran ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// All done.
    Success,
    /// The command ran, and what it checked did not hold.
    ChecksFailed,
    /// The command ran to its end, but part of its work could not be done (a validation test
    /// could not run); that part is recorded.
    Errored,
    /// The command found the configuration unusable (check-config: a setting only the
    /// warehouse can judge, such as the reporting time zone).
    Usage,
}

impl Outcome {
    /// The exit code for this outcome.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => exit::SUCCESS,
            Outcome::ChecksFailed => exit::CHECKS_FAILED,
            Outcome::Errored => exit::ERROR,
            Outcome::Usage => exit::USAGE,
        }
    }
}

/// The exit code for an error that ended a command.
pub fn exit_code_for(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<config::ConfigError>().is_some()
        || error.downcast_ref::<UsageError>().is_some()
        || error
            .downcast_ref::<migrate::MigrateError>()
            .is_some_and(migrate::MigrateError::is_usage)
        || matches!(
            error.downcast_ref::<commands::status::StatusError>(),
            Some(commands::status::StatusError::Migrate(m)) if m.is_usage()
        )
        || matches!(
            error.downcast_ref::<metrics::MetricsError>(),
            Some(metrics::MetricsError::Warehouse(m)) if m.is_usage()
        )
    {
        exit::USAGE
    } else if matches!(
        error.downcast_ref::<run_lock::LockError>(),
        Some(run_lock::LockError::Busy { .. })
    ) {
        exit::LOCKED
    } else {
        exit::ERROR
    }
}

/// A subcommand with its arguments, as the binary parsed them.
#[derive(Debug, Clone)]
pub enum Command {
    /// Extract, stage, load and transform (the scheduled job).
    Run(commands::run::Args),
    /// Extract into the stage.
    Extract(commands::extract::Args),
    /// Load staged extracts.
    Load(commands::load::Args),
    /// Recompute the daily models.
    Transform(commands::transform::Args),
    /// Run validation tests.
    Validate(commands::validate::Args),
    /// Re-extract and recompute a window of days.
    Backfill(commands::backfill::Args),
    /// Compare the source with the warehouse.
    Reconcile(commands::reconcile::Args),
    /// Show recent invocations, watermarks, pending work and the run lock.
    Status(commands::status::Args),
    /// Write the HTML report.
    Report(commands::report::Args),
    /// List (and evaluate) the alerts.
    Alerts(commands::alerts::Args),
    /// Delete what is past retention.
    Retention,
    /// Create or upgrade the warehouse schema.
    Migrate,
    /// Validate the configuration and try every connection.
    CheckConfig,
    /// Print the metrics for Prometheus.
    Metrics,
}

impl Command {
    /// The subcommand's name, as typed.
    pub fn name(&self) -> &'static str {
        match self {
            Command::Run(_) => "run",
            Command::Extract(_) => "extract",
            Command::Load(_) => "load",
            Command::Transform(_) => "transform",
            Command::Validate(_) => "validate",
            Command::Backfill(_) => "backfill",
            Command::Reconcile(_) => "reconcile",
            Command::Status(_) => "status",
            Command::Report(_) => "report",
            Command::Alerts(_) => "alerts",
            Command::Retention => "retention",
            Command::Migrate => "migrate",
            Command::CheckConfig => "check-config",
            Command::Metrics => "metrics",
        }
    }

    /// Whether the command changes what the metrics report, so that it publishes them when it
    /// ends (`[prometheus]`): every command that writes the warehouse or its run log.
    pub fn publishes_metrics(&self) -> bool {
        !matches!(
            self,
            Command::Status(_) | Command::Report(_) | Command::CheckConfig | Command::Metrics
        )
    }
}

/// Runs `command` within the invocation `ctx`, with the configuration at `config` (or the
/// default paths), prints its report on standard output (with `quiet`, only when it did not
/// succeed), and says how it ended.
pub async fn run(
    command: &Command,
    config: Option<&Path>,
    ctx: &RunContext,
    quiet: bool,
) -> anyhow::Result<Outcome> {
    let show = |report: &dyn Report| print(report, quiet);
    // The validation tests are checked before the configuration is even read.
    let tests = match command {
        Command::Validate(args) => Some(args.tests()?),
        _ => None,
    };
    let settings = {
        let path = config::locate(config)?;
        let settings = config::load(&path)?;
        tracing::debug!(path = %path.display(), "Read configuration.");
        settings
    };
    let s = &settings;
    // A block, so that a failed command still publishes its metrics below; the metrics'
    // sessions open while it works, so publishing adds only its reads.
    let command_run = async {
        match command {
            Command::Run(args) => show(&commands::run::run(s, ctx, args).await?),
            Command::Extract(args) => show(&commands::extract::run(s, ctx, args).await?),
            Command::Load(args) => show(&commands::load::run(s, ctx, args).await?),
            Command::Transform(args) => show(&commands::transform::run(s, ctx, args).await?),
            Command::Backfill(args) => show(&commands::backfill::run(s, ctx, args).await?),
            Command::Reconcile(args) => show(&commands::reconcile::run(s, ctx, args).await?),
            Command::Validate(_) => {
                let tests = tests.expect("read above");
                show(&commands::validate::run(s, ctx, &tests).await?)
            }
            Command::Status(args) => show(&commands::status::run(s, ctx, args).await?),
            Command::Report(args) => show(&commands::report::run(s, ctx, args).await?),
            Command::Alerts(args) => show(&commands::alerts::run(s, ctx, args).await?),
            Command::Retention => show(&commands::retention::run(s, ctx).await?),
            Command::Migrate => show(&commands::migrate::run(s, ctx).await?),
            Command::CheckConfig => show(&commands::check_config::run(s, ctx).await),
            Command::Metrics => show(&commands::metrics::run(s, ctx).await?),
        }
    };
    let (result, early) = tokio::join!(
        command_run,
        metrics::Early::open(s, ctx, command.publishes_metrics())
    );
    if command.publishes_metrics() {
        metrics::publish(s, ctx, matches!(result, Ok(Outcome::Success)), early).await;
    }
    result
}

/// Writes `report` on standard output (unless `quiet` and it succeeded) and returns its outcome.
/// A reader that went away (`pipewatch alerts | head -1`) ends the output quietly: the command
/// still exits with its outcome's code.
fn print(report: &dyn Report, quiet: bool) -> anyhow::Result<Outcome> {
    let outcome = report.outcome();
    if quiet && outcome == Outcome::Success {
        return Ok(outcome);
    }
    let mut out = std::io::stdout().lock();
    match write!(out, "{report}").and_then(|()| out.flush()) {
        Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(anyhow::Error::new(e)
            .context("could not write the command's output on standard output")),
        _ => Ok(outcome),
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};

    fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                files(&path, ext, out);
            } else if path.extension().is_some_and(|e| e == ext) {
                out.push(path);
            }
        }
    }

    #[test]
    fn every_sql_file_states_its_grain_and_params_and_is_used() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut sql = Vec::new();
        files(&root.join("sql"), "sql", &mut sql);
        let mut rust = Vec::new();
        files(&root.join("src"), "rs", &mut rust);
        let sources: String = rust
            .iter()
            .map(|p| std::fs::read_to_string(p).unwrap())
            .collect();
        assert!(sql.len() > 10);
        for path in sql {
            let text = std::fs::read_to_string(&path).unwrap();
            let name = path.strip_prefix(root).unwrap().display().to_string();
            assert!(text.starts_with("-- "), "{name} must open with a comment");
            let header: String = text.lines().take_while(|l| l.starts_with("--")).collect();
            assert!(header.contains("Grain:"), "{name} must state its grain");
            assert!(
                header.contains("Params"),
                "{name} must state its parameters"
            );
            let embedded = name.strip_prefix("sql/").unwrap();
            assert!(
                sources.contains(&format!("sql/{embedded}\")")),
                "{name} is not embedded by any module (include_str!)"
            );
        }
    }
}
