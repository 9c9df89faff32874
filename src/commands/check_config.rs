//! `pipewatch check-config`: validates the configuration, then tries every connection.
//!
//! The configuration is validated first (a problem there is a usage error, reported by the
//! caller before this runs). Then each configured connection is tried on its own: the
//! warehouse (and whether its schema is migrated), every Airflow metadata database (and which
//! `dag_run` layout it has, and whether it keeps earlier task tries), the stage, and the
//! `[prometheus]` destinations. Each is reported as `ok` or with the exact failure;
//! nothing is written anywhere except a probe file in a local stage folder, removed at once.
//! check-config does not migrate: it reports pending migrations instead.

use std::fmt;

use super::Report;
use crate::Outcome;
use crate::config::Settings;
use crate::context::RunContext;
use crate::db::{self, Role};
use crate::migrate;
use crate::reporting::{self, TimeZoneError};
use crate::source::Source;
use crate::stage::ObjectStore;

/// Why a check failed: the error of whatever was tried, with its causes.
pub type CheckFailure = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result of one check.
#[derive(Debug)]
pub struct Check {
    /// What was checked (`warehouse`, `airflow default`, `staging`).
    pub name: String,
    /// `Ok(detail)` or `Err(failure)`.
    pub result: Result<String, CheckFailure>,
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.result {
            Ok(detail) => write!(f, "ok      {:<18} {detail}", self.name),
            Err(failure) => write!(
                f,
                "FAILED  {:<18} {}",
                self.name,
                db::error_chain(&**failure)
            ),
        }
    }
}

/// All checks of one run.
#[derive(Debug)]
pub struct CheckReport {
    /// The checks, in order.
    pub checks: Vec<Check>,
    /// Whether a setting proved unusable (exit 2, as for an invalid file).
    pub configuration_invalid: bool,
}

impl CheckReport {
    /// Whether every check passed.
    pub fn all_ok(&self) -> bool {
        self.checks.iter().all(|c| c.result.is_ok())
    }
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.checks.iter().try_for_each(|c| writeln!(f, "{c}"))
    }
}

impl Report for CheckReport {
    fn outcome(&self) -> Outcome {
        if self.configuration_invalid {
            Outcome::Usage
        } else if self.all_ok() {
            Outcome::Success
        } else {
            Outcome::ChecksFailed
        }
    }
}

/// Runs every check; never fails as a whole: each failure is in the report.
pub async fn run(settings: &Settings, ctx: &RunContext) -> CheckReport {
    let mut checks = vec![Check {
        name: "configuration".into(),
        result: Ok(format!("{} is valid", settings.path.display())),
    }];
    let mut configuration_invalid = false;
    match check_warehouse(settings, ctx).await {
        Err(failure) => checks.push(Check {
            name: "warehouse".into(),
            result: Err(failure),
        }),
        Ok((detail, client)) => {
            checks.push(Check {
                name: "warehouse".into(),
                result: Ok(detail),
            });
            // The reporting time zone is judged by the warehouse's PostgreSQL (on the same
            // connection), whose list every day computation uses; an unknown one is a
            // configuration error.
            let zone = reporting::today_in_zone(&client, &settings.time_zone).await;
            configuration_invalid = matches!(&zone, Err(TimeZoneError::Unknown { .. }));
            let objectives = objective_checks(&client, settings).await;
            configuration_invalid |= objectives.iter().any(|c| c.result.is_err());
            checks.push(Check {
                name: "time zone".into(),
                result: zone
                    .map(|today| {
                        format!(
                            "[reporting] time_zone {} is known to the warehouse; today there is {today}",
                            settings.time_zone
                        )
                    })
                    .map_err(CheckFailure::from),
            });
            checks.extend(objectives);
        }
    }
    if settings.sources().is_empty() {
        checks.push(Check {
            name: "airflow".into(),
            result: Err(
                "no Airflow source: add an [airflowdb_config] section for each metadata database, or an [airflow_api] section for each Airflow read through its REST API"
                    .into(),
            ),
        });
    }
    for instance in settings.sources() {
        checks.push(Check {
            name: format!("airflow {}", instance.instance()),
            result: check_airflow(instance, &settings.extract, ctx).await,
        });
    }
    checks.push(Check {
        name: "staging".into(),
        result: check_stage(settings).await,
    });
    let prometheus = &settings.prometheus;
    if let Some(directory) = &prometheus.textfile_directory {
        checks.push(Check {
            name: "prometheus file".into(),
            result: crate::metrics::check_textfile(directory).map_err(CheckFailure::from),
        });
    }
    if let Some(url) = &prometheus.pushgateway_url {
        checks.push(Check {
            name: "pushgateway".into(),
            result: crate::metrics::check_pushgateway(url, prometheus.pushgateway_timeout_seconds)
                .await
                .map_err(CheckFailure::from),
        });
    }
    checks.push(Check {
        name: "alerts".into(),
        result: Ok(alerts_note(settings)),
    });
    CheckReport {
        checks,
        configuration_invalid,
    }
}

