//! The DAG catalogue: every row of `dag` with its tags, and the current import errors, read in
//! one statement (so in one snapshot) as two JSON documents of one shape for both Airflow
//! versions (see `sql/source/airflow_db/catalog_airflow2.sql` and `catalog_airflow3.sql`).

use chrono::{DateTime, Utc};

use super::layout::{AirflowDb, DagRunSchema};
use crate::context::RunContext;
use crate::critical_path::graph::Graph;
use crate::source::{CatalogSnapshot, KnownKeys, MAX_STACKTRACE_CHARS, ReadGraph, SourceError};

const CATALOG2_SQL: &str = include_str!("../../../sql/source/airflow_db/catalog_airflow2.sql");
const CATALOG3_SQL: &str = include_str!("../../../sql/source/airflow_db/catalog_airflow3.sql");
const CATALOG_TABLES_SQL: &str = include_str!("../../../sql/source/airflow_db/catalog_tables.sql");
const POOLS_SQL: &str = include_str!("../../../sql/source/airflow_db/pools.sql");
const POOLS_WITHOUT_TASKS_SQL: &str =
    include_str!("../../../sql/source/airflow_db/pools_without_tasks.sql");
const DEADLINES2_SQL: &str = include_str!("../../../sql/source/airflow_db/deadlines_airflow2.sql");
const DEADLINES3_SQL: &str = include_str!("../../../sql/source/airflow_db/deadlines_airflow3.sql");
const OWNER_LINKS_SQL: &str = include_str!("../../../sql/source/airflow_db/owner_links.sql");
const TIMETABLES2_SQL: &str =
    include_str!("../../../sql/source/airflow_db/timetables_airflow2.sql");
const TIMETABLES3_SQL: &str =
    include_str!("../../../sql/source/airflow_db/timetables_airflow3.sql");
const GRAPHS2_SQL: &str = include_str!("../../../sql/source/airflow_db/graphs_airflow2.sql");
const GRAPHS3_SQL: &str = include_str!("../../../sql/source/airflow_db/graphs_airflow3.sql");

/// The tables the catalogue reads.
const CATALOG_TABLES: [&str; 5] = ["dag", "dag_tag", "import_error", "job", "slot_pool"];

