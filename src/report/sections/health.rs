//! pipewatch's own health: the last load and transform, the lag per instance, the latest
//! reconcile. Shown even when the period has no data.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::report::escape::{escape, name};
use crate::report::section::{ReportData, ReportError, Scope, Section, sql_error};
use crate::report::text::{seconds, when};

const HEALTH_SQL: &str = include_str!("../../../sql/report/health.sql");

/// pipewatch's own state for one Airflow instance.
#[derive(Debug, Clone)]
pub struct InstanceHealth {
    /// The instance.
    pub instance: String,
    /// When the newest loaded extract read Airflow.
    pub last_read: Option<DateTime<Utc>>,
    /// Seconds since.
    pub lag_seconds: Option<f64>,
    /// The latest reconcile: outcome, when, message.
    pub reconcile: Option<(String, Option<DateTime<Utc>>, Option<String>)>,
}

/// pipewatch's own health.
#[derive(Debug, Clone, Default)]
pub struct Health {
    /// Per instance.
    pub instances: Vec<InstanceHealth>,
    /// The latest successful load.
    pub last_load: Option<DateTime<Utc>>,
    /// The latest successful transform.
    pub last_transform: Option<DateTime<Utc>>,
}

/// Reads the section's figures.
pub fn gather<'a>(scope: &'a Scope<'a>) -> BoxFuture<'a, Result<Box<dyn Section>, ReportError>> {
    Box::pin(async move {
        let (client, instance) = (scope.client, scope.instance);
        let mut health = Health::default();
        for r in client
            .query(HEALTH_SQL, &[&instance])
            .await
            .map_err(sql_error("read pipewatch's run log"))?
        {
            health.last_load = r.get("last_load_at");
            health.last_transform = r.get("last_transform_at");
            let outcome: Option<String> = r.get("reconcile_outcome");
            health.instances.push(InstanceHealth {
                instance: r.get("airflow_instance"),
                last_read: r.get("last_source_read_at"),
                lag_seconds: r.get("lag_seconds"),
                reconcile: outcome.map(|o| (o, r.get("reconcile_at"), r.get("reconcile_message"))),
            });
        }
        Ok(Box::new(health) as Box<dyn Section>)
    })
}

impl Section for Health {
    fn shown_when_empty(&self) -> bool {
        true
    }

    fn render(&self, page: &mut String, _data: &ReportData) {
        let h = self;
        let _ = write!(
            page,
            r#"<section><h2>pipewatch's health</h2><p>Last successful load: <strong>{}</strong>; last successful transform: <strong>{}</strong>.</p>"#,
            when(h.last_load),
            when(h.last_transform)
        );
        if h.instances.is_empty() {
            page.push_str(r#"<p class="muted">No Airflow instance has been loaded yet.</p>"#);
        } else {
            page.push_str(r#"<table><tr><th>Airflow instance</th><th>newest loaded read of Airflow</th><th class="num">lag</th><th>latest reconcile</th></tr>"#);
            for i in &h.instances {
                let reconcile = match &i.reconcile {
                    None => "never run".to_string(),
                    Some((outcome, at, message)) => {
                        let class = if outcome == "succeeded" {
                            "better"
                        } else {
                            "worse"
                        };
                        format!(
                            r#"<span class="{class}">{}</span> at {}{}"#,
                            escape(outcome),
                            when(*at),
                            message
                                .as_deref()
                                .map(|m| format!(": {}", escape(m)))
                                .unwrap_or_default()
                        )
                    }
                };
                let _ = write!(
                    page,
                    r#"<tr><td>{}</td><td>{}</td><td class="num">{}</td><td>{reconcile}</td></tr>"#,
                    name(&i.instance),
                    when(i.last_read),
                    seconds(i.lag_seconds)
                );
            }
            page.push_str("</table>");
        }
        page.push_str("</section>\n");
    }
}
