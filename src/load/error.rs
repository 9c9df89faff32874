//! Why a load failed, and which failures are in the object itself (the load sets the extract
//! aside) rather than of the moment (the next run loads it).

use crate::db::SqlError;
use crate::retry::Transient;
use crate::run_log::RunLogError;
use crate::stage::StageError;

/// Why a load failed. Nothing of a failed load is committed.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// A warehouse statement failed.
    #[error("load of {object}: could not {step}")]
    Sql {
        /// The object key.
        object: String,
        /// What was being done.
        step: &'static str,
        /// The failure; a serialization failure or deadlock makes the load worth running again.
        #[source]
        source: SqlError,
    },
    /// Reading the object failed.
    #[error("load of {object}")]
    Stage {
        /// The object key.
        object: String,
        /// The stage error (boxed: it is large and rare).
        #[source]
        source: Box<StageError>,
    },
    /// The object is not a pipewatch extract of the kind its key names.
    #[error(
        "load of {object}: not a pipewatch {kind} extract: its header is {found:?}, expected {expected:?}"
    )]
    Header {
        /// The object key.
        object: String,
        /// What the object should hold (`dag_run`, `task_instance`).
        kind: &'static str,
        /// The header found (first 300 bytes).
        found: String,
        /// The header expected.
        expected: String,
    },
    /// The object holds a different number of rows than its extract wrote.
    #[error(
        "load of {object}: the object holds {found} rows but its extract staged {expected}: the object was changed or truncated; re-extract (pipewatch extract) instead of loading it"
    )]
    RowCount {
        /// The object key.
        object: String,
        /// Rows copied.
        found: u64,
        /// Rows the extract recorded.
        expected: i64,
    },
    /// A value in the object that the warehouse cannot take.
    #[error(
        "load of {object}: line {line} ({row}): the warehouse cannot take its {column}: {detail}"
    )]
    Value {
        /// The object key.
        object: String,
        /// The line of the object (1 is the header).
        line: u64,
        /// The row, named by its key columns (`dag_id=..., run_id=...`).
        row: String,
        /// The column.
        column: String,
        /// PostgreSQL's message.
        detail: String,
    },
    /// Loading an extract while it was written did not work out; it is loaded from the stage.
    #[error("load of {object} while it was extracted: {reason}")]
    NotFed {
        /// The object (or the instance's extract, before its key is known).
        object: String,
        /// Why.
        reason: String,
    },
    /// Recording the stage failed.
    #[error(transparent)]
    RunLog(#[from] RunLogError),
}

impl LoadError {
    /// Whether the failure comes from what the object holds (missing, truncated or changed
    /// object, a value the warehouse refuses), so loading it again cannot succeed: such an
    /// extract is set aside instead of blocking the ones after it. Connection, lock, disk and
    /// other failures of the moment are not.
    pub fn is_in_the_object(&self) -> bool {
        match self {
            LoadError::Header { .. } | LoadError::RowCount { .. } | LoadError::Value { .. } => true,
            LoadError::Stage { source, .. } => {
                matches!(
                    **source,
                    StageError::NotFound { .. } | StageError::InvalidKey { .. }
                )
            }
            LoadError::Sql { source, .. } => is_data_error(&source.0),
            LoadError::RunLog(_) | LoadError::NotFed { .. } => false,
        }
    }
}

/// Whether the warehouse refused what it was given: class 22 (data exception) or 23
/// (integrity constraint violation).
pub(super) fn is_data_error(error: &tokio_postgres::Error) -> bool {
    error
        .code()
        .is_some_and(|code| code.code().starts_with("22") || code.code().starts_with("23"))
}

impl Transient for LoadError {
    /// Whether running the whole load again may succeed.
    fn is_transient(&self) -> bool {
        matches!(self, LoadError::Sql { source, .. } if source.is_transient())
    }
}

pub(super) fn sql_error(
    key: &str,
    step: &'static str,
) -> impl FnOnce(tokio_postgres::Error) -> LoadError {
    let object = key.to_string();
    move |e| LoadError::Sql {
        object,
        step,
        source: e.into(),
    }
}