impl AirflowDb<'_> {
    /// Whether the catalogue's tables are there and the role may read them (for `check-config`
    /// and before each reading): the missing table or GRANT is named.
    pub async fn check_catalog(&self, ctx: &RunContext) -> Result<String, SourceError> {
        let (client, layout) = self.connect(ctx).await?;
        let optional = self.catalog_tables(&client).await?;
        let mut missing = Vec::new();
        if !optional.iter().any(|t| t == "task_instance") {
            missing
                .push("no readable task_instance: the pools' slots taken and wanted are not read");
        }
        if !optional.iter().any(|t| t == "dag_owner_attributes") {
            missing.push("no readable dag_owner_attributes: owner links are not read");
        }
        if !optional.iter().any(|t| t == "serialized_dag") {
            missing.push(
                "no readable serialized_dag: DAG time zones are unknown, cron schedules are not \
                 expanded into expected runs",
            );
        }
        match (layout, deadline_sql(layout, &optional)) {
            (_, Some(_)) => {}
            (DagRunSchema::Airflow2, None) => {
                missing.push("no readable sla_miss: SLA misses are not read")
            }
            (DagRunSchema::Airflow3, None) => {
                missing.push("no readable deadline and deadline_alert: deadlines are not read")
            }
        }
        let missing = if missing.is_empty() {
            String::new()
        } else {
            format!(" ({})", missing.join("; "))
        };
        Ok(format!(
            "DAG catalogue: {} readable{missing}",
            CATALOG_TABLES.join(", ")
        ))
    }

    /// Checks the catalogue's tables; returns the optional deadline tables (sla_miss, deadline,
    /// deadline_alert) that are there and readable.
    async fn catalog_tables(
        &self,
        client: &tokio_postgres::Client,
    ) -> Result<Vec<String>, SourceError> {
        let database = &self.settings.database;
        let tables = client
            .query(CATALOG_TABLES_SQL, &[&database.schema.as_str()])
            .await
            .map_err(self.sql_error("look for the DAG catalogue's tables"))?;
        let name = |r: &tokio_postgres::Row| r.get::<_, String>("table_name");
        if let Some(row) = tables
            .iter()
            .find(|r| CATALOG_TABLES.contains(&name(r).as_str()) && !r.get::<_, bool>("readable"))
        {
            return Err(self.no_permission(row.get("table_name")));
        }
        for wanted in CATALOG_TABLES {
            if !tables
                .iter()
                .any(|r| r.get::<_, String>("table_name") == wanted)
            {
                return Err(SourceError::CatalogTables {
                    instance: self.instance().to_string(),
                    address: database.address(),
                    problem: format!("no table {wanted} in schema {}", database.schema),
                });
            }
        }
        Ok(tables
            .iter()
            .filter(|r| !CATALOG_TABLES.contains(&name(r).as_str()) && r.get::<_, bool>("readable"))
            .map(name)
            .collect())
    }

    /// See [`crate::source::Source::read_catalog`].
    pub async fn read_catalog(
        &self,
        max_clock_skew_seconds: u64,
        known: &KnownKeys,
        ctx: &RunContext,
    ) -> Result<CatalogSnapshot, SourceError> {
        let (client, layout) = self.connect(ctx).await?;
        let optional = self.catalog_tables(&client).await?;
        let sql = match layout {
            DagRunSchema::Airflow2 => CATALOG2_SQL,
            DagRunSchema::Airflow3 => CATALOG3_SQL,
        };
        let limit = MAX_STACKTRACE_CHARS as i32;
        let row = client
            .query_one(sql, &[&limit])
            .await
            .map_err(self.sql_error("read the DAG catalogue (dag, dag_tag, import_error, job)"))?;
        let read_at: DateTime<Utc> = row.get("source_now");
        crate::source::check_clock(
            self.instance(),
            "its metadata database's clock (now())",
            read_at,
            max_clock_skew_seconds,
        )?;
        // The pools, with their tasks' slots where task_instance is readable.
        let pools_sql = if optional.iter().any(|t| t == "task_instance") {
            POOLS_SQL
        } else {
            POOLS_WITHOUT_TASKS_SQL
        };
        let pools: String = client
            .query_one(pools_sql, &[])
            .await
            .map_err(self.sql_error("read Airflow's pools (slot_pool)"))?
            .get("pools");
        // Airflow's own deadlines, where their tables are there (a second statement: they
        // need not be of the same instant as the DAGs).
        let deadlines = match deadline_sql(layout, &optional) {
            None => None,
            Some(sql) => Some(
                client
                    .query_one(sql, &[&crate::source::DEADLINE_DAYS])
                    .await
                    .map_err(self.sql_error("read Airflow's deadlines (sla_miss or deadline)"))?
                    .get("deadlines"),
            ),
        };
        // The timetables of the DAGs whose serialized DAG changed (a second statement: a
        // serialized DAG changes only when its file is parsed anew).
        let timetables = if optional.iter().any(|t| t == "serialized_dag") {
            let sql = match layout {
                DagRunSchema::Airflow2 => TIMETABLES2_SQL,
                DagRunSchema::Airflow3 => TIMETABLES3_SQL,
            };
            client
                .query_one(sql, &[&known.dag_ids, &known.keys])
                .await
                .map_err(self.sql_error("read the DAGs' timetables (serialized_dag)"))?
                .get("timetables")
        } else {
            "[]".to_string()
        };
        let owner_links = if optional.iter().any(|t| t == "dag_owner_attributes") {
            Some(
                client
                    .query_one(OWNER_LINKS_SQL, &[])
                    .await
                    .map_err(self.sql_error("read the owner links (dag_owner_attributes)"))?
                    .get("owner_links"),
            )
        } else {
            None
        };
        // The task graphs of the DAG versions not kept yet (a third statement, streamed: a first
        // reading parses every serialized DAG once).
        let graphs = if known.read_graphs && optional.iter().any(|t| t == "serialized_dag") {
            self.read_graphs(&client, layout, known).await?
        } else {
            Vec::new()
        };
        Ok(CatalogSnapshot {
            graphs,
            read_at,
            owner_links,
            dags: row.get("dags"),
            import_errors: row.get("import_errors"),
            jobs: row.get("jobs"),
            pools,
            deadlines,
            timetables,
        })
    }
}

impl AirflowDb<'_> {
    /// The graphs of the serialized DAGs whose version `known` does not hold.
    async fn read_graphs(
        &self,
        client: &tokio_postgres::Client,
        layout: DagRunSchema,
        known: &KnownKeys,
    ) -> Result<Vec<ReadGraph>, SourceError> {
        let (sql, version_kind) = match layout {
            DagRunSchema::Airflow2 => (GRAPHS2_SQL, "dag_hash"),
            DagRunSchema::Airflow3 => (GRAPHS3_SQL, "dag_version_id"),
        };
        let step = "read the DAGs' task graphs (serialized_dag)";
        let params: [&(dyn tokio_postgres::types::ToSql + Sync); 2] =
            [&known.graph_dag_ids, &known.graph_versions];
        let rows = client
            .query_raw(sql, params)
            .await
            .map_err(self.sql_error(step))?;
        futures_util::pin_mut!(rows);
        let mut graphs = Vec::new();
        while let Some(r) = futures_util::TryStreamExt::try_next(&mut rows)
            .await
            .map_err(self.sql_error(step))?
        {
            let data: Option<String> = r.get("data");
            let compressed: Option<Vec<u8>> = r.get("data_compressed");
            graphs.push(ReadGraph {
                dag_id: r.get("dag_id"),
                dag_version: r.get("dag_version"),
                version_kind,
                updated_at: r.get("last_updated"),
                graph: Graph::from_serialized(data.as_deref(), compressed.as_deref()),
            });
        }
        Ok(graphs)
    }
}

/// The statement reading the deadlines of `layout`, when its tables are among `readable`.
fn deadline_sql(layout: DagRunSchema, readable: &[String]) -> Option<&'static str> {
    let has = |t: &str| readable.iter().any(|r| r == t);
    match layout {
        DagRunSchema::Airflow2 if has("sla_miss") => Some(DEADLINES2_SQL),
        DagRunSchema::Airflow3 if has("deadline") && has("deadline_alert") => Some(DEADLINES3_SQL),
        _ => None,
    }
}
