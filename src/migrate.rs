//! `pipewatch migrate`: the warehouse schema, versioned and checksummed.
//!
//! The migrations are the files in `sql/schema/`, embedded in the binary. They are applied in
//! order, in one transaction, under an advisory lock, and each is recorded in
//! `pipewatch_schema_migrations` with the SHA-256 of its text. A migration that was edited after
//! it was applied is refused (edit nothing once released: add a new migration instead), and so is
//! a schema that a newer pipewatch has migrated further than this binary knows.
//!
//! Every command that writes to the warehouse calls [`apply`] first, so a new version of
//! pipewatch upgrades its schema on its first run; `pipewatch migrate` does only that. Commands
//! that only read (report, alerts without `--evaluate`, status) call [`connect_reading`]
//! instead: they never create or change the schema, and say what to run when it is missing or
//! behind.

use chrono::Utc;
use tokio_postgres::Client;

use crate::config::{Identifier, PostgresSettings, Settings};
use crate::context::RunContext;
use crate::db::{self, Role};
use crate::run_log::{self, Stage, StageCounts};

/// One embedded migration.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    /// Its number, from the file name.
    pub version: i32,
    /// Its file name in `sql/schema/`.
    pub name: &'static str,
    /// Its text.
    pub sql: &'static str,
}

/// The migrations this binary carries, in order. Never edit a released one: add a new file.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "0001_dag_run_history.sql",
        sql: include_str!("../sql/schema/0001_dag_run_history.sql"),
    },
    Migration {
        version: 2,
        name: "0002_validation_run_history.sql",
        sql: include_str!("../sql/schema/0002_validation_run_history.sql"),
    },
    Migration {
        version: 3,
        name: "0003_pipewatch_run_log.sql",
        sql: include_str!("../sql/schema/0003_pipewatch_run_log.sql"),
    },
    Migration {
        version: 4,
        name: "0004_extract_state.sql",
        sql: include_str!("../sql/schema/0004_extract_state.sql"),
    },
    Migration {
        version: 5,
        name: "0005_daily_models.sql",
        sql: include_str!("../sql/schema/0005_daily_models.sql"),
    },
    Migration {
        version: 6,
        name: "0006_task_run_history.sql",
        sql: include_str!("../sql/schema/0006_task_run_history.sql"),
    },
    Migration {
        version: 7,
        name: "0007_run_log_outcomes.sql",
        sql: include_str!("../sql/schema/0007_run_log_outcomes.sql"),
    },
    Migration {
        version: 8,
        name: "0008_set_aside_and_wider_text.sql",
        sql: include_str!("../sql/schema/0008_set_aside_and_wider_text.sql"),
    },
    Migration {
        version: 9,
        name: "0009_validation_airflow_context.sql",
        sql: include_str!("../sql/schema/0009_validation_airflow_context.sql"),
    },
    Migration {
        version: 10,
        name: "0010_alert_history.sql",
        sql: include_str!("../sql/schema/0010_alert_history.sql"),
    },
    Migration {
        version: 11,
        name: "0011_unbounded_runtime_sum.sql",
        sql: include_str!("../sql/schema/0011_unbounded_runtime_sum.sql"),
    },
    Migration {
        version: 12,
        name: "0012_recheck_index_and_task_counts.sql",
        sql: include_str!("../sql/schema/0012_recheck_index_and_task_counts.sql"),
    },
    Migration {
        version: 13,
        name: "0013_dag_catalog.sql",
        sql: include_str!("../sql/schema/0013_dag_catalog.sql"),
    },
    Migration {
        version: 14,
        name: "0014_dag_schedule_status.sql",
        sql: include_str!("../sql/schema/0014_dag_schedule_status.sql"),
    },
    Migration {
        version: 15,
        name: "0015_schedule_status_for_alerts.sql",
        sql: include_str!("../sql/schema/0015_schedule_status_for_alerts.sql"),
    },
    Migration {
        version: 16,
        name: "0016_pool_history.sql",
        sql: include_str!("../sql/schema/0016_pool_history.sql"),
    },
    Migration {
        version: 17,
        name: "0017_dag_dimensions.sql",
        sql: include_str!("../sql/schema/0017_dag_dimensions.sql"),
    },
    Migration {
        version: 18,
        name: "0018_deadline_history.sql",
        sql: include_str!("../sql/schema/0018_deadline_history.sql"),
    },
    Migration {
        version: 19,
        name: "0019_expected_runs.sql",
        sql: include_str!("../sql/schema/0019_expected_runs.sql"),
    },
    Migration {
        version: 20,
        name: "0020_alert_routes.sql",
        sql: include_str!("../sql/schema/0020_alert_routes.sql"),
    },
    Migration {
        version: 21,
        name: "0021_objectives.sql",
        sql: include_str!("../sql/schema/0021_objectives.sql"),
    },
    Migration {
        version: 22,
        name: "0022_objective_judging.sql",
        sql: include_str!("../sql/schema/0022_objective_judging.sql"),
    },
    Migration {
        version: 23,
        name: "0023_indexes_for_few_dags.sql",
        sql: include_str!("../sql/schema/0023_indexes_for_few_dags.sql"),
    },
    Migration {
        version: 24,
        name: "0024_alert_episodes.sql",
        sql: include_str!("../sql/schema/0024_alert_episodes.sql"),
    },
    Migration {
        version: 25,
        name: "0025_critical_path.sql",
        sql: include_str!("../sql/schema/0025_critical_path.sql"),
    },
    Migration {
        version: 26,
        name: "0026_blame_and_cost.sql",
        sql: include_str!("../sql/schema/0026_blame_and_cost.sql"),
    },
];

