//! Prometheus (`[prometheus]`): where pipewatch publishes its figures for Prometheus to scrape
//! (a node_exporter textfile-collector directory, a Pushgateway, or both) and how many DAGs it
//! exports.
//!
//! Decisions written down here: whether the directory exists and is writable is not a
//! configuration error but a warning at write time (a mount may appear later; the command's own
//! work must never fail because its metrics could not be written). The Pushgateway URL may
//! carry `user:password@` for basic auth, so it is kept as a secret and only ever shown
//! redacted.

use std::path::PathBuf;

use super::error::ConfigError;
use super::ini::{Parser, Section};
use super::types::Secret;
use super::url;

/// Default number of DAGs whose per-DAG series are exported (the worst first).
pub const DEFAULT_METRICS_MAX_DAGS: u64 = 500;
/// Default seconds allowed for one push to the Pushgateway.
pub const DEFAULT_PUSHGATEWAY_TIMEOUT_SECONDS: u64 = 10;

/// `[prometheus]`.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusSettings {
    /// node_exporter's textfile-collector directory: `pipewatch.prom` is written there (through
    /// a temporary file and a rename) after every command that changes what it reports.
    pub textfile_directory: Option<PathBuf>,
    /// The Pushgateway's base URL (`http://host:9091`), possibly with `user:password@`.
    pub pushgateway_url: Option<Secret>,
    /// Seconds allowed for one push.
    pub pushgateway_timeout_seconds: u64,
    /// At most this many DAGs get per-DAG series (0: none).
    pub max_dags: u64,
}

impl Default for PrometheusSettings {
    fn default() -> Self {
        PrometheusSettings {
            textfile_directory: None,
            pushgateway_url: None,
            pushgateway_timeout_seconds: DEFAULT_PUSHGATEWAY_TIMEOUT_SECONDS,
            max_dags: DEFAULT_METRICS_MAX_DAGS,
        }
    }
}

impl PrometheusSettings {
    /// Whether commands publish anything after they run.
    pub fn publishes(&self) -> bool {
        self.textfile_directory.is_some() || self.pushgateway_url.is_some()
    }
}

impl Parser<'_> {
    pub(super) fn prometheus(&self, mut s: Section) -> Result<PrometheusSettings, ConfigError> {
        let d = PrometheusSettings::default();
        let textfile_directory = s.string("textfile_directory")?.map(|p| self.base.join(p));
        let pushgateway_url = s.secret("pushgateway_url")?;
        if let Some(text) = &pushgateway_url
            && let Some(problem) = pushgateway_problem(text)
        {
            return Err(s.invalid("pushgateway_url", &url::redacted(text), &problem));
        }
        let settings = PrometheusSettings {
            textfile_directory,
            pushgateway_url: pushgateway_url.map(|u| Secret::new(u.trim_end_matches('/'))),
            pushgateway_timeout_seconds: s
                .number("pushgateway_timeout_seconds", 1, 600)?
                .unwrap_or(d.pushgateway_timeout_seconds),
            max_dags: s.number("max_dags", 0, 100_000)?.unwrap_or(d.max_dags),
        };
        s.finish()?;
        Ok(settings)
    }
}

/// What is wrong with a Pushgateway URL, or None: an http(s) URL with a host, credentials
/// allowed (basic auth), no query or fragment (pipewatch adds the grouping key's path).
fn pushgateway_problem(text: &str) -> Option<String> {
    match url::parsed(text) {
        Err(problem) => Some(problem),
        Ok(u) if u.query().is_some() || u.fragment().is_some() => Some(
            "the Pushgateway's base URL without ?query or #fragment (pipewatch adds /metrics/job/...)"
                .to_string(),
        ),
        Ok(_) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::pushgateway_problem;

    #[test]
    fn pushgateway_urls_may_carry_credentials_but_no_query() {
        assert_eq!(pushgateway_problem("http://127.0.0.1:9091"), None);
        assert_eq!(
            pushgateway_problem("https://u:p@push.example.com/prefix"),
            None
        );
        assert!(pushgateway_problem("push.example.com:9091").is_some());
        assert!(pushgateway_problem("http://push:9091/?x=1").is_some());
        assert!(pushgateway_problem("http://push:99999").is_some());
    }
}
