//! DAG runs (`GET /dags/~/dagRuns` and one run by id): the list filters, the run as both API
//! generations send it, the rows written for it, and the session's reads of runs. Ordered by
//! Airflow's id, so runs that change while pages are read do not move; each run written once
//! (a run seen on two pages is kept once).

use std::collections::HashSet;
use std::hash::{DefaultHasher, Hash, Hasher};

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde::Deserialize;

use super::client::{Generation, Session};
use super::error::ApiError;
use super::error::{api_failure, stage_failure, unreadable};
use super::paging::{PageFacts, Pager, fingerprint};
use super::rows::{csv_line, parse_instant, stamp};
use crate::source::{ExtractSink, SourceError};

/// The filters of one DAG-run list.
#[derive(Debug, Clone, Default)]
pub(super) struct RunFilter {
    pub(super) updated_at_gte: Option<DateTime<Utc>>,
    pub(super) updated_at_lte: Option<DateTime<Utc>>,
    pub(super) states: Vec<&'static str>,
    /// Logical (execution) date in `[start, end)`.
    pub(super) logical_date: Option<(DateTime<Utc>, DateTime<Utc>)>,
    /// `run_after` in `[start, end)` (Airflow 3).
    pub(super) run_after: Option<(DateTime<Utc>, DateTime<Utc>)>,
}

/// The lists that together hold every run whose day instant (logical date, else `run_after`)
/// is in `[start, end)`: on Airflow 2 the logical date alone; on Airflow 3 also `run_after`,
/// for runs without a logical date.
pub(super) fn window_filters(
    generation: Generation,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    updated_at_gte: Option<DateTime<Utc>>,
) -> Vec<RunFilter> {
    let logical = RunFilter {
        updated_at_gte,
        logical_date: Some((start, end)),
        ..RunFilter::default()
    };
    match generation {
        Generation::V1 => vec![logical],
        Generation::V2 => vec![
            logical,
            RunFilter {
                updated_at_gte,
                run_after: Some((start, end)),
                ..RunFilter::default()
            },
        ],
    }
}

/// One DAG run as both API generations send it (the fields pipewatch reads).
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ApiDagRun {
    pub(super) dag_id: String,
    pub(super) dag_run_id: String,
    #[serde(default)]
    pub(super) logical_date: Option<String>,
    /// Airflow 2 sends it beside `logical_date` (the same value).
    #[serde(default)]
    pub(super) execution_date: Option<String>,
    #[serde(default)]
    pub(super) run_after: Option<String>,
    #[serde(default)]
    pub(super) state: Option<String>,
    #[serde(default)]
    pub(super) run_type: Option<String>,
    #[serde(default)]
    pub(super) external_trigger: Option<bool>,
    #[serde(default)]
    pub(super) queued_at: Option<String>,
    #[serde(default)]
    pub(super) start_date: Option<String>,
    #[serde(default)]
    pub(super) end_date: Option<String>,
    #[serde(default)]
    pub(super) data_interval_start: Option<String>,
    #[serde(default)]
    pub(super) data_interval_end: Option<String>,
    /// Airflow 3: the DAG versions the run used, the one that created it first.
    #[serde(default)]
    pub(super) dag_versions: Vec<ApiDagVersion>,
}

/// A DAG version as Airflow 3's API names it (`dag_versions` of a run, `dag_version` of a task
/// instance): its id is `dag_version.id`, the key of its serialized DAG.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct ApiDagVersion {
    pub(super) id: String,
}

impl ApiDagRun {
    pub(super) fn logical(&self) -> Option<&str> {
        self.logical_date
            .as_deref()
            .or(self.execution_date.as_deref())
    }

