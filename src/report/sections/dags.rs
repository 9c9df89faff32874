//! One section per DAG with runs in the period, the worst first: daily success-rate and runtime
//! charts, failed runs, the slowest and flakiest tasks, and the delay breakdown.

use std::fmt::Write;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::BoxFuture;

use crate::format::plural;
use crate::report::escape::{isolate, name};
use crate::report::section::{ReportData, ReportError, Scope, Section, sql_error};
use crate::report::svg::{self, BLUE, RED, Series, Unit};
use crate::report::text::{change_ratio, percent, seconds, when};

const DAG_DAYS_SQL: &str = include_str!("../../../sql/report/dag_days.sql");
const FAILED_RUNS_SQL: &str = include_str!("../../../sql/report/failed_runs.sql");
const TASKS_SQL: &str = include_str!("../../../sql/report/tasks.sql");
const DELAYS_SQL: &str = include_str!("../../../sql/report/delays.sql");

/// Tasks shown per DAG in each of the slowest and flakiest lists.
const TASKS_PER_DAG: usize = 5;

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

/// Every DAG's section.
#[derive(Debug, Clone, Default)]
pub struct Dags {
    /// One section per DAG with runs in the period, the worst first.
    pub dags: Vec<DagSection>,
}

/// Reads the section's figures.
pub fn gather<'a>(scope: &'a Scope<'a>) -> BoxFuture<'a, Result<Box<dyn Section>, ReportError>> {
    Box::pin(async move {
        let (client, time_zone, instance, from, to, days) = (
            scope.client,
            scope.time_zone,
            scope.instance,
            scope.from,
            scope.to,
            scope.days,
        );
        let (instances, dag_ids) = scope.dag_arrays();
        let mut dags: Vec<DagSection> = Vec::new();
        for row in client
            .query(DAG_DAYS_SQL, &[&instance, &from, &to, &instances, &dag_ids])
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
            .query(
                FAILED_RUNS_SQL,
                &[&instance, &from, &to, &time_zone, &instances, &dag_ids],
            )
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
            .query(
                TASKS_SQL,
                &[&instance, &(days as i32), &instances, &dag_ids],
            )
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
            .query(DELAYS_SQL, &[&instance, &from, &to, &instances, &dag_ids])
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
        Ok(Box::new(Dags { dags }) as Box<dyn Section>)
    })
}

impl Section for Dags {
    fn has_data(&self) -> bool {
        !self.dags.is_empty()
    }

    fn render(&self, page: &mut String, data: &ReportData) {
        let _ = write!(
            page,
            r#"<section><h2>DAGs, the worst first <span class="muted">({} with runs in the period)</span></h2>"#,
            self.dags.len()
        );
        for dag in &self.dags {
            let rate = dag.success_rate();
            let class = match rate {
                Some(r) if r < 0.9 => "bad",
                Some(r) if r < 0.99 => "warn",
                Some(_) => "good",
                None => "",
            };
            let unfinished: i64 = dag.days.iter().map(|d| d.unfinished).sum();
            let _ = write!(
                page,
                r#"<article class="dag {class}"><h3>{} <small>on {}</small></h3><p>Success rate <strong>{}</strong>: {} failed of {}{}.</p><div class="charts">"#,
                name(&dag.dag_id),
                name(&dag.instance),
                percent(rate),
                dag.failed(),
                plural(dag.finished() as u64, "finished run", "finished runs"),
                if unfinished > 0 {
                    format!(", {unfinished} not finished yet")
                } else {
                    String::new()
                }
            );
            let rates = per_day(&data.days, dag, |d| d.success_rate);
            page.push_str(&svg::share_bars(
                &format!("{}: daily success rate", isolate(&dag.dag_id)),
                "success rate",
                &data.days,
                &rates,
                ("successful share", BLUE),
                ("no run succeeded", RED),
            ));
            page.push_str(&svg::lines(
                &format!("{}: daily runtime of successful runs", isolate(&dag.dag_id)),
                "runtime",
                Unit::Duration,
                &data.days,
                &[
                    Series {
                        name: "median",
                        color: BLUE,
                        values: per_day(&data.days, dag, |d| d.runtime_median),
                    },
                    Series {
                        name: "p95",
                        color: RED,
                        values: per_day(&data.days, dag, |d| d.runtime_p95),
                    },
                ],
                "no successful run in the period",
            ));
            page.push_str("</div>");
            if !dag.failed_runs.is_empty() {
                page.push_str(r#"<h4>Failures</h4><table><tr><th>day</th><th>run</th><th>started</th><th>ended</th></tr>"#);
                for f in &dag.failed_runs {
                    let _ = write!(
                        page,
                        "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                        f.day,
                        name(&f.run_id),
                        when(f.start_date),
                        when(f.end_date)
                    );
                }
                page.push_str("</table>");
            }
            if !dag.slowest.is_empty() {
                page.push_str(r#"<h4>Slowest tasks <span class="muted">(p95 of successful tries, against the days before)</span></h4><table><tr><th>task</th><th class="num">tries</th><th class="num">p95</th><th class="num">before</th><th class="num">change</th></tr>"#);
                for t in &dag.slowest {
                    let _ = write!(
                        page,
                        r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                        name(&t.task_id),
                        t.count,
                        seconds(t.value),
                        seconds(t.previous),
                        change_ratio(t.value, t.previous, false)
                    );
                }
                page.push_str("</table>");
            }
            if !dag.flakiest.is_empty() {
                page.push_str(r#"<h4>Flakiest tasks <span class="muted">(share of instances that needed a retry)</span></h4><table><tr><th>task</th><th class="num">instances</th><th class="num">retried</th><th class="num">time in retried tries</th></tr>"#);
                for t in &dag.flakiest {
                    let _ = write!(
                        page,
                        r#"<tr><td>{}</td><td class="num">{}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                        name(&t.task_id),
                        t.count,
                        percent(t.value),
                        seconds(t.retry_seconds)
                    );
                }
                page.push_str("</table>");
            }
            if let Some(d) = &dag.delays {
                let _ = write!(
                    page,
                    r#"<h4>Where the time went <span class="muted">({}; median of the days' medians, and the worst day's p95)</span></h4><table><tr><th>delay</th><th class="num">median</th><th class="num">p95</th></tr>"#,
                    plural(d.runs as u64, "run", "runs")
                );
                for (name, (median, p95)) in [
                    ("queued before starting (start − queued)", d.queue),
                    ("scheduling delay (start − data interval end)", d.schedule),
                    (
                        "first task waited (first task start − run start)",
                        d.first_task,
                    ),
                    ("landing (end − data interval end)", d.landing),
                ] {
                    let _ = write!(
                        page,
                        r#"<tr><td>{name}</td><td class="num">{}</td><td class="num">{}</td></tr>"#,
                        seconds(median),
                        seconds(p95)
                    );
                }
                page.push_str("</table>");
            }
            page.push_str("</article>\n");
        }
        page.push_str("</section>\n");
    }
}

fn per_day<T>(
    days: &[NaiveDate],
    dag: &DagSection,
    value: impl Fn(&DagDay) -> Option<T>,
) -> Vec<Option<T>> {
    days.iter()
        .map(|day| dag.days.iter().find(|d| d.day == *day).and_then(&value))
        .collect()
}
