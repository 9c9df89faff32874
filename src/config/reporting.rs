//! Transform and reporting: the reporting time zone whose calendar days the daily figures use
//! (`[reporting]`) and the Airflow web UI that alerts link to (`[airflow_ui]`).

use super::error::ConfigError;
use super::ini::{Parser, Section};
use super::url;

/// Default reporting time zone.
pub const DEFAULT_TIME_ZONE: &str = "UTC";

impl Parser<'_> {
    pub(super) fn reporting(&self, mut s: Section) -> Result<String, ConfigError> {
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

    pub(super) fn airflow_ui(&self, mut s: Section) -> Result<String, ConfigError> {
        let url = s.required("base_url")?;
        if let Some(problem) = url::problem(
            &url,
            "the links in notices are for people, who sign in themselves",
        ) {
            return Err(s.invalid("base_url", &url::redacted(&url), &problem));
        }
        s.finish()?;
        Ok(url.trim_end_matches('/').to_string())
    }
}
