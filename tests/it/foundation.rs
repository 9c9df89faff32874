//! The foundation: the binary's exit codes, configuration errors, check-config against real
//! services, migrations, and run ids in logs and rows. Runs against the PostgreSQL and S3 server
//! that `scripts/test` starts; each test uses its own schemas, bucket and folder.

use crate::common::*;

const WRONG_PASSWORD: &str = "Wr0ng-Pa55word-xyzzy";

fn base_config(schema: &str) -> String {
    warehouse_section(schema)
}

#[tokio::test]
async fn migrate_twice_is_a_no_op_the_second_time() {
    let dir = TempDir::new();
    let schema = unique("wh");
    let config = write_config(dir.path(), &base_config(&schema));
    let config = config.to_str().unwrap();

    let first = pipewatch(dir.path(), &["--config", config, "migrate"], &[]);
    assert_eq!(first.code, 0, "{first:?}");
    let second = pipewatch(dir.path(), &["--config", config, "migrate"], &[]);
    assert_eq!(second.code, 0, "{second:?}");

    let client = pg().await;
    let applied: i64 = client
        .query_one(
            &format!("SELECT count(*) FROM {schema}.pipewatch_schema_migrations"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied as usize, pipewatch::migrate::MIGRATIONS.len());
    let runs = client
        .query(
            &format!(
                "SELECT rows_written, outcome FROM {schema}.pipewatch_run_log \
                 WHERE stage = 'migrate' ORDER BY run_log_id"
            ),
            &[],
        )
        .await
        .unwrap();
    let runs: Vec<(Option<i64>, String)> = runs.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(
        runs,
        vec![
            (
                Some(pipewatch::migrate::MIGRATIONS.len() as i64),
                "succeeded".to_string()
            ),
            (Some(0), "succeeded".to_string()),
        ],
        "the second migrate applies nothing"
    );
}

#[tokio::test]
async fn edited_applied_migration_is_refused() {
    let dir = TempDir::new();
    let schema = unique("wh");
    let config = write_config(dir.path(), &base_config(&schema));
    let config = config.to_str().unwrap();
    assert_eq!(
        pipewatch(dir.path(), &["--config", config, "migrate"], &[]).code,
        0
    );

    // What an edited file looks like from the warehouse: the recorded checksum of the applied
    // text no longer matches the text this binary carries.
    let client = pg().await;
    client
        .execute(
            &format!(
                "UPDATE {schema}.pipewatch_schema_migrations \
                 SET checksum_sha256 = encode(sha256('the original text'), 'hex') WHERE version = 2"
            ),
            &[],
        )
        .await
        .unwrap();
    let run = pipewatch(dir.path(), &["--config", config, "migrate"], &[]);
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(
        run.stderr
            .contains("migration 0002_validation_run_history.sql was changed after it was applied"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("never be edited"),
        "says what to do: {run:?}"
    );
}

#[tokio::test]
async fn schema_migrated_by_a_newer_pipewatch_is_refused() {
    let dir = TempDir::new();
    let schema = unique("wh");
    let config = write_config(dir.path(), &base_config(&schema));
    let config = config.to_str().unwrap();
    assert_eq!(
        pipewatch(dir.path(), &["--config", config, "migrate"], &[]).code,
        0
    );
    pg().await
        .execute(
            &format!(
                "INSERT INTO {schema}.pipewatch_schema_migrations \
                 (version, name, checksum_sha256, applied_by_run_id) \
                 VALUES (999, '0999_future.sql', 'x', gen_random_uuid())"
            ),
            &[],
        )
        .await
        .unwrap();
    let run = pipewatch(dir.path(), &["--config", config, "migrate"], &[]);
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(run.stderr.contains("upgrade pipewatch"), "{run:?}");
}

#[tokio::test]
async fn concurrent_migrations_apply_each_migration_once() {
    let dir = TempDir::new();
    let schema = unique("wh");
    let config = write_config(dir.path(), &base_config(&schema));
    let config = config.to_str().unwrap().to_string();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let dir = dir.path().to_path_buf();
            let config = config.clone();
            std::thread::spawn(move || pipewatch(&dir, &["--config", &config, "migrate"], &[]))
        })
        .collect();
    for handle in handles {
        let run = handle.join().unwrap();
        assert_eq!(run.code, 0, "{run:?}");
    }
    let applied: i64 = pg()
        .await
        .query_one(
            &format!("SELECT sum(rows_written)::bigint FROM {schema}.pipewatch_run_log WHERE stage = 'migrate'"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied as usize, pipewatch::migrate::MIGRATIONS.len());
}

#[tokio::test]
async fn every_table_and_column_is_documented_in_the_schema() {
    let dir = TempDir::new();
    let schema = unique("wh");
    let config = write_config(dir.path(), &base_config(&schema));
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "migrate"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let client = pg().await;
    let undocumented = client
        .query(
            "SELECT c.relname || coalesce('.' || a.attname, '') \
             FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             LEFT JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'v', 'm', 'p') \
               AND col_description(c.oid, coalesce(a.attnum, 0)) IS NULL \
               AND (a.attnum IS NOT NULL OR obj_description(c.oid, 'pg_class') IS NULL)",
            &[&schema],
        )
        .await
        .unwrap();
    let undocumented: Vec<String> = undocumented.iter().map(|r| r.get(0)).collect();
    assert!(
        undocumented.is_empty(),
        "tables or columns without a COMMENT: {undocumented:?}"
    );
    let tables: Vec<String> = client
        .query(
            "SELECT tablename::text FROM pg_tables WHERE schemaname = $1 ORDER BY 1",
            &[&schema],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        tables,
        [
            "alert_evaluation",
            "alert_history",
            "alert_notice",
            "alert_state",
            "critical_path_daily",
            "dag_catalog",
            "dag_catalog_history",
            "dag_delay_daily",
            "dag_graph_version",
            "dag_history_daily",
            "dag_run_critical_path",
            "dag_run_critical_path_run",
            "dag_run_history",
            "dag_run_pending_day",
            "dag_runtime_daily",
            "dag_schedule_daily",
            "dag_schedule_missed",
            "dag_schedule_state",
            "dag_success_daily",
            "deadline_history",
            "extract_watermark",
            "import_error_history",
            "objective_daily",
            "objective_run",
            "objective_scope",
            "pipewatch_run_log",
            "pipewatch_schema_migrations",
            "pool_history",
            "scheduler_health_history",
            "staged_extract",
            "task_cost_daily",
            "task_daily",
            "task_run_history",
            "transform_state",
            "validation_pending_day",
            "validation_run_history",
            "validation_test_daily",
            "validator_summary_daily"
        ]
    );
}

#[tokio::test]
async fn json_logs_carry_the_run_id_written_to_the_warehouse() {
    let dir = TempDir::new();
    let schema = unique("wh");
    let config = write_config(dir.path(), &base_config(&schema));
    let run = pipewatch(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "--log-format",
            "json",
            "migrate",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let mut run_ids = std::collections::BTreeSet::new();
    for line in run.stderr.lines() {
        let event: serde_json::Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        let run_id = event["spans"][0]["run_id"]
            .as_str()
            .unwrap_or_else(|| panic!("log line without run_id: {line}"));
        run_ids.insert(run_id.to_string());
        assert!(event["level"].is_string() && event["message"].is_string());
    }
    assert_eq!(run_ids.len(), 1, "one run id per invocation: {run_ids:?}");
    let logged = run_ids.into_iter().next().unwrap();
    let recorded: Vec<String> = pg()
        .await
        .query(
            &format!(
                "SELECT DISTINCT run_id::text FROM {schema}.pipewatch_run_log \
                 UNION SELECT DISTINCT applied_by_run_id::text FROM {schema}.pipewatch_schema_migrations"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(recorded, vec![logged]);
}

/// Every log line carries the invocation's run id, at every level and in both formats: the
/// retry warnings and the final error of a run whose warehouse does not answer.
#[test]
fn log_lines_at_every_level_carry_the_run_id() {
    let dir = TempDir::new();
    let config = write_config(
        dir.path(),
        &format!(
            "[warehouse]\nhost = 127.0.0.1\nport = {}\nusername = x\ndatabase = y\n\
             [retry]\nattempts = 2\ninitial_backoff_seconds = 1\n",
            closed_port()
        ),
    );
    let config = config.to_str().unwrap();
    for level in ["trace", "info", "warn", "error"] {
        let run = pipewatch(
            dir.path(),
            &[
                "--config",
                config,
                "--log-format",
                "json",
                "--log-level",
                level,
                "migrate",
            ],
            &[],
        );
        assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert!(!lines.is_empty(), "{level}: {run:?}");
        let mut levels = std::collections::BTreeSet::new();
        for line in &lines {
            let event: serde_json::Value = serde_json::from_str(line)
                .unwrap_or_else(|e| panic!("{level}: log line is not JSON ({e}): {line}"));
            assert!(
                event["spans"][0]["run_id"]
                    .as_str()
                    .is_some_and(|id| id.len() == 36),
                "{level}: log line without run_id: {line}"
            );
            levels.insert(event["level"].as_str().unwrap().to_string());
        }
        if level != "error" {
            assert!(
                levels.contains("WARN"),
                "{level}: the retry warning: {run:?}"
            );
        }
        assert!(levels.contains("ERROR"), "{level}: the failure: {run:?}");
    }
    for level in ["info", "warn", "error"] {
        let log = dir.path().join(format!("{level}.log"));
        let run = pipewatch(
            dir.path(),
            &[
                "--config",
                config,
                "--log-level",
                level,
                "--log-file",
                log.to_str().unwrap(),
                "migrate",
            ],
            &[],
        );
        assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(!text.is_empty(), "{level}: {run:?}");
        for line in text.lines() {
            assert!(
                line.contains("pipewatch{run_id="),
                "{level}: text line without the run id: {line}"
            );
        }
    }
}

/// check-config changes nothing on disk: a stage folder that does not exist yet is checked
/// (its parent is writable) but not created, and no probe is left behind.
#[tokio::test]
async fn check_config_leaves_the_file_tree_unchanged() {
    let airflow = airflow_source(&pg().await, 2).await;
    let dir = TempDir::new();
    let schema = unique("wh");
    let stage = dir.path().join("data").join("stage");
    let config = write_config(
        dir.path(),
        &format!(
            "{}{}[staging]\nlocal_directory = {}\n",
            base_config(&schema),
            airflow_section("airflowdb_config", &airflow),
            stage.display()
        ),
    );
    let listing = |path: &std::path::Path| {
        let mut all = Vec::new();
        let mut todo = vec![path.to_path_buf()];
        while let Some(p) = todo.pop() {
            for entry in std::fs::read_dir(&p).unwrap() {
                let entry = entry.unwrap().path();
                if entry.is_dir() {
                    todo.push(entry.clone());
                }
                all.push(entry);
            }
        }
        all.sort();
        all
    };
    let before = listing(dir.path());
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "check-config"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout.contains(&format!(
            "local folder {} does not exist yet; the first extract creates it ({} is writable)",
            stage.display(),
            dir.path().display()
        )),
        "{run:?}"
    );
    assert_eq!(
        listing(dir.path()),
        before,
        "check-config left the tree as it was"
    );
    // With the folder in place (and a file in it), it is probed and left as it was too.
    std::fs::create_dir_all(&stage).unwrap();
    std::fs::write(stage.join("keep.csv"), "x").unwrap();
    let before = listing(dir.path());
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "check-config"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stdout
            .contains(&format!("local folder {} is writable", stage.display())),
        "{run:?}"
    );
    assert_eq!(listing(dir.path()), before);
}

#[tokio::test]
async fn check_config_reports_every_connection_ok() {
    let client = pg().await;
    let airflow2 = airflow_source(&client, 2).await;
    let airflow3 = airflow_source(&client, 3).await;
    let bucket = bucket().await;
    let dir = TempDir::new();
    let schema = unique("wh");
    let config = write_config(
        dir.path(),
        &format!(
            "{}{}{}{}",
            base_config(&schema),
            airflow_section("airflowdb_config", &airflow2),
            airflow_section("airflowdb_config_v3", &airflow3),
            s3_staging_section(&bucket)
        ),
    );
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "check-config"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let lines: Vec<&str> = run.stdout.lines().collect();
    // configuration, warehouse, time zone, two Airflows, staging, alerts.
    assert_eq!(lines.len(), 7, "{run:?}");
    assert!(lines.iter().all(|l| l.starts_with("ok ")), "{run:?}");
    let pending = format!(
        "{} migrations pending",
        pipewatch::migrate::MIGRATIONS.len()
    );
    assert!(run.stdout.contains(&pending), "{run:?}");
    assert!(
        run.stdout.contains("airflow default")
            && run.stdout.contains("Airflow 2 layout")
            && run.stdout.contains("airflow v3")
            && run.stdout.contains("Airflow 3 layout"),
        "{run:?}"
    );
    assert!(
        run.stdout.contains(&format!("s3://{bucket}/pipewatch/")),
        "{run:?}"
    );
    // check-config changes nothing: the schema was not created.
    let exists: bool = client
        .query_one(
            "SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await
        .unwrap()
        .get(0);
    assert!(!exists, "check-config must not migrate");
}

#[tokio::test]
async fn check_config_with_wrong_password_names_the_problem_and_hides_the_password() {
    let dir = TempDir::new();
    let role = env("PIPEWATCH_TEST_PG_PASSWORD_ROLE");
    let text = format!(
        "[warehouse]\nhost = {}\nport = {}\nusername = {role}\npassword = {WRONG_PASSWORD}\ndatabase = {}\n",
        pg_host(),
        pg_port(),
        pg_database()
    );
    let config = write_config(dir.path(), &text);
    let config = config.to_str().unwrap();
    for log_format in ["text", "json"] {
        let run = pipewatch(
            dir.path(),
            &[
                "--config",
                config,
                "--log-format",
                log_format,
                "--log-level",
                "trace",
                "check-config",
            ],
            &[],
        );
        assert_eq!(run.code, pipewatch::exit::CHECKS_FAILED as i32, "{run:?}");
        let warehouse_line = run
            .stdout
            .lines()
            .find(|l| l.contains("warehouse"))
            .expect("a warehouse line");
        assert!(warehouse_line.starts_with("FAILED"), "{run:?}");
        assert!(
            warehouse_line.contains("password authentication failed"),
            "{run:?}"
        );
        assert!(
            warehouse_line.contains("PIPEWATCH__WAREHOUSE__PASSWORD"),
            "{run:?}"
        );
        assert!(
            !run.all_output().contains(WRONG_PASSWORD),
            "the password must never be printed: {run:?}"
        );
    }
    // The same password given through the environment, and then the right one.
    let env_config = write_config(dir.path(), &text.replace(WRONG_PASSWORD, ""));
    let env_config = env_config.to_str().unwrap();
    let run = pipewatch(
        dir.path(),
        &["--config", env_config, "check-config"],
        &[("PIPEWATCH__WAREHOUSE__PASSWORD", WRONG_PASSWORD)],
    );
    assert!(
        run.stdout.contains("password authentication failed"),
        "{run:?}"
    );
    assert!(!run.all_output().contains(WRONG_PASSWORD), "{run:?}");
    let right = env("PIPEWATCH_TEST_PG_PASSWORD");
    let run = pipewatch(
        dir.path(),
        &["--config", env_config, "check-config"],
        &[("PIPEWATCH__WAREHOUSE__PASSWORD", right.as_str())],
    );
    let warehouse_line = run
        .stdout
        .lines()
        .find(|l| l.contains("warehouse"))
        .unwrap();
    assert!(warehouse_line.starts_with("ok"), "{run:?}");
    assert!(!run.all_output().contains(&right), "{run:?}");

    // The right password from a mounted secret file (with the newline `echo` adds), the
    // configuration naming only the file.
    let secret = dir.path().join("warehouse-password");
    std::fs::write(&secret, format!("{right}\n")).unwrap();
    let file_config = write_config(
        dir.path(),
        &text.replace(
            &format!("password = {WRONG_PASSWORD}"),
            "password_file = warehouse-password",
        ),
    );
    let run = pipewatch(
        dir.path(),
        &["--config", file_config.to_str().unwrap(), "check-config"],
        &[],
    );
    let warehouse_line = run
        .stdout
        .lines()
        .find(|l| l.contains("warehouse"))
        .unwrap();
    assert!(warehouse_line.starts_with("ok"), "{run:?}");
    assert!(!run.all_output().contains(&right), "{run:?}");
}

#[tokio::test]
async fn check_config_reports_unreachable_servers_and_missing_bucket() {
    let dir = TempDir::new();
    // A port where nothing listens: bind one, then release it.
    let closed_port = closed_port();
    let text = format!(
        "[retry]\nattempts = 1\n[warehouse]\nhost = 127.0.0.1\nport = {closed_port}\nusername = x\ndatabase = y\nconnect_timeout_seconds = 2\n\
         [airflowdb_config]\nhost = 127.0.0.1\nport = {closed_port}\nusername = x\ndatabase = y\nconnect_timeout_seconds = 2\n{}",
        s3_staging_section("no-such-bucket-pipewatch")
    );
    let config = write_config(dir.path(), &text);
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "check-config"],
        &[],
    );
    assert_eq!(run.code, pipewatch::exit::CHECKS_FAILED as i32, "{run:?}");
    let failed: Vec<&str> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("FAILED"))
        .collect();
    assert_eq!(failed.len(), 3, "{run:?}");
    assert!(
        failed[0].contains(&format!(
            "could not connect to the warehouse at 127.0.0.1:{closed_port}/y"
        )),
        "{run:?}"
    );
    assert!(
        failed[1].contains("could not connect to the Airflow metadata database"),
        "{run:?}"
    );
    assert!(
        failed[2].contains("bucket \"no-such-bucket-pipewatch\" does not exist"),
        "{run:?}"
    );
}

