//! Where DAG runs come from: the source seam.
//!
//! A source reads one Airflow installation and yields its DAG runs as the canonical rows
//! ([`DAG_RUN_COLUMNS`], one CSV record each, PostgreSQL's CSV dialect with every non-NULL value
//! quoted) into an [`ExtractSink`], which the extract stage turns into a staged object. Load and
//! transform only ever see those rows, so a new source (Airflow's REST API) or a new grain adds
//! a module here without touching them.
//!
//! There are two sources: the Airflow metadata database ([`airflow_db`]) and Airflow's REST API
//! ([`airflow_api`]). [`Source`] is an enum rather than a trait object: each source is a
//! variant, every operation one `match`.

pub mod airflow_api;
pub mod airflow_db;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, NaiveDate, Utc};
use std::collections::BTreeMap;
use uuid::Uuid;

use crate::config::{ExtractSettings, SourceSettings};
use crate::context::RunContext;
use crate::db::{ConnectError, SqlError};
use crate::stage::{ObjectStore, ObjectWriter, StageError};

/// The columns of every DAG-run extract, in order: the header row of each staged object, and
/// what every source yields.
pub const DAG_RUN_COLUMNS: [&str; 19] = [
    "airflow_instance",
    "airflow_major_version",
    "id",
    "dag_id",
    "run_id",
    "execution_date",
    "run_after",
    "state",
    "run_type",
    "external_trigger",
    "queued_at",
    "start_date",
    "end_date",
    "data_interval_start",
    "data_interval_end",
    "clear_number",
    "dag_version",
    "source_updated_at",
    "source_read_at",
];

/// The columns of every task-instance extract, in order: one row per try of a task instance of
/// the DAG runs in the same extract.
pub const TASK_INSTANCE_COLUMNS: [&str; 22] = [
    "airflow_instance",
    "airflow_major_version",
    "dag_id",
    "run_id",
    "task_id",
    "map_index",
    "try_number",
    "state",
    "start_date",
    "end_date",
    "queued_at",
    "scheduled_at",
    "pool",
    "pool_slots",
    "queue",
    "operator",
    "hostname",
    "max_tries",
    "dag_version",
    "from_history",
    "source_updated_at",
    "source_read_at",
];

/// What a staged object holds, which decides its key prefix, its header and where it loads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjectKind {
    /// DAG runs ([`DAG_RUN_COLUMNS`]), into `dag_run_history`.
    DagRuns,
    /// Task tries ([`TASK_INSTANCE_COLUMNS`]), into `task_run_history`.
    TaskInstances,
}

impl ObjectKind {
    /// The first part of the object's key.
    pub fn prefix(self) -> &'static str {
        match self {
            ObjectKind::DagRuns => "dag_run",
            ObjectKind::TaskInstances => "task_instance",
        }
    }

    /// The header row's columns.
    pub fn columns(self) -> &'static [&'static str] {
        match self {
            ObjectKind::DagRuns => &DAG_RUN_COLUMNS,
            ObjectKind::TaskInstances => &TASK_INSTANCE_COLUMNS,
        }
    }

    /// The kind an object key names (by its first path segment); DAG runs unless it starts
    /// with `task_instance/`.
    pub fn of_key(key: &str) -> Self {
        if key.starts_with("task_instance/") {
            ObjectKind::TaskInstances
        } else {
            ObjectKind::DagRuns
        }
    }
}

/// Which tries of the task instances an extract read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskCoverage {
    /// Task instances were not read (`[extract] task_instances = false`).
    NotRead,
    /// Only each instance's current try: Airflow before 2.10 keeps no earlier tries.
    CurrentTries,
    /// Every try Airflow kept (current and `task_instance_history`).
    AllTries,
}

/// The finished runs of one day as reconcile compares them: how many, and a digest of what
/// they are (each run's dag_id, run_id, state and end_date).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayDigest {
    /// Finished (`success`/`failed`) runs.
    pub finished: i64,
    /// md5 of the runs' facts in a fixed order (the same formula on both sides).
    pub digest: String,
}

