//! Objectives judged run by run: `objective_run` and `objective_daily`, recomputed by the
//! transform in its transaction (after the expected runs, whose missing slots count as missed).
//!
//! Each `[objective_<label>]` ([`crate::config::Objective`]) is matched against the DAG
//! catalogue (owners and tags as last read; a DAG Airflow no longer has is not judged, and its
//! judgements are kept); `objective_scope` remembers each (objective, DAG) and the definition it
//! was judged with. One statement per kind of promise judges every objective of that kind:
//! - `lands_by`: per due time (the local time of a calendar day), the scheduled and backfill
//!   runs whose data interval ends since the previous day's due time (`sql/objectives/lands_by.sql`),
//!   for the days judged: today and the two days before in the reporting time zone, the days a
//!   load queued (and the day after each), or with a full refresh every day since the first
//!   run; written again per stretch of consecutive days;
//! - `within`: per run, its reference time plus the delay (`within.sql`);
//! - `runtime`: per run, its start plus the median + K MAD of its predecessors (`runtime.sql`).
//!
//! `within` and `runtime` judge incrementally: per DAG, from the earliest of what can have
//! changed since the last judging (`transform_state.objectives_judged_at`): the runs loaded
//! since (their `loaded_at`; the run lock keeps loads and transforms apart, so none commits
//! behind the judging's back), the judgements not decided yet, the runs that never came; a DAG
//! new to its objective, or whose objective changed, from the first day judged; with a full
//! refresh, from the first day. Judgements from then on that were not written again are deleted
//! (`stale.sql`). The days of what was written or deleted get their `objective_daily` again.
//!
//! A run that never came (a slot of `dag_schedule_missed`) is missed; a run not landed before
//! its due time is `at_risk` when it failed, never came, or its start plus its median runtime
//! falls after the due time, else `pending`; past the due time it is missed.

use std::collections::{BTreeSet, HashMap, HashSet};

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
const SCOPE_SQL: &str = include_str!("../sql/objectives/scope.sql");
const WATERMARK_SQL: &str = include_str!("../sql/objectives/watermark.sql");
const WATERMARK_SET_SQL: &str = include_str!("../sql/objectives/watermark_set.sql");
const WITHIN_SINCE_SQL: &str = include_str!("../sql/objectives/within_since.sql");
const RUNTIME_SINCE_SQL: &str = include_str!("../sql/objectives/runtime_since.sql");
const STALE_SQL: &str = include_str!("../sql/objectives/stale.sql");
const PLAN_SQL: &str = include_str!("../sql/objectives/plan.sql");
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
#[derive(Default, Clone)]
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
    runs: Vec<i32>,
    /// What the objective promises (judged anew when it changes).
    definitions: Vec<String>,
    /// within: the earliest due time to judge; runtime: the earliest start (see [`Batch::since`]).
    since: Vec<DateTime<Utc>>,
}

impl<'a> Batch<'a> {
    fn push(&mut self, o: &'a Objective, d: &'a CatalogDag) {
        self.labels.push(&o.label);
        self.instances.push(&d.instance);
        self.dag_ids.push(&d.dag_id);
        self.tasks.push(o.task_id.as_deref());
        self.definitions
            .push(format!("{:?} task {:?}", o.promise, o.task_id));
        match &o.promise {
            Promise::Within { seconds, after } => {
                self.number.push(*seconds as f64);
                self.reference.push(after.as_str());
            }
            Promise::Runtime { mad_multiple, runs } => {
                self.number.push(*mad_multiple);
                self.runs.push(i32::try_from(*runs).unwrap_or(i32::MAX));
            }
            Promise::LandsBy { .. } => {}
        }
    }

    fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Whether each entry is judged anew: every one without a last judging, else those in
    /// `anew`.
    fn anew(
        &self,
        anew: &HashSet<(String, String, String)>,
        watermark: Option<DateTime<Utc>>,
    ) -> Vec<bool> {
        (0..self.labels.len())
            .map(|i| {
                watermark.is_none()
                    || anew.contains(&(
                        self.labels[i].to_string(),
                        self.instances[i].to_string(),
                        self.dag_ids[i].to_string(),
                    ))
            })
            .collect()
    }

