//! The DAG catalogue: every row of `dag` with its tags, and the current import errors, read in
//! one statement (so in one snapshot) as two JSON documents of one shape for both Airflow
//! versions (see `sql/source/airflow_db/catalog_airflow2.sql` and `catalog_airflow3.sql`).

use chrono::{DateTime, Utc};

use super::layout::{AirflowDb, DagRunSchema};
use crate::context::RunContext;
use crate::source::{CatalogSnapshot, MAX_STACKTRACE_CHARS, SourceError};

const CATALOG2_SQL: &str = include_str!("../../../sql/source/airflow_db/catalog_airflow2.sql");
const CATALOG3_SQL: &str = include_str!("../../../sql/source/airflow_db/catalog_airflow3.sql");
const CATALOG_TABLES_SQL: &str = include_str!("../../../sql/source/airflow_db/catalog_tables.sql");

/// The tables the catalogue reads.
const CATALOG_TABLES: [&str; 6] = [
    "dag",
    "dag_tag",
    "import_error",
    "job",
    "slot_pool",
    "task_instance",
];

impl AirflowDb<'_> {
    /// Whether the catalogue's tables are there and the role may read them (for `check-config`
    /// and before each reading): the missing table or GRANT is named.
    pub async fn check_catalog(&self, ctx: &RunContext) -> Result<String, SourceError> {
        let (client, _) = self.connect(ctx).await?;
        self.catalog_tables(&client).await?;
        Ok(format!(
            "DAG catalogue: {} readable",
            CATALOG_TABLES.join(", ")
        ))
    }

    async fn catalog_tables(&self, client: &tokio_postgres::Client) -> Result<(), SourceError> {
        let database = &self.settings.database;
        let tables = client
            .query(CATALOG_TABLES_SQL, &[&database.schema.as_str()])
            .await
            .map_err(self.sql_error("look for the DAG catalogue's tables"))?;
        if let Some(row) = tables.iter().find(|r| !r.get::<_, bool>("readable")) {
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
        Ok(())
    }

    /// See [`crate::source::Source::read_catalog`].
    pub async fn read_catalog(
        &self,
        max_clock_skew_seconds: u64,
        ctx: &RunContext,
    ) -> Result<CatalogSnapshot, SourceError> {
        let (client, layout) = self.connect(ctx).await?;
        self.catalog_tables(&client).await?;
        let sql = match layout {
            DagRunSchema::Airflow2 => CATALOG2_SQL,
            DagRunSchema::Airflow3 => CATALOG3_SQL,
        };
        let limit = MAX_STACKTRACE_CHARS as i32;
        let row =
            client
                .query_one(sql, &[&limit])
                .await
                .map_err(self.sql_error(
                    "read the DAG catalogue (dag, dag_tag, import_error, job, slot_pool)",
                ))?;
        let read_at: DateTime<Utc> = row.get("source_now");
        crate::source::check_clock(
            self.instance(),
            "its metadata database's clock (now())",
            read_at,
            max_clock_skew_seconds,
        )?;
        Ok(CatalogSnapshot {
            read_at,
            dags: row.get("dags"),
            import_errors: row.get("import_errors"),
            jobs: row.get("jobs"),
            pools: row.get("pools"),
        })
    }
}
