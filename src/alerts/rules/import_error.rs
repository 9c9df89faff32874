//! Import error: a DAG file has failed to import at every catalogue reading for longer than
//! `import_error_minutes` (default 15), by its episode in `import_error_history`. Judged per file
//! (one alert however many DAGs the file holds); on for a file when any of its DAGs has it on
//! (their own sections, else `[alerts]`), with the shortest grace among them; a file whose DAGs
//! Airflow never loaded takes `[alerts]`. On by default (`import_error`).

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::alerts::error::{AlertError, sql_error};
use crate::alerts::rule::{
    AlertRule, Finding, Judgement, Judging, Subject, on_unless_off, owners_clause,
};
use crate::config::{AlertRules, AlertSettings};
use crate::format::duration;

const IMPORT_ERRORS_SQL: &str = include_str!("../../../sql/alerts/import_errors.sql");

/// The rule.
pub struct ImportError;

/// An open import-error episode.
struct Episode {
    file: String,
    first_seen_at: DateTime<Utc>,
    last_line: Option<String>,
    dag_ids: Vec<String>,
    owners: Vec<String>,
}

impl AlertRule for ImportError {
    fn name(&self) -> &'static str {
        "import_error"
    }

    fn title(&self) -> &'static str {
        "DAG file fails to import"
    }

    fn subject(&self) -> Subject {
        Subject::DagFile
    }

    fn on_by_default(&self) -> bool {
        true
    }

    fn configured(&self, alerts: &AlertSettings) -> bool {
        on_unless_off(alerts, |r| r.import_error)
    }

    fn judge<'a>(&'a self, cx: &'a Judging<'a>) -> BoxFuture<'a, Result<Vec<Finding>, AlertError>> {
        Box::pin(async move {
            let mut findings = Vec::new();
            let now = Utc::now();
            for r in cx
                .warehouse
                .query(IMPORT_ERRORS_SQL, &[])
                .await
                .map_err(sql_error("read the open import errors"))?
            {
                let instance: String = r.get("airflow_instance");
                let bundle: String = r.get("bundle_name");
                let filename: String = r.get("filename");
                let episode = Episode {
                    file: if bundle.is_empty() {
                        filename
                    } else {
                        format!("{bundle}/{filename}")
                    },
                    first_seen_at: r.get("first_seen_at"),
                    last_line: r
                        .get::<_, Option<String>>("last_line")
                        .or(r.get("first_line")),
                    dag_ids: r.get("dag_ids"),
                    owners: r.get("owners"),
                };
                // The file's rules: its DAGs' that have the rule on, the shortest grace.
                let rules: Vec<AlertRules> = if episode.dag_ids.is_empty() {
                    cx.rules_for(&instance, "").into_iter().collect()
                } else {
                    episode
                        .dag_ids
                        .iter()
                        .filter_map(|d| cx.rules_for(&instance, d))
                        .collect()
                };
                let Some(rules) = rules
                    .into_iter()
                    .filter(|r| r.import_error == Some(true))
                    .min_by_key(|r| r.import_error_minutes)
                else {
                    continue;
                };
                if let Some(judged) = judge_file(&rules, &episode, now) {
                    findings.push(Judging::finding(
                        self,
                        &instance,
                        &episode.file,
                        cx.today,
                        &rules,
                        judged,
                    ));
                }
            }
            Ok(findings)
        })
    }
}

/// Judges one open episode.
fn judge_file(rules: &AlertRules, episode: &Episode, now: DateTime<Utc>) -> Option<Judgement> {
    let minutes = rules.import_error_minutes?;
    let age = (now - episode.first_seen_at).num_seconds() as f64;
    let breached = age >= minutes as f64 * 60.0;
    let dags = match episode.dag_ids.len() {
        0 => "no DAG of it loaded".to_string(),
        1 => format!("DAG {}", episode.dag_ids[0]),
        n => format!("{n} DAGs ({})", episode.dag_ids.join(", ")),
    };
    let message = format!(
        "fails to import since {} UTC ({}; {dags}): {}{}",
        episode.first_seen_at.format("%Y-%m-%d %H:%M"),
        duration(age.max(0.0)),
        episode.last_line.as_deref().unwrap_or("(no error text)"),
        owners_clause(&episode.owners)
    );
    let details = serde_json::json!({
        "first_seen_at": episode.first_seen_at.to_rfc3339(),
        "age_seconds": age,
        "error": episode.last_line,
        "dag_ids": episode.dag_ids,
        "owners": episode.owners,
        "import_error_minutes": minutes,
    });
    Some((breached, message, details))
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;

    #[test]
    fn an_import_error_alerts_after_its_grace_naming_the_error_and_the_dags() {
        let rules = AlertRules {
            import_error_minutes: Some(15),
            ..AlertRules::default()
        };
        let now = Utc::now();
        let mut episode = Episode {
            file: "orders.py".into(),
            first_seen_at: now - Duration::minutes(5),
            last_line: Some("NameError: name 'pd' is not defined".into()),
            dag_ids: vec!["orders".into()],
            owners: vec!["team-a".into()],
        };
        assert!(!judge_file(&rules, &episode, now).unwrap().0);
        episode.first_seen_at = now - Duration::hours(1);
        let (breached, message, _) = judge_file(&rules, &episode, now).unwrap();
        assert!(breached);
        assert!(
            message.contains(
                "(60.0 min; DAG orders): NameError: name 'pd' is not defined; owners team-a"
            ),
            "{message}"
        );
    }
}
