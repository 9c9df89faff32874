//! Load and stage: kills mid-load, local and S3 stages alike, multipart uploads, several
//! instances, replayed and foreign objects.

use super::*;
use crate::common::*;

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
        let indexes_before = index_set(&w, "dag_run_history").await;
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
        // The first load drops the table's indexes to build them after its COPY: killed, it
        // leaves them as they were.
        assert_eq!(
            index_set(&w, "dag_run_history").await,
            indexes_before,
            "{attempt}"
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
    let files = w.stage_files_of("dag_run");
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
    assert!(
        !run.stderr.contains("merg"),
        "no merge is announced before failing: {run:?}"
    );
    assert!(
        run.stderr.contains(
            "a local stage is a folder of one host, so an extract staged on another host"
        ),
        "{run:?}"
    );
}

/// With no keys in the configuration, S3 credentials are found the way AWS tools find them:
/// here a named profile in a shared credentials file (AWS_PROFILE, AWS_SHARED_CREDENTIALS_FILE),
/// against the real S3 server. Without any, the error says where pipewatch looked, before
/// anything is read from Airflow.
#[tokio::test]
async fn s3_credentials_come_from_an_aws_profile() {
    let bucket = bucket().await;
    let staging = format!(
        "[staging]\nbackend = s3\nbucket = {bucket}\nendpoint_url = {}\ntimeout_seconds = 10\n",
        s3_endpoint()
    );
    let w = World::with_stage(2, "", &staging).await;
    w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
        .await;
    let aws = w.dir.path().join("aws");
    std::fs::create_dir_all(&aws).unwrap();
    std::fs::write(
        aws.join("credentials"),
        format!(
            "[default]\naws_access_key_id = wrong\naws_secret_access_key = wrong\n\n\
             [pipewatch-test]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
            s3_access_key(),
            s3_secret_key()
        ),
    )
    .unwrap();
    std::fs::write(
        aws.join("config"),
        "[profile pipewatch-test]\nregion = us-east-1\n",
    )
    .unwrap();
    let credentials = aws.join("credentials");
    let config = aws.join("config");
    let empty = aws.join("empty");
    std::fs::write(&empty, "").unwrap();
    let with = |files: (&std::path::Path, &std::path::Path), profile: Option<&str>| {
        let mut env = vec![
            (
                "AWS_SHARED_CREDENTIALS_FILE",
                files.0.to_str().unwrap().to_string(),
            ),
            ("AWS_CONFIG_FILE", files.1.to_str().unwrap().to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
        ];
        if let Some(p) = profile {
            env.push(("AWS_PROFILE", p.to_string()));
        }
        env
    };
    let run_with = |env: Vec<(&str, String)>| {
        let args = ["--config", w.config.to_str().unwrap(), "run"];
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        pipewatch(w.dir.path(), &args, &env)
    };
    let run = run_with(with((&credentials, &config), Some("pipewatch-test")));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(w.count("SELECT count(*) FROM WH.dag_run_history").await, 1);
    assert!(!run.all_output().contains(&s3_secret_key()), "{run:?}");

    // The default profile holds keys the server refuses: a clear S3 error.
    let run = run_with(with((&credentials, &config), None));
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    // No credentials anywhere: said before Airflow is read.
    let run = run_with(with((&empty, &empty), None));
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(run.stderr.contains("no S3 credentials"), "{run:?}");
    assert!(!run.stderr.contains("Extracted"), "{run:?}");
}

/// Airflow's runs and the warehouse's, each as JSON rows of `columns` (and Airflow's
/// `updated_at` beside the warehouse's `source_updated_at`), in the same order.
async fn source_and_warehouse_runs(w: &World, columns: &str) -> (Vec<String>, Vec<String>) {
    let rows = async |columns: String, table: &str| {
        w.query_strings(&format!(
            "SELECT to_jsonb(x)::text FROM (SELECT {columns} FROM {table} ORDER BY dag_id, run_id) x"
        ))
        .await
    };
    (
        rows(
            format!("{columns}, updated_at AS source_updated_at"),
            &format!("{}.dag_run", w.airflow),
        )
        .await,
        rows(
            format!("{columns}, source_updated_at"),
            &format!("{}.dag_run_history", w.warehouse),
        )
        .await,
    )
}

/// The indexes of a table, as the catalog states them, with their comments.
async fn index_set(w: &World, table: &str) -> Vec<String> {
    w.query_strings(&format!(
        "SELECT indexdef || ' -- ' || coalesce(obj_description(format('%I.%I', schemaname, indexname)::regclass, 'pg_class'), '') \
         FROM pg_indexes WHERE schemaname = '{}' AND tablename = '{table}' ORDER BY indexname",
        w.warehouse
    ))
    .await
}

#[tokio::test]
async fn a_bulk_first_load_builds_every_index_back_and_leaves_odd_values_to_postgres() {
    let w = World::new(2, "").await;
    w.run_ok(&["migrate"]);
    // An index an operator added for a dashboard, with a comment: the bulk first load drops and
    // builds it like pipewatch's own.
    w.exec("CREATE INDEX dashboard_state_idx ON WH.dag_run_history (dag_id, state) WHERE state = 'failed'")
        .await;
    w.exec("COMMENT ON INDEX WH.dashboard_state_idx IS 'failed runs by DAG, for the board'")
        .await;
    let before = index_set(&w, "dag_run_history").await;
    assert_eq!(before.len(), 8, "{before:?}");
    w.exec(
        "INSERT INTO AF.dag_run (dag_id, run_id, execution_date, state, run_type, external_trigger,
                                 start_date, end_date, updated_at)
         SELECT 'dag_' || (n % 20), 'scheduled__' || n, timestamptz '2024-01-01' + n * interval '1 minute',
                CASE WHEN n % 7 = 0 THEN 'failed' ELSE 'success' END, 'scheduled', false,
                timestamptz '2024-01-01 00:00:00.5+05:30' + n * interval '1 minute',
                timestamptz '2024-01-01' + n * interval '1 minute' + interval '30.000001 seconds', now()
         FROM generate_series(1, 5000) AS n",
    )
    .await;
    // A value pipewatch's binary copy does not convert (a five-digit year): the load copies the
    // object again as CSV, and PostgreSQL reads it.
    w.exec(
        "UPDATE AF.dag_run SET end_date = '10000-01-01 00:00:00+00' WHERE run_id = 'scheduled__77'",
    )
    .await;
    w.run_ok(&["extract"]);
    w.run_ok(&["load"]);
    assert_eq!(index_set(&w, "dag_run_history").await, before);
    let (source, warehouse) = source_and_warehouse_runs(
        &w,
        "dag_id, run_id, execution_date, state, run_type, external_trigger, queued_at, start_date, \
         end_date, clear_number",
    )
    .await;
    assert_eq!(source.len(), 5000);
    assert_eq!(warehouse, source);
    // The primary key is a primary key again: a duplicate is refused.
    let duplicate = w
        .client
        .batch_execute(&format!(
            "INSERT INTO {0}.dag_run_history SELECT * FROM {0}.dag_run_history LIMIT 1",
            w.warehouse
        ))
        .await
        .unwrap_err();
    assert_eq!(
        duplicate.code(),
        Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION)
    );
}

