//! The extract: in one repeatable-read snapshot, which runs to read (full, incremental with
//! the re-read and the changed-run scan, or a window), then the runs and their task tries
//! streamed as PostgreSQL's CSV into the sinks.

use chrono::{DateTime, Duration, Utc};
use futures_util::StreamExt;
use tokio_postgres::IsolationLevel;

use super::layout::{AirflowDb, DagRunSchema};
use crate::context::RunContext;
use crate::source::{
    ExtractMode, ExtractPlan, ExtractScope, ExtractSink, ExtractSinks, Recheck, SourceError,
    SourceExtract, TaskCoverage,
};

pub(super) const AIRFLOW2_SQL: &str =
    include_str!("../../../sql/source/airflow_db/dag_runs_airflow2.sql");
pub(super) const AIRFLOW3_SQL: &str =
    include_str!("../../../sql/source/airflow_db/dag_runs_airflow3.sql");
const FILTER_IDS_SQL: &str = include_str!("../../../sql/source/airflow_db/filter_ids.sql");
const SNAPSHOT_SQL: &str = include_str!("../../../sql/source/airflow_db/source_snapshot.sql");
const INCREMENTAL_IDS_SQL: &str =
    include_str!("../../../sql/source/airflow_db/incremental_ids.sql");
const CHANGED_IDS_SQL: &str = include_str!("../../../sql/source/airflow_db/changed_ids.sql");
const WINDOW2_SQL: &str = include_str!("../../../sql/source/airflow_db/window_ids_airflow2.sql");
const WINDOW3_SQL: &str = include_str!("../../../sql/source/airflow_db/window_ids_airflow3.sql");
const SET_SETTING_SQL: &str = include_str!("../../../sql/common/set_setting.sql");
const SELECTED_RUNS_SQL: &str = include_str!("../../../sql/source/airflow_db/selected_runs.sql");
const TASKS2_SQL: &str = include_str!("../../../sql/source/airflow_db/task_instances_airflow2.sql");
const TASKS3_SQL: &str = include_str!("../../../sql/source/airflow_db/task_instances_airflow3.sql");
const TASKS_CURRENT_ONLY_SQL: &str =
    include_str!("../../../sql/source/airflow_db/task_instances_current_only.sql");

