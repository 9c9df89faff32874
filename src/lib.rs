//! pipewatch: a batch ETL job that copies Apache Airflow's DAG-run history and data-validation
//! results into a PostgreSQL warehouse and computes daily pipeline-performance figures.
//!
//! The binary (`main.rs`) only parses arguments, starts logging and maps the outcome of [`run`]
//! to an exit code ([`exit`]). Each subcommand lives in its own module with one entry point;
//! shared infrastructure (configuration, connections, the stage, the run log) lives once.

pub mod airflow;
pub mod check_config;
pub mod cli;
pub mod config;
pub mod context;
pub mod db;
pub mod extract;
pub mod load;
pub mod logging;
pub mod migrate;
pub mod notify;
pub mod pipeline;
pub mod reconcile;
pub mod retention;
pub mod run_lock;
pub mod run_log;
pub mod stage;
pub mod status;
pub mod transform;
pub mod validate;

use cli::{Cli, Command};
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
}

impl Outcome {
    /// The exit code for this outcome.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Success => exit::SUCCESS,
            Outcome::ChecksFailed => exit::CHECKS_FAILED,
            Outcome::Errored => exit::ERROR,
        }
    }
}

/// The exit code for an error that ended a command.
pub fn exit_code_for(error: &anyhow::Error) -> u8 {
    if error.downcast_ref::<config::ConfigError>().is_some()
        || error.downcast_ref::<validate::UsageError>().is_some()
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

/// Runs the command of `cli` within the invocation `ctx`.
pub async fn run(cli: &Cli, ctx: &RunContext) -> anyhow::Result<Outcome> {
    match &cli.command {
        Command::Migrate => {
            let settings = load_settings(cli)?;
            migrate::run(&settings, ctx).await?;
            Ok(Outcome::Success)
        }
        Command::Extract(args) => {
            let settings = load_settings(cli)?;
            let reports = pipeline::extract(&settings, ctx, &extract_options(args)).await?;
            for r in &reports {
                println!(
                    "staged {} ({} runs, {} extract of Airflow instance {})",
                    r.object_key,
                    r.rows,
                    r.mode.as_str(),
                    r.instance
                );
            }
            Ok(Outcome::Success)
        }
        Command::Load(args) => {
            let settings = load_settings(cli)?;
            let reports = pipeline::load(
                &settings,
                ctx,
                args.object.as_deref(),
                args.instance.as_deref(),
            )
            .await?;
            for r in &reports {
                println!(
                    "loaded {} ({} runs read, {} inserted or changed)",
                    r.object_key, r.rows_read, r.rows_changed
                );
            }
            Ok(Outcome::Success)
        }
        Command::Run(args) => {
            let settings = load_settings(cli)?;
            let report = pipeline::run(&settings, ctx, &extract_options(args)).await?;
            print_run_report(&report);
            Ok(Outcome::Success)
        }
        Command::Backfill(args) => {
            let settings = load_settings(cli)?;
            let report =
                pipeline::backfill(&settings, ctx, args.instance.as_deref(), args.from, args.to)
                    .await?;
            print_run_report(&report);
            Ok(Outcome::Success)
        }
        Command::Transform(args) => {
            let settings = load_settings(cli)?;
            let report = pipeline::transform(&settings, ctx, args.full_refresh).await?;
            print_transform_report(&report);
            Ok(Outcome::Success)
        }
        Command::Reconcile(args) => {
            let settings = load_settings(cli)?;
            let results = pipeline::reconcile(&settings, ctx, args).await?;
            let mut all_match = true;
            for r in &results {
                print!(
                    "Airflow instance {}: {}..{} ({}): {} finished runs in Airflow, {} in the warehouse; ",
                    r.instance,
                    r.from,
                    r.to,
                    settings.time_zone,
                    r.source_finished,
                    r.warehouse_finished
                );
                if r.differences.is_empty() {
                    println!("every day matches");
                    continue;
                }
                all_match = false;
                match r.differences.len() {
                    1 => println!("1 day differs:"),
                    n => println!("{n} days differ:"),
                }
                println!(
                    "  {:<10}  {:>8}  {:>9}  {:>10}",
                    "day", "airflow", "warehouse", "difference"
                );
                for d in &r.differences {
                    println!(
                        "  {:<10}  {:>8}  {:>9}  {:>+10}",
                        d.day.to_string(),
                        d.source_finished,
                        d.warehouse_finished,
                        d.warehouse_finished - d.source_finished
                    );
                }
            }
            Ok(if all_match {
                Outcome::Success
            } else {
                Outcome::ChecksFailed
            })
        }
        Command::Validate(args) => {
            // Arguments are checked before the configuration is even read.
            let tests = match &args.suite {
                Some(path) => validate::parse_suite(path)?,
                None => vec![validate::single_test(
                    args.script_1.as_deref().unwrap_or_default(),
                    args.script_2.as_deref().unwrap_or_default(),
                    args.operator.as_deref().unwrap_or_default(),
                    args.severity.as_deref(),
                    args.database.as_deref(),
                    args.name.as_deref(),
                )?],
            };
            let settings = load_settings(cli)?;
            validate::check_databases(&settings, &tests)?;
            let report = validate::run(&settings, ctx, &tests).await?;
            for result in &report.results {
                println!("{}", validate::summary_line(result));
            }
            Ok(if report.any_error() {
                Outcome::Errored
            } else if report.any_halt_failure() {
                Outcome::ChecksFailed
            } else {
                Outcome::Success
            })
        }
        Command::Status(args) => {
            let settings = load_settings(cli)?;
            let status = status::read(&settings, ctx, i64::from(args.last.max(1))).await?;
            match args.format {
                cli::StatusFormat::Text => print!("{}", status::render_text(&status)),
                cli::StatusFormat::Json => println!("{}", serde_json::to_string_pretty(&status)?),
            }
            Ok(Outcome::Success)
        }
        Command::CheckConfig => {
            let settings = load_settings(cli)?;
            let report = check_config::run(&settings, ctx).await;
            for check in &report.checks {
                println!("{check}");
            }
            if report.all_ok() {
                Ok(Outcome::Success)
            } else {
                Ok(Outcome::ChecksFailed)
            }
        }
    }
}

fn print_run_report(report: &pipeline::RunReport) {
    for r in &report.extracts {
        println!(
            "extracted {} runs from Airflow instance {} ({})",
            r.rows,
            r.instance,
            r.mode.as_str()
        );
    }
    for r in &report.loads {
        println!(
            "loaded {} ({} runs read, {} inserted or changed)",
            r.object_key, r.rows_read, r.rows_changed
        );
    }
    if let Some(t) = &report.transform {
        print_transform_report(t);
    }
}

fn print_transform_report(t: &transform::TransformReport) {
    println!(
        "recomputed {} DAG-run days and {} validation days{} ({} model rows)",
        t.dag_run_days,
        t.validation_days,
        if t.full_refresh { ", full refresh" } else { "" },
        t.rows_written
    );
}

fn extract_options(args: &cli::ExtractArgs) -> extract::ExtractOptions {
    extract::ExtractOptions {
        full: args.full,
        instance: args.instance.clone(),
    }
}

fn load_settings(cli: &Cli) -> Result<config::Settings, config::ConfigError> {
    let path = config::locate(cli.config.as_deref())?;
    let settings = config::load(&path)?;
    tracing::debug!(path = %path.display(), "Read configuration.");
    Ok(settings)
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
            assert!(
                sources.contains(&format!("../{name}\")")),
                "{name} is not embedded by any module (include_str!)"
            );
        }
    }
}
