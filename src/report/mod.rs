//! `pipewatch report`: one self-contained HTML page of the period's figures, for people who do
//! not open Grafana (attach it to an email, open it offline, print it).
//!
//! [`gather`] asks each section of [`sections::ALL`] to read its figures from the warehouse (the
//! daily models, the task question functions, the run log); [`page::render`] draws the page
//! around them, each section drawing itself, with charts drawn here as SVG ([`svg`]). The page
//! has no script, no font and no link that loads anything: it is complete as one file.
//!
//! The layout: `sections/` holds one module per section (its data, its SQL, its drawing);
//! `page.rs` the document around them and the digest; `svg.rs` the charts; `escape.rs` and
//! `text.rs` how names and figures are written, shared by all of them.

mod escape;
pub mod page;
mod section;
pub mod sections;
pub mod svg;
mod text;

use chrono::{Days, NaiveDate, Utc};
use tokio_postgres::Client;

pub use self::section::{DagSet, Gather, ReportData, ReportError, Scope, Section};

/// What a report is filtered by: the DAGs of an owner, of a tag, or both.
#[derive(Debug, Clone, Default)]
pub struct DagFilter {
    /// Only DAGs with this owner (`report --owner`).
    pub owner: Option<String>,
    /// Only DAGs with this tag (`report --tag`).
    pub tag: Option<String>,
}

const DAG_FILTER_SQL: &str = include_str!("../../sql/report/dag_filter.sql");

/// The DAGs `filter` selects from the catalogue (None when it selects nothing to filter by).
pub async fn dags_of(
    client: &Client,
    instance: Option<&str>,
    filter: &DagFilter,
) -> Result<Option<DagSet>, ReportError> {
    if filter.owner.is_none() && filter.tag.is_none() {
        return Ok(None);
    }
    let mut set = DagSet::default();
    for r in client
        .query(DAG_FILTER_SQL, &[&instance, &filter.owner, &filter.tag])
        .await
        .map_err(section::sql_error("find the DAGs of the owner or tag"))?
    {
        set.instances.push(r.get("airflow_instance"));
        set.dag_ids.push(r.get("dag_id"));
    }
    Ok(Some(set))
}

/// Reads the report's figures for the `days` days ending `today` (and the days before, for the
/// comparison), for one instance or all, and for the DAGs of `dags` (from [`dags_of`]) or all;
/// `filter` says in words what `dags` was chosen by.
pub async fn gather(
    client: &Client,
    time_zone: &str,
    today: NaiveDate,
    days: u32,
    instance: Option<&str>,
    dags: Option<&DagSet>,
    filter: Option<String>,
) -> Result<ReportData, ReportError> {
    let days = days.max(1);
    let from = today - Days::new(u64::from(days) - 1);
    let scope = Scope {
        client,
        time_zone,
        instance,
        from,
        to: today,
        days,
        dags,
    };
    let mut sections = Vec::with_capacity(sections::ALL.len());
    for gather in sections::ALL {
        sections.push(gather(&scope).await?);
    }
    Ok(ReportData {
        generated_at: Utc::now(),
        time_zone: time_zone.to_string(),
        instance: instance.map(str::to_string),
        filter,
        days: from.iter_days().take(days as usize).collect(),
        sections,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_period_says_no_data_yet_and_loads_nothing() {
        let data = ReportData {
            generated_at: Utc::now(),
            time_zone: "Europe/Berlin".into(),
            instance: None,
            filter: None,
            days: vec![NaiveDate::from_ymd_opt(2025, 3, 1).unwrap()],
            sections: vec![
                Box::new(sections::headline::Headline::default()),
                Box::new(sections::open_alerts::OpenAlerts::default()),
                Box::new(sections::dags::Dags::default()),
                Box::new(sections::validation::Validation::default()),
                Box::new(sections::health::Health::default()),
            ],
        };
        let page = page::render(&data);
        assert!(page.contains("No data yet"));
        assert!(page.contains("Europe/Berlin"));
        for external in ["<script", "<link", "@import", "url(", "src="] {
            assert!(!page.contains(external), "{external} in the page");
        }
    }
}
