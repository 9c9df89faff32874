//! Metrics for Prometheus: pipewatch's own health and a bounded set of per-DAG figures, read
//! from the warehouse and written in Prometheus' text format (0.0.4, which node_exporter's
//! textfile collector, the Pushgateway and `promtool check metrics` read).
//!
//! [`collect`] reads everything from the warehouse (the run log, the instances' watermarks and
//! stage, the open alerts, the daily models and the catalogue), so the figures are the same
//! whichever command or host publishes them and a failed command never moves a last-success
//! gauge. [`publish`] runs after every command that changes them: it writes
//! `<textfile_directory>/pipewatch.prom` through a temporary file renamed over it (a reader never
//! sees half a file) and push-adds to the Pushgateway, one group per Airflow instance
//! (`job="pipewatch", instance="<name>"`) and one for pipewatch itself (`job="pipewatch"`).
//! Publishing never changes the command's outcome: what fails is one warning naming the path or
//! the URL (credentials redacted). Its two warehouse sessions open while the command works
//! ([`Early`]), with their statements prepared, so that publishing adds only the reads (about
//! 40 ms at 10,000 DAGs with `max_dags = 500`: `scripts/bench metrics`).
//!
//! Every family is listed once in [`FAMILIES`], with its help text; the README's table and the
//! tests read it.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use prometheus::{Encoder, TextEncoder};
use tokio_postgres::{Client, Statement};

use crate::config::{PostgresSettings, PrometheusSettings, Secret, Settings};
use crate::context::RunContext;
use crate::db;
use crate::migrate;

const COMMANDS_SQL: &str = include_str!("../sql/metrics/commands.sql");
const STAGES_SQL: &str = include_str!("../sql/metrics/stages.sql");
const OPEN_ALERTS_SQL: &str = include_str!("../sql/metrics/open_alerts.sql");
const DAGS_SQL: &str = include_str!("../sql/metrics/dags.sql");
const DAG_FIGURES_SQL: &str = include_str!("../sql/metrics/dag_figures.sql");
const SESSION_SQL: &str = include_str!("../sql/metrics/session.sql");

/// The file written in `textfile_directory`.
pub const TEXTFILE_NAME: &str = "pipewatch.prom";

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

/// One metric family: its name (units last, as Prometheus' conventions ask), help text and
/// label names. All are gauges.
#[derive(Debug)]
pub struct Family {
    /// The metric name.
    pub name: &'static str,
    /// Its HELP text.
    pub help: &'static str,
    /// Its label names.
    pub labels: &'static [&'static str],
    /// Whether it is a last-success figure of pipewatch itself: pushed only after a command
    /// that succeeded, so a failure leaves the Pushgateway's value as it was.
    pub last_success: bool,
}

const fn family(
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    last_success: bool,
) -> Family {
    Family {
        name,
        help,
        labels,
        last_success,
    }
}

const COMMAND: &[&str] = &["command"];
const STAGE: &[&str] = &["command", "stage", "airflow_instance"];
const STAGE_ROWS: &[&str] = &["command", "stage", "airflow_instance", "table"];
const INSTANCE: &[&str] = &["airflow_instance"];
const DAG: &[&str] = &["airflow_instance", "dag_id"];

/// Index of each family in [`FAMILIES`].
mod f {
    pub const COMMAND_SUCCESS_AT: usize = 0;
    pub const COMMAND_SUCCESS_SECONDS: usize = 1;
    pub const COMMAND_FAILURE_AT: usize = 2;
    pub const STAGE_SUCCESS_AT: usize = 3;
    pub const STAGE_SUCCESS_SECONDS: usize = 4;
    pub const STAGE_ROWS_READ: usize = 5;
    pub const STAGE_ROWS_WRITTEN: usize = 6;
    pub const INSTANCE_LOADED_AT: usize = 7;
    pub const INSTANCE_LAG: usize = 8;
    pub const INSTANCE_PENDING: usize = 9;
    pub const INSTANCE_SET_ASIDE: usize = 10;
    pub const INSTANCE_PENDING_DAYS: usize = 11;
    pub const OPEN_ALERTS: usize = 12;
    pub const DAG_SUCCESS_AT: usize = 13;
    pub const DAG_SUCCESS_RATIO: usize = 14;
    pub const DAG_RUNTIME_P95: usize = 15;
    pub const DAG_RUNNING: usize = 16;
    pub const DAG_OPEN_ALERTS: usize = 17;
    pub const DAG_STATUS: usize = 18;
    pub const DAGS_EXPORTED: usize = 19;
}

