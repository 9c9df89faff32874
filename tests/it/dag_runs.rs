//! DAG-run history: extract from Airflow 2 and 3, stage as CSV in a folder or S3, load into
//! dag_run_history. No run lost, none duplicated. Against the real PostgreSQL and S3 server that
//! `scripts/test` starts; each test has its own Airflow schema, warehouse schema, folder, bucket.

use crate::common::*;
use tokio_postgres::Client;

const NO_SCAN: &str = "[extract]\nchanged_runs_scan_interval_minutes = 10080\n";

#[tokio::test]
async fn airflow2_runs_are_copied_with_their_meaning() {
    let w = World::new(2, "").await;
    w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
        .await;
    w.insert(&RunSpec::finished("etl", "2025-03-02T00:00:00Z", "failed"))
        .await;
    let mut manual = RunSpec::finished("etl", "2025-03-02T10:11:12.123456Z", "success");
    manual.run_id = "manual__2025-03-02T10:11:12.123456+00:00".into();
    manual.run_type = "manual".into();
    w.insert(&manual).await;

    let run = w.run_ok(&["run"]);
    assert!(run.stdout.contains("extracted 3 runs"), "{run:?}");
    let rows = w
        .query_strings(&format!(
            "SELECT concat_ws('|', airflow_instance, airflow_major_version, dag_id, run_id, \
             execution_date, run_after, state, run_type, external_trigger, start_date, end_date) \
             FROM {}.dag_run_history ORDER BY run_id",
            w.warehouse
        ))
        .await;
    assert_eq!(
        rows,
        [
            "default|2|etl|manual__2025-03-02T10:11:12.123456+00:00|2025-03-02 10:11:12.123456+00|success|manual|t|2025-03-02 11:11:12.123456+00|2025-03-02 11:21:12.123456+00",
            "default|2|etl|scheduled__2025-03-01T00:00:00Z|2025-03-01 00:00:00+00|success|scheduled|f|2025-03-01 01:00:00+00|2025-03-01 01:10:00+00",
            "default|2|etl|scheduled__2025-03-02T00:00:00Z|2025-03-02 00:00:00+00|failed|scheduled|f|2025-03-02 01:00:00+00|2025-03-02 01:10:00+00",
        ]
    );
}

#[tokio::test]
async fn airflow3_runs_without_logical_date_keep_run_after_and_manual_flag() {
    let w = World::new(3, "").await;
    w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
        .await;
    let manual = RunSpec {
        dag_id: "etl".into(),
        run_id: "manual__2025-03-05T08:00:00+00:00".into(),
        logical_date: None,
        run_after: Some("2025-03-05T08:00:00Z".into()),
        state: Some("failed".into()),
        run_type: "manual".into(),
        start_date: Some("2025-03-05T08:00:05Z".into()),
        end_date: Some("2025-03-05T08:01:00Z".into()),
    };
    w.insert(&manual).await;
    let mut asset = RunSpec::finished("etl", "2025-03-06T00:00:00Z", "success");
    asset.run_type = "asset_triggered".into();
    asset.run_id = "asset_triggered__2025-03-06".into();
    asset.logical_date = None;
    asset.run_after = Some("2025-03-06T00:00:00Z".into());
    w.insert(&asset).await;

    w.run_ok(&["run"]);
    let rows = w
        .query_strings(&format!(
            "SELECT concat_ws('|', airflow_major_version, run_id, coalesce(execution_date::text, 'NULL'), \
             run_after, state, run_type, external_trigger) \
             FROM {}.dag_run_history ORDER BY run_id",
            w.warehouse
        ))
        .await;
    assert_eq!(
        rows,
        [
            "3|asset_triggered__2025-03-06|NULL|2025-03-06 00:00:00+00|success|asset_triggered|f",
            "3|manual__2025-03-05T08:00:00+00:00|NULL|2025-03-05 08:00:00+00|failed|manual|t",
            "3|scheduled__2025-03-01T00:00:00Z|2025-03-01 00:00:00+00|2025-03-01 00:00:00+00|success|scheduled|f",
        ]
    );
}

