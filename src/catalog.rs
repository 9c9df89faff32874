//! The DAG catalogue stage of `run`: for each instance, one reading of what Airflow has now
//! (every DAG with its pause, staleness, import errors, owners, tags and schedule, and the
//! current import errors, and the scheduler's, DAG processor's and triggerer's heartbeats), merged
//! into `dag_catalog`, with each change of a DAG's attributes kept in `dag_catalog_history`, each
//! import error kept by episode in `import_error_history` (migration 0013) and the heartbeats in
//! `scheduler_health_history`; the view `dag_schedule_status` (migration 0014) reads them. Airflow keeps only the present state of these; this
//! is their history. The reading is small (one row per DAG) and describes the present, so it
//! goes straight into the warehouse in one transaction, not through the stage.

use std::fmt;
use std::time::Instant;

use tokio_postgres::Client;

use crate::context::RunContext;
use crate::db::SqlError;
use crate::format::plural;
use crate::run_log::{self, RunLogError, Stage, StageCounts, StageReport};
use crate::source::{Source, SourceError};

const MERGE_DAGS_SQL: &str = include_str!("../sql/catalog/merge_dags.sql");
const CLOSE_SPANS_SQL: &str = include_str!("../sql/catalog/close_spans.sql");
const OPEN_SPANS_SQL: &str = include_str!("../sql/catalog/open_spans.sql");
const MERGE_IMPORT_ERRORS_SQL: &str = include_str!("../sql/catalog/merge_import_errors.sql");
const RECORD_HEALTH_SQL: &str = include_str!("../sql/catalog/record_health.sql");
const RECORD_POOLS_SQL: &str = include_str!("../sql/catalog/record_pools.sql");
const MERGE_DEADLINES_SQL: &str = include_str!("../sql/catalog/merge_deadlines.sql");
const MERGE_OWNER_LINKS_SQL: &str = include_str!("../sql/catalog/merge_owner_links.sql");
const LAST_READING_SQL: &str = include_str!("../sql/catalog/last_reading.sql");
const KNOWN_TIMETABLES_SQL: &str = include_str!("../sql/catalog/known_timetables.sql");
const KNOWN_GRAPHS_SQL: &str = include_str!("../sql/catalog/known_graphs.sql");
const MERGE_GRAPHS_SQL: &str = include_str!("../sql/catalog/merge_graphs.sql");
const ANALYZE_SQL: &str = include_str!("../sql/catalog/analyze.sql");
const NOT_ON_SCHEDULE_SQL: &str = include_str!("../sql/catalog/not_on_schedule.sql");

/// A reading that wrote this many rows (a first reading of a large Airflow) analyzes the
/// catalogue tables, so the next readings and the status view are planned for their real size.
const ANALYZE_AFTER_ROWS: u64 = 1000;

/// Why the catalogue could not be read or kept.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The source could not be read.
    #[error("DAG catalogue of Airflow instance {instance}")]
    Source {
        /// The instance.
        instance: String,
        /// The failure.
        #[source]
        source: SourceError,
    },
    /// A warehouse statement failed.
    #[error("DAG catalogue of Airflow instance {instance}: could not {step} in the warehouse")]
    Warehouse {
        /// The instance.
        instance: String,
        /// What was being done.
        step: &'static str,
        /// The failure.
        #[source]
        source: SqlError,
    },
    /// Recording the stage failed.
    #[error(transparent)]
    RunLog(#[from] RunLogError),
}

/// What one reading of an instance's catalogue found and changed.
#[derive(Debug, Clone)]
pub struct CatalogReport {
    /// The instance.
    pub instance: String,
    /// DAGs Airflow has.
    pub dags: i64,
    /// Of those, seen for the first time.
    pub new_dags: i64,
    /// DAGs Airflow no longer has (since this reading).
    pub gone_dags: i64,
    /// Spans of dag_catalog_history opened (new DAGs and changed ones).
    pub spans_opened: i64,
    /// Files that fail to import now.
    pub import_errors: i64,
    /// Import-error episodes that began.
    pub errors_opened: i64,
    /// Import-error episodes that ended.
    pub errors_resolved: i64,
    /// Airflow's deadlines read (None: not read, their tables absent or the REST API).
    pub deadlines: Option<i64>,
    /// Airflow 3 deadlines found met (gone from Airflow before their time) at this reading.
    pub deadlines_met: i64,
    /// Task graphs of DAG versions kept for the first time (dag_graph_version).
    pub graphs_added: i64,
    /// Wall time.
    pub seconds: f64,
}

impl StageReport for CatalogReport {
    fn counts(&self) -> StageCounts {
        StageCounts {
            rows_read: Some(self.dags + self.import_errors),
            rows_written: Some(self.spans_opened + self.errors_opened + self.errors_resolved),
            ..StageCounts::default()
        }
    }
}

