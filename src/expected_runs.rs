//! Expected against actual runs: `dag_schedule_daily` and `dag_schedule_missed`, recomputed by
//! the transform in its transaction.
//!
//! For each instance with a catalogue, the days from where the last transform stopped (or the
//! first catalogue reading) to the last reading are recomputed, and any older day a load
//! queued. For each DAG, the catalogue history says when it was *eligible* (unpaused and
//! present in Airflow; a DAG whose file fails to import stays eligible: its runs are missed)
//! and what its schedule was; its schedule is expanded into slots over those spans
//! ([`crate::schedule`]), each slot is matched to a scheduled or backfill run with that data
//! interval end, and a slot without one is missing. Slots are judged only once due by more
//! than 10 minutes at the last reading. A slot belongs to the day of its due time in the
//! reporting time zone.
//!
//! Exact: cron expressions and presets in a named time zone (Airflow's DST rules included),
//! while pipewatch read the catalogue. Interval (timedelta) schedules follow the chain of the
//! DAG's own scheduled runs (each run's end plus the interval, as Airflow chains them), so a
//! gap in that chain is missing runs. Not expanded, never guessed (expected_runs NULL, with a
//! note): custom timetables, asset- or dataset-triggered DAGs, `@once`, `@continuous`, an
//! unknown time zone (no readable serialized DAG), an expression that does not parse. A DAG
//! with no schedule expects nothing (0).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::rc::Rc;

use chrono::{DateTime, Duration, NaiveDate, Utc};
use tokio_postgres::Transaction;
use uuid::Uuid;

use crate::db::SqlError;
use crate::retry::Transient;
use crate::schedule::CronSchedule;

const PLAN_SQL: &str = include_str!("../sql/schedule/plan.sql");
const DAY_BOUNDS_SQL: &str = include_str!("../sql/schedule/day_bounds.sql");
const SPANS_SQL: &str = include_str!("../sql/schedule/spans.sql");
const DELTA_RUNS_SQL: &str = include_str!("../sql/schedule/delta_runs.sql");
const DELETE_DAYS_SQL: &str = include_str!("../sql/schedule/delete_days.sql");
const INSERT_DAYS_SQL: &str = include_str!("../sql/schedule/insert_days.sql");
const RUNS_SQL: &str = include_str!("../sql/schedule/runs.sql");
const SAVE_STATE_SQL: &str = include_str!("../sql/schedule/save_state.sql");

/// The shortest interval schedule expanded: below it, a chain over a long gap would be
/// millions of slots.
const MIN_DELTA_SECONDS: f64 = 60.0;

/// At most this many slots per DAG and stretch of days (an every-minute cron over a month is
/// 44,640): beyond, the DAG's days are left unexpanded with a note.
const MAX_SLOTS_PER_DAG: usize = 200_000;

/// Why expected runs could not be computed; the transform rolls back.
#[derive(Debug, thiserror::Error)]
pub enum ExpectedRunsError {
    /// A statement failed.
    #[error("expected runs (dag_schedule_daily): could not {step}")]
    Sql {
        /// What was being done.
        step: String,
        /// The failure.
        #[source]
        source: SqlError,
    },
}

impl Transient for ExpectedRunsError {
    fn is_transient(&self) -> bool {
        matches!(self, ExpectedRunsError::Sql { source, .. } if source.is_transient())
    }
}

fn sql_error(step: impl Into<String>) -> impl FnOnce(tokio_postgres::Error) -> ExpectedRunsError {
    let step = step.into();
    move |e| ExpectedRunsError::Sql {
        step,
        source: e.into(),
    }
}

/// What a recomputation wrote.
#[derive(Debug, Clone, Copy, Default)]
pub struct ExpectedRunsReport {
    /// (instance, day) pairs recomputed.
    pub days: usize,
    /// dag_schedule_daily rows written.
    pub rows: u64,
    /// Missing slots written.
    pub missed: u64,
}