/// One DAG run as reconcile names it.
#[derive(Debug, Clone)]
pub struct RunFacts {
    /// Its day (reporting time zone).
    pub day: NaiveDate,
    /// The DAG.
    pub dag_id: String,
    /// The run.
    pub run_id: String,
    /// Its state.
    pub state: Option<String>,
    /// When it ended.
    pub end_date: Option<DateTime<Utc>>,
    /// When the source last changed it (None for the warehouse's copy).
    pub updated_at: Option<DateTime<Utc>>,
}

/// What reconcile reads of a source's task tries.
#[derive(Debug, Clone, Default)]
pub struct TaskTryCounts {
    /// Finished tries (success, failed, skipped, upstream_failed) per day of their DAG run.
    pub finished_per_day: BTreeMap<NaiveDate, i64>,
    /// Task instances with a try_number above the tries Airflow kept for them.
    pub instances_missing_tries: i64,
    /// Earlier tries Airflow did not keep.
    pub missing_tries: i64,
    /// One such instance, as `dag.task in run RUN`.
    pub missing_example: Option<String>,
}

/// The calendar days `first..=last` of the reporting time zone as UTC instants, for sources that
/// cannot ask PostgreSQL which day an instant falls on (the REST API). Computed by the
/// warehouse (`crate::reporting::day_bounds`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayBounds {
    /// The first day.
    pub first: NaiveDate,
    /// When each day begins, and after them when the day after the last begins (ascending).
    pub starts: Vec<DateTime<Utc>>,
}

impl DayBounds {
    /// The last day.
    pub fn last(&self) -> NaiveDate {
        self.first + chrono::Days::new(self.starts.len().saturating_sub(2) as u64)
    }

    /// `[start of the first day, start of the day after the last)`.
    pub fn range(&self) -> (DateTime<Utc>, DateTime<Utc>) {
        (
            *self.starts.first().expect("at least one day"),
            *self.starts.last().expect("at least one day"),
        )
    }

    /// The day `t` falls on, when it is one of these days.
    pub fn day_of(&self, t: DateTime<Utc>) -> Option<NaiveDate> {
        let after = self.starts.partition_point(|s| *s <= t);
        (after > 0 && after < self.starts.len())
            .then(|| self.first + chrono::Days::new(after as u64 - 1))
    }
}

/// How an extract chose its runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractMode {
    /// New, in-flight, unfinished and (when due) changed runs.
    Incremental,
    /// Every run.
    Full,
    /// Every run of a window of days (a backfill); moves no watermark.
    Window,
}

impl ExtractMode {
    /// The name stored in `staged_extract.extract_mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExtractMode::Incremental => "incremental",
            ExtractMode::Full => "full",
            ExtractMode::Window => "window",
        }
    }

    /// The mode stored as `name` (the table's check constraint allows no other).
    pub fn parse(name: &str) -> Option<Self> {
        [
            ExtractMode::Incremental,
            ExtractMode::Full,
            ExtractMode::Window,
        ]
        .into_iter()
        .find(|m| m.as_str() == name)
    }
}

/// Which runs an extract reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractScope<'a> {
    /// New and changed runs since the watermark (every run when `full`).
    Incremental {
        /// Read every run.
        full: bool,
    },
    /// Every run whose day (in `time_zone`) is in `from..=to`.
    Window {
        /// First day.
        from: NaiveDate,
        /// Last day.
        to: NaiveDate,
        /// The reporting time zone.
        time_zone: &'a str,
    },
}

