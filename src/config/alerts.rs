//! Alerts (`[alerts]` and the per-DAG `[alerts_<label>]` overrides): the rule thresholds,
//! the noise controls, their defaults and validation, and which rules apply to a DAG.

use super::error::ConfigError;
use super::ini::{Parser, Section};
use super::routes::Route;
use super::types::Secret;

/// Default drop of a stretch's success rate below the baseline's (a share) for a success-rate
/// drop.
pub const DEFAULT_SUCCESS_RATE_DROP: f64 = 0.2;
/// Default days of finished runs before the judged ones that make the failure baseline.
pub const DEFAULT_SUCCESS_RATE_BASELINE_DAYS: u64 = 28;
/// Default fewest finished runs in a stretch of failures.
pub const DEFAULT_SUCCESS_RATE_MIN_RUNS: u64 = 2;
/// Default chance, under the DAG's baseline failure rate, below which a stretch of failures
/// alerts (over every stretch judged at once).
pub const DEFAULT_SUCCESS_RATE_CHANCE: f64 = 0.01;
/// Default median absolute deviations above the baseline median for a runtime regression.
pub const DEFAULT_RUNTIME_MAD_MULTIPLE: f64 = 4.0;
/// Default least increase over the baseline median (a share) for a runtime regression.
pub const DEFAULT_RUNTIME_MIN_INCREASE: f64 = 0.3;
/// Default successful runs whose median is compared with the baseline (DAGs with at least 4
/// successful runs in the last day; the others: their last 2).
pub const DEFAULT_RUNTIME_RECENT_RUNS: u64 = 5;
/// Default days of successful runs before the recent ones that make the runtime baseline.
pub const DEFAULT_RUNTIME_BASELINE_DAYS: u64 = 14;
/// Default fewest baseline runs for a runtime regression to be judged.
pub const DEFAULT_RUNTIME_BASELINE_MIN_RUNS: u64 = 10;
/// Default evaluations in a row that must breach before an alert opens.
pub const DEFAULT_CONSECUTIVE_BREACHES: u64 = 1;
/// Default minutes after an alert resolves during which the same alert does not reopen.
pub const DEFAULT_COOLDOWN_MINUTES: u64 = 60;
/// Default hours the run-history rules judge back while an alert is open: it resolves once
/// they are clean.
pub const DEFAULT_RESOLVE_AFTER_HOURS: u64 = 24;
/// Default minutes a DAG must be blocked (its oldest queued or running run that old) before
/// the `blocked` alert opens.
pub const DEFAULT_BLOCKED_MINUTES: u64 = 60;
/// Default minutes an import-error episode must last before the `import_error` alert opens.
pub const DEFAULT_IMPORT_ERROR_MINUTES: u64 = 15;
/// Default days before a pause within which a scheduled run must have started for the `paused`
/// alert to open.
pub const DEFAULT_PAUSED_RAN_WITHIN_DAYS: u64 = 7;
/// Hours back `missed_runs` counts missing runs.
pub const DEFAULT_MISSED_RUNS_HOURS: u64 = 24;

/// A rule's threshold, or `false`: the rule off.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Threshold {
    /// The rule is off.
    Off,
    /// The rule is on with this threshold.
    At(f64),
}

impl Threshold {
    /// The threshold, None when the rule is off.
    pub fn value(self) -> Option<f64> {
        match self {
            Threshold::Off => None,
            Threshold::At(v) => Some(v),
        }
    }
}

/// What the freshness rule judges.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Freshness {
    /// Off.
    Off,
    /// The DAG's own rhythm: no run started for longer than its usual gap allows (`auto`, the
    /// default).
    Rhythm,
    /// A fixed age: no successful run ended within this many hours.
    Hours(f64),
}

