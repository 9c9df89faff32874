//! Which `dag_run` layout a database has, read from the catalog, not trusted to a setting:
//! Airflow 2.x has `execution_date` (NOT NULL) and `external_trigger`; Airflow 3.x renamed
//! `execution_date` to `logical_date` (nullable), dropped `external_trigger` and added
//! `run_after`. And which task tries it keeps (`task_instance_history` from Airflow 2.10).
//! Detected once per session, here, when [`AirflowDb::connect`] opens the read-only session;
//! every resource read takes the layout it found.

use tokio_postgres::Client;

use crate::config::AirflowSettings;
use crate::context::RunContext;
use crate::db::{self, Role};
use crate::source::{SourceError, TaskCoverage};

const COLUMNS_SQL: &str = include_str!("../../../sql/source/airflow_db/dag_run_columns.sql");
const TASK_TABLES_SQL: &str = include_str!("../../../sql/source/airflow_db/task_tables.sql");

/// Columns pipewatch reads from both versions.
/// Airflow 2.8 added `clear_number`; older 2.x releases are not supported (all of Airflow 2
/// reached end of life in April 2026).
const COMMON_COLUMNS: &[&str] = &[
    "id",
    "dag_id",
    "run_id",
    "state",
    "run_type",
    "queued_at",
    "start_date",
    "end_date",
    "data_interval_start",
    "data_interval_end",
    "updated_at",
    "clear_number",
];
const AIRFLOW2_COLUMNS: &[&str] = &["execution_date", "external_trigger"];
const AIRFLOW3_COLUMNS: &[&str] = &["logical_date", "run_after"];

/// Which `dag_run` layout a source has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DagRunSchema {
    /// Airflow 2.x: `execution_date`, `external_trigger`.
    Airflow2,
    /// Airflow 3.x: nullable `logical_date`, `run_after`.
    Airflow3,
}

impl DagRunSchema {
    /// The major version (2 or 3).
    pub fn major_version(self) -> i16 {
        match self {
            DagRunSchema::Airflow2 => 2,
            DagRunSchema::Airflow3 => 3,
        }
    }
}

/// One Airflow metadata database.
#[derive(Debug, Clone)]
pub struct AirflowDb<'a> {
    pub(super) settings: &'a AirflowSettings,
}

impl<'a> AirflowDb<'a> {
    /// The database of `settings`; connects to nothing yet.
    pub fn new(settings: &'a AirflowSettings) -> Self {
        AirflowDb { settings }
    }

    /// The instance name.
    pub fn instance(&self) -> &str {
        &self.settings.instance
    }

    /// The source error of a failed statement of this database.
    pub(super) fn sql_error(
        &self,
        step: &'static str,
    ) -> impl FnOnce(tokio_postgres::Error) -> SourceError {
        let instance = self.settings.instance.clone();
        move |e| SourceError::Sql {
            instance,
            step,
            source: e.into(),
        }
    }

    /// A read-only session and the `dag_run` layout.
    pub(super) async fn connect(
        &self,
        ctx: &RunContext,
    ) -> Result<(Client, DagRunSchema), SourceError> {
        let client = db::connect(&self.settings.database, Role::Airflow, ctx.run_id).await?;
        let layout = self.detect_schema(&client).await?;
        Ok((client, layout))
    }
}

