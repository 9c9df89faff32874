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

/// The log file could not be opened, or is not something pipewatch appends to.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// Opening it failed.
    #[error("cannot open log file {path}: {cause} (check --log-file or PIPEWATCH_LOG_FILE)")]
    Open {
        /// The path.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// It is a folder, a pipe, a socket, a block device or a symbolic link.
    #[error("log file {path} {what} (check --log-file or PIPEWATCH_LOG_FILE)")]
    Refused {
        /// The path.
        path: PathBuf,
        /// What it is and what to give instead.
        what: String,
    },
}

/// The log file is appended to: a regular file (created when missing) or a character device
/// such as `/dev/stderr` or `/dev/null`. A folder, a pipe or socket (a write could block the
/// job forever), a block device, or a symbolic link (pipewatch does not follow it silently) is
/// refused before anything runs.
fn check_log_file(path: &Path) -> Result<(), LoggingError> {
    use std::os::unix::fs::FileTypeExt;
    let kind = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata.file_type(),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(cause) => {
            return Err(LoggingError::Open {
                path: path.to_path_buf(),
                cause,
            });
        }
    };
    let what = if kind.is_symlink() {
        let target = std::fs::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        format!(
            "is a symbolic link (to {target}); pipewatch does not follow it: give the path of the file itself"
        )
    } else if kind.is_dir() {
        "is a folder: give a file name in it".to_string()
    } else if kind.is_fifo() || kind.is_socket() {
        "is a pipe or a socket, which could block the job: give a regular file".to_string()
    } else if kind.is_block_device() {
        "is a block device: give a regular file".to_string()
    } else {
        return Ok(());
    };
    Err(LoggingError::Refused {
        path: path.to_path_buf(),
        what,
    })
}

/// The fields of a text log line, each with its control characters escaped (`\n`, `\r`,
/// `\u{1b}`, ...): a value from Airflow (a DAG id with a newline in it) can never start a line
/// of its own and forge a log line. JSON lines escape them already.
fn text_fields() -> impl for<'w> tracing_subscriber::fmt::FormatFields<'w> + 'static {
    use tracing_subscriber::field::MakeExt;
    tracing_subscriber::fmt::format::debug_fn(|writer, field, value| {
        let shown = format!("{value:?}");
        let clean = escape_controls(&shown);
        if field.name() == "message" {
            write!(writer, "{clean}")
        } else {
            write!(writer, "{field}={clean}")
        }
    })
    .delimited(" ")
}

/// `text` with every control character written as its escape.
pub fn escape_controls(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// Installs the global subscriber. Call once, before anything logs.
pub fn init(
    format: LogFormat,
    level: LevelFilter,
    file: Option<&Path>,
) -> Result<(), LoggingError> {
    let (writer, ansi) = match file {
        Some(path) => {
            check_log_file(path)?;
            let f = OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .map_err(|cause| LoggingError::Open {
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
                    .with_target(false)
                    .fmt_fields(text_fields()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_escaped() {
        assert_eq!(escape_controls("a\nERROR forged"), "a\\nERROR forged");
        assert_eq!(
            escape_controls("tab\there\u{1b}[31m"),
            "tab\\there\\u{1b}[31m"
        );
        assert_eq!(escape_controls("plain"), "plain");
    }
}
