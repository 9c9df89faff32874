//! Connections: the warehouse and the Airflow metadata databases (`[warehouse]`,
//! `[airflowdb_config*]`, with their TLS keys), the Airflow REST APIs (`[airflow_api*]`), and
//! the one retry policy every connection and request uses (`[retry]`): their settings, defaults
//! and validation.

use std::path::PathBuf;

use super::env::env_var_name;
use super::error::ConfigError;
use super::ini::{Parser, Section};
use super::sections::{AIRFLOW_API_SECTION, AIRFLOW_SECTION};
use super::types::{Identifier, Secret};
use super::url;

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

/// Default attempts for an operation that fails transiently (connections, S3 requests).
pub const DEFAULT_RETRY_ATTEMPTS: u64 = 5;
/// Default wait before the second attempt; it doubles for each next one.
pub const DEFAULT_RETRY_INITIAL_BACKOFF_SECONDS: u64 = 1;
/// Default longest wait between two attempts.
pub const DEFAULT_RETRY_MAX_BACKOFF_SECONDS: u64 = 30;

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
/// Default largest API answer read (32 MiB: a page of 100 runs is about 100 KiB, a batch of
/// 10,000 task instances about 10 MiB).
pub const DEFAULT_API_MAX_RESPONSE_BYTES: u64 = 32 * 1024 * 1024;
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
    /// Largest answer read, in bytes: a larger (or endless) body fails the request.
    pub max_response_bytes: u64,
    /// The time zone of the instance's cron schedules (`dag_time_zone`): Airflow's REST API
    /// does not tell a DAG's own time zone (its DAG details answer the instance's default for
    /// every DAG). None: cron schedules read through the API are not expanded into expected
    /// runs.
    pub dag_time_zone: Option<String>,
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

