//! The Airflow metadata database as a source: which `dag_run` schema it has.
//!
//! Airflow 2.x has `execution_date` (NOT NULL) and `external_trigger`; Airflow 3.x renamed
//! `execution_date` to `logical_date` (nullable), dropped `external_trigger` and added
//! `run_after`. pipewatch reads the catalog to tell them apart rather than trusting a setting.

use tokio_postgres::Client;

use crate::config::AirflowSettings;
use crate::db;

const COLUMNS_SQL: &str = include_str!("../sql/extract/dag_run_columns.sql");

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

/// The source could not be read or is not an Airflow metadata database.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// A query failed.
    #[error("Airflow instance {instance}: could not {step}: {detail}")]
    Sql {
        /// The instance.
        instance: String,
        /// What was being done.
        step: &'static str,
        /// The server's message.
        detail: String,
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
}

/// Reads the catalog of the source and tells which `dag_run` layout it has.
pub async fn detect_schema(
    client: &Client,
    settings: &AirflowSettings,
) -> Result<DagRunSchema, SourceError> {
    let rows = client
        .query(COLUMNS_SQL, &[&settings.database.schema.as_str()])
        .await
        .map_err(|e| SourceError::Sql {
            instance: settings.instance.clone(),
            step: "read the columns of dag_run",
            detail: db::describe(&e),
        })?;
    let columns: Vec<String> = rows.iter().map(|r| r.get(0)).collect();
    if columns.is_empty() {
        return Err(SourceError::NoDagRun {
            instance: settings.instance.clone(),
            schema: settings.database.schema.to_string(),
            address: settings.database.address(),
            section: settings.database.section.clone(),
        });
    }
    classify(&columns).map_err(|missing| SourceError::UnknownLayout {
        instance: settings.instance.clone(),
        address: settings.database.address(),
        missing,
    })
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
    use super::*;

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
}
