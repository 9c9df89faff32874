//! The one error of the alerts: a warehouse statement that failed, naming what was being done.

use crate::db::SqlError;

/// The alerts could not be evaluated or listed.
#[derive(Debug, thiserror::Error)]
#[error(
    "alerts: could not {step} in the warehouse (safe to repeat: once the warehouse answers, run the command again; an alert is opened once and a notice not marked as posted is posted then)"
)]
pub struct AlertError {
    step: &'static str,
    #[source]
    source: SqlError,
}

pub(super) fn sql_error(step: &'static str) -> impl FnOnce(tokio_postgres::Error) -> AlertError {
    move |e| AlertError {
        step,
        source: e.into(),
    }
}