/// What the warehouse knows about an instance, from which a source chooses the runs to read.
#[derive(Debug, Clone)]
pub struct ExtractPlan<'a> {
    /// Which runs to read.
    pub scope: ExtractScope<'a>,
    /// The highest source id loaded so far (None: nothing loaded yet).
    pub loaded_max_id: Option<i32>,
    /// When the last changed-run scan read the source's clock (None: never).
    pub changed_runs_scanned_at: Option<DateTime<Utc>>,
    /// Source ids of runs the warehouse holds as unfinished (queued or running).
    pub unfinished_ids: Vec<i32>,
    /// The re-check of an incremental extract by id: runs above this id are read again unless
    /// the warehouse holds them unchanged (None: not an incremental extract by id).
    pub recheck_above: Option<i32>,
    /// The runs the warehouse holds above `recheck_above`: Airflow id and `updated_at` as last
    /// read (None when Airflow had not set it).
    pub rechecked: Vec<(i32, Option<DateTime<Utc>>)>,
    /// `(dag_id, run_id)` of the runs the warehouse holds as unfinished (for sources without
    /// Airflow's ids: the REST API).
    pub unfinished_runs: Vec<(String, String)>,
    /// A window extract's days as `[start, end)` in UTC (None for other extracts).
    pub window: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// `[extract]` settings.
    pub settings: &'a ExtractSettings,
}

/// The re-check of an incremental extract: the newest loaded runs, compared with Airflow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Recheck {
    /// Runs the warehouse held in the re-checked range.
    pub held: u64,
    /// Of those, the ones Airflow holds unchanged (or no longer holds): not read again.
    pub unchanged: u64,
}

/// What a source reports about the extract it yielded.
#[derive(Debug, Clone)]
pub struct SourceExtract {
    /// How runs were chosen.
    pub mode: ExtractMode,
    /// The source's clock at its snapshot.
    pub source_now: DateTime<Utc>,
    /// The highest DAG-run id in the source at the snapshot.
    pub source_max_id: Option<i32>,
    /// Lower bound of the changed-run scan, when one ran.
    pub changed_runs_since: Option<DateTime<Utc>>,
    /// An incremental extract's re-check: how many runs the warehouse held in its range, and
    /// how many of those were found unchanged (or gone from Airflow) and not read again.
    pub recheck: Option<Recheck>,
    /// Airflow's major version (2 or 3).
    pub airflow_major_version: i16,
    /// Which task tries were read into the task sink.
    pub tasks: TaskCoverage,
}

/// Why a source could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The connection failed.
    #[error(transparent)]
    Connect(#[from] ConnectError),
    /// A query failed.
    #[error("Airflow instance {instance}: could not {step}")]
    Sql {
        /// The instance.
        instance: String,
        /// What was being done.
        step: &'static str,
        /// The failure.
        #[source]
        source: SqlError,
    },
    /// There is no `dag_run` table.
    #[error(
        "Airflow instance {instance}: no table dag_run in schema {schema} of {address} (is this Airflow's metadata database? check [{section}] database and schema)"
    )]
    NoDagRun {
        /// The instance.
        instance: String,
        /// The schema searched.
        schema: String,
        /// host:port/database.
        address: String,
        /// The config section.
        section: String,
    },
    /// The role may not read a table pipewatch reads.
    #[error(
        "Airflow instance {instance}: the role {user:?} may not read {schema}.{table} in {address}: as the database's owner, GRANT USAGE ON SCHEMA {schema} TO {user}; GRANT SELECT ON {schema}.{table} TO {user} (README, \"The warehouse database and its roles\")"
    )]
    NoPermission {
        /// The instance.
        instance: String,
        /// The role pipewatch connects as.
        user: String,
        /// The schema.
        schema: String,
        /// The table.
        table: String,
        /// host:port/database.
        address: String,
    },
    /// `dag_run` has neither layout.
    #[error(
        "Airflow instance {instance}: dag_run in {address} is neither Airflow 2 nor Airflow 3: missing columns {missing}"
    )]
    UnknownLayout {
        /// The instance.
        instance: String,
        /// host:port/database.
        address: String,
        /// The columns that are missing, comma-separated.
        missing: String,
    },
    /// Task instances are to be read, but there is no `task_instance` table fit to read.
    #[error(
        "Airflow instance {instance}: {problem} in {address}: pipewatch reads task instances from Airflow 2.8+ and 3 (set [extract] task_instances = false to read DAG runs only)"
    )]
    TaskTables {
        /// The instance.
        instance: String,
        /// host:port/database.
        address: String,
        /// What is wrong.
        problem: String,
    },
    /// The source's clock is too far from this machine's to be trusted as the read time.
    #[error(
        "Airflow instance {instance}: {clock} reads {source_now}, {skew} {direction} this machine's clock ({local_now}), beyond [extract] max_clock_skew_seconds = {limit}. pipewatch records when it read each run by that clock (a read time in the future would hide every later change), so it read nothing: set the clock right (NTP), then run again"
    )]
    ClockSkew {
        /// The instance.
        instance: String,
        /// Which clock: the database's `now()` or the server's `Date` header.
        clock: &'static str,
        /// The source's clock.
        source_now: DateTime<Utc>,
        /// This machine's clock.
        local_now: DateTime<Utc>,
        /// The difference, in words.
        skew: String,
        /// `ahead of` or `behind`.
        direction: &'static str,
        /// The allowed difference, in seconds.
        limit: u64,
    },
    /// The DAG catalogue is to be read, but a table it reads is missing.
    #[error(
        "Airflow instance {instance}: {problem} in {address}: the DAG catalogue reads dag, dag_tag, import_error, job and slot_pool (set [extract] catalog = false to read DAG runs only)"
    )]
    CatalogTables {
        /// The instance.
        instance: String,
        /// host:port/database.
        address: String,
        /// What is wrong.
        problem: String,
    },
    /// The REST API failed.
    #[error("Airflow instance {instance} (REST API)")]
    Api {
        /// The instance.
        instance: String,
        /// What failed (boxed: it is large and rare).
        #[source]
        source: Box<airflow_api::ApiError>,
    },
    /// Writing the rows into the stage failed.
    #[error("Airflow instance {instance}: could not stage the extract")]
    Stage {
        /// The instance.
        instance: String,
        /// The stage failure (boxed: it is large and rare).
        #[source]
        source: Box<StageError>,
    },
}