impl AirflowDb<'_> {
    /// Reads the catalog and tells which `dag_run` layout the database has.
    pub async fn detect_schema(&self, client: &Client) -> Result<DagRunSchema, SourceError> {
        let database = &self.settings.database;
        let rows = client
            .query(COLUMNS_SQL, &[&database.schema.as_str()])
            .await
            .map_err(self.sql_error("read the columns of dag_run"))?;
        let columns: Vec<String> = rows.iter().map(|r| r.get("column_name")).collect();
        if rows.iter().any(|r| !r.get::<_, bool>("readable")) {
            return Err(self.no_permission("dag_run"));
        }
        if columns.is_empty() {
            return Err(SourceError::NoDagRun {
                instance: self.settings.instance.clone(),
                schema: database.schema.to_string(),
                address: database.address(),
                section: database.section.clone(),
            });
        }
        classify(&columns).map_err(|missing| SourceError::UnknownLayout {
            instance: self.settings.instance.clone(),
            address: database.address(),
            missing,
        })
    }

    /// The error for a table of Airflow's that the role may not read.
    pub(super) fn no_permission(&self, table: &str) -> SourceError {
        let database = &self.settings.database;
        SourceError::NoPermission {
            instance: self.settings.instance.clone(),
            user: database.username.clone(),
            schema: database.schema.to_string(),
            table: table.to_string(),
            address: database.address(),
        }
    }

    /// Which tries of the task instances this database keeps: every try when it has
    /// `task_instance_history` (Airflow 2.10+), else only the current one.
    pub async fn task_coverage(
        &self,
        client: &Client,
        layout: DagRunSchema,
    ) -> Result<TaskCoverage, SourceError> {
        let database = &self.settings.database;
        let rows = client
            .query(TASK_TABLES_SQL, &[&database.schema.as_str()])
            .await
            .map_err(self.sql_error("look for the task instance tables"))?;
        if let Some(row) = rows.iter().find(|r| !r.get::<_, bool>("readable")) {
            return Err(self.no_permission(row.get("table_name")));
        }
        let tables: Vec<String> = rows.iter().map(|r| r.get("table_name")).collect();
        let has = |name: &str| tables.iter().any(|t| t == name);
        let problem = match (has("task_instance"), has("task_instance_history"), layout) {
            (true, true, _) => return Ok(TaskCoverage::AllTries),
            (true, false, DagRunSchema::Airflow2) => return Ok(TaskCoverage::CurrentTries),
            (true, false, DagRunSchema::Airflow3) => "no table task_instance_history",
            (false, _, _) => "no table task_instance",
        };
        Err(SourceError::TaskTables {
            instance: self.settings.instance.clone(),
            address: database.address(),
            problem: format!("{problem} in schema {}", database.schema),
        })
    }
}

/// Classifies a `dag_run` column list; on failure, names the missing columns of the closer
/// layout.
fn classify(columns: &[String]) -> Result<DagRunSchema, String> {
    let missing = |wanted: &[&str]| -> Vec<String> {
        COMMON_COLUMNS
            .iter()
            .chain(wanted)
            .filter(|c| !columns.iter().any(|have| have == *c))
            .map(|c| c.to_string())
            .collect()
    };
    let missing2 = missing(AIRFLOW2_COLUMNS);
    let missing3 = missing(AIRFLOW3_COLUMNS);
    if missing2.is_empty() {
        Ok(DagRunSchema::Airflow2)
    } else if missing3.is_empty() {
        Ok(DagRunSchema::Airflow3)
    } else if missing3.len() < missing2.len() {
        Err(format!("{} (for Airflow 3)", missing3.join(", ")))
    } else {
        Err(format!("{} (for Airflow 2)", missing2.join(", ")))
    }
}

#[cfg(test)]
mod tests {
    use super::super::extract::{AIRFLOW2_SQL, AIRFLOW3_SQL};
    use super::*;
    use crate::source::DAG_RUN_COLUMNS;

    fn cols(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn tells_airflow_2_from_3_and_names_missing_columns() {
        let base = "id dag_id run_id state run_type queued_at start_date end_date \
                    data_interval_start data_interval_end updated_at clear_number";
        assert_eq!(
            classify(&cols(&format!("{base} execution_date external_trigger"))),
            Ok(DagRunSchema::Airflow2)
        );
        assert_eq!(
            classify(&cols(&format!("{base} logical_date run_after"))),
            Ok(DagRunSchema::Airflow3)
        );
        let err = classify(&cols(&format!("{base} logical_date"))).unwrap_err();
        assert_eq!(err, "run_after (for Airflow 3)");
    }

    #[test]
    fn both_layouts_select_the_canonical_columns_in_order() {
        for sql in [AIRFLOW2_SQL, AIRFLOW3_SQL] {
            let select = &sql[sql.find("SELECT").unwrap()..sql.find("FROM dag_run").unwrap()];
            let names: Vec<String> = select
                .trim_start_matches("SELECT")
                .split(",\n")
                .map(|item| {
                    item.split_whitespace()
                        .last()
                        .unwrap()
                        .trim_start_matches("dr.")
                        .to_string()
                })
                .collect();
            assert_eq!(names, DAG_RUN_COLUMNS, "{sql}");
        }
    }
}
