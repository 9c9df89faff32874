//! The stage and extraction: where extracts are staged (`[staging]`: a local folder or S3) and
//! how incremental extracts find new and changed runs (`[extract]`): their settings, defaults
//! and validation.

use std::path::PathBuf;

use super::connections::RetrySettings;
use super::env::env_var_name;
use super::error::ConfigError;
use super::ini::{Parser, Section};
use super::types::Secret;
use super::url;

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
/// Default `[extract] max_clock_skew_seconds`: five minutes.
pub const DEFAULT_MAX_CLOCK_SKEW_SECONDS: u64 = 300;
/// Default minutes between scans for runs Airflow changed (by `updated_at`).
pub const DEFAULT_CHANGED_RUNS_SCAN_INTERVAL_MINUTES: u64 = 60;
/// Default overlap of consecutive changed-run scans, in minutes.
pub const DEFAULT_CHANGED_RUNS_SCAN_OVERLAP_MINUTES: u64 = 10;

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
    /// The largest difference, in seconds, allowed between the source's clock (the read time
    /// of every row) and this machine's; beyond it an extract reads nothing.
    pub max_clock_skew_seconds: u64,
    /// Whether `run` also reads each instance's DAG catalogue (`dag`, `dag_tag`,
    /// `import_error`) into `dag_catalog` and its history.
    pub catalog: bool,
    /// Minutes that must pass after an instance's last successful catalogue reading before
    /// `run` reads it again (0: every run).
    pub catalog_interval_minutes: u64,
}

impl Default for ExtractSettings {
    fn default() -> Self {
        ExtractSettings {
            recheck_last_ids: DEFAULT_RECHECK_LAST_IDS,
            changed_runs_scan_interval_minutes: DEFAULT_CHANGED_RUNS_SCAN_INTERVAL_MINUTES,
            changed_runs_scan_overlap_minutes: DEFAULT_CHANGED_RUNS_SCAN_OVERLAP_MINUTES,
            task_instances: true,
            max_clock_skew_seconds: DEFAULT_MAX_CLOCK_SKEW_SECONDS,
            catalog: true,
            catalog_interval_minutes: 0,
        }
    }
}

impl Parser<'_> {
    pub(super) fn extract(&self, mut s: Section) -> Result<ExtractSettings, ConfigError> {
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
            // At most an hour: the load treats a stored read time more than an hour ahead of
            // the warehouse's clock as wrong (sql/load/upsert_dag_runs.sql).
            max_clock_skew_seconds: s
                .number("max_clock_skew_seconds", 1, 3600)?
                .unwrap_or(d.max_clock_skew_seconds),
            catalog: s.boolean("catalog")?.unwrap_or(d.catalog),
            catalog_interval_minutes: s
                .number("catalog_interval_minutes", 0, 7 * 24 * 60)?
                .unwrap_or(d.catalog_interval_minutes),
        };
        s.finish()?;
        Ok(settings)
    }

    pub(super) fn staging(
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
        if let Some(text) = &endpoint_url
            && let Some(problem) = url::problem(
                text,
                "set [staging] access_key_id and secret_access_key (or leave them to the AWS chain)",
            )
        {
            return Err(s.invalid("endpoint_url", &url::redacted(text), &problem));
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