#[tokio::test]
async fn check_config_reports_rejected_s3_credentials() {
    let bucket = bucket().await;
    let dir = TempDir::new();
    let text = format!(
        "{}{}",
        base_config(&unique("wh")),
        s3_staging_section(&bucket).replace(&s3_secret_key(), "not-the-secret")
    );
    let config = write_config(dir.path(), &text);
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "check-config"],
        &[],
    );
    assert_eq!(run.code, pipewatch::exit::CHECKS_FAILED as i32, "{run:?}");
    let staging = run.stdout.lines().find(|l| l.contains("staging")).unwrap();
    assert!(staging.starts_with("FAILED"), "{run:?}");
    assert!(staging.contains("check the S3 credentials"), "{run:?}");
    assert!(!run.all_output().contains("not-the-secret"), "{run:?}");
    // One readable line: the status and S3's own words, no debug dump of the SDK's structs.
    assert!(staging.contains("HTTP 403 Forbidden"), "{staging}");
    for dump in ["{", "Error {", "raw:", "Response"] {
        assert!(!staging.contains(dump), "{staging}");
    }

    // The same on the extract's upload path (PutObject, with S3's error code and message).
    let w = World::with_stage(
        2,
        "",
        &s3_staging_section(&bucket).replace(&s3_secret_key(), "not-the-secret"),
    )
    .await;
    w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
        .await;
    let run = w.pipewatch(&["extract"]);
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    let error = run
        .stderr
        .lines()
        .find(|l| l.contains("S3 "))
        .unwrap_or_else(|| panic!("{run:?}"));
    assert!(error.contains("HTTP 403 Forbidden: "), "{error}");
    for dump in ["{", "raw:", "Response"] {
        assert!(!error.contains(dump), "{error}");
    }
}

