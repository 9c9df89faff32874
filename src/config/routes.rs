//! Alert routes (`[route_<label>]`): which team's webhook gets the notices of which DAGs.
//!
//! A route names its webhook and at least one matcher: `instance`, `dag_id`, `owner`, `tag`,
//! each a comma-separated list of exact names. A route takes an alert when every matcher it sets
//! matches (an alert's DAG matches `owner` when any of its owners is listed, `tag` likewise);
//! the lists are exact, case-sensitive names, as Airflow shows them. An alert goes to every
//! route that takes it, and to the default route (`[alerts] webhook_url`, else
//! `[validate] webhook_url`) only when no route takes it. Alerts about something other than a
//! DAG (a scheduler, a pool, a validation test) have no DAG: only a route that sets nothing but
//! `instance` can take them. A DAG file's import error is about the DAGs of that file.

use super::error::ConfigError;
use super::ini::{Parser, Section};
use super::matcher::{Addressee, DagMatcher};
use super::types::Secret;

/// The label `pipewatch alerts --route` gives the default route.
pub const DEFAULT_ROUTE: &str = "default";

/// One `[route_<label>]`.
#[derive(Debug, Clone, PartialEq)]
pub struct Route {
    /// The label (the section's name after `route_`).
    pub label: String,
    /// The section, for messages.
    pub section: String,
    /// Where its notices are posted (Slack-compatible JSON).
    pub webhook_url: Secret,
    /// The DAGs it takes.
    pub matcher: DagMatcher,
}

impl Route {
    /// Whether the route takes an alert about `to`.
    pub fn takes(&self, to: &Addressee) -> bool {
        self.matcher.takes(to)
    }
}

/// The labels of the routes that get an alert about `to`: every route that takes it, else the
/// default route.
pub fn routes_of<'r>(routes: &'r [Route], to: &Addressee) -> Vec<&'r str> {
    let taken: Vec<&str> = routes
        .iter()
        .filter(|r| r.takes(to))
        .map(|r| r.label.as_str())
        .collect();
    if taken.is_empty() {
        vec![DEFAULT_ROUTE]
    } else {
        taken
    }
}

impl Parser<'_> {
    /// A `[route_<label>]` section.
    pub(super) fn route(&self, mut s: Section) -> Result<Route, ConfigError> {
        let label = s
            .name
            .strip_prefix("route_")
            .unwrap_or_default()
            .to_string();
        if label.is_empty() {
            return Err(ConfigError::Rule {
                path: self.path.to_path_buf(),
                message: format!(
                    "[{}] needs a label: name the section [route_<label>], such as [route_finance]",
                    s.name
                ),
            });
        }
        if label == DEFAULT_ROUTE {
            return Err(ConfigError::Rule {
                path: self.path.to_path_buf(),
                message: "[route_default] is reserved: the default route is [alerts] webhook_url (or [validate] webhook_url); name this route otherwise".to_string(),
            });
        }
        let webhook_url = s.webhook_url()?.ok_or_else(|| ConfigError::Rule {
            path: self.path.to_path_buf(),
            message: format!(
                "[{}] has no webhook_url (or webhook_url_file): a route posts its DAGs' notices there",
                s.name
            ),
        })?;
        let matcher = DagMatcher::read(&mut s)?;
        let route = Route {
            label,
            section: s.name.clone(),
            webhook_url,
            matcher,
        };
        // A misspelt matcher key is the likelier cause of a route that matches nothing.
        s.finish()?;
        if route.matcher.is_empty() {
            return Err(ConfigError::Rule {
                path: self.path.to_path_buf(),
                message: format!(
                    "[{}] matches nothing: set owner, tag, dag_id or instance (a route for everything is the default route, [alerts] webhook_url)",
                    route.section
                ),
            });
        }
        Ok(route)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(label: &str, instances: &[&str], owners: &[&str], tags: &[&str]) -> Route {
        let v = |x: &[&str]| x.iter().map(|s| s.to_string()).collect();
        Route {
            label: label.into(),
            section: format!("route_{label}"),
            webhook_url: Secret::new("https://hooks.example.com/x"),
            matcher: DagMatcher {
                instances: v(instances),
                dag_ids: Vec::new(),
                owners: v(owners),
                tags: v(tags),
            },
        }
    }

    #[test]
    fn an_alert_goes_to_every_route_that_takes_it_else_to_the_default() {
        let routes = [
            route("finance", &[], &["finance"], &[]),
            route("pii", &[], &[], &["pii"]),
            route("prod", &["prod"], &[], &[]),
        ];
        let owners = vec!["finance".to_string()];
        let tags = vec!["pii".to_string()];
        let none: Vec<String> = Vec::new();
        let dag = |instance, owners, tags| Addressee {
            instance,
            dags: vec![("orders", owners, tags)],
        };
        assert_eq!(
            routes_of(&routes, &dag("dev", &owners, &tags)),
            ["finance", "pii"]
        );
        assert_eq!(routes_of(&routes, &dag("dev", &none, &none)), ["default"]);
        assert_eq!(routes_of(&routes, &dag("prod", &none, &none)), ["prod"]);
        // A scheduler alert has no DAG: only the instance route takes it.
        let scheduler = Addressee {
            instance: "prod",
            dags: Vec::new(),
        };
        assert_eq!(routes_of(&routes, &scheduler), ["prod"]);
        // Every matcher a route sets must match.
        let both = [route("both", &["prod"], &["finance"], &[])];
        assert_eq!(routes_of(&both, &dag("dev", &owners, &none)), ["default"]);
        assert_eq!(routes_of(&both, &dag("prod", &owners, &none)), ["both"]);
    }
}