/// The longest stack trace of an import error kept, in characters (its length and md5 are of the
/// whole text).
pub const MAX_STACKTRACE_CHARS: usize = 65_536;

/// Days back Airflow's deadlines are read at every catalogue reading (by logical date for an
/// SLA miss, by deadline time for a deadline); older ones stay in the warehouse as read.
pub const DEADLINE_DAYS: i32 = 35;

/// One reading of an instance's DAG catalogue, in the JSON shapes `sql/catalog/merge_dags.sql`
/// and `sql/catalog/merge_import_errors.sql` read.
#[derive(Debug, Clone)]
pub struct CatalogSnapshot {
    /// The source's clock at the reading.
    pub read_at: DateTime<Utc>,
    /// The DAGs: a JSON array.
    pub dags: String,
    /// The current import errors: a JSON array.
    pub import_errors: String,
    /// The newest heartbeat of each long-running job type: a JSON array.
    pub jobs: String,
    /// The pools with their slots, taken and wanted: a JSON array.
    pub pools: String,
    /// Airflow's deadlines (SLA misses, Airflow 3 deadlines): a JSON array; None when not read
    /// (their tables absent or unreadable, or the REST API).
    pub deadlines: Option<String>,
    /// The DAGs' owner links (dag_owner_attributes): a JSON array; None when not read (the
    /// table absent or unreadable, or the REST API).
    pub owner_links: Option<String>,
    /// The timetables read afresh (DAGs whose key differs from [`KnownKeys`]): a JSON
    /// array in the shape `sql/catalog/merge_dags.sql` reads as `$5`.
    pub timetables: String,
    /// The task graphs of the DAG versions not in [`KnownKeys`] (database source; empty
    /// through the REST API, which gives only the latest version's tasks and no run's version
    /// on Airflow 2).
    pub graphs: Vec<ReadGraph>,
}

