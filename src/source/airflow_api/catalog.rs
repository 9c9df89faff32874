//! The DAG catalogue through the REST API: every DAG (`/dags`, stale ones included), the current
//! import errors (`/importErrors`), the pools (`/pools`) and the scheduler's health
//! (`/api/v1/health`, `/api/v2/monitor/health`), turned into the same JSON documents the database source
//! reads (`sql/source/airflow_db/catalog_airflow2.sql`, `catalog_airflow3.sql`), so the
//! warehouse gets the same rows from both sources:
//!
//! - `is_stale`: Airflow 3's `is_stale`; on Airflow 2 (and early 3.0) `NOT is_active`.
//! - `schedule`: Airflow 3's `timetable_summary` (`None` where the API answers null, as the
//!   database holds it); on Airflow 2 the `schedule_interval` text the
//!   database holds, rebuilt from the API's object: a cron expression or preset as it is, a
//!   timedelta or relativedelta as Airflow's `Interval` column writes it (`{"type": "timedelta",
//!   "attrs": {...}}`), none as `null`.
//! - next run: Airflow 3's `next_dagrun_logical_date` and `next_dagrun_run_after` are the
//!   database's `next_dagrun` and `next_dagrun_create_after`.
//! - import errors: the stack trace cut, its first and last lines, length (characters) and md5
//!   computed as the SQL does; the file's DAGs by `fileloc` (Airflow 2) or bundle and
//!   `relative_fileloc` (Airflow 3).
//! - jobs: the health endpoint's latest heartbeat of the scheduler, triggerer and DAG processor;
//!   `running_jobs` is 1 when Airflow calls that part healthy, else 0 (the API does not count
//!   jobs), and no host name.
//!
//! - pools: `running_slots`, and `scheduled_slots` plus `queued_slots` as the waiting slots.
//!
//! The lists are separate requests, so not one snapshot as in the database: a DAG that changes
//! between them is caught by the next reading.

use std::collections::BTreeMap;

use md5::{Digest, Md5};
use reqwest::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use super::client::{Generation, Session};
use super::error::ApiError;
use super::paging::{PageFacts, Pager, fingerprint};
use crate::source::{CatalogSnapshot, KnownKeys, MAX_STACKTRACE_CHARS};

/// DAGs or import errors asked for per page (Airflow caps it at its `maximum_page_limit`, 100
/// by default; the pager copes with a smaller cap).
const CATALOG_PAGE: u64 = 100;

/// A DAG as both API generations send it (the fields the catalogue keeps).
#[derive(Debug, Deserialize)]
struct ApiDag {
    dag_id: String,
    #[serde(default)]
    is_paused: Option<bool>,
    /// Airflow 2 and early 3.0.
    #[serde(default)]
    is_active: Option<bool>,
    /// Airflow 3.
    #[serde(default)]
    is_stale: Option<bool>,
    #[serde(default)]
    has_import_errors: Option<bool>,
    #[serde(default)]
    owners: Option<Vec<String>>,
    #[serde(default)]
    tags: Option<Vec<ApiTag>>,
    /// Airflow 2.
    #[serde(default)]
    schedule_interval: Option<Value>,
    /// Airflow 3.
    #[serde(default)]
    timetable_summary: Option<String>,
    #[serde(default)]
    timetable_description: Option<String>,
    #[serde(default, alias = "next_dagrun_logical_date")]
    next_dagrun: Option<String>,
    #[serde(default, alias = "next_dagrun_run_after")]
    next_dagrun_create_after: Option<String>,
    #[serde(default)]
    max_active_runs: Option<i64>,
    #[serde(default)]
    last_parsed_time: Option<String>,
    #[serde(default)]
    fileloc: Option<String>,
    /// Airflow 3.
    #[serde(default)]
    bundle_name: Option<String>,
    /// Airflow 3.
    #[serde(default)]
    relative_fileloc: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ApiTag {
    name: String,
}

#[derive(Debug, Deserialize)]
struct ApiImportError {
    #[serde(default)]
    import_error_id: Option<i64>,
    #[serde(default)]
    timestamp: Option<String>,
    filename: String,
    /// Airflow 3.
    #[serde(default)]
    bundle_name: Option<String>,
    #[serde(default)]
    stack_trace: Option<String>,
}

/// A pool as both API generations send it.
#[derive(Debug, Deserialize)]
struct ApiPool {
    name: String,
    #[serde(default)]
    slots: Option<i64>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    running_slots: Option<i64>,
    #[serde(default)]
    queued_slots: Option<i64>,
    #[serde(default)]
    scheduled_slots: Option<i64>,
}

/// One page of `/dags`, `/importErrors` or `/pools`.
#[derive(Debug, Deserialize)]
struct CatalogPage<T> {
    #[serde(alias = "dags", alias = "import_errors", alias = "pools")]
    items: Vec<T>,
    #[serde(default)]
    total_entries: Option<i64>,
}

/// One part of the health answer.
#[derive(Debug, Default, Deserialize)]
struct ApiHealthPart {
    #[serde(default)]
    status: Option<String>,
    #[serde(
        default,
        alias = "latest_scheduler_heartbeat",
        alias = "latest_triggerer_heartbeat",
        alias = "latest_dag_processor_heartbeat"
    )]
    latest_heartbeat: Option<String>,
}

