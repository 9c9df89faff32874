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
    /// Only the DAGs of an owner, a tag, or both.
    pub filter: report::DagFilter,
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
    let path = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(DEFAULT_OUT));
    check_out(&path)?;
    let warehouse = migrate::connect_reading(&settings.warehouse, ctx).await?;
    let today = super::today_in_reporting_zone(&warehouse, settings).await?;
    let dags = report::dags_of(&warehouse, args.instance.as_deref(), &args.filter).await?;
    let label = match (&args.filter.owner, &args.filter.tag) {
        (Some(o), Some(t)) => Some(format!("owner {o:?} and tag {t:?}")),
        (Some(o), None) => Some(format!("owner {o:?}")),
        (None, Some(t)) => Some(format!("tag {t:?}")),
        (None, None) => None,
    };
    if let (Some(set), Some(label)) = (&dags, &label)
        && set.dag_ids.is_empty()
    {
        return Err(UsageError(format!(
            "no DAG in the DAG catalogue has {label}{}: owners and tags are Airflow's, as the last `pipewatch run` read them (dag_catalog; [extract] catalog = true)",
            args.instance
                .as_ref()
                .map(|i| format!(" on Airflow instance {i:?}"))
                .unwrap_or_default()
        ))
        .into());
    }
    let data = report::gather(
        &warehouse,
        &settings.time_zone,
        today,
        args.days,
        args.instance.as_deref(),
        dags.as_ref(),
        label.map(|l| {
            let n = dags.as_ref().map_or(0, |d| d.dag_ids.len());
            format!(
                "DAGs with {l}: {}",
                crate::format::plural(n as u64, "DAG", "DAGs")
            )
        }),
    )
    .await?;
    let page = report::page::render(&data);
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

/// `--out` may name a new file or a regular file pipewatch may replace; anything else is a
/// usage error (exit 2) found before the warehouse is read: the report never turns a device, a
/// pipe or a socket into a file, never follows a symbolic link to replace what it points at,
/// and never replaces a read-only file (as root, permissions would not stop it).
fn check_out(path: &Path) -> Result<(), UsageError> {
    use std::os::unix::fs::FileTypeExt;
    let shown = path.display();
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => {
            return Err(UsageError(format!(
                "--out {shown}: cannot look at it ({e})"
            )));
        }
    };
    let kind = metadata.file_type();
    let refusal = if kind.is_symlink() {
        let target = std::fs::read_link(path)
            .map(|t| t.display().to_string())
            .unwrap_or_else(|_| "?".into());
        format!(
            "is a symbolic link (to {target}); pipewatch does not follow it: give the path of the file itself"
        )
    } else if kind.is_dir() {
        format!("is a folder: give a file name, such as {shown}/{DEFAULT_OUT}")
    } else if kind.is_char_device() || kind.is_block_device() {
        "is a device: the report is written to a regular file only".to_string()
    } else if kind.is_fifo() || kind.is_socket() {
        "is a pipe or a socket: the report is written to a regular file only".to_string()
    } else if metadata.permissions().readonly() {
        "is read-only: pipewatch does not replace a protected file; remove it or choose another --out".to_string()
    } else {
        return Ok(());
    };
    Err(UsageError(format!("--out {shown} {refusal}")))
}

/// Writes to a new temporary file beside `path`, then renames it over `path`: a reader never
/// sees half a page, and nothing but a regular file is replaced (see [`check_out`]).
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), ReportFileError> {
    use std::io::Write as _;
    let error = |source| ReportFileError::Write {
        path: path.to_path_buf(),
        source,
    };
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| DEFAULT_OUT.to_string());
    let temporary = path.with_file_name(format!(".{name}.{}.partial", std::process::id()));
    // create_new: never through a link or over something already there.
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temporary)
        .map_err(error)?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        let _ = std::fs::remove_file(&temporary);
        return Err(error(e));
    }
    std::fs::rename(&temporary, path).map_err(|e| {
        let _ = std::fs::remove_file(&temporary);
        error(e)
    })
}