/// One span of a DAG's catalogue history.
#[derive(Debug, Clone)]
struct Span {
    from: DateTime<Utc>,
    to: Option<DateTime<Utc>>,
    eligible: bool,
    kind: Option<String>,
    expression: Option<String>,
    delta_seconds: Option<f64>,
    trigger_seconds: Option<f64>,
    time_zone: Option<String>,
    start_date: Option<DateTime<Utc>>,
    end_date: Option<DateTime<Utc>>,
}

impl Span {
    /// The part of `(after, until]` in which the DAG was eligible, within its start and end
    /// dates.
    fn eligible_within(
        &self,
        after: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.eligible {
            return None;
        }
        let mut a = after.max(self.from);
        if let Some(s) = self.start_date {
            // A slot due at the start date itself is expected (Airflow's first run ends there
            // at the earliest).
            a = a.max(s - Duration::seconds(1));
        }
        let mut b = self.to.map_or(until, |t| t.min(until));
        if let Some(e) = self.end_date {
            b = b.min(e);
        }
        (a < b).then_some((a, b))
    }
}

/// How a span's schedule is expanded.
#[derive(Clone)]
enum Expansion {
    /// The schedule's slots over the whole stretch: (previous slot, due), sorted.
    Cron(Rc<Vec<(DateTime<Utc>, DateTime<Utc>)>>),
    Delta(Duration),
    /// Nothing is expected (no schedule).
    Nothing,
    /// Not expanded: why.
    Unexpanded(String),
}

/// The schedules of a stretch's DAGs, parsed and expanded once per distinct cron expression
/// and time zone (thousands of DAGs share `@daily` or `0 * * * *`): a span's slots are the
/// stretch's, cut to the span.
struct Expander {
    after: DateTime<Utc>,
    until: DateTime<Utc>,
    crons: HashMap<(String, String), Expansion>,
}

impl Expander {
    /// Slots due in `(after, until]`.
    fn new(after: DateTime<Utc>, until: DateTime<Utc>) -> Self {
        Expander {
            after,
            until,
            crons: HashMap::new(),
        }
    }

    fn expansion(&mut self, span: &Span) -> Expansion {
        match span.kind.as_deref() {
            Some("cron") => {
                let Some(expression) = span.expression.as_deref() else {
                    return Expansion::Unexpanded("cron schedule without an expression".into());
                };
                let Some(zone) = span.time_zone.as_deref() else {
                    return Expansion::Unexpanded(
                        "time zone unknown (serialized DAG not read): cron not expanded".into(),
                    );
                };
                let (after, until) = (self.after, self.until);
                self.crons
                    .entry((expression.to_string(), zone.to_string()))
                    .or_insert_with(|| match CronSchedule::new(expression, zone) {
                        Ok(c) => Expansion::Cron(Rc::new(c.slots(after, until))),
                        Err(why) => Expansion::Unexpanded(why),
                    })
                    .clone()
            }
            Some("delta") => match span.delta_seconds {
                Some(s) if s >= MIN_DELTA_SECONDS => {
                    Expansion::Delta(Duration::milliseconds((s * 1000.0) as i64))
                }
                Some(s) => Expansion::Unexpanded(format!(
                    "interval of {s} s is under a minute: not expanded"
                )),
                None => Expansion::Unexpanded("interval schedule without an interval".into()),
            },
            Some("none") => Expansion::Nothing,
            Some("once") => Expansion::Unexpanded("@once: not expanded".into()),
            Some("continuous") => Expansion::Unexpanded("@continuous: not expanded".into()),
            Some("asset") => Expansion::Unexpanded("triggered by assets: not expanded".into()),
            Some("custom") => Expansion::Unexpanded("custom timetable: not expanded".into()),
            Some(other) => Expansion::Unexpanded(format!("schedule kind {other}: not expanded")),
            None => Expansion::Unexpanded("schedule unknown: not expanded".into()),
        }
    }
}