/// One DAG version's task graph as a catalogue reading found it.
#[derive(Debug, Clone)]
pub struct ReadGraph {
    pub dag_id: String,
    /// The version key: Airflow 2 `dag_hash`, Airflow 3 `dag_version_id`.
    pub dag_version: String,
    /// `dag_hash` or `dag_version_id`.
    pub version_kind: &'static str,
    /// `serialized_dag.last_updated`.
    pub updated_at: Option<DateTime<Utc>>,
    pub graph: crate::critical_path::graph::Graph,
}

/// What pipewatch read at earlier readings, so a source reads again only what changed.
///
/// Timetables: what each DAG's timetable facts were read from, the serialized DAG's `dag_hash`
/// (database) or the schedule text (REST API). A source reads the timetable again only for
/// DAGs whose key changed, which keeps a reading of 10,000 unchanged DAGs from parsing 10,000
/// serialized DAGs (or asking for 10,000 DAG details). Graphs: the DAG versions whose task
/// graph is kept (`dag_graph_version`); only other versions' serialized DAGs are read.
#[derive(Debug, Clone, Default)]
pub struct KnownKeys {
    /// The DAGs' ids.
    pub dag_ids: Vec<String>,
    /// Their timetable keys, in the same order.
    pub keys: Vec<String>,
    /// Whether to read task graphs at all (`[extract] task_instances`: a graph serves the
    /// critical paths of task tries).
    pub read_graphs: bool,
    /// The DAG ids of the graph versions kept.
    pub graph_dag_ids: Vec<String>,
    /// Their versions, in the same order.
    pub graph_versions: Vec<String>,
}

impl KnownKeys {
    /// Each DAG's key, by DAG id.
    pub fn by_dag(&self) -> std::collections::HashMap<&str, &str> {
        self.dag_ids
            .iter()
            .map(String::as_str)
            .zip(self.keys.iter().map(String::as_str))
            .collect()
    }
}

/// Checks the source's clock (`clock`, read as `source_now`) against this machine's: every row
/// an extract stages carries it as its read time, and the watermark moves by it, so a clock far
/// ahead would make every later read look older than the stored one.
pub(crate) fn check_clock(
    instance: &str,
    clock: &'static str,
    source_now: DateTime<Utc>,
    limit: u64,
) -> Result<(), SourceError> {
    let local_now = Utc::now();
    let skew = (source_now - local_now).num_milliseconds() as f64 / 1000.0;
    if skew.abs() <= limit as f64 {
        return Ok(());
    }
    Err(SourceError::ClockSkew {
        instance: instance.to_string(),
        clock,
        source_now,
        local_now,
        skew: crate::format::duration(skew.abs()),
        direction: if skew > 0.0 { "ahead of" } else { "behind" },
        limit,
    })
}

