//! `pipewatch extract`: reads DAG runs from each Airflow metadata database into one CSV object
//! per instance in the stage, and registers the object in `staged_extract`.
//!
//! Which runs an extract reads (the reasoning is in docs/extract-watermark.md):
//! - a **full** extract (the first one of an instance, `--full`, or when Airflow's ids went
//!   backwards) reads every run;
//! - an **incremental** extract reads, in one repeatable-read snapshot, each part on an index
//!   Airflow has: runs with an id above the loaded watermark less `recheck_last_ids`, every run
//!   queued or running, and every run the warehouse holds as unfinished; and, every
//!   `changed_runs_scan_interval_minutes`, every run whose `updated_at` moved since the last scan
//!   (less an overlap), which catches runs cleared and re-run between two extracts.
//!
//! The rows are streamed as PostgreSQL's own CSV (`COPY ... TO STDOUT`, every non-NULL value
//! quoted, so NULL and the empty string stay apart) straight into the stage object: no row is
//! parsed or held in memory. The watermark is not moved here: a load moves it, in the load's
//! transaction, so an extract that is never loaded loses nothing.

use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use tokio_postgres::{Client, IsolationLevel};

use crate::airflow::{self, DagRunSchema};
use crate::config::{AirflowSettings, ExtractSettings, Settings};
use crate::context::RunContext;
use crate::db::{self, Role};
use crate::run_log::{self, StageCounts, StageOutcome};
use crate::stage::{ObjectStore, StageError};

const AIRFLOW2_SQL: &str = include_str!("../sql/extract/dag_runs_airflow2.sql");
const AIRFLOW3_SQL: &str = include_str!("../sql/extract/dag_runs_airflow3.sql");
const FILTER_IDS_SQL: &str = include_str!("../sql/extract/filter_ids.sql");
const SNAPSHOT_SQL: &str = include_str!("../sql/extract/source_snapshot.sql");
const INCREMENTAL_IDS_SQL: &str = include_str!("../sql/extract/incremental_ids.sql");
const CHANGED_IDS_SQL: &str = include_str!("../sql/extract/changed_ids.sql");
const SET_SETTING_SQL: &str = include_str!("../sql/extract/set_setting.sql");
const WATERMARK_SQL: &str = include_str!("../sql/extract/watermark.sql");
const UNFINISHED_IDS_SQL: &str = include_str!("../sql/extract/unfinished_ids.sql");
const REGISTER_SQL: &str = include_str!("../sql/extract/register.sql");
const WINDOW2_SQL: &str = include_str!("../sql/extract/window_ids_airflow2.sql");
const WINDOW3_SQL: &str = include_str!("../sql/extract/window_ids_airflow3.sql");

/// The CSV columns of every extract, in order: the header row of each staged object.
pub const EXTRACT_COLUMNS: [&str; 18] = [
    "airflow_instance",
    "airflow_major_version",
    "id",
    "dag_id",
    "run_id",
    "execution_date",
    "run_after",
    "state",
    "run_type",
    "external_trigger",
    "queued_at",
    "start_date",
    "end_date",
    "data_interval_start",
    "data_interval_end",
    "clear_number",
    "source_updated_at",
    "source_read_at",
];

/// Why an extract failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// No such Airflow instance in the configuration.
    #[error("no Airflow instance named {name:?} in the configuration (configured: {known})")]
    UnknownInstance {
        /// The name asked for.
        name: String,
        /// The configured names.
        known: String,
    },
    /// No Airflow instance is configured.
    #[error(
        "no Airflow instance configured: add an [airflowdb_config] section (see pipeline.conf.example)"
    )]
    NoInstance,
    /// A connection failed.
    #[error(transparent)]
    Connect(#[from] db::ConnectError),
    /// The source is not a supported Airflow metadata database.
    #[error(transparent)]
    Source(#[from] airflow::SourceError),
    /// A query on the Airflow database failed.
    #[error("extract from Airflow instance {instance}: could not {step}: {detail}")]
    SourceSql {
        /// The instance.
        instance: String,
        /// What was being done.
        step: &'static str,
        /// The server's message.
        detail: String,
    },
    /// A query on the warehouse failed.
    #[error("extract of Airflow instance {instance}: could not {step} in the warehouse: {detail}")]
    WarehouseSql {
        /// The instance.
        instance: String,
        /// What was being done.
        step: &'static str,
        /// The server's message.
        detail: String,
    },
    /// Writing the object failed.
    #[error("extract of Airflow instance {instance}: {error}")]
    Stage {
        /// The instance.
        instance: String,
        /// The stage error (boxed: it is large and rare).
        error: Box<StageError>,
    },
    /// Recording the stage failed.
    #[error(transparent)]
    RunLog(#[from] run_log::RunLogError),
}

/// How an extract chose its runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractMode {
    /// New, in-flight, unfinished and (when due) changed runs.
    Incremental,
    /// Every run.
    Full,
    /// Every run of a window of days (a backfill); moves no watermark.
    Window,
}

impl ExtractMode {
    /// The name stored in `staged_extract.extract_mode`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExtractMode::Incremental => "incremental",
            ExtractMode::Full => "full",
            ExtractMode::Window => "window",
        }
    }
}