/// Every family pipewatch exports.
pub const FAMILIES: &[Family] = &[
    family(
        "pipewatch_command_last_success_timestamp_seconds",
        "When the last invocation of the command in which every stage succeeded ended (Unix time).",
        COMMAND,
        true,
    ),
    family(
        "pipewatch_command_last_success_duration_seconds",
        "How long that last successful invocation of the command took.",
        COMMAND,
        true,
    ),
    family(
        "pipewatch_command_last_failure_timestamp_seconds",
        "When the last invocation of the command with a failed or abandoned stage ended (Unix time).",
        COMMAND,
        false,
    ),
    family(
        "pipewatch_stage_last_success_timestamp_seconds",
        "When the stage last succeeded in the command, per Airflow instance where it works per instance (Unix time).",
        STAGE,
        true,
    ),
    family(
        "pipewatch_stage_last_success_duration_seconds",
        "How long that last successful run of the stage took.",
        STAGE,
        true,
    ),
    family(
        "pipewatch_stage_last_success_rows_read",
        "Rows that last successful run of the stage read (table dag_run: DAG runs; task_instance: task tries).",
        STAGE_ROWS,
        true,
    ),
    family(
        "pipewatch_stage_last_success_rows_written",
        "Rows that last successful run of the stage inserted or updated (table dag_run: DAG runs; task_instance: task tries).",
        STAGE_ROWS,
        true,
    ),
    family(
        "pipewatch_instance_last_load_timestamp_seconds",
        "When an extract of the Airflow instance was last loaded into the warehouse (Unix time).",
        INSTANCE,
        false,
    ),
    family(
        "pipewatch_instance_lag_seconds",
        "How far the warehouse is behind the Airflow instance: now less Airflow's clock when the newest loaded extract read it.",
        INSTANCE,
        false,
    ),
    family(
        "pipewatch_instance_pending_extracts",
        "Extracts of the Airflow instance staged and waiting to be loaded.",
        INSTANCE,
        false,
    ),
    family(
        "pipewatch_instance_set_aside_extracts",
        "Extracts of the Airflow instance a load set aside, waiting for an operator (pipewatch status says which).",
        INSTANCE,
        false,
    ),
    family(
        "pipewatch_instance_pending_dates",
        "Calendar dates of the Airflow instance queued for the next transform to recompute.",
        INSTANCE,
        false,
    ),
    family(
        "pipewatch_open_alerts",
        "Alerts open now, per Airflow instance and rule (0 for every rule with none open).",
        &["airflow_instance", "rule"],
        false,
    ),
    family(
        "pipewatch_dag_last_success_timestamp_seconds",
        "When the DAG's successful run that started last ended (Unix time).",
        DAG,
        false,
    ),
    family(
        "pipewatch_dag_7d_success_ratio",
        "Successful over finished runs of the DAG whose day is one of the last 7 (reporting time zone), 0 to 1; absent when none finished.",
        DAG,
        false,
    ),
    family(
        "pipewatch_dag_7d_runtime_p95_seconds",
        "95th percentile runtime (end - start, interpolated) of the DAG's successful runs that started in the last 7 days.",
        DAG,
        false,
    ),
    family(
        "pipewatch_dag_running_runs",
        "The DAG's runs in state running at the last extract.",
        DAG,
        false,
    ),
    family(
        "pipewatch_dag_open_alerts",
        "Alerts open now about the DAG.",
        DAG,
        false,
    ),
    family(
        "pipewatch_dag_status",
        "1 for the DAG's status at the last catalogue reading (on_schedule, overdue, blocked, paused, stale, import_error, scheduler_down, unscheduled).",
        &["airflow_instance", "dag_id", "status"],
        false,
    ),
    family(
        "pipewatch_dags_exported",
        "DAGs with per-DAG series in this exposition, at most [prometheus] max_dags (the worst first).",
        &[],
        false,
    ),
];

/// One value of one family.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    family: usize,
    labels: Vec<String>,
    value: f64,
}

/// What was read: every sample, ready to be written as text for a file, a push or standard
/// output.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    samples: Vec<Sample>,
}