/// The alert rules for one DAG (or the defaults of all). None in an override means "as in
/// [alerts]"; `rules_for` fills in the defaults.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertRules {
    /// Whether alerts are evaluated for the DAG at all.
    pub enabled: Option<bool>,
    /// Success-rate drop: open when a stretch of recent runs failed more often than the DAG's
    /// baseline failure rate makes likely (`success_rate_chance`) and its success rate is below
    /// the baseline's by more than this (a share, 0.2 = 20 points); `false`: off.
    pub success_rate_drop: Option<Threshold>,
    /// Days of finished runs before the judged ones that make the baseline.
    pub success_rate_baseline_days: Option<u64>,
    /// Fewest finished runs in the stretch.
    pub success_rate_min_runs: Option<u64>,
    /// The chance below which the stretch's failures alert.
    pub success_rate_chance: Option<f64>,
    /// Runtime regression: open when the median of the recent successful runs exceeds the
    /// baseline median by more than this many median absolute deviations; `false`: off.
    pub runtime_mad_multiple: Option<Threshold>,
    /// ... and by at least this share of the baseline median.
    pub runtime_min_increase: Option<f64>,
    /// Recent successful runs compared.
    pub runtime_recent_runs: Option<u64>,
    /// Days of baseline runs before the recent ones.
    pub runtime_baseline_days: Option<u64>,
    /// Fewest baseline runs.
    pub runtime_baseline_min_runs: Option<u64>,
    /// Freshness: open when the DAG's runs stopped or came late for its rhythm (`auto`), or
    /// when its newest successful run ended longer ago than a number of hours; `false`: off.
    pub freshness_hours: Option<Freshness>,
    /// Landing deadline: open when a day's run has not succeeded by this local time of the
    /// next day (reporting time zone).
    pub landing_deadline: Option<chrono::NaiveTime>,
    /// Overdue: open when the DAG's next run is due for longer than its grace (on by default).
    pub overdue: Option<bool>,
    /// Blocked: open when the scheduler may not create the next run because of a run queued or
    /// running for longer than `blocked_minutes` (on by default).
    pub blocked: Option<bool>,
    /// Minutes the blocking run must be queued or running.
    pub blocked_minutes: Option<u64>,
    /// Import error: open when the DAG's file fails to import for longer than
    /// `import_error_minutes` (on by default; judged per file, on when any DAG of it has it on).
    pub import_error: Option<bool>,
    /// Minutes an import-error episode must last.
    pub import_error_minutes: Option<u64>,
    /// Paused: open when a DAG that started a scheduled run in the `paused_ran_within_days`
    /// before its pause is paused (off by default).
    pub paused: Option<bool>,
    /// Days before the pause that count.
    pub paused_ran_within_days: Option<u64>,
    /// Scheduler down: open when an instance with unpaused DAGs has no fresh scheduler
    /// heartbeat (on by default; `[alerts]` only: it judges an instance, not a DAG).
    pub scheduler_down: Option<bool>,
    /// Pool empty: open when a pool has 0 slots while tasks wait for it (on by default;
    /// `[alerts]` only).
    pub pool_empty: Option<bool>,
    /// Missed runs: open when runs the DAG's schedule called for in the last
    /// `missed_runs_hours` never came (on by default).
    pub missed_runs: Option<bool>,
    /// Hours back the missing runs count.
    pub missed_runs_hours: Option<u64>,
    /// Objective missed: the newest judgement of an objective for the DAG was missed (on by
    /// default).
    pub objective_missed: Option<bool>,
    /// Objective at risk: a judgement not due yet is expected to land late (on by default).
    pub objective_at_risk: Option<bool>,
    /// Error budget spent: an objective's 28-day misses reached what its target allows (on by
    /// default).
    pub error_budget_spent: Option<bool>,
    /// Evaluations in a row that must breach before an alert opens.
    pub consecutive_breaches: Option<u64>,
    /// Minutes after a resolution during which the alert does not reopen.
    pub cooldown_minutes: Option<u64>,
    /// Hours the run-history rules judge back while an alert is open (it resolves once they
    /// are clean).
    pub resolve_after_hours: Option<u64>,
}

