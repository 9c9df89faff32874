//! `pipewatch validate`: the book's data-validation tests (chapter 8), recorded in
//! `validation_run_history`.
//!
//! A test is two SQL scripts, each returning one row with one value, a comparison operator and
//! a severity. `pipewatch validate SCRIPT_1 SCRIPT_2 OPERATOR [SEVERITY]` takes the book's
//! arguments; `pipewatch validate --suite FILE` runs every test of a suite file (INI: one
//! section per test, named by the section). Scripts run in a read-only transaction with a
//! statement timeout, against the warehouse or an Airflow metadata database. Every execution is
//! recorded, passed, failed or errored, before the next test starts; failed and errored tests
//! are posted to the configured webhook. The comparison rules are in [`compare`].

pub mod compare;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::time::Instant;

use chrono::{DateTime, Utc};
use tokio_postgres::error::SqlState;
use tokio_postgres::types::Type;
use tokio_postgres::{Client, SimpleQueryMessage};
use uuid::Uuid;

use crate::config::Settings;
use crate::context::RunContext;
use crate::db::{self, Role};
use crate::migrate;
use crate::notify;
use crate::notify::text_of;
use crate::run_log::{self, RunLogError, Stage, StageCounts, StageReport, Verdict};
pub use compare::{Operator, Severity, Value};

const RECORD_SQL: &str = include_str!("../../sql/validate/record_result.sql");
const SET_TIMEOUT_SQL: &str = include_str!("../../sql/validate/set_statement_timeout.sql");

/// The target database name for the warehouse.
pub const WAREHOUSE: &str = "warehouse";

pub use crate::UsageError;

/// Why validation could not run at all (individual tests that cannot run are recorded as
/// errors instead).
#[derive(Debug, thiserror::Error)]
pub enum ValidateError {
    /// The warehouse, where results are recorded, is unreachable or not migrated.
    #[error(transparent)]
    Migrate(#[from] migrate::MigrateError),
    /// A result could not be recorded.
    #[error("could not record the result of validation test {test} in validation_run_history")]
    Record {
        /// The test.
        test: String,
        /// The failure.
        #[source]
        source: db::SqlError,
    },
    /// Recording the stage failed.
    #[error(transparent)]
    RunLog(#[from] RunLogError),
}

/// One validation test.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestSpec {
    /// Unique name.
    pub name: String,
    /// The first script, as given (recorded as is).
    pub script_1: String,
    /// The second script, as given.
    pub script_2: String,
    /// Where the first script is read from.
    pub script_1_path: PathBuf,
    /// Where the second script is read from.
    pub script_2_path: PathBuf,
    /// `script_1 OPERATOR script_2` must hold.
    pub operator: Operator,
    /// What a failure means.
    pub severity: Severity,
    /// `warehouse` or an Airflow instance name.
    pub database: String,
}

/// How one test ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestOutcome {
    /// The comparison held.
    Passed,
    /// The comparison did not hold.
    Failed,
    /// The test could not run; the message says why.
    Error(String),
}

impl TestOutcome {
    fn as_str(&self) -> &'static str {
        match self {
            TestOutcome::Passed => "passed",
            TestOutcome::Failed => "failed",
            TestOutcome::Error(_) => "error",
        }
    }
}

/// The result of one test.
#[derive(Debug, Clone)]
pub struct TestResult {
    /// The test.
    pub spec: TestSpec,
    /// Its outcome.
    pub outcome: TestOutcome,
    /// The first script's value, when it ran.
    pub value_1: Option<Value>,
    /// The second script's value, when it ran.
    pub value_2: Option<Value>,
    /// When it started.
    pub started_at: DateTime<Utc>,
    /// How long it took.
    pub seconds: f64,
    /// The id of its row in `validation_run_history`.
    pub result_id: Uuid,
}

/// All results of one invocation.
#[derive(Debug, Clone, Default)]
pub struct ValidateReport {
    /// One per test, in order.
    pub results: Vec<TestResult>,
}

