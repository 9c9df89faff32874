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
//! - **Politeness**: at most `max_requests_per_second`; 429 and 5xx answers, timeouts and
//!   refused connections are retried with the `[retry]` backoff, honouring `Retry-After`.
//!
//! Task instances are not read through the API yet: an API source stages DAG runs only.

use std::collections::{BTreeMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration as StdDuration, Instant};

use base64::Engine;
use chrono::{DateTime, Duration, NaiveDate, SecondsFormat, Utc};
use md5::{Digest, Md5};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::{
    DayBounds, DayDigest, ExtractMode, ExtractPlan, ExtractScope, ExtractSink, ExtractSinks,
    RunFacts, SourceError, SourceExtract, TaskCoverage,
};
use crate::config::{AirflowApiSettings, ApiAuth, ApiVersionSetting, Secret};
use crate::context::RunContext;
use crate::http::{ClientOptions, HttpSetupError, causes};

/// The REST API generation a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// Airflow 2: `/api/v1`.
    V1,
    /// Airflow 3: `/api/v2`.
    V2,
}

impl Generation {
    fn prefix(self) -> &'static str {
        match self {
            Generation::V1 => "api/v1",
            Generation::V2 => "api/v2",
        }
    }

    fn major_version(self) -> i16 {
        match self {
            Generation::V1 => 2,
            Generation::V2 => 3,
        }
    }
}

/// Why the REST API could not be read. Each names the URL and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The HTTP client could not be built.
    #[error(transparent)]
    Setup(#[from] HttpSetupError),
    /// 401.
    #[error("{url} refused the credentials (HTTP 401): {fix}")]
    Unauthorized {
        /// The URL.
        url: String,
        /// What to check.
        fix: String,
    },
    /// 403.
    #[error(
        "{url} answered HTTP 403 Forbidden: the user may not read DAG runs; give it Airflow's Viewer role (or a role that can read DAGs and DAG runs)"
    )]
    Forbidden {
        /// The URL.
        url: String,
    },
    /// 404 where the API should be.
    #[error("{url} answered HTTP 404: {fix}")]
    NotFound {
        /// The URL.
        url: String,
        /// What it means and what to do.
        fix: String,
    },
    /// A TLS failure.
    #[error(
        "{url}: TLS failure ({detail}): set ca_file to the certificate authority that signed the server's certificate (verify_tls = false only for a test server)"
    )]
    Tls {
        /// The URL.
        url: String,
        /// The cause.
        detail: String,
    },
    /// No answer in time.
    #[error(
        "{url}: no answer within {seconds} s ({attempts} attempts): check that Airflow is up, or raise request_timeout_seconds"
    )]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout.
        seconds: u64,
        /// Attempts made.
        attempts: u64,
    },
    /// No connection.
    #[error(
        "{url}: could not connect ({detail}; {attempts} attempts): check base_url and that Airflow is up"
    )]
    Connect {
        /// The URL.
        url: String,
        /// The cause.
        detail: String,
        /// Attempts made.
        attempts: u64,
    },
    /// A page that is not JSON (a login page, a proxy, a load balancer's error page).
    #[error(
        "{url} answered {content_type} instead of JSON{title}: base_url must be the Airflow webserver (Airflow 2) or api-server (Airflow 3) itself; a login page or a proxy answered"
    )]
    NotJson {
        /// The URL.
        url: String,
        /// The answer's content type.
        content_type: String,
        /// ` (page title "...")` when the page has one.
        title: String,
    },
    /// 429 or 5xx, still after every retry.
    #[error("{url} answered HTTP {status} after {attempts} attempts: {body}")]
    Unavailable {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// Attempts made.
        attempts: u64,
        /// The start of the answer.
        body: String,
    },
    /// Another 4xx.
    #[error("{url} answered HTTP {status}: {body}")]
    Refused {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The start of the answer.
        body: String,
    },
    /// JSON of an unexpected shape.
    #[error(
        "{url} answered JSON pipewatch cannot read ({detail}): is this the REST API of Airflow 2.x or 3.x?"
    )]
    BadJson {
        /// The URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
}

/// One Airflow installation's REST API.
#[derive(Debug, Clone)]
pub struct AirflowApi<'a> {
    settings: &'a AirflowApiSettings,
}

impl<'a> AirflowApi<'a> {
    /// The API of `settings`; sends nothing yet.
    pub fn new(settings: &'a AirflowApiSettings) -> Self {
        AirflowApi { settings }
    }

    /// The instance name.
    pub fn instance(&self) -> &str {
        &self.settings.instance
    }