#[derive(Debug, Deserialize)]
struct ApiHealth {
    #[serde(default)]
    scheduler: Option<ApiHealthPart>,
    #[serde(default)]
    triggerer: Option<ApiHealthPart>,
    #[serde(default)]
    dag_processor: Option<ApiHealthPart>,
}

impl Session<'_> {
    /// Reads the catalogue: every DAG, the current import errors, the health.
    pub(super) async fn read_catalog(
        &mut self,
        known: &KnownKeys,
    ) -> Result<CatalogSnapshot, ApiError> {
        let read_at = self.server_now;
        let stale_too = match self.generation {
            Generation::V1 => ("only_active", "false".to_string()),
            Generation::V2 => ("exclude_stale", "false".to_string()),
        };
        let dags: Vec<ApiDag> = self
            .list_all(
                "dags",
                &[stale_too, ("order_by", "dag_id".to_string())],
                |d: &ApiDag| d.dag_id.clone(),
            )
            .await?;
        let errors: Vec<ApiImportError> = self
            .list_all("importErrors", &[], |e: &ApiImportError| {
                (e.import_error_id, e.filename.clone())
            })
            .await?;
        let pools: Vec<ApiPool> = self
            .list_all("pools", &[], |p: &ApiPool| p.name.clone())
            .await?;
        let url = self.url(&[self.generation.prefix(), self.health_path()], &[]);
        let answer = self.call(Method::GET, url, None).await?;
        let health: ApiHealth = self.json(answer)?;
        let dags_json = dags_json(&dags, self.generation);
        let timetables = self.read_timetables(&dags_json, known);
        Ok(CatalogSnapshot {
            read_at,
            dags: dags_json.to_string(),
            import_errors: import_errors_json(&errors, &dags, self.generation).to_string(),
            jobs: jobs_json(&health).to_string(),
            pools: pools_json(&pools).to_string(),
            // The stable REST API has no endpoint for SLA misses or deadlines; owner links are
            // only in each DAG's details (a request per DAG), so they are not read.
            deadlines: None,
            owner_links: None,
            timetables: timetables.to_string(),
            graphs: Vec::new(),
        })
    }

    /// The timetable facts of the DAGs whose schedule is a cron expression, preset or
    /// interval, for the ones whose key changed. Airflow's REST API does not tell a DAG's own
    /// time zone: `/dags/{dag_id}/details` answers the instance's default time zone for every
    /// DAG, on Airflow 2 and 3 alike (`DagModel.timezone` is `settings.TIMEZONE`). So no
    /// request is made: the zone is `dag_time_zone` of the section when set (the key is the
    /// schedule text and that zone, so a change of either is read again), and unknown otherwise
    /// (cron schedules then stay unexpanded; interval schedules need no zone). No class is
    /// known either: Airflow's defaults are assumed (Airflow 2: data-interval timetables,
    /// Airflow 3: trigger timetables with an empty data interval).
    fn read_timetables(&self, dags: &Value, known: &KnownKeys) -> Value {
        let Some(zone) = self.settings.dag_time_zone.as_deref() else {
            return Value::Array(Vec::new());
        };
        let known = known.by_dag();
        let rows = dags
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|dag| {
                let dag_id = dag.get("dag_id").and_then(Value::as_str)?;
                let schedule = dag.get("schedule").and_then(Value::as_str)?;
                let key = format!("{schedule} @ {zone}");
                (crate::schedule::expandable_text(schedule)
                    && known.get(dag_id) != Some(&key.as_str()))
                .then(|| {
                    json!({
                        "dag_id": dag_id,
                        "dag_hash": key,
                        "compressed": false,
                        "timetable": Value::Null,
                        "time_zone": zone,
                        "trigger_interval_seconds": match self.generation {
                            Generation::V1 => Value::Null,
                            Generation::V2 => json!(0.0),
                        },
                    })
                })
            })
            .collect();
        Value::Array(rows)
    }

    /// Whether the catalogue's endpoints answer: one DAG, one import error, the health.
    pub(super) async fn check_catalog(&mut self) -> Result<String, ApiError> {
        let mut paths = Vec::new();
        for path in ["dags", "importErrors", "pools", self.health_path()] {
            let url = self.url(
                &[self.generation.prefix(), path],
                &[("limit", "1".to_string())],
            );
            let answer = self.call(Method::GET, url, None).await?;
            let _: Value = self.json(answer)?;
            paths.push(format!("/{path}"));
        }
        Ok(format!("DAG catalogue: {} readable", paths.join(", ")))
    }

    fn health_path(&self) -> &'static str {
        match self.generation {
            Generation::V1 => "health",
            Generation::V2 => "monitor/health",
        }
    }

    /// Every item of an offset-paged list (`/dags`, `/importErrors`).
    async fn list_all<T, K>(
        &mut self,
        path: &str,
        query: &[(&str, String)],
        key: impl Fn(&T) -> K,
    ) -> Result<Vec<T>, ApiError>
    where
        T: serde::de::DeserializeOwned,
        K: std::hash::Hash,
    {
        let mut items = Vec::new();
        let mut pager = Pager::by_offset(CATALOG_PAGE);
        while !pager.done() {
            let mut q: Vec<(&str, String)> = query.to_vec();
            q.push(("limit", CATALOG_PAGE.to_string()));
            q.push(("offset", pager.offset().to_string()));
            let url = self.url(&[self.generation.prefix(), path], &q);
            let shown = url.to_string();
            let answer = self.call(Method::GET, url, None).await?;
            let page: CatalogPage<T> = self.json(answer)?;
            pager
                .advance(PageFacts {
                    got: page.items.len() as u64,
                    asked: CATALOG_PAGE,
                    total_entries: page.total_entries,
                    total_entries_limit: None,
                    next_cursor: None,
                    fingerprint: fingerprint(
                        page.items.first().map(&key),
                        page.items.last().map(&key),
                    ),
                })
                .map_err(|detail| ApiError::BrokenPaging {
                    url: shown,
                    detail,
                    pages: pager.pages(),
                })?;
            items.extend(page.items);
        }
        Ok(items)
    }
}