impl fmt::Display for CatalogReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "catalogued {} of Airflow instance {} ({} new, {} gone, {}); {} ({} new, {} resolved)",
            plural(self.dags as u64, "DAG", "DAGs"),
            self.instance,
            self.new_dags,
            self.gone_dags,
            plural(
                self.spans_opened as u64,
                "change recorded",
                "changes recorded"
            ),
            plural(self.import_errors as u64, "import error", "import errors"),
            self.errors_opened,
            self.errors_resolved
        )?;
        if let Some(n) = self.deadlines {
            write!(
                f,
                "; {} of Airflow's read ({} found met)",
                plural(n as u64, "deadline", "deadlines"),
                self.deadlines_met
            )?;
        }
        Ok(())
    }
}

/// How long ago `instance`'s catalogue was last read successfully, when that is less than
/// `interval_minutes` (the reading is not due yet); None when a reading is due.
pub async fn read_recently(
    warehouse: &Client,
    instance: &str,
    interval_minutes: u64,
) -> Result<Option<std::time::Duration>, CatalogError> {
    if interval_minutes == 0 {
        return Ok(None);
    }
    let age: Option<f64> = warehouse
        .query_one(LAST_READING_SQL, &[&instance])
        .await
        .map_err(|e| CatalogError::Warehouse {
            instance: instance.to_string(),
            step: "read when the catalogue was last read",
            source: e.into(),
        })?
        .get("seconds_ago");
    Ok(age
        .filter(|a| *a >= 0.0 && *a < interval_minutes as f64 * 60.0)
        .map(std::time::Duration::from_secs_f64))
}

/// Reads `source`'s catalogue and keeps it, as the `catalog` stage of the run log.
/// With `read_graphs`, the task graphs of DAG versions not kept yet are read too (database
/// source), for the critical paths of the task tries `[extract] task_instances` reads.
pub async fn refresh(
    source: &Source<'_>,
    max_clock_skew_seconds: u64,
    read_graphs: bool,
    warehouse: &mut Client,
    ctx: &RunContext,
) -> Result<CatalogReport, CatalogError> {
    let instance = source.instance();
    let warehouse_error = |step: &'static str| {
        move |e: tokio_postgres::Error| CatalogError::Warehouse {
            instance: instance.to_string(),
            step,
            source: e.into(),
        }
    };
    let timetables = warehouse
        .query_one(KNOWN_TIMETABLES_SQL, &[&instance])
        .await
        .map_err(warehouse_error(
            "read which timetables are known (dag_catalog)",
        ))?;
    let (graph_dag_ids, graph_versions) = if read_graphs {
        let r = warehouse
            .query_one(KNOWN_GRAPHS_SQL, &[&instance])
            .await
            .map_err(warehouse_error(
                "read which graphs are kept (dag_graph_version)",
            ))?;
        (r.get("dag_ids"), r.get("versions"))
    } else {
        (Vec::new(), Vec::new())
    };
    let known = crate::source::KnownKeys {
        dag_ids: timetables.get("dag_ids"),
        keys: timetables.get("keys"),
        read_graphs,
        graph_dag_ids,
        graph_versions,
    };
    let snapshot = source
        .read_catalog(max_clock_skew_seconds, &known, ctx)
        .await
        .map_err(|source| CatalogError::Source {
            instance: instance.to_string(),
            source,
        })?;
    let report = run_log::record_stage(
        warehouse,
        ctx,
        Stage::Catalog,
        Some(instance),
        async |warehouse, _| keep(warehouse, instance, &snapshot, ctx).await,
    )
    .await?;
    tracing::info!(
        instance,
        dags = report.dags,
        new_dags = report.new_dags,
        gone_dags = report.gone_dags,
        spans_opened = report.spans_opened,
        import_errors = report.import_errors,
        errors_opened = report.errors_opened,
        errors_resolved = report.errors_resolved,
        graphs_added = report.graphs_added,
        seconds = report.seconds,
        "Read the DAG catalogue."
    );
    Ok(report)
}

