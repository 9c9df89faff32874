//! Airflow's stable REST API as a source of DAG runs, for installations whose metadata database
//! is out of reach (MWAA, Cloud Composer, Astronomer, Airflow on MySQL, or a platform team's
//! rule). The design is in docs/api-source.md; in short:
//!
//! - **Which API**: `/api/v2` (Airflow 3; a JWT from `POST /auth/token`, renewed before it
//!   expires and when a request answers 401) or `/api/v1` (Airflow 2; HTTP basic auth), asked of
//!   the server's version endpoint unless `api_version` says which. A `token` is sent as a bearer
//!   token to either.
//! - **Which runs**: a first extract (or `--full`) lists every run. An incremental extract lists
//!   the runs Airflow changed (`updated_at_gte`) since the start of the last loaded extract less
//!   `changed_runs_scan_overlap_minutes` (every new run has a fresh `updated_at`, and so has every
//!   run that changes state or is cleared), then re-reads the runs the warehouse still holds as
//!   unfinished that the list did not return. A window extract (backfill) lists the runs whose
//!   logical date (or, on Airflow 3, `run_after` when there is none) falls in the window.
//! - **Paging**: ordered by Airflow's id, so runs that change while pages are read do not move;
//!   cursor (keyset) paging where the server offers it (Airflow 3.3+), else offset paging, with
//!   each run written once (a run seen on two pages is kept once).
//! - **Rows**: the same CSV columns as the database source. What the API does not expose stays
//!   NULL: `id`, `clear_number` and `source_updated_at` always, `queued_at` on Airflow 2.
//!   `source_read_at` is the server's clock (its `Date` header) when the extract began.
//! - **Task instances**: every try of the runs an extract wrote (`task_instances`).
//! - **Politeness**: at most `max_requests_per_second`; 429 and 5xx answers, timeouts and
//!   refused connections are retried with the `[retry]` backoff, honouring `Retry-After`.
//!
//! The layout: [`client`] is the conversation (HTTP client, generation and version,
//! authentication, pacing, retries, JSON), [`paging`] the cursor and offset paging, [`rows`] the
//! CSV rows; each Airflow resource read is a module of its own that adds its reads to the
//! client's `Session` ([`dag_runs`], [`task_instances`], [`reconcile`]'s per-day lists, and
//! [`catalog`]'s `/dags`, `/importErrors` and health). A new resource is one more such module,
//! declared below.

mod catalog;
mod client;
mod dag_runs;
mod error;
mod paging;
mod reconcile;
mod rows;
mod task_instances;

use chrono::Duration;

pub use self::client::AirflowApi;
use self::client::{Generation, Session};
use self::dag_runs::{RowWriter, RunFilter, window_filters};
pub use self::error::ApiError;
use self::error::stage_failure;
use self::paging::Pager;
use super::{
    ExtractMode, ExtractPlan, ExtractScope, ExtractSinks, SourceError, SourceExtract, TaskCoverage,
};
use crate::config::ApiAuth;
use crate::context::RunContext;

