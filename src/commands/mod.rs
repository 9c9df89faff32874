//! The subcommands, one module each. Every module has the same shape: `Args` (what the command
//! line gave, as library types), a report that prints itself (`Display`) and says how the
//! command ended ([`Report::outcome`]), and `run(settings, ctx, args)`. Each `run` checks its
//! arguments against the configuration first, so that a usage error ([`UsageError`], exit 2)
//! is reported before anything connects.
//!
//! What several commands share lives here: choosing Airflow instances, opening the warehouse
//! under the run lock, and failing at the end of a command that processed several instances or
//! objects when some of them failed.

pub mod alerts;
pub mod backfill;
pub mod check_config;
pub mod extract;
pub mod load;
pub mod metrics;
pub mod migrate;
pub mod reconcile;
pub mod report;
pub mod retention;
pub mod run;
pub mod status;
pub mod transform;
pub mod validate;

use std::fmt::Display;
use std::time::Duration;

use tokio_postgres::Client;

use crate::config::{Settings, SourceSettings};
use crate::context::RunContext;
use crate::migrate as schema;
use crate::reporting;
use crate::run_lock;
use crate::stage::ObjectStore;
use crate::{Outcome, UsageError};

/// What a command prints on standard output, and how it ended.
pub trait Report: Display {
    /// How the command ended (default: success).
    fn outcome(&self) -> Outcome {
        Outcome::Success
    }
}

/// Some instances or objects failed; the others were processed.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} {what} failed: {messages}")]
pub struct PartialFailure {
    what: &'static str,
    failed: usize,
    total: usize,
    messages: String,
}

/// Collects the failures of a command that works through several units (Airflow instances,
/// staged objects): each is logged, and the command fails at the end naming them all.
#[derive(Debug, Default)]
pub(crate) struct Failures(Vec<(String, String)>);

impl Failures {
    /// Logs and keeps one failure of `unit` (an instance name or object key) while doing `what`.
    pub(crate) fn push(
        &mut self,
        unit: &str,
        what: &'static str,
        error: &(dyn std::error::Error + 'static),
    ) {
        self.push_message(unit, what, crate::db::error_chain(error));
    }

    /// Keeps one failure of `unit` described by `message` (logged at error level).
    pub(crate) fn push_message(&mut self, unit: &str, what: &'static str, message: String) {
        tracing::error!(unit, error = %message, "{what} failed.");
        self.0.push((unit.to_string(), message));
    }

    /// How many failures were kept.
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }

    /// `error` (which stopped the command), preceded by the failures kept before it, so that a
    /// later step's failure (often the same cause: the warehouse went away) never hides them.
    pub(crate) fn before(self, error: anyhow::Error) -> anyhow::Error {
        if self.0.is_empty() {
            return error;
        }
        let earlier = self
            .0
            .iter()
            .map(|(unit, message)| format!("{unit}: {message}"))
            .collect::<Vec<_>>()
            .join("; ");
        error.context(format!(
            "after earlier failures ({earlier}), the command stopped"
        ))
    }

    /// `value` when nothing failed, else a [`PartialFailure`]: how many of the `total` units
    /// (`what`) failed, and every message.
    pub(crate) fn finish<T>(self, what: &'static str, total: usize, value: T) -> anyhow::Result<T> {
        if self.0.is_empty() {
            return Ok(value);
        }
        let mut units: Vec<&str> = self.0.iter().map(|(unit, _)| unit.as_str()).collect();
        units.sort_unstable();
        units.dedup();
        Err(PartialFailure {
            what,
            failed: units.len(),
            total,
            messages: self
                .0
                .iter()
                .map(|(_, m)| m.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        }
        .into())
    }
}

/// The one rule for a day given on the command line (`--from`, `--to` of `backfill` and
/// `reconcile`): 0001-01-01 to 9999-12-31, the days PostgreSQL and the models can hold.
pub(crate) fn check_day(flag: &str, day: chrono::NaiveDate) -> Result<(), crate::UsageError> {
    use chrono::Datelike;
    if (1..=9999).contains(&day.year()) {
        Ok(())
    } else {
        Err(crate::UsageError(format!(
            "{flag} {day} is out of range: days from 0001-01-01 to 9999-12-31"
        )))
    }
}

/// The Airflow instances to work on: the one named (it must be configured), or all.
pub(crate) fn select_instances<'a>(
    settings: &'a Settings,
    instance: Option<&str>,
) -> Result<Vec<SourceSettings<'a>>, UsageError> {
    let sources = settings.sources();
    if sources.is_empty() {
        return Err(UsageError(format!(
            "{}: no Airflow instance configured: add an [airflowdb_config] section (the metadata database) or an [airflow_api] section (the REST API); see pipeline.conf.example",
            settings.path.display()
        )));
    }
    match instance {
        None => Ok(sources),
        Some(name) => {
            let configured = sources
                .iter()
                .map(|a| a.instance().to_string())
                .collect::<Vec<_>>()
                .join(", ");
            sources
                .into_iter()
                .find(|a| a.instance() == name)
                .map(|a| vec![a])
                .ok_or_else(|| {
                    UsageError(format!(
                        "no Airflow instance named {name:?} in the configuration (configured: {configured})"
                    ))
                })
        }
    }
}

/// Today's date in the reporting time zone; a zone the warehouse does not know is a usage error
/// (exit 2), found before anything is extracted or written.
pub(crate) async fn today_in_reporting_zone(
    warehouse: &Client,
    settings: &Settings,
) -> anyhow::Result<chrono::NaiveDate> {
    match reporting::today_in_zone(warehouse, &settings.time_zone).await {
        Ok(today) => Ok(today),
        Err(e @ reporting::TimeZoneError::Unknown { .. }) => {
            Err(UsageError(format!("{}: {e}", settings.path.display())).into())
        }
        Err(e) => Err(e.into()),
    }
}

/// Connects to the warehouse (migrating it), checks the reporting time zone and takes the run
/// lock (see `run_lock`).
pub(crate) async fn open_locked(settings: &Settings, ctx: &RunContext) -> anyhow::Result<Client> {
    let warehouse = schema::connect_and_apply(&settings.warehouse, ctx).await?;
    today_in_reporting_zone(&warehouse, settings).await?;
    run_lock::acquire(
        &warehouse,
        &settings.warehouse.schema,
        Duration::from_secs(settings.lock_wait_seconds),
    )
    .await?;
    Ok(warehouse)
}

/// [`open_locked`], and the stage, checked to be writable before any source is read (some
/// S3-compatible servers would accept objects into a bucket that does not exist).
pub(crate) async fn open_with_stage(
    settings: &Settings,
    ctx: &RunContext,
) -> anyhow::Result<(Client, ObjectStore)> {
    let warehouse = open_locked(settings, ctx).await?;
    let store = ObjectStore::from_settings(&settings.staging).await?;
    store.check().await?;
    // Under the lock nobody else writes: what an earlier, killed invocation left is garbage.
    let removed = store.remove_unfinished().await?;
    if removed > 0 {
        tracing::warn!(
            files = removed,
            stage = %store.describe(),
            "Removed unfinished files that a killed extract left in the stage."
        );
    }
    Ok((warehouse, store))
}
