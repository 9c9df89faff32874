//! `pipewatch report`: one self-contained HTML page of the period's figures, for people who do
//! not open Grafana (attach it to an email, open it offline, print it).
//!
//! [`gather`] reads the warehouse (the daily models, the task question functions, the run log);
//! [`html::render`] turns that into the page, with charts drawn here as SVG ([`svg`]). The page
//! has no script, no font and no link that loads anything: it is complete as one file.

pub mod html;
pub mod svg;

use chrono::{DateTime, Days, NaiveDate, Utc};
use tokio_postgres::Client;

use crate::db::SqlError;

const HEADLINE_SQL: &str = include_str!("../../sql/report/headline.sql");
const DAG_DAYS_SQL: &str = include_str!("../../sql/report/dag_days.sql");
const FAILED_RUNS_SQL: &str = include_str!("../../sql/report/failed_runs.sql");
const TASKS_SQL: &str = include_str!("../../sql/report/tasks.sql");
const DELAYS_SQL: &str = include_str!("../../sql/report/delays.sql");
const VALIDATION_DAYS_SQL: &str = include_str!("../../sql/report/validation_days.sql");
const FAILING_TESTS_SQL: &str = include_str!("../../sql/report/failing_tests.sql");
const HEALTH_SQL: &str = include_str!("../../sql/report/health.sql");
const OPEN_ALERTS_SQL: &str = include_str!("../../sql/report/open_alerts.sql");

/// Tasks shown per DAG in each of the slowest and flakiest lists.
const TASKS_PER_DAG: usize = 5;

/// The report's figures could not be read.
#[derive(Debug, thiserror::Error)]
#[error("report: could not {step} in the warehouse")]
pub struct ReportError {
    step: &'static str,
    #[source]
    source: SqlError,
}

fn sql_error(step: &'static str) -> impl FnOnce(tokio_postgres::Error) -> ReportError {
    move |e| ReportError {
        step,
        source: e.into(),
    }
}

/// Headline figures of one period.
#[derive(Debug, Clone, Default)]
pub struct Period {
    /// First day.
    pub from: Option<NaiveDate>,
    /// Last day.
    pub to: Option<NaiveDate>,
    /// Finished (success or failed) runs.
    pub finished_runs: i64,
    /// Successful runs.
    pub successful_runs: i64,
    /// Failed runs.
    pub failed_runs: i64,
    /// Median runtime of successful runs.
    pub runtime_median: Option<f64>,
    /// p95 runtime of successful runs.
    pub runtime_p95: Option<f64>,
    /// Validation test executions.
    pub validation_executions: i64,
    /// Of which passed.
    pub validation_passed: i64,
}

impl Period {
    /// Successful over finished runs.
    pub fn success_rate(&self) -> Option<f64> {
        (self.finished_runs > 0).then(|| self.successful_runs as f64 / self.finished_runs as f64)
    }

    /// Passed over executed validation tests.
    pub fn pass_rate(&self) -> Option<f64> {
        (self.validation_executions > 0)
            .then(|| self.validation_passed as f64 / self.validation_executions as f64)
    }
}

/// One day of one DAG.
#[derive(Debug, Clone)]
pub struct DagDay {
    /// The day.
    pub day: NaiveDate,
    /// Finished runs.
    pub finished: i64,
    /// Successful runs.
    pub successful: i64,
    /// Failed runs.
    pub failed: i64,
    /// Runs not finished yet.
    pub unfinished: i64,
    /// Successful over finished.
    pub success_rate: Option<f64>,
    /// Median runtime of successful runs.
    pub runtime_median: Option<f64>,
    /// p95 runtime of successful runs.
    pub runtime_p95: Option<f64>,
}

/// A failed run.
#[derive(Debug, Clone)]
pub struct FailedRun {
    /// Its run id.
    pub run_id: String,
    /// Its day.
    pub day: NaiveDate,
    /// When it started.
    pub start_date: Option<DateTime<Utc>>,
    /// When it ended.
    pub end_date: Option<DateTime<Utc>>,
}

/// One task in the slowest or flakiest list.
#[derive(Debug, Clone)]
pub struct TaskFigure {
    /// The task.
    pub task_id: String,
    /// Successful tries (slowest) or task instances (flakiest).
    pub count: i64,
    /// p95 seconds (slowest) or the share of instances retried (flakiest).
    pub value: Option<f64>,
    /// p95 seconds in the days before (slowest).
    pub previous: Option<f64>,
    /// Seconds spent in failed tries that were retried (flakiest).
    pub retry_seconds: Option<f64>,
}

