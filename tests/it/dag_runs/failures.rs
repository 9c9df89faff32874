//! Failures before anything is written: unreachable or refusing sources, a missing bucket, an
//! unknown time zone; each a clear error, nothing half-written.

use crate::common::*;

/// Runs `pipewatch run` with a fresh warehouse schema and `sections` after its `[warehouse]`;
/// it must fail with exit 3. Returns the run, the warehouse schema and the folder.
async fn failing_run(sections: &str) -> (Run, String, TempDir) {
    let dir = TempDir::new();
    let schema = unique("wh");
    let config = write_config(
        dir.path(),
        &format!("{}{sections}", warehouse_section(&schema)),
    );
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "run"],
        &[],
    );
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    (run, schema, dir)
}

/// An Airflow 2 source schema holding one finished run.
async fn source_with_one_run() -> String {
    let client = pg().await;
    let airflow = airflow_source(&client, 2).await;
    insert_run(
        &client,
        &airflow,
        2,
        &RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"),
    )
    .await;
    airflow
}

#[tokio::test]
async fn unreachable_source_is_a_clear_error_and_writes_nothing() {
    let closed_port = closed_port();
    let (run, schema, dir) = failing_run(&format!(
        "[retry]\nattempts = 1\n[airflowdb_config]\nhost = 127.0.0.1\nport = {closed_port}\nusername = airflow\ndatabase = airflow\nconnect_timeout_seconds = 2\n"
    ))
    .await;
    assert!(
        run.stderr.contains(&format!(
            "could not connect to the Airflow metadata database at 127.0.0.1:{closed_port}/airflow"
        )),
        "{run:?}"
    );
    assert_nothing_written(&schema, &dir, 1).await;
}