#[tokio::test]
async fn late_finishing_run_is_not_lost() {
    // No changed-run scan and no id recheck: only the re-read of unfinished runs can catch it.
    let w = World::new(
        2,
        "[extract]\nrecheck_last_ids = 0\nchanged_runs_scan_interval_minutes = 10080\n",
    )
    .await;
    let mut running = RunSpec::finished("slow", "2025-03-01T00:00:00Z", "running");
    running.end_date = None;
    w.insert(&running).await;
    let mut queued = RunSpec::finished("slow", "2025-03-02T00:00:00Z", "queued");
    queued.start_date = None;
    queued.end_date = None;
    w.insert(&queued).await;
    w.run_ok(&["run"]);
    // Later runs finish first, and push the id watermark past the slow ones.
    w.insert(&RunSpec::finished(
        "fast",
        "2025-03-01T00:00:00Z",
        "success",
    ))
    .await;
    w.run_ok(&["run"]);
    assert_eq!(
        w.state_of("slow", &running.run_id).await.unwrap(),
        "running 2025-03-01 01:00:00+00 0"
    );

    // Both slow runs finish, and Airflow's updated_at is left as it was: no scan could see it.
    w.exec(
        "UPDATE AF.dag_run SET state = 'success', end_date = '2025-03-01 05:00:00+00' WHERE dag_id = 'slow' AND state = 'running';
         UPDATE AF.dag_run SET state = 'failed', start_date = '2025-03-02 02:00:00+00', end_date = '2025-03-02 02:30:00+00' WHERE dag_id = 'slow' AND state = 'queued';",
    )
    .await;
    w.run_ok(&["run"]);
    for run_id in [&running.run_id, &queued.run_id] {
        assert_eq!(
            w.state_of("slow", run_id).await.unwrap(),
            w.source_state_of("slow", run_id).await
        );
    }
    assert_eq!(
        w.count("SELECT count(*) FROM WH.dag_run_history WHERE state IN ('success', 'failed')")
            .await,
        3
    );
}

#[tokio::test]
async fn run_committed_after_a_higher_id_was_read_is_not_lost() {
    let w = World::new(2, NO_SCAN).await;
    // A transaction takes an id and commits late, while a later run commits at once.
    let late = pg().await;
    late.batch_execute("BEGIN").await.unwrap();
    let late_id = insert_run(
        &late,
        &w.airflow,
        2,
        &RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"),
    )
    .await;
    let early_id = w
        .insert(&RunSpec::finished("etl", "2025-03-02T00:00:00Z", "success"))
        .await;
    assert!(late_id < early_id);
    w.run_ok(&["run"]);
    assert_eq!(
        w.count("SELECT count(*) FROM WH.dag_run_history").await,
        1,
        "only the committed run is visible"
    );
    late.batch_execute("COMMIT").await.unwrap();
    w.run_ok(&["run"]);
    assert_eq!(w.count("SELECT count(*) FROM WH.dag_run_history").await, 2);
    let watermark = w
        .count("SELECT max_source_id::bigint FROM WH.extract_watermark")
        .await;
    assert_eq!(watermark, early_id as i64);
}

#[tokio::test]
async fn cleared_run_that_reruns_between_extracts_is_refreshed() {
    // Scan for changed runs on every extract.
    let w = World::new(
        2,
        "[extract]\nchanged_runs_scan_interval_minutes = 0\nrecheck_last_ids = 0\n",
    )
    .await;
    let first = RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success");
    w.insert(&first).await;
    for day in 2..=5 {
        w.insert(&RunSpec::finished(
            "etl",
            &format!("2025-03-0{day}T00:00:00Z"),
            "success",
        ))
        .await;
    }
    w.run_ok(&["run"]);
    // Cleared in the UI, re-run and failed this time, all before the next extract.
    w.exec(
        "UPDATE AF.dag_run SET state = 'failed', clear_number = 1,
             start_date = '2025-03-10 00:00:00+00', end_date = '2025-03-10 00:45:00+00', updated_at = now()
         WHERE run_id = 'scheduled__2025-03-01T00:00:00Z'",
    )
    .await;
    w.run_ok(&["run"]);
    assert_eq!(
        w.state_of("etl", &first.run_id).await.unwrap(),
        "failed 2025-03-10 00:00:00+00 2025-03-10 00:45:00+00 1"
    );
}

#[tokio::test]
async fn cleared_run_seen_in_flight_is_followed_until_it_finishes() {
    let w = World::new(
        3,
        "[extract]\nrecheck_last_ids = 0\nchanged_runs_scan_interval_minutes = 10080\n",
    )
    .await;
    let first = RunSpec::finished("etl", "2025-03-01T00:00:00Z", "failed");
    w.insert(&first).await;
    w.insert(&RunSpec::finished("etl", "2025-03-02T00:00:00Z", "success"))
        .await;
    w.run_ok(&["run"]);
    w.exec(
        "UPDATE AF.dag_run SET state = 'queued', clear_number = 1, start_date = NULL, end_date = NULL, updated_at = now()
         WHERE run_id = 'scheduled__2025-03-01T00:00:00Z'",
    )
    .await;
    w.run_ok(&["run"]);
    assert_eq!(w.state_of("etl", &first.run_id).await.unwrap(), "queued 1");
    w.exec(
        "UPDATE AF.dag_run SET state = 'success', start_date = '2025-03-10 00:00:00+00', end_date = '2025-03-10 00:05:00+00', updated_at = now()
         WHERE run_id = 'scheduled__2025-03-01T00:00:00Z'",
    )
    .await;
    w.run_ok(&["run"]);
    assert_eq!(
        w.state_of("etl", &first.run_id).await.unwrap(),
        "success 2025-03-10 00:00:00+00 2025-03-10 00:05:00+00 1"
    );
}