impl ValidateReport {
    /// Whether a test could not run.
    pub fn any_error(&self) -> bool {
        self.results
            .iter()
            .any(|r| matches!(r.outcome, TestOutcome::Error(_)))
    }
    /// Whether a `halt` test failed.
    pub fn any_halt_failure(&self) -> bool {
        self.results
            .iter()
            .any(|r| r.outcome == TestOutcome::Failed && r.spec.severity == Severity::Halt)
    }
}

/// Builds the single test of the book-style call `SCRIPT_1 SCRIPT_2 OPERATOR [SEVERITY]`.
pub fn single_test(
    script_1: &str,
    script_2: &str,
    operator: &str,
    severity: Option<&str>,
    database: Option<&str>,
    name: Option<&str>,
) -> Result<TestSpec, UsageError> {
    let operator: Operator = operator.parse().map_err(UsageError)?;
    let severity: Severity = severity.unwrap_or("halt").parse().map_err(UsageError)?;
    Ok(TestSpec {
        name: name
            .map(str::to_string)
            .unwrap_or_else(|| format!("{script_1} {operator} {script_2}")),
        script_1: script_1.to_string(),
        script_2: script_2.to_string(),
        script_1_path: PathBuf::from(script_1),
        script_2_path: PathBuf::from(script_2),
        operator,
        severity,
        database: database.unwrap_or(WAREHOUSE).to_string(),
    })
}

const SUITE_KEYS: [&str; 5] = ["script_1", "script_2", "operator", "severity", "database"];

/// Reads a suite file: INI, one section per test, the section name being the test's unique name,
/// with keys `script_1`, `script_2`, `operator`, `severity` (default `halt`) and `database`
/// (default `warehouse`). Script paths are relative to the suite file's folder.
pub fn parse_suite(path: &Path) -> Result<Vec<TestSpec>, UsageError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| UsageError(format!("cannot read suite file {}: {e}", path.display())))?;
    parse_suite_text(path, &text)
}

fn parse_suite_text(path: &Path, text: &str) -> Result<Vec<TestSpec>, UsageError> {
    let file = path.display();
    let fail = |message: String| UsageError(format!("suite file {file}: {message}"));
    // INI readers merge repeated sections silently; a repeated test name must be an error.
    let mut order = Vec::new();
    let mut seen = BTreeSet::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            let name = name.trim().to_string();
            let valid = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-".contains(c));
            if !valid {
                return Err(fail(format!(
                    "test name [{name}] may hold only letters, digits, `_` and `-`"
                )));
            }
            if !seen.insert(name.clone()) {
                return Err(fail(format!(
                    "test [{name}] is defined twice: test names must be unique"
                )));
            }
            order.push(name);
        }
    }
    let parsed = config::Config::builder()
        .add_source(config::File::from_str(text, config::FileFormat::Ini))
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let sections: BTreeMap<String, config::Value> = parsed
        .cache
        .into_table()
        .map_err(|e| fail(e.to_string()))?
        .into_iter()
        .collect();
    let base = path.parent().unwrap_or(Path::new("."));
    let mut tests = Vec::new();
    for name in order {
        let Some(section) = sections.get(&name) else {
            continue;
        };
        let mut keys: BTreeMap<String, String> = BTreeMap::new();
        let table = section
            .clone()
            .into_table()
            .map_err(|_| fail(format!("[{name}] must be a section of keys")))?;
        for (key, value) in table {
            if !SUITE_KEYS.contains(&key.as_str()) {
                return Err(fail(format!(
                    "unknown key `{key}` in test [{name}] (known keys: {})",
                    SUITE_KEYS.join(", ")
                )));
            }
            let value = value.into_string().map_err(|e| fail(e.to_string()))?;
            keys.insert(key, value.trim().to_string());
        }
        let get = |key: &str| keys.get(key).filter(|v| !v.is_empty()).cloned();
        let required =
            |key: &str| get(key).ok_or_else(|| fail(format!("test [{name}] is missing `{key}`")));
        let script_1 = required("script_1")?;
        let script_2 = required("script_2")?;
        let operator = required("operator")?
            .parse()
            .map_err(|e: String| fail(format!("test [{name}]: {e}")))?;
        let severity = get("severity")
            .unwrap_or_else(|| "halt".into())
            .parse()
            .map_err(|e: String| fail(format!("test [{name}]: {e}")))?;
        tests.push(TestSpec {
            script_1_path: base.join(&script_1),
            script_2_path: base.join(&script_2),
            script_1,
            script_2,
            operator,
            severity,
            database: get("database").unwrap_or_else(|| WAREHOUSE.into()),
            name,
        });
    }
    if tests.is_empty() {
        return Err(fail("holds no test: add a section per test".into()));
    }
    Ok(tests)
}

