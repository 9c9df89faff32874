//! Why a run was late: the critical path of every finished DAG run (issue 28).
//!
//! The transform walks the runs of the days it recomputes ([`recompute`]), each on the graph of
//! the DAG version it ran with ([`graph`]: read from Airflow's serialized DAGs by the catalogue
//! reading, kept in `dag_graph_version`), and writes `dag_run_critical_path_run` (one row per
//! run: computed, or why not) and `dag_run_critical_path` (one row per step). The walk itself
//! ([`walk`]) is pure and tiles each run's duration exactly.
//!
//! Which graph a run is walked on: on Airflow 3 the DAG version of the task try that finished
//! last (`task_instance.dag_version_id`), else the run's own (`created_dag_version_id`); on
//! Airflow 2 the run's `dag_hash`. A run whose version pipewatch never read a graph for is
//! `graph_unknown`; it is never walked on another version's graph.

pub mod graph;
pub mod walk;

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::db::SqlError;
use crate::retry::Transient;
use graph::{Graph, GraphTask};
use walk::{Outcome, Try};

const DELETE_DAYS_SQL: &str = include_str!("../../sql/critical_path/delete_days.sql");
const TRIES_ON_DAYS_SQL: &str = include_str!("../../sql/critical_path/tries_on_days.sql");
const GRAPHS_FOR_DAYS_SQL: &str = include_str!("../../sql/critical_path/graphs_for_days.sql");
const INSERT_PATHS_SQL: &str = include_str!("../../sql/critical_path/insert_paths.sql");
const DAILY_SQL: &str = include_str!("../../sql/critical_path/critical_path_daily.sql");

/// Runs written per insert statement (at least; written between two fetches).
const BATCH_RUNS: usize = 2_000;

/// Task tries fetched from the portal at a time.
const FETCH_ROWS: i32 = 20_000;

/// Why critical paths could not be computed; the transform rolls back.
#[derive(Debug, thiserror::Error)]
pub enum CriticalPathError {
    /// A statement failed.
    #[error("critical paths (dag_run_critical_path): could not {step}")]
    Sql {
        /// What was being done.
        step: String,
        /// The failure.
        #[source]
        source: SqlError,
    },
}

impl Transient for CriticalPathError {
    fn is_transient(&self) -> bool {
        matches!(self, CriticalPathError::Sql { source, .. } if source.is_transient())
    }
}