/// A DAG's delays over the period: median of the days' medians, and the highest day's p95.
#[derive(Debug, Clone, Default)]
pub struct Delays {
    /// Runs with delay figures.
    pub runs: i64,
    /// start - queued_at.
    pub queue: (Option<f64>, Option<f64>),
    /// start - data_interval_end (scheduled runs).
    pub schedule: (Option<f64>, Option<f64>),
    /// end - data_interval_end (finished scheduled runs).
    pub landing: (Option<f64>, Option<f64>),
    /// First task start - run start.
    pub first_task: (Option<f64>, Option<f64>),
}

/// Everything the report shows of one DAG.
#[derive(Debug, Clone)]
pub struct DagSection {
    /// The Airflow instance.
    pub instance: String,
    /// The DAG.
    pub dag_id: String,
    /// Its days with runs in the period.
    pub days: Vec<DagDay>,
    /// Its failed runs in the period (the newest ten).
    pub failed_runs: Vec<FailedRun>,
    /// Its slowest tasks.
    pub slowest: Vec<TaskFigure>,
    /// Its flakiest tasks.
    pub flakiest: Vec<TaskFigure>,
    /// Its delay breakdown, when task instances are loaded.
    pub delays: Option<Delays>,
}

impl DagSection {
    /// Finished runs in the period.
    pub fn finished(&self) -> i64 {
        self.days.iter().map(|d| d.finished).sum()
    }

    /// Failed runs in the period.
    pub fn failed(&self) -> i64 {
        self.days.iter().map(|d| d.failed).sum()
    }

    /// Successful over finished runs in the period.
    pub fn success_rate(&self) -> Option<f64> {
        let finished = self.finished();
        (finished > 0)
            .then(|| self.days.iter().map(|d| d.successful).sum::<i64>() as f64 / finished as f64)
    }
}

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

/// Everything on the page.
#[derive(Debug, Clone)]
pub struct ReportData {
    /// When it was made.
    pub generated_at: DateTime<Utc>,
    /// The reporting time zone.
    pub time_zone: String,
    /// Only this instance, when one was asked for.
    pub instance: Option<String>,
    /// The period's days, in order.
    pub days: Vec<NaiveDate>,
    /// The period.
    pub current: Period,
    /// The period before, as long.
    pub previous: Period,
    /// One section per DAG with runs in the period, the worst first.
    pub dags: Vec<DagSection>,
    /// Validation per day.
    pub validation_days: Vec<ValidationDay>,
    /// Tests that failed or could not run.
    pub failing_tests: Vec<FailingTest>,
    /// pipewatch's own health.
    pub health: Health,
    /// The open alerts.
    pub open_alerts: Vec<OpenAlert>,
}

impl ReportData {
    /// Whether the period holds anything to show.
    pub fn is_empty(&self) -> bool {
        self.dags.is_empty() && self.validation_days.is_empty() && self.failing_tests.is_empty()
    }
}

