//! The extract stage: one source's DAG runs into one new object in the stage, registered in
//! `staged_extract` as pending.
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
use crate::run_log::{self, RunLogError, Stage, StageCounts, StageReport};
use crate::source::{ExtractMode, ExtractPlan, ExtractScope, ExtractSink, Source, SourceError};
use crate::stage::{ObjectStore, StageError};

const WATERMARK_SQL: &str = include_str!("../sql/extract/watermark.sql");
const UNFINISHED_IDS_SQL: &str = include_str!("../sql/extract/unfinished_ids.sql");
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
    /// DAG runs in the object.
    pub rows: i64,
    /// Size of the object.
    pub bytes: i64,
    /// Wall time.
    pub seconds: f64,
}

impl StageReport for ExtractReport {
    fn counts(&self) -> StageCounts {
        StageCounts {
            rows_read: Some(self.rows),
            rows_written: Some(self.rows),
        }
    }
}

impl std::fmt::Display for ExtractReport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "extracted {} runs from Airflow instance {} ({})",
            self.rows,
            self.instance,
            self.mode.as_str()
        )
    }
}

/// Extracts one source into the stage, recorded in `pipewatch_run_log`.
pub async fn extract_instance(
    source: &Source<'_>,
    settings: &ExtractSettings,
    scope: ExtractScope<'_>,
    warehouse: &mut Client,
    store: &ObjectStore,
    ctx: &RunContext,
) -> Result<ExtractReport, ExtractError> {
    let instance = source.instance();
    let report = run_log::record_stage(
        warehouse,
        ctx,
        Stage::Extract,
        Some(instance),
        async |warehouse, _| extract(source, settings, scope, warehouse, store, ctx).await,
    )
    .await?;
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
    Ok(report)
}

async fn extract(
    source: &Source<'_>,
    settings: &ExtractSettings,
    scope: ExtractScope<'_>,
    warehouse: &Client,
    store: &ObjectStore,
    ctx: &RunContext,
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
    let plan = ExtractPlan {
        scope,
        loaded_max_id: watermark.as_ref().and_then(|r| r.get(0)),
        changed_runs_scanned_at: watermark
            .as_ref()
            .and_then(|r| r.get::<_, Option<DateTime<Utc>>>(1)),
        unfinished_ids,
        settings,
    };

    let mut sink = ExtractSink::new(store, name, ctx.run_id);
    let extracted = match source.extract_dag_runs(&plan, &mut sink, ctx).await {
        Ok(extracted) => extracted,
        Err(source) => {
            sink.abort().await;
            return Err(ExtractError::Source {
                instance: name.to_string(),
                source,
            });
        }
    };
    let (object_key, rows, bytes) = sink.finish().await.map_err(|e| ExtractError::Stage {
        instance: name.to_string(),
        source: Box::new(e),
    })?;

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
            ],
        )
        .await
        .map_err(warehouse_error("register the staged extract"))?;
    Ok(ExtractReport {
        instance: name.to_string(),
        object_key,
        mode: extracted.mode,
        scanned_changed_runs: extracted.mode == ExtractMode::Full
            || extracted.changed_runs_since.is_some(),
        rows,
        bytes,
        seconds: started.elapsed().as_secs_f64(),
    })
}
