//! Airflow's schedules, expanded into the slots (due times) they call for, the way Airflow's
//! own timetables compute them.
//!
//! - A cron expression (or preset) is read in the DAG's time zone on the local wall clock, as
//!   `croniter` does for Airflow. Airflow's DST rule is kept: for an expression whose hour
//!   field is `*` (it runs at least once every hour), the next slot is the current one plus the
//!   wall-clock difference, so every real hour gets its run across a daylight-saving change;
//!   for any other expression the local time is made an instant as pendulum does for Airflow
//!   (`fold=1`): a local time that occurs twice is its later occurrence, a local time skipped
//!   by the change moves forward by the gap (02:30 becomes 03:30).
//! - A fixed interval (`timedelta`) has no slots of its own: Airflow chains each run from the
//!   previous run's end, so the slots are that chain (see `crate::expected_runs`).
//!
//! A unit test checks the slots against what Airflow 2.10.5 and 3.3.2 computed for the same
//! expressions (`CronTriggerTimetable._get_next` in Europe/Berlin across both changes of 2026).

use std::str::FromStr as _;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone as _, Utc};
use chrono_tz::Tz;
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};

/// Airflow's presets, written out as `airflow.utils.dates.cron_presets` does.
const PRESETS: [(&str, &str); 8] = [
    ("@hourly", "0 * * * *"),
    ("@daily", "0 0 * * *"),
    ("@midnight", "0 0 * * *"),
    ("@weekly", "0 0 * * 0"),
    ("@monthly", "0 0 1 * *"),
    ("@quarterly", "0 0 1 */3 *"),
    ("@yearly", "0 0 1 1 *"),
    ("@annually", "0 0 1 1 *"),
];

/// Whether a schedule text (Airflow 2's `schedule_interval`, Airflow 3's `timetable_summary`)
/// is one pipewatch expands: a cron expression of five fields, a preset, or a timedelta.
pub fn expandable_text(schedule: &str) -> bool {
    let s = schedule.trim();
    PRESETS.iter().any(|(p, _)| *p == s)
        || s.split_whitespace().count() == 5
        || s.contains("\"timedelta\"")
        || is_timedelta_text(s)
}

/// `6:00:00`, `1 day, 0:00:00`, `2 days, 1:30:00.5` (Python's `str(timedelta)`).
fn is_timedelta_text(s: &str) -> bool {
    let clock = s.rsplit(", ").next().unwrap_or(s);
    let parts: Vec<&str> = clock.split(':').collect();
    parts.len() == 3
        && parts
            .iter()
            .all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit() || c == '.'))
}

/// A cron schedule in a time zone.
#[derive(Debug, Clone)]
pub struct CronSchedule {
    cron: Cron,
    zone: Tz,
    every_hour: bool,
}

