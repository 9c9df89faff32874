//! Reading and validating `pipeline.conf`.
//!
//! The file is INI, as in the book, so its users' files carry over. It is read with the `config`
//! crate (the INI format is set explicitly: `.conf` is not an extension the crate knows), and
//! every key can be overridden by an environment variable `PIPEWATCH__<SECTION>__<KEY>`, for
//! example `PIPEWATCH__WAREHOUSE__PASSWORD`, so secrets need not sit in the file.
//!
//! Validation is pure and happens before anything connects: an unknown section or key, a value of
//! the wrong type or a missing required key is one error naming the key and where it came from
//! (the file, or the environment variable). Each section maps onto one struct below; defaults are
//! named constants so that `pipeline.conf.example` and the code can be checked against each other.
//!
//! Decisions written down here:
//! - An empty value (`password =`) means "not set": the key's default applies.
//! - Relative paths (the local stage folder) are resolved against the folder holding the
//!   configuration file, not the working directory, so a cron job finds the same folder.
//! - Section and key names are lower case; the `config` crate matches them case-sensitively and
//!   lower-cases environment variable names before matching.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use config::{Value, ValueKind};

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "PIPEWATCH";
/// Separator between prefix, section and key in those variables.
pub const ENV_SEPARATOR: &str = "__";

/// Where `pipewatch` looks for its configuration when `--config` is not given, in order.
pub const DEFAULT_CONFIG_PATHS: [&str; 2] = ["pipeline.conf", "/etc/pipewatch/pipeline.conf"];

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

/// The section naming the (first) Airflow metadata database, as in the book.
pub const AIRFLOW_SECTION: &str = "airflowdb_config";

/// A configuration problem, found before anything connects.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No `--config` was given and none of the default paths exists.
    #[error(
        "no configuration file found: looked for {} (pass --config PATH or set PIPEWATCH_CONFIG; pipeline.conf.example documents every key)",
        DEFAULT_CONFIG_PATHS.join(" and ")
    )]
    NoFile,
    /// The given configuration file does not exist or cannot be read.
    #[error("cannot read configuration file {path}: {cause}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The file is not valid INI, or the environment overrides could not be read.
    #[error("cannot parse configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A section that pipewatch does not know.
    #[error("{origin}: unknown section [{section}] (known sections: {known})")]
    UnknownSection {
        /// The file or environment variable.
        origin: String,
        /// The section name.
        section: String,
        /// The sections pipewatch reads.
        known: String,
    },
    /// A key that its section does not have.
    #[error("{origin}: unknown key `{key}` in section [{section}] (known keys: {known})")]
    UnknownKey {
        /// The file or environment variable.
        origin: String,
        /// The section.
        section: String,
        /// The key.
        key: String,
        /// The keys the section has.
        known: String,
    },
    /// A required key that is missing or empty.
    #[error(
        "{path}: missing required key `{key}` in section [{section}] (set it in the file or with {env})"
    )]
    Missing {
        /// The file.
        path: PathBuf,
        /// The section.
        section: String,
        /// The key.
        key: String,
        /// The environment variable that can set it.
        env: String,
    },
    /// A value that does not have the expected type or form.
    #[error("{origin}: [{section}] {key} = {value:?} is not valid: expected {expected}")]
    Invalid {
        /// The file or environment variable.
        origin: String,
        /// The section.
        section: String,
        /// The key.
        key: String,
        /// The value as written (never a secret's value).
        value: String,
        /// What the key accepts.
        expected: String,
    },
    /// A rule across keys or sections.
    #[error("{path}: {message}")]
    Rule {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
}

/// A secret string (a password or secret key). `Debug` and `Display` print `***`; the value is
/// only reachable through [`Secret::expose`], at the place that hands it to a client library.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret value itself, for a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether no secret is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A PostgreSQL identifier (schema name) that is safe to use unquoted and quoted alike:
/// lower-case letters, digits and underscores, starting with a letter or underscore, at most 63
/// bytes. Validated once, here; [`Identifier::quoted`] is the one place that quotes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier(String);