/// The DAGs in the shape `sql/catalog/merge_dags.sql` reads; a DAG listed twice (paging while
/// DAGs are added) is kept once.
fn dags_json(dags: &[ApiDag], generation: Generation) -> Value {
    let mut seen = std::collections::HashSet::new();
    let rows: Vec<Value> = dags
        .iter()
        .filter(|d| seen.insert(d.dag_id.as_str()))
        .map(|d| {
            let mut tags: Vec<&str> = d.tags.iter().flatten().map(|t| t.name.as_str()).collect();
            tags.sort_unstable();
            tags.dedup();
            let schedule = match generation {
                Generation::V1 => Some(schedule_interval_text(d.schedule_interval.as_ref())),
                // Airflow 3 writes "None" for no schedule; its API answers null for it.
                Generation::V2 => Some(
                    d.timetable_summary
                        .clone()
                        .unwrap_or_else(|| "None".to_string()),
                ),
            };
            json!({
                "dag_id": d.dag_id,
                "is_paused": d.is_paused,
                "is_stale": d.is_stale.or(d.is_active.map(|a| !a)),
                "has_import_errors": d.has_import_errors.unwrap_or(false),
                "owners": d.owners.clone().unwrap_or_default(),
                "tags": tags,
                "schedule": schedule,
                "schedule_description": d.timetable_description,
                "next_dagrun": d.next_dagrun,
                "next_dagrun_create_after": d.next_dagrun_create_after,
                "max_active_runs": d.max_active_runs,
                "last_parsed_time": d.last_parsed_time,
                "fileloc": d.fileloc,
            })
        })
        .collect();
    Value::Array(rows)
}

