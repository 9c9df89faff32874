//! `pipewatch report`: writes the period's figures as one self-contained HTML page
//! (`crate::report` gathers and renders them).

use std::fmt;
use std::path::{Path, PathBuf};

use super::Report;
use crate::UsageError;
use crate::config::Settings;
use crate::context::RunContext;
use crate::migrate;
use crate::report::sections::dags::Dags;
use crate::report::sections::headline::Headline;
use crate::report::{self, ReportData};

/// The file written when `--out` is not given (in the working directory).
pub const DEFAULT_OUT: &str = "pipewatch-report.html";
/// The longest period a report covers.
pub const MAX_DAYS: u32 = 366;

/// Arguments of `report`.
#[derive(Debug, Clone)]
pub struct Args {
    /// Days in the period, ending today in the reporting time zone.
    pub days: u32,
    /// Only this Airflow instance.
    pub instance: Option<String>,
    /// Where to write the page.
    pub out: Option<PathBuf>,
    /// Also post the headline figures as a short text to the webhook (a weekly digest).
    pub post: bool,
}

/// Why the report could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ReportFileError {
    /// The file could not be written.
    #[error("could not write the report to {path}: {source} (choose another --out)")]
    Write {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
}

/// What was written.
#[derive(Debug)]
pub struct ReportWritten {
    /// The file.
    pub path: PathBuf,
    /// Its size.
    pub bytes: usize,
    /// The figures it shows.
    pub data: ReportData,
}

impl fmt::Display for ReportWritten {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (from, to) = (self.data.days.first(), self.data.days.last());
        write!(
            f,
            "Wrote the report for {} to {} ({}; ",
            from.map(|d| d.to_string()).unwrap_or_default(),
            to.map(|d| d.to_string()).unwrap_or_default(),
            self.data.time_zone
        )?;
        if self.data.is_empty() {
            write!(f, "no data in the period yet")?;
        } else {
            write!(
                f,
                "{} DAGs, {} finished runs",
                self.data.section::<Dags>().map_or(0, |d| d.dags.len()),
                self.data
                    .section::<Headline>()
                    .map_or(0, |h| h.current.finished_runs)
            )?;
        }
        writeln!(
            f,
            ") to {} ({:.0} KiB).",
            self.path.display(),
            self.bytes as f64 / 1024.0
        )
    }
}

impl Report for ReportWritten {}

/// Reads the figures and writes the page.
pub async fn run(
    settings: &Settings,
    ctx: &RunContext,
    args: &Args,
) -> anyhow::Result<ReportWritten> {
    let webhook = match (args.post, settings.alert_webhook()) {
        (false, _) => None,
        (true, Some(url)) => Some(url),
        (true, None) => {
            return Err(UsageError(
                "--post needs a webhook: set [alerts] webhook_url or [validate] webhook_url".into(),
            )
            .into());
        }
    };
    if args.days == 0 || args.days > MAX_DAYS {
        return Err(UsageError(format!(
            "--days {} is out of range: give 1 to {MAX_DAYS} days",
            args.days
        ))
        .into());
    }
    if let Some(name) = &args.instance {
        let sources = settings.sources();
        if !sources.is_empty() && !sources.iter().any(|s| s.instance() == name) {
            return Err(UsageError(format!(
                "no Airflow instance named {name:?} in the configuration (configured: {})",
                sources
                    .iter()
                    .map(|s| s.instance().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
            .into());
        }
    }
    let warehouse = migrate::connect_reading(&settings.warehouse, ctx).await?;
    let today = super::today_in_reporting_zone(&warehouse, settings).await?;
    let data = report::gather(
        &warehouse,
        &settings.time_zone,
        today,
        args.days,
        args.instance.as_deref(),
    )
    .await?;
    let page = report::page::render(&data);
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
    write_atomically(&path, page.as_bytes())?;
    if let Some(url) = webhook {
        crate::notify::post_text(&settings.validate, url, &report::page::digest(&data)).await?;
    }
    Ok(ReportWritten {
        path,
        bytes: page.len(),
        data,
    })
}

/// Writes to a temporary file beside `path`, then renames it: a reader never sees half a page.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportFileError> {
    let error = |source| ReportFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| DEFAULT_OUT.to_string());
    let temporary = path.with_file_name(format!(".{name}.partial"));
    std::fs::write(&temporary, bytes).map_err(error)?;
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        error(e)
    })
}
