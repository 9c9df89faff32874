//! The `pipewatch` binary: parses arguments (`cli.rs`), starts logging, runs the command, and
//! maps its outcome to a documented exit code (see `pipewatch::exit`). Nothing else lives here.

mod cli;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use tracing::Instrument;

use pipewatch::context::RunContext;
use pipewatch::logging::{self, LogFormat};

fn main() -> ExitCode {
    // Usage errors exit with clap's code 2, which is also pipewatch::exit::USAGE.
    let cli = cli::Cli::parse();
    let command = match cli.command.action() {
        cli::Action::Run(command) => command,
        cli::Action::Completions(shell) => {
            cli::completions(shell, &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        cli::Action::Man(out_dir) => {
            return match cli::man(out_dir.as_deref()) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    let place =
                        out_dir.map_or("standard output".into(), |d| d.display().to_string());
                    error_line(&format!("cannot write the manual pages to {place}: {e}"));
                    ExitCode::from(pipewatch::exit::ERROR)
                }
            };
        }
    };
    let log_format = LogFormat::from(cli.log_format);
    // Quiet keeps standard error for what needs a person; a log file still gets the info lines.
    let log_level = cli
        .log_level
        .unwrap_or(if cli.quiet && cli.log_file.is_none() {
            cli::LogLevel::Warn
        } else {
            cli::LogLevel::Info
        });
    if let Err(e) = logging::init(log_format, log_level.into(), cli.log_file.as_deref()) {
        error_line(&e.to_string());
        return ExitCode::from(pipewatch::exit::USAGE);
    }
    let ctx = RunContext::new(command.name());
    // The root span is at ERROR level so that it is enabled at every --log-level: every event,
    // whatever its level, carries the run id (in JSON under "spans", in text as the prefix).
    let span = tracing::error_span!("pipewatch", run_id = %ctx.run_id, command = ctx.command);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            error_line(&format!("cannot start the async runtime: {e}"));
            return ExitCode::from(pipewatch::exit::ERROR);
        }
    };
    let result = runtime.block_on(
        pipewatch::run(&command, cli.config.as_deref(), &ctx, cli.quiet).instrument(span.clone()),
    );
    match result {
        Ok(outcome) => ExitCode::from(outcome.exit_code()),
        Err(error) => {
            let message = format!("{error:#}");
            // One line for people on stderr; in JSON or file logs, an error event with the run id.
            if log_format == LogFormat::Json || cli.log_file.is_some() {
                span.in_scope(|| tracing::error!(error = %message, "Command failed."));
            }
            // The readable line goes to standard error unless JSON lines go there already: with
            // a log file, standard error is free for it whatever the format (cron mails it).
            if log_format == LogFormat::Text || cli.log_file.is_some() {
                error_line(&message);
            }
            ExitCode::from(pipewatch::exit_code_for(&error))
        }
    }
}

/// The one error line on standard error; a closed standard error loses it rather than panic.
fn error_line(message: &str) {
    let _ = writeln!(std::io::stderr(), "pipewatch: error: {message}");
}
