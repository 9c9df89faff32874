//! What reconcile asks of the database: finished runs and their digest per day, the facts of
//! the runs of some days, and the task tries per day.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};

use super::layout::{AirflowDb, DagRunSchema};
use crate::context::RunContext;
use crate::source::{DayDigest, RunFacts, SourceError, TaskCoverage, TaskTryCounts};

const FINISHED2_SQL: &str =
    include_str!("../../../sql/source/airflow_db/finished_per_day_airflow2.sql");
const FINISHED3_SQL: &str =
    include_str!("../../../sql/source/airflow_db/finished_per_day_airflow3.sql");
const RUNS_ON_DAYS2_SQL: &str =
    include_str!("../../../sql/source/airflow_db/runs_on_days_airflow2.sql");
const RUNS_ON_DAYS3_SQL: &str =
    include_str!("../../../sql/source/airflow_db/runs_on_days_airflow3.sql");
const FINISHED_TRIES2_SQL: &str =
    include_str!("../../../sql/source/airflow_db/finished_tries_per_day_airflow2.sql");
const FINISHED_TRIES3_SQL: &str =
    include_str!("../../../sql/source/airflow_db/finished_tries_per_day_airflow3.sql");

impl AirflowDb<'_> {
    /// See [`super::Source::finished_runs_per_day`]. Reads the whole `dag_run` table (no index
    /// serves this); reconcile is an occasional check.
    pub async fn finished_runs_per_day(
        &self,
        time_zone: &str,
        from: NaiveDate,
        to: NaiveDate,
        changed_until: DateTime<Utc>,
        ctx: &RunContext,
    ) -> Result<BTreeMap<NaiveDate, DayDigest>, SourceError> {
        let (client, layout) = self.connect(ctx).await?;
        let sql = match layout {
            DagRunSchema::Airflow2 => FINISHED2_SQL,
            DagRunSchema::Airflow3 => FINISHED3_SQL,
        };
        let rows = client
            .query(sql, &[&time_zone, &from, &to, &changed_until])
            .await
            .map_err(self.sql_error("count finished runs in Airflow"))?;
        Ok(rows
            .iter()
            .map(|r| {
                let digest = DayDigest {
                    finished: r.get("finished_runs"),
                    digest: r.get("digest"),
                };
                (r.get("day"), digest)
            })
            .collect())
    }

    /// See [`super::Source::runs_on_days`].
    pub async fn runs_on_days(
        &self,
        time_zone: &str,
        days: &[NaiveDate],
        ctx: &RunContext,
    ) -> Result<Vec<RunFacts>, SourceError> {
        let (client, layout) = self.connect(ctx).await?;
        let sql = match layout {
            DagRunSchema::Airflow2 => RUNS_ON_DAYS2_SQL,
            DagRunSchema::Airflow3 => RUNS_ON_DAYS3_SQL,
        };
        let rows = client
            .query(sql, &[&time_zone, &days])
            .await
            .map_err(self.sql_error("read the runs of the days that differ"))?;
        Ok(rows
            .iter()
            .map(|r| RunFacts {
                day: r.get("day"),
                dag_id: r.get("dag_id"),
                run_id: r.get("run_id"),
                state: r.get("state"),
                end_date: r.get("end_date"),
                updated_at: r.get("updated_at"),
            })
            .collect())
    }

    /// See [`super::Source::task_tries_per_day`].
    pub async fn task_tries_per_day(
        &self,
        time_zone: &str,
        from: NaiveDate,
        to: NaiveDate,
        changed_until: DateTime<Utc>,
        ctx: &RunContext,
    ) -> Result<Option<TaskTryCounts>, SourceError> {
        let (client, layout) = self.connect(ctx).await?;
        if self.task_coverage(&client, layout).await? != TaskCoverage::AllTries {
            return Ok(None);
        }
        let sql = match layout {
            DagRunSchema::Airflow2 => FINISHED_TRIES2_SQL,
            DagRunSchema::Airflow3 => FINISHED_TRIES3_SQL,
        };
        let rows = client
            .query(sql, &[&time_zone, &from, &to, &changed_until])
            .await
            .map_err(self.sql_error("count finished task tries in Airflow"))?;
        let mut counts = TaskTryCounts::default();
        for row in &rows {
            let finished: i64 = row.get("finished_tries");
            if finished > 0 {
                counts.finished_per_day.insert(row.get("day"), finished);
            }
            counts.instances_missing_tries += row.get::<_, i64>("instances_missing_tries");
            counts.missing_tries += row.get::<_, i64>("missing_tries");
            let example: Option<String> = row.get("missing_example");
            if counts.missing_example.is_none() {
                counts.missing_example = example;
            }
        }
        Ok(Some(counts))
    }
}