#[test]
fn configuration_errors_are_one_line_and_exit_2_before_connecting() {
    let dir = TempDir::new();
    // Nothing listens on port 1: had pipewatch tried to connect, the message would say so.
    let base = "[warehouse]\nhost = 127.0.0.1\nport = 1\nusername = x\ndatabase = y\npassword = Sekr1t-value\n";
    let cases = [
        (
            format!("{base}hots = typo\n"),
            "unknown key `hots` in section [warehouse]",
        ),
        (
            base.replace("port = 1", "port = fifty"),
            "[warehouse] port = \"fifty\" is not valid",
        ),
        (
            base.replace("database = y\n", ""),
            "missing required key `database` in section [warehouse]",
        ),
        (
            format!("{base}[airflow]\nhost = x\n"),
            "unknown section [airflow]",
        ),
    ];
    for (text, expected) in cases {
        let config = write_config(dir.path(), &text);
        let run = pipewatch(
            dir.path(),
            &["--config", config.to_str().unwrap(), "check-config"],
            &[],
        );
        assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
        assert!(run.stdout.is_empty(), "nothing was checked: {run:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "one line: {run:?}");
        assert!(lines[0].contains(expected), "{run:?}");
        assert!(
            lines[0].contains("pipeline.conf"),
            "names the file: {run:?}"
        );
        assert!(!run.all_output().contains("Sekr1t-value"), "{run:?}");
    }
    // A missing file, given explicitly or looked for in the default places.
    let run = pipewatch(
        dir.path(),
        &["--config", "does-not-exist.conf", "check-config"],
        &[],
    );
    assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
    assert!(
        run.stderr
            .contains("cannot read configuration file does-not-exist.conf"),
        "{run:?}"
    );
    let empty = TempDir::new();
    let run = pipewatch(empty.path(), &["check-config"], &[]);
    if !std::path::Path::new("/etc/pipewatch/pipeline.conf").exists() {
        assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
        assert!(
            run.stderr.contains("no configuration file found"),
            "{run:?}"
        );
    }
}

#[test]
fn usage_errors_exit_2() {
    let dir = TempDir::new();
    let run = pipewatch(dir.path(), &["no-such-command"], &[]);
    assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
    let run = pipewatch(dir.path(), &["--log-format", "xml", "migrate"], &[]);
    assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
}

/// A TCP forwarder to the test PostgreSQL that starts listening on `port` only after `delay`:
/// a warehouse that is restarting, then comes back.
fn warehouse_coming_back(port: u16, delay: std::time::Duration) {
    let target = format!("{}:{}", pg_host(), pg_port());
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
                .await
                .unwrap();
            // Serve for a bounded time, then stop by itself.
            let serve = async {
                loop {
                    let (mut inbound, _) = listener.accept().await.unwrap();
                    let target = target.clone();
                    tokio::spawn(async move {
                        if let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await {
                            let _ =
                                tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        }
                    });
                }
            };
            let _ = tokio::time::timeout(std::time::Duration::from_secs(60), serve).await;
        });
    });
}