/// A day's bounds: `[starts_at, ends_at)` holds its slots (a slot due at midnight is the new
/// day's).
#[derive(Debug, Clone, Copy)]
struct Day {
    day: NaiveDate,
    starts_at: DateTime<Utc>,
    ends_at: DateTime<Utc>,
}

/// One DAG's figures for one day.
#[derive(Debug, Default, Clone)]
struct DayRow {
    /// The kind of its last span that day.
    kind: Option<String>,
    /// Slots expected; None when a schedule was not expanded.
    expected: Option<i32>,
    /// Seconds eligible (unpaused and present).
    eligible_seconds: f64,
    /// Why not expanded.
    note: Option<String>,
}

/// The rows one DAG contributes over a stretch of days.
#[derive(Debug, Default)]
struct DagDays {
    /// Per day.
    rows: BTreeMap<NaiveDate, DayRow>,
    /// Slots: due at, data interval start.
    slots: Vec<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The stretch's day containing instant `t` as a slot (`[starts_at, ends_at)`).
fn day_of(days: &[Day], t: DateTime<Utc>) -> Option<&Day> {
    let i = days.partition_point(|d| d.ends_at <= t);
    days.get(i).filter(|d| d.starts_at <= t)
}

/// The instant just before `t`: slots are expanded over `(after, until]`, days hold
/// `[starts_at, ends_at)`.
fn just_before(t: DateTime<Utc>) -> DateTime<Utc> {
    t - Duration::milliseconds(1)
}

/// Expands one DAG's spans over a stretch of consecutive days, up to `until`. `anchors` are
/// its scheduled runs' data interval ends (interval schedules only), sorted.
fn expand_dag(
    expander: &mut Expander,
    spans: &[Span],
    days: &[Day],
    until: DateTime<Utc>,
    anchors: &[DateTime<Utc>],
) -> DagDays {
    let mut out = DagDays::default();
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return out;
    };
    let window_end = just_before(last.ends_at).min(until);
    let expansions: Vec<Expansion> = spans.iter().map(|s| expander.expansion(s)).collect();
    // Every day the DAG was known on gets a row, with the kind of its last span that day.
    for d in days {
        let day_end = just_before(d.ends_at).min(until);
        let mut row = DayRow {
            expected: Some(0),
            ..DayRow::default()
        };
        let mut known = false;
        for (s, expansion) in spans.iter().zip(&expansions) {
            if s.from >= d.ends_at || s.to.is_some_and(|t| t <= d.starts_at) {
                continue;
            }
            known = true;
            row.kind = s.kind.clone();
            if let Some((a, b)) = s.eligible_within(just_before(d.starts_at), day_end) {
                row.eligible_seconds += (b - a).num_milliseconds() as f64 / 1000.0;
                if let Expansion::Unexpanded(why) = expansion {
                    row.expected = None;
                    row.note.get_or_insert_with(|| why.clone());
                }
            }
        }
        if known {
            out.rows.insert(d.day, row);
        }
    }
    let mut slots: Vec<(DateTime<Utc>, DateTime<Utc>)> = Vec::new();
    for (s, expansion) in spans.iter().zip(expansions) {
        let Some((a, b)) = s.eligible_within(just_before(first.starts_at), window_end) else {
            continue;
        };
        match expansion {
            Expansion::Cron(all) => {
                let from = all.partition_point(|(_, due)| *due <= a);
                for &(previous, due) in all[from..].iter().take_while(|(_, due)| *due <= b) {
                    let start = match s.trigger_seconds {
                        Some(i) => due - Duration::milliseconds((i * 1000.0) as i64),
                        None => previous,
                    };
                    slots.push((due, start));
                    if slots.len() > MAX_SLOTS_PER_DAG {
                        break;
                    }
                }
            }
            Expansion::Delta(delta) => {
                let interval = |due: DateTime<Utc>| match s.trigger_seconds {
                    Some(i) => due - Duration::milliseconds((i * 1000.0) as i64),
                    None => due - delta,
                };
                // The runs themselves, then the chain from each run up to the next one.
                for (i, &anchor) in anchors.iter().enumerate() {
                    if anchor > a && anchor <= b {
                        slots.push((anchor, interval(anchor)));
                    }
                    let next = anchors.get(i + 1).copied();
                    let mut t = anchor + delta;
                    while t <= b && next.is_none_or(|n| t < n) && slots.len() <= MAX_SLOTS_PER_DAG {
                        if t > a {
                            slots.push((t, interval(t)));
                        }
                        t += delta;
                    }
                }
            }
            Expansion::Nothing | Expansion::Unexpanded(_) => {}
        }
    }
    if slots.len() > MAX_SLOTS_PER_DAG {
        for row in out.rows.values_mut() {
            row.expected = None;
            row.note = Some(format!(
                "more than {MAX_SLOTS_PER_DAG} slots over the days recomputed: not expanded"
            ));
        }
        return out;
    }
    slots.sort_unstable();
    slots.dedup_by_key(|s| s.0);
    for &(due, start) in &slots {
        if let Some(d) = day_of(days, due)
            && let Some(row) = out.rows.get_mut(&d.day)
            && let Some(expected) = row.expected.as_mut()
        {
            *expected += 1;
            out.slots.push((due, start));
        }
    }
    out
}

