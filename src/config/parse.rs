//! Parsing: the `config` crate reads INI and the environment overrides into a tree of values;
//! this module walks it section by section against [`SECTIONS`], taking each key once, so that
//! what is left over is an unknown key.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use config::{Value, ValueKind};

use super::error::ConfigError;
use super::sections::{
    AIRFLOW_API_SECTION, AIRFLOW_SECTION, AIRFLOW_UI, ALERTS, EXTRACT, REPORTING, RETENTION, RETRY,
    STAGING, SectionSpec, VALIDATE, WAREHOUSE, known_sections, section_spec,
};
use super::settings::*;
use super::types::{Identifier, Secret};
use super::{ENV_PREFIX, ENV_SEPARATOR, env_var_name};

pub(super) struct Parser<'a> {
    pub(super) path: &'a Path,
    pub(super) base: PathBuf,
    /// The sections written in the file (lower case); any other came from the environment.
    pub(super) file_sections: std::collections::BTreeSet<String>,
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

    pub(super) fn parse(&self, root: Value) -> Result<Settings, ConfigError> {
        let mut sections: BTreeMap<String, Value> = match root.kind {
            ValueKind::Table(map) => map.into_iter().collect(),
            _ => BTreeMap::new(),
        };
        let mut warehouse = None;
        let mut staging = None;
        let mut extract = None;
        let mut time_zone = None;
        let mut validate = None;
        let mut retention = None;
        let mut airflow = Vec::new();
        let mut airflow_api = Vec::new();
        let mut alerts: Option<AlertSettings> = None;
        let mut overrides = Vec::new();
        let mut airflow_ui = None;
        // One retry policy for every connection and request: read first, handed to the others.
        let retry = match sections.remove(RETRY) {
            Some(value) => self.retry(self.section(RETRY, value)?)?,
            None => RetrySettings::default(),
        };
        for (name, value) in sections {
            let section = self.section(&name, value)?;
            match section.spec.name {
                WAREHOUSE => warehouse = Some(self.warehouse(section, retry)?),
                STAGING => staging = Some(self.staging(section, retry)?),
                EXTRACT => extract = Some(self.extract(section)?),
                REPORTING => time_zone = Some(self.reporting(section)?),
                VALIDATE => validate = Some(self.validate(section)?),
                RETENTION => retention = Some(self.retention(section)?),
                AIRFLOW_SECTION => airflow.push(self.airflow(section, retry)?),
                AIRFLOW_API_SECTION => airflow_api.push(self.airflow_api(section, retry)?),
                ALERTS if section.name == ALERTS => alerts = Some(self.alerts(section)?),
                ALERTS => overrides.push(self.alert_override(section)?),
                AIRFLOW_UI => airflow_ui = Some(self.airflow_ui(section)?),
                other => unreachable!("section [{other}] is in SECTIONS but not parsed"),
            }
        }
        let (warehouse, lock_wait_seconds) = warehouse.ok_or_else(|| ConfigError::Rule {
            path: self.path.to_path_buf(),
            message: "missing section [warehouse] (pipewatch needs a warehouse to write to)"
                .to_string(),
        })?;
        // BTreeMap order puts [airflowdb_config] before [airflowdb_config_*]; keep it.
        // An instance is either a database or an API source, never both: its rows, watermark
        // and stage folder are keyed by the name alone.
        let mut seen = BTreeMap::new();
        let named = airflow
            .iter()
            .map(|a| (&a.instance, &a.database.section))
            .chain(airflow_api.iter().map(|a| (&a.instance, &a.section)));
        for (instance, section) in named {
            if let Some(other) = seen.insert(instance.clone(), section.clone()) {
                return Err(ConfigError::Rule {
                    path: self.path.to_path_buf(),
                    message: format!(
                        "sections [{other}] and [{section}] both name Airflow instance `{instance}`: give each an `instance` of its own (an instance is read from its database or its REST API, never both)"
                    ),
                });
            }
        }
        if alerts.is_none() && !overrides.is_empty() {
            return Err(ConfigError::Rule {
                path: self.path.to_path_buf(),
                message:
                    "per-DAG [alerts_*] sections need an [alerts] section, which turns alerts on"
                        .to_string(),
            });
        }
        if let Some(a) = alerts.as_mut() {
            a.overrides = overrides;
        }
        let staging = match staging {
            Some(s) => s,
            None => StagingSettings::Local {
                directory: self.base.join(DEFAULT_LOCAL_DIRECTORY),
            },
        };
        Ok(Settings {
            path: self.path.to_path_buf(),
            warehouse,
            lock_wait_seconds,
            airflow,
            airflow_api,
            staging,
            extract: extract.unwrap_or_default(),
            time_zone: time_zone.unwrap_or_else(|| DEFAULT_TIME_ZONE.to_string()),
            validate: validate.unwrap_or_default(),
            retention: retention.unwrap_or_default(),
            alerts,
            airflow_ui,
        })
    }

    /// The rule keys of `[alerts]` and `[alerts_*]`.
    fn alert_rules(&self, s: &mut Section) -> Result<AlertRules, ConfigError> {
        let landing_deadline = match s.string("landing_deadline")? {
            None => None,
            Some(text) => Some(chrono::NaiveTime::parse_from_str(&text, "%H:%M").map_err(
                |_| {
                    s.invalid(
                        "landing_deadline",
                        &text,
                        "a local time HH:MM, such as 06:30",
                    )
                },
            )?),
        };
        Ok(AlertRules {
            enabled: s.boolean("enabled")?,
            success_rate_drop: s.fraction("success_rate_drop", 0.0, 1.0)?,
            success_rate_baseline_days: s.number("success_rate_baseline_days", 1, 366)?,
            success_rate_min_runs: s.number("success_rate_min_runs", 1, 100_000)?,
            runtime_mad_multiple: s.fraction("runtime_mad_multiple", 0.0, 1000.0)?,
            runtime_recent_runs: s.number("runtime_recent_runs", 1, 1000)?,
            runtime_baseline_days: s.number("runtime_baseline_days", 1, 366)?,
            runtime_baseline_min_runs: s.number("runtime_baseline_min_runs", 1, 100_000)?,
            freshness_hours: s.fraction("freshness_hours", 0.0, 24.0 * 366.0)?,
            landing_deadline,
            consecutive_breaches: s.number("consecutive_breaches", 1, 1000)?,
            cooldown_minutes: s.number("cooldown_minutes", 0, 366 * 24 * 60)?,
        })
    }

    fn alerts(&self, mut s: Section) -> Result<AlertSettings, ConfigError> {
        let rules = self.alert_rules(&mut s)?;
        if let Some(key) = ["dag_id", "instance"]
            .into_iter()
            .find(|k| s.entries.contains_key(*k))
        {
            return Err(ConfigError::Rule {
                path: self.path.to_path_buf(),
                message: format!(
                    "[alerts] sets the defaults of every DAG and takes no `{key}`: put a DAG's own rules in a section [alerts_<label>] with dag_id = ..."
                ),
            });
        }
        let webhook_url = s.webhook_url()?;
        let settings = AlertSettings {
            rules,
            overrides: Vec::new(),
            validation_failures: s.boolean("validation_failures")?.unwrap_or(false),
            webhook_url,
        };
        s.finish()?;
        Ok(settings)
    }

    fn alert_override(&self, mut s: Section) -> Result<AlertOverride, ConfigError> {
        let dag_id = s.required("dag_id")?;
        let instance = s.string("instance")?;
        let rules = self.alert_rules(&mut s)?;
        for key in ["validation_failures", "webhook_url", "webhook_url_file"] {
            if s.entries.contains_key(key) {
                return Err(ConfigError::Rule {
                    path: self.path.to_path_buf(),
                    message: format!("[{}] is a DAG's rules: `{key}` belongs in [alerts]", s.name),
                });
            }
        }
        let o = AlertOverride {
            section: s.name.clone(),
            dag_id,
            instance,
            rules,
        };
        s.finish()?;
        Ok(o)
    }

    fn airflow_ui(&self, mut s: Section) -> Result<String, ConfigError> {
        let url = s.required("base_url")?;
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            return Err(s.invalid(
                "base_url",
                &url,
                "the Airflow web UI's URL, starting with http:// or https://",
            ));
        }
        s.finish()?;
        Ok(url.trim_end_matches('/').to_string())
    }

    /// The section `name` of the file, matched against [`SECTIONS`].
    fn section(&self, name: &str, value: Value) -> Result<Section<'_>, ConfigError> {
        let origin = if self.file_sections.contains(&name.to_lowercase()) {
            self.origin(&value, name, None)
        } else {
            // Not in the file: made by PIPEWATCH__<SECTION>__<KEY> variables.
            format!(
                "environment variables {ENV_PREFIX}{ENV_SEPARATOR}{}{ENV_SEPARATOR}*",
                name.to_uppercase()
            )
        };
        let ValueKind::Table(entries) = value.kind else {
            return Err(ConfigError::Rule {
                path: self.path.to_path_buf(),
                message: format!(
                    "key `{name}` is outside any section: put it under [{WAREHOUSE}], [{STAGING}] or [{AIRFLOW_SECTION}]"
                ),
            });
        };
        let spec = section_spec(name).ok_or_else(|| ConfigError::UnknownSection {
            origin,
            section: name.to_string(),
            known: known_sections(),
        })?;
        Ok(Section {
            parser: self,
            spec,
            name: name.to_string(),
            entries: entries.into_iter().collect(),
            origins: BTreeMap::new(),
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
        let webhook_url = s.webhook_url()?;
        let settings = ValidateSettings {
            statement_timeout_seconds: s
                .number("statement_timeout_seconds", 0, 24 * 3600)?
                .unwrap_or(d.statement_timeout_seconds),
            webhook_url,
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
            task_instances: s.boolean("task_instances")?.unwrap_or(d.task_instances),
        };
        s.finish()?;
        Ok(settings)
    }

    fn postgres(
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
    fn tls(&self, s: &mut Section) -> Result<TlsSettings, ConfigError> {
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
    fn warehouse(
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
    fn instance_name(&self, s: &mut Section, section: &str) -> Result<String, ConfigError> {
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

    fn airflow(
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

    fn airflow_api(
        &self,
        mut s: Section,
        retry: RetrySettings,
    ) -> Result<AirflowApiSettings, ConfigError> {
        let instance = self.instance_name(&mut s, AIRFLOW_API_SECTION)?;
        let base_url = s.required("base_url")?;
        let lower = base_url.to_ascii_lowercase();
        if !(lower.starts_with("http://") || lower.starts_with("https://"))
            || base_url.contains('?')
        {
            return Err(s.invalid(
                "base_url",
                &base_url,
                "the webserver's URL starting with http:// or https://, such as https://airflow.example.com",
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
            retry,
        };
        s.finish()?;
        Ok(settings)
    }

    fn staging(
        &self,
        mut s: Section,
        retry: RetrySettings,
    ) -> Result<StagingSettings, ConfigError> {
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
            retry,
        }))
    }
}

/// One section being read: each key is taken once; what is left at the end is unknown.
struct Section<'a> {
    parser: &'a Parser<'a>,
    /// What the section may hold.
    spec: &'static SectionSpec,
    name: String,
    entries: BTreeMap<String, Value>,
    /// Where each key already taken came from (file or environment variable).
    origins: BTreeMap<String, String>,
}

impl Section<'_> {
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
        let value = self.raw(key)?.map(|(text, _)| text);
        let file_key = format!("{key}_file");
        let Some((path, _)) = self.raw(&file_key)? else {
            return Ok(value);
        };
        if value.is_some() {
            return Err(ConfigError::Rule {
                path: self.parser.path.to_path_buf(),
                message: format!("[{}] sets both {key} and {file_key}: keep one", self.name),
            });
        }
        // A mounted secret (Kubernetes, Docker, systemd credentials): the whole file, less the
        // line ending editors and `echo` add. Its content is never shown, only its path.
        let path = self.parser.base.join(path);
        let text = std::fs::read_to_string(&path).map_err(|cause| ConfigError::Rule {
            path: self.parser.path.to_path_buf(),
            message: format!(
                "[{}] {file_key}: cannot read {}: {cause}",
                self.name,
                path.display()
            ),
        })?;
        let text = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        Ok((!text.is_empty()).then(|| text.to_string()))
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

    /// `webhook_url` (or `webhook_url_file`): an http(s) URL, kept secret.
    fn webhook_url(&mut self) -> Result<Option<Secret>, ConfigError> {
        let url = self.secret("webhook_url")?;
        if let Some(url) = &url
            && !(url.starts_with("http://") || url.starts_with("https://"))
        {
            // The URL is a secret (Slack puts its token in the path): show only its start.
            let shown: String = url.chars().take(8).collect();
            return Err(self.invalid(
                "webhook_url",
                &format!("{shown}..."),
                "a URL starting with http:// or https://",
            ));
        }
        Ok(url.map(Secret::new))
    }

    fn fraction(&mut self, key: &str, min: f64, max: f64) -> Result<Option<f64>, ConfigError> {
        let Some((text, value)) = self.raw(key)? else {
            return Ok(None);
        };
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() && (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError::Invalid {
                origin: self.parser.origin(&value, &self.name, Some(key)),
                section: self.name.clone(),
                key: key.to_string(),
                value: text,
                expected: format!("a number from {min} to {max}"),
            }),
        }
    }

    fn boolean(&mut self, key: &str) -> Result<Option<bool>, ConfigError> {
        let Some((text, value)) = self.raw(key)? else {
            return Ok(None);
        };
        match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Some(true)),
            "false" | "no" | "off" | "0" => Ok(Some(false)),
            _ => Err(ConfigError::Invalid {
                origin: self.parser.origin(&value, &self.name, Some(key)),
                section: self.name.clone(),
                key: key.to_string(),
                value: text,
                expected: "true or false".into(),
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
                known: self.spec.keys.join(", "),
                key: key.clone(),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{SECTIONS, load_from_str};

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
        let text = include_str!("../../pipeline.conf.example");
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
        let text = include_str!("../../pipeline.conf.example");
        for spec in SECTIONS {
            let header = format!("[{}]", spec.name);
            assert!(
                text.lines()
                    .any(|l| l.trim_start_matches(';').trim() == header),
                "{header} is not in pipeline.conf.example"
            );
            for key in spec.keys {
                let documented = text.lines().any(|l| {
                    let l = l.trim_start_matches(';').trim();
                    l.starts_with(&format!("{key} =")) || l == format!("{key} =")
                });
                assert!(
                    documented,
                    "[{}] {key} is not in pipeline.conf.example",
                    spec.name
                );
            }
        }
    }

    #[test]
    fn unknown_section_message_lists_every_section_of_the_table() {
        let known = known_sections();
        for spec in SECTIONS {
            assert!(known.contains(&format!("[{}]", spec.name)), "{known}");
        }
        assert!(known.contains("[airflowdb_config_<instance>]"), "{known}");
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
    fn an_unknown_section_from_the_environment_is_blamed_on_the_environment() {
        let err = parse_env(MINIMAL, &[("PIPEWATCH__WAREHOUS__HOST", "x")])
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown section [warehous]"), "{err}");
        assert!(
            err.starts_with("environment variables PIPEWATCH__WAREHOUS__*"),
            "{err}"
        );
        assert!(!err.contains("pipeline.conf"), "{err}");
    }

    #[test]
    fn a_repeated_key_or_section_is_refused_naming_both_lines() {
        let err = parse(
            "[warehouse]\nusername = etl\nschema = a\ndatabase = dw\n; comment = x\nSchema = b\n",
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "/etc/pipewatch/pipeline.conf: line 6: `schema` is set a second time in [warehouse] (first on line 3); keep one of the two lines"
        );
        let err = parse(&format!(
            "{MINIMAL}[staging]\nlocal_directory = s\n[warehouse]\nhost = x\n"
        ))
        .unwrap_err()
        .to_string();
        assert_eq!(
            err,
            "/etc/pipewatch/pipeline.conf: line 6: section [warehouse] appears a second time (first on line 1); put all its keys under one [section] header"
        );
        // The same key in two sections is fine, and so is a comment repeating a key.
        parse(&format!(
            "{MINIMAL}[airflowdb_config]\nusername = etl\ndatabase = af\n; database = old\n"
        ))
        .unwrap();
    }

    #[test]
    fn instance_names_that_are_not_folder_names_are_refused() {
        for name in ["..", ".", ".hidden", "a/b", "a b"] {
            let err = parse(&format!(
                "{MINIMAL}[airflowdb_config]\nusername = etl\ndatabase = af\ninstance = {name}\n"
            ))
            .unwrap_err()
            .to_string();
            assert!(
                err.contains("instance") && err.contains("is not valid"),
                "{name:?}: {err}"
            );
        }
        parse(&format!(
            "{MINIMAL}[airflowdb_config]\nusername = etl\ndatabase = af\ninstance = prod-eu.1\n"
        ))
        .unwrap();
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
    fn secrets_can_come_from_files() {
        let dir = std::env::temp_dir().join(format!("pipewatch-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("pw"), "s3cr3t pass\n").unwrap();
        std::fs::write(dir.join("key"), "sk-from-file\r\n").unwrap();
        let config = dir.join("pipeline.conf");
        let load = |text: &str| load_from_str(&config, text, Vec::new());
        let s = load(&format!(
            "[warehouse]\nusername = etl\ndatabase = dw\npassword_file = pw\n\
             [staging]\nbackend = s3\nbucket = b\naccess_key_id = AK\nsecret_access_key_file = {}\n",
            dir.join("key").display()
        ))
        .unwrap();
        assert_eq!(s.warehouse.password.expose(), "s3cr3t pass");
        match &s.staging {
            StagingSettings::S3(s3) => assert_eq!(
                s3.secret_access_key.as_ref().unwrap().expose(),
                "sk-from-file"
            ),
            other => panic!("{other:?}"),
        }
        let err =
            load("[warehouse]\nusername = etl\ndatabase = dw\npassword = x\npassword_file = pw\n")
                .unwrap_err()
                .to_string();
        assert!(
            err.contains("sets both password and password_file"),
            "{err}"
        );
        let err = load("[warehouse]\nusername = etl\ndatabase = dw\npassword_file = missing\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("[warehouse] password_file: cannot read") && err.contains("missing"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn tls_settings_are_checked_with_the_configuration() {
        let s = parse(&format!(
            "{MINIMAL}sslmode = verify-full\nsslrootcert = certs/ca.pem\nsslcert = c.pem\nsslkey = c.key\n"
        ))
        .unwrap();
        assert_eq!(s.warehouse.tls.mode, SslMode::VerifyFull);
        assert_eq!(
            s.warehouse.tls.root_cert.as_deref(),
            Some(Path::new("/etc/pipewatch/certs/ca.pem"))
        );
        assert_eq!(parse(MINIMAL).unwrap().warehouse.tls.mode, SslMode::Prefer);
        for (lines, expected) in [
            (
                "sslmode = allow\n",
                "disable, prefer, require, verify-ca or verify-full",
            ),
            (
                "sslmode = verify-full\n",
                "sslmode = verify-full needs sslrootcert",
            ),
            (
                "sslmode = require\nsslcert = c.pem\n",
                "sslcert and sslkey go together",
            ),
            (
                "sslmode = disable\nsslrootcert = ca.pem\n",
                "sslmode = disable with sslrootcert",
            ),
        ] {
            let err = parse(&format!("{MINIMAL}{lines}")).unwrap_err().to_string();
            assert!(err.contains(expected), "{lines}: {err}");
        }
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

    #[test]
    fn api_sections_parse_with_defaults_and_implied_instance_names() {
        let s = parse(&format!(
            "{MINIMAL}[airflow_api]\nbase_url = https://airflow.example.com/\nusername = u\npassword = p\n\
             [airflow_api_composer]\nbase_url = https://x.composer.googleusercontent.com\ntoken = t0k\napi_version = v2\n"
        ))
        .unwrap();
        assert_eq!(s.airflow_api.len(), 2);
        let first = &s.airflow_api[0];
        assert_eq!(first.instance, DEFAULT_INSTANCE_NAME);
        assert_eq!(first.base_url, "https://airflow.example.com");
        assert_eq!(first.api_version, ApiVersionSetting::Auto);
        assert!(first.verify_tls);
        assert_eq!(first.page_size, DEFAULT_API_PAGE_SIZE);
        assert_eq!(
            first.request_timeout_seconds,
            DEFAULT_API_REQUEST_TIMEOUT_SECONDS
        );
        assert_eq!(
            first.max_requests_per_second,
            DEFAULT_API_MAX_REQUESTS_PER_SECOND
        );
        assert!(matches!(&first.auth, ApiAuth::Password { username, .. } if username == "u"));
        let second = &s.airflow_api[1];
        assert_eq!(second.instance, "composer");
        assert_eq!(second.api_version, ApiVersionSetting::V2);
        assert!(matches!(&second.auth, ApiAuth::Token(t) if t.expose() == "t0k"));
        // Secrets never print.
        assert!(!format!("{s:?}").contains("t0k"));
        let sources = s.sources();
        let names: Vec<&str> = sources.iter().map(|x| x.instance()).collect();
        assert_eq!(names, ["default", "composer"]);
    }

    #[test]
    fn api_sections_refuse_what_cannot_work() {
        let api = |body: &str| {
            parse(&format!("{MINIMAL}[airflow_api]\n{body}"))
                .unwrap_err()
                .to_string()
        };
        let cases = [
            (
                "username = u\npassword = p\n",
                "missing required key `base_url`",
            ),
            (
                "base_url = airflow:8080\nusername = u\npassword = p\n",
                "http:// or https://",
            ),
            (
                "base_url = http://a/api/v1\nusername = u\npassword = p\n",
                "without /api/v1",
            ),
            ("base_url = http://a\n", "needs credentials"),
            ("base_url = http://a\nusername = u\n", "go together"),
            (
                "base_url = http://a\nusername = u\npassword = p\ntoken = t\n",
                "keep one way",
            ),
            (
                "base_url = http://a\ntoken = t\napi_version = 3\n",
                "auto (ask the server), v1 (Airflow 2) or v2 (Airflow 3)",
            ),
            (
                "base_url = https://a\ntoken = t\nverify_tls = false\nca_file = ca.pem\n",
                "remove one of the two",
            ),
            (
                "base_url = http://a\ntoken = t\npage_size = 0\n",
                "from 1 to 100000",
            ),
        ];
        for (body, wanted) in cases {
            let err = api(body);
            assert!(err.contains(wanted), "{body:?}: {err}");
        }
    }

    #[test]
    fn an_instance_is_a_database_or_an_api_never_both() {
        let err = parse(&format!(
            "{MINIMAL}[airflowdb_config_prod]\nusername = a\ndatabase = af\n\
             [airflow_api]\ninstance = prod\nbase_url = http://a\ntoken = t\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("both name Airflow instance `prod`"), "{err}");
        assert!(err.contains("never both"), "{err}");
    }

    #[test]
    fn api_secrets_come_from_the_environment_and_files() {
        let s = parse_env(
            &format!("{MINIMAL}[airflow_api]\nbase_url = http://a\nusername = u\n"),
            &[("PIPEWATCH__AIRFLOW_API__PASSWORD", "from-env")],
        )
        .unwrap();
        assert!(
            matches!(&s.airflow_api[0].auth, ApiAuth::Password { password, .. } if password.expose() == "from-env")
        );
    }
}