impl AlertRules {
    /// These rules, with what they leave unset taken from `defaults`.
    pub fn over(&self, defaults: &AlertRules) -> AlertRules {
        AlertRules {
            enabled: self.enabled.or(defaults.enabled),
            success_rate_drop: self.success_rate_drop.or(defaults.success_rate_drop),
            success_rate_baseline_days: self
                .success_rate_baseline_days
                .or(defaults.success_rate_baseline_days),
            success_rate_min_runs: self
                .success_rate_min_runs
                .or(defaults.success_rate_min_runs),
            success_rate_chance: self.success_rate_chance.or(defaults.success_rate_chance),
            runtime_mad_multiple: self.runtime_mad_multiple.or(defaults.runtime_mad_multiple),
            runtime_min_increase: self.runtime_min_increase.or(defaults.runtime_min_increase),
            runtime_recent_runs: self.runtime_recent_runs.or(defaults.runtime_recent_runs),
            runtime_baseline_days: self
                .runtime_baseline_days
                .or(defaults.runtime_baseline_days),
            runtime_baseline_min_runs: self
                .runtime_baseline_min_runs
                .or(defaults.runtime_baseline_min_runs),
            freshness_hours: self.freshness_hours.or(defaults.freshness_hours),
            landing_deadline: self.landing_deadline.or(defaults.landing_deadline),
            overdue: self.overdue.or(defaults.overdue),
            blocked: self.blocked.or(defaults.blocked),
            blocked_minutes: self.blocked_minutes.or(defaults.blocked_minutes),
            import_error: self.import_error.or(defaults.import_error),
            import_error_minutes: self.import_error_minutes.or(defaults.import_error_minutes),
            paused: self.paused.or(defaults.paused),
            paused_ran_within_days: self
                .paused_ran_within_days
                .or(defaults.paused_ran_within_days),
            scheduler_down: self.scheduler_down.or(defaults.scheduler_down),
            pool_empty: self.pool_empty.or(defaults.pool_empty),
            missed_runs: self.missed_runs.or(defaults.missed_runs),
            missed_runs_hours: self.missed_runs_hours.or(defaults.missed_runs_hours),
            objective_missed: self.objective_missed.or(defaults.objective_missed),
            objective_at_risk: self.objective_at_risk.or(defaults.objective_at_risk),
            error_budget_spent: self.error_budget_spent.or(defaults.error_budget_spent),
            consecutive_breaches: self.consecutive_breaches.or(defaults.consecutive_breaches),
            cooldown_minutes: self.cooldown_minutes.or(defaults.cooldown_minutes),
            resolve_after_hours: self.resolve_after_hours.or(defaults.resolve_after_hours),
        }
    }
}

/// Rules for one DAG (`[alerts_<label>]`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertOverride {
    /// The section.
    pub section: String,
    /// The DAG, exactly as Airflow names it.
    pub dag_id: String,
    /// Only on this Airflow instance (default: every one).
    pub instance: Option<String>,
    /// The rules set in the section.
    pub rules: AlertRules,
}

/// `[alerts]` and its overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    /// The defaults for every DAG.
    pub rules: AlertRules,
    /// Per-DAG rules.
    pub overrides: Vec<AlertOverride>,
    /// Whether failing validation tests join the ledger (`validation_failures`).
    pub validation_failures: bool,
    /// Where alerts are posted (Slack-compatible JSON); default `[validate] webhook_url`. The
    /// default route: it gets the alerts no `[route_<label>]` takes.
    pub webhook_url: Option<Secret>,
    /// The teams' routes (`[route_<label>]`), in label order.
    pub routes: Vec<Route>,
    /// Whether any `[objective_<label>]` is configured (the objective rules judge nothing
    /// without one).
    pub objectives: bool,
}