/// Recomputes expected runs for every instance with a catalogue: the days since the last
/// transform, and `queued` (instance, day) pairs older than that; every day when `full`.
pub async fn recompute(
    tx: &Transaction<'_>,
    time_zone: &str,
    full: bool,
    queued: &[(String, NaiveDate)],
    run_id: &Uuid,
) -> Result<ExpectedRunsReport, ExpectedRunsError> {
    let mut report = ExpectedRunsReport::default();
    let plans = tx
        .query(PLAN_SQL, &[&full, &time_zone])
        .await
        .map_err(sql_error("plan which days to recompute"))?;
    for plan in plans {
        let instance: String = plan.get("airflow_instance");
        let until: DateTime<Utc> = plan.get("judged_until");
        let from_day: NaiveDate = plan.get("from_day");
        let to_day: NaiveDate = plan.get("to_day");
        let first_day: NaiveDate = plan.get("first_day");
        let mut wanted: BTreeSet<NaiveDate> =
            from_day.iter_days().take_while(|d| *d <= to_day).collect();
        // A queued day is the day of a loaded run's logical date; the slot it fills is due at
        // its data interval's end, a day later for a daily data-interval timetable: both days.
        // (A late weekly or monthly run's slot is counted again by the next full refresh.)
        wanted.extend(
            queued
                .iter()
                .filter(|(i, _)| *i == instance)
                .flat_map(|(_, d)| [*d, d.succ_opt().unwrap_or(*d)])
                .filter(|d| *d >= first_day && *d <= to_day),
        );
        let wanted: Vec<NaiveDate> = wanted.into_iter().collect();
        tx.query_one(DELETE_DAYS_SQL, &[&instance, &wanted, &full])
            .await
            .map_err(sql_error(format!("delete the days of instance {instance}")))?;
        let bounds: Vec<Day> = tx
            .query(DAY_BOUNDS_SQL, &[&wanted, &time_zone])
            .await
            .map_err(sql_error("compute the days' bounds"))?
            .iter()
            .map(|r| Day {
                day: r.get("day"),
                starts_at: r.get("starts_at"),
                ends_at: r.get("ends_at"),
            })
            .collect();
        // Consecutive days are expanded together; a lone old day queued by a load alone.
        let mut stretch_start = 0;
        for i in 0..bounds.len() {
            let last_of_stretch = i + 1 - stretch_start == MAX_STRETCH_DAYS
                || bounds
                    .get(i + 1)
                    .is_none_or(|next| next.day != bounds[i].day.succ_opt().unwrap_or(next.day));
            if last_of_stretch {
                let written =
                    recompute_stretch(tx, &instance, &bounds[stretch_start..=i], until, run_id)
                        .await?;
                report.rows += written.0;
                report.missed += written.1;
                stretch_start = i + 1;
            }
        }
        report.days += wanted.len();
        tx.execute(SAVE_STATE_SQL, &[&instance, &until, run_id])
            .await
            .map_err(sql_error("save dag_schedule_state"))?;
    }
    Ok(report)
}