    /// The entries with something to judge (rows of `objective, airflow_instance, dag_id,
    /// since` from `within_since.sql` or `runtime_since.sql`), each with its earliest time.
    fn since(&self, rows: &[tokio_postgres::Row]) -> Batch<'a> {
        let wanted: HashMap<(String, String, String), DateTime<Utc>> = rows
            .iter()
            .map(|r| ((r.get(0), r.get(1), r.get(2)), r.get(3)))
            .collect();
        let mut out = Batch::default();
        for i in 0..self.labels.len() {
            let key = (
                self.labels[i].to_string(),
                self.instances[i].to_string(),
                self.dag_ids[i].to_string(),
            );
            let Some(since) = wanted.get(&key) else {
                continue;
            };
            out.labels.push(self.labels[i]);
            out.instances.push(self.instances[i]);
            out.dag_ids.push(self.dag_ids[i]);
            out.tasks.push(self.tasks[i]);
            out.number.push(self.number[i]);
            if let Some(reference) = self.reference.get(i) {
                out.reference.push(reference);
            }
            if let Some(runs) = self.runs.get(i) {
                out.runs.push(*runs);
            }
            out.since.push(*since);
        }
        out
    }
}

/// Judges every objective (see the module's documentation): lands_by over the days to judge,
/// one statement per stretch of days for every objective of that kind at once; within and
/// runtime for what changed since the last judging, one statement each.
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
    tx.batch_execute(PLAN_SQL)
        .await
        .map_err(sql_error("set the planner for the judging"))?;
    let dags = catalogue(tx).await?;
    let mut days: BTreeSet<NaiveDate> = tx
        .query(DAYS_SQL, &[&time_zone, &queued, &full])
        .await
        .map_err(sql_error("choose the days to judge"))?
        .iter()
        .map(|r| r.get("day"))
        .collect();
    let day_list: Vec<NaiveDate> = days.iter().copied().collect();
    let bounds: Vec<(NaiveDate, DateTime<Utc>, DateTime<Utc>)> = tx
        .query(DAY_BOUNDS_SQL, &[&day_list, &time_zone])
        .await
        .map_err(sql_error("compute the days' bounds"))?
        .iter()
        .map(|r| (r.get("day"), r.get("starts_at"), r.get("ends_at")))
        .collect();
    // What a DAG judged anew is judged from: the first day judged.
    let first_start = bounds.iter().map(|b| b.1).min().unwrap_or_else(Utc::now);
    // The runs loaded since the last judging are judged again; none kept: everything is.
    let watermark: Option<DateTime<Utc>> = if full {
        None
    } else {
        tx.query_opt(WATERMARK_SQL, &[])
            .await
            .map_err(sql_error(
                "read when objectives were last judged (transform_state)",
            ))?
            .and_then(|r| r.get(0))
    };
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
    // The DAGs judged anew: new to their objective, or their objective changed.
    let anew: HashSet<(String, String, String)> = tx
        .query(
            SCOPE_SQL,
            &[&all.labels, &all.instances, &all.dag_ids, &all.definitions],
        )
        .await
        .map_err(sql_error(
            "record the DAGs each objective judges (objective_scope)",
        ))?
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    if !lands_by.is_empty() {
        for (from, to) in stretches(&bounds) {
            tx.execute(
                DELETE_RANGE_SQL,
                &[
                    &lands_by.labels,
                    &lands_by.instances,
                    &lands_by.dag_ids,
                    &from,
                    &to,
                ],
            )
            .await
            .map_err(sql_error("delete the judgements to write again"))?;
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
    }
    if !within.is_empty() {
        let kind_started = std::time::Instant::now();
        let rows = tx
            .query(
                WITHIN_SINCE_SQL,
                &[
                    &within.labels,
                    &within.instances,
                    &within.dag_ids,
                    &within.number,
                    &within.reference,
                    &within.anew(&anew, watermark),
                    &watermark,
                    &first_start,
                ],
            )
            .await
            .map_err(sql_error("find what the within objectives judge again"))?;
        let batch = within.since(&rows);
        if !batch.is_empty() {
            let written = tx
                .query(
                    WITHIN_SQL,
                    &[
                        &batch.labels,
                        &batch.instances,
                        &batch.dag_ids,
                        &batch.tasks,
                        &batch.number,
                        &batch.reference,
                        &batch.since,
                        &time_zone,
                        run_id,
                    ],
                )
                .await
                .map_err(sql_error("judge the within objectives"))?;
            report.judgements += settle(tx, &batch, "within", &written, &mut days).await?;
        }
        tracing::debug!(
            kind = "within",
            dags = batch.labels.len(),
            seconds = kind_started.elapsed().as_secs_f64(),
            "Judged objectives."
        );
    }
    if !runtime.is_empty() {
        let kind_started = std::time::Instant::now();
        let rows = tx
            .query(
                RUNTIME_SINCE_SQL,
                &[
                    &runtime.labels,
                    &runtime.instances,
                    &runtime.dag_ids,
                    &runtime.anew(&anew, watermark),
                    &watermark,
                    &first_start,
                ],
            )
            .await
            .map_err(sql_error(
                "find what the runtime_within objectives judge again",
            ))?;
        let batch = runtime.since(&rows);
        if !batch.is_empty() {
            let written = tx
                .query(
                    RUNTIME_SQL,
                    &[
                        &batch.labels,
                        &batch.instances,
                        &batch.dag_ids,
                        &batch.tasks,
                        &batch.number,
                        &batch.runs,
                        &batch.since,
                        &time_zone,
                        run_id,
                        &i64::from(batch.runs.iter().copied().max().unwrap_or(0)),
                    ],
                )
                .await
                .map_err(sql_error("judge the runtime_within objectives"))?;
            report.judgements += settle(tx, &batch, "runtime", &written, &mut days).await?;
        }
        tracing::debug!(
            kind = "runtime",
            dags = batch.labels.len(),
            seconds = kind_started.elapsed().as_secs_f64(),
            "Judged objectives."
        );
    }
    let day_list: Vec<NaiveDate> = days.into_iter().collect();
    report.days = day_list.len();
    let daily_started = std::time::Instant::now();
    tx.execute(DAILY_DELETE_SQL, &[&labels, &day_list])
        .await
        .map_err(sql_error("delete objective_daily"))?;
    tx.execute(DAILY_SQL, &[&labels, &targets, &day_list, run_id])
        .await
        .map_err(sql_error("compute objective_daily"))?;
    tracing::debug!(
        kind = "daily",
        days = day_list.len(),
        seconds = daily_started.elapsed().as_secs_f64(),
        "Judged objectives."
    );
    tx.execute(WATERMARK_SET_SQL, &[&time_zone, run_id])
        .await
        .map_err(sql_error(
            "record when objectives were judged (transform_state)",
        ))?;
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// Takes in what a kind's judging statement wrote (rows of day and judgements) and deletes
/// that kind's judgements that were to be judged again and were not; adds the days of both to
/// `days` (their `objective_daily` is computed again) and returns the judgements written.
async fn settle(
    tx: &Transaction<'_>,
    batch: &Batch<'_>,
    kind: &str,
    written: &[tokio_postgres::Row],
    days: &mut BTreeSet<NaiveDate>,
) -> Result<u64, ObjectiveError> {
    let mut judgements = 0;
    for row in written {
        days.insert(row.get(0));
        judgements += row.get::<_, i64>(1) as u64;
    }
    let deleted = tx
        .query(
            STALE_SQL,
            &[
                &batch.labels,
                &batch.instances,
                &batch.dag_ids,
                &batch.since,
                &kind,
            ],
        )
        .await
        .map_err(sql_error(format!(
            "delete the {kind} judgements no longer made"
        )))?;
    days.extend(deleted.iter().map(|r| r.get::<_, NaiveDate>(0)));
    Ok(judgements)
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
