//! The validated settings, one struct per section, with their defaults as named constants so
//! that `pipeline.conf.example` and the code can be checked against each other.

use std::path::PathBuf;

use super::env_var_name;
use super::types::{Identifier, Secret};

/// Default PostgreSQL host for the warehouse and Airflow sections.
pub const DEFAULT_HOST: &str = "localhost";
/// Default PostgreSQL port.
pub const DEFAULT_PORT: u16 = 5432;
/// Default time allowed to open a PostgreSQL connection.
pub const DEFAULT_CONNECT_TIMEOUT_SECONDS: u64 = 10;
/// Default statement timeout on the warehouse (0 disables it).
pub const DEFAULT_WAREHOUSE_STATEMENT_TIMEOUT_SECONDS: u64 = 600;
/// Default seconds an invocation waits for another one to release the run lock.
pub const DEFAULT_LOCK_WAIT_SECONDS: u64 = 300;
/// Default statement timeout on the Airflow metadata database: short, to protect Airflow.
pub const DEFAULT_AIRFLOW_STATEMENT_TIMEOUT_SECONDS: u64 = 300;
/// Default warehouse schema holding pipewatch's tables.
pub const DEFAULT_WAREHOUSE_SCHEMA: &str = "pipewatch";
/// Default schema of Airflow's own tables in its metadata database.
pub const DEFAULT_AIRFLOW_SCHEMA: &str = "public";
/// Instance name of the `[airflowdb_config]` section when it sets none.
pub const DEFAULT_INSTANCE_NAME: &str = "default";
/// Default local stage folder, relative to the configuration file's folder.
pub const DEFAULT_LOCAL_DIRECTORY: &str = "stage";
/// Default S3 region.
pub const DEFAULT_S3_REGION: &str = "us-east-1";
/// Default key prefix of staged objects.
pub const DEFAULT_S3_PREFIX: &str = "pipewatch/";
/// Default time allowed for one S3 request.
pub const DEFAULT_S3_TIMEOUT_SECONDS: u64 = 60;

/// Default number of the newest already-loaded dag_run ids each extract reads again.
pub const DEFAULT_RECHECK_LAST_IDS: u64 = 1000;
/// Default minutes between scans for runs Airflow changed (by `updated_at`).
pub const DEFAULT_CHANGED_RUNS_SCAN_INTERVAL_MINUTES: u64 = 60;
/// Default overlap of consecutive changed-run scans, in minutes.
pub const DEFAULT_CHANGED_RUNS_SCAN_OVERLAP_MINUTES: u64 = 10;

/// Default statement timeout of each validation script, in seconds.
pub const DEFAULT_VALIDATE_STATEMENT_TIMEOUT_SECONDS: u64 = 60;
/// Default time allowed for one webhook request, in seconds.
pub const DEFAULT_WEBHOOK_TIMEOUT_SECONDS: u64 = 10;
/// Default number of attempts to deliver one webhook notification.
pub const DEFAULT_WEBHOOK_ATTEMPTS: u64 = 3;

/// Default days a loaded extract object is kept in the stage.
pub const DEFAULT_STAGED_EXTRACT_DAYS: u64 = 30;
/// Default days pipewatch_run_log rows are kept.
pub const DEFAULT_RUN_LOG_DAYS: u64 = 90;

/// Default attempts for an operation that fails transiently (connections, S3 requests).
pub const DEFAULT_RETRY_ATTEMPTS: u64 = 5;
/// Default wait before the second attempt; it doubles for each next one.
pub const DEFAULT_RETRY_INITIAL_BACKOFF_SECONDS: u64 = 1;
/// Default longest wait between two attempts.
pub const DEFAULT_RETRY_MAX_BACKOFF_SECONDS: u64 = 30;

/// Default reporting time zone.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

/// How to reach one PostgreSQL database (the warehouse or an Airflow metadata database).
#[derive(Debug, Clone)]
pub struct PostgresSettings {
    /// The section these settings came from, for error messages (`warehouse`, `airflowdb_config`).
    pub section: String,
    /// Host name or address.
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// User name to log in as.
    pub username: String,
    /// Password; empty when the server needs none (trust or peer authentication).
    pub password: Secret,
    /// Database name.
    pub database: String,
    /// Schema holding the tables pipewatch reads or writes.
    pub schema: Identifier,
    /// Seconds allowed to open a connection.
    pub connect_timeout_seconds: u64,
    /// Server-side statement timeout in seconds; 0 disables it.
    pub statement_timeout_seconds: u64,
    /// Retries of transient connection failures (`[retry]`).
    pub retry: RetrySettings,
    /// Encryption of the connection (`sslmode`, `sslrootcert`, `sslcert`, `sslkey`).
    pub tls: TlsSettings,
}