impl Identifier {
    /// Validates `name`; the error says what is allowed.
    pub fn parse(name: &str) -> Result<Self, String> {
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if first_ok && rest_ok && name.len() <= 63 {
            Ok(Identifier(name.to_string()))
        } else {
            Err("a schema name of lower-case letters, digits and underscores, starting with a letter or underscore, at most 63 characters".to_string())
        }
    }
    /// The bare name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The name quoted for SQL (`"name"`).
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

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
    /// Seconds to wait for another invocation's run lock (warehouse only; 0 for Airflow).
    pub lock_wait_seconds: u64,
    /// Retries of transient connection failures (`[retry]`).
    pub retry: RetrySettings,
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
}

impl Default for ExtractSettings {
    fn default() -> Self {
        ExtractSettings {
            recheck_last_ids: DEFAULT_RECHECK_LAST_IDS,
            changed_runs_scan_interval_minutes: DEFAULT_CHANGED_RUNS_SCAN_INTERVAL_MINUTES,
            changed_runs_scan_overlap_minutes: DEFAULT_CHANGED_RUNS_SCAN_OVERLAP_MINUTES,
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
    /// The Airflow installations, in section order; may be empty for commands that need none.
    pub airflow: Vec<AirflowSettings>,
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
}

/// Finds the configuration file: the explicit path, else the first default path that exists.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    DEFAULT_CONFIG_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(ConfigError::NoFile)
}

/// Reads, overrides from the environment, and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Unreadable {
        path: path.to_path_buf(),
        cause,
    })?;
    load_from_str(path, &text, std::env::vars())
}

/// Like [`load`], from the file's text and an explicit environment (for tests).
pub fn load_from_str(
    path: &Path,
    text: &str,
    environment: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigError> {
    let env_source = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator(ENV_SEPARATOR)
        .separator(ENV_SEPARATOR)
        .source(Some(environment.into_iter().collect()));
    let built = config::Config::builder()
        .add_source(
            config::File::from_str(text, config::FileFormat::Ini)
                // from_str records no origin; name the file so messages can point at it.
                .required(true),
        )
        .add_source(env_source)
        .build()
        .map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    Parser { path, base }.parse(built.cache)
}

/// The environment variable that overrides `key` in `[section]`.
pub fn env_var_name(section: &str, key: &str) -> String {
    format!(
        "{ENV_PREFIX}{ENV_SEPARATOR}{}{ENV_SEPARATOR}{}",
        section.to_uppercase(),
        key.to_uppercase()
    )
}

struct Parser<'a> {
    path: &'a Path,
    base: PathBuf,
}