impl AirflowApi<'_> {
    /// See [`super::Source::check`]: the version, whether the credentials work, how many runs
    /// they can see.
    pub async fn check(&self, extract_tasks: bool) -> Result<String, SourceError> {
        let mut session = Session::open(self.settings).await.map_err(self.error())?;
        let page = session
            .run_page(&RunFilter::default(), &mut Pager::one(1))
            .await
            .map_err(self.error())?;
        let tasks = match (extract_tasks, session.task_coverage()) {
            (false, _) => "; task instances are not extracted ([extract] task_instances = false)",
            (true, TaskCoverage::AllTries) => {
                "; task instances: every try (earlier tries through .../tries, Airflow 2.10+)"
            }
            (true, _) => {
                "; task instances: current tries only (Airflow before 2.10 keeps no earlier tries, so retries before the last are not seen)"
            }
        };
        Ok(format!(
            "Airflow {} at {} ({}, {}): credentials accepted, {} DAG runs visible{tasks}",
            session.version,
            self.settings.base_url,
            session.generation.prefix(),
            match (&self.settings.auth, session.generation) {
                (ApiAuth::Token(_), _) => "bearer token",
                (ApiAuth::Password { .. }, Generation::V1) => "basic auth",
                (ApiAuth::Password { .. }, Generation::V2) => "JWT from /auth/token",
            },
            // With cursor paging the count stops at total_entries_limit ("at least").
            match (page.total_entries, page.total_entries_limit) {
                (Some(n), Some(limit)) if n >= limit => format!("at least {n}"),
                (Some(n), _) => n.to_string(),
                (None, _) => "some".to_string(),
            },
        ))
    }

    /// See [`super::Source::read_catalog`]: `/dags`, `/importErrors` and the health endpoint,
    /// the server's clock checked first.
    pub async fn read_catalog(
        &self,
        max_clock_skew_seconds: u64,
        known: &super::KnownKeys,
    ) -> Result<super::CatalogSnapshot, SourceError> {
        let started = std::time::Instant::now();
        let mut session = Session::open(self.settings).await.map_err(self.error())?;
        crate::source::check_clock(
            self.instance(),
            "the server's clock (its Date header)",
            session.server_now,
            max_clock_skew_seconds,
        )?;
        let snapshot = session.read_catalog(known).await.map_err(self.error())?;
        tracing::info!(
            instance = self.instance(),
            requests = session.requests,
            seconds = started.elapsed().as_secs_f64(),
            api = session.generation.prefix(),
            "Read the DAG catalogue through the REST API."
        );
        Ok(snapshot)
    }

    /// See [`super::Source::check_catalog`]: one page of `/dags` and of `/importErrors`, and
    /// the health endpoint.
    pub async fn check_catalog(&self) -> Result<String, SourceError> {
        let mut session = Session::open(self.settings).await.map_err(self.error())?;
        session.check_catalog().await.map_err(self.error())
    }

    /// See [`super::Source::extract`].
    pub async fn extract(
        &self,
        plan: &ExtractPlan<'_>,
        sinks: &mut ExtractSinks<'_>,
        _ctx: &RunContext,
    ) -> Result<SourceExtract, SourceError> {
        let error = self.error();
        let mut session = Session::open(self.settings).await.map_err(&error)?;
        let source_now = session.server_now;
        crate::source::check_clock(
            self.instance(),
            "the server's clock (its Date header)",
            source_now,
            plan.settings.max_clock_skew_seconds,
        )?;
        let mode = match plan.scope {
            ExtractScope::Window { .. } => ExtractMode::Window,
            ExtractScope::Incremental { full: true } => ExtractMode::Full,
            ExtractScope::Incremental { full: false } if plan.changed_runs_scanned_at.is_none() => {
                ExtractMode::Full
            }
            ExtractScope::Incremental { full: false } => ExtractMode::Incremental,
        };
        let stage_error = stage_failure(&self.settings.instance);
        let sink = &mut sinks.dag_runs;
        sink.open(source_now).await.map_err(stage_error)?;
        let tasks = match sinks.task_instances {
            None => TaskCoverage::NotRead,
            Some(_) => session.task_coverage(),
        };
        let mut rows = RowWriter::new(self.instance(), session.generation, source_now);
        if tasks != TaskCoverage::NotRead {
            rows.runs = Some(Vec::new());
        }
        rows.header();
        let mut changed_runs_since = None;
        match mode {
            ExtractMode::Full => {
                let filter = RunFilter::default();
                session
                    .copy_runs(&filter, &mut rows, sink, |_| true)
                    .await?;
            }
            ExtractMode::Window => {
                let (start, end) = plan.window.expect("a window extract has its bounds in UTC");
                for filter in window_filters(session.generation, start, end, None) {
                    session
                        .copy_runs(&filter, &mut rows, sink, |run| {
                            run.day_instant().is_some_and(|t| t >= start && t < end)
                        })
                        .await?;
                }
            }
            ExtractMode::Incremental => {
                let scanned = plan
                    .changed_runs_scanned_at
                    .expect("an incremental API extract follows a scan");
                let overlap =
                    Duration::minutes(plan.settings.changed_runs_scan_overlap_minutes as i64);
                let since = scanned - overlap;
                let filter = RunFilter {
                    updated_at_gte: Some(since),
                    ..RunFilter::default()
                };
                session
                    .copy_runs(&filter, &mut rows, sink, |_| true)
                    .await?;
                changed_runs_since = Some(since);
                let leftovers: Vec<&(String, String)> = plan
                    .unfinished_runs
                    .iter()
                    .filter(|(dag, run)| !rows.seen(dag, run))
                    .collect();
                session
                    .reread_unfinished(&leftovers, &mut rows, sink)
                    .await?;
            }
        }
        rows.flush(sink).await.map_err(stage_error)?;
        let mut task_rows = 0;
        if let (Some(task_sink), Some(runs)) = (sinks.task_instances.as_mut(), rows.runs.take()) {
            task_sink.open(source_now).await.map_err(stage_error)?;
            task_rows = session
                .copy_task_instances(&runs, tasks, source_now, task_sink)
                .await?;
        }
        tracing::info!(
            instance = self.instance(),
            requests = session.requests,
            runs = rows.written,
            task_tries = task_rows,
            api = session.generation.prefix(),
            "Read DAG runs through the REST API."
        );
        Ok(SourceExtract {
            mode,
            source_now,
            source_max_id: None,
            changed_runs_since,
            recheck: None,
            airflow_major_version: session.generation.major_version(),
            tasks,
        })
    }
}
