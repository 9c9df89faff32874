//! Retention (`[retention]`): how long loaded extracts and run-log rows are kept.

use super::error::ConfigError;
use super::ini::{Parser, Section};

/// Default days a loaded extract object is kept in the stage.
pub const DEFAULT_STAGED_EXTRACT_DAYS: u64 = 30;
/// Default days pipewatch_run_log rows are kept.
pub const DEFAULT_RUN_LOG_DAYS: u64 = 90;

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

impl Parser<'_> {
    pub(super) fn retention(&self, mut s: Section) -> Result<RetentionSettings, ConfigError> {
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
}
