//! `pipewatch validate`: the book's validation tests, one (`SCRIPT_1 SCRIPT_2 OPERATOR
//! [SEVERITY]`) or a suite (`--suite FILE`). The tests are parsed before the configuration is
//! even read; the validator itself is `crate::validate`.

use std::fmt;
use std::path::PathBuf;

use super::Report;
use crate::config::Settings;
use crate::context::RunContext;
use crate::validate::{self as validator, TestSpec, ValidateReport};
use crate::{Outcome, UsageError};

/// Arguments of `validate`.
#[derive(Debug, Clone, Default)]
pub struct Args {
    /// SQL script returning the left value.
    pub script_1: Option<String>,
    /// SQL script returning the right value.
    pub script_2: Option<String>,
    /// The comparison that must hold.
    pub operator: Option<String>,
    /// `halt` (default) or `warn`.
    pub severity: Option<String>,
    /// Run every test of this suite file instead.
    pub suite: Option<PathBuf>,
    /// Database the scripts run against: `warehouse` (default) or an Airflow instance name.
    pub database: Option<String>,
    /// Name recorded for the test.
    pub name: Option<String>,
}

impl Args {
    /// The tests these arguments describe (a usage error when they describe none properly).
    pub fn tests(&self) -> Result<Vec<TestSpec>, UsageError> {
        match &self.suite {
            Some(path) => validator::parse_suite(path),
            None => Ok(vec![validator::single_test(
                self.script_1.as_deref().unwrap_or_default(),
                self.script_2.as_deref().unwrap_or_default(),
                self.operator.as_deref().unwrap_or_default(),
                self.severity.as_deref(),
                self.database.as_deref(),
                self.name.as_deref(),
            )?]),
        }
    }
}

impl fmt::Display for ValidateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.results
            .iter()
            .try_for_each(|r| writeln!(f, "{}", validator::summary_line(r)))
    }
}

impl Report for ValidateReport {
    fn outcome(&self) -> Outcome {
        if self.any_error() {
            Outcome::Errored
        } else if self.any_halt_failure() {
            Outcome::ChecksFailed
        } else {
            Outcome::Success
        }
    }
}

/// Runs `tests` (from [`Args::tests`]), recording each result.
pub async fn run(
    settings: &Settings,
    ctx: &RunContext,
    tests: &[TestSpec],
) -> anyhow::Result<ValidateReport> {
    validator::check_databases(settings, tests)?;
    Ok(validator::run(settings, ctx, tests).await?)
}