const BOOTSTRAP_SQL: &str = include_str!("../sql/migrate/bootstrap.sql");
const APPLIED_SQL: &str = include_str!("../sql/migrate/applied.sql");
const RECORD_SQL: &str = include_str!("../sql/migrate/record.sql");
const LOCK_SQL: &str = include_str!("../sql/migrate/lock.sql");
const SCHEMA_EXISTS_SQL: &str = include_str!("../sql/migrate/schema_exists.sql");
const TABLE_EXISTS_SQL: &str = include_str!("../sql/migrate/table_exists.sql");

/// Why the schema could not be migrated.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// The warehouse could not be reached.
    #[error(transparent)]
    Connect(#[from] db::ConnectError),
    /// A statement failed.
    #[error("could not migrate warehouse schema {schema}: {step}: {detail}")]
    Sql {
        /// The schema.
        schema: String,
        /// What was being done.
        step: String,
        /// The server's message.
        detail: String,
    },
    /// An applied migration's text differs from the one in this binary.
    #[error(
        "migration {name} was changed after it was applied to schema {schema} (applied checksum {applied}, this binary's {embedded}): released migrations must never be edited; restore the original file and add a new migration instead"
    )]
    Edited {
        /// The schema.
        schema: String,
        /// The migration's file name.
        name: String,
        /// Checksum recorded when applied.
        applied: String,
        /// Checksum of the text in this binary.
        embedded: String,
    },
    /// The schema has a migration this binary does not know.
    #[error(
        "warehouse schema {schema} has migration {version} ({name}), which this pipewatch {binary} does not know: it was migrated by a newer pipewatch; upgrade pipewatch"
    )]
    Newer {
        /// The schema.
        schema: String,
        /// The unknown version.
        version: i32,
        /// Its recorded name.
        name: String,
        /// This binary's version.
        binary: &'static str,
    },
    /// Recording the stage failed.
    #[error(transparent)]
    RunLog(#[from] run_log::RunLogError),
    /// A command that only reads found no such schema (a reading command never creates one).
    #[error(
        "warehouse schema {schema} does not exist in database {database}: check [warehouse] schema (a command that only reads creates nothing), or create it with `pipewatch migrate` as the loader role"
    )]
    NoSchema {
        /// The schema.
        schema: String,
        /// The database.
        database: String,
    },
    /// A command that only reads found the schema behind this binary.
    #[error(
        "warehouse schema {schema} lacks {pending} of this pipewatch's migrations (first: {first}): run `pipewatch migrate` (or let the next `pipewatch run` do it) as the role that owns the schema; commands that only read never migrate"
    )]
    NotCurrent {
        /// The schema.
        schema: String,
        /// How many migrations are pending.
        pending: usize,
        /// The first pending one.
        first: &'static str,
    },
}