    /// The instant whose date is the run's day: its logical date, else `run_after`.
    pub(super) fn day_instant(&self) -> Option<DateTime<Utc>> {
        self.logical()
            .or(self.run_after.as_deref())
            .and_then(|t| parse_instant(t).ok())
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct RunPage {
    pub(super) dag_runs: Vec<ApiDagRun>,
    #[serde(default)]
    pub(super) total_entries: Option<i64>,
    /// Set (not null) only when the server paged by cursor (Airflow 3.3+).
    #[serde(default)]
    pub(super) total_entries_limit: Option<i64>,
    #[serde(default)]
    pub(super) next_cursor: Option<String>,
}

/// Turns API runs into the extract's CSV rows (PostgreSQL's CSV: every value quoted, NULL
/// unquoted and empty), each run once.
pub(super) struct RowWriter<'a> {
    pub(super) instance: &'a str,
    pub(super) generation: Generation,
    pub(super) read_at: String,
    pub(super) seen: HashSet<u128>,
    pub(super) buffer: Vec<u8>,
    pub(super) written: u64,
    /// `(dag_id, run_id)` of the runs written, when their task instances are to be read.
    pub(super) runs: Option<Vec<(String, String)>>,
}

impl<'a> RowWriter<'a> {
    pub(super) fn new(instance: &'a str, generation: Generation, read_at: DateTime<Utc>) -> Self {
        RowWriter {
            instance,
            generation,
            read_at: stamp(read_at),
            seen: HashSet::new(),
            buffer: Vec::with_capacity(64 * 1024),
            written: 0,
            runs: None,
        }
    }

    /// A 128-bit key of a run (two independent 64-bit hashes): a collision among a million
    /// runs has a probability near 10^-27, and costs 16 bytes a run instead of its strings.
    pub(super) fn key(dag_id: &str, run_id: &str) -> u128 {
        let half = |salt: u8| {
            let mut h = DefaultHasher::new();
            salt.hash(&mut h);
            dag_id.hash(&mut h);
            run_id.hash(&mut h);
            h.finish()
        };
        (u128::from(half(1)) << 64) | u128::from(half(2))
    }

    pub(super) fn seen(&self, dag_id: &str, run_id: &str) -> bool {
        self.seen.contains(&Self::key(dag_id, run_id))
    }

    pub(super) fn header(&mut self) {
        self.buffer
            .extend_from_slice(crate::source::DAG_RUN_COLUMNS.join(",").as_bytes());
        self.buffer.push(b'\n');
    }

    /// Appends `run` unless it was written already; a timestamp that is not RFC 3339 is an
    /// error naming it.
    pub(super) fn push(&mut self, run: &ApiDagRun) -> Result<(), String> {
        if !self.seen.insert(Self::key(&run.dag_id, &run.dag_run_id)) {
            return Ok(());
        }
        // A run is counted on the day of its logical date (else run_after): one with neither
        // would be loaded and counted by no model, silently. Airflow always sends one.
        if run.logical().is_none() && run.run_after.is_none() {
            return Err(format!(
                "run {} of DAG {} has neither logical_date nor run_after, so it belongs to no day",
                run.dag_run_id, run.dag_id
            ));
        }
        if let Some(runs) = self.runs.as_mut() {
            runs.push((run.dag_id.clone(), run.dag_run_id.clone()));
        }
        let time = |name: &str, value: Option<&str>| -> Result<Option<String>, String> {
            value
                .map(|t| {
                    parse_instant(t).map(stamp).map_err(|e| {
                        format!(
                            "{name} {t:?} of run {} {} is not an RFC 3339 time ({e})",
                            run.dag_id, run.dag_run_id
                        )
                    })
                })
                .transpose()
        };
        let (run_after, queued_at, external_trigger) = match self.generation {
            // Airflow 2's API has no run_after and no queued_at.
            Generation::V1 => (
                None,
                None,
                run.external_trigger.map(|t| if t { "t" } else { "f" }),
            ),
            // Airflow 3 dropped external_trigger: a manual run is run_type = 'manual', as the
            // database source reads it.
            Generation::V2 => (
                time("run_after", run.run_after.as_deref())?,
                time("queued_at", run.queued_at.as_deref())?,
                run.run_type
                    .as_deref()
                    .map(|t| if t == "manual" { "t" } else { "f" }),
            ),
        };
        let major = self.generation.major_version().to_string();
        let fields: [Option<String>; 19] = [
            Some(self.instance.to_string()),
            Some(major),
            None, // id: not in the API
            Some(run.dag_id.clone()),
            Some(run.dag_run_id.clone()),
            time("logical_date", run.logical())?,
            run_after,
            run.state.clone(),
            run.run_type.clone(),
            external_trigger.map(str::to_string),
            queued_at,
            time("start_date", run.start_date.as_deref())?,
            time("end_date", run.end_date.as_deref())?,
            time("data_interval_start", run.data_interval_start.as_deref())?,
            time("data_interval_end", run.data_interval_end.as_deref())?,
            None, // clear_number: not in the API
            // Airflow 2's API does not say which dag_hash made the run.
            run.dag_versions.first().map(|v| v.id.clone()),
            None, // source_updated_at: not in the API
            Some(self.read_at.clone()),
        ];
        csv_line(&mut self.buffer, &fields);
        self.written += 1;
        Ok(())
    }