/// Airflow 2's `schedule_interval` column text (its JSON quotes removed, as the database
/// source reads it) from the API's object.
fn schedule_interval_text(value: Option<&Value>) -> String {
    let Some(Value::Object(o)) = value else {
        return match value {
            Some(Value::String(s)) => s.clone(),
            _ => "null".to_string(),
        };
    };
    let number = |k: &str| o.get(k).cloned().unwrap_or(Value::Null);
    match o.get("__type").and_then(Value::as_str) {
        Some("CronExpression") => o
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or("null")
            .to_string(),
        Some("TimeDelta") => python_json(
            "timedelta",
            &["days", "seconds", "microseconds"].map(|k| (k, number(k))),
        ),
        Some("RelativeDelta") => python_json(
            "relativedelta",
            &[
                "years",
                "months",
                "days",
                "leapdays",
                "hours",
                "minutes",
                "seconds",
                "microseconds",
                "year",
                "month",
                "day",
                "hour",
                "minute",
                "second",
                "microsecond",
            ]
            .map(|k| (k, number(k))),
        ),
        _ => Value::Object(o.clone()).to_string(),
    }
}

/// `{"type": kind, "attrs": {...}}` as Python's `json.dumps` writes it (Airflow's `Interval`
/// column): `", "` and `": "` separators, keys in Airflow's order.
fn python_json(kind: &str, attrs: &[(&str, Value)]) -> String {
    let attrs: Vec<String> = attrs.iter().map(|(k, v)| format!("\"{k}\": {v}")).collect();
    format!(
        "{{\"type\": \"{kind}\", \"attrs\": {{{}}}}}",
        attrs.join(", ")
    )
}