    fn error(&self) -> impl Fn(ApiError) -> SourceError + '_ {
        api_failure(self.settings)
    }

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
            airflow_major_version: session.generation.major_version(),
            tasks,
        })
    }

    /// See [`super::Source::finished_runs_per_day`]: lists the window's finished runs changed at
    /// or before `changed_until` and digests them as the SQL of the database source does.
    pub async fn finished_runs_per_day(
        &self,
        days: &DayBounds,
        changed_until: DateTime<Utc>,
    ) -> Result<BTreeMap<NaiveDate, DayDigest>, SourceError> {
        let mut session = Session::open(self.settings).await.map_err(self.error())?;
        let runs = session
            .runs_of_days(days, Some(changed_until), &["success", "failed"])
            .await
            .map_err(self.error())?;
        let mut lines: BTreeMap<NaiveDate, Vec<(String, String, String)>> = BTreeMap::new();
        for (day, run) in runs {
            let end = match run.end_date.as_deref().map(parse_instant) {
                Some(Ok(end)) => end.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                _ => "-".to_string(),
            };
            let state = run.state.clone().unwrap_or_default();
            lines.entry(day).or_default().push((
                run.dag_id.clone(),
                run.dag_run_id.clone(),
                format!("{} {} {state} {end}", run.dag_id, run.dag_run_id),
            ));
        }
        Ok(lines
            .into_iter()
            .map(|(day, mut runs)| {
                // The SQL orders by dag_id, run_id in the "C" collation: bytewise, as Rust does.
                runs.sort();
                let text = runs
                    .iter()
                    .map(|(_, _, line)| line.as_str())
                    .collect::<Vec<_>>()
                    .join("\n");
                let digest = Md5::digest(text.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let finished = runs.len() as i64;
                (day, DayDigest { finished, digest })
            })
            .collect())
    }

    /// See [`super::Source::runs_on_days`]. The API does not say when a run last changed: a run
    /// changed after `changed_until` gets an `updated_at` just after it, the rest none.
    pub async fn runs_on_days(
        &self,
        days: &DayBounds,
        wanted: &[NaiveDate],
        changed_until: DateTime<Utc>,
    ) -> Result<Vec<RunFacts>, SourceError> {
        let mut session = Session::open(self.settings).await.map_err(self.error())?;
        let runs = session
            .runs_of_days(days, None, &[])
            .await
            .map_err(self.error())?;
        let after = changed_until + Duration::microseconds(1);
        let mut changed_since: HashSet<(String, String)> = HashSet::new();
        let (start, end) = days.range();
        for filter in window_filters(session.generation, start, end, Some(after)) {
            let mut pager = Pager::new();
            while let Some(page) = session
                .next_runs(&filter, &mut pager)
                .await
                .map_err(self.error())?
            {
                changed_since.extend(page.into_iter().map(|r| (r.dag_id, r.dag_run_id)));
            }
        }
        Ok(runs
            .into_iter()
            .filter(|(day, _)| wanted.contains(day))
            .map(|(day, run)| {
                let changed = changed_since.contains(&(run.dag_id.clone(), run.dag_run_id.clone()));
                RunFacts {
                    day,
                    end_date: run.end_date.as_deref().and_then(|t| parse_instant(t).ok()),
                    state: run.state,
                    dag_id: run.dag_id,
                    run_id: run.dag_run_id,
                    updated_at: changed.then_some(after),
                }
            })
            .collect())
    }
}

/// The source error of an API failure of `settings`' instance.
fn api_failure(settings: &AirflowApiSettings) -> impl Fn(ApiError) -> SourceError + Copy + '_ {
    move |source| SourceError::Api {
        instance: settings.instance.clone(),
        source: Box::new(source),
    }
}

/// The source error of an answer whose values cannot be written as a row (`detail` names it).
fn unreadable(settings: &AirflowApiSettings) -> impl Fn(String) -> SourceError + Copy + '_ {
    move |detail| {
        api_failure(settings)(ApiError::BadJson {
            url: settings.base_url.clone(),
            detail,
        })
    }
}

/// The source error of a stage failure of `instance`.
fn stage_failure(instance: &str) -> impl Fn(crate::stage::StageError) -> SourceError + Copy + '_ {
    move |e| SourceError::Stage {
        instance: instance.to_string(),
        source: Box::new(e),
    }
}

/// The filters of one DAG-run list.
#[derive(Debug, Clone, Default)]
struct RunFilter {
    updated_at_gte: Option<DateTime<Utc>>,
    updated_at_lte: Option<DateTime<Utc>>,
    states: Vec<&'static str>,
    /// Logical (execution) date in `[start, end)`.
    logical_date: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// `run_after` in `[start, end)` (Airflow 3).
    run_after: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The lists that together hold every run whose day instant (logical date, else `run_after`)
/// is in `[start, end)`: on Airflow 2 the logical date alone; on Airflow 3 also `run_after`,
/// for runs without a logical date.
fn window_filters(
    generation: Generation,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    updated_at_gte: Option<DateTime<Utc>>,
) -> Vec<RunFilter> {
    let logical = RunFilter {
        updated_at_gte,
        logical_date: Some((start, end)),
        ..RunFilter::default()
    };
    match generation {
        Generation::V1 => vec![logical],
        Generation::V2 => vec![
            logical,
            RunFilter {
                updated_at_gte,
                run_after: Some((start, end)),
                ..RunFilter::default()
            },
        ],
    }
}

fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

/// Where a list is in its pages.
#[derive(Debug)]
struct Pager {
    offset: u64,
    /// None before the first page; then whether the server pages by cursor.
    cursor: Option<Option<String>>,
    done: bool,
    /// Rows per page; None for the configured page size.
    limit: Option<u64>,
}

impl Pager {
    fn new() -> Self {
        Pager {
            offset: 0,
            cursor: None,
            done: false,
            limit: None,
        }
    }

    fn one(limit: u64) -> Self {
        Pager {
            limit: Some(limit),
            ..Pager::new()
        }
    }
}

/// One DAG run as both API generations send it (the fields pipewatch reads).
#[derive(Debug, Clone, Deserialize)]
struct ApiDagRun {
    dag_id: String,
    dag_run_id: String,
    #[serde(default)]
    logical_date: Option<String>,
    /// Airflow 2 sends it beside `logical_date` (the same value).
    #[serde(default)]
    execution_date: Option<String>,
    #[serde(default)]
    run_after: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    run_type: Option<String>,
    #[serde(default)]
    external_trigger: Option<bool>,
    #[serde(default)]
    queued_at: Option<String>,
    #[serde(default)]
    start_date: Option<String>,
    #[serde(default)]
    end_date: Option<String>,
    #[serde(default)]
    data_interval_start: Option<String>,
    #[serde(default)]
    data_interval_end: Option<String>,
}

impl ApiDagRun {
    fn logical(&self) -> Option<&str> {
        self.logical_date
            .as_deref()
            .or(self.execution_date.as_deref())
    }