impl Parser<'_> {
    pub(super) fn retry(&self, mut s: Section) -> Result<RetrySettings, ConfigError> {
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

    pub(super) fn postgres(
        &self,
        s: &mut Section,
        default_schema: &str,
        default_statement_timeout: u64,
        retry: RetrySettings,
    ) -> Result<PostgresSettings, ConfigError> {
        let schema_text = s
            .string("schema")?
            .unwrap_or_else(|| default_schema.to_string());
        let schema = Identifier::parse(&schema_text)
            .map_err(|expected| s.invalid("schema", &schema_text, &expected))?;
        let tls = self.tls(s)?;
        Ok(PostgresSettings {
            tls,
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
            retry,
        })
    }

    /// `sslmode`, `sslrootcert`, `sslcert` and `sslkey` of a PostgreSQL section.
    pub(super) fn tls(&self, s: &mut Section) -> Result<TlsSettings, ConfigError> {
        let mode = match s.string("sslmode")? {
            None => SslMode::default(),
            Some(text) => match text.as_str() {
                "disable" => SslMode::Disable,
                "prefer" => SslMode::Prefer,
                "require" => SslMode::Require,
                "verify-ca" => SslMode::VerifyCa,
                "verify-full" => SslMode::VerifyFull,
                // libpq's `allow` tries plaintext first: pipewatch never downgrades on purpose.
                _ => {
                    return Err(s.invalid(
                        "sslmode",
                        &text,
                        "disable, prefer, require, verify-ca or verify-full (libpq's meaning)",
                    ));
                }
            },
        };
        let path = |value: Option<String>| value.map(|v| self.base.join(v));
        let root_cert = path(s.string("sslrootcert")?);
        let cert = path(s.string("sslcert")?);
        let key = path(s.string("sslkey")?);
        let rule = |message: String| ConfigError::Rule {
            path: self.path.to_path_buf(),
            message,
        };
        if matches!(mode, SslMode::VerifyCa | SslMode::VerifyFull) && root_cert.is_none() {
            return Err(rule(format!(
                "[{}] sslmode = {} needs sslrootcert: the PEM file of the certificate authority that signed the server's certificate",
                s.name,
                mode.as_str()
            )));
        }
        let client_cert = match (cert, key) {
            (Some(cert), Some(key)) => Some((cert, key)),
            (None, None) => None,
            _ => {
                return Err(rule(format!(
                    "[{}] sslcert and sslkey go together: set both, or neither",
                    s.name
                )));
            }
        };
        if mode == SslMode::Disable && (root_cert.is_some() || client_cert.is_some()) {
            return Err(rule(format!(
                "[{}] sslmode = disable with sslrootcert, sslcert or sslkey set: choose a mode that encrypts, or remove them",
                s.name
            )));
        }
        Ok(TlsSettings {
            mode,
            root_cert,
            client_cert,
        })
    }

    /// The warehouse connection, and `lock_wait_seconds` (which only the warehouse has).
    pub(super) fn warehouse(
        &self,
        mut s: Section,
        retry: RetrySettings,
    ) -> Result<(PostgresSettings, u64), ConfigError> {
        let pg = self.postgres(
            &mut s,
            DEFAULT_WAREHOUSE_SCHEMA,
            DEFAULT_WAREHOUSE_STATEMENT_TIMEOUT_SECONDS,
            retry,
        )?;
        let lock_wait_seconds = s
            .number("lock_wait_seconds", 0, 24 * 3600)?
            .unwrap_or(DEFAULT_LOCK_WAIT_SECONDS);
        s.finish()?;
        Ok((pg, lock_wait_seconds))
    }

    /// The `instance` of an Airflow section: given, or implied by the section's name (`default`
    /// for the unsuffixed section, `<x>` for `[<section>_<x>]`).
    pub(super) fn instance_name(
        &self,
        s: &mut Section,
        section: &str,
    ) -> Result<String, ConfigError> {
        let implied = if s.name == section {
            DEFAULT_INSTANCE_NAME.to_string()
        } else {
            s.name[section.len() + 1..].to_string()
        };
        let instance = s.string("instance")?.unwrap_or(implied);
        // The name is a folder of the stage (`dag_run/<instance>/...`): no `.` or `..`, no
        // leading dot.
        let valid = !instance.is_empty()
            && instance.len() <= 100
            && !instance.starts_with('.')
            && instance
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
        if !valid {
            return Err(s.invalid(
                "instance",
                &instance,
                "an instance name of letters, digits, `_`, `-` and `.` (not first), at most 100 characters",
            ));
        }
        Ok(instance)
    }

    pub(super) fn airflow(
        &self,
        mut s: Section,
        retry: RetrySettings,
    ) -> Result<AirflowSettings, ConfigError> {
        let instance = self.instance_name(&mut s, AIRFLOW_SECTION)?;
        let database = self.postgres(
            &mut s,
            DEFAULT_AIRFLOW_SCHEMA,
            DEFAULT_AIRFLOW_STATEMENT_TIMEOUT_SECONDS,
            retry,
        )?;
        s.finish()?;
        Ok(AirflowSettings { instance, database })
    }

    pub(super) fn airflow_api(
        &self,
        mut s: Section,
        retry: RetrySettings,
    ) -> Result<AirflowApiSettings, ConfigError> {
        let instance = self.instance_name(&mut s, AIRFLOW_API_SECTION)?;
        let base_url = s.required("base_url")?;
        if let Some(problem) = url::problem(
            &base_url,
            &format!("set [{}] username and password, or token", s.name),
        ) {
            return Err(s.invalid("base_url", &url::redacted(&base_url), &problem));
        }
        if base_url.contains('?') {
            return Err(s.invalid(
                "base_url",
                &base_url,
                "the webserver's URL without a query, such as https://airflow.example.com",
            ));
        }
        let base_url = base_url.trim_end_matches('/').to_string();
        for suffix in ["/api/v1", "/api/v2"] {
            if base_url.ends_with(suffix) {
                return Err(s.invalid(
                    "base_url",
                    &base_url,
                    &format!(
                        "the webserver's address without {suffix}: pipewatch adds the API path itself"
                    ),
                ));
            }
        }
        let api_version = match s.string("api_version")?.as_deref() {
            None | Some("auto") => ApiVersionSetting::Auto,
            Some("v1") | Some("1") => ApiVersionSetting::V1,
            Some("v2") | Some("2") => ApiVersionSetting::V2,
            Some(other) => {
                let other = other.to_string();
                return Err(s.invalid(
                    "api_version",
                    &other,
                    "auto (ask the server), v1 (Airflow 2) or v2 (Airflow 3)",
                ));
            }
        };
        let username = s.string("username")?;
        let password = s.secret("password")?;
        let token = s.secret("token")?;
        let rule = |message: String| ConfigError::Rule {
            path: self.path.to_path_buf(),
            message,
        };
        let auth = match (username, password, token) {
            (Some(username), Some(password), None) => ApiAuth::Password {
                username,
                password: Secret::new(password),
            },
            (None, None, Some(token)) => ApiAuth::Token(Secret::new(token)),
            (None, None, None) => {
                return Err(rule(format!(
                    "[{}] needs credentials: username and password (an Airflow user), or token (a bearer token issued by a managed service)",
                    s.name
                )));
            }
            (_, _, Some(_)) => {
                return Err(rule(format!(
                    "[{}] sets token together with username or password: keep one way to log in",
                    s.name
                )));
            }
            (Some(_), None, None) | (None, Some(_), None) => {
                return Err(rule(format!(
                    "[{}] username and password go together: set both (or token instead)",
                    s.name
                )));
            }
        };
        let ca_file = s.string("ca_file")?.map(|v| self.base.join(v));
        let verify_tls = s.boolean("verify_tls")?.unwrap_or(true);
        if !verify_tls && ca_file.is_some() {
            return Err(rule(format!(
                "[{}] verify_tls = false with ca_file set: a CA file is only used to verify; remove one of the two",
                s.name
            )));
        }
        let settings = AirflowApiSettings {
            section: s.name.clone(),
            instance,
            base_url,
            api_version,
            auth,
            ca_file,
            verify_tls,
            page_size: s
                .number("page_size", 1, 100_000)?
                .unwrap_or(DEFAULT_API_PAGE_SIZE),
            request_timeout_seconds: s
                .number("request_timeout_seconds", 1, 3600)?
                .unwrap_or(DEFAULT_API_REQUEST_TIMEOUT_SECONDS),
            max_requests_per_second: s
                .number("max_requests_per_second", 0, 10_000)?
                .unwrap_or(DEFAULT_API_MAX_REQUESTS_PER_SECOND),
            max_response_bytes: s
                .number("max_response_bytes", 1024, 1 << 40)?
                .unwrap_or(DEFAULT_API_MAX_RESPONSE_BYTES),
            dag_time_zone: match s.string("dag_time_zone")? {
                None => None,
                Some(zone) if zone.parse::<chrono_tz::Tz>().is_ok() => Some(zone),
                Some(zone) => {
                    return Err(s.invalid(
                        "dag_time_zone",
                        &zone,
                        "an IANA time zone name such as UTC or Europe/Berlin",
                    ));
                }
            },
            retry,
        };
        s.finish()?;
        Ok(settings)
    }
}
