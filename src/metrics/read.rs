//! Reading the metrics from the warehouse: two sessions (opened while the command works:
//! [`Early`]), the run log, instances and alerts, the DAGs' ranking and their figures.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use tokio_postgres::{Client, Statement};

use super::error::{MetricsError, sql_error};
use super::families::{Metrics, f};
use crate::config::{PostgresSettings, PrometheusSettings, Settings};
use crate::context::RunContext;
use crate::db;
use crate::migrate;

const COMMANDS_SQL: &str = include_str!("../../sql/metrics/commands.sql");
const STAGES_SQL: &str = include_str!("../../sql/metrics/stages.sql");
const OPEN_ALERTS_SQL: &str = include_str!("../../sql/metrics/open_alerts.sql");
const DAGS_SQL: &str = include_str!("../../sql/metrics/dags.sql");
const DAG_FIGURES_SQL: &str = include_str!("../../sql/metrics/dag_figures.sql");
const SESSION_SQL: &str = include_str!("../../sql/metrics/session.sql");

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
