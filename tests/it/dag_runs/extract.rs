//! Extract: every run copied with its meaning (Airflow 2 and 3), none lost (late, cleared,
//! committed late), none changed by re-running, awkward values intact.

use super::*;
use crate::common::*;

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
async fn the_recheck_reads_again_only_runs_that_are_new_or_changed() {
    // No changed-run scan: only the re-check of the newest ids can see a change.
    let w = World::new(3, NO_SCAN).await;
    for day in 1..=9 {
        w.insert(&RunSpec::finished(
            "etl",
            &format!("2025-03-0{day}T00:00:00Z"),
            "success",
        ))
        .await;
    }
    w.run_ok(&["run"]);
    let staged = "SELECT row_count FROM WH.staged_extract ORDER BY extracted_at DESC LIMIT 1";
    // Nothing new: nothing staged, and the output says what was re-checked.
    let quiet = w.run_ok(&["run"]);
    assert!(
        quiet.stdout.contains("extracted 0 runs and 0 task tries from Airflow instance default (incremental; 9 of the newest 9 loaded runs re-checked: unchanged, not read again)"),
        "{quiet:?}"
    );
    assert_eq!(w.count(staged).await, 0);
    // One run changed in Airflow (its updated_at moves), one is new: two runs staged.
    w.exec(
        "UPDATE AF.dag_run SET state = 'failed', updated_at = updated_at + interval '1 second'
         WHERE run_id = 'scheduled__2025-03-04T00:00:00Z'",
    )
    .await;
    w.insert(&RunSpec::finished("etl", "2025-03-10T00:00:00Z", "success"))
        .await;
    let changed = w.run_ok(&["run"]);
    assert!(
        changed
            .stdout
            .contains("extracted 2 runs and 0 task tries from Airflow instance default (incremental; 8 of the newest 9 loaded runs re-checked"),
        "{changed:?}"
    );
    assert_eq!(w.count(staged).await, 2);
    assert_eq!(
        w.state_of("etl", "scheduled__2025-03-04T00:00:00Z")
            .await
            .unwrap()
            .split(' ')
            .next(),
        Some("failed")
    );
    // A run the warehouse lost (deleted by hand) is read again by the re-check.
    w.exec("DELETE FROM WH.dag_run_history WHERE run_id = 'scheduled__2025-03-05T00:00:00Z'")
        .await;
    w.run_ok(&["run"]);
    assert_eq!(w.count("SELECT count(*) FROM WH.dag_run_history").await, 10);
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
    let files = w.stage_files_of("dag_run");
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