fn sql_error(step: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> CriticalPathError {
    let step = step.into();
    move |e| CriticalPathError::Sql {
        step,
        source: e.into(),
    }
}

/// What [`recompute`] did.
#[derive(Debug, Default, Clone, Copy)]
pub struct CriticalPathReport {
    /// Finished runs judged.
    pub runs: u64,
    /// Of those, with a computed path.
    pub computed: u64,
    /// Steps written.
    pub steps: u64,
    /// critical_path_daily rows written.
    pub daily_rows: u64,
}

/// One run's rows, gathered while the tries stream.
struct RunRows {
    instance: String,
    dag_id: String,
    run_id: String,
    day: NaiveDate,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    version: Option<String>,
    tries: Vec<(Try, Option<String>)>,
}

/// The columns of `insert_paths.sql`.
#[derive(Default)]
struct Batch {
    instance: Vec<String>,
    dag_id: Vec<String>,
    run_id: Vec<String>,
    day: Vec<NaiveDate>,
    version: Vec<Option<String>>,
    status: Vec<String>,
    reason: Vec<Option<String>>,
    start: Vec<DateTime<Utc>>,
    end: Vec<DateTime<Utc>>,
    scheduling: Vec<Option<i64>>,
    finish: Vec<Option<i64>>,
    step_count: Vec<i32>,
    s_instance: Vec<String>,
    s_dag_id: Vec<String>,
    s_run_id: Vec<String>,
    s_step: Vec<i32>,
    s_day: Vec<NaiveDate>,
    s_task: Vec<String>,
    s_maps: Vec<i32>,
    s_tries: Vec<i32>,
    s_ready: Vec<DateTime<Utc>>,
    s_first: Vec<DateTime<Utc>>,
    s_started: Vec<DateTime<Utc>>,
    s_ended: Vec<DateTime<Utc>>,
    s_dep: Vec<i64>,
    s_retry: Vec<i64>,
    s_queue_wait: Vec<i64>,
    s_run: Vec<i64>,
    s_pool: Vec<Option<String>>,
    s_slots: Vec<Option<i32>>,
    s_queue: Vec<Option<String>>,
}

impl Batch {
    fn push(&mut self, run: &RunRows, version: Option<String>, outcome: Outcome) {
        self.instance.push(run.instance.clone());
        self.dag_id.push(run.dag_id.clone());
        self.run_id.push(run.run_id.clone());
        self.day.push(run.day);
        self.version.push(version);
        self.start.push(run.start);
        self.end.push(run.end);
        match outcome {
            Outcome::NotComputed { status, reason } => {
                self.status.push(status.to_string());
                self.reason.push(Some(reason));
                self.scheduling.push(None);
                self.finish.push(None);
                self.step_count.push(0);
            }
            Outcome::Computed {
                scheduling_delay_us,
                finish_delay_us,
                steps,
            } => {
                self.status.push("computed".to_string());
                self.reason.push(None);
                self.scheduling.push(Some(scheduling_delay_us));
                self.finish.push(Some(finish_delay_us));
                self.step_count.push(steps.len() as i32);
                for (i, s) in steps.into_iter().enumerate() {
                    self.s_instance.push(run.instance.clone());
                    self.s_dag_id.push(run.dag_id.clone());
                    self.s_run_id.push(run.run_id.clone());
                    self.s_step.push(i as i32 + 1);
                    self.s_day.push(run.day);
                    self.s_task.push(s.task_id);
                    self.s_maps.push(s.map_count);
                    self.s_tries.push(s.tries);
                    self.s_ready.push(s.ready_at);
                    self.s_first.push(s.first_try_at);
                    self.s_started.push(s.started_at);
                    self.s_ended.push(s.ended_at);
                    self.s_dep.push(s.dependency_wait_us);
                    self.s_retry.push(s.retry_us);
                    self.s_queue_wait.push(s.queue_wait_us);
                    self.s_run.push(s.run_us);
                    self.s_pool.push(s.pool);
                    self.s_slots.push(s.pool_slots);
                    self.s_queue.push(s.queue);
                }
            }
        }
    }

    async fn write(
        &mut self,
        tx: &Transaction<'_>,
        run_id: &Uuid,
        report: &mut CriticalPathReport,
    ) -> Result<(), CriticalPathError> {
        if self.instance.is_empty() {
            return Ok(());
        }
        let row = tx
            .query_one(
                INSERT_PATHS_SQL,
                &[
                    &self.instance,
                    &self.dag_id,
                    &self.run_id,
                    &self.day,
                    &self.version,
                    &self.status,
                    &self.reason,
                    &self.start,
                    &self.end,
                    &self.scheduling,
                    &self.finish,
                    &self.step_count,
                    &self.s_instance,
                    &self.s_dag_id,
                    &self.s_run_id,
                    &self.s_step,
                    &self.s_day,
                    &self.s_task,
                    &self.s_maps,
                    &self.s_tries,
                    &self.s_ready,
                    &self.s_first,
                    &self.s_started,
                    &self.s_ended,
                    &self.s_dep,
                    &self.s_retry,
                    &self.s_queue_wait,
                    &self.s_run,
                    &self.s_pool,
                    &self.s_slots,
                    &self.s_queue,
                    run_id,
                ],
            )
            .await
            .map_err(sql_error("write dag_run_critical_path"))?;
        report.runs += row.get::<_, i64>("runs") as u64;
        report.steps += row.get::<_, i64>("steps") as u64;
        report.computed += self.status.iter().filter(|s| *s == "computed").count() as u64;
        *self = Batch::default();
        Ok(())
    }
}

/// The graphs of one transform, by (instance, dag_id, version).
type Graphs = HashMap<(String, String, String), Graph>;

/// Walks the finished runs of the (instance, day) pairs and writes their paths, replacing
/// what those days had (every day's when `full`).
pub async fn recompute(
    tx: &Transaction<'_>,
    instances: &[String],
    days: &[NaiveDate],
    time_zone: &str,
    full: bool,
    run_id: &Uuid,
) -> Result<CriticalPathReport, CriticalPathError> {
    let mut report = CriticalPathReport::default();
    tx.query_one(DELETE_DAYS_SQL, &[&instances, &days, &full])
        .await
        .map_err(sql_error("delete the critical paths of the days"))?;
    if days.is_empty() {
        return Ok(report);
    }
    let mut graphs: Graphs = HashMap::new();
    for r in tx
        .query(GRAPHS_FOR_DAYS_SQL, &[&instances, &days, &time_zone])
        .await
        .map_err(sql_error("read the runs' graphs (dag_graph_version)"))?
    {
        let tasks: String = r.get("tasks");
        let graph = match serde_json::from_str::<Vec<GraphTask>>(&tasks) {
            Ok(tasks) => Graph {
                tasks,
                problem: r.get("problem"),
            },
            Err(e) => Graph {
                tasks: Vec::new(),
                problem: Some(format!("its stored tasks do not parse ({e})")),
            },
        };
        graphs.insert(
            (
                r.get("airflow_instance"),
                r.get("dag_id"),
                r.get("dag_version"),
            ),
            graph,
        );
    }
    // The tries come through a portal, a chunk at a time: between two fetches the transaction
    // is free for the inserts (a query streamed to its end would hold the connection, and an
    // insert sent meanwhile would wait behind rows nobody reads).
    let portal = tx
        .bind(TRIES_ON_DAYS_SQL, &[&instances, &days, &time_zone])
        .await
        .map_err(sql_error("read the runs' task tries"))?;
    let mut batch = Batch::default();
    let mut current: Option<RunRows> = None;
    loop {
        let chunk = tx
            .query_portal(&portal, FETCH_ROWS)
            .await
            .map_err(sql_error("read the runs' task tries"))?;
        if chunk.is_empty() {
            break;
        }
        for r in &chunk {
            let (instance, dag_id, run): (String, String, String) =
                (r.get("airflow_instance"), r.get("dag_id"), r.get("run_id"));
            let same = current
                .as_ref()
                .is_some_and(|c| c.instance == instance && c.dag_id == dag_id && c.run_id == run);
            if !same {
                if let Some(done) = current.take() {
                    judge(&done, &graphs, &mut batch);
                }
                current = Some(RunRows {
                    instance,
                    dag_id,
                    run_id: run,
                    day: r.get("day"),
                    start: r.get("run_start"),
                    end: r.get("run_end"),
                    version: r.get("run_version"),
                    tries: Vec::new(),
                });
            }
            if let (Some(c), Some(task_id)) =
                (current.as_mut(), r.get::<_, Option<String>>("task_id"))
            {
                c.tries.push((
                    Try {
                        task_id,
                        map_index: r.get("map_index"),
                        try_number: r.get("try_number"),
                        start: r.get("start_date"),
                        end: r.get("end_date"),
                        queued: r.get("queued_at"),
                        scheduled: r.get("scheduled_at"),
                        pool: r.get("pool"),
                        pool_slots: r.get("pool_slots"),
                        queue: r.get("queue"),
                    },
                    r.get("dag_version"),
                ));
            }
        }
        if batch.instance.len() >= BATCH_RUNS {
            batch.write(tx, run_id, &mut report).await?;
        }
    }
    if let Some(done) = current.take() {
        judge(&done, &graphs, &mut batch);
    }
    batch.write(tx, run_id, &mut report).await?;
    report.daily_rows = tx
        .execute(DAILY_SQL, &[&instances, &days, run_id])
        .await
        .map_err(sql_error("compute critical_path_daily"))?;
    Ok(report)
}

/// Chooses the run's graph and walks it into the batch.
fn judge(run: &RunRows, graphs: &Graphs, batch: &mut Batch) {
    // Airflow 3: the version of the try that finished last; else the run's.
    let version = run
        .tries
        .iter()
        .filter(|(t, v)| v.is_some() && t.end.is_some())
        .max_by_key(|(t, _)| t.end)
        .and_then(|(_, v)| v.clone())
        .or_else(|| run.version.clone());
    let tries: Vec<Try> = run.tries.iter().map(|(t, _)| t.clone()).collect();
    let outcome = match &version {
        None => Outcome::NotComputed {
            status: "graph_unknown",
            reason: "the run's DAG version is not known (the REST API source of Airflow 2, or a \
                     run loaded before pipewatch recorded versions: `pipewatch run --full` reads it \
                     again)"
                .to_string(),
        },
        Some(v) => match graphs.get(&(run.instance.clone(), run.dag_id.clone(), v.clone())) {
            None => Outcome::NotComputed {
                status: "graph_unknown",
                reason: format!(
                    "no graph of DAG version {v} was read (Airflow replaced its serialized DAG \
                     before pipewatch's catalogue reading saw it, or the catalogue is off: \
                     [extract] catalog)"
                ),
            },
            Some(graph) => walk::walk(run.start, run.end, &tries, graph),
        },
    };
    batch.push(run, version, outcome);
}