    /// The instant whose date is the run's day: its logical date, else `run_after`.
    fn day_instant(&self) -> Option<DateTime<Utc>> {
        self.logical()
            .or(self.run_after.as_deref())
            .and_then(|t| parse_instant(t).ok())
    }
}

#[derive(Debug, Deserialize)]
struct RunPage {
    dag_runs: Vec<ApiDagRun>,
    #[serde(default)]
    total_entries: Option<i64>,
    /// Set (not null) only when the server paged by cursor (Airflow 3.3+).
    #[serde(default)]
    total_entries_limit: Option<i64>,
    #[serde(default)]
    next_cursor: Option<String>,
}

#[derive(Debug, Deserialize)]
struct VersionInfo {
    version: String,
}

#[derive(Debug, Deserialize)]
struct TokenAnswer {
    access_token: String,
}

fn parse_instant(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}

/// A JWT's expiry (`exp`), read without checking its signature (the server checks it).
fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

/// Turns API runs into the extract's CSV rows (PostgreSQL's CSV: every value quoted, NULL
/// unquoted and empty), each run once.
struct RowWriter<'a> {
    instance: &'a str,
    generation: Generation,
    read_at: String,
    seen: HashSet<u128>,
    buffer: Vec<u8>,
    written: u64,
    /// `(dag_id, run_id)` of the runs written, when their task instances are to be read.
    runs: Option<Vec<(String, String)>>,
}

impl<'a> RowWriter<'a> {
    fn new(instance: &'a str, generation: Generation, read_at: DateTime<Utc>) -> Self {
        RowWriter {
            instance,
            generation,
            read_at: stamp(read_at),
            seen: HashSet::new(),
            buffer: Vec::with_capacity(64 * 1024),
            written: 0,
            runs: None,
        }
    }

    /// A 128-bit key of a run (two independent 64-bit hashes): a collision among a million
    /// runs has a probability near 10^-27, and costs 16 bytes a run instead of its strings.
    fn key(dag_id: &str, run_id: &str) -> u128 {
        let half = |salt: u8| {
            let mut h = DefaultHasher::new();
            salt.hash(&mut h);
            dag_id.hash(&mut h);
            run_id.hash(&mut h);
            h.finish()
        };
        (u128::from(half(1)) << 64) | u128::from(half(2))
    }

    fn seen(&self, dag_id: &str, run_id: &str) -> bool {
        self.seen.contains(&Self::key(dag_id, run_id))
    }

    fn header(&mut self) {
        self.buffer
            .extend_from_slice(super::DAG_RUN_COLUMNS.join(",").as_bytes());
        self.buffer.push(b'\n');
    }

    /// Appends `run` unless it was written already; a timestamp that is not RFC 3339 is an
    /// error naming it.
    fn push(&mut self, run: &ApiDagRun) -> Result<(), String> {
        if !self.seen.insert(Self::key(&run.dag_id, &run.dag_run_id)) {
            return Ok(());
        }
        if let Some(runs) = self.runs.as_mut() {
            runs.push((run.dag_id.clone(), run.dag_run_id.clone()));
        }
        let time = |name: &str, value: Option<&str>| -> Result<Option<String>, String> {
            value
                .map(|t| {
                    parse_instant(t).map(stamp).map_err(|e| {
                        format!(
                            "{name} {t:?} of run {} {} is not an RFC 3339 time ({e})",
                            run.dag_id, run.dag_run_id
                        )
                    })
                })
                .transpose()
        };
        let (run_after, queued_at, external_trigger) = match self.generation {
            // Airflow 2's API has no run_after and no queued_at.
            Generation::V1 => (
                None,
                None,
                run.external_trigger.map(|t| if t { "t" } else { "f" }),
            ),
            // Airflow 3 dropped external_trigger: a manual run is run_type = 'manual', as the
            // database source reads it.
            Generation::V2 => (
                time("run_after", run.run_after.as_deref())?,
                time("queued_at", run.queued_at.as_deref())?,
                run.run_type
                    .as_deref()
                    .map(|t| if t == "manual" { "t" } else { "f" }),
            ),
        };
        let major = self.generation.major_version().to_string();
        let fields: [Option<String>; 18] = [
            Some(self.instance.to_string()),
            Some(major),
            None, // id: not in the API
            Some(run.dag_id.clone()),
            Some(run.dag_run_id.clone()),
            time("logical_date", run.logical())?,
            run_after,
            run.state.clone(),
            run.run_type.clone(),
            external_trigger.map(str::to_string),
            queued_at,
            time("start_date", run.start_date.as_deref())?,
            time("end_date", run.end_date.as_deref())?,
            time("data_interval_start", run.data_interval_start.as_deref())?,
            time("data_interval_end", run.data_interval_end.as_deref())?,
            None, // clear_number: not in the API
            None, // source_updated_at: not in the API
            Some(self.read_at.clone()),
        ];
        csv_line(&mut self.buffer, &fields);
        self.written += 1;
        Ok(())
    }

    async fn flush(&mut self, sink: &mut ExtractSink<'_>) -> Result<(), crate::stage::StageError> {
        if !self.buffer.is_empty() {
            sink.write(&self.buffer).await?;
            self.buffer.clear();
        }
        Ok(())
    }
}

/// Appends one CSV value: quoted with inner quotes doubled, or nothing for NULL.
fn csv_field(buffer: &mut Vec<u8>, value: Option<&str>) {
    if let Some(v) = value {
        buffer.push(b'"');
        for &b in v.as_bytes() {
            if b == b'"' {
                buffer.push(b'"');
            }
            buffer.push(b);
        }
        buffer.push(b'"');
    }
}

/// Appends one CSV record.
fn csv_line(buffer: &mut Vec<u8>, fields: &[Option<String>]) {
    for (i, value) in fields.iter().enumerate() {
        if i > 0 {
            buffer.push(b',');
        }
        csv_field(buffer, value.as_deref());
    }
    buffer.push(b'\n');
}

/// One task instance (or one try of it) as both API generations send it.
#[derive(Debug, Clone, Deserialize)]
struct ApiTaskInstance {
    task_id: String,
    dag_id: String,
    dag_run_id: String,
    #[serde(default = "no_map_index")]
    map_index: i64,
    #[serde(default)]
    try_number: i64,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    start_date: Option<String>,
    #[serde(default)]
    end_date: Option<String>,
    #[serde(default)]
    queued_when: Option<String>,
    /// Airflow 3 only.
    #[serde(default)]
    scheduled_when: Option<String>,
    #[serde(default)]
    pool: Option<String>,
    #[serde(default)]
    pool_slots: Option<i64>,
    #[serde(default)]
    queue: Option<String>,
    #[serde(default)]
    operator: Option<String>,
    #[serde(default)]
    hostname: Option<String>,
    #[serde(default)]
    max_tries: Option<i64>,
}

