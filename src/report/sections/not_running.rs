//! The DAGs that do not run as scheduled (view `dag_schedule_status`), first on the page: what
//! made no DAG run at all is what the rest of the report cannot show.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::report::escape::{escape, name};
use crate::report::section::{ReportData, ReportError, Scope, Section, sql_error};
use crate::report::text::when;

const NOT_RUNNING_SQL: &str = include_str!("../../../sql/report/not_running.sql");

/// A DAG that does not run as scheduled.
#[derive(Debug, Clone)]
pub struct NotRunning {
    /// The instance.
    pub instance: String,
    /// The DAG.
    pub dag_id: String,
    /// overdue, blocked, paused, stale, import_error or scheduler_down.
    pub status: String,
    /// Since when.
    pub since: Option<DateTime<Utc>>,
    /// The blocking run, the due time, the last heartbeat.
    pub detail: Option<String>,
    /// Its owners.
    pub owners: Vec<String>,
    /// The reading it is as of.
    pub as_of: DateTime<Utc>,
}

/// The DAGs of the instance shown (or all) that do not run as scheduled.
#[derive(Debug, Clone, Default)]
pub struct NotRunningAsScheduled {
    /// Each DAG, most urgent first.
    pub dags: Vec<NotRunning>,
}

/// Reads the section's figures.
pub fn gather<'a>(scope: &'a Scope<'a>) -> BoxFuture<'a, Result<Box<dyn Section>, ReportError>> {
    Box::pin(async move {
        let dags = scope
            .client
            .query(NOT_RUNNING_SQL, &[&scope.instance])
            .await
            .map_err(sql_error("read the DAGs not running as scheduled"))?
            .iter()
            .map(|r| NotRunning {
                instance: r.get("airflow_instance"),
                dag_id: r.get("dag_id"),
                status: r.get("status"),
                since: r.get("since"),
                detail: r.get("detail"),
                owners: r.get("owners"),
                as_of: r.get("as_of"),
            })
            .collect();
        Ok(Box::new(NotRunningAsScheduled { dags }) as Box<dyn Section>)
    })
}

impl Section for NotRunningAsScheduled {
    fn render(&self, page: &mut String, _data: &ReportData) {
        if self.dags.is_empty() {
            return;
        }
        let as_of = self.dags.iter().map(|d| d.as_of).max();
        let _ = write!(
            page,
            r#"<section><h2>Not running as scheduled <span class="muted">({}, as of {})</span></h2><table><tr><th>DAG</th><th>status</th><th>since</th><th>owners</th><th>detail</th></tr>"#,
            self.dags.len(),
            when(as_of)
        );
        for d in &self.dags {
            let owners: Vec<String> = d.owners.iter().map(|o| name(o)).collect();
            let _ = write!(
                page,
                r#"<tr><td>{} <span class="muted">on {}</span></td><td class="worse">{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                name(&d.dag_id),
                name(&d.instance),
                escape(&d.status.replace('_', " ")),
                when(d.since),
                owners.join(", "),
                d.detail.as_deref().map(name).unwrap_or_default()
            );
        }
        page.push_str("</table></section>\n");
    }
}
