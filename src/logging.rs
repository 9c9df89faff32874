//! pipewatch's own logs: `tracing`, plain text for people or JSON lines for machines.
//!
//! Logs go to standard error by default (standard output is kept for command output such as the
//! check-config report), or to a file with `--log-file`. Every line is emitted inside the root
//! span, which carries the invocation's run id, so each line can be traced to its run. Other
//! crates' logs are shown from `warn` up (from `debug` with `--log-level trace`).
//! Secrets never reach a log line: they are [`crate::config::Secret`]s, which print `***`.

use std::fs::OpenOptions;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Readable text, one line per event.
    Text,
    /// One JSON object per line.
    Json,
}

/// The log file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("cannot open log file {path}: {cause} (check --log-file or PIPEWATCH_LOG_FILE)")]
pub struct LoggingError {
    path: PathBuf,
    cause: std::io::Error,
}

/// Installs the global subscriber. Call once, before anything logs.
pub fn init(
    format: LogFormat,
    level: LevelFilter,
    file: Option<&Path>,
) -> Result<(), LoggingError> {
    let (writer, ansi) = match file {
        Some(path) => {
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|cause| LoggingError {
                    path: path.to_path_buf(),
                    cause,
                })?;
            (BoxMakeWriter::new(Mutex::new(f)), false)
        }
        None => (
            BoxMakeWriter::new(std::io::stderr),
            std::io::stderr().is_terminal(),
        ),
    };
    let dependencies = if level == LevelFilter::TRACE {
        LevelFilter::DEBUG
    } else {
        LevelFilter::WARN.min(level)
    };
    let filter = Targets::new()
        .with_target("pipewatch", level)
        .with_default(dependencies);
    let registry = tracing_subscriber::registry().with(filter);
    match format {
        LogFormat::Text => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .with_writer(writer)
                    .with_ansi(ansi)
                    .with_target(false),
            )
            .init(),
        LogFormat::Json => registry
            .with(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(writer)
                    .with_current_span(false)
                    .with_span_list(true)
                    .flatten_event(true),
            )
            .init(),
    }
    Ok(())
}