impl Metrics {
    fn push(&mut self, family: usize, labels: &[&str], value: f64) {
        debug_assert_eq!(labels.len(), FAMILIES[family].labels.len());
        self.samples.push(Sample {
            family,
            labels: labels.iter().map(|l| l.to_string()).collect(),
            value,
        });
    }

    fn push_opt(&mut self, family: usize, labels: &[&str], value: Option<f64>) {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            self.push(family, labels, v);
        }
    }

    /// Every sample in the text format.
    pub fn text(&self) -> String {
        encode(self.samples.iter())
    }

    /// The Pushgateway groups: the Airflow instance each sample is about ("" for pipewatch's
    /// own, not per instance), with its text. Without `with_last_success`, the last-success
    /// families are left out.
    fn groups(&self, with_last_success: bool) -> BTreeMap<String, String> {
        let mut by_group: BTreeMap<String, Vec<&Sample>> = BTreeMap::new();
        for s in &self.samples {
            let spec = &FAMILIES[s.family];
            if spec.last_success && !with_last_success {
                continue;
            }
            let instance = spec
                .labels
                .iter()
                .position(|l| *l == "airflow_instance")
                .map_or("", |i| s.labels[i].as_str());
            by_group.entry(instance.to_string()).or_default().push(s);
        }
        by_group
            .into_iter()
            .map(|(group, samples)| (group, encode(samples.into_iter())))
            .collect()
    }
}

/// The samples in Prometheus' text format, by the prometheus crate's encoder (HELP and TYPE
/// lines, label escaping), families sorted by name. The families are built directly, not through
/// a registry of gauges: that hashed every label set and cost 6 to 12 ms for 3,000 samples.
fn encode<'a>(samples: impl Iterator<Item = &'a Sample>) -> String {
    use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
    let mut families: BTreeMap<&'static str, MetricFamily> = BTreeMap::new();
    for s in samples {
        let spec = &FAMILIES[s.family];
        let family = families.entry(spec.name).or_insert_with(|| {
            let mut family = MetricFamily::default();
            family.set_name(spec.name.to_string());
            family.set_help(spec.help.to_string());
            family.set_field_type(MetricType::GAUGE);
            family
        });
        let mut metric = Metric::default();
        metric.set_label(
            spec.labels
                .iter()
                .zip(&s.labels)
                .map(|(name, value)| {
                    let mut pair = LabelPair::default();
                    pair.set_name(name.to_string());
                    pair.set_value(value.clone());
                    pair
                })
                .collect(),
        );
        let mut gauge = Gauge::default();
        gauge.set_value(s.value);
        metric.set_gauge(gauge);
        family.mut_metric().push(metric);
    }
    let families: Vec<MetricFamily> = families.into_values().collect();
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut out)
        .expect("encoding into memory cannot fail");
    String::from_utf8(out).expect("the text format is UTF-8")
}

fn sql_error(step: &'static str) -> impl FnOnce(tokio_postgres::Error) -> MetricsError {
    move |e| MetricsError::Sql {
        step,
        source: e.into(),
    }
}

fn unix(t: Option<DateTime<Utc>>) -> Option<f64> {
    t.map(|t| t.timestamp_millis() as f64 / 1000.0)
}

/// Two sessions on the warehouse: the per-DAG figures are read half on each, so that both
/// cores of the database server work on them. Opening a session costs about 10 ms on a small
/// server and a fresh backend plans and caches its first queries slowly, so a command that
/// publishes opens them while it works ([`Early`]) and publishing adds only the reads.
pub struct Sessions {
    first: Client,
    second: Client,
    /// The ranking and figures statements, prepared on each session (None where preparing
    /// failed, for example before the first migration: then sent as text).
    ranking: Option<Statement>,
    figures: [Option<Statement>; 2],
}