/// Checks that every test's database is the warehouse or a configured Airflow instance.
pub fn check_databases(settings: &Settings, tests: &[TestSpec]) -> Result<(), UsageError> {
    for test in tests {
        let known = test.database == WAREHOUSE
            || settings.airflow.iter().any(|a| a.instance == test.database);
        if !known {
            let mut names = vec![WAREHOUSE.to_string()];
            names.extend(settings.airflow.iter().map(|a| a.instance.clone()));
            return Err(UsageError(format!(
                "test {} runs against database {:?}, which is neither the warehouse nor a configured Airflow instance (known: {})",
                test.name,
                test.database,
                names.join(", ")
            )));
        }
    }
    Ok(())
}

/// Runs `tests` in order, recording each result and notifying failures.
pub async fn run(
    settings: &Settings,
    ctx: &RunContext,
    tests: &[TestSpec],
) -> Result<ValidateReport, ValidateError> {
    let mut warehouse = migrate::connect_and_apply(&settings.warehouse, ctx).await?;
    run_log::record_stage(
        &mut warehouse,
        ctx,
        Stage::Validate,
        None,
        async |warehouse, _| run_tests(settings, ctx, tests, warehouse).await,
    )
    .await
}

impl StageReport for ValidateReport {
    fn counts(&self) -> StageCounts {
        StageCounts {
            rows_read: Some(self.results.len() as i64),
            rows_written: Some(self.results.len() as i64),
            ..StageCounts::default()
        }
    }

    /// A test that could not run makes the stage `failed` (exit 3); a failed `halt` test makes
    /// it `checks_failed` (exit 1); failed `warn` tests alone leave it `succeeded` (exit 0).
    fn verdict(&self) -> Verdict {
        let lines = |keep: &dyn Fn(&TestResult) -> bool| {
            self.results
                .iter()
                .filter(|r| keep(r))
                .map(summary_line)
                .collect::<Vec<_>>()
                .join("; ")
        };
        if self.any_error() {
            Verdict::CouldNotRun(lines(&|r| matches!(r.outcome, TestOutcome::Error(_))))
        } else if self.any_halt_failure() {
            Verdict::ChecksFailed(lines(&|r| {
                r.outcome == TestOutcome::Failed && r.spec.severity == Severity::Halt
            }))
        } else {
            Verdict::Clean
        }
    }
}

