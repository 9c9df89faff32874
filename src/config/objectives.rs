//! Objectives (`[objective_<label>]`): the promises a team makes about its DAGs, which pipewatch
//! judges run by run.
//!
//! A section matches DAGs like a route (`instance`, `dag_id`, `owner`, `tag`; at least one),
//! optionally narrows to one task (`task_id`: that task's successful try is judged instead of
//! the run), and states exactly one kind of promise:
//! - `lands_by = HH:MM` (with `time_zone`, default the reporting time zone, and `days`, default
//!   every day, such as `mon-fri` or `mon, wed, fri`): the runs for a day's data end
//!   successfully by that local time of the day;
//! - `within = 2h` (with `after` = `data_interval_end`, the default, `run_after` or `queued`):
//!   each run ends successfully within that long after its reference time;
//! - `runtime_within = median + 3 MAD` (with `runtime_runs`, default 20): each run's runtime
//!   stays within the median plus that many median absolute deviations of the DAG's (or task's)
//!   last successful runs before it.
//!
//! `target` (default 99%) is the share of judgements that must be met; what is left of it over
//! 28 days is the error budget.

use std::collections::BTreeSet;

use chrono::{NaiveTime, Weekday};

use super::error::ConfigError;
use super::ini::{Parser, Section};
use super::matcher::DagMatcher;

/// Default share of judgements that must be met.
pub const DEFAULT_OBJECTIVE_TARGET: f64 = 0.99;
/// Default successful runs whose runtimes make a runtime objective's bound.
pub const DEFAULT_RUNTIME_RUNS: u64 = 20;
/// Fewest earlier successful runs for a runtime objective to judge a run.
pub const MIN_RUNTIME_RUNS: u64 = 5;

/// What a run's end is measured from, for `within`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reference {
    /// The end of the run's data interval (Airflow's `data_interval_end`).
    DataIntervalEnd,
    /// When the run was due to be created (Airflow 3's `run_after`; the logical date's
    /// interval end on Airflow 2).
    RunAfter,
    /// When the run was queued.
    Queued,
}

impl Reference {
    /// The name in the configuration.
    pub fn as_str(self) -> &'static str {
        match self {
            Reference::DataIntervalEnd => "data_interval_end",
            Reference::RunAfter => "run_after",
            Reference::Queued => "queued",
        }
    }
}

/// The promise an objective states.
#[derive(Debug, Clone, PartialEq)]
pub enum Promise {
    /// Lands by a local time of day, on some days of the week.
    LandsBy {
        /// The local time.
        time: NaiveTime,
        /// The IANA zone; None: the reporting time zone.
        time_zone: Option<String>,
        /// The days of the week judged (never empty).
        days: BTreeSet<u8>,
    },
    /// Ends within a delay after a reference time of the run.
    Within {
        /// The delay, in seconds.
        seconds: u64,
        /// What it is measured from.
        after: Reference,
    },
    /// Runtime within the median plus a multiple of the median absolute deviation.
    Runtime {
        /// The multiple.
        mad_multiple: f64,
        /// Earlier successful runs that make the bound.
        runs: u64,
    },
}

/// One `[objective_<label>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Objective {
    /// The label (the section's name after `objective_`), stored with every judgement.
    pub label: String,
    /// The section, for messages.
    pub section: String,
    /// The DAGs it judges.
    pub matcher: DagMatcher,
    /// The task judged instead of the whole run.
    pub task_id: Option<String>,
    /// What is promised.
    pub promise: Promise,
    /// Share of judgements that must be met.
    pub target: f64,
}

impl Objective {
    /// The promise in words, for `check-config` and the report.
    pub fn describe(&self) -> String {
        let what = match &self.task_id {
            Some(task) => format!("task {task}"),
            None => "the run".to_string(),
        };
        let promise = match &self.promise {
            Promise::LandsBy {
                time,
                time_zone,
                days,
            } => format!(
                "{what} succeeds by {} {} on {}",
                time.format("%H:%M"),
                time_zone.as_deref().unwrap_or("(reporting time zone)"),
                days_text(days)
            ),
            Promise::Within { seconds, after } => format!(
                "{what} succeeds within {} after {}",
                duration_text(*seconds),
                after.as_str()
            ),
            Promise::Runtime { mad_multiple, runs } => format!(
                "{what} runs within median + {mad_multiple} MAD of its last {runs} successful runs"
            ),
        };
        format!(
            "{promise}, target {}%",
            (self.target * 100_000.0).round() / 1000.0
        )
    }
}

const DAY_NAMES: [&str; 7] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];

