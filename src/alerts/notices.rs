//! The notices: one Slack-compatible text per opening and per resolution, posted after the
//! ledger committed and marked as posted; one that could not be delivered stays unmarked and is
//! posted by the next evaluation. Formatting and posting only: judging is the rules' job.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::Client;
use uuid::Uuid;

use super::error::{AlertError, sql_error};
use super::ledger::AlertReport;
use super::rule::Subject;
use super::rules;
use crate::config::Settings;
use crate::notify::text_of;

const UNNOTIFIED_SQL: &str = include_str!("../../sql/alerts/unnotified.sql");
const MARK_NOTIFIED_SQL: &str = include_str!("../../sql/alerts/mark_notified.sql");

/// Posts the openings and resolutions not posted yet, and marks them.
pub async fn post(
    warehouse: &Client,
    settings: &Settings,
    report: &mut AlertReport,
) -> Result<(), AlertError> {
    let Some(url) = settings.alert_webhook() else {
        report.no_webhook = true;
        if !report.opened.is_empty() || !report.resolved.is_empty() {
            tracing::warn!(
                opened = report.opened.len(),
                resolved = report.resolved.len(),
                "No notice sent: no webhook is configured ([alerts] webhook_url, or [validate] webhook_url); the alerts are in alert_history and `pipewatch alerts`."
            );
        }
        return Ok(());
    };
    let rows = warehouse
        .query(UNNOTIFIED_SQL, &[])
        .await
        .map_err(sql_error("read the alerts to post"))?;
    for row in rows {
        let id: Uuid = row.get("alert_id");
        let rule: String = row.get("rule");
        let instance: String = row.get("airflow_instance");
        let subject: String = row.get("subject");
        let day: NaiveDate = row.get("day");
        let message: String = row.get("message");
        let opened_at: DateTime<Utc> = row.get("opened_at");
        let rule = rules::named(&rule);
        let title = rule.map_or("alert", |r| r.title());
        let kind = rule.map_or(Subject::Dag, |r| r.subject());
        let what = match kind {
            Subject::ValidationTest => format!(
                "validation test {} (database {})",
                text_of(&subject),
                text_of(&instance)
            ),
            Subject::Dag => format!(
                "DAG {} on Airflow instance {}",
                text_of(&subject),
                text_of(&instance)
            ),
            Subject::DagFile => format!(
                "DAG file {} on Airflow instance {}",
                text_of(&subject),
                text_of(&instance)
            ),
            Subject::Pool => format!(
                "pool {} on Airflow instance {}",
                text_of(&subject),
                text_of(&instance)
            ),
            Subject::Instance => format!(
                "Airflow instance {} ({})",
                text_of(&instance),
                text_of(&subject)
            ),
        };
        let message = text_of(&message);
        // The DAG's page; Airflow's home page (which lists import errors and the scheduler's
        // health) for a file or the instance.
        let link = match (&settings.airflow_ui, kind) {
            (Some(base), Subject::Dag) => format!(" {base}/dags/{}", url_segment(&subject)),
            (Some(base), Subject::DagFile | Subject::Instance | Subject::Pool) => {
                format!(" {base}/")
            }
            _ => String::new(),
        };
        let mut posts = Vec::new();
        if row.get::<_, bool>("open_pending") {
            posts.push((
                "open",
                format!("pipewatch alert OPENED: {title} for {what}, {day}: {message}.{link}"),
            ));
        }
        if row.get::<_, bool>("resolve_pending") {
            posts.push((
                "resolve",
                format!(
                    "pipewatch alert RESOLVED: {title} for {what} (opened {}): the condition cleared.{link}",
                    opened_at.format("%Y-%m-%d %H:%M UTC")
                ),
            ));
        }
        for (kind, text) in posts {
            match crate::notify::post_text(&settings.validate, url, &text).await {
                Ok(()) => {
                    warehouse
                        .execute(MARK_NOTIFIED_SQL, &[&id, &kind])
                        .await
                        .map_err(sql_error("mark an alert posted"))?;
                    report.notified += 1;
                }
                Err(e) => {
                    tracing::warn!(alert = %id, error = %e, "Could not post the alert; the next evaluation posts it.");
                    report.undelivered += 1;
                    break;
                }
            }
        }
    }
    Ok(())
}

/// A path segment with what URLs reserve percent-encoded.
fn url_segment(text: &str) -> String {
    let mut out = String::new();
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_segments_are_encoded() {
        assert_eq!(url_segment("my dag/x"), "my%20dag%2Fx");
    }
}
