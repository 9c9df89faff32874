//! The reporting time zone: whose calendar days the daily figures use (`[reporting]
//! time_zone`). Its name is checked against PostgreSQL's own list (`pg_timezone_names`), the
//! same list every query that computes a day uses, so pipewatch and its SQL never disagree.

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::Client;

use crate::db::SqlError;
use crate::source::DayBounds;

const CHECK_TIME_ZONE_SQL: &str = include_str!("../sql/common/check_time_zone.sql");
const DAY_BOUNDS_SQL: &str = include_str!("../sql/common/day_bounds.sql");
const WINDOW_BOUNDS_SQL: &str = include_str!("../sql/common/window_bounds.sql");

/// When each day of `from..=to` begins in `zone` (and the day after), as the warehouse's SQL
/// computes days.
pub async fn day_bounds(
    warehouse: &Client,
    zone: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<DayBounds, SqlError> {
    let rows = warehouse
        .query(DAY_BOUNDS_SQL, &[&zone, &from, &to])
        .await?;
    Ok(DayBounds {
        first: from,
        starts: rows.iter().map(|r| r.get("starts_at")).collect(),
    })
}

/// The days `from..=to` of `zone` as one UTC range `[start, end)`.
pub async fn window_bounds(
    warehouse: &Client,
    zone: &str,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<(DateTime<Utc>, DateTime<Utc>), SqlError> {
    let row = warehouse
        .query_one(WINDOW_BOUNDS_SQL, &[&zone, &from, &to])
        .await?;
    Ok((row.get("starts_at"), row.get("ends_at")))
}

/// The reporting time zone could not be checked or is unknown.
#[derive(Debug, thiserror::Error)]
pub enum TimeZoneError {
    /// The zone is not one PostgreSQL knows (names are matched exactly, case included, as
    /// every day computation uses them).
    #[error(
        "unknown time zone {zone:?} in [reporting] time_zone: {}",
        match suggestion {
            Some(name) => format!("did you mean {name:?}? (names are case-sensitive)"),
            None => "use an IANA name such as UTC or Europe/Berlin (SELECT name FROM pg_timezone_names lists them)".to_string(),
        }
    )]
    Unknown {
        /// The zone.
        zone: String,
        /// A known zone whose name differs only in case.
        suggestion: Option<String>,
    },
    /// The check itself failed.
    #[error("could not check the reporting time zone in the warehouse")]
    Sql(#[source] SqlError),
}

/// Checks `zone` and returns today's date there, from the warehouse's clock.
pub async fn today_in_zone(warehouse: &Client, zone: &str) -> Result<NaiveDate, TimeZoneError> {
    let row = warehouse
        .query_one(CHECK_TIME_ZONE_SQL, &[&zone])
        .await
        .map_err(|e| TimeZoneError::Sql(e.into()))?;
    if !row.get::<_, bool>("known") {
        return Err(TimeZoneError::Unknown {
            zone: zone.to_string(),
            suggestion: row.get("same_but_case"),
        });
    }
    Ok(row.get("today"))
}
