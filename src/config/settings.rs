//! The validated configuration as a whole. Each section's settings, defaults (named constants,
//! so that `pipeline.conf.example` and the code can be checked against each other) and
//! validation live with their group of sections: `connections.rs`, `staging.rs`,
//! `reporting.rs`, `validate.rs`, `alerts.rs`, `retention.rs`.

use std::path::PathBuf;

use super::alerts::AlertSettings;
use super::connections::{AirflowApiSettings, AirflowSettings, PostgresSettings, SourceSettings};
use super::objectives::Objective;
use super::prometheus::PrometheusSettings;
use super::retention::RetentionSettings;
use super::staging::{ExtractSettings, StagingSettings};
use super::types::Secret;
use super::validate::ValidateSettings;

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
    /// Metrics for Prometheus (`[prometheus]`; default: published nowhere, 500 DAGs).
    pub prometheus: PrometheusSettings,
    /// Alerts (`[alerts]`); None: no alert is evaluated.
    pub alerts: Option<AlertSettings>,
    /// The objectives (`[objective_<label>]`), in label order.
    pub objectives: Vec<Objective>,
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
