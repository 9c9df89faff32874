//! The promises (`[objective_<label>]`): each objective and DAG's compliance this period and the
//! period before, its target and the 28-day error budget left, Airflow's own missed SLAs and
//! deadlines beside them (not mixed in), and the misses of the period with minutes late. Shown
//! only where objectives were judged.

use std::fmt::Write;

use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;

use crate::report::escape::{escape, name};
use crate::report::section::{ReportData, ReportError, Scope, Section, sql_error};
use crate::report::text::{change_pp, percent, when};

const PROMISES_SQL: &str = include_str!("../../../sql/report/promises.sql");
const MISSES_SQL: &str = include_str!("../../../sql/report/promise_misses.sql");

/// One objective for one DAG.
#[derive(Debug, Clone)]
pub struct Promise {
    pub objective: String,
    pub instance: String,
    pub dag_id: String,
    pub kind: String,
    pub due: i64,
    pub met: i64,
    pub missed: i64,
    pub due_before: i64,
    pub met_before: i64,
    pub target: f64,
    pub budget_left: Option<f64>,
    pub airflow_misses: i64,
}

/// One miss.
#[derive(Debug, Clone)]
pub struct Miss {
    pub objective: String,
    pub instance: String,
    pub dag_id: String,
    pub run_id: Option<String>,
    pub due_at: DateTime<Utc>,
    pub minutes_late: f64,
    pub note: Option<String>,
}

/// The section's figures.
#[derive(Debug, Clone, Default)]
pub struct Promises {
    pub promises: Vec<Promise>,
    pub misses: Vec<Miss>,
}

/// Reads the section's figures.
pub fn gather<'a>(scope: &'a Scope<'a>) -> BoxFuture<'a, Result<Box<dyn Section>, ReportError>> {
    Box::pin(async move {
        let (instances, dag_ids) = scope.dag_arrays();
        let promises = scope
            .client
            .query(
                PROMISES_SQL,
                &[
                    &scope.instance,
                    &scope.from,
                    &scope.to,
                    &instances,
                    &dag_ids,
                    &scope.time_zone,
                ],
            )
            .await
            .map_err(sql_error(
                "read the objectives' compliance (objective_daily)",
            ))?
            .iter()
            .map(|r| Promise {
                objective: r.get("objective"),
                instance: r.get("airflow_instance"),
                dag_id: r.get("dag_id"),
                kind: r.get("kind"),
                due: r.get("due"),
                met: r.get("met"),
                missed: r.get("missed"),
                due_before: r.get("due_before"),
                met_before: r.get("met_before"),
                target: r.get("target"),
                budget_left: r.get("error_budget_left"),
                airflow_misses: r.get("airflow_misses"),
            })
            .collect();
        let misses = scope
            .client
            .query(
                MISSES_SQL,
                &[
                    &scope.instance,
                    &scope.from,
                    &scope.to,
                    &instances,
                    &dag_ids,
                ],
            )
            .await
            .map_err(sql_error("read the objectives' misses (objective_run)"))?
            .iter()
            .map(|r| Miss {
                objective: r.get("objective"),
                instance: r.get("airflow_instance"),
                dag_id: r.get("dag_id"),
                run_id: r.get("run_id"),
                due_at: r.get("due_at"),
                minutes_late: r.get("minutes_late"),
                note: r.get("note"),
            })
            .collect();
        Ok(Box::new(Promises { promises, misses }) as Box<dyn Section>)
    })
}

/// The error budget left: a share, or "spent" (in red) at or below 0.
fn budget(left: Option<f64>) -> String {
    match left {
        Some(l) if l <= 0.0 => r#"<span class="worse">spent</span>"#.to_string(),
        other => percent(other),
    }
}

fn share(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

impl Section for Promises {
    fn has_data(&self) -> bool {
        !self.promises.is_empty()
    }

    fn render(&self, page: &mut String, _data: &ReportData) {
        if self.promises.is_empty() {
            return;
        }
        let _ = write!(
            page,
            r#"<section><h2>Promises <span class="muted">(objectives: met of due this period, against the period before and the target; Airflow's own missed SLAs and deadlines beside them)</span></h2><table><tr><th>objective</th><th>DAG</th><th>kind</th><th>met of due</th><th>met</th><th>change</th><th>target</th><th>budget left (28 days)</th><th>Airflow's own misses</th></tr>"#
        );
        for p in &self.promises {
            let now = share(p.met, p.due);
            let class = match now {
                Some(c) if c < p.target => r#" class="worse""#,
                _ => "",
            };
            let _ = write!(
                page,
                r#"<tr><td>{}</td><td>{} <span class="muted">on {}</span></td><td>{}</td><td>{} of {}</td><td{class}>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>"#,
                name(&p.objective),
                name(&p.dag_id),
                name(&p.instance),
                escape(&p.kind.replace('_', " ")),
                p.met,
                p.due,
                percent(now),
                change_pp(now, share(p.met_before, p.due_before), true),
                percent(Some(p.target)),
                budget(p.budget_left),
                p.airflow_misses
            );
        }
        page.push_str("</table>\n");
        if !self.misses.is_empty() {
            let _ = write!(
                page,
                r#"<h3>Misses <span class="muted">(newest first, at most 50)</span></h3><table><tr><th>objective</th><th>DAG</th><th>due</th><th>late</th><th>run</th><th>why</th></tr>"#
            );
            for m in &self.misses {
                let _ = write!(
                    page,
                    r#"<tr><td>{}</td><td>{} <span class="muted">on {}</span></td><td>{}</td><td class="worse">{}</td><td>{}</td><td>{}</td></tr>"#,
                    name(&m.objective),
                    name(&m.dag_id),
                    name(&m.instance),
                    when(Some(m.due_at)),
                    if m.minutes_late > 0.0 {
                        format!("{:.0} min", m.minutes_late)
                    } else {
                        "–".to_string()
                    },
                    m.run_id.as_deref().map(name).unwrap_or_default(),
                    m.note.as_deref().map(name).unwrap_or_default()
                );
            }
            page.push_str("</table>\n");
        }
        page.push_str("</section>\n");
    }
}