async fn run_tests(
    settings: &Settings,
    ctx: &RunContext,
    tests: &[TestSpec],
    warehouse: &Client,
) -> Result<ValidateReport, ValidateError> {
    let mut connections: HashMap<String, Result<Client, String>> = HashMap::new();
    let mut report = ValidateReport::default();
    for spec in tests {
        let started_at = Utc::now();
        let clock = Instant::now();
        if !connections.contains_key(&spec.database) {
            let connected = connect(settings, &spec.database, ctx).await;
            connections.insert(spec.database.clone(), connected);
        }
        let connection = connections.get_mut(&spec.database).expect("inserted above");
        let (outcome, value_1, value_2) = match connection {
            Err(message) => (TestOutcome::Error(message.clone()), None, None),
            Ok(client) => {
                let timeout = settings.validate.statement_timeout_seconds;
                match run_script(client, &spec.script_1, &spec.script_1_path, timeout).await {
                    Err(e) => (TestOutcome::Error(e), None, None),
                    Ok(v1) => {
                        match run_script(client, &spec.script_2, &spec.script_2_path, timeout).await
                        {
                            Err(e) => (TestOutcome::Error(e), Some(v1), None),
                            Ok(v2) => {
                                let outcome = if spec.operator.holds(&v1, &v2) {
                                    TestOutcome::Passed
                                } else {
                                    TestOutcome::Failed
                                };
                                (outcome, Some(v1), Some(v2))
                            }
                        }
                    }
                }
            }
        };
        let result = TestResult {
            spec: spec.clone(),
            outcome,
            value_1,
            value_2,
            started_at,
            seconds: clock.elapsed().as_secs_f64(),
            result_id: Uuid::now_v7(),
        };
        record_result(warehouse, ctx, &result, &settings.time_zone).await?;
        log_result(&result);
        if result.outcome != TestOutcome::Passed
            && let Some(url) = &settings.validate.webhook_url
            && let Err(e) = notify::post_text(&settings.validate, url, &notice(&result, ctx)).await
        {
            tracing::warn!(test = %spec.name, error = %e, "Could not deliver the failure notification.");
        }
        report.results.push(result);
    }
    Ok(report)
}

async fn connect(settings: &Settings, database: &str, ctx: &RunContext) -> Result<Client, String> {
    let connected = if database == WAREHOUSE {
        db::connect(&settings.warehouse, Role::WarehouseUserSql, ctx.run_id).await
    } else {
        let instance = settings
            .airflow
            .iter()
            .find(|a| a.instance == database)
            .ok_or_else(|| format!("no database named {database:?}"))?;
        db::connect(&instance.database, Role::Airflow, ctx.run_id).await
    };
    connected.map_err(|e| e.to_string())
}

/// Runs one script and returns its single value, or why it could not.
async fn run_script(
    client: &mut Client,
    shown: &str,
    path: &Path,
    timeout_seconds: u64,
) -> Result<Value, String> {
    let sql = tokio::fs::read_to_string(path)
        .await
        .map_err(|e| format!("cannot read script {shown} ({}): {e}", path.display()))?;
    let fail = |what: String| format!("script {shown}: {what}");
    let sql_fail = |e: tokio_postgres::Error| {
        let hint = match e.code() {
            Some(&SqlState::QUERY_CANCELED) => {
                format!(" (stopped after [validate] statement_timeout_seconds = {timeout_seconds})")
            }
            Some(&SqlState::READ_ONLY_SQL_TRANSACTION) => {
                " (validation scripts run read-only: a script may only read)".to_string()
            }
            _ => String::new(),
        };
        fail(format!("{}{hint}", db::describe(&e)))
    };
    let tx = client
        .build_transaction()
        .read_only(true)
        .start()
        .await
        .map_err(sql_fail)?;
    tx.query_one(SET_TIMEOUT_SQL, &[&(timeout_seconds * 1000).to_string()])
        .await
        .map_err(sql_fail)?;
    let statement = tx.prepare(&sql).await.map_err(|e| {
        // "cannot insert multiple commands into a prepared statement" is a syntax error (42601)
        // without a position; real syntax errors point at their position. Matching on that
        // rather than the text works whatever language the server speaks.
        let several = e.code() == Some(&SqlState::SYNTAX_ERROR)
            && e.as_db_error().is_some_and(|d| d.position().is_none());
        if several {
            fail(
                "holds more than one SQL statement; a validation script must be one query \
                  returning one value (combine the parts with a WITH clause or subqueries)"
                    .to_string(),
            )
        } else {
            sql_fail(e)
        }
    })?;
    let columns = statement.columns();
    if columns.len() != 1 {
        return Err(fail(format!(
            "returns {} columns; a validation script must return exactly one value (one row, one column)",
            columns.len()
        )));
    }
    let numeric = [
        Type::INT2,
        Type::INT4,
        Type::INT8,
        Type::NUMERIC,
        Type::FLOAT4,
        Type::FLOAT8,
    ]
    .contains(columns[0].type_());
    // The simple protocol returns every value as PostgreSQL's own text, exact for numerics.
    let messages = tx.simple_query(&sql).await.map_err(sql_fail)?;
    let rows: Vec<_> = messages
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(row) => Some(row),
            _ => None,
        })
        .collect();
    if rows.len() != 1 {
        return Err(fail(format!(
            "returned {} rows; a validation script must return exactly one row",
            rows.len()
        )));
    }
    let value = match rows[0].get(0) {
        None => Value::Null,
        Some(text) if numeric => Value::Number(text.to_string()),
        Some(text) => Value::Text(text.to_string()),
    };
    // Read-only: nothing to keep.
    tx.rollback().await.map_err(sql_fail)?;
    Ok(value)
}

