//! The extract stage: one source's DAG runs into one new object in the stage (and, unless
//! `[extract] task_instances = false`, the tries of their task instances into a second one, from
//! the same snapshot), registered in `staged_extract` as pending.
//!
//! The stage reads what the warehouse already holds (the instance's watermark and its
//! unfinished runs), hands that to the source (`crate::source`), which chooses the runs and
//! streams them into the object, and registers the object. The watermark is not moved here: a
//! load moves it, in the load's transaction, so an extract that is never loaded loses nothing.

use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio_postgres::Client;

use crate::config::ExtractSettings;
use crate::context::RunContext;
use crate::db::SqlError;
use crate::format::plural;
use crate::load::StagedExtract;
use crate::run_log::{self, RunLogError, Stage, StageCounts, StageReport};
use crate::source::{
    ExtractMode, ExtractPlan, ExtractScope, ExtractSink, ExtractSinks, ObjectKind, Recheck, Source,
    SourceError, TaskCoverage,
};
use crate::stage::{ObjectStore, StageError};

const WATERMARK_SQL: &str = include_str!("../sql/extract/watermark.sql");
const UNFINISHED_IDS_SQL: &str = include_str!("../sql/extract/unfinished_ids.sql");
const RECHECK_KNOWN_SQL: &str = include_str!("../sql/extract/recheck_known.sql");
const UNFINISHED_RUNS_SQL: &str = include_str!("../sql/extract/unfinished_runs.sql");
const REGISTER_SQL: &str = include_str!("../sql/extract/register.sql");

/// Why an extract failed.
#[derive(Debug, thiserror::Error)]
pub enum ExtractError {
    /// The source could not be read.
    #[error("extract of Airflow instance {instance}")]
    Source {
        /// The instance.
        instance: String,
        /// What failed.
        #[source]
        source: SourceError,
    },
    /// A query on the warehouse failed.
    #[error("extract of Airflow instance {instance}: could not {step} in the warehouse")]
    Warehouse {
        /// The instance.
        instance: String,
        /// What was being done.
        step: &'static str,
        /// The failure.
        #[source]
        source: SqlError,
    },
    /// The object could not be made durable.
    #[error("extract of Airflow instance {instance}: could not stage the extract")]
    Stage {
        /// The instance.
        instance: String,
        /// The stage failure (boxed: it is large and rare).
        #[source]
        source: Box<StageError>,
    },
    /// Recording the stage failed.
    #[error(transparent)]
    RunLog(#[from] RunLogError),
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
    /// An incremental extract's re-check of the newest loaded runs.
    pub recheck: Option<Recheck>,
    /// DAG runs in the object.
    pub rows: i64,
    /// Size of the object.
    pub bytes: i64,
    /// The task-instance object's key, rows (tries) and bytes, when tasks were extracted.
    pub tasks: Option<(String, i64, i64)>,
    /// Which task tries the source keeps.
    pub task_coverage: TaskCoverage,
    /// Wall time.
    pub seconds: f64,
}

impl StageReport for ExtractReport {
    fn counts(&self) -> StageCounts {
        StageCounts {
            rows_read: Some(self.rows),
            rows_written: Some(self.rows),
            task_rows_read: self.tasks.as_ref().map(|t| t.1),
            task_rows_written: self.tasks.as_ref().map(|t| t.1),
        }
    }
}

impl ExtractReport {
    /// Task tries staged (0 when tasks were not extracted).
    pub fn task_rows(&self) -> i64 {
        self.tasks.as_ref().map_or(0, |(_, rows, _)| *rows)
    }
}

impl std::fmt::Display for ExtractReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "extracted {} runs", self.rows)?;
        match self.task_coverage {
            TaskCoverage::NotRead => {}
            TaskCoverage::AllTries => write!(f, " and {} task tries", self.task_rows())?,
            TaskCoverage::CurrentTries => write!(
                f,
                " and {} task tries (current tries only: this Airflow keeps no earlier ones)",
                self.task_rows()
            )?,
        }
        write!(
            f,
            " from Airflow instance {} ({}",
            self.instance,
            self.mode.as_str()
        )?;
        if let Some(r) = self.recheck {
            write!(
                f,
                "; {} of the newest {} re-checked: unchanged, not read again",
                r.unchanged,
                plural(r.held, "loaded run", "loaded runs")
            )?;
        }
        f.write_str(")")
    }
}