#[tokio::test]
async fn rerunning_extract_and_load_with_nothing_new_changes_nothing() {
    let w = World::new(2, "").await;
    for day in 1..=9 {
        w.insert(&RunSpec::finished(
            "etl",
            &format!("2025-03-0{day}T00:00:00Z"),
            if day % 3 == 0 { "failed" } else { "success" },
        ))
        .await;
    }
    w.run_ok(&["run"]);
    let before = w.history_exact().await;
    assert_eq!(before.len(), 9);
    // Extract and load separately, twice, and reload every object by hand.
    for _ in 0..2 {
        let extracted = w.run_ok(&["extract"]);
        assert!(
            extracted.stdout.contains("staged dag_run/default/"),
            "{extracted:?}"
        );
        let loaded = w.run_ok(&["load"]);
        assert!(
            loaded.stdout.contains("0 inserted or changed"),
            "{loaded:?}"
        );
    }
    let keys = w
        .query_strings(&format!(
            "SELECT object_key FROM {}.staged_extract ORDER BY extracted_at",
            w.warehouse
        ))
        .await;
    assert_eq!(keys.len(), 3);
    for key in &keys {
        w.run_ok(&["load", "--object", key]);
    }
    let loaded_again = w.run_ok(&["load"]);
    assert_eq!(loaded_again.stdout, "", "nothing pending");
    assert_eq!(w.history_exact().await, before, "no row changed at all");
}

#[tokio::test]
async fn awkward_values_and_nulls_survive_the_round_trip() {
    let w = World::new(2, "").await;
    let awkward = [
        "comma,separated",
        "double \"quoted\" value",
        "pipe|delimited|text",
        "multi\nline\r\nvalue",
        "non-ASCII: 데이터 파이프라인 ✓ é",
        "trailing space ",
        "\\N backslash-N and \\ backslash",
        "",
    ];
    for (i, text) in awkward.iter().enumerate() {
        let mut run = RunSpec::finished(
            &format!("dag {text}"),
            &format!("2025-03-01T0{i}:00:00Z"),
            "success",
        );
        run.run_id = format!("run {text}");
        w.insert(&run).await;
    }
    // NULL start and end, NULL state, and an empty-string run_type: NULL stays NULL, "" stays "".
    let mut nulls = RunSpec::finished("nulls", "2025-03-02T00:00:00Z", "queued");
    nulls.start_date = None;
    nulls.end_date = None;
    nulls.state = None;
    nulls.run_type = String::new();
    w.insert(&nulls).await;

    w.run_ok(&["run"]);
    let source = w
        .query_strings(&format!(
            "SELECT to_jsonb(x)::text FROM (SELECT dag_id, run_id, execution_date, state, run_type, \
             external_trigger, queued_at, start_date, end_date, data_interval_start, data_interval_end, \
             clear_number, updated_at AS source_updated_at FROM {}.dag_run ORDER BY dag_id, run_id) x",
            w.airflow
        ))
        .await;
    let warehouse = w
        .query_strings(&format!(
            "SELECT to_jsonb(x)::text FROM (SELECT dag_id, run_id, execution_date, state, run_type, \
             external_trigger, queued_at, start_date, end_date, data_interval_start, data_interval_end, \
             clear_number, source_updated_at FROM {}.dag_run_history ORDER BY dag_id, run_id) x",
            w.warehouse
        ))
        .await;
    assert_eq!(source.len(), awkward.len() + 1);
    assert_eq!(warehouse, source);

    // The staged file is RFC 4180 CSV that a standard reader parses back to the same values.
    let files = w.stage_files();
    let mut reader = csv::Reader::from_path(&files[0]).unwrap();
    let headers = reader.headers().unwrap().clone();
    assert_eq!(
        headers.iter().collect::<Vec<_>>(),
        pipewatch::source::DAG_RUN_COLUMNS
    );
    let mut dag_ids: Vec<String> = reader
        .records()
        .map(|r| r.unwrap().get(3).unwrap().to_string())
        .collect();
    dag_ids.sort();
    let mut expected: Vec<String> = awkward.iter().map(|t| format!("dag {t}")).collect();
    expected.push("nulls".into());
    expected.sort();
    assert_eq!(dag_ids, expected);
    assert_eq!(
        w.count(
            "SELECT count(*) FROM WH.dag_run_history WHERE dag_id = 'nulls' \
             AND start_date IS NULL AND end_date IS NULL AND state IS NULL AND run_type = ''"
        )
        .await,
        1
    );
}