async fn record_result(
    warehouse: &Client,
    ctx: &RunContext,
    r: &TestResult,
    time_zone: &str,
) -> Result<(), ValidateError> {
    let error = match &r.outcome {
        TestOutcome::Error(message) => Some(message.as_str()),
        _ => None,
    };
    let text = |v: &Option<Value>| v.as_ref().and_then(|v| v.as_text().map(str::to_string));
    let task = ctx.airflow_task.as_ref();
    warehouse
        .execute(
            RECORD_SQL,
            &[
                &r.result_id,
                &r.spec.name,
                &r.spec.script_1,
                &r.spec.script_2,
                &r.spec.operator.as_str(),
                &r.spec.severity.as_str(),
                &r.outcome.as_str(),
                &text(&r.value_1),
                &text(&r.value_2),
                &error,
                &r.spec.database,
                &r.started_at,
                &r.seconds,
                &ctx.run_id,
                &time_zone,
                &task.map(|t| t.dag_id.as_str()),
                &task.and_then(|t| t.task_id.as_deref()),
                &task.and_then(|t| t.run_id.as_deref()),
                &task.and_then(|t| t.try_number),
            ],
        )
        .await
        .map_err(|e| ValidateError::Record {
            test: r.spec.name.clone(),
            source: e.into(),
        })?;
    Ok(())
}

fn describe_values(r: &TestResult) -> String {
    let show = |v: &Option<Value>| v.as_ref().map(Value::to_string).unwrap_or("-".into());
    format!(
        "{} {} {}",
        show(&r.value_1),
        r.spec.operator,
        show(&r.value_2)
    )
}

fn log_result(r: &TestResult) {
    let s = &r.spec;
    match &r.outcome {
        TestOutcome::Passed => {
            tracing::info!(test = %s.name, values = %describe_values(r), "Validation test passed.")
        }
        TestOutcome::Failed => {
            tracing::warn!(test = %s.name, severity = s.severity.as_str(), values = %describe_values(r), "Validation test failed.")
        }
        TestOutcome::Error(e) => {
            tracing::error!(test = %s.name, severity = s.severity.as_str(), error = %e, "Validation test could not run.")
        }
    }
}

/// One line per result for standard output.
pub fn summary_line(r: &TestResult) -> String {
    let s = &r.spec;
    let (label, detail) = match &r.outcome {
        TestOutcome::Passed => ("PASSED", describe_values(r)),
        TestOutcome::Failed => ("FAILED", describe_values(r)),
        TestOutcome::Error(e) => ("ERROR ", e.clone()),
    };
    format!("{label}  {} ({}): {detail}", s.name, s.severity.as_str())
}