impl Sessions {
    /// Opens both sessions at once, with the session settings and the statements prepared.
    async fn connect(
        warehouse: &PostgresSettings,
        run_id: uuid::Uuid,
    ) -> Result<Sessions, MetricsError> {
        let (first, second) = tokio::join!(
            db::connect(warehouse, db::Role::Warehouse, run_id),
            db::connect(warehouse, db::Role::Warehouse, run_id)
        );
        let (first, second) = (
            first.map_err(migrate::MigrateError::from)?,
            second.map_err(migrate::MigrateError::from)?,
        );
        let (a, b) = tokio::join!(
            first.batch_execute(SESSION_SQL),
            second.batch_execute(SESSION_SQL)
        );
        a.and(b).map_err(sql_error("set up the session"))?;
        let (ranking, figures_a, figures_b) = tokio::join!(
            first.prepare(DAGS_SQL),
            first.prepare(DAG_FIGURES_SQL),
            second.prepare(DAG_FIGURES_SQL)
        );
        let sessions = Sessions {
            ranking: ranking.ok(),
            figures: [figures_a.ok(), figures_b.ok()],
            first,
            second,
        };
        // Once with no DAG: a fresh backend's first run of a statement loads the caches it
        // needs (functions, operators, the view's parts); better now than while publishing.
        let _ = tokio::join!(
            read_figures(&sessions.first, sessions.figures[0].as_ref(), &[]),
            read_figures(&sessions.second, sessions.figures[1].as_ref(), &[])
        );
        Ok(sessions)
    }

    /// Opens both sessions now and checks that the schema is current (`pipewatch metrics`).
    pub async fn open(settings: &Settings, ctx: &RunContext) -> Result<Sessions, MetricsError> {
        let sessions = Sessions::connect(&settings.warehouse, ctx.run_id).await?;
        sessions.check_schema(&settings.warehouse).await?;
        Ok(sessions)
    }

    /// The schema must exist and be current (a missing one is named, never created).
    async fn check_schema(&self, warehouse: &PostgresSettings) -> Result<(), MetricsError> {
        let status = migrate::status(&self.second, &warehouse.schema).await?;
        Ok(migrate::require_current(&status, warehouse)?)
    }

    fn alive(&self) -> bool {
        !self.first.is_closed() && !self.second.is_closed()
    }
}

/// The metrics' sessions, opened while a command runs (the caller polls [`Early::open`]
/// together with the command), when `[prometheus]` publishes and the command is one that
/// publishes.
pub struct Early(Option<Result<Sessions, MetricsError>>);

impl Early {
    /// Opens the sessions, or does nothing when nothing will be published.
    pub async fn open(settings: &Settings, ctx: &RunContext, command_publishes: bool) -> Early {
        if !(command_publishes && settings.prometheus.publishes()) {
            return Early(None);
        }
        Early(Some(connect_once(settings, ctx).await))
    }

    /// The sessions, if they opened and are still open; else opened now.
    async fn sessions(
        self,
        settings: &Settings,
        ctx: &RunContext,
    ) -> Result<Sessions, MetricsError> {
        match self.0 {
            Some(Ok(sessions)) if sessions.alive() => Ok(sessions),
            _ => connect_once(settings, ctx).await,
        }
    }
}

/// The sessions, each connection tried once: publishing must not hold up a command that failed
/// because the warehouse is away.
async fn connect_once(settings: &Settings, ctx: &RunContext) -> Result<Sessions, MetricsError> {
    let mut warehouse = settings.warehouse.clone();
    warehouse.retry.attempts = 1;
    Sessions::connect(&warehouse, ctx.run_id).await
}

