//! The one table of sections and keys: the parser dispatches on it, the unknown-section and
//! unknown-key errors list from it, and a test checks every entry against
//! `pipeline.conf.example`. A new key is added here and in its section's parser function.

/// `[warehouse]`: the PostgreSQL database pipewatch writes to.
pub const WAREHOUSE: &str = "warehouse";
/// `[staging]`: where extracts wait between extract and load.
pub const STAGING: &str = "staging";
/// `[extract]`: how incremental extracts find new and changed runs.
pub const EXTRACT: &str = "extract";
/// `[reporting]`: the reporting time zone.
pub const REPORTING: &str = "reporting";
/// `[validate]`: the validator's timeout and webhook.
pub const VALIDATE: &str = "validate";
/// `[retention]`: what `run` deletes once old.
pub const RETENTION: &str = "retention";
/// `[alerts]`: the alert rules; per-DAG overrides as `[alerts_<label>]` with a `dag_id` key.
pub const ALERTS: &str = "alerts";
/// `[route_<label>]`: where the alerts of some DAGs are posted (their team's webhook).
pub const ROUTE: &str = "route";
/// `[objective_<label>]`: a promise about some DAGs (lands by, within, runtime), judged per run.
pub const OBJECTIVE: &str = "objective";
/// `[airflow_ui]`: where people open Airflow, for links in alerts.
pub const AIRFLOW_UI: &str = "airflow_ui";
/// `[prometheus]`: where pipewatch publishes metrics for Prometheus (textfile, Pushgateway).
pub const PROMETHEUS: &str = "prometheus";
/// `[retry]`: the policy for transient failures.
pub const RETRY: &str = "retry";
/// The section naming the (first) Airflow metadata database, as in the book; more as
/// `[airflowdb_config_<instance>]`.
pub const AIRFLOW_SECTION: &str = "airflowdb_config";
/// The section naming an Airflow installation read through its REST API (for managed Airflow,
/// where the metadata database is out of reach); more as `[airflow_api_<instance>]`.
pub const AIRFLOW_API_SECTION: &str = "airflow_api";

/// What one section may hold.
#[derive(Debug)]
pub struct SectionSpec {
    /// The section's name (for a repeated section, the name of its first instance).
    pub name: &'static str,
    /// Whether more sections `<name>_<suffix>` of the same kind may follow.
    pub repeated: bool,
    /// Every key the section accepts.
    pub keys: &'static [&'static str],
}