/// Reads the report's figures for the `days` days ending `today` (and the days before, for the
/// comparison), for one instance or all.
pub async fn gather(
    client: &Client,
    time_zone: &str,
    today: NaiveDate,
    days: u32,
    instance: Option<&str>,
) -> Result<ReportData, ReportError> {
    let days = days.max(1);
    let to = today;
    let from = today - Days::new(u64::from(days) - 1);
    let previous_to = from - Days::new(1);
    let previous_from = previous_to - Days::new(u64::from(days) - 1);
    let current = period(client, instance, from, to, time_zone).await?;
    let previous = period(client, instance, previous_from, previous_to, time_zone).await?;

    let mut dags: Vec<DagSection> = Vec::new();
    for row in client
        .query(DAG_DAYS_SQL, &[&instance, &from, &to])
        .await
        .map_err(sql_error("read the DAGs' daily figures"))?
    {
        let (inst, dag_id): (String, String) = (row.get("airflow_instance"), row.get("dag_id"));
        let day = DagDay {
            day: row.get("day"),
            finished: i64::from(row.get::<_, i32>("finished_runs")),
            successful: i64::from(row.get::<_, i32>("successful_runs")),
            failed: i64::from(row.get::<_, i32>("failed_runs")),
            unfinished: i64::from(row.get::<_, i32>("unfinished_runs")),
            success_rate: row.get("success_rate"),
            runtime_median: row.get("runtime_median_seconds"),
            runtime_p95: row.get("runtime_p95_seconds"),
        };
        match dags.last_mut() {
            Some(d) if d.instance == inst && d.dag_id == dag_id => d.days.push(day),
            _ => dags.push(DagSection {
                instance: inst,
                dag_id,
                days: vec![day],
                failed_runs: Vec::new(),
                slowest: Vec::new(),
                flakiest: Vec::new(),
                delays: None,
            }),
        }
    }
    // Where each DAG's section is, for the per-DAG figures read next.
    let index: std::collections::HashMap<(String, String), usize> = dags
        .iter()
        .enumerate()
        .map(|(i, d)| ((d.instance.clone(), d.dag_id.clone()), i))
        .collect();
    let find = |inst: String, dag: String| index.get(&(inst, dag)).copied();
    for row in client
        .query(FAILED_RUNS_SQL, &[&instance, &from, &to, &time_zone])
        .await
        .map_err(sql_error("read the failed runs"))?
    {
        let (inst, dag): (String, String) = (row.get("airflow_instance"), row.get("dag_id"));
        if let Some(i) = find(inst, dag) {
            dags[i].failed_runs.push(FailedRun {
                run_id: row.get("run_id"),
                day: row.get("day"),
                start_date: row.get("start_date"),
                end_date: row.get("end_date"),
            });
        }
    }
    for row in client
        .query(TASKS_SQL, &[&instance, &(days as i32)])
        .await
        .map_err(sql_error("read the slowest and flakiest tasks"))?
    {
        let (inst, dag): (String, String) = (row.get("airflow_instance"), row.get("dag_id"));
        let Some(i) = find(inst, dag) else {
            continue;
        };
        let figure = TaskFigure {
            task_id: row.get("task_id"),
            count: row.get("count"),
            value: row.get("value"),
            previous: row.get("previous_value"),
            retry_seconds: row.get("retry_seconds"),
        };
        let list = match row.get::<_, &str>("kind") {
            "slowest" => &mut dags[i].slowest,
            _ => &mut dags[i].flakiest,
        };
        if list.len() < TASKS_PER_DAG {
            list.push(figure);
        }
    }
    for row in client
        .query(DELAYS_SQL, &[&instance, &from, &to])
        .await
        .map_err(sql_error("read the delay figures"))?
    {
        let (inst, dag): (String, String) = (row.get("airflow_instance"), row.get("dag_id"));
        if let Some(i) = find(inst, dag) {
            dags[i].delays = Some(Delays {
                runs: row.get("runs"),
                queue: (row.get("queue_median"), row.get("queue_p95")),
                schedule: (
                    row.get("schedule_delay_median"),
                    row.get("schedule_delay_p95"),
                ),
                landing: (row.get("landing_median"), row.get("landing_p95")),
                first_task: (row.get("first_task_median"), row.get("first_task_p95")),
            });
        }
    }
    // The worst first: the lowest success rate, then the most failures.
    dags.sort_by(|a, b| {
        let rate = |d: &DagSection| d.success_rate().unwrap_or(2.0);
        rate(a)
            .total_cmp(&rate(b))
            .then(b.failed().cmp(&a.failed()))
            .then(a.dag_id.cmp(&b.dag_id))
            .then(a.instance.cmp(&b.instance))
    });

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

    let open_alerts = client
        .query(OPEN_ALERTS_SQL, &[&instance])
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

    Ok(ReportData {
        open_alerts,
        generated_at: Utc::now(),
        time_zone: time_zone.to_string(),
        instance: instance.map(str::to_string),
        days: from.iter_days().take(days as usize).collect(),
        current,
        previous,
        dags,
        validation_days,
        failing_tests,
        health,
    })
}

async fn period(
    client: &Client,
    instance: Option<&str>,
    from: NaiveDate,
    to: NaiveDate,
    time_zone: &str,
) -> Result<Period, ReportError> {
    let r = client
        .query_one(HEADLINE_SQL, &[&instance, &from, &to, &time_zone])
        .await
        .map_err(sql_error("compute the headline figures"))?;
    Ok(Period {
        from: Some(from),
        to: Some(to),
        finished_runs: r.get("finished_runs"),
        successful_runs: r.get("successful_runs"),
        failed_runs: r.get("failed_runs"),
        runtime_median: r.get("runtime_median_seconds"),
        runtime_p95: r.get("runtime_p95_seconds"),
        validation_executions: r.get("validation_executions"),
        validation_passed: r.get("validation_passed"),
    })
}