fn no_map_index() -> i64 {
    -1
}

impl ApiTaskInstance {
    /// Whether Airflow may keep earlier tries of this instance (or this try itself, for a
    /// cleared or retrying instance) in `task_instance_history`: only then are its tries asked
    /// for, one request each.
    fn may_have_history(&self) -> bool {
        self.try_number > 1
            || (self.try_number >= 1
                && matches!(
                    self.state.as_deref(),
                    None | Some("up_for_retry" | "restarting" | "up_for_reschedule")
                ))
    }
}

#[derive(Debug, Deserialize)]
struct TaskPage {
    task_instances: Vec<ApiTaskInstance>,
    #[serde(default)]
    total_entries: Option<i64>,
}

/// Turns API task instances into the task extract's CSV rows.
struct TaskWriter<'a> {
    instance: &'a str,
    generation: Generation,
    read_at: String,
    buffer: Vec<u8>,
    written: u64,
}

impl TaskWriter<'_> {
    fn header(&mut self) {
        self.buffer
            .extend_from_slice(super::TASK_INSTANCE_COLUMNS.join(",").as_bytes());
        self.buffer.push(b'\n');
    }

    fn push(&mut self, ti: &ApiTaskInstance, from_history: bool) -> Result<(), String> {
        let time = |name: &str, value: Option<&str>| -> Result<Option<String>, String> {
            value
                .map(|t| {
                    parse_instant(t).map(stamp).map_err(|e| {
                        format!(
                            "{name} {t:?} of task {}.{} in run {} is not an RFC 3339 time ({e})",
                            ti.dag_id, ti.task_id, ti.dag_run_id
                        )
                    })
                })
                .transpose()
        };
        let scheduled = match self.generation {
            Generation::V1 => None,
            Generation::V2 => time("scheduled_when", ti.scheduled_when.as_deref())?,
        };
        let fields: [Option<String>; 21] = [
            Some(self.instance.to_string()),
            Some(self.generation.major_version().to_string()),
            Some(ti.dag_id.clone()),
            Some(ti.dag_run_id.clone()),
            Some(ti.task_id.clone()),
            Some(ti.map_index.to_string()),
            Some(ti.try_number.to_string()),
            ti.state.clone(),
            time("start_date", ti.start_date.as_deref())?,
            time("end_date", ti.end_date.as_deref())?,
            time("queued_when", ti.queued_when.as_deref())?,
            scheduled,
            ti.pool.clone(),
            ti.pool_slots.map(|n| n.to_string()),
            ti.queue.clone(),
            ti.operator.clone(),
            ti.hostname.clone(),
            ti.max_tries.map(|n| n.to_string()),
            Some(if from_history { "t" } else { "f" }.to_string()),
            None, // source_updated_at: not in the API
            Some(self.read_at.clone()),
        ];
        csv_line(&mut self.buffer, &fields);
        self.written += 1;
        Ok(())
    }
}

/// Runs per task-instance list request (their dag_ids and run_ids go in the request body).
const RUNS_PER_TASK_REQUEST: usize = 100;
/// Task instances asked for per page of the batch list (which Airflow does not cap at its
/// `maximum_page_limit`).
const TASKS_PER_PAGE: u64 = 10_000;

/// One conversation with the API: the client, the generation, the token, the pace.
struct Session<'a> {
    settings: &'a AirflowApiSettings,
    http: reqwest::Client,
    base: Url,
    generation: Generation,
    version: String,
    /// The bearer token in use.
    token: Option<Token>,
    next_slot: Option<Instant>,
    requests: u64,
    /// The server's clock at the first answer (its `Date` header), else this machine's.
    server_now: DateTime<Utc>,
    /// Whether an answer came yet (only the first one's clock is kept).
    answered: bool,
}

/// A bearer token: the configured one, or a JWT from /auth/token.
struct Token {
    value: Secret,
    /// For a JWT: when it expires, and how long it was valid when issued.
    expiry: Option<(DateTime<Utc>, Duration)>,
}

/// What one request brought back.
struct Answer {
    url: String,
    status: StatusCode,
    content_type: String,
    body: bytes::Bytes,
}

impl<'a> Session<'a> {
    /// Builds the client, finds the API generation and version, and logs in.
    async fn open(settings: &'a AirflowApiSettings) -> Result<Self, ApiError> {
        let http = crate::http::client(ClientOptions {
            timeout_seconds: settings.request_timeout_seconds,
            ca_file: settings.ca_file.as_deref(),
            verify_tls: settings.verify_tls,
        })?;
        let base =
            Url::parse(&format!("{}/", settings.base_url)).map_err(|e| ApiError::Refused {
                url: settings.base_url.clone(),
                status: 0,
                body: format!("not a URL ({e})"),
            })?;
        let token = match &settings.auth {
            ApiAuth::Token(token) => Some(Token {
                value: token.clone(),
                expiry: None,
            }),
            ApiAuth::Password { .. } => None,
        };
        let mut session = Session {
            settings,
            http,
            base,
            generation: Generation::V2,
            version: String::new(),
            token,
            next_slot: None,
            requests: 0,
            server_now: Utc::now(),
            answered: false,
        };
        session.detect().await?;
        Ok(session)
    }