impl MigrateError {
    /// Whether the error is the configuration's (exit 2): a schema that does not exist.
    pub fn is_usage(&self) -> bool {
        matches!(self, MigrateError::NoSchema { .. })
    }
}

/// What a migration did.
#[derive(Debug, Clone, Default)]
pub struct MigrateReport {
    /// The schema.
    pub schema: String,
    /// Names of the migrations applied now.
    pub applied_now: Vec<&'static str>,
    /// How many were already applied before.
    pub already_applied: usize,
}

/// The state of the schema, read without changing anything.
#[derive(Debug, Clone)]
pub struct SchemaStatus {
    /// Whether the schema exists at all.
    pub exists: bool,
    /// Migrations applied.
    pub applied: usize,
    /// Migrations this binary would apply.
    pub pending: Vec<&'static str>,
}

/// `pipewatch migrate`: connects to the warehouse and applies pending migrations, recording the
/// stage in `pipewatch_run_log` even when nothing was pending.
pub async fn run(settings: &Settings, ctx: &RunContext) -> Result<MigrateReport, MigrateError> {
    let mut client = db::connect(&settings.warehouse, Role::Warehouse, ctx.run_id).await?;
    apply(&mut client, &settings.warehouse.schema, ctx, true).await
}

/// Connects to the warehouse for a command that writes to it, applying pending migrations first
/// (recorded in `pipewatch_run_log` only when there were some).
pub async fn connect_and_apply(
    settings: &PostgresSettings,
    ctx: &RunContext,
) -> Result<Client, MigrateError> {
    let mut client = db::connect(settings, Role::Warehouse, ctx.run_id).await?;
    apply(&mut client, &settings.schema, ctx, false).await?;
    Ok(client)
}

/// Connects to the warehouse for a command that only reads (report, alerts, status): checks that
/// the schema exists and is current, and changes nothing, so a read-only role can run it and a
/// misspelt schema is named instead of created.
pub async fn connect_reading(
    settings: &PostgresSettings,
    ctx: &RunContext,
) -> Result<Client, MigrateError> {
    let client = db::connect(settings, Role::Warehouse, ctx.run_id).await?;
    let status = status(&client, &settings.schema).await?;
    require_current(&status, settings)?;
    Ok(client)
}

/// The error a reading command gives for a schema that is missing or behind this binary.
pub fn require_current(
    status: &SchemaStatus,
    settings: &PostgresSettings,
) -> Result<(), MigrateError> {
    if !status.exists {
        return Err(MigrateError::NoSchema {
            schema: settings.schema.to_string(),
            database: settings.database.clone(),
        });
    }
    match status.pending.first() {
        Some(first) => Err(MigrateError::NotCurrent {
            schema: settings.schema.to_string(),
            pending: status.pending.len(),
            first,
        }),
        None => Ok(()),
    }
}