/// Which runs an extract reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtractScope<'a> {
    /// New and changed runs since the watermark (every run when `full`).
    Incremental {
        /// Read every run.
        full: bool,
    },
    /// Every run whose day (in `time_zone`) is in `from..=to`.
    Window {
        /// First day.
        from: chrono::NaiveDate,
        /// Last day.
        to: chrono::NaiveDate,
        /// The reporting time zone.
        time_zone: &'a str,
    },
}

/// What to extract.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Read every run, whatever the watermark.
    pub full: bool,
    /// Only this instance (default: all configured).
    pub instance: Option<String>,
}

/// What one extract staged.
#[derive(Debug, Clone)]
pub struct ExtractReport {
    /// The Airflow instance.
    pub instance: String,
    /// The staged object's key.
    pub object_key: String,
    /// How runs were chosen.
    pub mode: ExtractMode,
    /// Whether the extract scanned for changed runs (`updated_at`).
    pub scanned_changed_runs: bool,
    /// DAG runs in the object.
    pub rows: i64,
    /// Size of the object.
    pub bytes: i64,
    /// Wall time.
    pub seconds: f64,
}

/// The instances `options` selects.
pub fn select_instances<'a>(
    settings: &'a Settings,
    instance: Option<&str>,
) -> Result<Vec<&'a AirflowSettings>, ExtractError> {
    if settings.airflow.is_empty() {
        return Err(ExtractError::NoInstance);
    }
    match instance {
        None => Ok(settings.airflow.iter().collect()),
        Some(name) => settings
            .airflow
            .iter()
            .find(|a| a.instance == name)
            .map(|a| vec![a])
            .ok_or_else(|| ExtractError::UnknownInstance {
                name: name.to_string(),
                known: settings
                    .airflow
                    .iter()
                    .map(|a| a.instance.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
    }
}

/// Extracts one instance into the stage, recording the stage in `pipewatch_run_log`.
pub async fn extract_instance(
    instance: &AirflowSettings,
    extract: &ExtractSettings,
    scope: ExtractScope<'_>,
    warehouse: &Client,
    store: &ObjectStore,
    ctx: &RunContext,
) -> Result<ExtractReport, ExtractError> {
    let record = run_log::start(warehouse, ctx, "extract", Some(&instance.instance)).await?;
    let result = extract_inner(instance, extract, scope, warehouse, store, ctx).await;
    let (outcome, counts, error) = match &result {
        Ok(report) => (
            StageOutcome::Succeeded,
            StageCounts {
                rows_read: Some(report.rows),
                rows_written: Some(report.rows),
            },
            None,
        ),
        Err(e) => (
            StageOutcome::Failed,
            StageCounts::default(),
            Some(e.to_string()),
        ),
    };
    run_log::finish(warehouse, &record, outcome, &counts, error.as_deref()).await?;
    if let Ok(report) = &result {
        tracing::info!(
            instance = %report.instance,
            mode = report.mode.as_str(),
            scanned_changed_runs = report.scanned_changed_runs,
            rows = report.rows,
            bytes = report.bytes,
            seconds = report.seconds,
            object = %report.object_key,
            "Extracted DAG runs."
        );
    }
    result
}

async fn extract_inner(
    instance: &AirflowSettings,
    extract: &ExtractSettings,
    scope: ExtractScope<'_>,
    warehouse: &Client,
    store: &ObjectStore,
    ctx: &RunContext,
) -> Result<ExtractReport, ExtractError> {
    let started = Instant::now();
    let name = instance.instance.as_str();
    let wh_error = |step: &'static str| {
        move |e: tokio_postgres::Error| ExtractError::WarehouseSql {
            instance: name.to_string(),
            step,
            detail: db::describe(&e),
        }
    };
    let src_error = |step: &'static str| {
        move |e: tokio_postgres::Error| ExtractError::SourceSql {
            instance: name.to_string(),
            step,
            detail: db::describe(&e),
        }
    };

    // What the warehouse already holds.
    let watermark = warehouse
        .query_opt(WATERMARK_SQL, &[&name])
        .await
        .map_err(wh_error("read the watermark"))?;
    let loaded_max_id: Option<i32> = watermark.as_ref().and_then(|r| r.get(0));
    let scanned_at: Option<DateTime<Utc>> = watermark.as_ref().and_then(|r| r.get(1));
    let unfinished: Vec<i32> = warehouse
        .query(UNFINISHED_IDS_SQL, &[&name])
        .await
        .map_err(wh_error("read the unfinished runs"))?
        .iter()
        .map(|r| r.get(0))
        .collect();

    // One consistent snapshot of the source for choosing ids and copying rows.
    let mut source = db::connect(&instance.database, Role::Airflow, ctx.run_id).await?;
    let layout = airflow::detect_schema(&source, instance).await?;
    let tx = source
        .build_transaction()
        .isolation_level(IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(src_error("start a read-only transaction"))?;
    let snapshot = tx
        .query_one(SNAPSHOT_SQL, &[])
        .await
        .map_err(src_error("read the clock and highest id"))?;
    let source_now: DateTime<Utc> = snapshot.get("source_now");
    let source_max_id: Option<i32> = snapshot.get("max_id");

    let mode = match scope {
        ExtractScope::Window { .. } => ExtractMode::Window,
        ExtractScope::Incremental { full } => match loaded_max_id {
            _ if full => ExtractMode::Full,
            None => ExtractMode::Full,
            Some(loaded) if source_max_id.unwrap_or(0) < loaded => {
                tracing::warn!(
                    instance = name,
                    loaded_max_id = loaded,
                    source_max_id,
                    "Airflow's highest dag_run id is below the one already loaded (was the metadata database recreated?): reading every run."
                );
                ExtractMode::Full
            }
            Some(_) => ExtractMode::Incremental,
        },
    };

    let mut changed_runs_since = None;
    let ids = match (mode, scope) {
        (ExtractMode::Full, _) => None,
        (
            _,
            ExtractScope::Window {
                from,
                to,
                time_zone,
            },
        ) => {
            let sql = match layout {
                DagRunSchema::Airflow2 => WINDOW2_SQL,
                DagRunSchema::Airflow3 => WINDOW3_SQL,
            };
            let ids: Vec<i32> = tx
                .query(sql, &[&time_zone, &from, &to])
                .await
                .map_err(src_error("select the runs of the window"))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            Some(ids)
        }
        (_, ExtractScope::Incremental { .. }) => {
            let above = loaded_max_id
                .unwrap_or(0)
                .saturating_sub(extract.recheck_last_ids.min(i32::MAX as u64) as i32);
            let mut ids: Vec<i32> = tx
                .query(INCREMENTAL_IDS_SQL, &[&above, &unfinished])
                .await
                .map_err(src_error("select new and unfinished runs"))?
                .iter()
                .map(|r| r.get(0))
                .collect();
            let interval = Duration::minutes(extract.changed_runs_scan_interval_minutes as i64);
            let due = scanned_at.is_none_or(|at| source_now - at >= interval);
            if due {
                let overlap = Duration::minutes(extract.changed_runs_scan_overlap_minutes as i64);
                let since = scanned_at.unwrap_or(source_now) - overlap;
                ids.extend(
                    tx.query(CHANGED_IDS_SQL, &[&since])
                        .await
                        .map_err(src_error("scan for changed runs (updated_at)"))?
                        .iter()
                        .map(|r| r.get::<_, i32>(0)),
                );
                changed_runs_since = Some(since);
            }
            ids.sort_unstable();
            ids.dedup();
            Some(ids)
        }
    };

    tx.query_one(SET_SETTING_SQL, &[&"pipewatch.airflow_instance", &name])
        .await
        .map_err(src_error("set the instance name"))?;
    let projection = match layout {
        DagRunSchema::Airflow2 => AIRFLOW2_SQL,
        DagRunSchema::Airflow3 => AIRFLOW3_SQL,
    };
    let query = match &ids {
        None => projection.to_string(),
        Some(ids) => {
            // An integer[] literal, bound as a parameter to set_config (never into SQL text).
            let list = ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
            tx.query_one(
                SET_SETTING_SQL,
                &[&"pipewatch.extract_ids", &format!("{{{list}}}")],
            )
            .await
            .map_err(src_error("set the selected ids"))?;
            format!("{projection}{FILTER_IDS_SQL}")
        }
    };
    let copy = format!("COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true, FORCE_QUOTE *)");
    let stream = tx
        .copy_out(copy.as_str())
        .await
        .map_err(src_error("start copying dag_run"))?;

    let object_key = format!(
        "dag_run/{name}/{}/{}.csv",
        source_now.format("%Y-%m-%d"),
        ctx.run_id
    );
    let stage_error = |error| ExtractError::Stage {
        instance: name.to_string(),
        error: Box::new(error),
    };
    let mut writer = store.create(&object_key).await.map_err(stage_error)?;
    let mut counter = CsvRecordCounter::default();
    let mut bytes = 0i64;
    futures_util::pin_mut!(stream);
    while let Some(chunk) = stream.next().await {
        let written = match chunk {
            Ok(chunk) => {
                counter.feed(&chunk);
                bytes += chunk.len() as i64;
                writer.write(&chunk).await.map_err(stage_error)
            }
            Err(e) => Err(src_error("copy dag_run")(e)),
        };
        if let Err(e) = written {
            writer.abort().await;
            return Err(e);
        }
    }
    writer.finish().await.map_err(stage_error)?;
    // The transaction only read; ending it releases the snapshot.
    tx.commit()
        .await
        .map_err(src_error("end the transaction"))?;
    let rows = counter.records().saturating_sub(1) as i64;

    let scanned = mode == ExtractMode::Full || changed_runs_since.is_some();
    warehouse
        .execute(
            REGISTER_SQL,
            &[
                &object_key,
                &name,
                &layout.major_version(),
                &mode.as_str(),
                &ctx.run_id,
                &source_now,
                &rows,
                &bytes,
                &source_max_id,
                &changed_runs_since,
            ],
        )
        .await
        .map_err(wh_error("register the staged extract"))?;
    Ok(ExtractReport {
        instance: name.to_string(),
        object_key,
        mode,
        scanned_changed_runs: scanned,
        rows,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}

/// Counts CSV records in a byte stream without parsing fields: a newline ends a record unless
/// it is inside a quoted field (a doubled quote inside quotes toggles twice, so it is neutral).
#[derive(Debug, Default)]
pub struct CsvRecordCounter {
    in_quotes: bool,
    records: u64,
    pending: bool,
}

impl CsvRecordCounter {
    /// Feeds the next bytes.
    pub fn feed(&mut self, bytes: &[u8]) {
        for &b in bytes {
            match b {
                b'"' => self.in_quotes = !self.in_quotes,
                b'\n' if !self.in_quotes => {
                    self.records += 1;
                    self.pending = false;
                    continue;
                }
                _ => {}
            }
            self.pending = true;
        }
    }

    /// Records seen so far (a last record without a final newline counts).
    pub fn records(&self) -> u64 {
        self.records + u64::from(self.pending)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_records_with_quoted_newlines_split_across_chunks() {
        let mut c = CsvRecordCounter::default();
        c.feed(b"a,b\n\"x\ny\",\"q\"\"");
        c.feed(b"\n\"\n\",\"z\"\n");
        assert_eq!(c.records(), 3);
        let mut c = CsvRecordCounter::default();
        c.feed(b"h\n1");
        assert_eq!(c.records(), 2);
    }

    #[test]
    fn both_layouts_select_the_extract_columns_in_order() {
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
            assert_eq!(names, EXTRACT_COLUMNS, "{sql}");
        }
    }
}
