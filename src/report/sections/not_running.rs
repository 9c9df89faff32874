//! The DAGs that do not run as scheduled (view `dag_schedule_status`), first on the page: what
//! made no DAG run at all is what the rest of the report cannot show. DAGs without a schedule
//! are left out: they are not supposed to run by themselves. DAGs whose schedule called for
//! runs in the report's period that never came (`dag_schedule_daily`) are listed too: with
//! their status when they have one, as `missed runs` otherwise.

use std::fmt::Write;

use futures_util::future::BoxFuture;

use crate::catalog::{DagNotOnSchedule, not_on_schedule};
use crate::report::escape::{escape, name};
use crate::report::section::{ReportData, ReportError, Scope, Section, sql_error};
use crate::report::text::when;

const MISSED_RUNS_SQL: &str = include_str!("../../../sql/report/missed_runs.sql");

/// The DAGs of the instance shown (or all) that do not run as scheduled.
#[derive(Debug, Clone, Default)]
pub struct NotRunningAsScheduled {
    /// Each DAG, most urgent first.
    pub dags: Vec<DagNotOnSchedule>,
}

/// Reads the section's figures.
pub fn gather<'a>(scope: &'a Scope<'a>) -> BoxFuture<'a, Result<Box<dyn Section>, ReportError>> {
    Box::pin(async move {
        let mut dags = not_on_schedule(scope.client, scope.instance, scope.dags)
            .await
            .map_err(sql_error("read the DAGs not running as scheduled"))?;
        dags.retain(|d| d.status != "unscheduled");
        let (instances, dag_ids) = scope.dag_arrays();
        for r in scope
            .client
            .query(
                MISSED_RUNS_SQL,
                &[
                    &scope.instance,
                    &scope.from,
                    &scope.to,
                    &instances,
                    &dag_ids,
                ],
            )
            .await
            .map_err(sql_error("read the missed runs (dag_schedule_daily)"))?
        {
            let (instance, dag_id): (String, String) = (r.get("airflow_instance"), r.get("dag_id"));
            let last: Option<chrono::DateTime<chrono::Utc>> = r.get("last_missing_due_at");
            let missed = format!(
                "{} of {} scheduled runs in the period never came (latest due {})",
                r.get::<_, i64>("missing_runs"),
                r.get::<_, i64>("expected_runs"),
                when(last)
            );
            match dags
                .iter_mut()
                .find(|d| d.airflow_instance == instance && d.dag_id == dag_id)
            {
                Some(d) => {
                    d.detail = Some(match d.detail.take() {
                        Some(detail) => format!("{detail}; {missed}"),
                        None => missed,
                    })
                }
                None => dags.push(DagNotOnSchedule {
                    airflow_instance: instance,
                    dag_id,
                    status: "missed_runs".to_string(),
                    since: r.get("first_missing_due_at"),
                    detail: Some(missed),
                    owners: r.get("owners"),
                    as_of: r
                        .get::<_, Option<chrono::DateTime<chrono::Utc>>>("judged_until")
                        .unwrap_or_default(),
                }),
            }
        }
        Ok(Box::new(NotRunningAsScheduled { dags }) as Box<dyn Section>)
    })
}

impl Section for NotRunningAsScheduled {
    /// A DAG that stopped running leaves a period without runs: the section is what such a
    /// page must still show.
    fn shown_when_empty(&self) -> bool {
        true
    }

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
                name(&d.airflow_instance),
                escape(&d.status.replace('_', " ")),
                when(d.since),
                owners.join(", "),
                d.detail.as_deref().map(name).unwrap_or_default()
            );
        }
        page.push_str("</table></section>\n");
    }
}