/// Waits until a pipewatch backend of the test database is blocked on a lock; returns its pid.
async fn wait_for_blocked_load(client: &Client) -> i32 {
    for _ in 0..600 {
        let row = client
            .query_opt(
                "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'pipewatch %' \
                 AND datname = current_database() AND wait_event_type = 'Lock' \
                 AND query LIKE '%UPDATE staged_extract%'",
                &[],
            )
            .await
            .unwrap();
        if let Some(row) = row {
            return row.get(0);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let activity: Vec<String> = client
        .query(
            "SELECT concat_ws(' | ', application_name, state, wait_event_type, wait_event, left(query, 200)) \
             FROM pg_stat_activity WHERE datname = current_database()",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    panic!("the load never reached its last statement: {activity:#?}");
}

async fn wait_until_gone(client: &Client, pid: i32) {
    for _ in 0..600 {
        let alive: bool = client
            .query_one(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity WHERE pid = $1)",
                &[&pid],
            )
            .await
            .unwrap()
            .get(0);
        if !alive {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("backend {pid} did not end after its client was killed");
}

#[tokio::test]
async fn load_killed_midway_leaves_nothing_and_a_rerun_loads_everything() {
    let w = World::new(2, "").await;
    w.exec(
        "INSERT INTO AF.dag_run (dag_id, run_id, execution_date, state, run_type, external_trigger,
                                 start_date, end_date, updated_at)
         SELECT 'dag_' || (n % 50), 'scheduled__' || n, timestamptz '2024-01-01' + n * interval '1 minute',
                CASE WHEN n % 7 = 0 THEN 'failed' ELSE 'success' END, 'scheduled', false,
                timestamptz '2024-01-01' + n * interval '1 minute',
                timestamptz '2024-01-01' + n * interval '1 minute' + interval '30 seconds', now()
         FROM generate_series(1, 20000) AS n",
    )
    .await;
    w.run_ok(&["extract"]);

    for attempt in ["first load (straight COPY)", "later load (upsert)"] {
        if attempt.starts_with("later") {
            // Make the next load an upsert over existing rows: change the source and re-extract.
            w.exec("UPDATE AF.dag_run SET state = 'failed', updated_at = now() WHERE id % 10 = 0")
                .await;
            w.run_ok(&["extract", "--full"]);
        }
        let before = w.history_exact().await;
        let watermark_before = w
            .query_strings(&format!(
                "SELECT to_jsonb(x)::text FROM {}.extract_watermark x",
                w.warehouse
            ))
            .await;
        // Hold the pending extract's row, so the load blocks on its very last statement, after
        // all its rows are written (uncommitted).
        let blocker = pg().await;
        blocker.batch_execute("BEGIN").await.unwrap();
        blocker
            .execute(
                &format!(
                    "SELECT 1 FROM {}.staged_extract WHERE loaded_at IS NULL FOR UPDATE",
                    w.warehouse
                ),
                &[],
            )
            .await
            .unwrap();
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pipewatch"))
            .args(["--config", w.config.to_str().unwrap(), "load"])
            .current_dir(w.dir.path())
            .env_clear()
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let pid = wait_for_blocked_load(&w.client).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        // The server notices the dead client when the statement can go on: release the row.
        blocker.batch_execute("ROLLBACK").await.unwrap();
        wait_until_gone(&w.client, pid).await;

        assert_eq!(
            w.history_exact().await,
            before,
            "{attempt}: nothing of the killed load is left"
        );
        let watermark_after = w
            .query_strings(&format!(
                "SELECT to_jsonb(x)::text FROM {}.extract_watermark x",
                w.warehouse
            ))
            .await;
        assert_eq!(watermark_after, watermark_before, "{attempt}");
        assert_eq!(
            w.count("SELECT count(*) FROM WH.staged_extract WHERE loaded_at IS NULL")
                .await,
            1,
            "{attempt}: the extract is still pending"
        );

        w.run_ok(&["load"]);
        assert_eq!(
            w.count("SELECT count(*) FROM WH.dag_run_history").await,
            20000
        );
        let source_failed = w
            .count(&format!(
                "SELECT count(*) FROM {}.dag_run WHERE state = 'failed'",
                w.airflow
            ))
            .await;
        assert_eq!(
            w.count("SELECT count(*) FROM WH.dag_run_history WHERE state = 'failed'")
                .await,
            source_failed,
            "{attempt}"
        );
    }
}

#[tokio::test]
async fn s3_and_local_stages_give_identical_warehouse_rows() {
    let bucket = bucket().await;
    let local = World::new(2, "").await;
    for day in 1..=6 {
        let mut run = RunSpec::finished(
            "etl, \"daily\"",
            &format!("2025-03-0{day}T00:00:00Z"),
            "success",
        );
        if day == 6 {
            run.end_date = None;
            run.state = Some("running".into());
        }
        local.insert(&run).await;
    }
    local.run_ok(&["run"]);
    let local_rows = local.history().await;
    // The same source, loaded through S3 into another warehouse schema.
    let s3_dir = TempDir::new();
    let s3_schema = unique("wh");
    let s3_config = write_config(
        s3_dir.path(),
        &format!(
            "{}{}{}",
            warehouse_section(&s3_schema),
            airflow_section("airflowdb_config", &local.airflow),
            s3_staging_section(&bucket)
        ),
    );
    let s3_world = World {
        dir: s3_dir,
        major: 2,
        airflow: local.airflow.clone(),
        warehouse: s3_schema.clone(),
        config: s3_config,
        client: pg().await,
    };
    s3_world.run_ok(&["run"]);
    assert_eq!(s3_world.history().await, local_rows);
    assert_eq!(local_rows.len(), 6);
    // The object is in the bucket under the configured prefix, and holds every run.
    let key = s3_world
        .query_strings(&format!(
            "SELECT object_key FROM {s3_schema}.staged_extract"
        ))
        .await
        .remove(0);
    let object = s3()
        .get_object()
        .bucket(&bucket)
        .key(format!("pipewatch/{key}"))
        .send()
        .await
        .expect("the staged object is in the bucket");
    let body = object.body.collect().await.unwrap().into_bytes();
    let text = String::from_utf8(body.to_vec()).unwrap();
    assert!(text.starts_with("airflow_instance,airflow_major_version,id,dag_id,"));
    assert_eq!(text.matches("\"etl, \"\"daily\"\"\"").count(), 6, "{text}");
}

#[tokio::test]
async fn large_extract_streams_through_s3_multipart_upload() {
    let bucket = bucket().await;
    let w = World::with_stage(2, "", &s3_staging_section(&bucket)).await;
    // About 25 MiB of CSV: several 8 MiB parts.
    w.exec(
        "INSERT INTO AF.dag_run (dag_id, run_id, execution_date, state, run_type, external_trigger,
                                 start_date, end_date, updated_at)
         SELECT 'dag_' || (n % 97) || repeat('x', 100), 'scheduled__' || n,
                timestamptz '2024-01-01' + n * interval '1 minute', 'success', 'scheduled', false,
                now(), now(), now()
         FROM generate_series(1, 60000) AS n",
    )
    .await;
    let run = w.run_ok(&["run"]);
    assert!(run.stdout.contains("extracted 60000 runs"), "{run:?}");
    assert_eq!(
        w.count("SELECT count(*) FROM WH.dag_run_history").await,
        60000
    );
    let bytes = w.count("SELECT byte_count FROM WH.staged_extract").await;
    assert!(
        bytes > 16 * 1024 * 1024,
        "{bytes} bytes: more than two parts"
    );
}

#[tokio::test]
async fn several_airflow_instances_load_into_one_warehouse_without_colliding() {
    let client = pg().await;
    let af2 = airflow_source(&client, 2).await;
    let af3 = airflow_source(&client, 3).await;
    // The same dag_id and run_id in both installations.
    let same = RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success");
    insert_run(&client, &af2, 2, &same).await;
    insert_run(
        &client,
        &af3,
        3,
        &RunSpec::finished("etl", "2025-03-01T00:00:00Z", "failed"),
    )
    .await;
    let dir = TempDir::new();
    let schema = unique("wh");
    let config = write_config(
        dir.path(),
        &format!(
            "{}{}{}",
            warehouse_section(&schema),
            airflow_section("airflowdb_config_prod", &af2),
            airflow_section("airflowdb_config_next", &af3)
        ),
    );
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "run"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let rows: Vec<String> = client
        .query(
            &format!(
                "SELECT concat_ws('|', airflow_instance, airflow_major_version, run_id, state) \
                 FROM {schema}.dag_run_history ORDER BY 1"
            ),
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(
        rows,
        [
            "next|3|scheduled__2025-03-01T00:00:00Z|failed",
            "prod|2|scheduled__2025-03-01T00:00:00Z|success"
        ]
    );
    // --instance picks one.
    let run = pipewatch(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "extract",
            "--instance",
            "next",
        ],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Airflow instance next"), "{run:?}");
    assert!(!run.stdout.contains("instance prod"), "{run:?}");
    let run = pipewatch(
        dir.path(),
        &[
            "--config",
            config.to_str().unwrap(),
            "extract",
            "--instance",
            "nope",
        ],
        &[],
    );
    assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
    assert!(
        run.stderr.contains("no Airflow instance named \"nope\""),
        "{run:?}"
    );
}

#[tokio::test]
async fn replaying_an_old_extract_never_rolls_a_run_back() {
    let w = World::new(2, "").await;
    let mut run = RunSpec::finished("etl", "2025-03-01T00:00:00Z", "running");
    run.end_date = None;
    w.insert(&run).await;
    w.run_ok(&["run"]);
    let old_key = w
        .query_strings(&format!(
            "SELECT object_key FROM {}.staged_extract",
            w.warehouse
        ))
        .await
        .remove(0);
    w.exec("UPDATE AF.dag_run SET state = 'success', end_date = now(), updated_at = now()")
        .await;
    w.run_ok(&["run"]);
    let finished = w.state_of("etl", &run.run_id).await.unwrap();
    assert!(finished.starts_with("success"), "{finished}");
    w.run_ok(&["load", "--object", &old_key]);
    assert_eq!(w.state_of("etl", &run.run_id).await.unwrap(), finished);
}

#[tokio::test]
async fn changed_or_foreign_objects_are_refused_with_a_clear_message() {
    let w = World::new(2, "").await;
    for day in 1..=3 {
        w.insert(&RunSpec::finished(
            "etl",
            &format!("2025-03-0{day}T00:00:00Z"),
            "success",
        ))
        .await;
    }
    w.run_ok(&["extract"]);
    let files = w.stage_files();
    assert_eq!(files.len(), 1, "{files:?}");
    // Truncate the object by one row.
    let text = std::fs::read_to_string(&files[0]).unwrap();
    let truncated: String = text.lines().take(3).map(|l| format!("{l}\n")).collect();
    std::fs::write(&files[0], truncated).unwrap();
    let run = w.pipewatch(&["load"]);
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(
        run.stderr.contains("holds 2 rows but its extract staged 3"),
        "{run:?}"
    );
    assert_eq!(w.count("SELECT count(*) FROM WH.dag_run_history").await, 0);

    // Something that is not an extract at all.
    let foreign = w.dir.path().join("stage/other.csv");
    std::fs::write(&foreign, "a|b|c\n1|2|3\n").unwrap();
    let run = w.pipewatch(&["load", "--object", "other.csv"]);
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(
        run.stderr.contains("not a pipewatch dag_run extract"),
        "{run:?}"
    );
    let run = w.pipewatch(&["load", "--object", "../../etc/passwd"]);
    assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
    assert!(run.stderr.contains("invalid object key"), "{run:?}");
    let run = w.pipewatch(&["load", "--object", "missing.csv"]);
    assert!(run.stderr.contains("no object \"missing.csv\""), "{run:?}");
}

#[tokio::test]
async fn unreachable_source_is_a_clear_error_and_writes_nothing() {
    let dir = TempDir::new();
    let schema = unique("wh");
    let closed_port = closed_port();
    let config = write_config(
        dir.path(),
        &format!(
            "{}[retry]\nattempts = 1\n[airflowdb_config]\nhost = 127.0.0.1\nport = {closed_port}\nusername = airflow\ndatabase = airflow\nconnect_timeout_seconds = 2\n",
            warehouse_section(&schema)
        ),
    );
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "run"],
        &[],
    );
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
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
    let client = pg().await;
    let airflow = airflow_source(&client, 2).await;
    insert_run(
        &client,
        &airflow,
        2,
        &RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"),
    )
    .await;
    let dir = TempDir::new();
    let schema = unique("wh");
    let config = write_config(
        dir.path(),
        &format!(
            "{}[airflowdb_config]\nhost = {}\nport = {}\nusername = {}\npassword = not-it-at-all\ndatabase = {}\nschema = {airflow}\n",
            warehouse_section(&schema),
            pg_host(),
            pg_port(),
            env("PIPEWATCH_TEST_PG_PASSWORD_ROLE"),
            pg_database()
        ),
    );
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "run"],
        &[],
    );
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
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
    let client = pg().await;
    let airflow = airflow_source(&client, 2).await;
    insert_run(
        &client,
        &airflow,
        2,
        &RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"),
    )
    .await;
    let dir = TempDir::new();
    let schema = unique("wh");
    let config = write_config(
        dir.path(),
        &format!(
            "{}{}{}",
            warehouse_section(&schema),
            airflow_section("airflowdb_config", &airflow),
            s3_staging_section("pipewatch-no-such-bucket")
        ),
    );
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "run"],
        &[],
    );
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
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
async fn reconcile_reports_days_whose_finished_runs_differ() {
    let w = World::new(3, "[reporting]\ntime_zone = America/New_York\n").await;
    // 03:00 UTC on March 2nd is still March 1st in New York.
    for logical in [
        "2025-03-01T12:00:00Z",
        "2025-03-02T03:00:00Z",
        "2025-03-02T12:00:00Z",
        "2025-03-03T12:00:00Z",
    ] {
        w.insert(&RunSpec::finished("etl", logical, "success"))
            .await;
    }
    w.run_ok(&["run"]);
    let window = ["reconcile", "--from", "2025-03-01", "--to", "2025-03-03"];
    let run = w.run_ok(&window);
    assert!(
        run.stdout
            .contains("4 finished runs in Airflow, 4 in the warehouse; every day matches"),
        "{run:?}"
    );

    // A run that finished after the last load (Airflow stamps updated_at now) is not "missing".
    w.insert(&RunSpec::finished("etl", "2025-03-03T18:00:00Z", "failed"))
        .await;
    w.exec(
        "UPDATE AF.dag_run SET updated_at = now() WHERE run_id = 'scheduled__2025-03-03T18:00:00Z'",
    )
    .await;
    w.run_ok(&window);

    // A run lost from the warehouse is.
    w.exec(&format!(
        "DELETE FROM {}.dag_run_history WHERE run_id = 'scheduled__2025-03-02T03:00:00Z'",
        w.warehouse
    ))
    .await;
    let run = w.pipewatch(&window);
    assert_eq!(run.code, pipewatch::exit::CHECKS_FAILED as i32, "{run:?}");
    assert!(run.stdout.contains("1 day differs"), "{run:?}");
    let differing: Vec<Vec<&str>> = run
        .stdout
        .lines()
        .filter(|l| l.starts_with("  2025"))
        .map(|l| l.split_whitespace().collect())
        .collect();
    assert_eq!(
        differing,
        [["2025-03-01", "2", "1", "-1"]],
        "the New York day of the lost run: {run:?}"
    );

    let run = w.pipewatch(&["reconcile", "--from", "2025-03-05", "--to", "2025-03-01"]);
    assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
}