/// "mon-fri", "every day", or the days listed.
fn days_text(days: &BTreeSet<u8>) -> String {
    match days.len() {
        7 => "every day".to_string(),
        _ if days.iter().copied().eq(0..5) => "mon-fri".to_string(),
        _ => days
            .iter()
            .map(|d| DAY_NAMES[usize::from(*d)])
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// "2h", "1h30m", "45m", "90s".
fn duration_text(seconds: u64) -> String {
    let (h, m, s) = (seconds / 3600, seconds % 3600 / 60, seconds % 60);
    let mut text = String::new();
    for (n, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if n > 0 {
            text.push_str(&format!("{n}{unit}"));
        }
    }
    text
}

/// A day of the week: its three-letter or full English name, any case; Monday is 0.
fn weekday(name: &str) -> Option<u8> {
    name.trim()
        .parse::<Weekday>()
        .ok()
        .map(|d| d.num_days_from_monday() as u8)
}

/// `mon-fri`, `sat, sun`, `fri-mon` (a range wraps over the week's end), `daily`.
pub fn parse_days(text: &str) -> Result<BTreeSet<u8>, String> {
    let mut days = BTreeSet::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        if part.eq_ignore_ascii_case("daily") || part.eq_ignore_ascii_case("every day") {
            days.extend(0..7);
            continue;
        }
        let day =
            |name: &str| weekday(name).ok_or_else(|| format!("`{name}` is no day of the week"));
        match part.split_once('-') {
            Some((from, to)) => {
                let (from, to) = (day(from)?, day(to)?);
                let mut d = from;
                loop {
                    days.insert(d);
                    if d == to {
                        break;
                    }
                    d = (d + 1) % 7;
                }
            }
            None => {
                days.insert(day(part)?);
            }
        }
    }
    if days.is_empty() {
        return Err("the list names no day".to_string());
    }
    Ok(days)
}

/// `2h`, `90m`, `1h30m`, `45s`, `1d`: a positive duration in seconds.
pub fn parse_duration(text: &str) -> Result<u64, String> {
    let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let mut seconds: u64 = 0;
    let mut number = String::new();
    for c in compact.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c.to_ascii_lowercase() {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(format!("`{c}` is no unit (s, m, h, d)")),
        };
        let n: u64 = number
            .parse()
            .map_err(|_| "a number must come before each unit".to_string())?;
        seconds = seconds.saturating_add(n.saturating_mul(unit));
        number.clear();
    }
    if !number.is_empty() {
        return Err("a unit (s, m, h, d) must follow each number".to_string());
    }
    if seconds == 0 {
        return Err("the duration must be longer than 0".to_string());
    }
    if seconds > 366 * 86_400 {
        return Err("the duration must be at most 366 days".to_string());
    }
    Ok(seconds)
}

/// `median + 3 MAD` (any case and spacing): the multiple.
pub fn parse_runtime_bound(text: &str) -> Result<f64, String> {
    let compact: String = text
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    let k = compact
        .strip_prefix("median+")
        .and_then(|rest| rest.strip_suffix("mad"))
        .ok_or("the form is `median + K MAD`")?;
    let k: f64 = k.parse().map_err(|_| format!("`{k}` is no number"))?;
    if !(0.0..=1000.0).contains(&k) {
        return Err("K must be from 0 to 1000".to_string());
    }
    Ok(k)
}

/// `99%`, `99.5 %` or `0.99`: a share strictly between 0 and 1.
pub fn parse_target(text: &str) -> Result<f64, String> {
    let t = text.trim();
    let share = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|p| p / 100.0),
        None => t.parse::<f64>(),
    }
    .map_err(|_| "a percentage such as 99% or a share such as 0.99".to_string())?;
    if !(share > 0.0 && share < 1.0) {
        return Err("a share above 0% and below 100%".to_string());
    }
    Ok(share)
}