/// Reads every figure from the warehouse.
pub async fn collect(
    sessions: &Sessions,
    settings: &PrometheusSettings,
    time_zone: &str,
) -> Result<Metrics, MetricsError> {
    let client = &sessions.first;
    let max_dags = i64::try_from(settings.max_dags).unwrap_or(i64::MAX);
    let dag_params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] = [&max_dags, &time_zone];
    // The reads share nothing: pipelined on one connection.
    let (commands, stages, alerts, dags, instances) = tokio::join!(
        client.query(COMMANDS_SQL, &[]),
        client.query(STAGES_SQL, &[]),
        client.query(OPEN_ALERTS_SQL, &[]),
        async {
            match &sessions.ranking {
                Some(statement) => client.query(statement, &dag_params).await,
                None => client.query(DAGS_SQL, &dag_params).await,
            }
        },
        crate::commands::status::read_instances(client),
    );
    let dags = dags.map_err(sql_error("rank the DAGs"))?;
    let ranked: Vec<(String, String)> = dags
        .iter()
        .map(|r| (r.get("airflow_instance"), r.get("dag_id")))
        .collect();
    let ranked_at = std::time::Instant::now();
    let figures = dag_figures(sessions, &ranked).await?;
    tracing::debug!(
        dags = ranked.len(),
        figures_seconds = ranked_at.elapsed().as_secs_f64(),
        "Read the DAGs' figures."
    );
    let mut m = Metrics::default();
    for r in commands.map_err(sql_error("read the commands from pipewatch_run_log"))? {
        let command: String = r.get("command");
        let c = [command.as_str()];
        m.push_opt(f::COMMAND_SUCCESS_AT, &c, unix(r.get("last_success_at")));
        m.push_opt(
            f::COMMAND_SUCCESS_SECONDS,
            &c,
            r.get("last_success_seconds"),
        );
        m.push_opt(f::COMMAND_FAILURE_AT, &c, unix(r.get("last_failure_at")));
    }
    for r in stages.map_err(sql_error("read the stages from pipewatch_run_log"))? {
        let (command, stage, instance): (String, String, String) =
            (r.get("command"), r.get("stage"), r.get("airflow_instance"));
        let s = [command.as_str(), stage.as_str(), instance.as_str()];
        m.push_opt(f::STAGE_SUCCESS_AT, &s, unix(r.get("ended_at")));
        m.push_opt(f::STAGE_SUCCESS_SECONDS, &s, r.get("duration_seconds"));
        for (table, read, written) in [
            ("dag_run", "rows_read", "rows_written"),
            ("task_instance", "task_rows_read", "task_rows_written"),
        ] {
            let labels = [s[0], s[1], s[2], table];
            let count = |column: &str| r.get::<_, Option<i64>>(column).map(|n| n as f64);
            m.push_opt(f::STAGE_ROWS_READ, &labels, count(read));
            m.push_opt(f::STAGE_ROWS_WRITTEN, &labels, count(written));
        }
    }
    let now = Utc::now();
    let instances = instances.map_err(sql_error(
        "read the Airflow instances' watermarks and extracts",
    ))?;
    // Every rule of every instance, 0 when none is open: a family that vanished from a push
    // would keep its last values in the Pushgateway (push-add replaces only what it sends).
    let mut open: BTreeMap<(String, String), i64> = instances
        .iter()
        .flat_map(|i| {
            crate::alerts::rules::ALL
                .iter()
                .map(|rule| ((i.airflow_instance.clone(), rule.name().to_string()), 0))
        })
        .collect();
    for i in &instances {
        let n = [i.airflow_instance.as_str()];
        m.push_opt(f::INSTANCE_LOADED_AT, &n, unix(i.last_loaded_at));
        m.push_opt(
            f::INSTANCE_LAG,
            &n,
            i.last_source_read_at
                .map(|t| (now - t).num_milliseconds() as f64 / 1000.0),
        );
        m.push(f::INSTANCE_PENDING, &n, i.pending_extracts as f64);
        m.push(f::INSTANCE_SET_ASIDE, &n, i.set_aside_extracts.len() as f64);
        m.push(f::INSTANCE_PENDING_DAYS, &n, i.pending_days as f64);
    }
    for r in alerts.map_err(sql_error("read the open alerts from alert_history"))? {
        open.insert(
            (r.get("airflow_instance"), r.get("rule")),
            r.get("open_alerts"),
        );
    }
    for ((instance, rule), count) in &open {
        m.push(f::OPEN_ALERTS, &[instance, rule], *count as f64);
    }
    for (r, figure) in dags.iter().zip(&figures) {
        let (instance, dag_id): (String, String) = (r.get("airflow_instance"), r.get("dag_id"));
        debug_assert_eq!((&instance, &dag_id), (&figure.0, &figure.1));
        let d = [instance.as_str(), dag_id.as_str()];
        let f = &figure.2;
        m.push_opt(f::DAG_SUCCESS_AT, &d, unix(f.get("last_success_end")));
        m.push_opt(f::DAG_SUCCESS_RATIO, &d, r.get("success_ratio_7d"));
        m.push_opt(f::DAG_RUNTIME_P95, &d, f.get("runtime_p95_7d_seconds"));
        m.push(f::DAG_RUNNING, &d, f.get::<_, i64>("running_runs") as f64);
        m.push(
            f::DAG_OPEN_ALERTS,
            &d,
            r.get::<_, i64>("open_alerts") as f64,
        );
        if let Some(status) = f.get::<_, Option<String>>("status") {
            m.push(f::DAG_STATUS, &[d[0], d[1], &status], 1.0);
        }
    }
    m.push(f::DAGS_EXPORTED, &[], dags.len() as f64);
    Ok(m)
}

