//! The open alerts, as their own list near the top of the page.

use std::fmt::Write;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::BoxFuture;

use crate::report::escape::{escape, name};
use crate::report::section::{ReportData, ReportError, Scope, Section, sql_error};
use crate::report::text::when;

const OPEN_ALERTS_SQL: &str = include_str!("../../../sql/report/open_alerts.sql");

/// An open alert.
#[derive(Debug, Clone)]
pub struct OpenAlert {
    /// The rule.
    pub rule: String,
    /// The instance (or the test's database).
    pub instance: String,
    /// The DAG or test.
    pub subject: String,
    /// The day it is about.
    pub day: NaiveDate,
    /// When it opened.
    pub opened_at: DateTime<Utc>,
    /// What was found.
    pub message: String,
}

/// The open alerts of the instance shown (or all).
#[derive(Debug, Clone, Default)]
pub struct OpenAlerts {
    /// Each open alert.
    pub alerts: Vec<OpenAlert>,
}

/// Reads the section's figures.
pub fn gather<'a>(scope: &'a Scope<'a>) -> BoxFuture<'a, Result<Box<dyn Section>, ReportError>> {
    Box::pin(async move {
        let (client, instance) = (scope.client, scope.instance);
        let (instances, dag_ids) = scope.dag_arrays();
        let open_alerts = client
            .query(OPEN_ALERTS_SQL, &[&instance, &instances, &dag_ids])
            .await
            .map_err(sql_error("read the open alerts"))?
            .iter()
            .map(|r| OpenAlert {
                rule: r.get("rule"),
                instance: r.get("airflow_instance"),
                subject: r.get("subject"),
                day: r.get("day"),
                opened_at: r.get("opened_at"),
                message: r.get("message"),
            })
            .collect();
        Ok(Box::new(OpenAlerts {
            alerts: open_alerts,
        }) as Box<dyn Section>)
    })
}

impl Section for OpenAlerts {
    fn render(&self, page: &mut String, _data: &ReportData) {
        if self.alerts.is_empty() {
            return;
        }
        let _ = write!(
            page,
            r#"<section><h2>Open alerts <span class="muted">({})</span></h2><table><tr><th>rule</th><th>subject</th><th>day</th><th>opened</th><th>what was found</th></tr>"#,
            self.alerts.len()
        );
        for a in &self.alerts {
            let _ = write!(
                page,
                r#"<tr><td class="worse">{}</td><td>{} <span class="muted">on {}</span></td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                escape(&a.rule),
                name(&a.subject),
                name(&a.instance),
                a.day,
                when(Some(a.opened_at)),
                name(&a.message)
            );
        }
        page.push_str("</table></section>\n");
    }
}