/// One configured source of DAG runs.
#[derive(Debug, Clone)]
pub enum Source<'a> {
    /// An Airflow metadata database on PostgreSQL.
    AirflowDb(airflow_db::AirflowDb<'a>),
    /// Airflow's REST API.
    AirflowApi(airflow_api::AirflowApi<'a>),
}

impl<'a> Source<'a> {
    /// The source configured by `settings`; connects to nothing yet.
    pub fn new(settings: SourceSettings<'a>) -> Self {
        match settings {
            SourceSettings::Database(s) => Source::AirflowDb(airflow_db::AirflowDb::new(s)),
            SourceSettings::Api(s) => Source::AirflowApi(airflow_api::AirflowApi::new(s)),
        }
    }

    /// The instance name recorded in every row from this source.
    pub fn instance(&self) -> &str {
        match self {
            Source::AirflowDb(s) => s.instance(),
            Source::AirflowApi(s) => s.instance(),
        }
    }

    /// Whether this source names runs by Airflow's `dag_run.id` (the database does; the REST
    /// API does not expose it).
    pub fn reads_by_id(&self) -> bool {
        matches!(self, Source::AirflowDb(_))
    }

    /// Whether this source writes its objects one after the other, each whole before the next
    /// (the database does; the REST API interleaves runs and their task instances): then a
    /// load can read them while they are extracted.
    pub fn writes_objects_in_turn(&self) -> bool {
        matches!(self, Source::AirflowDb(_))
    }

    /// Whether reconcile can compare this source's task tries (the REST API's are not
    /// compared yet: it would take one request per retried task instance of the window).
    pub fn compares_task_tries(&self) -> bool {
        matches!(self, Source::AirflowDb(_))
    }

    /// Reads the runs `plan` selects into `sinks.dag_runs` and, when `sinks.task_instances` is
    /// given, every try of their task instances into it, all in one consistent snapshot.
    pub async fn extract(
        &self,
        plan: &ExtractPlan<'_>,
        sinks: &mut ExtractSinks<'_>,
        ctx: &RunContext,
    ) -> Result<SourceExtract, SourceError> {
        match self {
            Source::AirflowDb(s) => s.extract(plan, sinks, ctx).await,
            Source::AirflowApi(s) => s.extract(plan, sinks, ctx).await,
        }
    }

    /// Finished (`success`/`failed`) runs per day of `window` in `time_zone`, with a digest
    /// of what they are, counting only runs the source last changed at or before
    /// `changed_until` (for reconcile).
    pub async fn finished_runs_per_day(
        &self,
        time_zone: &str,
        window: &DayBounds,
        changed_until: DateTime<Utc>,
        ctx: &RunContext,
    ) -> Result<BTreeMap<NaiveDate, DayDigest>, SourceError> {
        match self {
            Source::AirflowDb(s) => {
                s.finished_runs_per_day(time_zone, window.first, window.last(), changed_until, ctx)
                    .await
            }
            Source::AirflowApi(s) => s.finished_runs_per_day(window, changed_until).await,
        }
    }

    /// Every run of `days` (finished or not; days of `window`), with when the source last
    /// changed it (an API source only tells whether that was after `changed_until`), for
    /// reconcile to name the runs of the days that differ.
    pub async fn runs_on_days(
        &self,
        time_zone: &str,
        window: &DayBounds,
        days: &[NaiveDate],
        changed_until: DateTime<Utc>,
        ctx: &RunContext,
    ) -> Result<Vec<RunFacts>, SourceError> {
        match self {
            Source::AirflowDb(s) => s.runs_on_days(time_zone, days, ctx).await,
            Source::AirflowApi(s) => s.runs_on_days(window, days, changed_until).await,
        }
    }

    /// Finished task tries per day of `from..=to` (the day of their DAG run) and the tries
    /// Airflow itself did not keep, for reconcile; None when the source keeps only current
    /// tries (nothing comparable).
    pub async fn task_tries_per_day(
        &self,
        time_zone: &str,
        from: NaiveDate,
        to: NaiveDate,
        changed_until: DateTime<Utc>,
        ctx: &RunContext,
    ) -> Result<Option<TaskTryCounts>, SourceError> {
        match self {
            Source::AirflowDb(s) => {
                s.task_tries_per_day(time_zone, from, to, changed_until, ctx)
                    .await
            }
            Source::AirflowApi(_) => Ok(None),
        }
    }

    /// Reads the DAG catalogue: every DAG with its tags, the current import errors and the
    /// scheduler's health (in one snapshot from the database; three lists from the REST API).
    pub async fn read_catalog(
        &self,
        max_clock_skew_seconds: u64,
        known: &KnownKeys,
        ctx: &RunContext,
    ) -> Result<CatalogSnapshot, SourceError> {
        match self {
            Source::AirflowDb(s) => s.read_catalog(max_clock_skew_seconds, known, ctx).await,
            Source::AirflowApi(s) => s.read_catalog(max_clock_skew_seconds, known).await,
        }
    }

    /// Whether the DAG catalogue can be read (its tables there and readable), for
    /// `check-config`: a phrase to add to the source's line.
    pub async fn check_catalog(&self, ctx: &RunContext) -> Result<String, SourceError> {
        match self {
            Source::AirflowDb(s) => s.check_catalog(ctx).await,
            Source::AirflowApi(s) => s.check_catalog().await,
        }
    }

    /// Connects and reads what the source is (and, when `extract_tasks`, which task tries it
    /// keeps), for `check-config`: one line.
    pub async fn check(
        &self,
        extract_tasks: bool,
        ctx: &RunContext,
    ) -> Result<String, SourceError> {
        match self {
            Source::AirflowDb(s) => s.check(extract_tasks, ctx).await,
            Source::AirflowApi(s) => s.check(extract_tasks).await,
        }
    }
}

/// The objects one extract writes: its DAG runs and, when task instances are extracted, their
/// tries.
pub struct ExtractSinks<'a> {
    /// The DAG runs.
    pub dag_runs: ExtractSink<'a>,
    /// The task tries of those runs; None when `[extract] task_instances = false`.
    pub task_instances: Option<ExtractSink<'a>>,
}