/// libpq's `sslmode`, with libpq's meaning.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SslMode {
    /// Never encrypt.
    Disable,
    /// Encrypt when the server offers it, without checking its certificate; else plaintext.
    #[default]
    Prefer,
    /// Always encrypt; check the certificate against `sslrootcert` only when one is given (as
    /// libpq does).
    Require,
    /// Always encrypt, and the server's certificate must chain to `sslrootcert`.
    VerifyCa,
    /// As `verify-ca`, and the certificate must name the host connected to.
    VerifyFull,
}

impl SslMode {
    /// The configuration value.
    pub fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// How a PostgreSQL connection is encrypted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsSettings {
    /// The mode.
    pub mode: SslMode,
    /// PEM file of the certificate authorities to trust (`sslrootcert`).
    pub root_cert: Option<PathBuf>,
    /// PEM client certificate and its private key (`sslcert`, `sslkey`), for servers that
    /// authenticate clients by certificate.
    pub client_cert: Option<(PathBuf, PathBuf)>,
}

impl PostgresSettings {
    /// `host:port/database`, for messages (never includes the password).
    pub fn address(&self) -> String {
        format!("{}:{}/{}", self.host, self.port, self.database)
    }
    /// The environment variable that overrides `key` of this section.
    pub fn env_var(&self, key: &str) -> String {
        env_var_name(&self.section, key)
    }
}

/// How transient failures (connection refused or reset, a server starting or shutting down,
/// S3 5xx answers and timeouts) are retried: bounded exponential backoff. Permanent failures
/// (authentication, a missing database, table or bucket, bad SQL) are never retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetrySettings {
    /// Attempts in all (1: no retry).
    pub attempts: u64,
    /// Seconds before the second attempt; doubled for each next one.
    pub initial_backoff_seconds: u64,
    /// Longest wait between two attempts, in seconds.
    pub max_backoff_seconds: u64,
}

impl Default for RetrySettings {
    fn default() -> Self {
        RetrySettings {
            attempts: DEFAULT_RETRY_ATTEMPTS,
            initial_backoff_seconds: DEFAULT_RETRY_INITIAL_BACKOFF_SECONDS,
            max_backoff_seconds: DEFAULT_RETRY_MAX_BACKOFF_SECONDS,
        }
    }
}

impl RetrySettings {
    /// The wait before attempt `next` (2, 3, ...).
    pub fn backoff(&self, next: u64) -> std::time::Duration {
        let factor = 1u64 << (next.saturating_sub(2)).min(20);
        std::time::Duration::from_secs(
            self.initial_backoff_seconds
                .saturating_mul(factor)
                .min(self.max_backoff_seconds),
        )
    }
}

/// One Airflow installation whose metadata database pipewatch reads.
#[derive(Debug, Clone)]
pub struct AirflowSettings {
    /// Name recorded in every row from this installation (`airflow_instance`).
    pub instance: String,
    /// How to reach its metadata database.
    pub database: PostgresSettings,
}

/// Default DAG runs asked for per API request (Airflow's own `[api] maximum_page_limit` default;
/// a server caps larger requests at its limit, and pipewatch pages by what it is given).
pub const DEFAULT_API_PAGE_SIZE: u64 = 100;
/// Default time allowed for one REST API request.
pub const DEFAULT_API_REQUEST_TIMEOUT_SECONDS: u64 = 30;
/// Default ceiling on API requests per second, to spare a production webserver (0: no limit).
pub const DEFAULT_API_MAX_REQUESTS_PER_SECOND: u64 = 10;

/// Which REST API generation to speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ApiVersionSetting {
    /// Ask the server: `/api/v2/version` (Airflow 3), else `/api/v1/version` (Airflow 2).
    #[default]
    Auto,
    /// Airflow 2's `/api/v1` (HTTP basic auth or a bearer token).
    V1,
    /// Airflow 3's `/api/v2` (a JWT from `POST /auth/token`, or a bearer token).
    V2,
}

/// How pipewatch authenticates to the REST API.
#[derive(Debug, Clone)]
pub enum ApiAuth {
    /// A user of Airflow: HTTP basic auth on `/api/v1`; on `/api/v2` exchanged for a JWT at
    /// `POST /auth/token`, renewed when it expires.
    Password {
        /// The user name.
        username: String,
        /// The password.
        password: Secret,
    },
    /// A bearer token issued elsewhere (a managed service's token), sent as is.
    Token(Secret),
}

