//! The validator (`[validate]`): script timeouts and where failures are posted.

use super::error::ConfigError;
use super::ini::{Parser, Section};
use super::types::Secret;

/// Default statement timeout of each validation script, in seconds.
pub const DEFAULT_VALIDATE_STATEMENT_TIMEOUT_SECONDS: u64 = 60;
/// Default time allowed for one webhook request, in seconds.
pub const DEFAULT_WEBHOOK_TIMEOUT_SECONDS: u64 = 10;
/// Default number of attempts to deliver one webhook notification.
pub const DEFAULT_WEBHOOK_ATTEMPTS: u64 = 3;

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

impl Parser<'_> {
    pub(super) fn validate(&self, mut s: Section) -> Result<ValidateSettings, ConfigError> {
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
}
