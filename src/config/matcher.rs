//! Which DAGs a route or an objective is about: `instance`, `dag_id`, `owner`, `tag`, each a
//! comma-separated list of exact, case-sensitive names as Airflow shows them. A DAG matches
//! when every key set matches (`owner`: any of its owners is listed; `tag` likewise).

use super::error::ConfigError;
use super::ini::Section;

/// The matcher keys of a `[route_*]` or `[objective_*]` section.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DagMatcher {
    /// Airflow instances (empty: any).
    pub instances: Vec<String>,
    /// DAG ids (empty: any).
    pub dag_ids: Vec<String>,
    /// DAG owners (empty: any).
    pub owners: Vec<String>,
    /// DAG tags (empty: any).
    pub tags: Vec<String>,
}

/// What a matcher is matched against: an instance and, when it is about DAGs, each of them with
/// its owners and tags as the catalogue last read them.
#[derive(Debug, Clone, Default)]
pub struct Addressee<'a> {
    /// The Airflow instance (or a validation test's database).
    pub instance: &'a str,
    /// The DAGs: (dag_id, owners, tags). Empty for something that is no DAG.
    pub dags: Vec<(&'a str, &'a [String], &'a [String])>,
}

impl DagMatcher {
    /// Reads the four keys of `s`.
    pub(super) fn read(s: &mut Section) -> Result<DagMatcher, ConfigError> {
        let mut list = |key: &str| -> Result<Vec<String>, ConfigError> {
            let Some(text) = s.string(key)? else {
                return Ok(Vec::new());
            };
            let names: Vec<String> = text
                .split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .map(str::to_string)
                .collect();
            if names.is_empty() {
                return Err(s.invalid(key, &text, "one or more names, separated by commas"));
            }
            Ok(names)
        };
        Ok(DagMatcher {
            instances: list("instance")?,
            dag_ids: list("dag_id")?,
            owners: list("owner")?,
            tags: list("tag")?,
        })
    }

    /// Whether no key is set (it would match everything).
    pub fn is_empty(&self) -> bool {
        self.instances.is_empty()
            && self.dag_ids.is_empty()
            && self.owners.is_empty()
            && self.tags.is_empty()
    }

    /// Whether only `instance` is set (something that is no DAG can still match).
    pub fn instances_only(&self) -> bool {
        self.dag_ids.is_empty() && self.owners.is_empty() && self.tags.is_empty()
    }

    /// Whether it matches `to`: its instance, and (unless only instances are set) one of its DAGs.
    pub fn takes(&self, to: &Addressee) -> bool {
        if !self.instances.is_empty() && !self.instances.iter().any(|i| i == to.instance) {
            return false;
        }
        if self.instances_only() {
            return true;
        }
        to.dags
            .iter()
            .any(|(dag_id, owners, tags)| self.takes_dag(dag_id, owners, tags))
    }

    /// Whether the DAG `dag_id` with `owners` and `tags` matches (the instance aside).
    pub fn takes_dag(&self, dag_id: &str, owners: &[String], tags: &[String]) -> bool {
        (self.dag_ids.is_empty() || self.dag_ids.iter().any(|d| d == dag_id))
            && (self.owners.is_empty() || owners.iter().any(|o| self.owners.contains(o)))
            && (self.tags.is_empty() || tags.iter().any(|t| self.tags.contains(t)))
    }

    /// The keys set, in words: "owner finance, billing and tag pii".
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        for (key, names) in [
            ("instance", &self.instances),
            ("dag_id", &self.dag_ids),
            ("owner", &self.owners),
            ("tag", &self.tags),
        ] {
            if !names.is_empty() {
                parts.push(format!("{key} {}", names.join(", ")));
            }
        }
        parts.join(" and ")
    }
}
