//! Objectives judged run by run: `objective_run` and `objective_daily`, recomputed by the
//! transform in its transaction (after the expected runs, whose missing slots count as missed).
//!
//! Each `[objective_<label>]` ([`crate::config::Objective`]) is matched against the DAG
//! catalogue (owners and tags as last read; a DAG Airflow no longer has is not judged, and its
//! judgements are kept). The days judged are today and the two days before in the reporting
//! time zone, the days a load queued (and the day after each), or with a full refresh every day
//! since the first run; the judgements due on those days are written again, one statement per
//! objective and stretch of consecutive days:
//! - `lands_by`: per due time (the local time of a calendar day), the scheduled and backfill
//!   runs whose data interval ends since the previous day's due time (`sql/objectives/lands_by.sql`);
//! - `within`: per run, its reference time plus the delay (`within.sql`);
//! - `runtime`: per run, its start plus the median + K MAD of its predecessors (`runtime.sql`).
//!
//! A run that never came (a slot of `dag_schedule_missed`) is missed; a run not landed before
//! its due time is `at_risk` when it failed, never came, or its start plus its median runtime
//! falls after the due time, else `pending`; past the due time it is missed.

use std::collections::BTreeSet;

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::{GenericClient, Transaction};
use uuid::Uuid;

use crate::config::{Objective, Promise};
use crate::db::SqlError;
use crate::retry::Transient;

const CATALOG_SQL: &str = include_str!("../sql/objectives/catalog.sql");
const DAYS_SQL: &str = include_str!("../sql/objectives/days.sql");
const DAY_BOUNDS_SQL: &str = include_str!("../sql/schedule/day_bounds.sql");
const LANDS_BY_DUES_SQL: &str = include_str!("../sql/objectives/lands_by_dues.sql");
const DELETE_RANGE_SQL: &str = include_str!("../sql/objectives/delete_range.sql");
const LANDS_BY_SQL: &str = include_str!("../sql/objectives/lands_by.sql");
const WITHIN_SQL: &str = include_str!("../sql/objectives/within.sql");
const RUNTIME_SQL: &str = include_str!("../sql/objectives/runtime.sql");
const DAILY_DELETE_SQL: &str = include_str!("../sql/objectives/daily_delete.sql");
const DAILY_SQL: &str = include_str!("../sql/objectives/daily.sql");

/// Why objectives could not be judged; the transform rolls back.
#[derive(Debug, thiserror::Error)]
pub enum ObjectiveError {
    /// A statement failed.
    #[error("objectives (objective_run): could not {step}")]
    Sql {
        /// What was being done.
        step: String,
        /// The failure.
        #[source]
        source: SqlError,
    },
}

impl Transient for ObjectiveError {
    fn is_transient(&self) -> bool {
        matches!(self, ObjectiveError::Sql { source, .. } if source.is_transient())
    }
}

fn sql_error(step: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> ObjectiveError {
    let step = step.into();
    move |e| ObjectiveError::Sql {
        step,
        source: e.into(),
    }
}

/// A DAG of the catalogue, as objectives match it.
#[derive(Debug, Clone)]
pub struct CatalogDag {
    /// The instance.
    pub instance: String,
    /// The DAG.
    pub dag_id: String,
    /// Its owners.
    pub owners: Vec<String>,
    /// Its tags.
    pub tags: Vec<String>,
    /// Whether Airflow still has it.
    pub in_airflow: bool,
}

/// Every catalogued DAG.
pub async fn catalogue(client: &impl GenericClient) -> Result<Vec<CatalogDag>, ObjectiveError> {
    Ok(client
        .query(CATALOG_SQL, &[])
        .await
        .map_err(sql_error("read the DAG catalogue (dag_catalog)"))?
        .iter()
        .map(|r| CatalogDag {
            instance: r.get("airflow_instance"),
            dag_id: r.get("dag_id"),
            owners: r.get("owners"),
            tags: r.get("tags"),
            in_airflow: r.get("in_airflow"),
        })
        .collect())
}

/// The catalogued DAGs `objective` matches (Airflow may no longer have some).
pub fn matched<'a>(
    objective: &'a Objective,
    dags: &'a [CatalogDag],
) -> impl Iterator<Item = &'a CatalogDag> + 'a {
    let m = &objective.matcher;
    dags.iter().filter(move |d| {
        (m.instances.is_empty() || m.instances.contains(&d.instance))
            && m.takes_dag(&d.dag_id, &d.owners, &d.tags)
    })
}

/// What one judging wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct ObjectivesReport {
    /// Objectives judged.
    pub objectives: usize,
    /// Judgements written.
    pub judgements: u64,
    /// Days judged.
    pub days: usize,
    /// Seconds the judging took.
    pub seconds: f64,
}