#[tokio::test]
async fn unknown_reporting_time_zone_is_a_clear_error() {
    let w = World::new(2, "[reporting]\ntime_zone = Mars/Olympus_Mons\n").await;
    let run = w.pipewatch(&["reconcile"]);
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(
        run.stderr
            .contains("unknown time zone \"Mars/Olympus_Mons\" in [reporting] time_zone"),
        "{run:?}"
    );
}

#[tokio::test]
async fn two_concurrent_runs_give_exactly_the_rows_of_one() {
    let w = World::new(2, "").await;
    w.exec(
        "INSERT INTO AF.dag_run (dag_id, run_id, execution_date, state, run_type, external_trigger,
                                 start_date, end_date, updated_at)
         SELECT 'dag_' || (n % 30), 'scheduled__' || n, timestamptz '2024-01-01' + n * interval '5 minutes',
                CASE WHEN n % 9 = 0 THEN 'failed' ELSE 'success' END, 'scheduled', false,
                timestamptz '2024-01-01' + n * interval '5 minutes',
                timestamptz '2024-01-01' + n * interval '6 minutes', now()
         FROM generate_series(1, 30000) AS n",
    )
    .await;
    let handles: Vec<_> = (0..2)
        .map(|_| {
            let dir = w.dir.path().to_path_buf();
            let config = w.config.clone();
            std::thread::spawn(move || {
                pipewatch(&dir, &["--config", config.to_str().unwrap(), "run"], &[])
            })
        })
        .collect();
    for h in handles {
        let run = h.join().unwrap();
        assert_eq!(run.code, 0, "the second waits for the first: {run:?}");
    }
    assert_eq!(
        w.count("SELECT count(*) FROM WH.dag_run_history").await,
        30000
    );
    let models_after_two = w
        .query_strings(&format!(
            "SELECT (to_jsonb(t) - 'computed_at' - 'computed_by_run_id')::text FROM {}.dag_success_daily t ORDER BY day, dag_id",
            w.warehouse
        ))
        .await;
    w.run_ok(&["transform", "--full-refresh"]);
    let rebuilt = w
        .query_strings(&format!(
            "SELECT (to_jsonb(t) - 'computed_at' - 'computed_by_run_id')::text FROM {}.dag_success_daily t ORDER BY day, dag_id",
            w.warehouse
        ))
        .await;
    assert_eq!(models_after_two, rebuilt, "nothing double-counted");
}