    fn url(&self, path: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        {
            let mut segments = url.path_segments_mut().expect("an http(s) URL has a path");
            segments.pop_if_empty();
            for part in path {
                segments.extend(part.split('/').filter(|s| !s.is_empty()));
            }
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// Finds which API the server speaks (its version endpoint) and reads its version.
    async fn detect(&mut self) -> Result<(), ApiError> {
        let base = self.settings.base_url.clone();
        let tries: &[Generation] = match self.settings.api_version {
            ApiVersionSetting::Auto => &[Generation::V2, Generation::V1],
            ApiVersionSetting::V1 => &[Generation::V1],
            ApiVersionSetting::V2 => &[Generation::V2],
        };
        for (i, &generation) in tries.iter().enumerate() {
            self.generation = generation;
            let url = self.url(&[generation.prefix(), "version"], &[]);
            // The version endpoint answers without credentials on Airflow 2 and 3; managed
            // services may want them, so a 401 is asked again with credentials.
            let mut answer = self.send(Method::GET, url.clone(), None, None).await?;
            if answer.status == StatusCode::UNAUTHORIZED {
                answer = self.call(Method::GET, url, None).await?;
            }
            if answer.status == StatusCode::NOT_FOUND {
                let last = i + 1 == tries.len();
                if !last {
                    continue;
                }
                let fix = match self.settings.api_version {
                    ApiVersionSetting::Auto => format!(
                        "no Airflow REST API at {base} (neither /api/v2 nor /api/v1 answers): base_url must be the address of the Airflow webserver or api-server, without /api/..."
                    ),
                    ApiVersionSetting::V2 => format!(
                        "{base} has no /api/v2, so it is not Airflow 3 (an Airflow 2 webserver serves /api/v1): set api_version = auto or v1"
                    ),
                    ApiVersionSetting::V1 => {
                        let text = String::from_utf8_lossy(&answer.body);
                        if text.contains("/api/v2") {
                            format!(
                                "{base} is Airflow 3, which removed /api/v1: set api_version = auto or v2"
                            )
                        } else {
                            format!(
                                "{base} has no /api/v1, so it is not Airflow 2: set api_version = auto (or v2 for Airflow 3), and check base_url"
                            )
                        }
                    }
                };
                return Err(ApiError::NotFound {
                    url: answer.url,
                    fix,
                });
            }
            let info: VersionInfo = self.json(answer)?;
            self.version = info.version;
            return Ok(());
        }
        unreachable!("the last generation tried returns")
    }

    /// The credentials' Authorization header for the next request (logging in first when a
    /// JWT is needed or about to expire).
    async fn authorization(&mut self) -> Result<Option<String>, ApiError> {
        match (&self.settings.auth, self.generation) {
            (ApiAuth::Token(token), _) => Ok(Some(format!("Bearer {}", token.expose()))),
            (ApiAuth::Password { username, password }, Generation::V1) => {
                let pair = format!("{username}:{}", password.expose());
                Ok(Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )))
            }
            (ApiAuth::Password { .. }, Generation::V2) => {
                // Renewed a minute before it expires (a quarter of its life for short-lived
                // tokens), so no request is sent with a token about to lapse.
                let fresh = self.token.as_ref().is_some_and(|token| {
                    token.expiry.is_none_or(|(at, life)| {
                        Utc::now() + Duration::seconds(60).min(life / 4) < at
                    })
                });
                if !fresh {
                    self.log_in().await?;
                }
                Ok(self
                    .token
                    .as_ref()
                    .map(|t| format!("Bearer {}", t.value.expose())))
            }
        }
    }

    /// `POST /auth/token` (Airflow 3) with the username and password.
    async fn log_in(&mut self) -> Result<(), ApiError> {
        let ApiAuth::Password { username, password } = &self.settings.auth else {
            return Ok(());
        };
        let url = self.url(&["auth", "token"], &[]);
        let body = serde_json::json!({ "username": username, "password": password.expose() });
        let answer = self
            .send(Method::POST, url, Some(body.to_string()), None)
            .await?;
        if answer.status == StatusCode::UNAUTHORIZED || answer.status == StatusCode::FORBIDDEN {
            return Err(ApiError::Unauthorized {
                url: answer.url,
                fix: format!(
                    "check [{}] username and password (Airflow 3 issues API tokens to its users at POST /auth/token)",
                    self.settings.section
                ),
            });
        }
        let token: TokenAnswer = self.json(answer)?;
        let expiry = jwt_expiry(&token.access_token).map(|at| (at, at - Utc::now()));
        tracing::debug!(url = %self.settings.base_url, expires = ?expiry.map(|(at, _)| at), "Logged in to Airflow's API.");
        self.token = Some(Token {
            value: Secret::new(token.access_token),
            expiry,
        });
        Ok(())
    }

    /// Waits for the next request slot under `max_requests_per_second`.
    async fn pace(&mut self) {
        let per_second = self.settings.max_requests_per_second;
        if per_second == 0 {
            return;
        }
        let interval = StdDuration::from_secs_f64(1.0 / per_second as f64);
        let now = Instant::now();
        if let Some(slot) = self.next_slot
            && slot > now
        {
            tokio::time::sleep(slot - now).await;
        }
        self.next_slot = Some(self.next_slot.map_or(now, |s| s.max(now)) + interval);
    }

    /// Sends one authenticated request; on a 401 with a JWT (which may have expired, or the
    /// server restarted with a new secret), logs in again and repeats it once.
    async fn call(
        &mut self,
        method: Method,
        url: Url,
        body: Option<String>,
    ) -> Result<Answer, ApiError> {
        let authorization = self.authorization().await?;
        let answer = self
            .send(method.clone(), url.clone(), body.clone(), authorization)
            .await?;
        let renewable = self.generation == Generation::V2
            && matches!(self.settings.auth, ApiAuth::Password { .. });
        if answer.status == StatusCode::UNAUTHORIZED && renewable {
            self.token = None;
            let authorization = self.authorization().await?;
            return self.send(method, url, body, authorization).await;
        }
        Ok(answer)
    }

