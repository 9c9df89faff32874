//! The Airflow metadata database (PostgreSQL) as a source of DAG runs.
//!
//! Which `dag_run` layout it has is read from the catalog, not trusted to a setting: Airflow 2.x
//! has `execution_date` (NOT NULL) and `external_trigger`; Airflow 3.x renamed `execution_date`
//! to `logical_date` (nullable), dropped `external_trigger` and added `run_after`.
//!
//! Which runs an extract reads (the reasoning is in docs/extract-watermark.md):
//! - a **full** extract (the first one of an instance, `--full`, or when Airflow's ids went
//!   backwards) reads every run;
//! - an **incremental** extract reads, in one repeatable-read snapshot, each part on an index
//!   Airflow has: runs with an id above the loaded watermark less `recheck_last_ids`, every run
//!   queued or running, and every run the warehouse holds as unfinished; and, every
//!   `changed_runs_scan_interval_minutes`, every run whose `updated_at` moved since the last scan
//!   (less an overlap), which catches runs cleared and re-run between two extracts;
//! - a **window** extract (backfill) reads every run whose day falls in the window.
//!
//! The rows are streamed as PostgreSQL's own CSV (`COPY ... TO STDOUT`, every non-NULL value
//! quoted, so NULL and the empty string stay apart) straight into the sink: no row is parsed or
//! held in memory. Sessions are read-only (`db::Role::Airflow`).
//!
//! The layout: `layout.rs` detects the `dag_run` layout and the task tables once; `extract.rs`
//! reads runs and tries; `reconcile.rs` answers reconcile. A new resource read (`dag`,
//! `import_error`, `job`, ...) is one more module adding its reads to [`AirflowDb`].

mod catalog;
mod extract;
mod layout;
mod reconcile;

use super::{SourceError, TaskCoverage};
use crate::context::RunContext;

pub use self::layout::{AirflowDb, DagRunSchema};

impl AirflowDb<'_> {
    /// See [`super::Source::check`].
    pub async fn check(
        &self,
        extract_tasks: bool,
        ctx: &RunContext,
    ) -> Result<String, SourceError> {
        let (client, layout) = self.connect(ctx).await?;
        let tasks = if !extract_tasks {
            "task instances are not extracted ([extract] task_instances = false)"
        } else {
            match self.task_coverage(&client, layout).await? {
                TaskCoverage::AllTries => {
                    "task instances: every try (task_instance and task_instance_history)"
                }
                TaskCoverage::CurrentTries => {
                    "task instances: current tries only (no task_instance_history: Airflow before 2.10 keeps no earlier tries, so retries before the last are not seen)"
                }
                TaskCoverage::NotRead => unreachable!("task_coverage reads or fails"),
            }
        };
        Ok(format!(
            "connected to {} as {:?} (read-only); dag_run has the Airflow {} layout; {tasks}",
            self.settings.database.address(),
            self.settings.database.username,
            layout.major_version()
        ))
    }
}