#[tokio::test]
async fn run_loads_while_it_extracts_and_falls_back_to_the_stage() {
    let w = World::new(2, "").await;
    let insert = |from: i32, to: i32| {
        format!(
            "INSERT INTO AF.dag_run (dag_id, run_id, execution_date, state, run_type, external_trigger,
                                     queued_at, start_date, end_date, updated_at)
             SELECT 'dag_' || (n % 7), 'scheduled__' || n, timestamptz '2024-01-01' + n * interval '1 hour',
                    'success', 'scheduled', false, timestamptz '2024-01-01' + n * interval '1 hour',
                    timestamptz '2024-01-01' + n * interval '1 hour' + interval '1 minute',
                    timestamptz '2024-01-01' + n * interval '1 hour' + interval '9 minutes', now()
             FROM generate_series({from}, {to}) AS n"
        )
    };
    w.exec(&insert(1, 300)).await;
    let run = w.run_ok(&["run"]);
    assert!(
        run.stderr
            .contains("Loaded extract while it was extracted."),
        "{run:?}"
    );
    // A value the binary copy leaves to PostgreSQL (a five-digit year) stops the load that reads
    // the extract as it is written; the extract is registered, and loaded from the stage.
    w.exec(&insert(301, 320)).await;
    w.exec("UPDATE AF.dag_run SET queued_at = '10000-01-01 00:00:00+00' WHERE run_id = 'scheduled__310'")
        .await;
    let run = w.run_ok(&["run"]);
    assert!(
        run.stderr.contains(
            "Could not load the extract while it was written: loading it from the stage."
        ),
        "{run:?}"
    );
    assert!(run.stdout.contains("20 inserted or changed"), "{run:?}");
    let (source, warehouse) = source_and_warehouse_runs(
        &w,
        "dag_id, run_id, execution_date, state, queued_at, start_date, end_date",
    )
    .await;
    assert_eq!(source.len(), 320);
    assert_eq!(warehouse, source);
    assert_eq!(
        w.count("SELECT count(*) FROM WH.staged_extract WHERE loaded_at IS NULL")
            .await,
        0
    );
}