    /// Sends one request, retrying connection failures, timeouts, 429 and 5xx with the
    /// `[retry]` backoff (or the server's `Retry-After`).
    async fn send(
        &mut self,
        method: Method,
        url: Url,
        body: Option<String>,
        authorization: Option<String>,
    ) -> Result<Answer, ApiError> {
        let retry = self.settings.retry;
        let shown = url.to_string();
        let mut attempt = 1;
        loop {
            self.pace().await;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(value) = &authorization {
                request = request.header(reqwest::header::AUTHORIZATION, value);
            }
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            self.requests += 1;
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let first = !std::mem::replace(&mut self.answered, true);
                    if first
                        && let Some(date) = response
                            .headers()
                            .get(reqwest::header::DATE)
                            .and_then(|d| d.to_str().ok())
                            .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
                    {
                        self.server_now = date.with_timezone(&Utc);
                    }
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    let content_type = response
                        .headers()
                        .get(reqwest::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    match response.bytes().await {
                        Ok(bytes) => Ok((status, retry_after, content_type, bytes)),
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let transient = match outcome {
                Ok((status, retry_after, _, body))
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() =>
                {
                    let detail = excerpt(&body);
                    if attempt >= retry.attempts {
                        return Err(ApiError::Unavailable {
                            url: shown,
                            status: status.as_u16(),
                            attempts: attempt,
                            body: detail,
                        });
                    }
                    tracing::warn!(url = %shown, status = status.as_u16(), attempt, "Airflow's API answered with a transient error; retrying.");
                    retry_after.map(|s| StdDuration::from_secs(s.min(600)))
                }
                Ok((status, _, content_type, body)) => {
                    return Ok(Answer {
                        url: shown,
                        status,
                        content_type,
                        body,
                    });
                }
                Err(e) if e.is_timeout() => {
                    if attempt >= retry.attempts {
                        return Err(ApiError::Timeout {
                            url: shown,
                            seconds: self.settings.request_timeout_seconds,
                            attempts: attempt,
                        });
                    }
                    tracing::warn!(url = %shown, attempt, "Airflow's API did not answer in time; retrying.");
                    None
                }
                Err(e) if crate::http::is_tls_failure(&e) => {
                    return Err(ApiError::Tls {
                        url: shown,
                        detail: causes(&e),
                    });
                }
                Err(e) => {
                    if attempt >= retry.attempts {
                        return Err(ApiError::Connect {
                            url: shown,
                            detail: causes(&e),
                            attempts: attempt,
                        });
                    }
                    tracing::warn!(url = %shown, attempt, error = %causes(&e), "Could not reach Airflow's API; retrying.");
                    None
                }
            };
            attempt += 1;
            tokio::time::sleep(transient.unwrap_or_else(|| retry.backoff(attempt))).await;
        }
    }

    /// An answer's JSON, or the error its status or content type means.
    fn json<T: serde::de::DeserializeOwned>(&self, answer: Answer) -> Result<T, ApiError> {
        let Answer {
            url,
            status,
            content_type,
            body,
        } = answer;
        match status {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED => {
                let fix = match (&self.settings.auth, self.generation) {
                    (ApiAuth::Token(_), _) => format!(
                        "the token in [{}] is wrong or expired: issue a new one",
                        self.settings.section
                    ),
                    (ApiAuth::Password { .. }, Generation::V1) => format!(
                        "check [{}] username and password; Airflow 2 must also accept basic auth on its API: its admin sets [api] auth_backends = airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session",
                        self.settings.section
                    ),
                    (ApiAuth::Password { .. }, Generation::V2) => format!(
                        "the token from /auth/token was refused just after it was issued: check the server's [api_auth] settings and [{}] username",
                        self.settings.section
                    ),
                };
                return Err(ApiError::Unauthorized { url, fix });
            }
            StatusCode::FORBIDDEN => return Err(ApiError::Forbidden { url }),
            s => {
                return Err(ApiError::Refused {
                    url,
                    status: s.as_u16(),
                    body: excerpt(&body),
                });
            }
        }
        let is_json = content_type.is_empty() || content_type.to_ascii_lowercase().contains("json");
        if !is_json {
            let text = String::from_utf8_lossy(&body);
            let title = text
                .split_once("<title>")
                .and_then(|(_, rest)| rest.split_once("</title>"))
                .map(|(t, _)| format!(" (page title {:?})", t.trim()))
                .unwrap_or_default();
            return Err(ApiError::NotJson {
                url,
                content_type,
                title,
            });
        }
        serde_json::from_slice(&body).map_err(|e| ApiError::BadJson {
            url,
            detail: e.to_string(),
        })
    }

    /// The query of one page of a DAG-run list.
    fn run_query(&self, filter: &RunFilter, pager: &Pager) -> Vec<(&'static str, String)> {
        let limit = pager.limit.unwrap_or(self.settings.page_size);
        let mut query = vec![("order_by", "id".to_string()), ("limit", limit.to_string())];
        if let Some(t) = filter.updated_at_gte {
            query.push(("updated_at_gte", stamp(t)));
        }
        if let Some(t) = filter.updated_at_lte {
            query.push(("updated_at_lte", stamp(t)));
        }
        for state in &filter.states {
            query.push(("state", state.to_string()));
        }
        let last_before = |end: DateTime<Utc>| stamp(end - Duration::microseconds(1));
        match self.generation {
            Generation::V1 => {
                if let Some((start, end)) = filter.logical_date {
                    query.push(("execution_date_gte", stamp(start)));
                    query.push(("execution_date_lte", last_before(end)));
                }
            }
            Generation::V2 => {
                if let Some((start, end)) = filter.logical_date {
                    query.push(("logical_date_gte", stamp(start)));
                    query.push(("logical_date_lt", stamp(end)));
                }
                if let Some((start, end)) = filter.run_after {
                    query.push(("run_after_gte", stamp(start)));
                    query.push(("run_after_lt", stamp(end)));
                }
            }
        }
        match (&pager.cursor, self.generation) {
            // Airflow 3.3+ pages by cursor when asked with an empty one; older 3.x ignore it.
            (None, Generation::V2) => query.push(("cursor", String::new())),
            (Some(Some(cursor)), _) => query.push(("cursor", cursor.clone())),
            _ => query.push(("offset", pager.offset.to_string())),
        }
        query
    }

    /// One page of a DAG-run list.
    async fn run_page(
        &mut self,
        filter: &RunFilter,
        pager: &mut Pager,
    ) -> Result<RunPage, ApiError> {
        let query = self.run_query(filter, pager);
        let url = self.url(&[self.generation.prefix(), "dags/~/dagRuns"], &query);
        let answer = self.call(Method::GET, url, None).await?;
        let page: RunPage = self.json(answer)?;
        let got = page.dag_runs.len() as u64;
        let cursor_mode = match pager.cursor {
            None => page.total_entries_limit.is_some(),
            Some(ref c) => c.is_some(),
        };
        if cursor_mode {
            pager.done = page.next_cursor.is_none() || got == 0;
            pager.cursor = Some(page.next_cursor.clone());
        } else {
            pager.cursor = Some(None);
            pager.offset += got;
            pager.done = got == 0
                || page
                    .total_entries
                    .is_some_and(|total| pager.offset >= total.max(0) as u64);
        }
        Ok(page)
    }

    /// The next page of runs, or None when the list is done.
    async fn next_runs(
        &mut self,
        filter: &RunFilter,
        pager: &mut Pager,
    ) -> Result<Option<Vec<ApiDagRun>>, ApiError> {
        if pager.done {
            return Ok(None);
        }
        Ok(Some(self.run_page(filter, pager).await?.dag_runs))
    }

    /// Streams every run of a list that `keep` accepts into the sink.
    async fn copy_runs(
        &mut self,
        filter: &RunFilter,
        rows: &mut RowWriter<'_>,
        sink: &mut ExtractSink<'_>,
        keep: impl Fn(&ApiDagRun) -> bool,
    ) -> Result<(), SourceError> {
        let settings = self.settings;
        let mut pager = Pager::new();
        while let Some(page) = self
            .next_runs(filter, &mut pager)
            .await
            .map_err(api_failure(settings))?
        {
            for run in page.iter().filter(|r| keep(r)) {
                rows.push(run).map_err(unreadable(settings))?;
            }
            if rows.buffer.len() >= 1 << 20 {
                rows.flush(sink)
                    .await
                    .map_err(stage_failure(&settings.instance))?;
            }
        }
        Ok(())
    }

    /// Re-reads runs the warehouse holds as unfinished that the changed-run list did not
    /// return: one request each when they are few, else the list of Airflow's queued and
    /// running runs first. A run Airflow no longer has (404) is left as it is.
    async fn reread_unfinished(
        &mut self,
        runs: &[&(String, String)],
        rows: &mut RowWriter<'_>,
        sink: &mut ExtractSink<'_>,
    ) -> Result<(), SourceError> {
        let settings = self.settings;
        let api_error = api_failure(settings);
        if runs.len() as u64 > settings.page_size {
            let filter = RunFilter {
                states: vec!["queued", "running"],
                ..RunFilter::default()
            };
            self.copy_runs(&filter, rows, sink, |_| true).await?;
        }
        for (dag_id, run_id) in runs.iter().map(|r| (&r.0, &r.1)) {
            if rows.seen(dag_id, run_id) {
                continue;
            }
            let url = self.url(&[self.generation.prefix(), "dags"], &[]);
            let mut url = url;
            url.path_segments_mut()
                .expect("an http(s) URL has a path")
                .extend([dag_id.as_str(), "dagRuns", run_id.as_str()]);
            let answer = self.call(Method::GET, url, None).await.map_err(api_error)?;
            if answer.status == StatusCode::NOT_FOUND {
                tracing::info!(instance = %settings.instance, dag_id = %dag_id, run_id = %run_id, "A run the warehouse holds as unfinished is gone from Airflow; its row is kept as it is.");
                continue;
            }
            let run: ApiDagRun = self.json(answer).map_err(api_error)?;
            rows.push(&run).map_err(unreadable(settings))?;
        }
        Ok(())
    }

    /// Which tries the server keeps: every try from Airflow 2.10 (task_instance_history and
    /// the .../tries endpoint), else only the current one.
    fn task_coverage(&self) -> TaskCoverage {
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) >= (2, 10) {
            TaskCoverage::AllTries
        } else {
            TaskCoverage::CurrentTries
        }
    }

    /// Streams the task instances of `runs` into the sink: one batch list request per
    /// [`RUNS_PER_TASK_REQUEST`] runs, plus, when the server keeps every try, one .../tries
    /// request per instance that may have earlier tries. Returns the tries written.
    async fn copy_task_instances(
        &mut self,
        runs: &[(String, String)],
        coverage: TaskCoverage,
        read_at: DateTime<Utc>,
        sink: &mut ExtractSink<'_>,
    ) -> Result<u64, SourceError> {
        let settings = self.settings;
        let api_error = api_failure(settings);
        let bad = unreadable(settings);
        let stage_error = stage_failure(&settings.instance);
        let mut writer = TaskWriter {
            instance: &self.settings.instance,
            generation: self.generation,
            read_at: stamp(read_at),
            buffer: Vec::with_capacity(64 * 1024),
            written: 0,
        };
        writer.header();
        for chunk in runs.chunks(RUNS_PER_TASK_REQUEST) {
            let wanted: HashSet<(&str, &str)> = chunk
                .iter()
                .map(|(d, r)| (d.as_str(), r.as_str()))
                .collect();
            let mut dag_ids: Vec<&str> = chunk.iter().map(|(d, _)| d.as_str()).collect();
            dag_ids.sort_unstable();
            dag_ids.dedup();
            let mut run_ids: Vec<&str> = chunk.iter().map(|(_, r)| r.as_str()).collect();
            run_ids.sort_unstable();
            run_ids.dedup();
            let mut offset = 0u64;
            loop {
                let mut body = serde_json::json!({
                    "dag_ids": dag_ids,
                    "dag_run_ids": run_ids,
                    "page_offset": offset,
                    "page_limit": TASKS_PER_PAGE,
                });
                if self.generation == Generation::V2 {
                    body["order_by"] = serde_json::json!("id");
                }
                let url = self.url(
                    &[
                        self.generation.prefix(),
                        "dags/~/dagRuns/~/taskInstances/list",
                    ],
                    &[],
                );
                let answer = self
                    .call(Method::POST, url, Some(body.to_string()))
                    .await
                    .map_err(api_error)?;
                let page: TaskPage = self.json(answer).map_err(api_error)?;
                let got = page.task_instances.len() as u64;
                offset += got;
                for ti in &page.task_instances {
                    if !wanted.contains(&(ti.dag_id.as_str(), ti.dag_run_id.as_str())) {
                        continue;
                    }
                    if coverage == TaskCoverage::AllTries && ti.may_have_history() {
                        for (try_, from_history) in self.tries(ti).await.map_err(api_error)? {
                            writer.push(&try_, from_history).map_err(bad)?;
                        }
                    } else {
                        writer.push(ti, false).map_err(bad)?;
                    }
                }
                if writer.buffer.len() >= 1 << 20 {
                    sink.write(&writer.buffer).await.map_err(stage_error)?;
                    writer.buffer.clear();
                }
                let total = page.total_entries.unwrap_or(0).max(0) as u64;
                if got == 0 || offset >= total {
                    break;
                }
            }
        }
        sink.write(&writer.buffer).await.map_err(stage_error)?;
        Ok(writer.written)
    }

    /// Every try of one task instance, each with whether it comes from
    /// `task_instance_history`. The endpoint answers the history rows, then the current row
    /// unless it is up for retry (its try is then in the history already); where both hold
    /// the same try_number, the history row is that try (as the database source decides).
    async fn tries(
        &mut self,
        ti: &ApiTaskInstance,
    ) -> Result<Vec<(ApiTaskInstance, bool)>, ApiError> {
        let mut url = self.url(&[self.generation.prefix(), "dags"], &[]);
        {
            let mut segments = url.path_segments_mut().expect("an http(s) URL has a path");
            segments.extend([
                ti.dag_id.as_str(),
                "dagRuns",
                ti.dag_run_id.as_str(),
                "taskInstances",
                ti.task_id.as_str(),
            ]);
            if ti.map_index >= 0 {
                segments.push(&ti.map_index.to_string());
            }
            segments.push("tries");
        }
        let answer = self.call(Method::GET, url, None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            // Gone between the list and this request: keep what the list said.
            return Ok(vec![(ti.clone(), false)]);
        }
        let page: TaskPage = self.json(answer)?;
        let mut history = page.task_instances;
        if ti.state.as_deref() != Some("up_for_retry") {
            // The last row is the current one; the list's copy of it is used instead.
            history.pop();
        }
        let current_is_in_history = history.iter().any(|t| t.try_number == ti.try_number);
        let mut out: Vec<(ApiTaskInstance, bool)> =
            history.into_iter().map(|t| (t, true)).collect();
        if !current_is_in_history {
            out.push((ti.clone(), false));
        }
        Ok(out)
    }

    /// Every run whose day (logical date, else `run_after`) is one of `days`, with its day;
    /// only those in `states` (all when empty) and changed at or before `changed_until`.
    async fn runs_of_days(
        &mut self,
        days: &DayBounds,
        changed_until: Option<DateTime<Utc>>,
        states: &[&'static str],
    ) -> Result<Vec<(NaiveDate, ApiDagRun)>, ApiError> {
        let (start, end) = days.range();
        let mut seen = HashSet::new();
        let mut runs = Vec::new();
        for mut filter in window_filters(self.generation, start, end, None) {
            filter.updated_at_lte = changed_until;
            filter.states = states.to_vec();
            let mut pager = Pager::new();
            while let Some(page) = self.next_runs(&filter, &mut pager).await? {
                for run in page {
                    let Some(day) = run.day_instant().and_then(|t| days.day_of(t)) else {
                        continue;
                    };
                    if seen.insert((run.dag_id.clone(), run.dag_run_id.clone())) {
                        runs.push((day, run));
                    }
                }
            }
        }
        Ok(runs)
    }
}

/// The start of an answer's body, on one line, for messages.
fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut shown: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        shown.push_str("...");
    }
    if shown.is_empty() {
        "(empty answer)".to_string()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AF2_PAGE: &str =
        include_str!("../../tests/fixtures/airflow/api/af2_GET_dags_~_dagRuns.json");
    const AF3_PAGE: &str =
        include_str!("../../tests/fixtures/airflow/api/af3_GET_dags_~_dagRuns.json");

    #[test]
    fn real_answers_of_both_generations_parse_into_rows() {
        for (text, generation) in [(AF2_PAGE, Generation::V1), (AF3_PAGE, Generation::V2)] {
            let page: RunPage = serde_json::from_str(text).unwrap();
            assert!(!page.dag_runs.is_empty());
            let mut rows = RowWriter::new("x", generation, Utc::now());
            for run in &page.dag_runs {
                rows.push(run).unwrap();
                // A run seen twice is written once.
                rows.push(run).unwrap();
            }
            assert_eq!(rows.written as usize, page.dag_runs.len());
            let text = String::from_utf8(rows.buffer.clone()).unwrap();
            let first = text.lines().next().unwrap();
            // 18 fields; id, clear_number and source_updated_at are NULL (unquoted, empty).
            let fields: Vec<&str> = first.split(',').collect();
            assert_eq!(fields.len(), 18, "{first}");
            assert_eq!(fields[2], "");
            assert_eq!(fields[15], "");
            assert_eq!(fields[16], "");
        }
    }

    #[test]
    fn cursor_paging_is_recognised_by_its_limit_field() {
        let page: RunPage = serde_json::from_str(AF3_PAGE).unwrap();
        assert!(page.total_entries_limit.is_none(), "offset answer");
    }

    #[test]
    fn jwt_expiry_is_read_from_the_payload() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"exp":1795532489}"#);
        let token = format!("eyJhbGciOiJIUzUxMiJ9.{payload}.c2ln");
        assert_eq!(jwt_expiry(&token).unwrap().timestamp(), 1_795_532_489);
        assert!(jwt_expiry("not-a-jwt").is_none());
    }

    #[test]
    fn quotes_are_doubled_and_nulls_left_empty() {
        let mut buffer = Vec::new();
        csv_line(
            &mut buffer,
            &[Some("a\"b".to_string()), None, Some(String::new())],
        );
        assert_eq!(String::from_utf8(buffer).unwrap(), "\"a\"\"b\",,\"\"\n");
    }
}