#[tokio::test]
async fn a_warehouse_that_comes_back_during_retries_is_used() {
    let dir = TempDir::new();
    let schema = unique("wh");
    let port = closed_port();
    let config = write_config(
        dir.path(),
        &format!(
            "[warehouse]\nhost = 127.0.0.1\nport = {port}\nusername = {}\ndatabase = {}\nschema = {schema}\n\
             [retry]\nattempts = 6\ninitial_backoff_seconds = 1\nmax_backoff_seconds = 2\n",
            pg_user(),
            pg_database()
        ),
    );
    warehouse_coming_back(port, std::time::Duration::from_millis(2500));
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "migrate"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        run.stderr.contains("Connection failed; retrying."),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("attempt=2"),
        "each attempt is logged: {run:?}"
    );
    let applied: i64 = pg()
        .await
        .query_one(
            &format!("SELECT count(*) FROM {schema}.pipewatch_schema_migrations"),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(applied as usize, pipewatch::migrate::MIGRATIONS.len());
}

#[test]
fn a_permanent_error_is_not_retried() {
    let dir = TempDir::new();
    let config = write_config(
        dir.path(),
        &format!(
            "[warehouse]\nhost = {}\nport = {}\nusername = {}\npassword = wrong-wrong\ndatabase = {}\n\
             [retry]\nattempts = 5\ninitial_backoff_seconds = 5\n",
            pg_host(),
            pg_port(),
            env("PIPEWATCH_TEST_PG_PASSWORD_ROLE"),
            pg_database()
        ),
    );
    let started = std::time::Instant::now();
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "migrate"],
        &[],
    );
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(
        run.stderr.contains("password authentication failed"),
        "{run:?}"
    );
    assert!(!run.stderr.contains("retrying"), "{run:?}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(4),
        "failed at once, without waiting for a retry"
    );
}

