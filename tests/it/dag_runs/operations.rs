//! Operating pipewatch: reconcile, overlapping runs and the run lock, status, retention.

use super::*;
use crate::common::*;

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
    assert_eq!(
        w.query_strings(
            "SELECT outcome || ': ' || error_message FROM WH.pipewatch_run_log \
             WHERE stage = 'reconcile' ORDER BY run_log_id DESC LIMIT 1"
        )
        .await,
        ["checks_failed: finished DAG runs differ on 1 day: 2025-03-01"],
        "the run log says what the exit code says"
    );

    let run = w.pipewatch(&["reconcile", "--from", "2025-03-05", "--to", "2025-03-01"]);
    assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
}

/// Reconcile compares what the runs are, not only how many: a run whose state changed in
/// Airflow without the warehouse following is named (same count, exit 1); runs deleted from
/// Airflow on purpose are reported apart as kept in the warehouse, without failing.
#[tokio::test]
async fn reconcile_names_stale_runs_and_keeps_runs_gone_from_airflow_apart() {
    let w = World::new(2, "").await;
    for logical in [
        "2025-03-01T12:00:00Z",
        "2025-03-02T12:00:00Z",
        "2025-03-03T12:00:00Z",
    ] {
        w.insert(&RunSpec::finished("etl", logical, "success"))
            .await;
    }
    w.run_ok(&["run"]);
    let window = ["reconcile", "--from", "2025-03-01", "--to", "2025-03-03"];
    w.run_ok(&window);

    // The state of a loaded run changes in Airflow in a way no incremental extract sees (its
    // updated_at does not move, as when the database is edited by hand): same count per day.
    w.exec(
        "UPDATE AF.dag_run SET state = 'failed' WHERE run_id = 'scheduled__2025-03-02T12:00:00Z'",
    )
    .await;
    let run = w.pipewatch(&window);
    assert_eq!(run.code, pipewatch::exit::CHECKS_FAILED as i32, "{run:?}");
    assert!(run.stdout.contains("1 day differs"), "{run:?}");
    assert!(
        run.stdout.contains(
            "stale in the warehouse: etl scheduled__2025-03-02T12:00:00Z: the warehouse has success ended"
        ) && run.stdout.contains(", Airflow failed ended"),
        "{run:?}"
    );
    // The backfill of that day repairs it.
    w.run_ok(&["backfill", "--from", "2025-03-02", "--to", "2025-03-02"]);
    w.run_ok(&window);

    // A run removed from Airflow (airflow db clean, a deleted DAG) stays in the warehouse: a
    // note, not a difference; reconcile passes.
    w.exec("DELETE FROM AF.dag_run WHERE run_id = 'scheduled__2025-03-01T12:00:00Z'")
        .await;
    let run = w.run_ok(&window);
    assert!(
        run.stdout
            .contains("note: 1 finished run on 1 day is kept in the warehouse, gone from Airflow")
            && run
                .stdout
                .contains("etl scheduled__2025-03-01T12:00:00Z (2025-03-01)"),
        "{run:?}"
    );
    assert!(run.stdout.contains("every day matches"), "{run:?}");

    // Runs of several DAGs and days gone at once: counted by distinct day.
    for (dag, logical) in [
        ("a_gone", "2025-03-01T06:00:00Z"),
        ("b_gone", "2025-03-02T06:00:00Z"),
        ("c_gone", "2025-03-01T07:00:00Z"),
    ] {
        w.insert(&RunSpec::finished(dag, logical, "success")).await;
    }
    w.run_ok(&["run"]);
    w.exec("DELETE FROM AF.dag_run WHERE dag_id LIKE '%_gone'")
        .await;
    let run = w.run_ok(&window);
    assert!(
        run.stdout.contains(
            "note: 4 finished runs on 2 days are kept in the warehouse, gone from Airflow"
        ),
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
        [
            "migrate",
            "extract",
            "load",
            "catalog",
            "transform",
            "retention"
        ]
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
    assert!(run.stdout.contains("1 pending extract,"), "{run:?}");
}

#[tokio::test]
async fn status_does_not_name_a_pipewatch_of_another_database_as_the_lock_holder() {
    let w = World::new(2, "").await;
    w.run_ok(&["migrate"]);
    // A session in another database of the same server holding the lock of a schema of the same
    // name: a different lock (advisory locks belong to a database), never this one's holder.
    let other = unique("pwother");
    w.client
        .batch_execute(&format!("CREATE DATABASE {other}"))
        .await
        .unwrap();
    let conn = format!(
        "host={} port={} user={} dbname={other} application_name=other-database-holder",
        pg_host(),
        pg_port(),
        pg_user()
    );
    let (holder, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    holder
        .execute(
            "SELECT pg_advisory_lock(hashtext('pipewatch run'), hashtext($1::text))",
            &[&w.warehouse],
        )
        .await
        .unwrap();
    let status = w.run_ok(&["status", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
    assert_eq!(json["lock_holder"], serde_json::Value::Null, "{status:?}");
    // And this database's lock is free: a run takes it at once.
    w.run_ok(&["run"]);
    drop(holder);
    let _ = connection.await;
    w.client
        .batch_execute(&format!("DROP DATABASE {other} WITH (FORCE)"))
        .await
        .unwrap();
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

/// `pipewatch retention` applies retention alone (for DAGs that run the stages as tasks).
#[tokio::test]
async fn the_retention_command_applies_retention_alone() {
    let w = World::new(2, "[retention]\nrun_log_days = 90\n").await;
    w.run_ok(&["migrate"]);
    w.exec(
        "UPDATE WH.pipewatch_run_log SET started_at = now() - interval '100 days', \
         ended_at = now() - interval '100 days'",
    )
    .await;
    let run = w.run_ok(&["retention"]);
    assert!(
        run.stdout
            .contains("Retention: deleted 0 loaded extract objects and 1 run-log rows"),
        "{run:?}"
    );
    assert_eq!(
        w.count(
            "SELECT count(*) FROM WH.pipewatch_run_log \
             WHERE command = 'retention' AND stage = 'retention' AND outcome = 'succeeded'"
        )
        .await,
        1
    );
}

/// A stage whose process died (no session of its run id is left on the server) is shown as
/// abandoned by `status`, which only reads, and marked abandoned in the table by the next
/// stage any invocation starts; a stage whose invocation is alive stays running. `--last 0`
/// lists no invocation.
#[tokio::test]
async fn stages_of_killed_invocations_are_abandoned_not_running_forever() {
    let w = World::new(2, "").await;
    w.run_ok(&["migrate"]);
    let dead = uuid::Uuid::now_v7().to_string();
    let alive = uuid::Uuid::now_v7().to_string();
    // An invocation that is alive: a session with its application_name.
    let (alive_session, connection) = tokio_postgres::Config::new()
        .host(pg_host())
        .port(pg_port())
        .user(pg_user())
        .dbname(pg_database())
        .application_name(format!("pipewatch {alive}"))
        .connect(tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    for run_id in [&dead, &alive] {
        w.exec(&format!(
            "INSERT INTO WH.pipewatch_run_log (run_id, command, stage, started_at, outcome, pipewatch_version) \
             VALUES ('{run_id}', 'run', 'load', now(), 'running', 'test')"
        ))
        .await;
    }
    let outcome_of = |json: &serde_json::Value, run_id: &str| {
        json["recent_invocations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["run_id"] == run_id)
            .map(|i| {
                (
                    i["outcome"].as_str().unwrap().to_string(),
                    i["stages"][0]["outcome"].as_str().unwrap().to_string(),
                )
            })
    };
    let run = w.run_ok(&["status", "--format", "json"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(
        outcome_of(&json, &dead),
        Some(("abandoned".into(), "abandoned".into()))
    );
    assert_eq!(
        outcome_of(&json, &alive),
        Some(("running".into(), "running".into()))
    );
    assert_eq!(
        w.count("SELECT count(*) FROM WH.pipewatch_run_log WHERE outcome = 'abandoned'")
            .await,
        0,
        "status only reads"
    );
    let text = w.run_ok(&["status"]);
    assert!(text.stdout.contains("abandoned"), "{text:?}");

    w.run_ok(&["transform"]);
    let outcomes = w
        .query_strings(
            "SELECT run_id::text || ' ' || outcome || ' ' || coalesce(error_message, '') \
             FROM WH.pipewatch_run_log WHERE stage = 'load' ORDER BY run_log_id",
        )
        .await;
    assert_eq!(outcomes.len(), 2);
    assert!(
        outcomes[0].starts_with(&format!(
            "{dead} abandoned abandoned: no session of this invocation"
        )),
        "{outcomes:?}"
    );
    assert_eq!(outcomes[1], format!("{alive} running "));
    drop(alive_session);

    let run = w.run_ok(&["status", "--format", "json", "--last", "0"]);
    let json: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(json["recent_invocations"], serde_json::json!([]), "{json}");
}