/// Merges one reading into the catalogue tables, in one transaction.
async fn keep(
    warehouse: &mut Client,
    instance: &str,
    snapshot: &crate::source::CatalogSnapshot,
    ctx: &RunContext,
) -> Result<CatalogReport, CatalogError> {
    let started = Instant::now();
    let error = |step: &'static str| {
        move |e: tokio_postgres::Error| CatalogError::Warehouse {
            instance: instance.to_string(),
            step,
            source: e.into(),
        }
    };
    let tx = warehouse
        .transaction()
        .await
        .map_err(error("start a transaction"))?;
    let read_at = snapshot.read_at;
    let dags = tx
        .query_one(
            MERGE_DAGS_SQL,
            &[
                &instance,
                &snapshot.dags,
                &read_at,
                &ctx.run_id,
                &snapshot.timetables,
            ],
        )
        .await
        .map_err(error("merge the DAGs into dag_catalog"))?;
    let mut needing_a_span: Vec<String> = dags.get("new_dag_ids");
    needing_a_span.extend(
        tx.query(CLOSE_SPANS_SQL, &[&instance, &read_at])
            .await
            .map_err(error("close the changed spans of dag_catalog_history"))?
            .iter()
            .map(|r| r.get::<_, String>(0)),
    );
    let spans_opened = tx
        .execute(
            OPEN_SPANS_SQL,
            &[&instance, &read_at, &ctx.run_id, &needing_a_span],
        )
        .await
        .map_err(error("open the new spans of dag_catalog_history"))?;
    let errors = tx
        .query_one(
            MERGE_IMPORT_ERRORS_SQL,
            &[&instance, &snapshot.import_errors, &read_at, &ctx.run_id],
        )
        .await
        .map_err(error("merge the import errors into import_error_history"))?;
    tx.execute(
        RECORD_HEALTH_SQL,
        &[&instance, &snapshot.jobs, &read_at, &ctx.run_id],
    )
    .await
    .map_err(error("record the scheduler's health"))?;
    tx.execute(
        RECORD_POOLS_SQL,
        &[&instance, &snapshot.pools, &read_at, &ctx.run_id],
    )
    .await
    .map_err(error("record the pools"))?;
    if let Some(links) = &snapshot.owner_links {
        tx.execute(MERGE_OWNER_LINKS_SQL, &[&instance, links])
            .await
            .map_err(error("merge the owner links into dag_catalog"))?;
    }
    let graphs_added = if snapshot.graphs.is_empty() {
        0
    } else {
        let g = &snapshot.graphs;
        let tasks: Vec<String> = g
            .iter()
            .map(|g| serde_json::to_string(&g.graph.tasks).unwrap_or_else(|_| "[]".to_string()))
            .collect();
        tx.query_one(
            MERGE_GRAPHS_SQL,
            &[
                &instance,
                &g.iter().map(|g| g.dag_id.as_str()).collect::<Vec<_>>(),
                &g.iter().map(|g| g.dag_version.as_str()).collect::<Vec<_>>(),
                &g.iter().map(|g| g.version_kind).collect::<Vec<_>>(),
                &g.iter().map(|g| g.updated_at).collect::<Vec<_>>(),
                &g.iter()
                    .map(|g| g.graph.tasks.len() as i32)
                    .collect::<Vec<_>>(),
                &tasks,
                &g.iter()
                    .map(|g| g.graph.problem.as_deref())
                    .collect::<Vec<_>>(),
                &read_at,
                &ctx.run_id,
            ],
        )
        .await
        .map_err(error("keep the new task graphs in dag_graph_version"))?
        .get::<_, i64>("added")
    };
    let deadlines = match &snapshot.deadlines {
        None => None,
        Some(reading) => Some(
            tx.query_one(
                MERGE_DEADLINES_SQL,
                &[
                    &instance,
                    reading,
                    &read_at,
                    &ctx.run_id,
                    &crate::source::DEADLINE_DAYS,
                ],
            )
            .await
            .map_err(error("merge Airflow's deadlines into deadline_history"))?,
        ),
    };
    let new_dags: i64 = dags.get("new_dags");
    if new_dags as u64 + spans_opened >= ANALYZE_AFTER_ROWS {
        tx.batch_execute(ANALYZE_SQL)
            .await
            .map_err(error("analyze the catalogue tables"))?;
    }
    tx.commit().await.map_err(error("commit the catalogue"))?;
    Ok(CatalogReport {
        instance: instance.to_string(),
        dags: dags.get("dags_read"),
        new_dags,
        gone_dags: dags.get("gone_dags"),
        spans_opened: spans_opened as i64,
        import_errors: errors.get("current_errors"),
        errors_opened: errors.get("opened"),
        errors_resolved: errors.get("resolved"),
        deadlines: deadlines.as_ref().map(|d| d.get("read")),
        deadlines_met: deadlines.as_ref().map_or(0, |d| d.get("met")),
        graphs_added,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// A DAG that does not run as scheduled (view `dag_schedule_status`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct DagNotOnSchedule {
    /// The instance.
    pub airflow_instance: String,
    /// The DAG.
    pub dag_id: String,
    /// overdue, blocked, paused, stale, import_error, unscheduled or scheduler_down.
    pub status: String,
    /// Since when, as far as pipewatch knows.
    pub since: Option<chrono::DateTime<chrono::Utc>>,
    /// The blocking run, the due time and grace, the failing file, or the last heartbeat.
    pub detail: Option<String>,
    /// The DAG's owners.
    pub owners: Vec<String>,
    /// The catalogue reading this is as of (Airflow's clock).
    pub as_of: chrono::DateTime<chrono::Utc>,
}

/// The DAGs of `instance` (None: of every instance) that do not run as scheduled, most urgent
/// first, those without a schedule last: what `status` and the report show.
pub async fn not_on_schedule(
    client: &Client,
    instance: Option<&str>,
    dags: Option<&crate::report::DagSet>,
) -> Result<Vec<DagNotOnSchedule>, tokio_postgres::Error> {
    let (instances, dag_ids) = (dags.map(|d| &d.instances), dags.map(|d| &d.dag_ids));
    Ok(client
        .query(NOT_ON_SCHEDULE_SQL, &[&instance, &instances, &dag_ids])
        .await?
        .iter()
        .map(|r| DagNotOnSchedule {
            airflow_instance: r.get("airflow_instance"),
            dag_id: r.get("dag_id"),
            status: r.get("status"),
            since: r.get("since"),
            detail: r.get("detail"),
            owners: r.get("owners"),
            as_of: r.get("as_of"),
        })
        .collect())
}
