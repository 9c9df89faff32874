//! What reconcile asks of the API: every run of some days, digested as the database source's
//! SQL digests them (`finished_runs_per_day`), or with the facts reconcile compares
//! (`runs_on_days`).

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Duration, NaiveDate, Utc};
use md5::{Digest, Md5};

use super::client::{AirflowApi, Session};
use super::dag_runs::{ApiDagRun, window_filters};
use super::error::ApiError;
use super::paging::Pager;
use super::rows::parse_instant;
use crate::source::{DayBounds, DayDigest, RunFacts, SourceError};

impl AirflowApi<'_> {
    /// See [`super::Source::finished_runs_per_day`]: lists the window's finished runs changed at
    /// or before `changed_until` and digests them as the SQL of the database source does.
    pub async fn finished_runs_per_day(
        &self,
        days: &DayBounds,
        changed_until: DateTime<Utc>,
    ) -> Result<BTreeMap<NaiveDate, DayDigest>, SourceError> {
        let mut session = Session::open(self.settings).await.map_err(self.error())?;
        let runs = session
            .runs_of_days(days, Some(changed_until), &["success", "failed"])
            .await
            .map_err(self.error())?;
        let mut lines: BTreeMap<NaiveDate, Vec<(String, String, String)>> = BTreeMap::new();
        for (day, run) in runs {
            let end = match run.end_date.as_deref().map(parse_instant) {
                Some(Ok(end)) => end.format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
                _ => "-".to_string(),
            };
            let state = run.state.clone().unwrap_or_default();
            lines.entry(day).or_default().push((
                run.dag_id.clone(),
                run.dag_run_id.clone(),
                format!("{} {} {state} {end}", run.dag_id, run.dag_run_id),
            ));
        }
        Ok(lines
            .into_iter()
            .map(|(day, mut runs)| {
                // The SQL orders by dag_id, run_id in the "C" collation: bytewise, as Rust does.
                runs.sort();
                let text = runs
                    .iter()
                    .map(|(_, _, line)| line.as_str())
                    .collect::<Vec<_>>()
                    .join("\n");
                let digest = Md5::digest(text.as_bytes())
                    .iter()
                    .map(|b| format!("{b:02x}"))
                    .collect();
                let finished = runs.len() as i64;
                (day, DayDigest { finished, digest })
            })
            .collect())
    }

    /// See [`super::Source::runs_on_days`]. The API does not say when a run last changed: a run
    /// changed after `changed_until` gets an `updated_at` just after it, the rest none.
    pub async fn runs_on_days(
        &self,
        days: &DayBounds,
        wanted: &[NaiveDate],
        changed_until: DateTime<Utc>,
    ) -> Result<Vec<RunFacts>, SourceError> {
        let mut session = Session::open(self.settings).await.map_err(self.error())?;
        let runs = session
            .runs_of_days(days, None, &[])
            .await
            .map_err(self.error())?;
        let after = changed_until + Duration::microseconds(1);
        let mut changed_since: HashSet<(String, String)> = HashSet::new();
        let (start, end) = days.range();
        for filter in window_filters(session.generation, start, end, Some(after)) {
            let mut pager = Pager::new();
            while let Some(page) = session
                .next_runs(&filter, &mut pager)
                .await
                .map_err(self.error())?
            {
                changed_since.extend(page.into_iter().map(|r| (r.dag_id, r.dag_run_id)));
            }
        }
        Ok(runs
            .into_iter()
            .filter(|(day, _)| wanted.contains(day))
            .map(|(day, run)| {
                let changed = changed_since.contains(&(run.dag_id.clone(), run.dag_run_id.clone()));
                RunFacts {
                    day,
                    end_date: run.end_date.as_deref().and_then(|t| parse_instant(t).ok()),
                    state: run.state,
                    dag_id: run.dag_id,
                    run_id: run.dag_run_id,
                    updated_at: changed.then_some(after),
                }
            })
            .collect())
    }
}

impl Session<'_> {
    /// Every run whose day (logical date, else `run_after`) is one of `days`, with its day;
    /// only those in `states` (all when empty) and changed at or before `changed_until`.
    pub(super) async fn runs_of_days(
        &mut self,
        days: &DayBounds,
        changed_until: Option<DateTime<Utc>>,
        states: &[&'static str],
    ) -> Result<Vec<(NaiveDate, ApiDagRun)>, ApiError> {
        let (start, end) = days.range();
        let mut seen = HashSet::new();
        let mut runs = Vec::new();
        for mut filter in window_filters(self.generation, start, end, None) {
            filter.updated_at_lte = changed_until;
            filter.states = states.to_vec();
            let mut pager = Pager::new();
            while let Some(page) = self.next_runs(&filter, &mut pager).await? {
                for run in page {
                    let Some(day) = run.day_instant().and_then(|t| days.day_of(t)) else {
                        continue;
                    };
                    if seen.insert((run.dag_id.clone(), run.dag_run_id.clone())) {
                        runs.push((day, run));
                    }
                }
            }
        }
        Ok(runs)
    }
}
