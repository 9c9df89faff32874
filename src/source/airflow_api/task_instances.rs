//! Task instances and their tries: the batch list (`POST /dags/~/dagRuns/~/taskInstances/list`)
//! for the runs an extract wrote, and, where the server keeps every try (Airflow 2.10+), one
//! `.../tries` request per instance that may have earlier tries.

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::client::{Generation, Session};
use super::error::ApiError;
use super::error::{api_failure, stage_failure, unreadable};
use super::paging::{PageFacts, Pager, fingerprint};
use super::rows::{csv_line, parse_instant, stamp};
use crate::source::{ExtractSink, SourceError, TaskCoverage};

/// One task instance (or one try of it) as both API generations send it.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ApiTaskInstance {
    pub(super) task_id: String,
    pub(super) dag_id: String,
    pub(super) dag_run_id: String,
    #[serde(default = "no_map_index")]
    pub(super) map_index: i64,
    #[serde(default)]
    pub(super) try_number: i64,
    #[serde(default)]
    pub(super) state: Option<String>,
    #[serde(default)]
    pub(super) start_date: Option<String>,
    #[serde(default)]
    pub(super) end_date: Option<String>,
    #[serde(default)]
    pub(super) queued_when: Option<String>,
    /// Airflow 3 only.
    #[serde(default)]
    pub(super) scheduled_when: Option<String>,
    #[serde(default)]
    pub(super) pool: Option<String>,
    #[serde(default)]
    pub(super) pool_slots: Option<i64>,
    #[serde(default)]
    pub(super) queue: Option<String>,
    #[serde(default)]
    pub(super) operator: Option<String>,
    #[serde(default)]
    pub(super) hostname: Option<String>,
    #[serde(default)]
    pub(super) max_tries: Option<i64>,
    /// Airflow 3 only: the DAG version the try ran with.
    #[serde(default)]
    pub(super) dag_version: Option<super::dag_runs::ApiDagVersion>,
}

pub(super) fn no_map_index() -> i64 {
    -1
}

impl ApiTaskInstance {
    /// Whether Airflow may keep earlier tries of this instance (or this try itself, for a
    /// cleared or retrying instance) in `task_instance_history`: only then are its tries asked
    /// for, one request each.
    pub(super) fn may_have_history(&self) -> bool {
        self.try_number > 1
            || (self.try_number >= 1
                && matches!(
                    self.state.as_deref(),
                    None | Some("up_for_retry" | "restarting" | "up_for_reschedule")
                ))
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct TaskPage {
    pub(super) task_instances: Vec<ApiTaskInstance>,
    #[serde(default)]
    pub(super) total_entries: Option<i64>,
}

/// Turns API task instances into the task extract's CSV rows.
pub(super) struct TaskWriter<'a> {
    pub(super) instance: &'a str,
    pub(super) generation: Generation,
    pub(super) read_at: String,
    pub(super) buffer: Vec<u8>,
    pub(super) written: u64,
}

impl TaskWriter<'_> {
    pub(super) fn header(&mut self) {
        self.buffer
            .extend_from_slice(crate::source::TASK_INSTANCE_COLUMNS.join(",").as_bytes());
        self.buffer.push(b'\n');
    }

    pub(super) fn push(&mut self, ti: &ApiTaskInstance, from_history: bool) -> Result<(), String> {
        let time = |name: &str, value: Option<&str>| -> Result<Option<String>, String> {
            value
                .map(|t| {
                    parse_instant(t).map(stamp).map_err(|e| {
                        format!(
                            "{name} {t:?} of task {}.{} in run {} is not an RFC 3339 time ({e})",
                            ti.dag_id, ti.task_id, ti.dag_run_id
                        )
                    })
                })
                .transpose()
        };
        let scheduled = match self.generation {
            Generation::V1 => None,
            Generation::V2 => time("scheduled_when", ti.scheduled_when.as_deref())?,
        };
        let fields: [Option<String>; 22] = [
            Some(self.instance.to_string()),
            Some(self.generation.major_version().to_string()),
            Some(ti.dag_id.clone()),
            Some(ti.dag_run_id.clone()),
            Some(ti.task_id.clone()),
            Some(ti.map_index.to_string()),
            Some(ti.try_number.to_string()),
            ti.state.clone(),
            time("start_date", ti.start_date.as_deref())?,
            time("end_date", ti.end_date.as_deref())?,
            time("queued_when", ti.queued_when.as_deref())?,
            scheduled,
            ti.pool.clone(),
            ti.pool_slots.map(|n| n.to_string()),
            ti.queue.clone(),
            ti.operator.clone(),
            ti.hostname.clone(),
            ti.max_tries.map(|n| n.to_string()),
            ti.dag_version.as_ref().map(|v| v.id.clone()),
            Some(if from_history { "t" } else { "f" }.to_string()),
            None, // source_updated_at: not in the API
            Some(self.read_at.clone()),
        ];
        csv_line(&mut self.buffer, &fields);
        self.written += 1;
        Ok(())
    }
}

/// Runs per task-instance list request (their dag_ids and run_ids go in the request body).
pub(super) const RUNS_PER_TASK_REQUEST: usize = 100;
/// Task instances asked for per page of the batch list (which Airflow does not cap at its
/// `maximum_page_limit`).
pub(super) const TASKS_PER_PAGE: u64 = 10_000;