const PRIVILEGES_SQL: &str = include_str!("../../sql/migrate/privileges.sql");

/// What the warehouse role may do with pipewatch's schema, in words; an error when it may not
/// even read it (or create it, when it does not exist), naming the GRANT that fixes it.
async fn check_privileges(
    client: &tokio_postgres::Client,
    wh: &crate::config::PostgresSettings,
) -> Result<String, CheckFailure> {
    let schema = wh.schema.as_str();
    let user = &wh.username;
    let rows = client.query(PRIVILEGES_SQL, &[&schema]).await?;
    let first = rows.first().ok_or("the privilege query returned no row")?;
    let fix = "README, \"The warehouse database and its roles\"";
    if !first.get::<_, bool>("schema_exists") {
        return if first.get("can_create_schema") {
            Ok(format!(
                "role {user:?} may create schema {schema} (the loader's first `pipewatch run` or `pipewatch migrate` does)"
            ))
        } else {
            Err(format!(
                "schema {schema} does not exist and role {user:?} may not create it: as a superuser, GRANT CREATE ON DATABASE {} TO {user}, or set [warehouse] schema to an existing one ({fix})",
                wh.database
            )
            .into())
        };
    }
    if !first.get::<_, bool>("can_use_schema") {
        return Err(format!(
            "role {user:?} may not use schema {schema}: GRANT USAGE ON SCHEMA {schema} TO {user} ({fix})"
        )
        .into());
    }
    let tables: Vec<(String, bool, bool)> = rows
        .iter()
        .filter_map(|r| {
            let name: Option<String> = r.get("table_name");
            name.map(|n| (n, r.get("owns"), r.get("can_read")))
        })
        .collect();
    let examples = |names: Vec<&str>| {
        let shown: Vec<&str> = names.iter().take(3).copied().collect();
        format!(
            "{}{}",
            shown.join(", "),
            if names.len() > shown.len() {
                ", ..."
            } else {
                ""
            }
        )
    };
    let unreadable: Vec<&str> = tables
        .iter()
        .filter(|t| !t.2)
        .map(|t| t.0.as_str())
        .collect();
    if !unreadable.is_empty() {
        return Err(format!(
            "role {user:?} may not read {} of schema {schema} ({}): GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {user} ({fix})",
            crate::format::plural(unreadable.len() as u64, "table", "tables"),
            examples(unreadable)
        )
        .into());
    }
    let not_owned: Vec<&str> = tables
        .iter()
        .filter(|t| !t.1)
        .map(|t| t.0.as_str())
        .collect();
    let lacks = match (not_owned.len(), first.get::<_, bool>("can_create_tables")) {
        (0, true) => {
            return Ok(format!(
                "role {user:?} owns every table of schema {schema}: it can run every command"
            ));
        }
        (0, false) => format!("may not create tables in {schema}"),
        (n, _) => format!(
            "does not own {} ({})",
            crate::format::plural(n as u64, "table", "tables"),
            examples(not_owned)
        ),
    };
    Ok(format!(
        "role {user:?} can read schema {schema} (report, alerts without --evaluate, status, dashboards) but {lacks}: the loading commands (run, extract, load, transform, backfill, reconcile, validate, retention, migrate, alerts --evaluate) need the role that owns the schema's tables"
    ))
}