#[tokio::test]
async fn wrong_source_password_is_a_clear_error_and_writes_nothing() {
    let airflow = source_with_one_run().await;
    let (run, schema, dir) = failing_run(&format!(
        "[airflowdb_config]\nhost = {}\nport = {}\nusername = {}\npassword = not-it-at-all\ndatabase = {}\nschema = {airflow}\n",
        pg_host(),
        pg_port(),
        env("PIPEWATCH_TEST_PG_PASSWORD_ROLE"),
        pg_database()
    ))
    .await;
    assert!(
        run.stderr.contains("password authentication failed"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("PIPEWATCH__AIRFLOWDB_CONFIG__PASSWORD"),
        "{run:?}"
    );
    assert!(!run.all_output().contains("not-it-at-all"), "{run:?}");
    assert_nothing_written(&schema, &dir, 1).await;
}

#[tokio::test]
async fn missing_bucket_is_a_clear_error_and_writes_nothing() {
    let airflow = source_with_one_run().await;
    let (run, schema, dir) = failing_run(&format!(
        "{}{}",
        airflow_section("airflowdb_config", &airflow),
        s3_staging_section("pipewatch-no-such-bucket")
    ))
    .await;
    assert!(run.stderr.contains("pipewatch-no-such-bucket"), "{run:?}");
    assert!(run.stderr.contains("does not exist"), "{run:?}");
    // The bucket is checked before any source is read.
    assert_nothing_written(&schema, &dir, 0).await;
}

/// No DAG run, extract or watermark in the warehouse schema, and no file in the local stage;
/// `failed_extracts` failed extract stages recorded in pipewatch_run_log.
async fn assert_nothing_written(schema: &str, dir: &TempDir, failed_extracts: i64) {
    let client = pg().await;
    for table in ["dag_run_history", "staged_extract", "extract_watermark"] {
        let n: i64 = client
            .query_one(&format!("SELECT count(*) FROM {schema}.{table}"), &[])
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 0, "{table}");
    }
    let failed: i64 = client
        .query_one(
            &format!(
                "SELECT count(*) FROM {schema}.pipewatch_run_log WHERE stage = 'extract' AND outcome = 'failed' AND error_message IS NOT NULL"
            ),
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(failed, failed_extracts, "failed extract stages recorded");
    assert!(
        !dir.path().join("stage").exists()
            || std::fs::read_dir(dir.path().join("stage"))
                .unwrap()
                .next()
                .is_none()
    );
}

#[tokio::test]
async fn unknown_reporting_time_zone_is_a_clear_error() {
    // An unknown zone, and a known one in the wrong case (PostgreSQL's names are what every day
    // computation uses, matched exactly).
    for (zone, expected) in [
        ("Mars/Olympus_Mons", "use an IANA name such as UTC"),
        ("europe/berlin", "did you mean \"Europe/Berlin\"?"),
    ] {
        let w = World::new(2, &format!("[reporting]\ntime_zone = {zone}\n")).await;
        w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
            .await;
        let message = format!("unknown time zone \"{zone}\" in [reporting] time_zone");
        // check-config says so and exits 2, as for any invalid setting.
        let run = w.pipewatch(&["check-config"]);
        assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
        assert!(
            run.stdout.contains("FAILED  time zone") && run.stdout.contains(&message),
            "{run:?}"
        );
        assert!(run.stdout.contains(expected), "{run:?}");
        // Every command that works on the warehouse exits 2 before extracting anything.
        for args in [
            vec!["run"],
            vec!["extract"],
            vec!["load"],
            vec!["transform"],
            vec!["reconcile"],
            vec!["backfill", "--from", "2025-03-01", "--to", "2025-03-02"],
        ] {
            let run = w.pipewatch(&args);
            assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{args:?}: {run:?}");
            assert!(run.stderr.contains(&message), "{args:?}: {run:?}");
            assert!(run.stderr.contains(expected), "{args:?}: {run:?}");
        }
        assert!(w.stage_files().is_empty(), "nothing was staged");
        assert_eq!(
            w.count("SELECT count(*) FROM WH.staged_extract").await,
            0,
            "nothing was registered"
        );
    }
}

/// A kill during an extract leaves a `*.partial-*` file in a local stage; the next invocation
/// that works on the stage (under the run lock) removes it, and nothing else.
#[tokio::test]
async fn unfinished_files_of_a_killed_extract_are_removed_by_the_next_run() {
    let w = World::new(2, "").await;
    w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
        .await;
    let folder = w.dir.path().join("stage/dag_run/default/2025-03-01");
    std::fs::create_dir_all(&folder).unwrap();
    let partial = folder.join("01a0.partial-0190aaaa-0000-7000-8000-000000000000");
    let other = folder.join("someone-elses.csv");
    std::fs::write(&partial, "half a CSV").unwrap();
    std::fs::write(&other, "not pipewatch's").unwrap();
    let run = w.run_ok(&["run"]);
    assert!(!partial.exists(), "{run:?}");
    assert!(other.exists(), "only unfinished files are removed");
    assert!(
        run.stderr
            .contains("Removed unfinished files that a killed extract left in the stage"),
        "{run:?}"
    );
}

#[tokio::test]
async fn a_missing_grant_on_an_airflow_table_is_named_with_the_grant_that_fixes_it() {
    let w = World::new(2, "").await;
    w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
        .await;
    // A source role that may read dag_run but not task_instance.
    let reader = unique("afreader");
    w.client
        .batch_execute(&format!(
            "CREATE ROLE {reader} LOGIN; GRANT USAGE ON SCHEMA {af} TO {reader}; \
             GRANT SELECT ON {af}.dag_run TO {reader};",
            af = w.airflow
        ))
        .await
        .unwrap();
    let text = std::fs::read_to_string(&w.config).unwrap();
    let user = format!("username = {}\n", pg_user());
    // The second `username` is the Airflow section's (the warehouse's comes first).
    let at = text.match_indices(&user).nth(1).unwrap().0;
    let config = format!(
        "{}username = {reader}\n{}",
        &text[..at],
        &text[at + user.len()..]
    );
    std::fs::write(&w.config, config).unwrap();
    let run = w.pipewatch(&["extract"]);
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(
        run.stderr.contains(&format!(
            "the role \"{reader}\" may not read {af}.task_instance",
            af = w.airflow
        )) && run.stderr.contains(&format!(
            "GRANT SELECT ON {af}.task_instance TO {reader}",
            af = w.airflow
        )),
        "{run:?}"
    );
    assert!(!run.stderr.contains("no table task_instance"), "{run:?}");
}
