//! Objectives judged run by run: `objective_run` and `objective_daily`, recomputed by the
//! transform in its transaction (after the expected runs, whose missing slots count as missed).
//!
//! Each `[objective_<label>]` ([`crate::config::Objective`]) is matched against the DAG
//! catalogue (owners and tags as last read; a DAG Airflow no longer has is not judged, and its
//! judgements are kept). The days judged are today and the two days before in the reporting
//! time zone, the days a load queued (and the day after each), or with a full refresh every day
//! since the first run; the judgements due on those days are written again, one statement per
//! kind of promise and stretch of consecutive days for every objective of that kind:
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

/// The matched DAGs of the objectives of one kind, as parallel arrays for the judging SQL.
#[derive(Default)]
struct Batch<'a> {
    labels: Vec<&'a str>,
    instances: Vec<&'a str>,
    dag_ids: Vec<&'a str>,
    tasks: Vec<Option<&'a str>>,
    /// within: the delay in seconds; runtime: K.
    number: Vec<f64>,
    /// within: the reference.
    reference: Vec<&'a str>,
    /// runtime: N.
    runs: Vec<i64>,
}

impl<'a> Batch<'a> {
    fn push(&mut self, o: &'a Objective, d: &'a CatalogDag) {
        self.labels.push(&o.label);
        self.instances.push(&d.instance);
        self.dag_ids.push(&d.dag_id);
        self.tasks.push(o.task_id.as_deref());
        match &o.promise {
            Promise::Within { seconds, after } => {
                self.number.push(*seconds as f64);
                self.reference.push(after.as_str());
            }
            Promise::Runtime { mad_multiple, runs } => {
                self.number.push(*mad_multiple);
                self.runs.push(*runs as i64);
            }
            Promise::LandsBy { .. } => {}
        }
    }
}

/// Judges every objective over the days to judge (see the module's documentation): one
/// statement per kind of promise and stretch of days, for every objective of that kind at once.
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
    // Short statements over few rows each: compiling them (JIT) costs more than it saves.
    tx.batch_execute("SET LOCAL jit = off")
        .await
        .map_err(sql_error("switch JIT off for the judging"))?;
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
    let (mut lands_by, mut within, mut runtime, mut all) = (
        Batch::default(),
        Batch::default(),
        Batch::default(),
        Batch::default(),
    );
    // lands_by: each objective's local time, zone and days (a bit per day, Monday first).
    let (mut at_labels, mut at_times, mut at_zones, mut at_days) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut labels, mut targets) = (Vec::new(), Vec::new());
    for objective in objectives {
        let mut matched_any = false;
        for d in matched(objective, &dags).filter(|d| d.in_airflow) {
            matched_any = true;
            all.push(objective, d);
            match &objective.promise {
                Promise::LandsBy { .. } => lands_by.push(objective, d),
                Promise::Within { .. } => within.push(objective, d),
                Promise::Runtime { .. } => runtime.push(objective, d),
            }
        }
        if !matched_any {
            continue;
        }
        report.objectives += 1;
        labels.push(objective.label.as_str());
        targets.push(objective.target);
        if let Promise::LandsBy {
            time,
            time_zone: zone,
            days,
        } = &objective.promise
        {
            at_labels.push(objective.label.as_str());
            at_times.push(*time);
            at_zones.push(zone.as_deref().unwrap_or(time_zone));
            at_days.push(days.iter().fold(0i32, |mask, d| mask | (1 << d)));
        }
    }
    for (from, to) in stretches(&bounds) {
        tx.execute(
            DELETE_RANGE_SQL,
            &[&all.labels, &all.instances, &all.dag_ids, &from, &to],
        )
        .await
        .map_err(sql_error("delete the judgements to write again"))?;
        if !lands_by.labels.is_empty() {
            let dues = tx
                .query(
                    LANDS_BY_DUES_SQL,
                    &[&at_labels, &at_times, &at_zones, &at_days, &from, &to],
                )
                .await
                .map_err(sql_error("compute the lands_by due times"))?;
            let due_labels: Vec<String> = dues.iter().map(|r| r.get(0)).collect();
            let due_at: Vec<DateTime<Utc>> = dues.iter().map(|r| r.get(1)).collect();
            let window_start: Vec<DateTime<Utc>> = dues.iter().map(|r| r.get(2)).collect();
            let kind_started = std::time::Instant::now();
            report.judgements += tx
                .execute(
                    LANDS_BY_SQL,
                    &[
                        &lands_by.labels,
                        &lands_by.instances,
                        &lands_by.dag_ids,
                        &lands_by.tasks,
                        &due_labels,
                        &due_at,
                        &window_start,
                        &time_zone,
                        run_id,
                    ],
                )
                .await
                .map_err(sql_error("judge the lands_by objectives"))?;
            tracing::debug!(
                kind = "lands_by",
                seconds = kind_started.elapsed().as_secs_f64(),
                "Judged objectives."
            );
        }
        if !within.labels.is_empty() {
            let kind_started = std::time::Instant::now();
            report.judgements += tx
                .execute(
                    WITHIN_SQL,
                    &[
                        &within.labels,
                        &within.instances,
                        &within.dag_ids,
                        &within.tasks,
                        &within.number,
                        &within.reference,
                        &from,
                        &to,
                        &time_zone,
                        run_id,
                    ],
                )
                .await
                .map_err(sql_error("judge the within objectives"))?;
            tracing::debug!(
                kind = "within",
                seconds = kind_started.elapsed().as_secs_f64(),
                "Judged objectives."
            );
        }
        if !runtime.labels.is_empty() {
            let kind_started = std::time::Instant::now();
            report.judgements += tx
                .execute(
                    RUNTIME_SQL,
                    &[
                        &runtime.labels,
                        &runtime.instances,
                        &runtime.dag_ids,
                        &runtime.tasks,
                        &runtime.number,
                        &runtime.runs,
                        &from,
                        &to,
                        &time_zone,
                        run_id,
                    ],
                )
                .await
                .map_err(sql_error("judge the runtime_within objectives"))?;
            tracing::debug!(
                kind = "runtime",
                seconds = kind_started.elapsed().as_secs_f64(),
                "Judged objectives."
            );
        }
    }
    tx.execute(DAILY_DELETE_SQL, &[&labels, &days])
        .await
        .map_err(sql_error("delete objective_daily"))?;
    tx.execute(DAILY_SQL, &[&labels, &targets, &days, run_id])
        .await
        .map_err(sql_error("compute objective_daily"))?;
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