/// Every usage error exits 2 before anything connects: the warehouse and Airflow are on a port
/// where nothing listens, so a command that tried to connect would exit 3 instead.
#[test]
fn usage_errors_exit_2_before_anything_connects() {
    let dir = TempDir::new();
    let port = closed_port();
    let config = write_config(
        dir.path(),
        &format!(
            "[retry]\nattempts = 1\n[warehouse]\nhost = 127.0.0.1\nport = {port}\nusername = x\ndatabase = y\n\
             [airflowdb_config_prod]\nhost = 127.0.0.1\nport = {port}\nusername = x\ndatabase = y\n"
        ),
    );
    let suite = dir.path().join("missing-suite.ini");
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--instance", "nosuch"],
            "no Airflow instance named \"nosuch\"",
        ),
        (
            &["extract", "--instance", "nosuch"],
            "no Airflow instance named",
        ),
        (
            &["load", "--instance", "nosuch"],
            "no Airflow instance named",
        ),
        (
            &["reconcile", "--instance", "nosuch"],
            "no Airflow instance named",
        ),
        (
            &[
                "backfill",
                "--from",
                "2026-01-01",
                "--to",
                "2026-01-02",
                "--instance",
                "nosuch",
            ],
            "no Airflow instance named",
        ),
        (
            &["backfill", "--from", "2026-02-01", "--to", "2026-01-01"],
            "--from 2026-02-01 is after --to 2026-01-01",
        ),
        (
            &["backfill", "--from", "2026-02-30", "--to", "2026-03-01"],
            "invalid value",
        ),
        (
            &["backfill", "--from", "yesterday", "--to", "2026-03-01"],
            "invalid value",
        ),
        (
            &["reconcile", "--from", "2026-02-01", "--to", "2026-01-01"],
            "--from 2026-02-01 is after --to 2026-01-01",
        ),
        (&["reconcile", "--days", "0"], "--days 0 is out of range"),
        (
            &["reconcile", "--days", "99999999"],
            "--days 99999999 is out of range",
        ),
        (&["reconcile", "--days", "-3"], "unexpected argument"),
        (
            &["load", "--object", "../../etc/passwd"],
            "invalid object key",
        ),
        (&["load", "--object", "/etc/passwd"], "invalid object key"),
        (&["load", "--object", ""], "invalid object key"),
        (
            &["load", "--object", "x.csv", "--instance", "prod"],
            "cannot be used with",
        ),
        (&["validate", "a.sql", "b.sql", "bigger"], "bigger"),
        (&["validate", "a.sql", "b.sql", "equals", "fatal"], "fatal"),
        (
            &["validate", "--suite", suite.to_str().unwrap()],
            "cannot read suite file",
        ),
        (
            &[
                "validate",
                "a.sql",
                "b.sql",
                "equals",
                "--database",
                "nosuch",
            ],
            "neither the warehouse nor a configured Airflow instance",
        ),
        (&["status", "--format", "xml"], "invalid value"),
        (&["transform", "--full"], "unexpected argument"),
        (&["nosuchcommand"], "unrecognized subcommand"),
    ];
    for (args, expected) in cases {
        let mut full = vec!["--config", config.to_str().unwrap()];
        full.extend_from_slice(args);
        let run = pipewatch(dir.path(), &full, &[]);
        assert_eq!(
            run.code,
            pipewatch::exit::USAGE as i32,
            "pipewatch {}: {run:?}",
            args.join(" ")
        );
        assert!(
            run.stderr.contains(expected),
            "pipewatch {}: expected {expected:?} in {run:?}",
            args.join(" ")
        );
        assert!(
            !run.stderr.contains("could not connect"),
            "pipewatch {} tried to connect: {run:?}",
            args.join(" ")
        );
    }
}