/// One Airflow installation read through its stable REST API.
#[derive(Debug, Clone)]
pub struct AirflowApiSettings {
    /// The section these settings came from, for messages (`airflow_api`, `airflow_api_<x>`).
    pub section: String,
    /// Name recorded in every row from this installation (`airflow_instance`).
    pub instance: String,
    /// The webserver's (Airflow 2) or api-server's (Airflow 3) address, without a trailing `/`
    /// and without `/api/...`.
    pub base_url: String,
    /// Which API generation to speak.
    pub api_version: ApiVersionSetting,
    /// How to authenticate.
    pub auth: ApiAuth,
    /// PEM file of certificate authorities to trust besides the system's (`ca_file`).
    pub ca_file: Option<PathBuf>,
    /// Whether the server's certificate is checked (`verify_tls`, default true).
    pub verify_tls: bool,
    /// Rows asked for per page.
    pub page_size: u64,
    /// Seconds allowed for one request.
    pub request_timeout_seconds: u64,
    /// Most requests per second (0: no limit).
    pub max_requests_per_second: u64,
    /// Retries of transient failures (`[retry]`): connection errors, timeouts, 429 and 5xx.
    pub retry: RetrySettings,
}

impl AirflowApiSettings {
    /// The environment variable that overrides `key` of this section.
    pub fn env_var(&self, key: &str) -> String {
        env_var_name(&self.section, key)
    }
}

/// One configured source of DAG runs: a metadata database or a REST API.
#[derive(Debug, Clone, Copy)]
pub enum SourceSettings<'a> {
    /// An `[airflowdb_config*]` section.
    Database(&'a AirflowSettings),
    /// An `[airflow_api*]` section.
    Api(&'a AirflowApiSettings),
}

impl SourceSettings<'_> {
    /// The instance name.
    pub fn instance(&self) -> &str {
        match self {
            SourceSettings::Database(s) => &s.instance,
            SourceSettings::Api(s) => &s.instance,
        }
    }
}

/// Where extracts are staged between extract and load.
#[derive(Debug, Clone)]
pub enum StagingSettings {
    /// A local folder (the default: no cloud needed).
    Local {
        /// The folder, absolute.
        directory: PathBuf,
    },
    /// An S3 bucket or an S3-compatible server.
    S3(S3Settings),
}

/// S3 staging settings.
#[derive(Debug, Clone)]
pub struct S3Settings {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix of every staged object (ends with `/` unless empty).
    pub prefix: String,
    /// Region.
    pub region: String,
    /// Endpoint of an S3-compatible server (path-style addressing is used); None for AWS.
    pub endpoint_url: Option<String>,
    /// Access key id; None to read `AWS_ACCESS_KEY_ID` from the environment.
    pub access_key_id: Option<String>,
    /// Secret access key; None to read `AWS_SECRET_ACCESS_KEY` from the environment.
    pub secret_access_key: Option<Secret>,
    /// Seconds allowed for one request.
    pub timeout_seconds: u64,
    /// Retries of transient S3 failures (`[retry]`).
    pub retry: RetrySettings,
}

/// How incremental extracts find new and changed runs (see docs/extract-watermark.md).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtractSettings {
    /// How many of the newest already-loaded dag_run ids each extract reads again, to catch
    /// rows that committed after a higher id was read.
    pub recheck_last_ids: u64,
    /// Minutes between scans for runs Airflow changed (`updated_at`, which has no index: the
    /// scan reads the whole table), to catch runs cleared and re-run between two extracts.
    /// 0 scans on every extract.
    pub changed_runs_scan_interval_minutes: u64,
    /// How far, in minutes, each changed-run scan reaches back before the previous one began,
    /// to catch changes whose transaction committed late.
    pub changed_runs_scan_overlap_minutes: u64,
    /// Whether extracts also read the task instances (every try) of the DAG runs they read,
    /// into `task_run_history`.
    pub task_instances: bool,
}

impl Default for ExtractSettings {
    fn default() -> Self {
        ExtractSettings {
            recheck_last_ids: DEFAULT_RECHECK_LAST_IDS,
            changed_runs_scan_interval_minutes: DEFAULT_CHANGED_RUNS_SCAN_INTERVAL_MINUTES,
            changed_runs_scan_overlap_minutes: DEFAULT_CHANGED_RUNS_SCAN_OVERLAP_MINUTES,
            task_instances: true,
        }
    }
}

/// How `pipewatch validate` runs tests and notifies failures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidateSettings {
    /// Longest time one validation script may run, in seconds (0: no limit).
    pub statement_timeout_seconds: u64,
    /// Where failed and errored tests are posted as Slack-compatible JSON; None: no notices.
    pub webhook_url: Option<Secret>,
    /// Seconds allowed for one webhook request.
    pub webhook_timeout_seconds: u64,
    /// Attempts to deliver one notification (with 1 s, 2 s, 4 s ... between attempts).
    pub webhook_attempts: u64,
}