/// Where an extract also sends its objects' bytes and, once registered, the extract itself:
/// a load reading it while it is extracted (`run`; see `load::load_fed`).
#[derive(Debug)]
pub struct ExtractFeed {
    /// The DAG-run object's bytes.
    pub dag_runs: tokio::sync::mpsc::Sender<bytes::Bytes>,
    /// The task-instance object's bytes.
    pub task_instances: tokio::sync::mpsc::Sender<bytes::Bytes>,
    /// The registered extract, sent once its row is committed.
    pub registered: tokio::sync::oneshot::Sender<StagedExtract>,
}

/// Extracts one source into the stage, recorded in `pipewatch_run_log`; with `feed`, also
/// sends what it writes and registers there (the source must write its objects in turn:
/// [`Source::writes_objects_in_turn`]).
pub async fn extract_instance(
    source: &Source<'_>,
    settings: &ExtractSettings,
    scope: ExtractScope<'_>,
    warehouse: &mut Client,
    store: &ObjectStore,
    ctx: &RunContext,
    mut feed: Option<ExtractFeed>,
) -> Result<ExtractReport, ExtractError> {
    let instance = source.instance();
    let report = run_log::record_stage(
        warehouse,
        ctx,
        Stage::Extract,
        Some(instance),
        async |warehouse, _| {
            extract(source, settings, scope, warehouse, store, ctx, feed.take()).await
        },
    )
    .await?;
    tracing::info!(
        instance = %report.instance,
        mode = report.mode.as_str(),
        scanned_changed_runs = report.scanned_changed_runs,
        rechecked_runs = report.recheck.map(|r| r.held),
        rechecked_unchanged = report.recheck.map(|r| r.unchanged),
        rows = report.rows,
        task_rows = report.task_rows(),
        bytes = report.bytes,
        seconds = report.seconds,
        object = %report.object_key,
        "Extracted DAG runs."
    );
    Ok(report)
}

