//! `pipewatch reconcile`: is every finished run of the source in the warehouse?
//!
//! Per Airflow instance and day (the day of a run's logical date, or `run_after` when it has
//! none, in the reporting time zone), counts the finished (`success`/`failed`) runs in the
//! Airflow database and in `dag_run_history`, and reports the days whose counts differ. To
//! avoid false alarms, the source side counts only runs Airflow last changed at or before the
//! clock of the newest loaded extract: a run that finished after the last load is not "missing".
//! A run cleared in Airflow after the last load can still make its day differ until the next
//! load; re-run reconcile after a `pipewatch run` before investigating.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use tokio_postgres::Client;

use crate::airflow::{self, DagRunSchema};
use crate::config::{AirflowSettings, Settings};
use crate::context::RunContext;
use crate::db::{self, Role};
use crate::run_log::{self, StageCounts, StageOutcome};

const SOURCE2_SQL: &str = include_str!("../sql/reconcile/source_finished_per_day_airflow2.sql");
const SOURCE3_SQL: &str = include_str!("../sql/reconcile/source_finished_per_day_airflow3.sql");
const WAREHOUSE_SQL: &str = include_str!("../sql/reconcile/warehouse_finished_per_day.sql");
const LOADED_UNTIL_SQL: &str = include_str!("../sql/reconcile/loaded_until.sql");
const CHECK_TIME_ZONE_SQL: &str = include_str!("../sql/reconcile/check_time_zone.sql");

/// Default number of days compared, ending today.
pub const DEFAULT_DAYS: u32 = 30;

/// Why reconcile could not compare.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A connection failed.
    #[error(transparent)]
    Connect(#[from] db::ConnectError),
    /// The source is not a supported Airflow database.
    #[error(transparent)]
    Source(#[from] airflow::SourceError),
    /// A query failed.
    #[error("reconcile of Airflow instance {instance}: could not {step}: {detail}")]
    Sql {
        /// The instance.
        instance: String,
        /// What was being done.
        step: &'static str,
        /// The server's message.
        detail: String,
    },
    /// The reporting time zone is unknown.
    #[error(
        "unknown time zone {zone:?} in [reporting] time_zone: use an IANA name such as UTC or Europe/Berlin (SELECT name FROM pg_timezone_names lists them)"
    )]
    TimeZone {
        /// The zone.
        zone: String,
    },
    /// Recording the stage failed.
    #[error(transparent)]
    RunLog(#[from] run_log::RunLogError),
}

/// One day whose counts differ.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayDifference {
    /// The day.
    pub day: NaiveDate,
    /// Finished runs in the Airflow database.
    pub source_finished: i64,
    /// Finished runs in the warehouse.
    pub warehouse_finished: i64,
}

/// The comparison for one instance.
#[derive(Debug, Clone)]
pub struct InstanceReconciliation {
    /// The instance.
    pub instance: String,
    /// First and last day compared.
    pub from: NaiveDate,
    /// Last day compared.
    pub to: NaiveDate,
    /// Source runs counted were changed at or before this time.
    pub source_changed_until: DateTime<Utc>,
    /// Finished runs in the source over the window.
    pub source_finished: i64,
    /// Finished runs in the warehouse over the window.
    pub warehouse_finished: i64,
    /// The days that differ.
    pub differences: Vec<DayDifference>,
}

/// The time zone checked and today's date in it, from the warehouse.
pub async fn today_in_zone(warehouse: &Client, zone: &str) -> Result<NaiveDate, ReconcileError> {
    let row = warehouse
        .query_one(CHECK_TIME_ZONE_SQL, &[&zone])
        .await
        .map_err(|e| ReconcileError::Sql {
            instance: "(all)".into(),
            step: "check the reporting time zone",
            detail: db::describe(&e),
        })?;
    if !row.get::<_, bool>("known") {
        return Err(ReconcileError::TimeZone {
            zone: zone.to_string(),
        });
    }
    Ok(row.get("today"))
}

/// Compares one instance over `from..=to` (days in the reporting time zone).
pub async fn reconcile_instance(
    settings: &Settings,
    instance: &AirflowSettings,
    warehouse: &Client,
    ctx: &RunContext,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<InstanceReconciliation, ReconcileError> {
    let name = instance.instance.as_str();
    let record = run_log::start(warehouse, ctx, "reconcile", Some(name)).await?;
    let result = compare(settings, instance, warehouse, ctx, from, to).await;
    let (outcome, counts, error) = match &result {
        Ok(r) => (
            StageOutcome::Succeeded,
            StageCounts {
                rows_read: Some(r.source_finished + r.warehouse_finished),
                rows_written: None,
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
    result
}

async fn compare(
    settings: &Settings,
    instance: &AirflowSettings,
    warehouse: &Client,
    ctx: &RunContext,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<InstanceReconciliation, ReconcileError> {
    let name = instance.instance.as_str();
    let sql_error = |step: &'static str| {
        move |e: tokio_postgres::Error| ReconcileError::Sql {
            instance: name.to_string(),
            step,
            detail: db::describe(&e),
        }
    };
    let zone = settings.time_zone.as_str();
    let loaded_until: Option<DateTime<Utc>> = warehouse
        .query_opt(LOADED_UNTIL_SQL, &[&name])
        .await
        .map_err(sql_error("read the watermark"))?
        .and_then(|r| r.get(0));
    // Nothing loaded yet: every finished source run counts (and is missing).
    let until = loaded_until.unwrap_or_else(|| Utc::now() + Duration::days(1));
    let warehouse_days = per_day(
        warehouse
            .query(WAREHOUSE_SQL, &[&name, &zone, &from, &to])
            .await
            .map_err(sql_error("count finished runs in the warehouse"))?,
    );
    let source = db::connect(&instance.database, Role::Airflow, ctx.run_id).await?;
    let sql = match airflow::detect_schema(&source, instance).await? {
        DagRunSchema::Airflow2 => SOURCE2_SQL,
        DagRunSchema::Airflow3 => SOURCE3_SQL,
    };
    let source_days = per_day(
        source
            .query(sql, &[&zone, &from, &to, &until])
            .await
            .map_err(sql_error("count finished runs in Airflow"))?,
    );
    let mut days: Vec<NaiveDate> = source_days
        .keys()
        .chain(warehouse_days.keys())
        .copied()
        .collect();
    days.sort_unstable();
    days.dedup();
    let differences = days
        .into_iter()
        .filter_map(|day| {
            let s = source_days.get(&day).copied().unwrap_or(0);
            let w = warehouse_days.get(&day).copied().unwrap_or(0);
            (s != w).then_some(DayDifference {
                day,
                source_finished: s,
                warehouse_finished: w,
            })
        })
        .collect();
    Ok(InstanceReconciliation {
        instance: name.to_string(),
        from,
        to,
        source_changed_until: until,
        source_finished: source_days.values().sum(),
        warehouse_finished: warehouse_days.values().sum(),
        differences,
    })
}

fn per_day(rows: Vec<tokio_postgres::Row>) -> BTreeMap<NaiveDate, i64> {
    rows.iter()
        .map(|r| (r.get("day"), r.get("finished_runs")))
        .collect()
}