impl AirflowDb<'_> {
    /// See [`super::Source::extract`].
    pub async fn extract(
        &self,
        plan: &ExtractPlan<'_>,
        sinks: &mut ExtractSinks<'_>,
        ctx: &RunContext,
    ) -> Result<SourceExtract, SourceError> {
        let name = self.instance();
        let (mut source, layout) = self.connect(ctx).await?;
        let tasks = match sinks.task_instances {
            Some(_) => self.task_coverage(&source, layout).await?,
            None => TaskCoverage::NotRead,
        };
        // One consistent snapshot of the source for choosing ids and copying rows.
        let tx = source
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(self.sql_error("start a read-only transaction"))?;
        let snapshot = tx
            .query_one(SNAPSHOT_SQL, &[])
            .await
            .map_err(self.sql_error("read the clock and highest id"))?;
        let source_now: DateTime<Utc> = snapshot.get("source_now");
        let source_max_id: Option<i32> = snapshot.get("max_id");
        crate::source::check_clock(
            name,
            "its metadata database's clock (now())",
            source_now,
            plan.settings.max_clock_skew_seconds,
        )?;

        let mode = match plan.scope {
            ExtractScope::Window { .. } => ExtractMode::Window,
            ExtractScope::Incremental { full: true } => ExtractMode::Full,
            ExtractScope::Incremental { full: false } => match plan.loaded_max_id {
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
        let mut recheck = None;
        let ids: Option<Vec<i32>> = match (mode, plan.scope) {
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
                let rows = tx
                    .query(sql, &[&time_zone, &from, &to])
                    .await
                    .map_err(self.sql_error("select the runs of the window"))?;
                Some(rows.iter().map(|r| r.get(0)).collect())
            }
            (_, ExtractScope::Incremental { .. }) => {
                let above = plan.recheck_above.unwrap_or(0);
                let (held_ids, held_updated_at): (Vec<i32>, Vec<Option<DateTime<Utc>>>) =
                    plan.rechecked.iter().copied().unzip();
                let mut ids: Vec<i32> = tx
                    .query(
                        INCREMENTAL_IDS_SQL,
                        &[&above, &plan.unfinished_ids, &held_ids, &held_updated_at],
                    )
                    .await
                    .map_err(self.sql_error("select new and unfinished runs"))?
                    .iter()
                    .map(|r| r.get(0))
                    .collect();
                let interval =
                    Duration::minutes(plan.settings.changed_runs_scan_interval_minutes as i64);
                let due = plan
                    .changed_runs_scanned_at
                    .is_none_or(|at| source_now - at >= interval);
                if due {
                    let overlap =
                        Duration::minutes(plan.settings.changed_runs_scan_overlap_minutes as i64);
                    let since = plan.changed_runs_scanned_at.unwrap_or(source_now) - overlap;
                    ids.extend(
                        tx.query(CHANGED_IDS_SQL, &[&since])
                            .await
                            .map_err(self.sql_error("scan for changed runs (updated_at)"))?
                            .iter()
                            .map(|r| r.get::<_, i32>(0)),
                    );
                    changed_runs_since = Some(since);
                }
                ids.sort_unstable();
                ids.dedup();
                let read_again = held_ids
                    .iter()
                    .filter(|id| ids.binary_search(id).is_ok())
                    .count();
                recheck = Some(Recheck {
                    held: held_ids.len() as u64,
                    unchanged: (held_ids.len() - read_again) as u64,
                });
                Some(ids)
            }
        };

        tx.query_one(SET_SETTING_SQL, &[&"pipewatch.airflow_instance", &name])
            .await
            .map_err(self.sql_error("set the instance name"))?;
        let projection = match layout {
            DagRunSchema::Airflow2 => AIRFLOW2_SQL,
            DagRunSchema::Airflow3 => AIRFLOW3_SQL,
        };
        let filter = match &ids {
            None => "",
            Some(ids) => {
                // An integer[] literal, bound as a parameter to set_config (never into SQL text).
                let list = ids.iter().map(i32::to_string).collect::<Vec<_>>().join(",");
                tx.query_one(
                    SET_SETTING_SQL,
                    &[&"pipewatch.extract_ids", &format!("{{{list}}}")],
                )
                .await
                .map_err(self.sql_error("set the selected ids"))?;
                FILTER_IDS_SQL
            }
        };
        let dag_runs = format!("{projection}{filter}");
        self.copy_out(
            &tx,
            &dag_runs,
            source_now,
            &mut sinks.dag_runs,
            "copy dag_run",
        )
        .await?;
        if let Some(sink) = sinks.task_instances.as_mut() {
            let tries = match (tasks, layout) {
                (TaskCoverage::CurrentTries, _) => TASKS_CURRENT_ONLY_SQL,
                (_, DagRunSchema::Airflow2) => TASKS2_SQL,
                (_, DagRunSchema::Airflow3) => TASKS3_SQL,
            };
            let query = format!("{SELECTED_RUNS_SQL}{filter})\n{tries}");
            self.copy_out(&tx, &query, source_now, sink, "copy the task instances")
                .await?;
        }
        // The transaction only read; ending it releases the snapshot.
        tx.commit()
            .await
            .map_err(self.sql_error("end the transaction"))?;
        Ok(SourceExtract {
            mode,
            source_now,
            source_max_id,
            changed_runs_since,
            recheck,
            airflow_major_version: layout.major_version(),
            tasks,
        })
    }

    /// Streams `query` as PostgreSQL's CSV (header, every non-NULL value quoted) into `sink`.
    async fn copy_out(
        &self,
        tx: &tokio_postgres::Transaction<'_>,
        query: &str,
        source_now: DateTime<Utc>,
        sink: &mut ExtractSink<'_>,
        step: &'static str,
    ) -> Result<(), SourceError> {
        let copy =
            format!("COPY ({query}) TO STDOUT WITH (FORMAT csv, HEADER true, FORCE_QUOTE *)");
        let stream = tx
            .copy_out(copy.as_str())
            .await
            .map_err(self.sql_error(step))?;
        let stage_error = |e| SourceError::Stage {
            instance: self.instance().to_string(),
            source: Box::new(e),
        };
        sink.open(source_now).await.map_err(stage_error)?;
        futures_util::pin_mut!(stream);
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(self.sql_error(step))?;
            sink.write(&chunk).await.map_err(stage_error)?;
        }
        sink.close_feed().await;
        Ok(())
    }
}
