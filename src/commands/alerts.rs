//! `pipewatch alerts`: lists the alert ledger, and with `--evaluate` judges the rules now (what
//! `run` does after its transform), for schedulers that run the stages as separate tasks.

use std::fmt;

use super::Report;
use crate::alerts::routing::{DagFacts, Routable};
use crate::alerts::{self, AlertReport, ListedAlert};
use crate::config::{DEFAULT_ROUTE, Settings};
use crate::context::RunContext;
use crate::format::plural;
use crate::{Outcome, UsageError};

/// Arguments of `alerts`.
#[derive(Debug, Clone)]
pub struct Args {
    /// Only the open alerts.
    pub open: bool,
    /// Judge the rules first.
    pub evaluate: bool,
    /// Only what this route gets.
    pub route: Option<String>,
}

/// The ledger, and what the evaluation did.
#[derive(Debug)]
pub struct AlertsListed {
    /// Why no rule is ever evaluated, when alerts are off.
    pub off: Option<String>,
    /// The evaluation, when asked for.
    pub evaluated: Option<AlertReport>,
    /// The route the list is narrowed to, described.
    pub route: Option<String>,
    /// The alerts listed.
    pub alerts: Vec<ListedAlert>,
}

impl fmt::Display for AlertReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "alerts: {}, {} opened, {} resolved",
            plural(self.judged as u64, "rule judgement", "rule judgements"),
            self.opened.len(),
            self.resolved.len()
        )?;
        if self.notified + self.undelivered > 0 {
            write!(
                f,
                ", {} posted in {}",
                plural(self.notified as u64, "notice", "notices"),
                plural(self.messages as u64, "message", "messages")
            )?;
        }
        if self.unrouted > 0 {
            write!(
                f,
                "; {} no route takes (set [alerts] webhook_url for the default route)",
                plural(self.unrouted as u64, "notice", "notices")
            )?;
        }
        if self.undelivered > 0 {
            write!(
                f,
                " ({} could not be delivered; retried next time)",
                self.undelivered
            )?;
        }
        if self.no_webhook && !(self.opened.is_empty() && self.resolved.is_empty()) {
            write!(
                f,
                "; no notice sent: set [alerts] webhook_url (or [validate] webhook_url) to be told"
            )?;
        }
        Ok(())
    }
}

impl fmt::Display for AlertsListed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(off) = &self.off {
            writeln!(f, "{off}")?;
        }
        if let Some(e) = &self.evaluated {
            writeln!(f, "{e}")?;
        }
        if let Some(route) = &self.route {
            writeln!(f, "{route}")?;
        }
        let open = self
            .alerts
            .iter()
            .filter(|a| a.resolved_at.is_none())
            .count();
        writeln!(f, "{}.", plural(open as u64, "open alert", "open alerts"))?;
        for a in &self.alerts {
            let state = match a.resolved_at {
                None => "OPEN    ".to_string(),
                Some(at) => format!("resolved {}", at.format("%Y-%m-%d %H:%M UTC")),
            };
            writeln!(
                f,
                "{state}  {}  {}  {} on {}  (opened {}): {}",
                a.day,
                a.rule,
                a.subject,
                a.instance,
                a.opened_at.format("%Y-%m-%d %H:%M UTC"),
                a.message
            )?;
        }
        Ok(())
    }
}

impl Report for AlertsListed {
    /// Open alerts make the command exit 1, so a monitoring check can run it.
    fn outcome(&self) -> Outcome {
        if self.alerts.iter().any(|a| a.resolved_at.is_none()) {
            Outcome::ChecksFailed
        } else {
            Outcome::Success
        }
    }
}

/// Lists the alerts (judging the rules first with `--evaluate`), narrowed to what one route
/// gets with `--route`.
pub async fn run(
    settings: &Settings,
    ctx: &RunContext,
    args: &Args,
) -> anyhow::Result<AlertsListed> {
    let no_alerts = || {
        UsageError(format!(
            "{}: no [alerts] section, so there are no rules to evaluate and no routes (see pipeline.conf.example)",
            settings.path.display()
        ))
    };
    if let Some(label) = &args.route {
        let routes = settings.alerts.as_ref().ok_or_else(no_alerts)?;
        if label != DEFAULT_ROUTE && !routes.routes.iter().any(|r| &r.label == label) {
            let known: Vec<&str> = routes
                .routes
                .iter()
                .map(|r| r.label.as_str())
                .chain([DEFAULT_ROUTE])
                .collect();
            return Err(UsageError(format!(
                "--route {label}: {} has no [route_{label}] (routes: {})",
                settings.path.display(),
                known.join(", ")
            ))
            .into());
        }
    }
    if args.evaluate {
        let alert_settings = settings.alerts.as_ref().ok_or_else(no_alerts)?;
        // Under the run lock, as in `run`: overlapping evaluations never judge twice at once.
        let mut warehouse = super::open_locked(settings, ctx).await?;
        let today = super::today_in_reporting_zone(&warehouse, settings).await?;
        let report = alerts::evaluate(&mut warehouse, settings, alert_settings, today, ctx).await?;
        let alerts = alerts::list(&warehouse, args.open).await?;
        let listed = AlertsListed {
            off: None,
            evaluated: Some(report),
            route: None,
            alerts,
        };
        narrow(&warehouse, settings, args, listed).await
    } else {
        let warehouse = crate::migrate::connect_reading(&settings.warehouse, ctx).await?;
        let off = settings.alerts.is_none().then(|| {
            format!(
                "Alerts are off: {} has no [alerts] section, so no rule is evaluated (see pipeline.conf.example).",
                settings.path.display()
            )
        });
        let alerts = alerts::list(&warehouse, args.open).await?;
        let listed = AlertsListed {
            off,
            evaluated: None,
            route: None,
            alerts,
        };
        narrow(&warehouse, settings, args, listed).await
    }
}

/// With `--route`, keeps the alerts that route gets and says what it takes.
async fn narrow(
    warehouse: &tokio_postgres::Client,
    settings: &Settings,
    args: &Args,
    mut listed: AlertsListed,
) -> anyhow::Result<AlertsListed> {
    let (Some(label), Some(alert_settings)) = (&args.route, &settings.alerts) else {
        return Ok(listed);
    };
    let routes = &alert_settings.routes;
    let routable: Vec<Routable> = listed
        .alerts
        .iter()
        .map(|a| Routable::of(&a.rule, &a.instance, &a.subject, &a.details))
        .collect();
    let facts = DagFacts::read(warehouse, routes, &routable.iter().collect::<Vec<_>>()).await?;
    let before = listed.alerts.len();
    let mut keep = routable
        .iter()
        .map(|r| facts.routes_of(routes, r).contains(&label.as_str()));
    listed.alerts.retain(|_| keep.next().unwrap_or(false));
    let takes = match routes.iter().find(|r| &r.label == label) {
        Some(r) => format!("[{}] takes {}", r.section, r.matcher.describe()),
        None => "the default route ([alerts] webhook_url) takes what no [route_<label>] takes"
            .to_string(),
    };
    listed.route = Some(format!(
        "Route {label}: {takes}; it gets {} of the {} listed.",
        listed.alerts.len(),
        plural(before as u64, "alert", "alerts")
    ));
    Ok(listed)
}