/// The figures of the `ranked` DAGs, in their order: the first half read on one session, the
/// second on the other, at once.
async fn dag_figures(
    sessions: &Sessions,
    ranked: &[(String, String)],
) -> Result<Vec<(String, String, tokio_postgres::Row)>, MetricsError> {
    let (a, b) = ranked.split_at(ranked.len() / 2);
    let (first, second) = tokio::join!(
        read_figures(&sessions.first, sessions.figures[0].as_ref(), a),
        read_figures(&sessions.second, sessions.figures[1].as_ref(), b)
    );
    let mut by_dag: BTreeMap<(String, String), tokio_postgres::Row> = BTreeMap::new();
    for row in first
        .map_err(sql_error("read the DAGs' figures"))?
        .into_iter()
        .chain(second.map_err(sql_error("read the DAGs' figures"))?)
    {
        by_dag.insert((row.get("airflow_instance"), row.get("dag_id")), row);
    }
    Ok(ranked
        .iter()
        .filter_map(|key| {
            by_dag
                .remove(key)
                .map(|row| (key.0.clone(), key.1.clone(), row))
        })
        .collect())
}

async fn read_figures(
    client: &Client,
    prepared: Option<&Statement>,
    part: &[(String, String)],
) -> Result<Vec<tokio_postgres::Row>, tokio_postgres::Error> {
    let instances: Vec<&str> = part.iter().map(|(i, _)| i.as_str()).collect();
    let dag_ids: Vec<&str> = part.iter().map(|(_, d)| d.as_str()).collect();
    match prepared {
        Some(statement) => client.query(statement, &[&instances, &dag_ids]).await,
        None => client.query(DAG_FIGURES_SQL, &[&instances, &dag_ids]).await,
    }
}

/// Reads the metrics on the sessions `early` opened (or opens them now), checking the schema
/// on the way.
pub async fn read(
    settings: &Settings,
    ctx: &RunContext,
    early: Early,
) -> Result<Metrics, MetricsError> {
    let started = std::time::Instant::now();
    let sessions = early.sessions(settings, ctx).await?;
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "Have the metrics' sessions."
    );
    // The check on the second session, which has nothing to do until the figures.
    let (schema, metrics) = tokio::join!(
        sessions.check_schema(&settings.warehouse),
        collect(&sessions, &settings.prometheus, &settings.time_zone)
    );
    // A schema that is missing or behind explains any failure of the reads: it comes first.
    schema?;
    metrics
}

/// Writes `text` to `directory/pipewatch.prom` whole: into a temporary file in the same
/// directory (a name the textfile collector ignores), then renamed over the file. On failure the temporary file is removed and the old file stays.
pub fn write_textfile(directory: &Path, text: &str) -> Result<PathBuf, MetricsError> {
    let path = directory.join(TEXTFILE_NAME);
    let temporary = directory.join(format!(".{TEXTFILE_NAME}.{}.tmp", std::process::id()));
    // No fsync: the rename makes the new file visible whole; after a crash of the machine the
    // next command writes it again (syncing cost 5 ms a write at 10,000 DAGs).
    let written = (|| {
        let mut file = std::fs::File::create(&temporary)?;
        file.write_all(text.as_bytes())?;
        std::fs::rename(&temporary, &path)
    })();
    written.map_err(|source| {
        let _ = std::fs::remove_file(&temporary);
        MetricsError::Textfile {
            path: path.clone(),
            source,
        }
    })?;
    Ok(path)
}

/// The Pushgateway URL of one group: `<base>/metrics/job/pipewatch[/instance/<name>]`, the
/// instance name in the Pushgateway's base64url form when it is not plain (or is empty).
fn group_url(base: &str, instance: &str) -> String {
    let mut url = format!("{base}/metrics/job/pipewatch");
    if !instance.is_empty() {
        let plain = instance
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if plain {
            let _ = write!(url, "/instance/{instance}");
        } else {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::URL_SAFE.encode(instance);
            let _ = write!(url, "/instance@base64/{encoded}");
        }
    }
    url
}

/// `url` without `user:password@`, for messages.
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "(the configured pushgateway_url)".to_string(),
    }
}

/// The HTTP client for the Pushgateway at `base`, and how its failures are described (the URL
/// without credentials, and what to check).
fn pushgateway_client(
    base: &Secret,
    timeout_seconds: u64,
) -> Result<(reqwest::Client, impl Fn(String) -> MetricsError), MetricsError> {
    let url = shown(base.expose());
    let failed = move |detail: String| MetricsError::Push {
        url: url.clone(),
        detail,
    };
    let client = crate::http::client(crate::http::ClientOptions {
        timeout_seconds,
        ca_file: None,
        verify_tls: true,
    })
    .map_err(|e| failed(e.to_string()))?;
    Ok((client, failed))
}