/// Judges every objective over the days to judge (see the module's documentation).
pub async fn judge(
    tx: &Transaction<'_>,
    objectives: &[Objective],
    time_zone: &str,
    full: bool,
    queued: &[NaiveDate],
    run_id: &Uuid,
) -> Result<ObjectivesReport, ObjectiveError> {
    let started = std::time::Instant::now();
    let mut report = ObjectivesReport::default();
    if objectives.is_empty() {
        return Ok(report);
    }
    let dags = catalogue(tx).await?;
    let days: Vec<NaiveDate> = tx
        .query(DAYS_SQL, &[&time_zone, &queued, &full])
        .await
        .map_err(sql_error("choose the days to judge"))?
        .iter()
        .map(|r| r.get("day"))
        .collect();
    report.days = days.len();
    let bounds: Vec<(NaiveDate, DateTime<Utc>, DateTime<Utc>)> = tx
        .query(DAY_BOUNDS_SQL, &[&days, &time_zone])
        .await
        .map_err(sql_error("compute the days' bounds"))?
        .iter()
        .map(|r| (r.get("day"), r.get("starts_at"), r.get("ends_at")))
        .collect();
    let stretches = stretches(&bounds);
    for objective in objectives {
        let (instances, dag_ids): (Vec<&str>, Vec<&str>) = matched(objective, &dags)
            .filter(|d| d.in_airflow)
            .map(|d| (d.instance.as_str(), d.dag_id.as_str()))
            .unzip();
        if instances.is_empty() {
            continue;
        }
        report.objectives += 1;
        let label = objective.label.as_str();
        let what = |step: &str| format!("{step} of [{}]", objective.section);
        for (from, to) in &stretches {
            tx.execute(DELETE_RANGE_SQL, &[&label, &instances, &dag_ids, from, to])
                .await
                .map_err(sql_error(what("delete the judgements")))?;
            let task = objective.task_id.as_deref();
            report.judgements += match &objective.promise {
                Promise::LandsBy {
                    time,
                    time_zone: zone,
                    days,
                } => {
                    let zone = zone.as_deref().unwrap_or(time_zone);
                    let iso_days: Vec<i32> = days.iter().map(|d| i32::from(*d) + 1).collect();
                    let (dues, starts): (Vec<DateTime<Utc>>, Vec<DateTime<Utc>>) = tx
                        .query(LANDS_BY_DUES_SQL, &[from, to, time, &zone, &iso_days])
                        .await
                        .map_err(sql_error(what("compute the due times")))?
                        .iter()
                        .map(|r| (r.get::<_, DateTime<Utc>>(0), r.get::<_, DateTime<Utc>>(1)))
                        .unzip();
                    if dues.is_empty() {
                        continue;
                    }
                    tx.execute(
                        LANDS_BY_SQL,
                        &[
                            &label, &instances, &dag_ids, &dues, &starts, &task, &time_zone, run_id,
                        ],
                    )
                    .await
                    .map_err(sql_error(what("judge lands_by")))?
                }
                Promise::Within { seconds, after } => tx
                    .execute(
                        WITHIN_SQL,
                        &[
                            &label,
                            &instances,
                            &dag_ids,
                            from,
                            to,
                            &task,
                            &time_zone,
                            run_id,
                            &(*seconds as f64),
                            &after.as_str(),
                        ],
                    )
                    .await
                    .map_err(sql_error(what("judge within")))?,
                Promise::Runtime { mad_multiple, runs } => tx
                    .execute(
                        RUNTIME_SQL,
                        &[
                            &label,
                            &instances,
                            &dag_ids,
                            from,
                            to,
                            &task,
                            &time_zone,
                            run_id,
                            mad_multiple,
                            &(*runs as i64),
                        ],
                    )
                    .await
                    .map_err(sql_error(what("judge runtime_within")))?,
            };
        }
        tx.execute(DAILY_DELETE_SQL, &[&label, &days])
            .await
            .map_err(sql_error(what("delete objective_daily")))?;
        tx.execute(DAILY_SQL, &[&label, &days, &objective.target, run_id])
            .await
            .map_err(sql_error(what("compute objective_daily")))?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Consecutive days joined into ranges of instants.
fn stretches(
    bounds: &[(NaiveDate, DateTime<Utc>, DateTime<Utc>)],
) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let mut out: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    let mut days = BTreeSet::new();
    for (day, from, to) in bounds {
        match out.last_mut() {
            Some(last) if days.contains(&(*day - chrono::Days::new(1))) => last.1 = *to,
            _ => out.push((*from, *to)),
        }
        days.insert(*day);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_days_make_one_stretch() {
        let t = |h: i64| DateTime::from_timestamp(h * 3600, 0).unwrap();
        let d = |n: u32| NaiveDate::from_ymd_opt(2026, 3, n).unwrap();
        let bounds = [
            (d(1), t(0), t(24)),
            (d(2), t(24), t(48)),
            (d(5), t(96), t(120)),
        ];
        assert_eq!(stretches(&bounds), [(t(0), t(48)), (t(96), t(120))]);
    }
}