#[tokio::test]
async fn a_killed_lock_holder_frees_the_lock_and_a_waiting_run_gives_up_with_code_4() {
    let w = World::new(2, "").await;
    w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
        .await;
    w.run_ok(&["extract"]);
    // A load that holds the run lock and blocks on its last statement.
    let blocker = pg().await;
    blocker.batch_execute("BEGIN").await.unwrap();
    blocker
        .execute(
            &format!("SELECT 1 FROM {}.staged_extract FOR UPDATE", w.warehouse),
            &[],
        )
        .await
        .unwrap();
    let mut holder = std::process::Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .args(["--config", w.config.to_str().unwrap(), "load"])
        .current_dir(w.dir.path())
        .env_clear()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let pid = wait_for_blocked_load(&w.client).await;

    let impatient = w.dir.path().join("impatient.conf");
    std::fs::write(
        &impatient,
        std::fs::read_to_string(&w.config)
            .unwrap()
            .replace("[warehouse]\n", "[warehouse]\nlock_wait_seconds = 1\n"),
    )
    .unwrap();
    let run = pipewatch(
        w.dir.path(),
        &["--config", impatient.to_str().unwrap(), "run"],
        &[],
    );
    assert_eq!(run.code, pipewatch::exit::LOCKED as i32, "{run:?}");
    assert!(
        run.stderr
            .contains("another pipewatch invocation is working on warehouse schema"),
        "{run:?}"
    );
    assert!(
        run.stderr.contains("pipewatch "),
        "names the holder: {run:?}"
    );

    holder.kill().unwrap(); // SIGKILL: no chance to clean up
    holder.wait().unwrap();
    blocker.batch_execute("ROLLBACK").await.unwrap();
    wait_until_gone(&w.client, pid).await;
    let run = w.run_ok(&["run"]);
    assert!(run.stdout.contains("loaded"), "{run:?}");
    assert_eq!(w.count("SELECT count(*) FROM WH.dag_run_history").await, 1);
}

