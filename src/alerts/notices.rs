//! The notices: each opening and resolution goes to every route that takes its alert
//! ([`super::routing`]), as one digest per route per evaluation (a route with one notice gets
//! that notice's own text). Posted after the ledger committed; each delivery is recorded per
//! route (`alert_notice`), and an alert is marked posted once every route got it. A route whose
//! webhook failed gets what it missed from the next evaluation; the others are not posted to
//! twice. Formatting and posting only: judging is the rules' job.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use tokio_postgres::Client;
use uuid::Uuid;

use super::error::{AlertError, sql_error};
use super::ledger::AlertReport;
use super::routing::{DagFacts, Routable};
use super::rule::Subject;
use super::rules;
use crate::config::{DEFAULT_ROUTE, Settings};
use crate::context::RunContext;
use crate::notify::text_of;

const UNNOTIFIED_SQL: &str = include_str!("../../sql/alerts/unnotified.sql");
const MARK_POSTED_SQL: &str = include_str!("../../sql/alerts/mark_posted.sql");
const MARK_NOTIFIED_SQL: &str = include_str!("../../sql/alerts/mark_notified.sql");

/// Notices in one message at most; a route with more gets several messages.
const MAX_NOTICES_PER_MESSAGE: usize = 40;

/// One notice to post: an alert's opening or resolution.
struct Notice {
    alert_id: Uuid,
    /// "open" or "resolve".
    kind: &'static str,
    /// The notice as a message of its own.
    text: String,
    /// The notice as a line of a digest.
    line: String,
}

/// Posts the openings and resolutions not posted yet to their routes, and marks them.
pub async fn post(
    warehouse: &Client,
    settings: &Settings,
    ctx: &RunContext,
    report: &mut AlertReport,
) -> Result<(), AlertError> {
    let routes = settings
        .alerts
        .as_ref()
        .map_or(&[][..], |a| a.routes.as_slice());
    let default = settings.alert_webhook();
    if default.is_none() && routes.is_empty() {
        report.no_webhook = true;
        if !report.opened.is_empty() || !report.resolved.is_empty() {
            tracing::warn!(
                opened = report.opened.len(),
                resolved = report.resolved.len(),
                "No notice sent: no webhook is configured ([alerts] webhook_url, [validate] webhook_url or a [route_<label>]); the alerts are in alert_history and `pipewatch alerts`."
            );
        }
        return Ok(());
    }
    let rows = warehouse
        .query(UNNOTIFIED_SQL, &[])
        .await
        .map_err(sql_error("read the alerts to post"))?;
    let routable: Vec<Routable> = rows
        .iter()
        .map(|r| {
            Routable::of(
                r.get("rule"),
                r.get("airflow_instance"),
                r.get("subject"),
                &serde_json::from_str(r.get("details")).unwrap_or_default(),
            )
        })
        .collect();
    let facts = DagFacts::read(warehouse, routes, &routable.iter().collect::<Vec<_>>()).await?;
    // Each route's notices, in the order the alerts opened; and how many routes each notice
    // still waits for.
    let mut by_route: BTreeMap<&str, Vec<Notice>> = BTreeMap::new();
    let mut waiting: BTreeMap<(Uuid, &str), usize> = BTreeMap::new();
    for (row, alert) in rows.iter().zip(&routable) {
        let targets = facts.routes_of(routes, alert);
        for (kind, pending, posted) in [
            ("open", "open_pending", "open_posted_to"),
            ("resolve", "resolve_pending", "resolve_posted_to"),
        ] {
            if !row.get::<_, bool>(pending) {
                continue;
            }
            let posted: Vec<String> = row.get(posted);
            let (text, line) = notice_texts(settings, row, kind);
            let mut left = 0;
            for route in targets.iter().filter(|t| !posted.iter().any(|p| p == *t)) {
                left += 1;
                by_route.entry(route).or_default().push(Notice {
                    alert_id: row.get("alert_id"),
                    kind,
                    text: text.clone(),
                    line: line.clone(),
                });
            }
            waiting.insert((row.get("alert_id"), kind), left);
        }
    }
    for (route, notices) in &by_route {
        let url = if *route == DEFAULT_ROUTE {
            default
        } else {
            routes
                .iter()
                .find(|r| r.label == *route)
                .map(|r| &r.webhook_url)
        };
        let Some(url) = url else {
            // Nothing takes these: no route matches and there is no default webhook. They stay
            // unposted, for a default webhook set later.
            report.unrouted += notices.len();
            continue;
        };
        for (i, chunk) in notices.chunks(MAX_NOTICES_PER_MESSAGE).enumerate() {
            let text = digest(route, chunk);
            match crate::notify::post_text(&settings.validate, url, &text).await {
                Ok(()) => {
                    report.messages += 1;
                    for n in chunk {
                        warehouse
                            .execute(MARK_POSTED_SQL, &[&n.alert_id, &n.kind, route, &ctx.run_id])
                            .await
                            .map_err(sql_error("record a posted notice"))?;
                        report.notified += 1;
                        let left = waiting.entry((n.alert_id, n.kind)).or_insert(1);
                        *left = left.saturating_sub(1);
                    }
                }
                Err(e) => {
                    tracing::warn!(route = %route, error = %e, notices = chunk.len(), "Could not post the alerts to this route; the next evaluation posts them.");
                    report.undelivered += notices.len() - i * MAX_NOTICES_PER_MESSAGE;
                    break;
                }
            }
        }
    }
    // An alert every route got is marked posted (and an alert no route waits for: its routes
    // got it before).
    for ((alert_id, kind), left) in waiting {
        if left == 0 {
            warehouse
                .execute(MARK_NOTIFIED_SQL, &[&alert_id, &kind])
                .await
                .map_err(sql_error("mark an alert posted"))?;
        }
    }
    Ok(())
}