impl AlertSettings {
    /// The rules for `dag_id` on `instance`, with every default filled in.
    pub fn rules_for(&self, instance: &str, dag_id: &str) -> AlertRules {
        let defaults = AlertRules {
            enabled: Some(true),
            success_rate_drop: Some(Threshold::At(DEFAULT_SUCCESS_RATE_DROP)),
            success_rate_baseline_days: Some(DEFAULT_SUCCESS_RATE_BASELINE_DAYS),
            success_rate_min_runs: Some(DEFAULT_SUCCESS_RATE_MIN_RUNS),
            success_rate_chance: Some(DEFAULT_SUCCESS_RATE_CHANCE),
            runtime_mad_multiple: Some(Threshold::At(DEFAULT_RUNTIME_MAD_MULTIPLE)),
            runtime_min_increase: Some(DEFAULT_RUNTIME_MIN_INCREASE),
            freshness_hours: Some(Freshness::Rhythm),
            runtime_recent_runs: Some(DEFAULT_RUNTIME_RECENT_RUNS),
            runtime_baseline_days: Some(DEFAULT_RUNTIME_BASELINE_DAYS),
            runtime_baseline_min_runs: Some(DEFAULT_RUNTIME_BASELINE_MIN_RUNS),
            overdue: Some(true),
            blocked: Some(true),
            blocked_minutes: Some(DEFAULT_BLOCKED_MINUTES),
            import_error: Some(true),
            import_error_minutes: Some(DEFAULT_IMPORT_ERROR_MINUTES),
            paused: Some(false),
            paused_ran_within_days: Some(DEFAULT_PAUSED_RAN_WITHIN_DAYS),
            scheduler_down: Some(true),
            pool_empty: Some(true),
            missed_runs: Some(true),
            missed_runs_hours: Some(DEFAULT_MISSED_RUNS_HOURS),
            objective_missed: Some(true),
            objective_at_risk: Some(true),
            error_budget_spent: Some(true),
            consecutive_breaches: Some(DEFAULT_CONSECUTIVE_BREACHES),
            cooldown_minutes: Some(DEFAULT_COOLDOWN_MINUTES),
            resolve_after_hours: Some(DEFAULT_RESOLVE_AFTER_HOURS),
            ..AlertRules::default()
        };
        let global = self.rules.over(&defaults);
        // The DAG's section for every instance first, then its section for this instance, which
        // wins where both set a key (at most one of each: the parser refuses more).
        let matching = |named: bool| {
            self.overrides.iter().filter(move |o| {
                o.dag_id == dag_id
                    && o.instance.is_some() == named
                    && o.instance.as_deref().is_none_or(|i| i == instance)
            })
        };
        matching(false)
            .chain(matching(true))
            .fold(global, |rules, o| o.rules.over(&rules))
    }
}

/// A threshold from 0 to `max`, or `false` / `off` (the rule off).
fn threshold(s: &mut Section, key: &str, max: f64) -> Result<Option<Threshold>, ConfigError> {
    let Some(text) = s.string(key)? else {
        return Ok(None);
    };
    match text.to_ascii_lowercase().as_str() {
        "false" | "off" | "no" => Ok(Some(Threshold::Off)),
        t => match t.parse::<f64>() {
            Ok(v) if v.is_finite() && (0.0..=max).contains(&v) => Ok(Some(Threshold::At(v))),
            _ => Err(s.invalid(
                key,
                &text,
                &format!("a number from 0 to {max}, or false (the rule off)"),
            )),
        },
    }
}

/// `freshness_hours`: `auto` (the DAG's rhythm), hours, or `false` / `off`.
fn freshness(s: &mut Section) -> Result<Option<Freshness>, ConfigError> {
    let key = "freshness_hours";
    let Some(text) = s.string(key)? else {
        return Ok(None);
    };
    match text.to_ascii_lowercase().as_str() {
        "false" | "off" | "no" => Ok(Some(Freshness::Off)),
        "auto" => Ok(Some(Freshness::Rhythm)),
        t => match t.parse::<f64>() {
            Ok(v) if v.is_finite() && v > 0.0 && v <= 24.0 * 366.0 => Ok(Some(Freshness::Hours(v))),
            _ => Err(s.invalid(
                key,
                &text,
                "auto (the DAG's own rhythm), hours from 0 to 8784, or false (the rule off)",
            )),
        },
    }
}