/// Where a source writes one kind of rows: one new object in the stage, named
/// `<kind>/<instance>/<source date>/<run id>.csv` (kind `dag_run` or `task_instance`) once the
/// source's clock is known, counting the CSV records and bytes that pass.
pub struct ExtractSink<'a> {
    store: &'a ObjectStore,
    kind: ObjectKind,
    instance: &'a str,
    run_id: Uuid,
    object: Option<(String, ObjectWriter)>,
    counter: CsvRecordCounter,
    bytes: i64,
    feed: Option<Feed>,
}

/// Where a sink also sends what it writes: a load reading the object as it is extracted.
struct Feed {
    sender: tokio::sync::mpsc::Sender<Bytes>,
    buffer: BytesMut,
}

/// Bytes a feed gathers before it sends them (a source writes a row at a time).
const FEED_CHUNK: usize = 256 * 1024;

impl Feed {
    /// Sends what the feed gathered; false when the load went away (not the extract's failure:
    /// the object is loaded from the stage).
    async fn send_gathered(&mut self) -> bool {
        self.sender.send(self.buffer.split().freeze()).await.is_ok()
    }
}

impl<'a> ExtractSink<'a> {
    /// A sink for `instance`'s extract of `kind` by the invocation `run_id`; nothing is
    /// created yet.
    pub fn new(store: &'a ObjectStore, kind: ObjectKind, instance: &'a str, run_id: Uuid) -> Self {
        ExtractSink {
            store,
            kind,
            instance,
            run_id,
            object: None,
            counter: CsvRecordCounter::default(),
            bytes: 0,
            feed: None,
        }
    }

    /// With a `sender`, also sends every byte written to it, for a load that reads the object
    /// while it is extracted. If the load goes away, the extract goes on without it.
    pub fn feeding(mut self, sender: Option<tokio::sync::mpsc::Sender<Bytes>>) -> Self {
        self.feed = sender.map(|sender| Feed {
            sender,
            buffer: BytesMut::with_capacity(FEED_CHUNK),
        });
        self
    }

    /// Sends what the feed gathered and ends it: the source has written all its rows. Called by
    /// sources that write their objects one after the other; [`Self::finish`] does it too.
    pub async fn close_feed(&mut self) {
        if let Some(mut feed) = self.feed.take()
            && !feed.buffer.is_empty()
        {
            feed.send_gathered().await;
        }
    }

    /// Creates the object, dated by the source's clock. Called once, before [`Self::write`].
    pub async fn open(&mut self, source_now: DateTime<Utc>) -> Result<(), StageError> {
        let key = format!(
            "{}/{}/{}/{}.csv",
            self.kind.prefix(),
            self.instance,
            source_now.format("%Y-%m-%d"),
            self.run_id
        );
        let writer = self.store.create(&key).await?;
        self.object = Some((key, writer));
        Ok(())
    }

