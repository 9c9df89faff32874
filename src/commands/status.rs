//! `pipewatch status`: what operators ask at 3 a.m., answered from the warehouse.
//!
//! The last invocations with their stages, rows, durations and outcomes (`pipewatch_run_log`),
//! each Airflow instance's watermark and how long ago it last loaded, pending extracts and days,
//! and whether an invocation holds the run lock right now. Readable text, or JSON for scripts.
//! It only reads (and applies no migration: on a schema that was never migrated it says so).

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;
use tokio_postgres::Client;

use super::Report;
use crate::config::Settings;
use crate::context::RunContext;
use crate::db::{self, Role};
use crate::format::plural;
use crate::migrate;
use crate::run_lock;

const RECENT_SQL: &str = include_str!("../../sql/status/recent_invocations.sql");
const INSTANCES_SQL: &str = include_str!("../../sql/status/instances.sql");

/// Why the status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// The warehouse could not be reached or its schema checked.
    #[error(transparent)]
    Migrate(#[from] migrate::MigrateError),
    /// The warehouse could not be reached.
    #[error(transparent)]
    Connect(#[from] db::ConnectError),
    /// A query failed.
    #[error("status: could not {step}")]
    Sql {
        /// What was being done.
        step: &'static str,
        /// The failure.
        #[source]
        source: db::SqlError,
    },
}

/// One recent invocation.
#[derive(Debug, Clone, Serialize)]
pub struct Invocation {
    /// Its run id.
    pub run_id: String,
    /// The command.
    pub command: String,
    /// When its first stage started.
    pub started_at: DateTime<Utc>,
    /// When its last stage ended, if any did.
    pub ended_at: Option<DateTime<Utc>>,
    /// failed if a stage failed, running if one is still running, else succeeded.
    pub outcome: String,
    /// Its stages, in order (stage, instance, outcome, rows, seconds, error).
    pub stages: serde_json::Value,
}

/// One Airflow instance as the warehouse knows it.
#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    /// The instance.
    pub airflow_instance: String,
    /// Highest loaded dag_run.id.
    pub max_source_id: Option<i32>,
    /// Airflow's clock at the newest loaded extract.
    pub last_source_read_at: Option<DateTime<Utc>>,
    /// When the last changed-run scan that was loaded began (Airflow's clock).
    pub changed_runs_scanned_at: Option<DateTime<Utc>>,
    /// When an extract of it was last loaded.
    pub last_loaded_at: Option<DateTime<Utc>>,
    /// Seconds since then.
    pub seconds_since_last_load: Option<i64>,
    /// Extracts staged and waiting to be loaded.
    pub pending_extracts: i64,
    /// Extracts a load set aside (it could not take them), waiting for an operator to load
    /// them again (`load --object KEY`) or discard them (`load --discard KEY`).
    pub set_aside_extracts: Vec<SetAsideExtract>,
    /// Days queued for the next transform.
    pub pending_days: i64,
}

/// An extract a load set aside.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct SetAsideExtract {
    /// Its key in the stage.
    pub object_key: String,
    /// When it was set aside.
    pub set_aside_at: DateTime<Utc>,
    /// Why.
    pub reason: String,
}

/// The whole status.
#[derive(Debug, Clone, Serialize)]
pub struct Status {
    /// The warehouse schema.
    pub schema: String,
    /// Migrations applied and pending.
    pub migrations_applied: usize,
    /// Migrations this binary would apply.
    pub migrations_pending: Vec<String>,
    /// Who holds the run lock, if anyone.
    pub lock_holder: Option<String>,
    /// The instances.
    pub instances: Vec<InstanceStatus>,
    /// The last invocations, newest first.
    pub recent_invocations: Vec<Invocation>,
    /// The DAGs that do not run as scheduled, most urgent first (unscheduled ones included).
    pub dags_not_on_schedule: Vec<crate::catalog::DagNotOnSchedule>,
}

/// Output formats of `status`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum StatusFormat {
    /// Readable text.
    #[default]
    Text,
    /// One JSON document.
    Json,
}

/// Arguments of `status`.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// Output format.
    pub format: StatusFormat,
    /// How many recent invocations to show (0: none).
    pub last: u32,
}

/// The status, in the format asked for.
#[derive(Debug, Clone)]
pub struct StatusReport {
    /// What was read.
    pub status: Status,
    /// How it prints.
    pub format: StatusFormat,
}

impl fmt::Display for StatusReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.format {
            StatusFormat::Text => f.write_str(&render_text(&self.status)),
            StatusFormat::Json => writeln!(
                f,
                "{}",
                serde_json::to_string_pretty(&self.status).map_err(|_| fmt::Error)?
            ),
        }
    }
}