impl Parser<'_> {
    /// The rule keys of `[alerts]` and `[alerts_*]`.
    pub(super) fn alert_rules(&self, s: &mut Section) -> Result<AlertRules, ConfigError> {
        let landing_deadline = match s.string("landing_deadline")? {
            None => None,
            Some(text) => Some(chrono::NaiveTime::parse_from_str(&text, "%H:%M").map_err(
                |_| {
                    s.invalid(
                        "landing_deadline",
                        &text,
                        "a local time HH:MM, such as 06:30",
                    )
                },
            )?),
        };
        Ok(AlertRules {
            enabled: s.boolean("enabled")?,
            success_rate_drop: threshold(s, "success_rate_drop", 1.0)?,
            success_rate_baseline_days: s.number("success_rate_baseline_days", 1, 366)?,
            success_rate_min_runs: s.number("success_rate_min_runs", 2, 1000)?,
            success_rate_chance: s.fraction("success_rate_chance", 0.0, 1.0)?,
            runtime_mad_multiple: threshold(s, "runtime_mad_multiple", 1000.0)?,
            runtime_min_increase: s.fraction("runtime_min_increase", 0.0, 100.0)?,
            runtime_recent_runs: s.number("runtime_recent_runs", 1, 1000)?,
            runtime_baseline_days: s.number("runtime_baseline_days", 1, 366)?,
            runtime_baseline_min_runs: s.number("runtime_baseline_min_runs", 1, 100_000)?,
            freshness_hours: freshness(s)?,
            landing_deadline,
            overdue: s.boolean("overdue")?,
            blocked: s.boolean("blocked")?,
            blocked_minutes: s.number("blocked_minutes", 1, 366 * 24 * 60)?,
            import_error: s.boolean("import_error")?,
            import_error_minutes: s.number("import_error_minutes", 0, 366 * 24 * 60)?,
            paused: s.boolean("paused")?,
            paused_ran_within_days: s.number("paused_ran_within_days", 1, 366)?,
            scheduler_down: s.boolean("scheduler_down")?,
            pool_empty: s.boolean("pool_empty")?,
            missed_runs: s.boolean("missed_runs")?,
            missed_runs_hours: s.number("missed_runs_hours", 1, 366 * 24)?,
            objective_missed: s.boolean("objective_missed")?,
            objective_at_risk: s.boolean("objective_at_risk")?,
            error_budget_spent: s.boolean("error_budget_spent")?,
            consecutive_breaches: s.number("consecutive_breaches", 1, 1000)?,
            cooldown_minutes: s.number("cooldown_minutes", 0, 366 * 24 * 60)?,
            resolve_after_hours: s.number("resolve_after_hours", 1, 7 * 24)?,
        })
    }

    pub(super) fn alerts(&self, mut s: Section) -> Result<AlertSettings, ConfigError> {
        let rules = self.alert_rules(&mut s)?;
        if let Some(key) = ["dag_id", "instance"]
            .into_iter()
            .find(|k| s.entries.contains_key(*k))
        {
            return Err(ConfigError::Rule {
                path: self.path.to_path_buf(),
                message: format!(
                    "[alerts] sets the defaults of every DAG and takes no `{key}`: put a DAG's own rules in a section [alerts_<label>] with dag_id = ..."
                ),
            });
        }
        let webhook_url = s.webhook_url()?;
        let settings = AlertSettings {
            rules,
            overrides: Vec::new(),
            routes: Vec::new(),
            objectives: false,
            validation_failures: s.boolean("validation_failures")?.unwrap_or(false),
            webhook_url,
        };
        s.finish()?;
        Ok(settings)
    }

    pub(super) fn alert_override(&self, mut s: Section) -> Result<AlertOverride, ConfigError> {
        let dag_id = s.required("dag_id")?;
        let instance = s.string("instance")?;
        for key in [
            "validation_failures",
            "webhook_url",
            "webhook_url_file",
            "scheduler_down",
            "pool_empty",
        ] {
            if s.entries.contains_key(key) {
                return Err(ConfigError::Rule {
                    path: self.path.to_path_buf(),
                    message: format!("[{}] is a DAG's rules: `{key}` belongs in [alerts]", s.name),
                });
            }
        }
        let rules = self.alert_rules(&mut s)?;
        let o = AlertOverride {
            section: s.name.clone(),
            dag_id,
            instance,
            rules,
        };
        s.finish()?;
        Ok(o)
    }
}