#[tokio::test]
async fn reading_commands_work_for_a_read_only_role_and_never_create_a_schema() {
    let w = World::new(2, "[alerts]\nfreshness_hours = 1\n").await;
    let old = (chrono::Utc::now() - chrono::Duration::days(2)).to_rfc3339();
    w.insert(&RunSpec::finished("orders", &old, "success"))
        .await;
    w.run_ok(&["run"]);
    // A dashboard or report role: USAGE on the schema and SELECT on its tables, nothing else.
    let reader = unique("reader");
    w.client
        .batch_execute(&format!(
            "CREATE ROLE {reader} LOGIN; GRANT USAGE ON SCHEMA {wh} TO {reader}; \
             GRANT SELECT ON ALL TABLES IN SCHEMA {wh} TO {reader};",
            wh = w.warehouse
        ))
        .await
        .unwrap();
    let text = std::fs::read_to_string(&w.config).unwrap();
    let as_reader = w.dir.path().join("reader.conf");
    std::fs::write(
        &as_reader,
        text.replacen(
            &format!("username = {}\n", pg_user()),
            &format!("username = {reader}\n"),
            1,
        ),
    )
    .unwrap();
    let reader_config = as_reader.to_str().unwrap();
    let out = w.dir.path().join("report.html");
    for args in [
        vec!["report", "--out", out.to_str().unwrap()],
        vec!["alerts"],
        vec!["status"],
    ] {
        let mut all = vec!["--config", reader_config];
        all.extend(args.iter().copied());
        let run = pipewatch(w.dir.path(), &all, &[]);
        // alerts exits 1 while an alert is open (the stale DAG's freshness).
        assert!(
            run.code == 0 || (args[0] == "alerts" && run.code == 1),
            "{args:?}: {run:?}"
        );
        assert!(!run.all_output().contains("permission denied"), "{run:?}");
    }
    assert!(out.exists());

    // check-config says what each role may do: the loader everything, the reader only the
    // reading commands, a role without grants nothing (naming the GRANT).
    let warehouse_line = |config: &str| {
        let run = pipewatch(w.dir.path(), &["--config", config, "check-config"], &[]);
        run.stdout
            .lines()
            .find(|l| l.contains(" warehouse "))
            .unwrap_or_else(|| panic!("{run:?}"))
            .to_string()
    };
    let loader = warehouse_line(w.config.to_str().unwrap());
    assert!(
        loader.starts_with("ok") && loader.contains("owns every table"),
        "{loader}"
    );
    let read_only = warehouse_line(reader_config);
    assert!(
        read_only.starts_with("ok")
            && read_only.contains(&format!("role \"{reader}\" can read schema"))
            && read_only.contains("but does not own")
            && read_only.contains("need the role that owns the schema's tables"),
        "{read_only}"
    );
    let stranger = unique("stranger");
    w.client
        .batch_execute(&format!("CREATE ROLE {stranger} LOGIN"))
        .await
        .unwrap();
    let as_stranger = w.dir.path().join("stranger.conf");
    std::fs::write(
        &as_stranger,
        text.replacen(
            &format!("username = {}\n", pg_user()),
            &format!("username = {stranger}\n"),
            1,
        ),
    )
    .unwrap();
    let nothing = warehouse_line(as_stranger.to_str().unwrap());
    assert!(
        nothing.starts_with("FAILED")
            && nothing.contains(&format!(
                "may not use schema {wh}: GRANT USAGE ON SCHEMA {wh} TO {stranger}",
                wh = w.warehouse
            )),
        "{nothing}"
    );

    // A misspelt schema: named, exit 2, and not created by a command that only reads.
    let typo = unique("typo");
    let misspelt = w.dir.path().join("typo.conf");
    std::fs::write(
        &misspelt,
        text.replacen(
            &format!("schema = {}\n", w.warehouse),
            &format!("schema = {typo}\n"),
            1,
        ),
    )
    .unwrap();
    for command in ["report", "alerts", "status"] {
        let run = pipewatch(
            w.dir.path(),
            &["--config", misspelt.to_str().unwrap(), command],
            &[],
        );
        assert_eq!(
            run.code,
            pipewatch::exit::USAGE as i32,
            "{command}: {run:?}"
        );
        assert!(
            run.stderr
                .contains(&format!("warehouse schema {typo} does not exist")),
            "{command}: {run:?}"
        );
    }
    let created = w
        .count(&format!(
            "SELECT count(*) FROM pg_namespace WHERE nspname = '{typo}'"
        ))
        .await;
    assert_eq!(created, 0, "a reading command created the schema");
}