async fn extract(
    source: &Source<'_>,
    settings: &ExtractSettings,
    scope: ExtractScope<'_>,
    warehouse: &Client,
    store: &ObjectStore,
    ctx: &RunContext,
    feed: Option<ExtractFeed>,
) -> Result<ExtractReport, ExtractError> {
    let started = Instant::now();
    let name = source.instance();
    let warehouse_error = |step: &'static str| {
        move |e: tokio_postgres::Error| ExtractError::Warehouse {
            instance: name.to_string(),
            step,
            source: e.into(),
        }
    };
    let watermark = warehouse
        .query_opt(WATERMARK_SQL, &[&name])
        .await
        .map_err(warehouse_error("read the watermark"))?;
    let unfinished_ids: Vec<i32> = warehouse
        .query(UNFINISHED_IDS_SQL, &[&name])
        .await
        .map_err(warehouse_error("read the unfinished runs"))?
        .iter()
        .map(|r| r.get(0))
        .collect();
    let unfinished_runs: Vec<(String, String)> = if source.reads_by_id() {
        Vec::new()
    } else {
        warehouse
            .query(UNFINISHED_RUNS_SQL, &[&name])
            .await
            .map_err(warehouse_error("read the unfinished runs"))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect()
    };
    let window = match scope {
        ExtractScope::Window {
            from,
            to,
            time_zone,
        } => Some(
            crate::reporting::window_bounds(warehouse, time_zone, from, to)
                .await
                .map_err(|source| ExtractError::Warehouse {
                    instance: name.to_string(),
                    step: "compute the window's bounds",
                    source,
                })?,
        ),
        ExtractScope::Incremental { .. } => None,
    };
    let loaded_max_id: Option<i32> = watermark.as_ref().and_then(|r| r.get(0));
    // A watermark in the future hides every later change: read every run once to repair it.
    let in_future = watermark
        .as_ref()
        .and_then(|r| r.get::<_, Option<bool>>("in_future"))
        .unwrap_or(false);
    let scope = match scope {
        ExtractScope::Incremental { full: false } if in_future => {
            tracing::warn!(
                instance = name,
                "The watermark lies more than an hour in the future (a wrong Airflow clock recorded it before pipewatch checked the clock): this extract reads every run, and the load replaces what that clock hid."
            );
            ExtractScope::Incremental { full: true }
        }
        other => other,
    };
    // The re-check of an incremental extract by id: what the warehouse holds of the newest
    // recheck_last_ids runs, so that the source copies only the new and changed ones.
    let recheck_above = match (scope, loaded_max_id) {
        (ExtractScope::Incremental { full: false }, Some(loaded)) if source.reads_by_id() => {
            let margin = settings.recheck_last_ids.min(i32::MAX as u64) as i32;
            Some(loaded.saturating_sub(margin))
        }
        _ => None,
    };
    let rechecked = match recheck_above {
        Some(above) => warehouse
            .query(RECHECK_KNOWN_SQL, &[&name, &above])
            .await
            .map_err(warehouse_error(
                "read the loaded runs the extract re-checks",
            ))?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect(),
        None => Vec::new(),
    };
    let plan = ExtractPlan {
        scope,
        unfinished_runs,
        window,
        recheck_above,
        rechecked,
        loaded_max_id,
        changed_runs_scanned_at: watermark
            .as_ref()
            .and_then(|r| r.get::<_, Option<DateTime<Utc>>>(1)),
        unfinished_ids,
        settings,
    };

    let (feed_runs, feed_tasks, feed_registered) = match feed {
        Some(f) => (Some(f.dag_runs), Some(f.task_instances), Some(f.registered)),
        None => (None, None, None),
    };
    let mut sinks = ExtractSinks {
        dag_runs: ExtractSink::new(store, ObjectKind::DagRuns, name, ctx.run_id).feeding(feed_runs),
        task_instances: settings.task_instances.then(|| {
            ExtractSink::new(store, ObjectKind::TaskInstances, name, ctx.run_id).feeding(feed_tasks)
        }),
    };
    let extracted = match source.extract(&plan, &mut sinks, ctx).await {
        Ok(extracted) => extracted,
        Err(source) => {
            sinks.dag_runs.abort().await;
            if let Some(tasks) = sinks.task_instances {
                tasks.abort().await;
            }
            return Err(ExtractError::Source {
                instance: name.to_string(),
                source,
            });
        }
    };
    let stage_error = |e| ExtractError::Stage {
        instance: name.to_string(),
        source: Box::new(e),
    };
    // The task object is made durable first: once the DAG-run object exists, its companion
    // does too.
    let tasks = match sinks.task_instances {
        // The source did not read task instances (the REST API): no object for them.
        Some(sink) if extracted.tasks == TaskCoverage::NotRead => {
            sink.abort().await;
            None
        }
        Some(sink) => Some(sink.finish().await.map_err(stage_error)?),
        None => None,
    };
    let (object_key, rows, bytes) = sinks.dag_runs.finish().await.map_err(stage_error)?;
    let (task_key, task_rows, task_bytes) = match &tasks {
        Some((key, rows, bytes)) => (Some(key.as_str()), Some(*rows), Some(*bytes)),
        None => (None, None, None),
    };

    warehouse
        .execute(
            REGISTER_SQL,
            &[
                &object_key,
                &name,
                &extracted.airflow_major_version,
                &extracted.mode.as_str(),
                &ctx.run_id,
                &extracted.source_now,
                &rows,
                &bytes,
                &extracted.source_max_id,
                &extracted.changed_runs_since,
                &task_key,
                &task_rows,
                &task_bytes,
            ],
        )
        .await
        .map_err(warehouse_error("register the staged extract"))?;
    if let Some(registered) = feed_registered {
        // A load that went away is not the extract's failure: it is loaded from the stage.
        let _ = registered.send(StagedExtract {
            object_key: object_key.clone(),
            airflow_instance: name.to_string(),
            extract_mode: extracted.mode,
            source_read_at: extracted.source_now,
            row_count: rows,
            max_source_id: extracted.source_max_id,
            changed_runs_since: extracted.changed_runs_since,
            task_object_key: task_key.map(str::to_string),
            task_row_count: task_rows,
            loaded_at: None,
            set_aside_reason: None,
        });
    }
    Ok(ExtractReport {
        instance: name.to_string(),
        object_key,
        mode: extracted.mode,
        scanned_changed_runs: extracted.mode == ExtractMode::Full
            || extracted.changed_runs_since.is_some(),
        recheck: extracted.recheck,
        rows,
        bytes,
        tasks,
        task_coverage: extracted.tasks,
        seconds: started.elapsed().as_secs_f64(),
    })
}