    pub(super) async fn flush(
        &mut self,
        sink: &mut ExtractSink<'_>,
    ) -> Result<(), crate::stage::StageError> {
        if !self.buffer.is_empty() {
            sink.write(&self.buffer).await?;
            self.buffer.clear();
        }
        Ok(())
    }
}

impl Session<'_> {
    /// The query of one page of a DAG-run list.
    pub(super) fn run_query(
        &self,
        filter: &RunFilter,
        pager: &Pager,
    ) -> Vec<(&'static str, String)> {
        let limit = pager.limit(self.settings.page_size);
        let mut query = vec![("order_by", "id".to_string()), ("limit", limit.to_string())];
        if let Some(t) = filter.updated_at_gte {
            query.push(("updated_at_gte", stamp(t)));
        }
        if let Some(t) = filter.updated_at_lte {
            query.push(("updated_at_lte", stamp(t)));
        }
        for state in &filter.states {
            query.push(("state", state.to_string()));
        }
        let last_before = |end: DateTime<Utc>| stamp(end - Duration::microseconds(1));
        match self.generation {
            Generation::V1 => {
                if let Some((start, end)) = filter.logical_date {
                    query.push(("execution_date_gte", stamp(start)));
                    query.push(("execution_date_lte", last_before(end)));
                }
            }
            Generation::V2 => {
                if let Some((start, end)) = filter.logical_date {
                    query.push(("logical_date_gte", stamp(start)));
                    query.push(("logical_date_lt", stamp(end)));
                }
                if let Some((start, end)) = filter.run_after {
                    query.push(("run_after_gte", stamp(start)));
                    query.push(("run_after_lt", stamp(end)));
                }
            }
        }
        query.push(pager.position(self.generation));
        query
    }

    /// One page of a DAG-run list.
    pub(super) async fn run_page(
        &mut self,
        filter: &RunFilter,
        pager: &mut Pager,
    ) -> Result<RunPage, ApiError> {
        let query = self.run_query(filter, pager);
        let url = self.url(&[self.generation.prefix(), "dags/~/dagRuns"], &query);
        let url_shown = url.to_string();
        let answer = self.call(Method::GET, url, None).await?;
        let page: RunPage = self.json(answer)?;
        let key = |r: &ApiDagRun| (r.dag_id.clone(), r.dag_run_id.clone());
        let asked = pager.limit(self.settings.page_size);
        pager
            .advance(PageFacts {
                got: page.dag_runs.len() as u64,
                asked,
                total_entries: page.total_entries,
                total_entries_limit: page.total_entries_limit,
                next_cursor: page.next_cursor.as_deref(),
                fingerprint: fingerprint(
                    page.dag_runs.first().map(key),
                    page.dag_runs.last().map(key),
                ),
            })
            .map_err(|detail| ApiError::BrokenPaging {
                url: url_shown.clone(),
                detail,
                pages: pager.pages(),
            })?;
        Ok(page)
    }

    /// The next page of runs, or None when the list is done.
    pub(super) async fn next_runs(
        &mut self,
        filter: &RunFilter,
        pager: &mut Pager,
    ) -> Result<Option<Vec<ApiDagRun>>, ApiError> {
        if pager.done() {
            return Ok(None);
        }
        Ok(Some(self.run_page(filter, pager).await?.dag_runs))
    }

    /// Streams every run of a list that `keep` accepts into the sink.
    pub(super) async fn copy_runs(
        &mut self,
        filter: &RunFilter,
        rows: &mut RowWriter<'_>,
        sink: &mut ExtractSink<'_>,
        keep: impl Fn(&ApiDagRun) -> bool,
    ) -> Result<(), SourceError> {
        let settings = self.settings;
        let mut pager = Pager::new();
        while let Some(page) = self
            .next_runs(filter, &mut pager)
            .await
            .map_err(api_failure(settings))?
        {
            for run in page.iter().filter(|r| keep(r)) {
                rows.push(run).map_err(unreadable(settings))?;
            }
            if rows.buffer.len() >= 1 << 20 {
                rows.flush(sink)
                    .await
                    .map_err(stage_failure(&settings.instance))?;
            }
        }
        Ok(())
    }