    /// Appends CSV bytes (the header first).
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), StageError> {
        let (_, writer) = self
            .object
            .as_mut()
            .expect("ExtractSink::open is called before write");
        self.counter.feed(chunk);
        self.bytes += chunk.len() as i64;
        writer.write(chunk).await?;
        if let Some(feed) = self.feed.as_mut() {
            feed.buffer.extend_from_slice(chunk);
            if feed.buffer.len() >= FEED_CHUNK && !feed.send_gathered().await {
                self.feed = None;
            }
        }
        Ok(())
    }

    /// Makes the object durable and visible; returns its key, data rows (the header excluded)
    /// and bytes.
    pub async fn finish(mut self) -> Result<(String, i64, i64), StageError> {
        self.close_feed().await;
        let (key, writer) = self
            .object
            .expect("a source opens its sink before it succeeds");
        writer.finish().await?;
        let rows = self.counter.records().saturating_sub(1) as i64;
        Ok((key, rows, self.bytes))
    }

    /// Discards a partly written object (nothing is left in the stage).
    pub async fn abort(self) {
        if let Some((_, writer)) = self.object {
            writer.abort().await;
        }
    }
}

/// Counts CSV records in a byte stream without parsing fields: a newline ends a record unless
/// it is inside a quoted field (a doubled quote inside quotes toggles twice, so it is neutral).
#[derive(Debug, Default)]
pub struct CsvRecordCounter {
    in_quotes: bool,
    records: u64,
    pending: bool,
}

impl CsvRecordCounter {
    /// Feeds the next bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => {
                    self.records += 1;
                    self.pending = false;
                    continue;
                }
                _ => {}
            }
            self.pending = true;
        }
    }

    /// Records seen so far (a last record without a final newline counts).
    pub fn records(&self) -> u64 {
        self.records + u64::from(self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_beyond_the_allowed_skew_is_refused_either_way() {
        let now = Utc::now();
        assert!(check_clock("a", "the clock", now + chrono::Duration::seconds(200), 300).is_ok());
        let ahead = check_clock("a", "the clock", now + chrono::Duration::hours(3), 300)
            .unwrap_err()
            .to_string();
        assert!(
            ahead.contains("the clock reads") && ahead.contains("3.0 h ahead of this machine's"),
            "{ahead}"
        );
        let behind = check_clock("a", "the clock", now - chrono::Duration::seconds(400), 300)
            .unwrap_err()
            .to_string();
        assert!(behind.contains("6.7 min behind this machine's"), "{behind}");
    }

    #[test]
    fn counts_records_with_quoted_newlines_split_across_chunks() {
        let mut c = CsvRecordCounter::default();
        c.feed(b"a,b\n\"x\ny\",\"q\"\"");
        c.feed(b"\n\"\n\",\"z\"\n");
        assert_eq!(c.records(), 3);
        let mut c = CsvRecordCounter::default();
        c.feed(b"h\n1");
        assert_eq!(c.records(), 2);
    }

    #[test]
    fn day_bounds_place_instants_on_their_days() {
        let t = |s: &str| s.parse::<DateTime<Utc>>().unwrap();
        let first = NaiveDate::from_ymd_opt(2024, 3, 30).unwrap();
        // Europe/Berlin around the switch to summer time (a 23-hour day).
        let bounds = DayBounds {
            first,
            starts: vec![
                t("2024-03-29T23:00:00Z"),
                t("2024-03-30T23:00:00Z"),
                t("2024-03-31T22:00:00Z"),
            ],
        };
        assert_eq!(bounds.last(), NaiveDate::from_ymd_opt(2024, 3, 31).unwrap());
        assert_eq!(bounds.day_of(t("2024-03-29T22:59:59Z")), None);
        assert_eq!(bounds.day_of(t("2024-03-29T23:00:00Z")), Some(first));
        assert_eq!(
            bounds.day_of(t("2024-03-31T21:59:59Z")),
            Some(bounds.last())
        );
        assert_eq!(bounds.day_of(t("2024-03-31T22:00:00Z")), None);
    }

    #[test]
    fn extract_modes_round_trip_through_their_stored_names() {
        for mode in [
            ExtractMode::Incremental,
            ExtractMode::Full,
            ExtractMode::Window,
        ] {
            assert_eq!(ExtractMode::parse(mode.as_str()), Some(mode));
        }
        assert_eq!(ExtractMode::parse("partial"), None);
    }
}
