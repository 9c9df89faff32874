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
pub mod sections;
pub mod svg;
mod text;

use std::any::Any;
use std::fmt::Debug;

use chrono::{DateTime, Days, NaiveDate, Utc};
use futures_util::future::BoxFuture;
use tokio_postgres::Client;

use crate::db::SqlError;

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

/// What a section reads for: the warehouse, the period and the instance shown.
#[derive(Clone, Copy)]
pub struct Scope<'a> {
    /// The warehouse.
    pub client: &'a Client,
    /// The reporting time zone.
    pub time_zone: &'a str,
    /// Only this instance, when one was asked for.
    pub instance: Option<&'a str>,
    /// The period's first day.
    pub from: NaiveDate,
    /// The period's last day.
    pub to: NaiveDate,
    /// The period's length in days.
    pub days: u32,
}

/// One section of the page: the figures it read, and how it draws them.
pub trait Section: Any + Debug + Send + Sync {
    /// Draws the section into the page.
    fn render(&self, page: &mut String, data: &ReportData);
    /// Whether it holds figures of the period (with none in any section, the page says "No
    /// data yet").
    fn has_data(&self) -> bool {
        false
    }
    /// Whether it is drawn when the period has no data.
    fn shown_when_empty(&self) -> bool {
        false
    }
}

/// A section's reading: its figures for a scope, as the section that draws them.
pub type Gather = for<'a> fn(&'a Scope<'a>) -> BoxFuture<'a, Result<Box<dyn Section>, ReportError>>;

/// Everything on the page.
#[derive(Debug)]
pub struct ReportData {
    /// When it was made.
    pub generated_at: DateTime<Utc>,
    /// The reporting time zone.
    pub time_zone: String,
    /// Only this instance, when one was asked for.
    pub instance: Option<String>,
    /// The period's days, in order.
    pub days: Vec<NaiveDate>,
    /// The sections, in page order.
    pub sections: Vec<Box<dyn Section>>,
}

impl ReportData {
    /// Whether the period holds anything to show.
    pub fn is_empty(&self) -> bool {
        !self.sections.iter().any(|s| s.has_data())
    }

    /// The section of type `T`, when the page has one.
    pub fn section<T: Section>(&self) -> Option<&T> {
        self.sections.iter().find_map(|s| {
            let any: &dyn Any = s.as_ref();
            any.downcast_ref::<T>()
        })
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
    let from = today - Days::new(u64::from(days) - 1);
    let scope = Scope {
        client,
        time_zone,
        instance,
        from,
        to: today,
        days,
    };
    let mut sections = Vec::with_capacity(sections::ALL.len());
    for gather in sections::ALL {
        sections.push(gather(&scope).await?);
    }
    Ok(ReportData {
        generated_at: Utc::now(),
        time_zone: time_zone.to_string(),
        instance: instance.map(str::to_string),
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