/// The Slack-compatible notice text for a failed or errored test.
fn notice(r: &TestResult, ctx: &RunContext) -> String {
    let s = &r.spec;
    let host = ctx.hostname.as_deref().unwrap_or("unknown host");
    let what = match &r.outcome {
        TestOutcome::Error(e) => format!("could not run: {}", text_of(e)),
        _ => format!(
            "failed: script_1 `{}` returned {}, script_2 `{}` returned {}; expected script_1 {} script_2",
            text_of(&s.script_1),
            text_of(
                &r.value_1
                    .as_ref()
                    .map(Value::to_string)
                    .unwrap_or("-".into())
            ),
            text_of(&s.script_2),
            text_of(
                &r.value_2
                    .as_ref()
                    .map(Value::to_string)
                    .unwrap_or("-".into())
            ),
            s.operator
        ),
    };
    let airflow = ctx
        .airflow_task
        .as_ref()
        .map(|t| {
            format!(
                " In Airflow: DAG {}, run {}, task {}, try {}.",
                text_of(&t.dag_id),
                text_of(t.run_id.as_deref().unwrap_or("?")),
                text_of(t.task_id.as_deref().unwrap_or("?")),
                t.try_number.map_or("?".to_string(), |n| n.to_string())
            )
        })
        .unwrap_or_default();
    format!(
        "pipewatch: validation test `{}` (severity {}) {what}. Database: {}. Run {} on {}.{airflow}",
        text_of(&s.name),
        s.severity.as_str(),
        text_of(&s.database),
        ctx.run_id,
        text_of(host)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suite_files_are_read_with_defaults_and_relative_paths() {
        let tests = parse_suite_text(
            Path::new("/etc/pipewatch/checks/suite.ini"),
            "; a comment\n[orders_today]\nscript_1 = orders.sql\nscript_2 = zero.sql\noperator = greater\n\n\
             [runs-ok]\nscript_1 = a.sql\nscript_2 = b.sql\noperator = equals\nseverity = warn\ndatabase = prod\n",
        )
        .unwrap();
        assert_eq!(tests.len(), 2);
        assert_eq!(tests[0].name, "orders_today");
        assert_eq!(tests[0].severity, Severity::Halt);
        assert_eq!(tests[0].database, "warehouse");
        assert_eq!(
            tests[0].script_1_path,
            Path::new("/etc/pipewatch/checks/orders.sql")
        );
        assert_eq!(tests[0].script_1, "orders.sql");
        assert_eq!(tests[1].severity, Severity::Warn);
        assert_eq!(tests[1].database, "prod");
    }

    #[test]
    fn suite_mistakes_are_usage_errors_naming_the_test() {
        let p = Path::new("suite.ini");
        let base = "[t]\nscript_1 = a.sql\nscript_2 = b.sql\noperator = equals\n";
        for (text, expected) in [
            (
                format!("{base}[t]\nscript_1 = c.sql\n"),
                "test [t] is defined twice",
            ),
            (
                format!("{base}colour = red\n"),
                "unknown key `colour` in test [t]",
            ),
            (
                base.replace("operator = equals", "operator = bigger"),
                "unknown comparison operator \"bigger\"",
            ),
            (
                format!("{base}severity = fatal\n"),
                "unknown severity \"fatal\"",
            ),
            (
                base.replace("script_2 = b.sql\n", ""),
                "test [t] is missing `script_2`",
            ),
            ("; nothing\n".to_string(), "holds no test"),
            (base.replace("[t]", "[a.b]"), "may hold only letters"),
        ] {
            let err = parse_suite_text(p, &text).unwrap_err().to_string();
            assert!(err.contains(expected), "{err}");
            assert!(err.starts_with("suite file suite.ini:"), "{err}");
        }
    }

    #[test]
    fn single_test_takes_the_books_arguments() {
        let t = single_test("a.sql", "b.sql", "less_equals", None, None, None).unwrap();
        assert_eq!(t.name, "a.sql less_equals b.sql");
        assert_eq!(t.severity, Severity::Halt);
        let err = single_test("a.sql", "b.sql", "lt", Some("warn"), None, None).unwrap_err();
        assert!(err.to_string().contains("unknown comparison operator"));
    }
}