impl Parser<'_> {
    fn origin(&self, value: &Value, section: &str, key: Option<&str>) -> String {
        match value.origin() {
            Some("the environment") => match key {
                Some(key) => format!("environment variable {}", env_var_name(section, key)),
                None => format!(
                    "environment variables {ENV_PREFIX}{ENV_SEPARATOR}{}{ENV_SEPARATOR}*",
                    section.to_uppercase()
                ),
            },
            _ => self.path.display().to_string(),
        }
    }

    fn parse(&self, root: Value) -> Result<Settings, ConfigError> {
        let sections: BTreeMap<String, Value> = match root.kind {
            ValueKind::Table(map) => map.into_iter().collect(),
            _ => BTreeMap::new(),
        };
        let mut warehouse = None;
        let mut staging = None;
        let mut extract = None;
        let mut time_zone = None;
        let mut validate = None;
        let mut retention = None;
        let mut retry = None;
        let mut airflow = Vec::new();
        for (name, value) in sections {
            let origin = self.origin(&value, &name, None);
            let entries = match value.kind {
                ValueKind::Table(map) => map,
                // A key outside any section.
                _ => {
                    return Err(ConfigError::Rule {
                        path: self.path.to_path_buf(),
                        message: format!(
                            "key `{name}` is outside any section: put it under [warehouse], [staging] or [{AIRFLOW_SECTION}]"
                        ),
                    });
                }
            };
            let section = Section {
                parser: self,
                name: name.clone(),
                entries: entries.into_iter().collect(),
                origins: BTreeMap::new(),
            };
            if name == "warehouse" {
                warehouse = Some(self.warehouse(section)?);
            } else if name == "staging" {
                staging = Some(self.staging(section)?);
            } else if name == "extract" {
                extract = Some(self.extract(section)?);
            } else if name == "reporting" {
                time_zone = Some(self.reporting(section)?);
            } else if name == "validate" {
                validate = Some(self.validate(section)?);
            } else if name == "retention" {
                retention = Some(self.retention(section)?);
            } else if name == "retry" {
                retry = Some(self.retry(section)?);
            } else if name == AIRFLOW_SECTION || name.starts_with(&format!("{AIRFLOW_SECTION}_")) {
                airflow.push(self.airflow(section)?);
            } else {
                return Err(ConfigError::UnknownSection {
                    origin,
                    section: name,
                    known: format!(
                        "[warehouse], [staging], [extract], [reporting], [validate], [retention], [retry], [{AIRFLOW_SECTION}], [{AIRFLOW_SECTION}_<instance>]"
                    ),
                });
            }
        }
        let warehouse = warehouse.ok_or_else(|| ConfigError::Rule {
            path: self.path.to_path_buf(),
            message: "missing section [warehouse] (pipewatch needs a warehouse to write to)"
                .to_string(),
        })?;
        // BTreeMap order puts [airflowdb_config] before [airflowdb_config_*]; keep it.
        let mut seen = BTreeMap::new();
        for a in &airflow {
            if let Some(other) = seen.insert(a.instance.clone(), a.database.section.clone()) {
                return Err(ConfigError::Rule {
                    path: self.path.to_path_buf(),
                    message: format!(
                        "sections [{other}] and [{}] both name Airflow instance `{}`: give each an `instance` of its own",
                        a.database.section, a.instance
                    ),
                });
            }
        }
        let mut staging = match staging {
            Some(s) => s,
            None => StagingSettings::Local {
                directory: self.base.join(DEFAULT_LOCAL_DIRECTORY),
            },
        };
        // One retry policy for every connection and request.
        let retry = retry.unwrap_or_default();
        let mut warehouse = warehouse;
        warehouse.retry = retry;
        for a in &mut airflow {
            a.database.retry = retry;
        }
        if let StagingSettings::S3(s3) = &mut staging {
            s3.retry = retry;
        }
        Ok(Settings {
            path: self.path.to_path_buf(),
            warehouse,
            airflow,
            staging,
            extract: extract.unwrap_or_default(),
            time_zone: time_zone.unwrap_or_else(|| DEFAULT_TIME_ZONE.to_string()),
            validate: validate.unwrap_or_default(),
            retention: retention.unwrap_or_default(),
        })
    }

    fn retry(&self, mut s: Section) -> Result<RetrySettings, ConfigError> {
        let d = RetrySettings::default();
        let settings = RetrySettings {
            attempts: s.number("attempts", 1, 100)?.unwrap_or(d.attempts),
            initial_backoff_seconds: s
                .number("initial_backoff_seconds", 0, 3600)?
                .unwrap_or(d.initial_backoff_seconds),
            max_backoff_seconds: s
                .number("max_backoff_seconds", 0, 3600)?
                .unwrap_or(d.max_backoff_seconds),
        };
        s.finish()?;
        Ok(settings)
    }

    fn retention(&self, mut s: Section) -> Result<RetentionSettings, ConfigError> {
        let d = RetentionSettings::default();
        let settings = RetentionSettings {
            staged_extract_days: s
                .number("staged_extract_days", 0, 100_000)?
                .unwrap_or(d.staged_extract_days),
            run_log_days: s
                .number("run_log_days", 0, 100_000)?
                .unwrap_or(d.run_log_days),
        };
        s.finish()?;
        Ok(settings)
    }

    fn validate(&self, mut s: Section) -> Result<ValidateSettings, ConfigError> {
        let d = ValidateSettings::default();
        let webhook_url = s.secret("webhook_url")?;
        if let Some(url) = &webhook_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            // The URL is a secret (Slack puts its token in the path): show only its start.
            let shown: String = url.chars().take(8).collect();
            return Err(s.invalid(
                "webhook_url",
                &format!("{shown}..."),
                "a URL starting with http:// or https://",
            ));
        }
        let settings = ValidateSettings {
            statement_timeout_seconds: s
                .number("statement_timeout_seconds", 0, 24 * 3600)?
                .unwrap_or(d.statement_timeout_seconds),
            webhook_url: webhook_url.map(Secret::new),
            webhook_timeout_seconds: s
                .number("webhook_timeout_seconds", 1, 600)?
                .unwrap_or(d.webhook_timeout_seconds),
            webhook_attempts: s
                .number("webhook_attempts", 1, 10)?
                .unwrap_or(d.webhook_attempts),
        };
        s.finish()?;
        Ok(settings)
    }

    fn reporting(&self, mut s: Section) -> Result<String, ConfigError> {
        let zone = s
            .string("time_zone")?
            .unwrap_or_else(|| DEFAULT_TIME_ZONE.to_string());
        // The zone's existence is checked by PostgreSQL when used; here only its form.
        let plausible = zone.len() <= 64
            && zone
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_/+-".contains(c));
        if !plausible {
            return Err(s.invalid(
                "time_zone",
                &zone,
                "an IANA time zone name such as UTC or Europe/Berlin",
            ));
        }
        s.finish()?;
        Ok(zone)
    }

    fn extract(&self, mut s: Section) -> Result<ExtractSettings, ConfigError> {
        let d = ExtractSettings::default();
        let settings = ExtractSettings {
            recheck_last_ids: s
                .number("recheck_last_ids", 0, 10_000_000)?
                .unwrap_or(d.recheck_last_ids),
            changed_runs_scan_interval_minutes: s
                .number("changed_runs_scan_interval_minutes", 0, 7 * 24 * 60)?
                .unwrap_or(d.changed_runs_scan_interval_minutes),
            changed_runs_scan_overlap_minutes: s
                .number("changed_runs_scan_overlap_minutes", 0, 24 * 60)?
                .unwrap_or(d.changed_runs_scan_overlap_minutes),
        };
        s.finish()?;
        Ok(settings)
    }

    fn postgres(
        &self,
        s: &mut Section,
        default_schema: &str,
        default_statement_timeout: u64,
    ) -> Result<PostgresSettings, ConfigError> {
        let schema_text = s
            .string("schema")?
            .unwrap_or_else(|| default_schema.to_string());
        let schema = Identifier::parse(&schema_text)
            .map_err(|expected| s.invalid("schema", &schema_text, &expected))?;
        Ok(PostgresSettings {
            section: s.name.clone(),
            host: s
                .string("host")?
                .unwrap_or_else(|| DEFAULT_HOST.to_string()),
            port: s
                .number("port", 1, u16::MAX as u64)?
                .unwrap_or(DEFAULT_PORT as u64) as u16,
            username: s.required("username")?,
            password: Secret::new(s.secret("password")?.unwrap_or_default()),
            database: s.required("database")?,
            schema,
            connect_timeout_seconds: s
                .number("connect_timeout_seconds", 1, 3600)?
                .unwrap_or(DEFAULT_CONNECT_TIMEOUT_SECONDS),
            statement_timeout_seconds: s
                .number("statement_timeout_seconds", 0, 7 * 24 * 3600)?
                .unwrap_or(default_statement_timeout),
            lock_wait_seconds: 0,
            retry: RetrySettings::default(),
        })
    }

    fn warehouse(&self, mut s: Section) -> Result<PostgresSettings, ConfigError> {
        let mut pg = self.postgres(
            &mut s,
            DEFAULT_WAREHOUSE_SCHEMA,
            DEFAULT_WAREHOUSE_STATEMENT_TIMEOUT_SECONDS,
        )?;
        pg.lock_wait_seconds = s
            .number("lock_wait_seconds", 0, 24 * 3600)?
            .unwrap_or(DEFAULT_LOCK_WAIT_SECONDS);
        s.finish()?;
        Ok(pg)
    }

    fn airflow(&self, mut s: Section) -> Result<AirflowSettings, ConfigError> {
        let implied = if s.name == AIRFLOW_SECTION {
            DEFAULT_INSTANCE_NAME.to_string()
        } else {
            s.name[AIRFLOW_SECTION.len() + 1..].to_string()
        };
        let instance = s.string("instance")?.unwrap_or(implied);
        let valid = !instance.is_empty()
            && instance.len() <= 100
            && instance
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !valid {
            return Err(s.invalid(
                "instance",
                &instance,
                "an instance name of letters, digits, `_`, `-` and `.`, at most 100 characters",
            ));
        }
        let database = self.postgres(
            &mut s,
            DEFAULT_AIRFLOW_SCHEMA,
            DEFAULT_AIRFLOW_STATEMENT_TIMEOUT_SECONDS,
        )?;
        s.finish()?;
        Ok(AirflowSettings { instance, database })
    }

    fn staging(&self, mut s: Section) -> Result<StagingSettings, ConfigError> {
        let backend = s.string("backend")?.unwrap_or_else(|| "local".to_string());
        let local_directory = s.string("local_directory")?;
        let bucket = s.string("bucket")?;
        let prefix = s.string("prefix")?;
        let region = s.string("region")?;
        let endpoint_url = s.string("endpoint_url")?;
        if let Some(url) = &endpoint_url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            return Err(s.invalid(
                "endpoint_url",
                url,
                "a URL starting with http:// or https://",
            ));
        }
        let access_key_id = s.string("access_key_id")?;
        let secret_access_key = s.secret("secret_access_key")?;
        let timeout_seconds = s.number("timeout_seconds", 1, 3600)?;
        if !matches!(backend.as_str(), "local" | "s3") {
            return Err(s.invalid("backend", &backend, "`local` or `s3`"));
        }
        s.finish()?;
        if backend == "local" {
            let dir = PathBuf::from(
                local_directory.unwrap_or_else(|| DEFAULT_LOCAL_DIRECTORY.to_string()),
            );
            let directory = if dir.is_absolute() {
                dir
            } else {
                self.base.join(dir)
            };
            return Ok(StagingSettings::Local { directory });
        }
        let bucket = bucket.ok_or_else(|| ConfigError::Missing {
            path: self.path.to_path_buf(),
            section: "staging".into(),
            key: "bucket".into(),
            env: env_var_name("staging", "bucket"),
        })?;
        let mut prefix = prefix.unwrap_or_else(|| DEFAULT_S3_PREFIX.to_string());
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        if access_key_id.is_some() != secret_access_key.is_some() {
            return Err(ConfigError::Rule {
                path: self.path.to_path_buf(),
                message: "[staging] access_key_id and secret_access_key go together: set both, or neither to use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY from the environment".into(),
            });
        }
        Ok(StagingSettings::S3(S3Settings {
            bucket,
            prefix,
            region: region.unwrap_or_else(|| DEFAULT_S3_REGION.to_string()),
            endpoint_url,
            access_key_id,
            secret_access_key: secret_access_key.map(Secret::new),
            timeout_seconds: timeout_seconds.unwrap_or(DEFAULT_S3_TIMEOUT_SECONDS),
            retry: RetrySettings::default(),
        }))
    }
}