/// The warehouse line, and the connection for the checks that follow it.
async fn check_warehouse(
    settings: &Settings,
    ctx: &RunContext,
) -> Result<(String, tokio_postgres::Client), CheckFailure> {
    let wh = &settings.warehouse;
    let client = db::connect(wh, Role::Warehouse, ctx.run_id).await?;
    // Privileges first: a role that may not use the schema cannot read its migrations either.
    let privileges = check_privileges(&client, wh).await?;
    let status = migrate::status(&client, &wh.schema).await?;
    let schema_note = if status.pending.is_empty() {
        format!(
            "schema {} is up to date ({} migrations applied)",
            wh.schema, status.applied
        )
    } else {
        format!(
            "schema {}: {} migrations pending (applied by `pipewatch migrate` or the next run)",
            wh.schema,
            status.pending.len()
        )
    };
    Ok((
        format!(
            "connected to {} as {:?}; {schema_note}; {privileges}",
            wh.address(),
            wh.username
        ),
        client,
    ))
}

async fn check_airflow(
    instance: crate::config::SourceSettings<'_>,
    extract: &crate::config::ExtractSettings,
    ctx: &RunContext,
) -> Result<String, CheckFailure> {
    let source = Source::new(instance);
    let line = source.check(extract.task_instances, ctx).await?;
    if !extract.catalog {
        return Ok(format!(
            "{line}; the DAG catalogue is not read ([extract] catalog = false)"
        ));
    }
    Ok(format!("{line}; {}", source.check_catalog(ctx).await?))
}

async fn check_stage(settings: &Settings) -> Result<String, CheckFailure> {
    let store = ObjectStore::from_settings(&settings.staging).await?;
    Ok(store.check().await?)
}

/// Each objective with the DAGs it matches in the warehouse's DAG catalogue; one that matches
/// no DAG the catalogue ever held is a configuration error (a misspelt name). Before the first
/// catalogue reading nothing can be matched, and that is said instead.
async fn objective_checks(client: &tokio_postgres::Client, settings: &Settings) -> Vec<Check> {
    if settings.objectives.is_empty() {
        return Vec::new();
    }
    let dags = crate::objectives::catalogue(client).await;
    settings
        .objectives
        .iter()
        .map(|o| {
            let result = match &dags {
                // A warehouse not migrated yet has no catalogue (the first run makes it).
                Err(_) => Ok(format!(
                    "{}; DAGs not matched yet: the warehouse has no DAG catalogue until the first `pipewatch run`",
                    o.describe()
                )),
                Ok(dags) if dags.is_empty() => Ok(format!(
                    "{}; DAGs not matched yet: the DAG catalogue is empty until the first `pipewatch run`",
                    o.describe()
                )),
                Ok(dags) => {
                    let matched: Vec<String> = crate::objectives::matched(o, dags)
                        .map(|d| {
                            let gone = if d.in_airflow { "" } else { " (gone from Airflow)" };
                            format!("{}/{}{gone}", d.instance, d.dag_id)
                        })
                        .collect();
                    if matched.is_empty() {
                        Err(format!(
                            "[{}] matches no DAG of the catalogue ({}): fix its dag_id, owner, tag or instance",
                            o.section,
                            o.matcher.describe()
                        )
                        .into())
                    } else {
                        let shown = matched.len().min(20);
                        let more = if matched.len() > shown {
                            format!(", and {} more", matched.len() - shown)
                        } else {
                            String::new()
                        };
                        Ok(format!(
                            "{}; matches {}: {}{more}",
                            o.describe(),
                            crate::format::plural(matched.len() as u64, "DAG", "DAGs"),
                            matched[..shown].join(", ")
                        ))
                    }
                }
            };
            Check {
                name: format!("objective {}", o.label),
                result,
            }
        })
        .collect()
}