/// `--log-file` appends to a regular file (made when missing) or a character device; a folder,
/// a pipe (a write could block the job), or a symbolic link is refused with exit 2 before
/// anything runs, saying what it is.
#[test]
fn a_log_file_that_is_not_a_file_is_refused_before_anything_runs() {
    let dir = TempDir::new();
    let fifo = dir.path().join("pipe.log");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let folder = dir.path().join("logs");
    std::fs::create_dir(&folder).unwrap();
    let target = dir.path().join("real.log");
    std::fs::write(&target, "").unwrap();
    let link = dir.path().join("link.log");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    for (path, says) in [
        (&fifo, "is a pipe or a socket, which could block the job"),
        (&folder, "is a folder"),
        (&link, "is a symbolic link (to "),
    ] {
        let run = pipewatch(
            dir.path(),
            &["--log-file", path.to_str().unwrap(), "check-config"],
            &[],
        );
        assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
        assert!(
            run.stderr.contains(&format!("log file {}", path.display()))
                && run.stderr.contains(says),
            "{run:?}"
        );
    }
    assert_eq!(
        std::fs::read_to_string(&target).unwrap(),
        "",
        "nothing written through the link"
    );
    // A character device is appended to like a file.
    let run = pipewatch(
        dir.path(),
        &[
            "--log-file",
            "/dev/null",
            "--config",
            "missing.conf",
            "check-config",
        ],
        &[],
    );
    assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
    assert!(!run.stderr.contains("log file"), "{run:?}");
}
