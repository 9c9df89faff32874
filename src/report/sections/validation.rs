//! Validation: executions, passes and failures per day, and the tests that failed or could not
//! run with their last values and the DAG run they ran in.

use std::fmt::Write;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::BoxFuture;

use crate::report::escape::{escape, name};
use crate::report::section::{ReportData, ReportError, Scope, Section, sql_error};
use crate::report::svg::{self, GREEN, GREY, Series, Unit};
use crate::report::text::when;

const VALIDATION_DAYS_SQL: &str = include_str!("../../../sql/report/validation_days.sql");
const FAILING_TESTS_SQL: &str = include_str!("../../../sql/report/failing_tests.sql");

/// Validation on one day.
#[derive(Debug, Clone)]
pub struct ValidationDay {
    /// The day.
    pub day: NaiveDate,
    /// Executions.
    pub executions: i64,
    /// Passed.
    pub passed: i64,
    /// Failed.
    pub failed: i64,
    /// Could not run.
    pub errors: i64,
}

/// A test that failed or could not run in the period, with its latest such execution.
#[derive(Debug, Clone)]
pub struct FailingTest {
    /// The test.
    pub name: String,
    /// halt or warn.
    pub severity: String,
    /// failed or error.
    pub outcome: String,
    /// The first script's value.
    pub value_1: Option<String>,
    /// The operator.
    pub operator: String,
    /// The second script's value.
    pub value_2: Option<String>,
    /// Why it could not run.
    pub error: Option<String>,
    /// When.
    pub at: DateTime<Utc>,
    /// The DAG and run it ran in, inside Airflow.
    pub airflow_run: Option<(String, String)>,
    /// How many executions failed or errored in the period.
    pub times: i64,
}

/// Validation in the period.
#[derive(Debug, Clone, Default)]
pub struct Validation {
    /// Validation per day.
    pub validation_days: Vec<ValidationDay>,
    /// Tests that failed or could not run.
    pub failing_tests: Vec<FailingTest>,
}

/// Reads the section's figures.
pub fn gather<'a>(scope: &'a Scope<'a>) -> BoxFuture<'a, Result<Box<dyn Section>, ReportError>> {
    Box::pin(async move {
        let (client, time_zone, from, to) = (scope.client, scope.time_zone, scope.from, scope.to);
        let validation_days = client
            .query(VALIDATION_DAYS_SQL, &[&from, &to])
            .await
            .map_err(sql_error("read validation per day"))?
            .iter()
            .map(|r| ValidationDay {
                day: r.get("day"),
                executions: r.get("executions"),
                passed: r.get("passed"),
                failed: r.get("failed"),
                errors: r.get("errors"),
            })
            .collect();
        let (start, end) = crate::reporting::window_bounds(client, time_zone, from, to)
            .await
            .map_err(|source| ReportError {
                step: "compute the period's bounds",
                source,
            })?;
        let failing_tests: Vec<FailingTest> = client
            .query(FAILING_TESTS_SQL, &[&start, &end])
            .await
            .map_err(sql_error("read the failing validation tests"))?
            .iter()
            .map(|r| FailingTest {
                name: r.get("test_name"),
                severity: r.get("severity"),
                outcome: r.get("outcome"),
                value_1: r.get("script_1_value"),
                operator: r.get("comp_operator"),
                value_2: r.get("script_2_value"),
                error: r.get("error_message"),
                at: r.get("test_run_at"),
                airflow_run: match (r.get("airflow_dag_id"), r.get("airflow_run_id")) {
                    (Some(dag), Some(run)) => Some((dag, run)),
                    _ => None,
                },
                times: r.get("times"),
            })
            .collect();
        Ok(Box::new(Validation {
            validation_days,
            failing_tests,
        }) as Box<dyn Section>)
    })
}

impl Section for Validation {
    fn has_data(&self) -> bool {
        !self.validation_days.is_empty() || !self.failing_tests.is_empty()
    }

    fn render(&self, page: &mut String, data: &ReportData) {
        page.push_str("<section><h2>Validation</h2>");
        if self.validation_days.is_empty() {
            page.push_str(r#"<p class="muted">No validation test ran in the period.</p>"#);
        } else {
            let pick = |f: &dyn Fn(&ValidationDay) -> f64| -> Vec<Option<f64>> {
                data.days
                    .iter()
                    .map(|day| self.validation_days.iter().find(|v| v.day == *day).map(f))
                    .collect()
            };
            page.push_str(r#"<div class="charts">"#);
            page.push_str(&svg::bars(
                "validation test executions per day",
                "executions",
                Unit::Count,
                &data.days,
                &pick(&|v| v.executions as f64),
                GREY,
            ));
            page.push_str(&svg::lines(
                "validation pass rate per day",
                "pass rate",
                Unit::Percent,
                &data.days,
                &[Series {
                    name: "passed",
                    color: GREEN,
                    values: pick(&|v| {
                        if v.executions > 0 {
                            v.passed as f64 / v.executions as f64
                        } else {
                            0.0
                        }
                    }),
                }],
                "no validation test ran in the period",
            ));
            page.push_str("</div>");
            let (failed, errors): (i64, i64) = self
                .validation_days
                .iter()
                .fold((0, 0), |(f, e), v| (f + v.failed, e + v.errors));
            let _ = write!(
                page,
                "<p>{failed} failed and {errors} could not run in the period.</p>"
            );
        }
        if !self.failing_tests.is_empty() {
            page.push_str(r#"<h3>Failing tests <span class="muted">(their latest failure)</span></h3><table><tr><th>test</th><th>severity</th><th>outcome</th><th>last values</th><th>when</th><th class="num">times</th><th>DAG run</th></tr>"#);
            for t in &self.failing_tests {
                let values = match &t.error {
                    Some(e) => format!("could not run: {}", escape(e)),
                    None => format!(
                        "{} <em>{}</em> {}",
                        escape(t.value_1.as_deref().unwrap_or("NULL")),
                        escape(&t.operator),
                        escape(t.value_2.as_deref().unwrap_or("NULL"))
                    ),
                };
                let run = t
                    .airflow_run
                    .as_ref()
                    .map(|(d, r)| format!("{} {}", name(d), name(r)))
                    .unwrap_or_else(|| "–".into());
                let _ = write!(
                    page,
                    r#"<tr><td>{}</td><td>{}</td><td class="worse">{}</td><td>{values}</td><td>{}</td><td class="num">{}</td><td>{run}</td></tr>"#,
                    name(&t.name),
                    escape(&t.severity),
                    escape(&t.outcome),
                    when(Some(t.at)),
                    t.times
                );
            }
            page.push_str("</table>");
        }
        page.push_str("</section>\n");
    }
}
