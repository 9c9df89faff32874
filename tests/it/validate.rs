//! The validator: the book's tests, recorded in validation_run_history, with halt/warn exit
//! codes, suites, a statement timeout, read-only scripts and webhook notifications. Against the
//! real PostgreSQL that `scripts/test` starts and a real HTTP server run by the test.

use std::path::PathBuf;

use crate::common::*;
use tokio_postgres::Client;

/// A warehouse schema, a folder of scripts and a config file.
struct Bench {
    dir: TempDir,
    schema: String,
    config: PathBuf,
    client: Client,
}

impl Bench {
    /// The one text column of `sql` ({} stands for the warehouse schema).
    async fn strings(&self, sql: &str) -> Vec<String> {
        self.client
            .query(&sql.replace("{}", &self.schema), &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    async fn new(extra_config: &str) -> Self {
        let dir = TempDir::new();
        let schema = unique("wh");
        let config = write_config(
            dir.path(),
            &format!("{}{extra_config}", warehouse_section(&schema)),
        );
        Bench {
            dir,
            schema,
            config,
            client: pg().await,
        }
    }

    /// Writes a script file and returns its path relative to the folder.
    fn script(&self, name: &str, sql: &str) -> String {
        std::fs::write(self.dir.path().join(name), sql).unwrap();
        name.to_string()
    }

    fn suite(&self, text: &str) -> String {
        std::fs::write(self.dir.path().join("suite.ini"), text).unwrap();
        "suite.ini".to_string()
    }

    fn validate(&self, args: &[&str]) -> Run {
        let mut all = vec!["--config", self.config.to_str().unwrap(), "validate"];
        all.extend_from_slice(args);
        pipewatch(self.dir.path(), &all, &[])
    }

    /// validation_run_history as "test|outcome|test_result|v1|v2|severity" lines, by test name.
    async fn results(&self) -> Vec<String> {
        self.client
            .query(
                &format!(
                    "SELECT concat_ws('|', test_name, outcome, coalesce(test_result, 'NULL'), \
                     coalesce(script_1_value, 'NULL'), coalesce(script_2_value, 'NULL'), severity) \
                     FROM {}.validation_run_history ORDER BY test_name",
                    self.schema
                ),
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    async fn error_of(&self, test: &str) -> String {
        self.client
            .query_one(
                &format!(
                    "SELECT error_message FROM {}.validation_run_history WHERE test_name = $1",
                    self.schema
                ),
                &[&test],
            )
            .await
            .unwrap()
            .get(0)
    }
}

#[tokio::test]
async fn every_operator_on_integers_decimals_text_and_null() {
    let b = Bench::new("").await;
    let values = [
        ("int_3", "SELECT 3"),
        ("bigint_3", "SELECT count(*) FROM generate_series(1, 3)"),
        ("numeric_3", "SELECT 3.000::numeric"),
        ("numeric_2_5", "SELECT 2.5::numeric(10, 4)"),
        ("float_2_5", "SELECT 2.5::double precision"),
        ("text_abc", "SELECT 'abc'::text"),
        ("text_abd", "SELECT 'abd'::varchar"),
        ("null_int", "SELECT NULL::integer"),
    ];
    for (name, sql) in values {
        b.script(&format!("{name}.sql"), sql);
    }
    // (left, right, [equals, greater_equals, greater, less_equals, less, not_equal])
    let cases = [
        ("int_3", "bigint_3", [true, true, false, true, false, false]),
        (
            "bigint_3",
            "numeric_3",
            [true, true, false, true, false, false],
        ),
        (
            "numeric_2_5",
            "int_3",
            [false, false, false, true, true, true],
        ),
        (
            "float_2_5",
            "numeric_2_5",
            [true, true, false, true, false, false],
        ),
        (
            "int_3",
            "float_2_5",
            [false, true, true, false, false, true],
        ),
        (
            "text_abc",
            "text_abd",
            [false, false, false, true, true, true],
        ),
        (
            "null_int",
            "null_int",
            [true, false, false, false, false, false],
        ),
        (
            "null_int",
            "int_3",
            [false, false, false, false, false, true],
        ),
    ];
    let operators = [
        "equals",
        "greater_equals",
        "greater",
        "less_equals",
        "less",
        "not_equal",
    ];
    let mut suite = String::new();
    let mut expected = Vec::new();
    for (left, right, holds) in cases {
        for (op, pass) in operators.iter().zip(holds) {
            let name = format!("{left}-{op}-{right}");
            suite.push_str(&format!(
                "[{name}]\nscript_1 = {left}.sql\nscript_2 = {right}.sql\noperator = {op}\nseverity = warn\n"
            ));
            expected.push((name, pass));
        }
    }
    let run = b.validate(&["--suite", &b.suite(&suite)]);
    assert_eq!(run.code, 0, "only warn tests failed: {run:?}");
    let rows = b.results().await;
    assert_eq!(rows.len(), expected.len());
    expected.sort();
    for (row, (name, pass)) in rows.iter().zip(&expected) {
        let fields: Vec<&str> = row.split('|').collect();
        assert_eq!(fields[0], name);
        let (outcome, test_result) = if *pass {
            ("passed", "true")
        } else {
            ("failed", "false")
        };
        assert_eq!((fields[1], fields[2]), (outcome, test_result), "{row}");
    }
    // Values are stored as PostgreSQL printed them.
    assert!(
        rows.iter()
            .any(|r| r.starts_with("numeric_2_5-equals-int_3|failed|false|2.5000|3|warn"))
    );
}

#[tokio::test]
async fn halt_failure_exits_1_and_warn_failure_exits_0() {
    let b = Bench::new("").await;
    let one = b.script("one.sql", "SELECT 1");
    let two = b.script("two.sql", "SELECT 2;\n");
    let run = b.validate(&[&one, &two, "equals"]);
    assert_eq!(
        run.code,
        pipewatch::exit::CHECKS_FAILED as i32,
        "halt is the default: {run:?}"
    );
    assert!(
        run.stdout
            .contains("FAILED  one.sql equals two.sql (halt): 1 equals 2"),
        "{run:?}"
    );
    let run = b.validate(&[&one, &two, "equals", "halt"]);
    assert_eq!(run.code, pipewatch::exit::CHECKS_FAILED as i32, "{run:?}");
    let run = b.validate(&[&one, &two, "equals", "warn"]);
    assert_eq!(run.code, 0, "{run:?}");
    let run = b.validate(&[&one, &two, "less", "halt", "--name", "one_below_two"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        b.results().await,
        [
            "one.sql equals two.sql|failed|false|1|2|halt",
            "one.sql equals two.sql|failed|false|1|2|halt",
            "one.sql equals two.sql|failed|false|1|2|warn",
            "one_below_two|passed|true|1|2|halt",
        ]
    );
}

/// pipewatch_run_log (and so `status` and the dashboard) says what the exit code says: a clean
/// run `succeeded` (0), a failed halt test `checks_failed` (1), a test that could not run
/// `failed` (3), each stage outcome with what it found.
#[tokio::test]
async fn the_run_log_outcome_matches_the_exit_code() {
    let b = Bench::new("").await;
    let zero = b.script("zero.sql", "SELECT 0");
    let one = b.script("one.sql", "SELECT 1");
    let broken = b.script("broken.sql", "SELECT * FROM no_such_table_anywhere");
    let cases = [
        (vec![&one, &zero, "greater"], 0, "succeeded", None),
        (
            vec![&zero, &one, "greater"],
            1,
            "checks_failed",
            Some("FAILED  zero.sql greater one.sql (halt): 0 greater 1"),
        ),
        (vec![&zero, &one, "greater", "warn"], 0, "succeeded", None),
        (
            vec![&broken, &one, "equals"],
            3,
            "failed",
            Some("ERROR   broken.sql equals one.sql (halt): script broken.sql: relation"),
        ),
    ];
    for (args, code, outcome, message) in cases {
        let run = b.validate(&args);
        assert_eq!(run.code, code, "{args:?}: {run:?}");
        let row = b
            .client
            .query_one(
                &format!(
                    "SELECT outcome, error_message FROM {}.pipewatch_run_log \
                     WHERE stage = 'validate' ORDER BY run_log_id DESC LIMIT 1",
                    b.schema
                ),
                &[],
            )
            .await
            .unwrap();
        assert_eq!(row.get::<_, String>(0), outcome, "{args:?}");
        let recorded: Option<String> = row.get(1);
        match message {
            None => assert_eq!(recorded, None, "{args:?}"),
            Some(m) => assert!(
                recorded.as_deref().is_some_and(|r| r.starts_with(m)),
                "{args:?}: {recorded:?}"
            ),
        }
        let status = pipewatch(
            b.dir.path(),
            &[
                "--config",
                b.config.to_str().unwrap(),
                "status",
                "--format",
                "json",
                "--last",
                "1",
            ],
            &[],
        );
        assert_eq!(status.code, 0, "{status:?}");
        let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
        let invocations = json["recent_invocations"].as_array().unwrap();
        assert_eq!(invocations.len(), 1, "{json}");
        assert_eq!(invocations[0]["outcome"], outcome, "{args:?}: {json}");
    }
}

#[tokio::test]
async fn suite_records_every_outcome_and_exits_with_the_worst() {
    let b = Bench::new("").await;
    b.script("zero.sql", "SELECT 0");
    b.script("count.sql", "SELECT count(*) FROM generate_series(1, 5)");
    b.script("broken.sql", "SELECT * FROM no_such_table_anywhere");
    let suite = b.suite(
        "[passes]\nscript_1 = count.sql\nscript_2 = zero.sql\noperator = greater\n\
         [warns]\nscript_1 = count.sql\nscript_2 = zero.sql\noperator = less\nseverity = warn\n\
         [halts]\nscript_1 = count.sql\nscript_2 = zero.sql\noperator = equals\nseverity = halt\n\
         [errors]\nscript_1 = broken.sql\nscript_2 = zero.sql\noperator = equals\n",
    );
    let run = b.validate(&["--suite", &suite]);
    assert_eq!(
        run.code,
        pipewatch::exit::ERROR as i32,
        "a test that could not run is the worst outcome: {run:?}"
    );
    assert_eq!(run.stdout.lines().count(), 4, "{run:?}");
    assert_eq!(
        b.results().await,
        [
            "errors|error|NULL|NULL|NULL|halt",
            "halts|failed|false|5|0|halt",
            "passes|passed|true|5|0|halt",
            "warns|failed|false|5|0|warn",
        ]
    );
    assert!(
        b.error_of("errors")
            .await
            .contains("script broken.sql: relation \"no_such_table_anywhere\" does not exist")
    );
    let meta = b
        .client
        .query_one(
            &format!(
                "SELECT count(DISTINCT run_id), count(DISTINCT validation_result_id), \
                 bool_and(duration_seconds >= 0), bool_and(target_database = 'warehouse'), \
                 bool_and(script_1 IN ('count.sql', 'broken.sql')) \
                 FROM {}.validation_run_history",
                b.schema
            ),
            &[],
        )
        .await
        .unwrap();
    assert_eq!(meta.get::<_, i64>(0), 1, "one run id for the invocation");
    assert_eq!(meta.get::<_, i64>(1), 4, "a unique id per result");
    assert!(meta.get::<_, bool>(2) && meta.get::<_, bool>(3) && meta.get::<_, bool>(4));
    let logged: i64 = b
        .client
        .query_one(
            &format!(
                "SELECT count(*) FROM {s}.pipewatch_run_log l JOIN {s}.validation_run_history v USING (run_id) \
                 WHERE l.stage = 'validate' AND l.rows_written = 4",
                s = b.schema
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(logged, 4);

    // Without the erroring test, the halt failure decides: exit 1.
    let suite = b.suite(
        "[warns]\nscript_1 = count.sql\nscript_2 = zero.sql\noperator = less\nseverity = warn\n\
         [halts]\nscript_1 = count.sql\nscript_2 = zero.sql\noperator = equals\n",
    );
    assert_eq!(
        b.validate(&["--suite", &suite]).code,
        pipewatch::exit::CHECKS_FAILED as i32
    );
}

#[tokio::test]
async fn slow_script_is_stopped_by_the_statement_timeout() {
    let b = Bench::new("[validate]\nstatement_timeout_seconds = 1\n").await;
    let slow = b.script("slow.sql", "SELECT 1 FROM pg_sleep(30)");
    let one = b.script("one.sql", "SELECT 1");
    let started = std::time::Instant::now();
    let run = b.validate(&[&slow, &one, "equals"]);
    assert!(started.elapsed().as_secs() < 20, "stopped long before 30 s");
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    let error = b.error_of("slow.sql equals one.sql").await;
    assert!(
        error.contains("canceling statement due to statement timeout"),
        "{error}"
    );
    assert!(error.contains("statement_timeout_seconds = 1"), "{error}");
}

#[tokio::test]
async fn a_script_that_tries_to_write_is_refused() {
    let b = Bench::new("").await;
    b.client
        .batch_execute(&format!(
            "CREATE SCHEMA IF NOT EXISTS {s}_data; CREATE TABLE {s}_data.orders (id int); \
             INSERT INTO {s}_data.orders VALUES (1), (2);",
            s = b.schema
        ))
        .await
        .unwrap();
    let table = format!("{}_data.orders", b.schema);
    let writers = [
        format!("INSERT INTO {table} VALUES (3) RETURNING 1"),
        format!("WITH gone AS (DELETE FROM {table} RETURNING 1) SELECT count(*) FROM gone"),
        format!("SELECT count(*) FROM {table}; DROP TABLE {table}"),
    ];
    let one = b.script("one.sql", "SELECT 1");
    for (i, sql) in writers.iter().enumerate() {
        let writer = b.script(&format!("writer{i}.sql"), sql);
        let run = b.validate(&[&writer, &one, "equals"]);
        assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{sql}: {run:?}");
    }
    let errors: Vec<String> = b
        .client
        .query(
            &format!(
                "SELECT error_message FROM {}.validation_run_history ORDER BY script_1",
                b.schema
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert!(
        errors[0].contains("cannot execute INSERT in a read-only transaction"),
        "{errors:?}"
    );
    // PostgreSQL names the statement: a SELECT whose CTE deletes.
    assert!(
        errors[1].contains("in a read-only transaction"),
        "{errors:?}"
    );
    assert!(
        errors[2].contains("holds more than one SQL statement"),
        "{errors:?}"
    );
    let count: i64 = b
        .client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(count, 2, "nothing was written");
}

#[tokio::test]
async fn scripts_must_return_exactly_one_value() {
    let b = Bench::new("").await;
    let one = b.script("one.sql", "SELECT 1");
    for (name, sql, expected) in [
        ("no_row", "SELECT 1 WHERE false", "returned 0 rows"),
        (
            "two_rows",
            "SELECT * FROM generate_series(1, 2)",
            "returned 2 rows",
        ),
        ("two_columns", "SELECT 1, 2", "returns 2 columns"),
        ("empty", "-- nothing here\n", "returns 0 columns"),
        (
            "two_statements",
            "SELECT 1;\nSELECT 2;\n",
            "holds more than one SQL statement; a validation script must be one query",
        ),
    ] {
        let script = b.script(&format!("{name}.sql"), sql);
        let run = b.validate(&[&script, &one, "equals", "warn"]);
        assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{name}: {run:?}");
        let error = b.error_of(&format!("{name}.sql equals one.sql")).await;
        assert!(error.contains(expected), "{name}: {error}");
    }
    let run = b.validate(&["missing.sql", &one, "equals"]);
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(
        b.error_of("missing.sql equals one.sql")
            .await
            .contains("cannot read script missing.sql")
    );
}

#[tokio::test]
async fn unknown_operator_or_severity_is_a_usage_error_before_anything_runs() {
    let b = Bench::new("").await;
    let one = b.script("one.sql", "SELECT 1");
    for args in [
        vec![one.as_str(), one.as_str(), "greater_than"],
        vec![one.as_str(), one.as_str(), "equals", "fatal"],
    ] {
        let run = b.validate(&args);
        assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
        assert!(run.stderr.contains("unknown"), "{run:?}");
    }
    let suite = b.suite("[t]\nscript_1 = one.sql\nscript_2 = one.sql\noperator = bigger\n");
    let run = b.validate(&["--suite", &suite]);
    assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
    let run = b.validate(&[&one, &one, "equals", "--database", "nowhere"]);
    assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
    assert!(
        run.stderr
            .contains("neither the warehouse nor a configured Airflow instance")
    );
    // Nothing ran: the warehouse schema was not even created.
    let exists: bool = b
        .client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&b.schema],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!exists);
}

#[tokio::test]
async fn tests_can_run_against_an_airflow_database() {
    let client = pg().await;
    let airflow = airflow_source(&client, 3).await;
    insert_run(
        &client,
        &airflow,
        3,
        &RunSpec::finished("etl", "2025-03-01T00:00:00Z", "failed"),
    )
    .await;
    let b = Bench::new(&airflow_section("airflowdb_config", &airflow)).await;
    let failed = b.script(
        "failed.sql",
        &format!("SELECT count(*) FROM {airflow}.dag_run WHERE state = 'failed'"),
    );
    let zero = b.script("zero.sql", "SELECT 0");
    let run = b.validate(&[
        &failed,
        &zero,
        "equals",
        "--database",
        "default",
        "--name",
        "no_failures",
    ]);
    assert_eq!(run.code, pipewatch::exit::CHECKS_FAILED as i32, "{run:?}");
    assert_eq!(b.results().await, ["no_failures|failed|false|1|0|halt"]);
}

/// A real HTTP server on a loopback port: answers each request with the next status of
/// `statuses` (200 once they run out) and sends each request body to the returned channel.
// Multi-threaded: the webhook server must answer while the test thread waits for pipewatch.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_and_errored_tests_are_posted_to_the_webhook() {
    // The first delivery is refused with a 500 and retried.
    let (url, mut received) = webhook_server(vec![500]).await;
    let b = Bench::new(&format!(
        "[validate]\nwebhook_url = {url}\nwebhook_timeout_seconds = 5\nwebhook_attempts = 3\n"
    ))
    .await;
    b.script("five.sql", "SELECT 5");
    b.script("zero.sql", "SELECT 0");
    b.script("broken.sql", "SELECT nonsense(");
    let suite = b.suite(
        "[ok]\nscript_1 = five.sql\nscript_2 = zero.sql\noperator = greater\n\
         [orders_match]\nscript_1 = five.sql\nscript_2 = zero.sql\noperator = equals\nseverity = warn\n\
         [broken]\nscript_1 = broken.sql\nscript_2 = zero.sql\noperator = equals\n",
    );
    let run = b.validate(&["--suite", &suite]);
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    let mut bodies = Vec::new();
    while let Ok(body) = received.try_recv() {
        bodies.push(body);
    }
    assert_eq!(
        bodies.len(),
        3,
        "one retried + one more failure notice: {bodies:?}"
    );
    let texts: Vec<String> = bodies
        .iter()
        .map(|b| {
            let json: serde_json::Value = serde_json::from_str(b).unwrap();
            json["text"].as_str().unwrap().to_string()
        })
        .collect();
    assert_eq!(texts[0], texts[1], "the retry sends the same notice");
    assert!(
        texts[1].contains("validation test `orders_match` (severity warn) failed"),
        "{}",
        texts[1]
    );
    assert!(texts[1].contains("script_1 `five.sql` returned 5, script_2 `zero.sql` returned 0; expected script_1 equals script_2"), "{}", texts[1]);
    assert!(
        texts[2].contains("`broken` (severity halt) could not run"),
        "{}",
        texts[2]
    );
    assert!(
        texts.iter().all(|t| t.contains("Run ")),
        "run context in every notice"
    );
    assert!(
        !run.all_output().contains("secret-token"),
        "the webhook URL is a secret: {run:?}"
    );
}

#[tokio::test]
async fn an_undeliverable_notification_does_not_change_the_exit_status() {
    let closed_port = closed_port();
    let b = Bench::new(&format!(
        "[validate]\nwebhook_url = http://127.0.0.1:{closed_port}/hook/secret-token\nwebhook_timeout_seconds = 2\nwebhook_attempts = 2\n"
    ))
    .await;
    let one = b.script("one.sql", "SELECT 1");
    let two = b.script("two.sql", "SELECT 2");
    let run = b.validate(&[&one, &two, "equals", "warn"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr
            .contains("Could not deliver the failure notification"),
        "{run:?}"
    );
    assert!(
        run.stderr
            .contains(&format!("http://127.0.0.1:{closed_port}")),
        "{run:?}"
    );
    assert!(!run.all_output().contains("secret-token"), "{run:?}");
    assert_eq!(
        b.results().await,
        ["one.sql equals two.sql|failed|false|1|2|warn"]
    );
}

#[test]
fn unreachable_warehouse_is_an_error_exit() {
    let dir = TempDir::new();
    let closed_port = closed_port();
    let config = write_config(
        dir.path(),
        &format!(
            "[retry]\nattempts = 1\n[warehouse]\nhost = 127.0.0.1\nport = {closed_port}\nusername = x\ndatabase = y\nconnect_timeout_seconds = 2\n"
        ),
    );
    std::fs::write(dir.path().join("one.sql"), "SELECT 1").unwrap();
    let run = pipewatch(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "validate",
            "one.sql",
            "one.sql",
            "equals",
        ],
        &[],
    );
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(
        run.stderr.contains("could not connect to the warehouse"),
        "{run:?}"
    );
}

/// Run inside an Airflow task (Airflow exports AIRFLOW_CTX_*), a result records its DAG, task,
/// run and try; the notice names them; and a failed test in a run Airflow marked success shows
/// in silent_validation_failure. Outside Airflow the columns stay NULL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_carry_their_airflow_task_and_silent_failures_are_listed() {
    let (url, mut received) = webhook_server(vec![]).await;
    let b = Bench::new(&format!("[validate]\nwebhook_url = {url}\n")).await;
    b.script("five.sql", "SELECT 5");
    b.script("zero.sql", "SELECT 0");
    let run_id = "scheduled__2025-03-01T00:00:00+00:00";
    let airflow = [
        ("AIRFLOW_CTX_DAG_ID", "orders"),
        ("AIRFLOW_CTX_TASK_ID", "validate_orders"),
        ("AIRFLOW_CTX_DAG_RUN_ID", run_id),
        ("AIRFLOW_CTX_TRY_NUMBER", "2"),
    ];
    let config = b.config.to_str().unwrap().to_string();
    let args = |severity: &'static str| {
        vec![
            "--config".to_string(),
            config.clone(),
            "validate".into(),
            "five.sql".into(),
            "zero.sql".into(),
            "equals".into(),
            severity.into(),
        ]
    };
    let in_airflow = args("warn");
    let in_airflow: Vec<&str> = in_airflow.iter().map(String::as_str).collect();
    let run = pipewatch(b.dir.path(), &in_airflow, &airflow);
    assert_eq!(run.code, 0, "a failed warn test exits 0: {run:?}");
    let outside = args("warn");
    let outside: Vec<&str> = outside.iter().map(String::as_str).collect();
    let run = pipewatch(b.dir.path(), &outside, &[]);
    assert_eq!(run.code, 0, "{run:?}");

    let rows = b
        .strings(
            "SELECT concat_ws('|', coalesce(airflow_dag_id, 'NULL'), coalesce(airflow_task_id, 'NULL'), \
                 coalesce(airflow_run_id, 'NULL'), coalesce(airflow_try_number::text, 'NULL')) \
                 FROM {}.validation_run_history ORDER BY test_run_at",
        )
        .await;
    assert_eq!(
        rows,
        [
            format!("orders|validate_orders|{run_id}|2"),
            "NULL|NULL|NULL|NULL".to_string()
        ]
    );
    let first: serde_json::Value =
        serde_json::from_str(&received.recv().await.expect("a notice")).unwrap();
    let text = first["text"].as_str().unwrap();
    assert!(
        text.contains(&format!(
            "In Airflow: DAG orders, run {run_id}, task validate_orders, try 2."
        )),
        "{text}"
    );

    // The DAG run succeeded in Airflow (as loaded by pipewatch): a silent failure.
    b.client
        .batch_execute(&format!(
            "INSERT INTO {s}.dag_run_history (airflow_instance, airflow_major_version, dag_id, run_id, \
             state, execution_date, end_date, source_read_at, loaded_by_run_id) VALUES \
             ('default', 2, 'orders', '{run_id}', 'success', '2025-03-01', '2025-03-02 01:00+00', now(), \
              '00000000-0000-0000-0000-000000000000'), \
             ('default', 2, 'orders', 'other_run', 'success', '2025-03-02', '2025-03-03 01:00+00', now(), \
              '00000000-0000-0000-0000-000000000000')",
            s = b.schema
        ))
        .await
        .unwrap();
    let silent = b
        .strings(
            "SELECT concat_ws('|', dag_id, run_id, dag_run_state, airflow_task_id, test_name, severity, \
                 script_1_value, script_2_value) FROM {}.silent_validation_failure",
        )
        .await;
    assert_eq!(
        silent,
        [format!(
            "orders|{run_id}|success|validate_orders|five.sql equals zero.sql|warn|5|0"
        )]
    );
}