/// Exit 1 while an extract waits for an operator (set aside), so a monitoring check that runs
/// `status` sees it.
impl Report for StatusReport {
    fn outcome(&self) -> crate::Outcome {
        if self
            .status
            .instances
            .iter()
            .any(|i| !i.set_aside_extracts.is_empty())
        {
            crate::Outcome::ChecksFailed
        } else {
            crate::Outcome::Success
        }
    }
}

/// Reads the status of the warehouse of `settings`.
pub async fn run(
    settings: &Settings,
    ctx: &RunContext,
    args: &Args,
) -> Result<StatusReport, StatusError> {
    Ok(StatusReport {
        status: read(settings, ctx, i64::from(args.last)).await?,
        format: args.format,
    })
}

async fn read(settings: &Settings, ctx: &RunContext, limit: i64) -> Result<Status, StatusError> {
    let schema = &settings.warehouse.schema;
    let client = db::connect(&settings.warehouse, Role::Warehouse, ctx.run_id).await?;
    let schema_status = migrate::status(&client, schema).await?;
    if !schema_status.exists {
        // A misspelt schema is named, never reported as merely "not migrated yet".
        migrate::require_current(&schema_status, &settings.warehouse)?;
    }
    let mut status = Status {
        schema: schema.to_string(),
        migrations_applied: schema_status.applied,
        migrations_pending: schema_status
            .pending
            .iter()
            .map(|m| m.to_string())
            .collect(),
        lock_holder: run_lock::holder(&client, schema).await,
        instances: Vec::new(),
        recent_invocations: Vec::new(),
        dags_not_on_schedule: Vec::new(),
    };
    if schema_status.applied < migrate::MIGRATIONS.len() {
        // Not (fully) migrated yet: the tables to read may not exist.
        return Ok(status);
    }
    status.instances = instances(&client).await?;
    status.recent_invocations = recent(&client, limit).await?;
    status.dags_not_on_schedule = crate::catalog::not_on_schedule(&client, None, None)
        .await
        .map_err(|e| StatusError::Sql {
            step: "read dag_schedule_status",
            source: e.into(),
        })?;
    Ok(status)
}

async fn instances(client: &Client) -> Result<Vec<InstanceStatus>, StatusError> {
    read_instances(client).await.map_err(|e| StatusError::Sql {
        step: "read the instances",
        source: e.into(),
    })
}

/// Every Airflow instance the warehouse knows, with its watermark and extracts (also read by
/// the Prometheus metrics).
pub(crate) async fn read_instances(
    client: &Client,
) -> Result<Vec<InstanceStatus>, tokio_postgres::Error> {
    let now = Utc::now();
    let rows = client.query(INSTANCES_SQL, &[]).await?;
    Ok(rows
        .iter()
        .map(|r| {
            let last_loaded_at: Option<DateTime<Utc>> = r.get("last_loaded_at");
            InstanceStatus {
                airflow_instance: r.get("airflow_instance"),
                max_source_id: r.get("max_source_id"),
                last_source_read_at: r.get("last_source_read_at"),
                changed_runs_scanned_at: r.get("changed_runs_scanned_at"),
                seconds_since_last_load: last_loaded_at.map(|t| (now - t).num_seconds()),
                last_loaded_at,
                pending_extracts: r.get("pending_extracts"),
                set_aside_extracts: serde_json::from_str(r.get("set_aside_extracts"))
                    .unwrap_or_default(),
                pending_days: r.get("pending_days"),
            }
        })
        .collect())
}

async fn recent(client: &Client, limit: i64) -> Result<Vec<Invocation>, StatusError> {
    let rows = client
        .query(RECENT_SQL, &[&limit])
        .await
        .map_err(|e| StatusError::Sql {
            step: "read pipewatch_run_log",
            source: e.into(),
        })?;
    Ok(rows
        .iter()
        .map(|r| Invocation {
            run_id: r.get("run_id"),
            command: r.get("command"),
            started_at: r.get("started_at"),
            ended_at: r.get("ended_at"),
            outcome: r.get("outcome"),
            stages: serde_json::from_str(r.get::<_, &str>("stages"))
                .unwrap_or(serde_json::Value::Null),
        })
        .collect())
}

fn ago(seconds: i64) -> String {
    match seconds {
        s if s < 120 => format!("{s} s ago"),
        s if s < 7200 => format!("{} min ago", s / 60),
        s if s < 172_800 => format!("{} h ago", s / 3600),
        s => format!("{} days ago", s / 86_400),
    }
}