impl CronSchedule {
    /// Parses a five-field expression (or preset) in the IANA time zone `zone`; the error says
    /// what is wrong, for the model's note.
    pub fn new(expression: &str, zone: &str) -> Result<Self, String> {
        let expression = expression.trim();
        let written = PRESETS
            .iter()
            .find(|(p, _)| *p == expression)
            .map_or(expression, |(_, e)| e);
        if written.split_whitespace().count() != 5 {
            return Err(format!(
                "cron expression {expression:?} does not have five fields"
            ));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(written)
            .map_err(|e| format!("cron expression {expression:?} does not parse: {e}"))?;
        let zone = Tz::from_str(zone.trim())
            .map_err(|_| format!("time zone {zone:?} is not an IANA time zone name"))?;
        let every_hour = (0..24).all(|h| cron.pattern.hour_match(h).unwrap_or(false));
        Ok(CronSchedule {
            cron,
            zone,
            every_hour,
        })
    }

    /// The first slot after `current`, as Airflow's `CronMixin._get_next`.
    pub fn next_after(&self, current: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let naive = current.with_timezone(&self.zone).naive_local();
        let mut from = naive;
        // At most a few rounds: a local time made an instant at or before `current` (only
        // possible around a change of offset) is passed over.
        for _ in 0..4 {
            let next = self.cron.find_next_occurrence(&from, false).ok()?;
            let instant = if self.every_hour {
                current + (next - naive)
            } else {
                self.instant(next)
            };
            if instant > current {
                return Some(instant);
            }
            from = next;
        }
        None
    }

    /// The last slot at or before `current`, as Airflow's `CronMixin._get_prev` (inclusive).
    pub fn at_or_before(&self, current: DateTime<Utc>) -> Option<DateTime<Utc>> {
        let naive = current.with_timezone(&self.zone).naive_local();
        let prev = self.cron.find_previous_occurrence(&naive, true).ok()?;
        Some(if self.every_hour {
            current - (naive - prev)
        } else {
            self.instant(prev)
        })
    }

    /// The slots due in `(after, until]`, each with the slot before it (the start of the data
    /// interval of Airflow 2's data-interval timetables).
    pub fn slots(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
        let mut out = Vec::new();
        let Some(mut previous) = self.at_or_before(after) else {
            return out;
        };
        while let Some(next) = self.next_after(previous) {
            if next > until {
                break;
            }
            if next > after {
                out.push((previous, next));
            }
            previous = next;
        }
        out
    }

    /// A local wall-clock time as an instant, as pendulum makes it for Airflow (`fold=1`).
    fn instant(&self, local: NaiveDateTime) -> DateTime<Utc> {
        if let Some(t) = self.later(local) {
            return t;
        }
        // Skipped by a change: read with the offset in force before it, which moves the time
        // forward by the gap.
        let before = (1..=48)
            .find_map(|h| {
                let earlier = local - Duration::hours(h);
                self.later(earlier)
                    .map(|t| (earlier - t.naive_utc()).num_seconds())
            })
            .unwrap_or(0);
        (local - Duration::seconds(before)).and_utc()
    }

    /// A local time as an instant, its later occurrence when it occurs twice; None when a
    /// change of offset skips it.
    fn later(&self, local: NaiveDateTime) -> Option<DateTime<Utc>> {
        match self.zone.from_local_datetime(&local) {
            LocalResult::Single(t) | LocalResult::Ambiguous(_, t) => Some(t.with_timezone(&Utc)),
            LocalResult::None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn chain(expr: &str, from: &str, n: usize) -> Vec<String> {
        let c = CronSchedule::new(expr, "Europe/Berlin").unwrap();
        let mut t = utc(from);
        (0..n)
            .map(|_| {
                t = c.next_after(t).unwrap();
                t.format("%d %H:%M").to_string()
            })
            .collect()
    }

    /// The figures Airflow 2.10.5 and 3.3.2 printed for
    /// `CronTriggerTimetable(expr, timezone="Europe/Berlin")._get_next`, chained from 20:00 UTC
    /// on the day before each change of 2026 (both versions printed the same).
    #[test]
    fn slots_are_airflows_across_both_daylight_saving_changes() {
        let spring = "2026-03-28T20:00:00Z";
        let autumn = "2026-10-24T20:00:00Z";
        assert_eq!(
            chain("30 2 * * *", spring, 3),
            ["29 01:30", "30 00:30", "31 00:30"]
        );
        assert_eq!(
            chain("30 2 * * *", autumn, 3),
            ["25 01:30", "26 01:30", "27 01:30"]
        );
        assert_eq!(
            chain("0 * * * *", spring, 12).join(" "),
            "28 21:00 28 22:00 28 23:00 29 00:00 29 01:00 29 02:00 29 03:00 29 04:00 \
             29 05:00 29 06:00 29 07:00 29 08:00"
        );
        assert_eq!(
            chain("0 * * * *", autumn, 12).join(" "),
            "24 21:00 24 22:00 24 23:00 25 00:00 25 01:00 25 02:00 25 03:00 25 04:00 \
             25 05:00 25 06:00 25 07:00 25 08:00"
        );
        assert_eq!(
            chain("0 */2 * * *", spring, 12).join(" "),
            "28 21:00 28 23:00 29 01:00 29 02:00 29 04:00 29 06:00 29 08:00 29 10:00 \
             29 12:00 29 14:00 29 16:00 29 18:00"
        );
        assert_eq!(
            chain("0 */2 * * *", autumn, 12).join(" "),
            "24 22:00 25 01:00 25 03:00 25 05:00 25 07:00 25 09:00 25 11:00 25 13:00 \
             25 15:00 25 17:00 25 19:00 25 21:00"
        );
        assert_eq!(
            chain("45 1,2,3 * * *", spring, 3),
            ["29 00:45", "29 01:45", "29 23:45"]
        );
        assert_eq!(
            chain("45 1,2,3 * * *", autumn, 3),
            ["24 23:45", "25 01:45", "25 02:45"]
        );
    }

    #[test]
    fn an_hourly_berlin_day_has_23_and_25_slots_on_the_change_days() {
        let c = CronSchedule::new("@hourly", "Europe/Berlin").unwrap();
        // 29 March 2026 in Berlin: 23:00 UTC on the 28th to 22:00 UTC on the 29th (23 hours).
        let spring = c.slots(utc("2026-03-28T23:00:00Z"), utc("2026-03-29T22:00:00Z"));
        assert_eq!(spring.len(), 23);
        // 25 October 2026: 22:00 UTC on the 24th to 23:00 UTC on the 25th (25 hours).
        let autumn = c.slots(utc("2026-10-24T22:00:00Z"), utc("2026-10-25T23:00:00Z"));
        assert_eq!(autumn.len(), 25);
        // Each slot's previous slot is the one before it.
        assert_eq!(autumn[1].0, autumn[0].1);
    }

    #[test]
    fn presets_and_bad_input() {
        let daily = CronSchedule::new("@daily", "UTC").unwrap();
        let s = daily.slots(utc("2026-01-01T00:00:00Z"), utc("2026-01-03T00:00:00Z"));
        assert_eq!(s.len(), 2, "(after, until]: 2 and 3 January");
        assert_eq!(s[0].0, utc("2026-01-01T00:00:00Z"));
        assert!(
            CronSchedule::new("0 * * *", "UTC")
                .unwrap_err()
                .contains("five fields")
        );
        assert!(
            CronSchedule::new("0 99 * * *", "UTC")
                .unwrap_err()
                .contains("parse")
        );
        assert!(
            CronSchedule::new("0 * * * *", "Mars/Olympus")
                .unwrap_err()
                .contains("IANA")
        );
        assert!(expandable_text("@daily"));
        assert!(expandable_text("*/5 * * * 1-5"));
        assert!(expandable_text("1 day, 0:00:00"));
        assert!(expandable_text("6:00:00"));
        assert!(!expandable_text("Asset"));
        assert!(!expandable_text("None"));
        assert!(!expandable_text("@once"));
    }
}
