//! The one error of the metrics: reading them, writing the file, pushing.

use std::path::PathBuf;

use crate::db;
use crate::migrate;

/// Why the metrics could not be read or published.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// The warehouse could not be reached, or its schema is missing or behind.
    #[error("metrics: could not read the warehouse")]
    Warehouse(#[from] migrate::MigrateError),
    /// A query failed.
    #[error("metrics: could not {step}")]
    Sql {
        /// What was being read.
        step: &'static str,
        /// The failure.
        #[source]
        source: db::SqlError,
    },
    /// The textfile could not be written.
    #[error(
        "metrics: could not write {path}: {source} (check that textfile_directory in [prometheus] exists and pipewatch may write there)"
    )]
    Textfile {
        /// The file.
        path: PathBuf,
        /// The failure.
        #[source]
        source: std::io::Error,
    },
    /// A push was refused or did not arrive.
    #[error(
        "metrics: could not push to the Pushgateway at {url}: {detail} (check pushgateway_url in [prometheus])"
    )]
    Push {
        /// The URL, credentials redacted.
        url: String,
        /// What happened.
        detail: String,
    },
}

/// Maps a failed query to [`MetricsError::Sql`] naming `step`.
pub(super) fn sql_error(step: &'static str) -> impl FnOnce(tokio_postgres::Error) -> MetricsError {
    move |e| MetricsError::Sql {
        step,
        source: e.into(),
    }
}