#[tokio::test]
async fn status_reports_invocations_watermarks_and_the_lock() {
    let w = World::new(2, "").await;
    w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
        .await;
    w.run_ok(&["run"]);
    w.run_ok(&["extract"]);
    let run = w.run_ok(&["status", "--format", "json", "--last", "2"]);
    let status: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(status["schema"], w.warehouse.as_str());
    assert_eq!(status["lock_holder"], serde_json::Value::Null);
    let instance = &status["instances"][0];
    assert_eq!(instance["airflow_instance"], "default");
    assert_eq!(
        instance["pending_extracts"], 1,
        "the extract not loaded yet"
    );
    assert!(instance["seconds_since_last_load"].as_i64().unwrap() < 60);
    let invocations = status["recent_invocations"].as_array().unwrap();
    assert_eq!(invocations.len(), 2);
    assert_eq!(invocations[0]["command"], "extract");
    assert_eq!(invocations[1]["command"], "run");
    let stages: Vec<&str> = invocations[1]["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["stage"].as_str().unwrap())
        .collect();
    assert_eq!(
        stages,
        ["migrate", "extract", "load", "transform", "retention"]
    );

    // While another session holds the run lock, status names it.
    let holder = pg_named("lock-holder-for-test").await;
    holder
        .execute(
            "SELECT pg_advisory_lock(hashtext('pipewatch run'), hashtext($1::text))",
            &[&w.warehouse],
        )
        .await
        .unwrap();
    let run = w.run_ok(&["status"]);
    assert!(
        run.stdout
            .contains("run lock: held by lock-holder-for-test"),
        "{run:?}"
    );
    assert!(run.stdout.contains("1 pending extracts"), "{run:?}");
}

#[tokio::test]
async fn retention_deletes_old_loaded_extracts_and_run_log_rows_but_never_pending_ones() {
    let w = World::new(
        2,
        "[retention]\nstaged_extract_days = 30\nrun_log_days = 90\n",
    )
    .await;
    w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
        .await;
    w.run_ok(&["run"]);
    w.run_ok(&["extract"]);
    let keys = w
        .query_strings(&format!(
            "SELECT object_key FROM {}.staged_extract ORDER BY extracted_at",
            w.warehouse
        ))
        .await;
    assert_eq!(keys.len(), 2);
    let stage = w.dir.path().join("stage");
    // The loaded extract is 40 days old; the pending one belongs to a retired instance that no
    // load will take any more, and is a year old: still never deleted.
    w.exec(&format!(
        "UPDATE {wh}.staged_extract SET loaded_at = now() - interval '40 days' WHERE object_key = '{old}';
         UPDATE {wh}.staged_extract SET airflow_instance = 'retired', extracted_at = now() - interval '1 year'
             WHERE object_key = '{pending}';
         UPDATE {wh}.pipewatch_run_log SET started_at = now() - interval '100 days', ended_at = now() - interval '100 days'
             WHERE stage = 'migrate';",
        wh = w.warehouse,
        old = keys[0],
        pending = keys[1]
    ))
    .await;
    assert!(stage.join(&keys[0]).exists());
    w.run_ok(&["run"]);
    assert!(
        !stage.join(&keys[0]).exists(),
        "the old loaded object is deleted"
    );
    assert!(stage.join(&keys[1]).exists(), "the pending object stays");
    let remaining = w
        .query_strings(&format!(
            "SELECT object_key FROM {}.staged_extract ORDER BY extracted_at",
            w.warehouse
        ))
        .await;
    assert!(!remaining.contains(&keys[0]));
    assert!(remaining.contains(&keys[1]));
    assert_eq!(
        w.count("SELECT count(*) FROM WH.pipewatch_run_log WHERE stage = 'migrate'")
            .await,
        0
    );
    assert_eq!(
        w.count("SELECT count(*) FROM WH.pipewatch_run_log WHERE stage = 'retention' AND rows_written = 2")
            .await,
        1,
        "one object and one run-log row deleted, recorded"
    );
}