impl Session<'_> {
    /// Which tries the server keeps: every try from Airflow 2.10 (task_instance_history and
    /// the .../tries endpoint), else only the current one.
    pub(super) fn task_coverage(&self) -> TaskCoverage {
        let mut parts = self
            .version
            .split('.')
            .map(|p| p.parse::<u32>().unwrap_or(0));
        let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
        if (major, minor) >= (2, 10) {
            TaskCoverage::AllTries
        } else {
            TaskCoverage::CurrentTries
        }
    }

    /// Streams the task instances of `runs` into the sink: one batch list request per
    /// [`RUNS_PER_TASK_REQUEST`] runs, plus, when the server keeps every try, one .../tries
    /// request per instance that may have earlier tries. Returns the tries written.
    pub(super) async fn copy_task_instances(
        &mut self,
        runs: &[(String, String)],
        coverage: TaskCoverage,
        read_at: DateTime<Utc>,
        sink: &mut ExtractSink<'_>,
    ) -> Result<u64, SourceError> {
        let settings = self.settings;
        let api_error = api_failure(settings);
        let bad = unreadable(settings);
        let stage_error = stage_failure(&settings.instance);
        let mut writer = TaskWriter {
            instance: &self.settings.instance,
            generation: self.generation,
            read_at: stamp(read_at),
            buffer: Vec::with_capacity(64 * 1024),
            written: 0,
        };
        writer.header();
        for chunk in runs.chunks(RUNS_PER_TASK_REQUEST) {
            let wanted: HashSet<(&str, &str)> = chunk
                .iter()
                .map(|(d, r)| (d.as_str(), r.as_str()))
                .collect();
            let mut dag_ids: Vec<&str> = chunk.iter().map(|(d, _)| d.as_str()).collect();
            dag_ids.sort_unstable();
            dag_ids.dedup();
            let mut run_ids: Vec<&str> = chunk.iter().map(|(_, r)| r.as_str()).collect();
            run_ids.sort_unstable();
            run_ids.dedup();
            let mut pager = Pager::by_offset(TASKS_PER_PAGE);
            while !pager.done() {
                let mut body = serde_json::json!({
                    "dag_ids": dag_ids,
                    "dag_run_ids": run_ids,
                    "page_offset": pager.offset(),
                    "page_limit": TASKS_PER_PAGE,
                });
                if self.generation == Generation::V2 {
                    body["order_by"] = serde_json::json!("id");
                }
                let url = self.url(
                    &[
                        self.generation.prefix(),
                        "dags/~/dagRuns/~/taskInstances/list",
                    ],
                    &[],
                );
                let url_shown = url.to_string();
                let answer = self
                    .call(Method::POST, url, Some(body.to_string()))
                    .await
                    .map_err(api_error)?;
                let page: TaskPage = self.json(answer).map_err(api_error)?;
                let key = |t: &ApiTaskInstance| {
                    (
                        t.dag_id.clone(),
                        t.dag_run_id.clone(),
                        t.task_id.clone(),
                        t.map_index,
                    )
                };
                let facts = PageFacts {
                    got: page.task_instances.len() as u64,
                    asked: TASKS_PER_PAGE,
                    total_entries: page.total_entries,
                    total_entries_limit: None,
                    next_cursor: None,
                    fingerprint: fingerprint(
                        page.task_instances.first().map(key),
                        page.task_instances.last().map(key),
                    ),
                };
                if let Err(detail) = pager.advance(facts) {
                    return Err(api_error(ApiError::BrokenPaging {
                        url: url_shown,
                        detail,
                        pages: pager.pages(),
                    }));
                }
                for ti in &page.task_instances {
                    if !wanted.contains(&(ti.dag_id.as_str(), ti.dag_run_id.as_str())) {
                        continue;
                    }
                    if coverage == TaskCoverage::AllTries && ti.may_have_history() {
                        for (try_, from_history) in self.tries(ti).await.map_err(api_error)? {
                            writer.push(&try_, from_history).map_err(bad)?;
                        }
                    } else {
                        writer.push(ti, false).map_err(bad)?;
                    }
                }
                if writer.buffer.len() >= 1 << 20 {
                    sink.write(&writer.buffer).await.map_err(stage_error)?;
                    writer.buffer.clear();
                }
            }
        }
        sink.write(&writer.buffer).await.map_err(stage_error)?;
        Ok(writer.written)
    }

    /// Every try of one task instance, each with whether it comes from
    /// `task_instance_history`. The endpoint answers the history rows, then the current row
    /// unless it is up for retry (its try is then in the history already); where both hold
    /// the same try_number, the history row is that try (as the database source decides).
    pub(super) async fn tries(
        &mut self,
        ti: &ApiTaskInstance,
    ) -> Result<Vec<(ApiTaskInstance, bool)>, ApiError> {
        let mut url = self.url(&[self.generation.prefix(), "dags"], &[]);
        {
            let mut segments = url.path_segments_mut().expect("an http(s) URL has a path");
            segments.extend([
                ti.dag_id.as_str(),
                "dagRuns",
                ti.dag_run_id.as_str(),
                "taskInstances",
                ti.task_id.as_str(),
            ]);
            if ti.map_index >= 0 {
                segments.push(&ti.map_index.to_string());
            }
            segments.push("tries");
        }
        let answer = self.call(Method::GET, url, None).await?;
        if answer.status == StatusCode::NOT_FOUND {
            // Gone between the list and this request: keep what the list said.
            return Ok(vec![(ti.clone(), false)]);
        }
        let page: TaskPage = self.json(answer)?;
        let mut history = page.task_instances;
        if ti.state.as_deref() != Some("up_for_retry") {
            // The last row is the current one; the list's copy of it is used instead.
            history.pop();
        }
        let current_is_in_history = history.iter().any(|t| t.try_number == ti.try_number);
        let mut out: Vec<(ApiTaskInstance, bool)> =
            history.into_iter().map(|t| (t, true)).collect();
        if !current_is_in_history {
            out.push((ti.clone(), false));
        }
        Ok(out)
    }
}