/// The status as readable text.
fn render_text(status: &Status) -> String {
    let mut out = String::new();
    let push = |out: &mut String, line: String| {
        out.push_str(&line);
        out.push('\n');
    };
    push(
        &mut out,
        format!(
            "warehouse schema {}: {} migrations applied{}",
            status.schema,
            status.migrations_applied,
            if status.migrations_pending.is_empty() {
                String::new()
            } else {
                format!(
                    ", {} pending (the next run applies them)",
                    status.migrations_pending.len()
                )
            }
        ),
    );
    push(
        &mut out,
        match &status.lock_holder {
            Some(holder) => format!("run lock: held by {holder}"),
            None => "run lock: free".to_string(),
        },
    );
    push(&mut out, String::new());
    push(&mut out, "Airflow instances:".to_string());
    if status.instances.is_empty() {
        push(&mut out, "  (none loaded yet)".to_string());
    }
    for i in &status.instances {
        push(
            &mut out,
            format!(
                "  {}: last loaded {}, watermark id {}, Airflow clock {}, {}, {} queued",
                i.airflow_instance,
                i.seconds_since_last_load
                    .map(ago)
                    .unwrap_or_else(|| "never".into()),
                i.max_source_id
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "-".into()),
                i.last_source_read_at
                    .map(|t| t.format("%Y-%m-%d %H:%M:%S UTC").to_string())
                    .unwrap_or_else(|| "-".into()),
                plural(
                    i.pending_extracts as u64,
                    "pending extract",
                    "pending extracts"
                ),
                plural(i.pending_days as u64, "day", "days")
            ),
        );
        for e in &i.set_aside_extracts {
            push(
                &mut out,
                format!(
                    "    SET ASIDE since {}: {}: {} (after fixing the cause: pipewatch load --object {}; or drop it: pipewatch load --discard {})",
                    e.set_aside_at.format("%Y-%m-%d %H:%M:%S UTC"),
                    e.object_key,
                    e.reason,
                    e.object_key,
                    e.object_key
                ),
            );
        }
    }
    push(&mut out, String::new());
    // Unscheduled DAGs are by design: counted, not listed.
    let (unscheduled, listed): (Vec<_>, Vec<_>) = status
        .dags_not_on_schedule
        .iter()
        .partition(|d| d.status == "unscheduled");
    push(
        &mut out,
        format!(
            "DAGs not running as scheduled (at the last catalogue reading): {}",
            if listed.is_empty() {
                "none".to_string()
            } else {
                listed.len().to_string()
            }
        ),
    );
    for d in &listed {
        let mut line = format!(
            "  {} [{}]: {}",
            crate::logging::escape_controls(&d.dag_id),
            crate::logging::escape_controls(&d.airflow_instance),
            d.status
        );
        if let Some(since) = d.since {
            line.push_str(&format!(" since {}", since.format("%Y-%m-%d %H:%M UTC")));
        }
        if let Some(detail) = &d.detail {
            line.push_str(&format!("; {}", crate::logging::escape_controls(detail)));
        }
        if !d.owners.is_empty() {
            line.push_str(&format!(
                "; owners {}",
                crate::logging::escape_controls(&d.owners.join(", "))
            ));
        }
        push(&mut out, line);
    }
    if !unscheduled.is_empty() {
        push(
            &mut out,
            format!(
                "  (and {} without a schedule: manual, asset-triggered or finished)",
                plural(unscheduled.len() as u64, "DAG", "DAGs")
            ),
        );
    }
    push(&mut out, String::new());
    push(&mut out, "Recent invocations (newest first):".to_string());
    for inv in &status.recent_invocations {
        push(
            &mut out,
            format!(
                "  {} {:<10} {:<9} run {}",
                inv.started_at.format("%Y-%m-%d %H:%M:%S"),
                inv.command,
                inv.outcome,
                inv.run_id
            ),
        );
        for stage in inv.stages.as_array().into_iter().flatten() {
            let field = |k: &str| match &stage[k] {
                serde_json::Value::Null => "-".to_string(),
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            let instance = match &stage["airflow_instance"] {
                serde_json::Value::String(s) => format!(" [{s}]"),
                _ => String::new(),
            };
            // Extract and load count DAG runs and task tries apart (since migration 0012).
            let counts =
                if stage["task_rows_read"].is_null() && stage["task_rows_written"].is_null() {
                    format!(
                        "rows read {}, written {}",
                        field("rows_read"),
                        field("rows_written")
                    )
                } else {
                    format!(
                        "runs read {}, written {}; task tries read {}, written {}",
                        field("rows_read"),
                        field("rows_written"),
                        field("task_rows_read"),
                        field("task_rows_written")
                    )
                };
            let mut line = format!(
                "      {}{instance}: {}, {counts}, {} s",
                field("stage"),
                field("outcome"),
                field("seconds")
            );
            if let serde_json::Value::String(error) = &stage["error"] {
                line.push_str(&format!("; error: {error}"));
            }
            push(&mut out, line);
        }
    }
    out
}