impl Default for ValidateSettings {
    fn default() -> Self {
        ValidateSettings {
            statement_timeout_seconds: DEFAULT_VALIDATE_STATEMENT_TIMEOUT_SECONDS,
            webhook_url: None,
            webhook_timeout_seconds: DEFAULT_WEBHOOK_TIMEOUT_SECONDS,
            webhook_attempts: DEFAULT_WEBHOOK_ATTEMPTS,
        }
    }
}

/// Default days of baseline before the day a success-rate drop is judged on.
pub const DEFAULT_SUCCESS_RATE_BASELINE_DAYS: u64 = 7;
/// Default fewest finished runs on the day for a success-rate drop to count.
pub const DEFAULT_SUCCESS_RATE_MIN_RUNS: u64 = 3;
/// Default successful runs whose median is compared with the baseline.
pub const DEFAULT_RUNTIME_RECENT_RUNS: u64 = 5;
/// Default days of successful runs before the recent ones that make the runtime baseline.
pub const DEFAULT_RUNTIME_BASELINE_DAYS: u64 = 14;
/// Default fewest baseline runs for a runtime regression to be judged.
pub const DEFAULT_RUNTIME_BASELINE_MIN_RUNS: u64 = 20;
/// Default evaluations in a row that must breach before an alert opens.
pub const DEFAULT_CONSECUTIVE_BREACHES: u64 = 1;
/// Default minutes after an alert resolves during which the same alert does not reopen.
pub const DEFAULT_COOLDOWN_MINUTES: u64 = 60;

/// The alert rules for one DAG (or the defaults of all): each rule is on when its threshold
/// is set. None in an override means "as in [alerts]".
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AlertRules {
    /// Whether alerts are evaluated for the DAG at all.
    pub enabled: Option<bool>,
    /// Success-rate drop: open when the day's rate is below the baseline's by more than this
    /// (a share, 0.2 = 20 points).
    pub success_rate_drop: Option<f64>,
    /// Days before the day that make the baseline.
    pub success_rate_baseline_days: Option<u64>,
    /// Fewest finished runs on the day.
    pub success_rate_min_runs: Option<u64>,
    /// Runtime regression: open when the median of the recent successful runs exceeds the
    /// baseline median by more than this many median absolute deviations.
    pub runtime_mad_multiple: Option<f64>,
    /// Recent successful runs compared.
    pub runtime_recent_runs: Option<u64>,
    /// Days of baseline runs before the recent ones.
    pub runtime_baseline_days: Option<u64>,
    /// Fewest baseline runs.
    pub runtime_baseline_min_runs: Option<u64>,
    /// Freshness: open when the DAG's newest successful run ended longer ago than this.
    pub freshness_hours: Option<f64>,
    /// Landing deadline: open when a day's run has not succeeded by this local time of the
    /// next day (reporting time zone).
    pub landing_deadline: Option<chrono::NaiveTime>,
    /// Evaluations in a row that must breach before an alert opens.
    pub consecutive_breaches: Option<u64>,
    /// Minutes after a resolution during which the alert does not reopen.
    pub cooldown_minutes: Option<u64>,
}

impl AlertRules {
    /// These rules, with what they leave unset taken from `defaults`.
    pub fn over(&self, defaults: &AlertRules) -> AlertRules {
        AlertRules {
            enabled: self.enabled.or(defaults.enabled),
            success_rate_drop: self.success_rate_drop.or(defaults.success_rate_drop),
            success_rate_baseline_days: self
                .success_rate_baseline_days
                .or(defaults.success_rate_baseline_days),
            success_rate_min_runs: self
                .success_rate_min_runs
                .or(defaults.success_rate_min_runs),
            runtime_mad_multiple: self.runtime_mad_multiple.or(defaults.runtime_mad_multiple),
            runtime_recent_runs: self.runtime_recent_runs.or(defaults.runtime_recent_runs),
            runtime_baseline_days: self
                .runtime_baseline_days
                .or(defaults.runtime_baseline_days),
            runtime_baseline_min_runs: self
                .runtime_baseline_min_runs
                .or(defaults.runtime_baseline_min_runs),
            freshness_hours: self.freshness_hours.or(defaults.freshness_hours),
            landing_deadline: self.landing_deadline.or(defaults.landing_deadline),
            consecutive_breaches: self.consecutive_breaches.or(defaults.consecutive_breaches),
            cooldown_minutes: self.cooldown_minutes.or(defaults.cooldown_minutes),
        }
    }
}