/// Push-adds every group to the Pushgateway at `base` (POST: the families sent replace the
/// group's families of the same name, the others stay).
pub async fn push(
    base: &Secret,
    timeout_seconds: u64,
    metrics: &Metrics,
    with_last_success: bool,
) -> Result<usize, MetricsError> {
    let (client, failed) = pushgateway_client(base, timeout_seconds)?;
    let groups = metrics.groups(with_last_success);
    for (instance, text) in &groups {
        let request = authorized(
            &client,
            reqwest::Method::POST,
            &group_url(base.expose(), instance),
        )
        .map_err(&failed)?
        .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        .body(text.clone());
        let response = request
            .send()
            .await
            .map_err(|e| failed(db::error_chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let first = body
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(300)
                .collect::<String>();
            return Err(failed(format!(
                "group instance=\"{instance}\" answered {status}{}",
                if first.is_empty() {
                    String::new()
                } else {
                    format!(": {first}")
                }
            )));
        }
    }
    Ok(groups.len())
}

/// For check-config: whether pipewatch may write in `directory` (a probe file written and
/// removed, with the same temporary name the writes use).
pub fn check_textfile(directory: &Path) -> Result<String, MetricsError> {
    let probe = directory.join(format!(".{TEXTFILE_NAME}.{}.tmp", std::process::id()));
    std::fs::write(&probe, b"")
        .and_then(|()| std::fs::remove_file(&probe))
        .map_err(|source| MetricsError::Textfile {
            path: directory.join(TEXTFILE_NAME),
            source,
        })?;
    Ok(format!(
        "{} is writable",
        directory.join(TEXTFILE_NAME).display()
    ))
}

/// For check-config: whether the Pushgateway at `base` answers its readiness probe
/// (`GET /-/ready`), with the configured credentials.
pub async fn check_pushgateway(
    base: &Secret,
    timeout_seconds: u64,
) -> Result<String, MetricsError> {
    let (client, failed) = pushgateway_client(base, timeout_seconds)?;
    let request = authorized(
        &client,
        reqwest::Method::GET,
        &format!("{}/-/ready", base.expose()),
    )
    .map_err(&failed)?;
    let response = request
        .send()
        .await
        .map_err(|e| failed(db::error_chain(&e)))?;
    if !response.status().is_success() {
        return Err(failed(format!("/-/ready answered {}", response.status())));
    }
    Ok(format!(
        "the Pushgateway at {} is ready",
        shown(base.expose())
    ))
}

/// A request to `url` with any `user:password@` of it taken out and sent as basic auth
/// instead (reqwest's messages then name a URL without credentials).
fn authorized(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
) -> Result<reqwest::RequestBuilder, String> {
    let mut url = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let (user, password) = (
        url.username().to_string(),
        url.password().map(str::to_string),
    );
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let request = client.request(method, url);
    Ok(if user.is_empty() && password.is_none() {
        request
    } else {
        request.basic_auth(user, password)
    })
}

/// After a command: reads the metrics and publishes them where `[prometheus]` says, if
/// anywhere. `succeeded` says whether the command succeeded (the last-success families are
/// pushed only then). Every failure is one warning; nothing here changes the command's outcome.
pub async fn publish(settings: &Settings, ctx: &RunContext, succeeded: bool, early: Early) {
    let p = &settings.prometheus;
    if !p.publishes() {
        return;
    }
    let started = std::time::Instant::now();
    let metrics = match read(settings, ctx, early).await {
        Ok(m) => m,
        Err(e) => {
            tracing::warn!(error = %error_chain(&e), "Metrics not published: could not read them from the warehouse.");
            return;
        }
    };
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "Read the metrics."
    );
    if let Some(directory) = &p.textfile_directory {
        match write_textfile(directory, &metrics.text()) {
            Ok(path) => tracing::debug!(path = %path.display(), "Wrote the metrics file."),
            Err(e) => tracing::warn!(error = %error_chain(&e), "Metrics file not written."),
        }
    }
    if let Some(url) = &p.pushgateway_url {
        match push(url, p.pushgateway_timeout_seconds, &metrics, succeeded).await {
            Ok(groups) => tracing::debug!(groups, "Pushed the metrics."),
            Err(e) => tracing::warn!(error = %error_chain(&e), "Metrics not pushed."),
        }
    }
    tracing::debug!(
        seconds = started.elapsed().as_secs_f64(),
        "Published the metrics."
    );
}