/// Whether alerts are on, which rules the configuration turns on, and where notices go: alerts
/// that are off or go nowhere are said so, never left silent.
fn alerts_note(settings: &Settings) -> String {
    let Some(alerts) = &settings.alerts else {
        return "off: no [alerts] section, so no rule is evaluated (see pipeline.conf.example)"
            .to_string();
    };
    let on: Vec<_> = crate::alerts::rules::ALL
        .iter()
        .filter(|r| r.configured(alerts))
        .collect();
    let rules = if on.is_empty() {
        "on, but every rule is off, so nothing is judged".to_string()
    } else {
        let names: Vec<&str> = on.iter().map(|r| r.name()).collect();
        format!("rules on: {}", names.join(", "))
    };
    let notices = match (&alerts.webhook_url, &settings.validate.webhook_url) {
        (Some(_), _) => "notices go to [alerts] webhook_url",
        (None, Some(_)) => "notices go to [validate] webhook_url",
        (None, None) => {
            "no webhook: alerts are recorded (alert_history, `pipewatch alerts`) but no notice is sent; set [alerts] webhook_url"
        }
    };
    if alerts.routes.is_empty() {
        return format!("{rules}; {notices}");
    }
    let labels: Vec<&str> = alerts.routes.iter().map(|r| r.label.as_str()).collect();
    let rest = if settings.alert_webhook().is_some() {
        format!("what no route takes: {notices}")
    } else {
        "what no route takes is recorded but not posted (no default route: set [alerts] webhook_url)".to_string()
    };
    format!(
        "{rules}; notices go to their routes ({}; `pipewatch alerts --route LABEL` lists what one gets), {rest}",
        labels.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn settings(extra: &str) -> Settings {
        crate::config::load_from_str(
            Path::new("/etc/pipewatch/pipeline.conf"),
            &format!("[warehouse]\nusername = etl\ndatabase = dw\n{extra}"),
            std::iter::empty(),
        )
        .unwrap()
    }

    #[test]
    fn alerts_that_are_off_or_go_nowhere_are_said_so() {
        assert!(alerts_note(&settings("")).starts_with("off: no [alerts] section"));
        let nowhere = alerts_note(&settings("[alerts]\nfreshness_hours = 26\n"));
        assert!(nowhere.contains("freshness"), "{nowhere}");
        assert!(nowhere.contains("no webhook"), "{nowhere}");
        // An [alerts] section without keys turns every rule on that is on by default.
        let idle = alerts_note(&settings("[alerts]\n"));
        assert!(
            idle.starts_with("rules on: success_rate_drop, runtime_regression, freshness, scheduler_down, pool_empty, overdue, blocked, import_error, missed_runs;"),
            "{idle}"
        );
        let off = alerts_note(&settings(
            "[alerts]\nsuccess_rate_drop = false\nruntime_mad_multiple = off\nfreshness_hours = false\noverdue = false\nblocked = false\nimport_error = false\nscheduler_down = false\npool_empty = false\nmissed_runs = false\n",
        ));
        assert!(off.contains("nothing is judged"), "{off}");
        let routed = alerts_note(&settings(
            "[alerts]\n[route_finance]\nowner = finance\nwebhook_url = https://hooks.example.com/f\n",
        ));
        assert!(
            routed.contains("notices go to their routes (finance;")
                && routed.contains("no default route"),
            "{routed}"
        );
        let posted = alerts_note(&settings(
            "[alerts]\nsuccess_rate_drop = 0.2\n[alerts_x]\ndag_id = x\nlanding_deadline = 06:00\n[validate]\nwebhook_url = https://hooks.example.com/x\n",
        ));
        assert_eq!(
            posted,
            "rules on: success_rate_drop, landing_deadline, runtime_regression, freshness, scheduler_down, pool_empty, overdue, blocked, import_error, missed_runs; notices go to [validate] webhook_url"
        );
    }
}