/// The day rows of a stretch, as the columns `sql/schedule/insert_days.sql` unnests.
#[derive(Debug, Default)]
struct DayColumns {
    dag_id: Vec<String>,
    day: Vec<NaiveDate>,
    kind: Vec<Option<String>>,
    expected: Vec<Option<i32>>,
    actual: Vec<Option<i32>>,
    eligible_seconds: Vec<f64>,
    note: Vec<Option<String>>,
}

/// The missing slots of a stretch, as columns.
#[derive(Debug, Default)]
struct MissedColumns {
    dag_id: Vec<String>,
    due_at: Vec<DateTime<Utc>>,
    interval_start: Vec<DateTime<Utc>>,
    day: Vec<NaiveDate>,
}

/// Most days expanded and matched at once: a full refresh over a year goes by weeks, so the
/// slots and runs held in memory stay those of a week.
const MAX_STRETCH_DAYS: usize = 7;

/// One stretch of consecutive days of one instance: rows written, missing slots written.
async fn recompute_stretch(
    tx: &Transaction<'_>,
    instance: &str,
    days: &[Day],
    until: DateTime<Utc>,
    run_id: &Uuid,
) -> Result<(u64, u64), ExpectedRunsError> {
    let (Some(first), Some(last)) = (days.first(), days.last()) else {
        return Ok((0, 0));
    };
    let started = std::time::Instant::now();
    let window_end = just_before(last.ends_at).min(until);
    let rows = tx
        .query(SPANS_SQL, &[&instance, &first.starts_at, &last.ends_at])
        .await
        .map_err(sql_error(
            "read the catalogue history (dag_catalog_history)",
        ))?;
    let mut spans: BTreeMap<String, Vec<Span>> = BTreeMap::new();
    for r in &rows {
        let eligible = r.get::<_, Option<bool>>("is_paused") == Some(false)
            && r.get::<_, bool>("in_airflow")
            && (r.get::<_, Option<bool>>("is_stale") != Some(true)
                || r.get::<_, Option<bool>>("has_import_errors") == Some(true));
        spans.entry(r.get("dag_id")).or_default().push(Span {
            from: r.get("valid_from"),
            to: r.get("valid_to"),
            eligible,
            kind: r.get("timetable_kind"),
            expression: r.get("timetable_expression"),
            delta_seconds: r.get("timetable_delta_seconds"),
            trigger_seconds: r.get("timetable_trigger_interval_seconds"),
            time_zone: r.get("time_zone"),
            start_date: r.get("start_date"),
            end_date: r.get("end_date"),
        });
    }
    let delta_dags: Vec<String> = spans
        .iter()
        .filter(|(_, s)| s.iter().any(|s| s.kind.as_deref() == Some("delta")))
        .map(|(d, _)| d.clone())
        .collect();
    let mut anchors: HashMap<String, Vec<DateTime<Utc>>> = HashMap::new();
    if !delta_dags.is_empty() {
        for r in tx
            .query(
                DELTA_RUNS_SQL,
                &[&instance, &delta_dags, &first.starts_at, &window_end],
            )
            .await
            .map_err(sql_error(
                "read the runs of interval schedules (dag_run_history)",
            ))?
        {
            anchors
                .entry(r.get("dag_id"))
                .or_default()
                .push(r.get("data_interval_end"));
        }
    }
    // Expand every DAG's schedule.
    let mut expander = Expander::new(just_before(first.starts_at), window_end);
    let expanded: Vec<(&String, DagDays)> = spans
        .iter()
        .map(|(dag_id, dag_spans)| {
            let anchors = anchors.get(dag_id).map_or(&[][..], Vec::as_slice);
            (
                dag_id,
                expand_dag(&mut expander, dag_spans, days, until, anchors),
            )
        })
        .collect();
    // The runs that fill the slots, by (DAG, data interval end).
    let with_slots: Vec<String> = expanded
        .iter()
        .filter(|(_, d)| !d.slots.is_empty())
        .map(|(dag_id, _)| (*dag_id).clone())
        .collect();
    let mut runs: HashSet<(String, i64)> = HashSet::new();
    if !with_slots.is_empty() {
        for r in tx
            .query(
                RUNS_SQL,
                &[&instance, &with_slots, &first.starts_at, &window_end],
            )
            .await
            .map_err(sql_error("read the scheduled runs (dag_run_history)"))?
        {
            let end: DateTime<Utc> = r.get("data_interval_end");
            runs.insert((r.get("dag_id"), end.timestamp_micros()));
        }
    }
    let expanded_at = started.elapsed().as_secs_f64();
    let mut day_cols = DayColumns::default();
    let mut missed = MissedColumns::default();
    let mut probe = (String::new(), 0_i64);
    for (dag_id, dag_days) in expanded {
        let mut actual: BTreeMap<NaiveDate, i32> = BTreeMap::new();
        probe.0.clone_from(dag_id);
        for (due, start) in dag_days.slots {
            let Some(day) = day_of(days, due).map(|d| d.day) else {
                continue;
            };
            probe.1 = due.timestamp_micros();
            if runs.contains(&probe) {
                *actual.entry(day).or_default() += 1;
            } else {
                missed.dag_id.push(dag_id.clone());
                missed.due_at.push(due);
                missed.interval_start.push(start);
                missed.day.push(day);
            }
        }
        for (day, row) in dag_days.rows {
            day_cols.dag_id.push(dag_id.clone());
            day_cols.day.push(day);
            day_cols.kind.push(row.kind);
            day_cols
                .actual
                .push(row.expected.map(|_| actual.get(&day).copied().unwrap_or(0)));
            day_cols.expected.push(row.expected);
            day_cols.eligible_seconds.push(row.eligible_seconds);
            day_cols.note.push(row.note);
        }
    }
    let row = tx
        .query_one(
            INSERT_DAYS_SQL,
            &[
                &instance,
                run_id,
                &until,
                &day_cols.dag_id,
                &day_cols.day,
                &day_cols.kind,
                &day_cols.expected,
                &day_cols.actual,
                &day_cols.eligible_seconds,
                &day_cols.note,
                &missed.dag_id,
                &missed.due_at,
                &missed.interval_start,
                &missed.day,
            ],
        )
        .await
        .map_err(sql_error(format!(
            "write dag_schedule_daily for instance {instance} from {} to {}",
            first.day, last.day
        )))?;
    tracing::debug!(
        instance,
        from = %first.day,
        to = %last.day,
        dags = day_cols.dag_id.len(),
        schedules = expander.crons.len(),
        runs = runs.len(),
        missing = missed.day.len(),
        expanded_seconds = expanded_at,
        seconds = started.elapsed().as_secs_f64(),
        "Computed expected runs."
    );
    Ok((
        row.get::<_, i64>("daily") as u64,
        row.get::<_, i64>("missed") as u64,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn span(from: &str, to: Option<&str>, paused: bool, kind: &str) -> Span {
        Span {
            from: utc(from),
            to: to.map(utc),
            eligible: !paused,
            kind: Some(kind.into()),
            expression: Some("0 0 * * *".into()),
            delta_seconds: Some(6.0 * 3600.0),
            trigger_seconds: None,
            time_zone: Some("UTC".into()),
            start_date: None,
            end_date: None,
        }
    }

    /// `expand_dag` with an expander over the days.
    fn expand(
        spans: &[Span],
        days: &[Day],
        until: DateTime<Utc>,
        anchors: &[DateTime<Utc>],
    ) -> DagDays {
        let end = just_before(days.last().unwrap().ends_at).min(until);
        let mut expander = Expander::new(just_before(days[0].starts_at), end);
        expand_dag(&mut expander, spans, days, until, anchors)
    }

    fn utc_days(first: &str, n: i64) -> Vec<Day> {
        let d0 = NaiveDate::parse_from_str(first, "%Y-%m-%d").unwrap();
        (0..n)
            .map(|i| {
                let day = d0 + Duration::days(i);
                Day {
                    day,
                    starts_at: day.and_hms_opt(0, 0, 0).unwrap().and_utc(),
                    ends_at: (day + Duration::days(1))
                        .and_hms_opt(0, 0, 0)
                        .unwrap()
                        .and_utc(),
                }
            })
            .collect()
    }

    #[test]
    fn a_daily_dag_paused_for_two_days_expects_nothing_then() {
        let spans = [
            span(
                "2026-01-01T00:00:00Z",
                Some("2026-01-03T12:00:00Z"),
                false,
                "cron",
            ),
            span(
                "2026-01-03T12:00:00Z",
                Some("2026-01-05T12:00:00Z"),
                true,
                "cron",
            ),
            span("2026-01-05T12:00:00Z", None, false, "cron"),
        ];
        let days = utc_days("2026-01-02", 6);
        let out = expand(&spans, &days, utc("2026-01-08T00:00:00Z"), &[]);
        // Slots due 2, 3 (eligible); 4, 5 (paused); 6, 7 (eligible) January at midnight.
        let expected: Vec<Option<i32>> = out.rows.values().map(|r| r.expected).collect();
        assert_eq!(
            expected,
            [Some(1), Some(1), Some(0), Some(0), Some(1), Some(1)]
        );
        assert_eq!(out.slots.len(), 4);
    }

    #[test]
    fn an_interval_schedule_expects_the_chain_of_its_runs() {
        let spans = [span("2026-01-01T00:00:00Z", None, false, "delta")];
        let days = utc_days("2026-01-02", 1);
        // Runs ending at 00:00 and 12:00; the 06:00 run never came; after 12:00 the chain
        // goes on: 18:00 (00:00 next day is the next day's).
        let anchors = [utc("2026-01-02T00:00:00Z"), utc("2026-01-02T12:00:00Z")];
        let out = expand(&spans, &days, utc("2026-01-03T06:00:00Z"), &anchors);
        let dues: Vec<String> = out
            .slots
            .iter()
            .map(|s| s.0.format("%H").to_string())
            .collect();
        assert_eq!(dues, ["00", "06", "12", "18"]);
        assert_eq!(out.rows.values().next().unwrap().expected, Some(4));
    }

    #[test]
    fn unexpandable_schedules_say_why() {
        let mut s = span("2026-01-01T00:00:00Z", None, false, "cron");
        s.time_zone = None;
        let out = expand(
            &[s],
            &utc_days("2026-01-02", 1),
            utc("2026-01-03T00:00:00Z"),
            &[],
        );
        let row = out.rows.values().next().unwrap();
        assert_eq!(row.expected, None);
        assert!(row.note.as_deref().unwrap().contains("time zone unknown"));
        let none = span("2026-01-01T00:00:00Z", None, false, "none");
        let out = expand(
            &[none],
            &utc_days("2026-01-02", 1),
            utc("2026-01-03T00:00:00Z"),
            &[],
        );
        assert_eq!(out.rows.values().next().unwrap().expected, Some(0));
    }
}