impl Parser<'_> {
    /// A `[objective_<label>]` section.
    pub(super) fn objective(&self, mut s: Section) -> Result<Objective, ConfigError> {
        let rule = |message: String| ConfigError::Rule {
            path: self.path.to_path_buf(),
            message,
        };
        let label = s
            .name
            .strip_prefix("objective_")
            .unwrap_or_default()
            .to_string();
        if label.is_empty() {
            return Err(rule(format!(
                "[{}] needs a label: name the section [objective_<label>], such as [objective_orders_by_six]",
                s.name
            )));
        }
        let matcher = DagMatcher::read(&mut s)?;
        let task_id = s.string("task_id")?;
        let mut typed = |key: &str, expected: &str, parse: &dyn Fn(&str) -> Result<(), String>| {
            let text = s.string(key)?;
            if let Some(text) = &text
                && let Err(why) = parse(text)
            {
                return Err(s.invalid(key, text, &format!("{expected} ({why})")));
            }
            Ok::<_, ConfigError>(text)
        };
        let lands_by = typed("lands_by", "a local time HH:MM, such as 06:00", &|t| {
            NaiveTime::parse_from_str(t.trim(), "%H:%M")
                .map(|_| ())
                .map_err(|e| e.to_string())
        })?;
        let time_zone = typed(
            "time_zone",
            "an IANA time zone, such as Europe/Berlin",
            &|t| {
                t.trim()
                    .parse::<chrono_tz::Tz>()
                    .map(|_| ())
                    .map_err(|_| "unknown to the IANA database".to_string())
            },
        )?;
        let days = typed(
            "days",
            "days of the week, such as mon-fri or sat, sun",
            &|t| parse_days(t).map(|_| ()),
        )?;
        let within = typed("within", "a duration such as 2h, 90m or 1h30m", &|t| {
            parse_duration(t).map(|_| ())
        })?;
        let after = typed(
            "after",
            "data_interval_end, run_after or queued",
            &|t| match t.trim() {
                "data_interval_end" | "run_after" | "queued" => Ok(()),
                other => Err(format!("`{other}` is none of them")),
            },
        )?;
        let runtime_within = typed(
            "runtime_within",
            "median + K MAD, such as median + 3 MAD",
            &|t| parse_runtime_bound(t).map(|_| ()),
        )?;
        let target = typed("target", "a percentage such as 99%", &|t| {
            parse_target(t).map(|_| ())
        })?;
        let runtime_runs = s.number("runtime_runs", MIN_RUNTIME_RUNS, 10_000)?;
        // Every key is known (or named as unknown) before the rules between keys.
        let section = s.name.clone();
        s.finish()?;
        let stated: Vec<&str> = [
            ("lands_by", lands_by.is_some()),
            ("within", within.is_some()),
            ("runtime_within", runtime_within.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, set)| set.then_some(k))
        .collect();
        let kind = match stated.as_slice() {
            [one] => *one,
            [] => {
                return Err(rule(format!(
                    "[{section}] states no promise: set one of lands_by, within or runtime_within"
                )));
            }
            many => {
                return Err(rule(format!(
                    "[{section}] states {} promises: one section states one of them; split it into sections",
                    many.join(" and ")
                )));
            }
        };
        // Keys that belong to another kind of promise would be silently ignored.
        for (key, set, belongs) in [
            ("time_zone", time_zone.is_some(), "lands_by"),
            ("days", days.is_some(), "lands_by"),
            ("after", after.is_some(), "within"),
            ("runtime_runs", runtime_runs.is_some(), "runtime_within"),
        ] {
            if set && kind != belongs {
                return Err(rule(format!(
                    "[{section}] sets `{key}`, which goes with `{belongs}`, not `{kind}`: remove it"
                )));
            }
        }
        if matcher.is_empty() {
            return Err(rule(format!(
                "[{section}] matches no DAG: set dag_id, owner, tag or instance"
            )));
        }
        let promise = match kind {
            "lands_by" => Promise::LandsBy {
                time: NaiveTime::parse_from_str(lands_by.unwrap_or_default().trim(), "%H:%M")
                    .unwrap_or_default(),
                time_zone: time_zone.map(|z| z.trim().to_string()),
                days: days.map_or_else(|| (0..7).collect(), |d| parse_days(&d).unwrap_or_default()),
            },
            "within" => Promise::Within {
                seconds: parse_duration(&within.unwrap_or_default()).unwrap_or_default(),
                after: match after.as_deref().map(str::trim) {
                    Some("run_after") => Reference::RunAfter,
                    Some("queued") => Reference::Queued,
                    _ => Reference::DataIntervalEnd,
                },
            },
            _ => Promise::Runtime {
                mad_multiple: parse_runtime_bound(&runtime_within.unwrap_or_default())
                    .unwrap_or_default(),
                runs: runtime_runs.unwrap_or(DEFAULT_RUNTIME_RUNS),
            },
        };
        Ok(Objective {
            label,
            section,
            matcher,
            task_id,
            promise,
            target: target.map_or(DEFAULT_OBJECTIVE_TARGET, |t| {
                parse_target(&t).unwrap_or_default()
            }),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_durations_bounds_and_targets_parse_as_people_write_them() {
        assert_eq!(parse_days("mon-fri").unwrap(), (0..5).collect());
        assert_eq!(parse_days("Sat, SUN").unwrap(), [5, 6].into());
        assert_eq!(parse_days("fri-mon").unwrap(), [4, 5, 6, 0].into());
        assert_eq!(parse_days("daily").unwrap().len(), 7);
        assert_eq!(parse_days("monday").unwrap(), [0].into());
        assert!(parse_days(",").is_err());
        assert!(parse_days("mon-funday").is_err());
        assert_eq!(parse_duration("2h").unwrap(), 7200);
        assert_eq!(parse_duration("1h 30m").unwrap(), 5400);
        assert_eq!(parse_duration("45s").unwrap(), 45);
        assert!(parse_duration("2").is_err());
        assert!(parse_duration("0m").is_err());
        assert!(parse_duration("2 hours").is_err());
        assert_eq!(parse_runtime_bound("median + 3 MAD").unwrap(), 3.0);
        assert_eq!(parse_runtime_bound("Median+2.5mad").unwrap(), 2.5);
        assert!(parse_runtime_bound("mean + 3 sd").is_err());
        assert_eq!(parse_target("99%").unwrap(), 0.99);
        assert_eq!(parse_target("0.995").unwrap(), 0.995);
        assert!(parse_target("100%").is_err());
        assert!(parse_target("0").is_err());
        assert_eq!(duration_text(5400), "1h30m");
        assert_eq!(days_text(&(0..5).collect()), "mon-fri");
        assert_eq!(days_text(&[5, 6].into()), "sat, sun");
    }
}