/// Applies the pending migrations to `schema` (creating it if needed). The stage is recorded in
/// `pipewatch_run_log` when `always_record` is set or a migration was applied.
pub async fn apply(
    client: &mut Client,
    schema: &Identifier,
    ctx: &RunContext,
    always_record: bool,
) -> Result<MigrateReport, MigrateError> {
    let started_at = Utc::now();
    let sql_error = |step: &str, e: tokio_postgres::Error| MigrateError::Sql {
        schema: schema.to_string(),
        step: step.to_string(),
        detail: db::describe(&e),
    };
    let tx = client
        .transaction()
        .await
        .map_err(|e| sql_error("begin", e))?;
    tx.query_one(LOCK_SQL, &[&schema.as_str()])
        .await
        .map_err(|e| sql_error("take the migration lock", e))?;
    let exists: bool = tx
        .query_one(SCHEMA_EXISTS_SQL, &[&schema.as_str()])
        .await
        .map_err(|e| sql_error("look up the schema", e))?
        .get(0);
    if !exists {
        // The identifier is validated and quoted in one place (config::Identifier).
        tx.batch_execute(&format!("CREATE SCHEMA {}", schema.quoted()))
            .await
            .map_err(|e| {
                sql_error(
                    "create the schema (does the role have CREATE on the database?)",
                    e,
                )
            })?;
    }
    tx.batch_execute(BOOTSTRAP_SQL)
        .await
        .map_err(|e| sql_error("create pipewatch_schema_migrations", e))?;
    let applied = check_applied(&tx, schema).await?;
    let mut report = MigrateReport {
        schema: schema.to_string(),
        already_applied: applied,
        ..Default::default()
    };
    for migration in &MIGRATIONS[applied..] {
        tx.batch_execute(migration.sql)
            .await
            .map_err(|e| sql_error(&format!("apply {}", migration.name), e))?;
        tx.execute(
            RECORD_SQL,
            &[
                &migration.version,
                &migration.name,
                &migration.sql,
                &ctx.run_id,
            ],
        )
        .await
        .map_err(|e| sql_error(&format!("record {}", migration.name), e))?;
        tracing::info!(migration = migration.name, "Applied migration.");
        report.applied_now.push(migration.name);
    }
    if always_record || !report.applied_now.is_empty() {
        let counts = StageCounts {
            rows_read: None,
            rows_written: Some(report.applied_now.len() as i64),
            ..StageCounts::default()
        };
        run_log::record_finished(&tx, ctx, Stage::Migrate, started_at, &counts).await?;
    }
    tx.commit().await.map_err(|e| sql_error("commit", e))?;
    tracing::info!(
        schema = schema.as_str(),
        applied_now = report.applied_now.len(),
        already_applied = report.already_applied,
        "Warehouse schema is up to date."
    );
    Ok(report)
}

/// Reads whether the schema exists and which migrations are applied and pending, changing
/// nothing.
pub async fn status(client: &Client, schema: &Identifier) -> Result<SchemaStatus, MigrateError> {
    let exists: bool = client
        .query_one(SCHEMA_EXISTS_SQL, &[&schema.as_str()])
        .await
        .map_err(|e| MigrateError::Sql {
            schema: schema.to_string(),
            step: "look up the schema".into(),
            detail: db::describe(&e),
        })?
        .get(0);
    let has_table: bool = client
        .query_one(TABLE_EXISTS_SQL, &[&schema.as_str()])
        .await
        .map_err(|e| MigrateError::Sql {
            schema: schema.to_string(),
            step: "look up pipewatch_schema_migrations".into(),
            detail: db::describe(&e),
        })?
        .get(0);
    let applied = if has_table {
        check_applied(client, schema).await?
    } else {
        0
    };
    Ok(SchemaStatus {
        exists,
        applied,
        pending: MIGRATIONS[applied..].iter().map(|m| m.name).collect(),
    })
}

/// Verifies the applied migrations against this binary's and returns how many are applied.
async fn check_applied(
    client: &impl tokio_postgres::GenericClient,
    schema: &Identifier,
) -> Result<usize, MigrateError> {
    let versions: Vec<i32> = MIGRATIONS.iter().map(|m| m.version).collect();
    let texts: Vec<&str> = MIGRATIONS.iter().map(|m| m.sql).collect();
    let rows = client
        .query(APPLIED_SQL, &[&versions, &texts])
        .await
        .map_err(|e| MigrateError::Sql {
            schema: schema.to_string(),
            step: "read applied migrations".into(),
            detail: db::describe(&e),
        })?;
    for row in &rows {
        let version: i32 = row.get("version");
        let name: String = row.get("name");
        let applied: String = row.get("checksum_sha256");
        let embedded: Option<String> = row.get("embedded_checksum_sha256");
        match embedded {
            None => {
                return Err(MigrateError::Newer {
                    schema: schema.to_string(),
                    version,
                    name,
                    binary: crate::context::VERSION,
                });
            }
            Some(embedded) if embedded != applied => {
                return Err(MigrateError::Edited {
                    schema: schema.to_string(),
                    name,
                    applied,
                    embedded,
                });
            }
            Some(_) => {}
        }
    }
    // Versions are 1..=N without gaps (a unit test pins that), so applied ones are a prefix.
    Ok(rows.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_numbered_in_order_without_gaps() {
        for (i, m) in MIGRATIONS.iter().enumerate() {
            assert_eq!(m.version as usize, i + 1, "{}", m.name);
            assert!(
                m.name.starts_with(&format!("{:04}_", m.version)),
                "{} should start with its version",
                m.name
            );
        }
    }
}