/// The import errors in the shape `sql/catalog/merge_import_errors.sql` reads.
fn import_errors_json(errors: &[ApiImportError], dags: &[ApiDag], generation: Generation) -> Value {
    // The DAGs of each file: by fileloc (Airflow 2), by bundle and relative path (Airflow 3).
    let mut by_file: BTreeMap<(String, String), Vec<&str>> = BTreeMap::new();
    for d in dags {
        let key = match generation {
            Generation::V1 => (String::new(), d.fileloc.clone().unwrap_or_default()),
            Generation::V2 => (
                d.bundle_name.clone().unwrap_or_default(),
                d.relative_fileloc.clone().unwrap_or_default(),
            ),
        };
        by_file.entry(key).or_default().push(d.dag_id.as_str());
    }
    for ids in by_file.values_mut() {
        ids.sort_unstable();
        ids.dedup();
    }
    let rows: Vec<Value> = errors
        .iter()
        .map(|e| {
            let bundle = e.bundle_name.clone().unwrap_or_default();
            let trace = e.stack_trace.as_deref().unwrap_or("");
            let dag_ids = by_file
                .get(&(bundle.clone(), e.filename.clone()))
                .cloned()
                .unwrap_or_default();
            json!({
                "bundle_name": bundle,
                "filename": e.filename,
                "timestamp": e.timestamp,
                "stacktrace": e.stack_trace.as_ref().map(|t| cut(t, MAX_STACKTRACE_CHARS)),
                "first_line": e.stack_trace.as_ref().map(|_| cut(first_line(trace), 1000)),
                "last_line": e.stack_trace.as_ref().map(|_| cut(last_line(trace), 1000)),
                "stacktrace_chars": e.stack_trace.as_ref().map(|t| t.chars().count()),
                "stacktrace_md5": Md5::digest(trace.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect::<String>(),
                "dag_ids": dag_ids,
            })
        })
        .collect();
    Value::Array(rows)
}

/// The first `n` characters of `text`.
fn cut(text: &str, n: usize) -> String {
    text.chars().take(n).collect()
}

/// The first line after leading blanks and newlines (as the SQL's `ltrim(t, ' \n')`).
fn first_line(trace: &str) -> &str {
    let t = trace.trim_start_matches([' ', '\n']);
    t.split('\n').next().unwrap_or("")
}

/// The last line before trailing blanks and newlines (as the SQL's `rtrim(t, ' \n')`).
fn last_line(trace: &str) -> &str {
    let t = trace.trim_end_matches([' ', '\n']);
    t.rsplit('\n').next().unwrap_or("")
}

/// The pools as the database source's rows: waiting slots are the scheduled and queued ones.
fn pools_json(pools: &[ApiPool]) -> Value {
    let mut seen = std::collections::HashSet::new();
    Value::Array(
        pools
            .iter()
            .filter(|p| seen.insert(p.name.as_str()))
            .map(|p| {
                json!({
                    "pool": p.name,
                    "slots": p.slots,
                    "description": p.description,
                    "running_slots": p.running_slots.unwrap_or(0),
                    "waiting_slots": p.queued_slots.unwrap_or(0) + p.scheduled_slots.unwrap_or(0),
                })
            })
            .collect(),
    )
}

/// The health answer as the database source's job rows.
fn jobs_json(health: &ApiHealth) -> Value {
    let part = |job_type: &str, p: &Option<ApiHealthPart>| {
        let p = p.as_ref();
        json!({
            "job_type": job_type,
            "running_jobs": i32::from(p.and_then(|p| p.status.as_deref()) == Some("healthy")),
            "latest_heartbeat": p.and_then(|p| p.latest_heartbeat.clone()),
            "hostname": Value::Null,
        })
    };
    json!([
        part("SchedulerJob", &health.scheduler),
        part("DagProcessorJob", &health.dag_processor),
        part("TriggererJob", &health.triggerer),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn airflow_2_schedules_read_as_the_database_holds_them() {
        let cron = json!({"__type": "CronExpression", "value": "0 * * * *"});
        assert_eq!(schedule_interval_text(Some(&cron)), "0 * * * *");
        let daily = json!({"__type": "TimeDelta", "days": 1, "seconds": 0, "microseconds": 0});
        assert_eq!(
            schedule_interval_text(Some(&daily)),
            r#"{"type": "timedelta", "attrs": {"days": 1, "seconds": 0, "microseconds": 0}}"#
        );
        assert_eq!(schedule_interval_text(None), "null");
        assert_eq!(schedule_interval_text(Some(&Value::Null)), "null");
    }

    #[test]
    fn stack_trace_lines_are_cut_as_the_sql_cuts_them() {
        let trace = "\n  Traceback (most recent call last):\n  File \"x.py\"\nNameError: x\n\n";
        assert_eq!(first_line(trace), "Traceback (most recent call last):");
        assert_eq!(last_line(trace), "NameError: x");
        assert_eq!(cut("héllo", 2), "hé");
    }
}