    /// Re-reads runs the warehouse holds as unfinished that the changed-run list did not
    /// return: one request each when they are few, else the list of Airflow's queued and
    /// running runs first. A run Airflow no longer has (404) is left as it is.
    pub(super) async fn reread_unfinished(
        &mut self,
        runs: &[&(String, String)],
        rows: &mut RowWriter<'_>,
        sink: &mut ExtractSink<'_>,
    ) -> Result<(), SourceError> {
        let settings = self.settings;
        let api_error = api_failure(settings);
        if runs.len() as u64 > settings.page_size {
            let filter = RunFilter {
                states: vec!["queued", "running"],
                ..RunFilter::default()
            };
            self.copy_runs(&filter, rows, sink, |_| true).await?;
        }
        for (dag_id, run_id) in runs.iter().map(|r| (&r.0, &r.1)) {
            if rows.seen(dag_id, run_id) {
                continue;
            }
            let url = self.url(&[self.generation.prefix(), "dags"], &[]);
            let mut url = url;
            url.path_segments_mut()
                .expect("an http(s) URL has a path")
                .extend([dag_id.as_str(), "dagRuns", run_id.as_str()]);
            let answer = self.call(Method::GET, url, None).await.map_err(api_error)?;
            if answer.status == StatusCode::NOT_FOUND {
                tracing::info!(instance = %settings.instance, dag_id = %dag_id, run_id = %run_id, "A run the warehouse holds as unfinished is gone from Airflow; its row is kept as it is.");
                continue;
            }
            let run: ApiDagRun = self.json(answer).map_err(api_error)?;
            rows.push(&run).map_err(unreadable(settings))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AF2_PAGE: &str =
        include_str!("../../../tests/fixtures/airflow/api/af2_GET_dags_~_dagRuns.json");
    const AF3_PAGE: &str =
        include_str!("../../../tests/fixtures/airflow/api/af3_GET_dags_~_dagRuns.json");

    #[test]
    fn real_answers_of_both_generations_parse_into_rows() {
        for (text, generation) in [(AF2_PAGE, Generation::V1), (AF3_PAGE, Generation::V2)] {
            let page: RunPage = serde_json::from_str(text).unwrap();
            assert!(!page.dag_runs.is_empty());
            let mut rows = RowWriter::new("x", generation, Utc::now());
            for run in &page.dag_runs {
                rows.push(run).unwrap();
                // A run seen twice is written once.
                rows.push(run).unwrap();
            }
            assert_eq!(rows.written as usize, page.dag_runs.len());
            let text = String::from_utf8(rows.buffer.clone()).unwrap();
            let first = text.lines().next().unwrap();
            // 19 fields; id, clear_number and source_updated_at are NULL (unquoted, empty),
            // and dag_version on Airflow 2.
            let fields: Vec<&str> = first.split(',').collect();
            assert_eq!(fields.len(), 19, "{first}");
            assert_eq!(fields[2], "");
            assert_eq!(fields[15], "");
            assert_eq!(fields[17], "");
            match generation {
                Generation::V1 => assert_eq!(fields[16], ""),
                Generation::V2 => assert_eq!(
                    fields[16],
                    format!("\"{}\"", page.dag_runs[0].dag_versions[0].id)
                ),
            }
        }
    }

    #[test]
    fn a_run_without_a_day_is_refused_naming_it() {
        let run: ApiDagRun =
            serde_json::from_str(r#"{"dag_id": "d", "dag_run_id": "r", "state": null}"#).unwrap();
        let mut rows = RowWriter::new("x", Generation::V2, Utc::now());
        let err = rows.push(&run).unwrap_err();
        assert!(
            err.contains("run r of DAG d has neither logical_date nor run_after"),
            "{err}"
        );
        assert_eq!(rows.written, 0);
    }

    #[test]
    fn cursor_paging_is_recognised_by_its_limit_field() {
        let page: RunPage = serde_json::from_str(AF3_PAGE).unwrap();
        assert!(page.total_entries_limit.is_none(), "offset answer");
    }
}
