//! What every section of the report shares: the [`Section`] trait a section implements, the
//! [`Scope`] it reads for, the [`ReportData`] it becomes part of, and the one error of reading.
//! A section is a module of `sections/`; the page (`page.rs`) draws them in order.

use std::any::Any;
use std::fmt::Debug;

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::BoxFuture;
use tokio_postgres::Client;

use crate::db::SqlError;

/// The report's figures could not be read.
#[derive(Debug, thiserror::Error)]
#[error("report: could not {step} in the warehouse")]
pub struct ReportError {
    pub(super) step: &'static str,
    #[source]
    pub(super) source: SqlError,
}

pub(super) fn sql_error(step: &'static str) -> impl FnOnce(tokio_postgres::Error) -> ReportError {
    move |e| ReportError {
        step,
        source: e.into(),
    }
}

/// The DAGs a filtered report shows (`--owner`, `--tag`): parallel arrays of their instances
/// and ids, as the report's SQL takes them.
#[derive(Debug, Clone, Default)]
pub struct DagSet {
    /// Each DAG's instance.
    pub instances: Vec<String>,
    /// Each DAG's id.
    pub dag_ids: Vec<String>,
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
    /// Only these DAGs, when the report is filtered by owner or tag.
    pub dags: Option<&'a DagSet>,
}

impl Scope<'_> {
    /// The DAG filter as the SQL's two array parameters (both NULL for every DAG).
    pub fn dag_arrays(&self) -> (Option<&Vec<String>>, Option<&Vec<String>>) {
        (
            self.dags.map(|d| &d.instances),
            self.dags.map(|d| &d.dag_ids),
        )
    }
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
    /// The filter by owner or tag in words ("owner team-a, tag finance: 12 DAGs"), when asked.
    pub filter: Option<String>,
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