/// One message for a route: a lone notice's own text, else a count and one line per notice.
fn digest(route: &str, notices: &[Notice]) -> String {
    if let [only] = notices {
        return only.text.clone();
    }
    let opened = notices.iter().filter(|n| n.kind == "open").count();
    let for_route = if route == DEFAULT_ROUTE {
        String::new()
    } else {
        format!(" for route {}", text_of(route))
    };
    let mut text = format!(
        "pipewatch alerts{for_route}: {opened} opened, {} resolved",
        notices.len() - opened
    );
    for n in notices {
        let _ = write!(text, "\n\u{2022} {}", n.line);
    }
    text
}

/// The notice of an alert's opening or resolution: as a message of its own, and as a line of
/// a digest (a resolution is a short line naming the opening).
fn notice_texts(settings: &Settings, row: &tokio_postgres::Row, kind: &str) -> (String, String) {
    let rule: String = row.get("rule");
    let instance: String = row.get("airflow_instance");
    let subject: String = row.get("subject");
    let day: NaiveDate = row.get("day");
    let message: String = row.get("message");
    let opened_at: DateTime<Utc> = row.get("opened_at");
    let details: serde_json::Value = serde_json::from_str(row.get("details")).unwrap_or_default();
    let rule = rules::named(&rule);
    let title = rule.map_or("alert", |r| r.title());
    let subject_kind = rule.map_or(Subject::Dag, |r| r.subject());
    let what = match subject_kind {
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
        Subject::Objective => format!(
            "DAG {} on Airflow instance {}",
            text_of(dag_of(&details).unwrap_or(&subject)),
            text_of(&instance)
        ),
    };
    let message = text_of(&message);
    // The DAG's page; Airflow's home page (which lists import errors and the scheduler's
    // health) for a file or the instance.
    let link = match (&settings.airflow_ui, subject_kind) {
        (Some(base), Subject::Dag) => format!(" {base}/dags/{}", url_segment(&subject)),
        (Some(base), Subject::Objective) => format!(
            " {base}/dags/{}",
            url_segment(dag_of(&details).unwrap_or(&subject))
        ),
        (Some(base), Subject::DagFile | Subject::Instance | Subject::Pool) => {
            format!(" {base}/")
        }
        _ => String::new(),
    };
    if kind == "open" {
        let body = format!("{title} for {what}, {day}: {message}.{link}");
        (
            format!("pipewatch alert OPENED: {body}"),
            format!("OPENED: {body}"),
        )
    } else {
        let opened = opened_at.format("%Y-%m-%d %H:%M UTC");
        (
            format!(
                "pipewatch alert RESOLVED: {title} for {what} (opened {opened}): the condition cleared.{link}"
            ),
            format!("RESOLVED: {title} for {what} (opened {opened})"),
        )
    }
}

/// The DAG an alert's details name (an objective's alert).
fn dag_of(details: &serde_json::Value) -> Option<&str> {
    details["dag_id"].as_str()
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