/// Every section pipewatch reads, in the order the documentation lists them.
pub const SECTIONS: &[SectionSpec] = &[
    SectionSpec {
        name: WAREHOUSE,
        repeated: false,
        keys: &[
            "host",
            "port",
            "username",
            "password",
            "password_file",
            "database",
            "schema",
            "connect_timeout_seconds",
            "statement_timeout_seconds",
            "sslmode",
            "sslrootcert",
            "sslcert",
            "sslkey",
            "lock_wait_seconds",
        ],
    },
    SectionSpec {
        name: AIRFLOW_SECTION,
        repeated: true,
        keys: &[
            "instance",
            "host",
            "port",
            "username",
            "password",
            "password_file",
            "database",
            "schema",
            "connect_timeout_seconds",
            "statement_timeout_seconds",
            "sslmode",
            "sslrootcert",
            "sslcert",
            "sslkey",
        ],
    },
    SectionSpec {
        name: AIRFLOW_API_SECTION,
        repeated: true,
        keys: &[
            "instance",
            "base_url",
            "api_version",
            "username",
            "password",
            "password_file",
            "token",
            "token_file",
            "ca_file",
            "verify_tls",
            "page_size",
            "request_timeout_seconds",
            "max_requests_per_second",
            "max_response_bytes",
            "dag_time_zone",
        ],
    },
    SectionSpec {
        name: STAGING,
        repeated: false,
        keys: &[
            "backend",
            "local_directory",
            "bucket",
            "prefix",
            "region",
            "endpoint_url",
            "access_key_id",
            "secret_access_key",
            "secret_access_key_file",
            "timeout_seconds",
        ],
    },
    SectionSpec {
        name: EXTRACT,
        repeated: false,
        keys: &[
            "recheck_last_ids",
            "changed_runs_scan_interval_minutes",
            "changed_runs_scan_overlap_minutes",
            "task_instances",
            "max_clock_skew_seconds",
            "catalog",
            "catalog_interval_minutes",
        ],
    },
    SectionSpec {
        name: REPORTING,
        repeated: false,
        keys: &["time_zone"],
    },
    SectionSpec {
        name: VALIDATE,
        repeated: false,
        keys: &[
            "statement_timeout_seconds",
            "webhook_url",
            "webhook_url_file",
            "webhook_timeout_seconds",
            "webhook_attempts",
        ],
    },
    SectionSpec {
        name: ALERTS,
        repeated: true,
        keys: &[
            "dag_id",
            "instance",
            "enabled",
            "success_rate_drop",
            "success_rate_baseline_days",
            "success_rate_min_runs",
            "success_rate_chance",
            "runtime_mad_multiple",
            "runtime_min_increase",
            "runtime_recent_runs",
            "runtime_baseline_days",
            "runtime_baseline_min_runs",
            "freshness_hours",
            "landing_deadline",
            "overdue",
            "blocked",
            "blocked_minutes",
            "import_error",
            "import_error_minutes",
            "paused",
            "paused_ran_within_days",
            "scheduler_down",
            "pool_empty",
            "missed_runs",
            "missed_runs_hours",
            "objective_missed",
            "objective_at_risk",
            "error_budget_spent",
            "consecutive_breaches",
            "resolve_after_hours",
            "cooldown_minutes",
            "validation_failures",
            "webhook_url",
            "webhook_url_file",
        ],
    },
    SectionSpec {
        name: ROUTE,
        repeated: true,
        keys: &[
            "webhook_url",
            "webhook_url_file",
            "instance",
            "dag_id",
            "owner",
            "tag",
        ],
    },
    SectionSpec {
        name: OBJECTIVE,
        repeated: true,
        keys: &[
            "instance",
            "dag_id",
            "owner",
            "tag",
            "task_id",
            "lands_by",
            "time_zone",
            "days",
            "within",
            "after",
            "runtime_within",
            "runtime_runs",
            "target",
        ],
    },
    SectionSpec {
        name: AIRFLOW_UI,
        repeated: false,
        keys: &["base_url"],
    },
    SectionSpec {
        name: RETENTION,
        repeated: false,
        keys: &["staged_extract_days", "run_log_days"],
    },
    SectionSpec {
        name: PROMETHEUS,
        repeated: false,
        keys: &[
            "textfile_directory",
            "pushgateway_url",
            "pushgateway_url_file",
            "pushgateway_timeout_seconds",
            "max_dags",
        ],
    },
    SectionSpec {
        name: RETRY,
        repeated: false,
        keys: &["attempts", "initial_backoff_seconds", "max_backoff_seconds"],
    },
];

/// The spec of the section named `name`: an exact name, or `<repeated name>_<suffix>`.
pub fn section_spec(name: &str) -> Option<&'static SectionSpec> {
    SECTIONS.iter().find(|spec| {
        name == spec.name
            || (spec.repeated
                && name
                    .strip_prefix(spec.name)
                    .and_then(|rest| rest.strip_prefix('_'))
                    .is_some_and(|suffix| !suffix.is_empty()))
    })
}

/// The sections pipewatch reads, for error messages.
pub fn known_sections() -> String {
    SECTIONS
        .iter()
        .flat_map(|spec| {
            // Alert overrides are named by any label; the other repeated sections by instance.
            let suffix = if [ALERTS, ROUTE, OBJECTIVE].contains(&spec.name) {
                "label"
            } else {
                "instance"
            };
            let more = spec.repeated.then(|| format!("[{}_<{suffix}>]", spec.name));
            std::iter::once(format!("[{}]", spec.name)).chain(more)
        })
        .collect::<Vec<_>>()
        .join(", ")
}