fn error_chain(e: &MetricsError) -> String {
    db::error_chain(e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_follow_prometheus_conventions_and_are_unique() {
        let mut names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
        for f in FAMILIES {
            assert!(f.name.starts_with("pipewatch_"), "{}", f.name);
            assert!(
                !f.name.ends_with("_total"),
                "gauges are not counters: {}",
                f.name
            );
            assert!(f.help.ends_with('.') || f.help.ends_with(')'), "{}", f.name);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len());
        // The index constants point at the families they name.
        assert!(FAMILIES[f::DAGS_EXPORTED].name.ends_with("dags_exported"));
        assert!(FAMILIES[f::DAG_STATUS].name.ends_with("dag_status"));
        assert!(FAMILIES[f::OPEN_ALERTS].name.ends_with("_open_alerts"));
        assert!(
            FAMILIES[f::INSTANCE_PENDING_DAYS]
                .name
                .ends_with("pending_dates")
        );
        assert!(
            FAMILIES[f::STAGE_ROWS_WRITTEN]
                .name
                .ends_with("rows_written")
        );
        assert!(FAMILIES[f::COMMAND_FAILURE_AT].name.contains("failure"));
    }

    #[test]
    fn label_values_are_escaped_and_groups_split_by_instance() {
        let mut m = Metrics::default();
        m.push(f::DAG_RUNNING, &["prod", "we\"ird\\dag\nid"], 2.0);
        m.push(f::COMMAND_SUCCESS_AT, &["run"], 1_700_000_000.5);
        m.push(f::STAGE_SUCCESS_AT, &["run", "extract", "prod"], 1.0);
        m.push(f::STAGE_SUCCESS_AT, &["run", "transform", ""], 1.0);
        m.push(f::DAGS_EXPORTED, &[], 1.0);
        let text = m.text();
        assert!(
            text.contains(
                r#"pipewatch_dag_running_runs{airflow_instance="prod",dag_id="we\"ird\\dag\nid"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE pipewatch_dag_running_runs gauge"),
            "{text}"
        );
        assert!(
            text.contains(
                "pipewatch_command_last_success_timestamp_seconds{command=\"run\"} 1700000000.5"
            ),
            "{text}"
        );
        let groups = m.groups(true);
        assert_eq!(groups.keys().collect::<Vec<_>>(), ["", "prod"]);
        assert!(groups["prod"].contains("stage=\"extract\""));
        assert!(!groups["prod"].contains("stage=\"transform\""));
        assert!(groups[""].contains("pipewatch_dags_exported 1"));
        // After a failure the last-success families stay out of the push.
        let failed = m.groups(false);
        assert!(
            failed.values().all(|t| !t.contains("last_success")),
            "{failed:?}"
        );
        assert!(failed["prod"].contains("pipewatch_dag_running_runs"));
    }

    #[test]
    fn group_urls_encode_unusual_instance_names() {
        assert_eq!(
            group_url("http://pg:9091", ""),
            "http://pg:9091/metrics/job/pipewatch"
        );
        assert_eq!(
            group_url("http://pg:9091", "prod-eu_1"),
            "http://pg:9091/metrics/job/pipewatch/instance/prod-eu_1"
        );
        assert_eq!(
            group_url("http://pg:9091", "a/b"),
            "http://pg:9091/metrics/job/pipewatch/instance@base64/YS9i"
        );
        assert_eq!(shown("http://user:secret@pg:9091/x"), "http://pg:9091/x");
    }

    #[test]
    fn a_textfile_is_replaced_whole_and_a_missing_directory_is_one_error() {
        let dir = std::env::temp_dir().join(format!("pipewatch-textfile-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).unwrap();
        write_textfile(&dir, "a 1\n").unwrap();
        let path = write_textfile(&dir, "b 2\n").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "b 2\n");
        assert_eq!(
            std::fs::read_dir(&dir).unwrap().count(),
            1,
            "no temporary file is left"
        );
        let missing = dir.join("missing");
        let e = write_textfile(&missing, "c 3\n").unwrap_err().to_string();
        assert!(
            e.contains("missing/pipewatch.prom") && e.contains("textfile_directory"),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