/// Rules for one DAG (`[alerts_<label>]`).
#[derive(Debug, Clone, PartialEq)]
pub struct AlertOverride {
    /// The section.
    pub section: String,
    /// The DAG, exactly as Airflow names it.
    pub dag_id: String,
    /// Only on this Airflow instance (default: every one).
    pub instance: Option<String>,
    /// The rules set in the section.
    pub rules: AlertRules,
}

/// `[alerts]` and its overrides.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertSettings {
    /// The defaults for every DAG.
    pub rules: AlertRules,
    /// Per-DAG rules.
    pub overrides: Vec<AlertOverride>,
    /// Whether failing validation tests join the ledger (`validation_failures`).
    pub validation_failures: bool,
    /// Where alerts are posted (Slack-compatible JSON); default `[validate] webhook_url`.
    pub webhook_url: Option<Secret>,
}

impl AlertSettings {
    /// The rules for `dag_id` on `instance`, with every default filled in.
    pub fn rules_for(&self, instance: &str, dag_id: &str) -> AlertRules {
        let defaults = AlertRules {
            enabled: Some(true),
            success_rate_baseline_days: Some(DEFAULT_SUCCESS_RATE_BASELINE_DAYS),
            success_rate_min_runs: Some(DEFAULT_SUCCESS_RATE_MIN_RUNS),
            runtime_recent_runs: Some(DEFAULT_RUNTIME_RECENT_RUNS),
            runtime_baseline_days: Some(DEFAULT_RUNTIME_BASELINE_DAYS),
            runtime_baseline_min_runs: Some(DEFAULT_RUNTIME_BASELINE_MIN_RUNS),
            consecutive_breaches: Some(DEFAULT_CONSECUTIVE_BREACHES),
            cooldown_minutes: Some(DEFAULT_COOLDOWN_MINUTES),
            ..AlertRules::default()
        };
        let global = self.rules.over(&defaults);
        self.overrides
            .iter()
            .filter(|o| o.dag_id == dag_id && o.instance.as_deref().is_none_or(|i| i == instance))
            .fold(global, |rules, o| o.rules.over(&rules))
    }
}

/// What `pipewatch run` deletes once it is old enough (0 keeps forever).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetentionSettings {
    /// Days a loaded extract object stays in the stage after its load (pending ones always stay).
    pub staged_extract_days: u64,
    /// Days `pipewatch_run_log` rows are kept.
    pub run_log_days: u64,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        RetentionSettings {
            staged_extract_days: DEFAULT_STAGED_EXTRACT_DAYS,
            run_log_days: DEFAULT_RUN_LOG_DAYS,
        }
    }
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The file the settings were read from.
    pub path: PathBuf,
    /// The warehouse.
    pub warehouse: PostgresSettings,
    /// Seconds an invocation waits for another one's run lock (`[warehouse] lock_wait_seconds`).
    pub lock_wait_seconds: u64,
    /// The Airflow metadata databases, in section order; may be empty for commands that need
    /// none.
    pub airflow: Vec<AirflowSettings>,
    /// The Airflow installations read through the REST API, in section order.
    pub airflow_api: Vec<AirflowApiSettings>,
    /// The stage.
    pub staging: StagingSettings,
    /// Incremental extraction.
    pub extract: ExtractSettings,
    /// The IANA time zone whose calendar days the daily figures use (`[reporting] time_zone`).
    /// Checked against PostgreSQL's zone list (`pg_timezone_names`) when first used.
    pub time_zone: String,
    /// The validator.
    pub validate: ValidateSettings,
    /// Retention.
    pub retention: RetentionSettings,
    /// Alerts (`[alerts]`); None: no alert is evaluated.
    pub alerts: Option<AlertSettings>,
    /// The Airflow web UI's address (`[airflow_ui] base_url`), for links in alerts.
    pub airflow_ui: Option<String>,
}

impl Settings {
    /// Where alerts and digests are posted: `[alerts] webhook_url`, else `[validate]`'s.
    pub fn alert_webhook(&self) -> Option<&Secret> {
        self.alerts
            .as_ref()
            .and_then(|a| a.webhook_url.as_ref())
            .or(self.validate.webhook_url.as_ref())
    }

    /// Every configured source: the metadata databases, then the REST APIs, each in section
    /// order.
    pub fn sources(&self) -> Vec<SourceSettings<'_>> {
        self.airflow
            .iter()
            .map(SourceSettings::Database)
            .chain(self.airflow_api.iter().map(SourceSettings::Api))
            .collect()
    }
}
