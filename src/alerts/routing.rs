//! Which routes get an alert: the DAGs it is about (its subject for a DAG's alert, the DAGs of
//! the file for an import error, none for a scheduler, pool or validation test), their owners
//! and tags from the catalogue, and the configured routes ([`crate::config::routes_of`]).

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::error::{AlertError, sql_error};
use super::rule::Subject;
use super::rules;
use crate::config::{Addressee, Route, routes_of};

const DAG_FACTS_SQL: &str = include_str!("../../sql/alerts/dag_facts.sql");

/// One alert, as routing sees it.
#[derive(Debug, Clone)]
pub struct Routable {
    /// The Airflow instance (or a validation test's database).
    pub instance: String,
    /// The DAGs it is about.
    pub dag_ids: Vec<String>,
}

impl Routable {
    /// The alert of `rule` about `subject`, with its stored details.
    pub fn of(rule: &str, instance: &str, subject: &str, details: &serde_json::Value) -> Self {
        let dag_ids = match rules::named(rule).map_or(Subject::Dag, |r| r.subject()) {
            Subject::Dag => vec![subject.to_string()],
            Subject::DagFile => details["dag_ids"]
                .as_array()
                .map(|ids| {
                    ids.iter()
                        .filter_map(|d| d.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default(),
            Subject::Objective => details["dag_id"]
                .as_str()
                .map(|d| vec![d.to_string()])
                .unwrap_or_default(),
            Subject::Instance | Subject::Pool | Subject::ValidationTest => Vec::new(),
        };
        Routable {
            instance: instance.to_string(),
            dag_ids,
        }
    }
}

/// The owners and tags of the DAGs some alerts are about.
#[derive(Debug, Default)]
pub struct DagFacts(BTreeMap<(String, String), (Vec<String>, Vec<String>)>);

impl DagFacts {
    /// Reads the catalogue's owners and tags of every DAG of `alerts` (nothing when no route
    /// matches on owners or tags).
    pub async fn read(
        warehouse: &Client,
        routes: &[Route],
        alerts: &[&Routable],
    ) -> Result<DagFacts, AlertError> {
        let mut facts = DagFacts::default();
        if !routes
            .iter()
            .any(|r| !r.matcher.owners.is_empty() || !r.matcher.tags.is_empty())
        {
            return Ok(facts);
        }
        let (instances, dags): (Vec<&str>, Vec<&str>) = alerts
            .iter()
            .flat_map(|a| a.dag_ids.iter().map(|d| (a.instance.as_str(), d.as_str())))
            .unzip();
        if dags.is_empty() {
            return Ok(facts);
        }
        for r in warehouse
            .query(DAG_FACTS_SQL, &[&instances, &dags])
            .await
            .map_err(sql_error("read the owners and tags of the alerts' DAGs"))?
        {
            facts.0.insert(
                (r.get("airflow_instance"), r.get("dag_id")),
                (r.get("owners"), r.get("tags")),
            );
        }
        Ok(facts)
    }

    /// The labels of the routes that get `alert`.
    pub fn routes_of<'r>(&self, routes: &'r [Route], alert: &Routable) -> Vec<&'r str> {
        const NONE: &[String] = &[];
        let to = Addressee {
            instance: &alert.instance,
            dags: alert
                .dag_ids
                .iter()
                .map(|d| {
                    let (owners, tags) = self
                        .0
                        .get(&(alert.instance.clone(), d.clone()))
                        .map_or((NONE, NONE), |(o, t)| (o.as_slice(), t.as_slice()));
                    (d.as_str(), owners, tags)
                })
                .collect(),
        };
        routes_of(routes, &to)
    }
}
