//! `pipewatch alerts`: lists the alert ledger, and with `--evaluate` judges the rules now (what
//! `run` does after its transform), for schedulers that run the stages as separate tasks.

use std::fmt;

use super::Report;
use crate::alerts::{self, AlertReport, ListedAlert};
use crate::config::Settings;
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
}

/// The ledger, and what the evaluation did.
#[derive(Debug)]
pub struct AlertsListed {
    /// Why no rule is ever evaluated, when alerts are off.
    pub off: Option<String>,
    /// The evaluation, when asked for.
    pub evaluated: Option<AlertReport>,
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
            write!(f, ", {} notices posted", self.notified)?;
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

/// Lists the alerts (judging the rules first with `--evaluate`).
pub async fn run(
    settings: &Settings,
    ctx: &RunContext,
    args: &Args,
) -> anyhow::Result<AlertsListed> {
    if args.evaluate {
        let Some(alert_settings) = &settings.alerts else {
            return Err(UsageError(format!(
                "{}: no [alerts] section, so there are no rules to evaluate (see pipeline.conf.example)",
                settings.path.display()
            ))
            .into());
        };
        // Under the run lock, as in `run`: overlapping evaluations never judge twice at once.
        let mut warehouse = super::open_locked(settings, ctx).await?;
        let today = super::today_in_reporting_zone(&warehouse, settings).await?;
        let report = alerts::evaluate(&mut warehouse, settings, alert_settings, today, ctx).await?;
        return Ok(AlertsListed {
            off: None,
            evaluated: Some(report),
            alerts: alerts::list(&warehouse, args.open).await?,
        });
    }
    let warehouse = crate::migrate::connect_reading(&settings.warehouse, ctx).await?;
    let off = settings.alerts.is_none().then(|| {
        format!(
            "Alerts are off: {} has no [alerts] section, so no rule is evaluated (see pipeline.conf.example).",
            settings.path.display()
        )
    });
    Ok(AlertsListed {
        off,
        evaluated: None,
        alerts: alerts::list(&warehouse, args.open).await?,
    })
}