/// One section being read: each key is taken once; what is left at the end is unknown.
struct Section<'a> {
    parser: &'a Parser<'a>,
    name: String,
    entries: BTreeMap<String, Value>,
    /// Where each key already taken came from (file or environment variable).
    origins: BTreeMap<String, String>,
}

impl Section<'_> {
    fn known_keys(&self) -> &'static [&'static str] {
        if self.name == "warehouse" {
            &[
                "host",
                "port",
                "username",
                "password",
                "database",
                "schema",
                "connect_timeout_seconds",
                "statement_timeout_seconds",
                "lock_wait_seconds",
            ]
        } else if self.name == "reporting" {
            &["time_zone"]
        } else if self.name == "retry" {
            &["attempts", "initial_backoff_seconds", "max_backoff_seconds"]
        } else if self.name == "retention" {
            &["staged_extract_days", "run_log_days"]
        } else if self.name == "validate" {
            &[
                "statement_timeout_seconds",
                "webhook_url",
                "webhook_timeout_seconds",
                "webhook_attempts",
            ]
        } else if self.name == "extract" {
            &[
                "recheck_last_ids",
                "changed_runs_scan_interval_minutes",
                "changed_runs_scan_overlap_minutes",
            ]
        } else if self.name == "staging" {
            &[
                "backend",
                "local_directory",
                "bucket",
                "prefix",
                "region",
                "endpoint_url",
                "access_key_id",
                "secret_access_key",
                "timeout_seconds",
            ]
        } else {
            &[
                "instance",
                "host",
                "port",
                "username",
                "password",
                "database",
                "schema",
                "connect_timeout_seconds",
                "statement_timeout_seconds",
            ]
        }
    }

    /// Takes `key` as text; empty means not set.
    fn raw(&mut self, key: &str) -> Result<Option<(String, Value)>, ConfigError> {
        let Some(value) = self.entries.remove(key) else {
            return Ok(None);
        };
        let origin = self.parser.origin(&value, &self.name, Some(key));
        self.origins.insert(key.to_string(), origin);
        let text = match &value.kind {
            ValueKind::String(s) => s.trim().to_string(),
            ValueKind::Nil => String::new(),
            ValueKind::Boolean(b) => b.to_string(),
            ValueKind::I64(n) => n.to_string(),
            ValueKind::U64(n) => n.to_string(),
            ValueKind::Float(n) => n.to_string(),
            _ => {
                return Err(ConfigError::Invalid {
                    origin: self.parser.origin(&value, &self.name, Some(key)),
                    section: self.name.clone(),
                    key: key.to_string(),
                    value: "(a nested table)".into(),
                    expected: "a single value".into(),
                });
            }
        };
        if text.is_empty() {
            Ok(None)
        } else {
            Ok(Some((text, value)))
        }
    }

    fn string(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.raw(key)?.map(|(text, _)| text))
    }

    fn secret(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        // Not trimmed beyond what INI does: a password may end in spaces only via the environment.
        Ok(self.raw(key)?.map(|(text, _)| text))
    }

    fn required(&mut self, key: &str) -> Result<String, ConfigError> {
        self.string(key)?.ok_or_else(|| ConfigError::Missing {
            path: self.parser.path.to_path_buf(),
            section: self.name.clone(),
            key: key.to_string(),
            env: env_var_name(&self.name, key),
        })
    }

    fn number(&mut self, key: &str, min: u64, max: u64) -> Result<Option<u64>, ConfigError> {
        let Some((text, value)) = self.raw(key)? else {
            return Ok(None);
        };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError::Invalid {
                origin: self.parser.origin(&value, &self.name, Some(key)),
                section: self.name.clone(),
                key: key.to_string(),
                value: text,
                expected: format!("a whole number from {min} to {max}"),
            }),
        }
    }

    /// An "invalid value" error for a key already taken.
    fn invalid(&self, key: &str, value: &str, expected: &str) -> ConfigError {
        let origin = self
            .origins
            .get(key)
            .cloned()
            .unwrap_or_else(|| self.parser.path.display().to_string());
        ConfigError::Invalid {
            origin,
            section: self.name.clone(),
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    /// Fails on the first key nobody took.
    fn finish(self) -> Result<(), ConfigError> {
        if let Some((key, value)) = self.entries.iter().next() {
            return Err(ConfigError::UnknownKey {
                origin: self.parser.origin(value, &self.name, Some(key)),
                section: self.name.clone(),
                known: self.known_keys().join(", "),
                key: key.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Settings, ConfigError> {
        parse_env(text, &[])
    }

    fn parse_env(text: &str, env: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        load_from_str(
            Path::new("/etc/pipewatch/pipeline.conf"),
            text,
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        )
    }

    const MINIMAL: &str = "[warehouse]\nusername = etl\ndatabase = dw\n";

    #[test]
    fn shipped_example_parses_with_documented_defaults() {
        let text = include_str!("../pipeline.conf.example");
        let settings = parse(text).expect("pipeline.conf.example must parse");
        assert_eq!(settings.warehouse.port, DEFAULT_PORT);
        assert_eq!(settings.warehouse.schema.as_str(), DEFAULT_WAREHOUSE_SCHEMA);
        assert_eq!(settings.airflow.len(), 1);
        assert_eq!(settings.airflow[0].instance, DEFAULT_INSTANCE_NAME);
        assert_eq!(settings.extract, ExtractSettings::default());
        match &settings.staging {
            StagingSettings::Local { directory } => {
                assert_eq!(directory, Path::new("/etc/pipewatch/stage"))
            }
            other => panic!("example should stage locally, got {other:?}"),
        }
    }

    #[test]
    fn every_key_the_parser_knows_is_documented_in_the_example() {
        let text = include_str!("../pipeline.conf.example");
        for (section, probe) in [
            ("warehouse", "warehouse"),
            ("staging", "staging"),
            ("extract", "extract"),
            ("reporting", "reporting"),
            ("validate", "validate"),
            ("retention", "retention"),
            ("retry", "retry"),
            (AIRFLOW_SECTION, AIRFLOW_SECTION),
        ] {
            let s = Section {
                parser: &Parser {
                    path: Path::new("x"),
                    base: PathBuf::new(),
                },
                name: probe.to_string(),
                entries: BTreeMap::new(),
                origins: BTreeMap::new(),
            };
            for key in s.known_keys() {
                let documented = text.lines().any(|l| {
                    let l = l.trim_start_matches(';').trim();
                    l.starts_with(&format!("{key} =")) || l == format!("{key} =")
                });
                assert!(
                    documented,
                    "[{section}] {key} is not in pipeline.conf.example"
                );
            }
        }
    }

    #[test]
    fn minimal_file_gets_defaults() {
        let s = parse(MINIMAL).unwrap();
        assert_eq!(s.warehouse.host, "localhost");
        assert_eq!(s.warehouse.port, 5432);
        assert!(s.warehouse.password.is_empty());
        assert!(s.airflow.is_empty());
    }

    #[test]
    fn unknown_key_names_key_section_and_file() {
        let err = parse(&format!("{MINIMAL}hots = x\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown key `hots`"), "{err}");
        assert!(err.contains("[warehouse]"), "{err}");
        assert!(err.contains("/etc/pipewatch/pipeline.conf"), "{err}");
    }

    #[test]
    fn unknown_section_is_refused() {
        let err = parse(&format!("{MINIMAL}[warehous]\nhost = x\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown section [warehous]"), "{err}");
    }

    #[test]
    fn non_numeric_port_names_the_key() {
        let err = parse(&format!("{MINIMAL}port = fivefourthreetwo\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[warehouse] port = \"fivefourthreetwo\" is not valid"),
            "{err}"
        );
        assert!(err.contains("whole number"), "{err}");
    }

    #[test]
    fn missing_required_key_names_key_and_env_var() {
        let err = parse("[warehouse]\nusername = etl\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing required key `database`"), "{err}");
        assert!(err.contains("PIPEWATCH__WAREHOUSE__DATABASE"), "{err}");
    }

    #[test]
    fn environment_overrides_file_and_errors_name_the_variable() {
        let s = parse_env(
            &format!("{MINIMAL}password = from-file\n"),
            &[
                ("PIPEWATCH__WAREHOUSE__PASSWORD", "from-env"),
                ("PIPEWATCH__WAREHOUSE__PORT", "6543"),
            ],
        )
        .unwrap();
        assert_eq!(s.warehouse.password.expose(), "from-env");
        assert_eq!(s.warehouse.port, 6543);

        let err = parse_env(MINIMAL, &[("PIPEWATCH__WAREHOUSE__PORT", "x")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable PIPEWATCH__WAREHOUSE__PORT"),
            "{err}"
        );
        let err = parse_env(MINIMAL, &[("PIPEWATCH__WAREHOUSE__HOTS", "x")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("environment variable PIPEWATCH__WAREHOUSE__HOTS"),
            "{err}"
        );
    }

    #[test]
    fn password_never_appears_in_debug_output() {
        let s = parse(&format!(
            "{MINIMAL}password = hunter2-secret\n[staging]\nbackend = s3\nbucket = b\naccess_key_id = AK\nsecret_access_key = sk-secret\n"
        ))
        .unwrap();
        let debug = format!("{s:?}");
        assert!(!debug.contains("hunter2-secret"), "{debug}");
        assert!(!debug.contains("sk-secret"), "{debug}");
        assert!(debug.contains("***"));
    }

    #[test]
    fn several_airflow_instances_are_named_by_section_or_key() {
        let s = parse(&format!(
            "{MINIMAL}[airflowdb_config]\nusername = a\ndatabase = a\n[airflowdb_config_eu]\nusername = b\ndatabase = b\n[airflowdb_config_us]\ninstance = us-east\nusername = c\ndatabase = c\n"
        ))
        .unwrap();
        let names: Vec<_> = s.airflow.iter().map(|a| a.instance.as_str()).collect();
        assert_eq!(names, ["default", "eu", "us-east"]);
        let err = parse(&format!(
            "{MINIMAL}[airflowdb_config]\nusername = a\ndatabase = a\n[airflowdb_config_x]\ninstance = default\nusername = b\ndatabase = b\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(
            err.contains("both name Airflow instance `default`"),
            "{err}"
        );
    }

    #[test]
    fn schema_names_are_validated() {
        let err = parse(&format!("{MINIMAL}schema = Robert'); drop\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("[warehouse] schema"), "{err}");
    }

    #[test]
    fn s3_staging_needs_a_bucket_and_keeps_prefix_as_folder() {
        let err = parse(&format!("{MINIMAL}[staging]\nbackend = s3\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("missing required key `bucket`"), "{err}");
        let s = parse(&format!(
            "{MINIMAL}[staging]\nbackend = s3\nbucket = b\nprefix = extracts\nendpoint_url = http://127.0.0.1:9000\n"
        ))
        .unwrap();
        match s.staging {
            StagingSettings::S3(s3) => {
                assert_eq!(s3.prefix, "extracts/");
                assert_eq!(s3.endpoint_url.as_deref(), Some("http://127.0.0.1:9000"));
            }
            other => panic!("{other:?}"),
        }
        let err = parse(&format!("{MINIMAL}[staging]\nbackend = ftp\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("`local` or `s3`"), "{err}");
    }

    #[test]
    fn key_outside_a_section_is_refused() {
        let err = parse(&format!("host = x\n{MINIMAL}"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("outside any section"), "{err}");
    }
}
