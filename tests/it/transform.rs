//! Daily models: hand-computed figures, independence from the session TimeZone, incremental
//! recompute equal to a full refresh, backfill windows, and readers during a recompute.

use crate::common::*;

impl World {
    /// A world whose models use `time_zone`, with an Airflow 3 source.
    async fn in_zone(time_zone: &str) -> Self {
        World::new(3, &format!("[reporting]\ntime_zone = {time_zone}\n")).await
    }

    /// Inserts a run of `dag` at `logical` (None: Airflow 3 without logical date, run_after =
    /// `after`) in `state`, started `start_offset` seconds after its logical date (or None) and
    /// lasting `runtime` seconds (or never ended).
    async fn run(
        &self,
        dag: &str,
        logical: Option<&str>,
        after: Option<&str>,
        state: &str,
        start: Option<&str>,
        runtime: Option<i64>,
    ) {
        let start_at = start.map(|s| chrono::DateTime::parse_from_rfc3339(s).unwrap());
        let end = match (start_at, runtime) {
            (Some(s), Some(r)) => Some((s + chrono::Duration::seconds(r)).to_rfc3339()),
            (None, Some(_)) => Some("2025-01-20T00:00:00Z".to_string()),
            _ => None,
        };
        let spec = RunSpec {
            dag_id: dag.into(),
            run_id: format!("{dag}__{}", logical.or(after).unwrap()),
            logical_date: logical.map(str::to_string),
            run_after: after.map(str::to_string),
            state: Some(state.into()),
            run_type: if logical.is_none() {
                "manual"
            } else {
                "scheduled"
            }
            .into(),
            start_date: start.map(str::to_string),
            end_date: end,
        };
        insert_run(&self.client, &self.airflow, 3, &spec).await;
    }

    /// Every model's rows, without the computed_at / computed_by_run_id bookkeeping.
    async fn models(&self) -> Vec<String> {
        let mut all = Vec::new();
        for (table, order) in [
            (
                "dag_history_daily",
                "airflow_instance, execution_date, dag_id, dag_state",
            ),
            ("dag_success_daily", "airflow_instance, day, dag_id"),
            ("dag_runtime_daily", "airflow_instance, day, dag_id"),
            ("validation_test_daily", "day, test_name"),
            (
                "validator_summary_daily",
                "test_date, script_1, test_result",
            ),
        ] {
            all.extend(
                self.query_strings(&format!(
                    "SELECT '{table} ' || (to_jsonb(t) - 'computed_at' - 'computed_by_run_id')::text \
                     FROM WH.{table} t ORDER BY {order}"
                ))
                .await,
            );
        }
        all
    }
}

/// The fixture of the hand-computed test; days are New York days (UTC-5 in January).
async fn fixture(w: &World) {
    // An hourly DAG: 24 successful runs of one minute on Jan 10 (00:00 to 23:00 New York).
    for hour in 0..24 {
        let logical = chrono::DateTime::parse_from_rfc3339("2025-01-10T05:00:00Z").unwrap()
            + chrono::Duration::hours(hour);
        let start = (logical + chrono::Duration::hours(1)).to_rfc3339();
        w.run(
            "hourly",
            Some(&logical.to_rfc3339()),
            None,
            "success",
            Some(&start),
            Some(60),
        )
        .await;
    }
    // One second before New York midnight: Jan 9.
    w.run(
        "etl",
        Some("2025-01-10T04:59:59Z"),
        None,
        "success",
        Some("2025-01-10T06:00:00Z"),
        Some(100),
    )
    .await;
    // New York midnight: Jan 10. A one-hour failure (a timeout).
    w.run(
        "etl",
        Some("2025-01-10T05:00:00Z"),
        None,
        "failed",
        Some("2025-01-10T06:00:00Z"),
        Some(3600),
    )
    .await;
    w.run(
        "etl",
        Some("2025-01-10T12:00:00Z"),
        None,
        "success",
        Some("2025-01-10T13:00:00Z"),
        Some(200),
    )
    .await;
    w.run(
        "etl",
        Some("2025-01-10T13:00:00Z"),
        None,
        "success",
        Some("2025-01-10T14:00:00Z"),
        Some(300),
    )
    .await;
    // Still running, and still queued: unfinished, not in the rate.
    w.run(
        "etl",
        Some("2025-01-10T14:00:00Z"),
        None,
        "running",
        Some("2025-01-10T15:00:00Z"),
        None,
    )
    .await;
    w.run(
        "etl",
        Some("2025-01-10T16:00:00Z"),
        None,
        "queued",
        None,
        None,
    )
    .await;
    // Finished, but Airflow recorded no start: in the rate, without a runtime.
    w.run(
        "etl",
        Some("2025-01-10T15:00:00Z"),
        None,
        "success",
        None,
        Some(1),
    )
    .await;
    // Airflow 3 manual run without logical date: its day comes from run_after, 22:00 New York
    // on Jan 10 (already Jan 11 in UTC).
    w.run(
        "etl",
        None,
        Some("2025-01-11T03:00:00Z"),
        "success",
        Some("2025-01-11T03:00:00Z"),
        Some(500),
    )
    .await;
    // A DAG with only a queued run that day.
    w.run(
        "rarely",
        Some("2025-01-10T18:00:00Z"),
        None,
        "queued",
        None,
        None,
    )
    .await;
}

#[tokio::test]
async fn hand_computed_daily_figures() {
    let w = World::in_zone("America/New_York").await;
    fixture(&w).await;
    let run = w.run_ok(&["run"]);
    assert!(
        run.stdout.contains("full refresh"),
        "first transform: {run:?}"
    );

    assert_eq!(
        w.query_strings(
            "SELECT concat_ws(' ', day, dag_id, finished_runs, successful_runs, failed_runs, \
             unfinished_runs, coalesce(success_rate::text, 'NULL')) FROM WH.dag_success_daily ORDER BY day, dag_id"
        )
        .await,
        [
            "2025-01-09 etl 1 1 0 0 1.000000",
            "2025-01-10 etl 5 4 1 2 0.800000",
            "2025-01-10 hourly 24 24 0 0 1.000000",
            "2025-01-10 rarely 0 0 0 1 NULL",
        ]
    );
    assert_eq!(
        w.query_strings(
            "SELECT concat_ws(' ', day, dag_id, successful_runs_timed, round(success_runtime_avg_seconds::numeric, 3), \
             success_runtime_median_seconds, success_runtime_p95_seconds, success_runtime_max_seconds, \
             failed_runs_timed, coalesce(failed_runtime_avg_seconds::text, '-'), coalesce(failed_runtime_median_seconds::text, '-'), \
             coalesce(failed_runtime_p95_seconds::text, '-'), coalesce(failed_runtime_max_seconds::text, '-')) \
             FROM WH.dag_runtime_daily ORDER BY day, dag_id"
        )
        .await,
        [
            "2025-01-09 etl 1 100.000 100 100 100 0 - - - -",
            // Successful runs timed: 200, 300, 500 (the run without a start has no runtime).
            // p95 = 300 + 0.9 * (500 - 300) = 480 (interpolated).
            "2025-01-10 etl 3 333.333 300 480 500 1 3600 3600 3600 3600",
            "2025-01-10 hourly 24 60.000 60 60 60 0 - - - -",
        ]
    );
    // The book's table: runs (not summary rows) per state, total runtime of the finished ones.
    assert_eq!(
        w.query_strings(
            "SELECT concat_ws(' ', airflow_instance, execution_date, dag_id, dag_state, \
             coalesce(runtime_seconds::text, 'NULL'), dag_run_count, runtime_run_count) \
             FROM WH.dag_history_daily ORDER BY execution_date, dag_id, dag_state"
        )
        .await,
        [
            "default 2025-01-09 etl success 100.0000 1 1",
            "default 2025-01-10 etl failed 3600.0000 1 1",
            "default 2025-01-10 etl queued NULL 1 0",
            "default 2025-01-10 etl running NULL 1 0",
            "default 2025-01-10 etl success 1000.0000 4 3",
            "default 2025-01-10 hourly success 1440.0000 24 24",
            "default 2025-01-10 rarely queued NULL 1 0",
        ]
    );
    // The book's success-rate query, fixed: an hourly DAG with 24 successes scores 1.0.
    assert_eq!(
        w.query_strings(
            "SELECT (sum(dag_run_count) FILTER (WHERE dag_state = 'success')::numeric \
             / sum(dag_run_count) FILTER (WHERE dag_state IN ('success', 'failed')))::text \
             FROM WH.dag_history_daily WHERE dag_id = 'hourly'"
        )
        .await,
        ["1.00000000000000000000"]
    );
}

#[tokio::test]
async fn results_do_not_depend_on_the_session_time_zone() {
    let w = World::in_zone("America/New_York").await;
    fixture(&w).await;
    w.run_ok(&["run"]);
    let utc = w.models().await;
    // Recompute every model by hand in a session whose TimeZone is far from UTC, with the same
    // SQL files pipewatch runs.
    w.exec(&format!(
        "SET TimeZone = 'Pacific/Kiritimati'; SET search_path = {};",
        w.warehouse
    ))
    .await;
    let days = w
        .query_strings("SELECT string_agg(day::text, ',') FROM WH.dag_success_daily")
        .await
        .remove(0);
    w.exec("DELETE FROM WH.dag_history_daily; DELETE FROM WH.dag_success_daily; DELETE FROM WH.dag_runtime_daily;")
        .await;
    let days: Vec<chrono::NaiveDate> = {
        let mut d: Vec<chrono::NaiveDate> = days.split(',').map(|s| s.parse().unwrap()).collect();
        d.sort();
        d.dedup();
        d
    };
    let instances = vec!["default".to_string(); days.len()];
    let run_id = uuid::Uuid::now_v7();
    for sql in [
        include_str!("../../sql/transform/dag_history_daily.sql"),
        include_str!("../../sql/transform/dag_success_daily.sql"),
        include_str!("../../sql/transform/dag_runtime_daily.sql"),
    ] {
        w.client
            .execute(sql, &[&instances, &days, &"America/New_York", &run_id])
            .await
            .unwrap();
    }
    let tz: Vec<String> = w.query_strings("SHOW TimeZone").await;
    assert_eq!(tz, ["Pacific/Kiritimati"]);
    assert_eq!(w.models().await, utc);
}

#[tokio::test]
async fn incremental_recompute_after_new_runs_equals_a_full_refresh() {
    let w = World::in_zone("Europe/Berlin").await;
    fixture(&w).await;
    w.run_ok(&["run"]);
    // Airflow moves on: the running run finishes, a finished run is cleared and fails, a run's
    // logical date is corrected (it moves to another day), and a new day of runs arrives.
    w.exec(
        "UPDATE AF.dag_run SET state = 'success', end_date = start_date + interval '42 seconds', updated_at = now() WHERE state = 'running';
         UPDATE AF.dag_run SET state = 'failed', clear_number = 1, start_date = '2025-01-12 00:00:00+00', end_date = '2025-01-12 00:10:00+00', updated_at = now()
             WHERE run_id = 'etl__2025-01-10T12:00:00Z';
         UPDATE AF.dag_run SET logical_date = '2025-01-08 12:00:00+00', updated_at = now() WHERE run_id = 'etl__2025-01-10T13:00:00Z';",
    )
    .await;
    w.run(
        "etl",
        Some("2025-01-13T12:00:00Z"),
        None,
        "success",
        Some("2025-01-13T13:00:00Z"),
        Some(77),
    )
    .await;
    w.run(
        "fresh",
        Some("2025-01-13T12:00:00Z"),
        None,
        "failed",
        Some("2025-01-13T13:00:00Z"),
        Some(9),
    )
    .await;
    let run = w.run_ok(&["run"]);
    assert!(!run.stdout.contains("full refresh"), "{run:?}");
    let incremental = w.models().await;
    assert!(
        incremental
            .iter()
            .any(|l| l.contains("\"day\": \"2025-01-08\"")),
        "the moved run's new day"
    );

    let run = w.run_ok(&["transform", "--full-refresh"]);
    assert!(run.stdout.contains("full refresh"), "{run:?}");
    assert_eq!(w.models().await, incremental);

    // Nothing new: nothing is recomputed.
    let run = w.run_ok(&["run"]);
    assert!(
        run.stdout
            .contains("recomputed 0 DAG-run days and 0 validation days"),
        "{run:?}"
    );
}

#[tokio::test]
async fn backfill_of_a_window_leaves_other_days_untouched() {
    let w = World::in_zone("UTC").await;
    for day in 1..=9 {
        w.run(
            "etl",
            Some(&format!("2025-02-0{day}T10:00:00Z")),
            None,
            "success",
            Some(&format!("2025-02-0{day}T11:00:00Z")),
            Some(60),
        )
        .await;
    }
    w.run_ok(&["run"]);
    let before = w
        .query_strings("SELECT (to_jsonb(t))::text FROM WH.dag_success_daily t ORDER BY day")
        .await;
    // Airflow's history is corrected on days 2 to 8 without updated_at moving (no incremental
    // extract would see it); a backfill of days 4 to 6 takes exactly those days.
    w.exec("UPDATE AF.dag_run SET state = 'failed' WHERE logical_date BETWEEN '2025-02-02' AND '2025-02-09'")
        .await;
    let run = w.run_ok(&["backfill", "--from", "2025-02-04", "--to", "2025-02-06"]);
    assert!(run.stdout.contains("(window)"), "{run:?}");
    assert!(run.stdout.contains("extracted 3 runs"), "{run:?}");
    let after = w
        .query_strings("SELECT (to_jsonb(t))::text FROM WH.dag_success_daily t ORDER BY day")
        .await;
    for (i, (b, a)) in before.iter().zip(&after).enumerate() {
        let day = i + 1;
        if (4..=6).contains(&day) {
            assert!(
                a.contains("\"failed_runs\": 1"),
                "day {day} recomputed: {a}"
            );
        } else {
            assert_eq!(a, b, "day {day} untouched, computed_at included");
        }
    }
    // A backfill moves no watermark: the next run is still incremental and sees nothing new.
    // Its extract is loaded like any other: nothing is pending, the next run loads nothing
    // again.
    let run = w.run_ok(&["run"]);
    assert!(run.stdout.contains("(incremental;"), "{run:?}");
    assert_eq!(
        w.count("SELECT count(*) FROM WH.staged_extract WHERE loaded_at IS NULL")
            .await,
        0,
        "the backfill's extract is marked loaded"
    );
    assert_eq!(
        w.count("SELECT count(*) FROM WH.pipewatch_run_log WHERE stage = 'load'")
            .await,
        w.count("SELECT count(*) FROM WH.staged_extract").await,
        "each extract loaded once: the next run did not load the window's extract again"
    );

    // A window of ten thousand years costs what its data costs: the days with runs are
    // recomputed, not every day of the window.
    let run = w.run_ok(&["backfill", "--from", "0001-01-01", "--to", "9999-12-31"]);
    assert!(run.stdout.contains("extracted 9 runs"), "{run:?}");
    assert_eq!(
        w.query_strings(
            "SELECT outcome || ' ' || rows_read FROM WH.pipewatch_run_log \
             WHERE stage = 'transform' ORDER BY run_log_id DESC LIMIT 1"
        )
        .await,
        ["succeeded 9"],
        "nine days with runs recomputed"
    );
    let run = w.pipewatch(&["backfill", "--from", "0000-12-31", "--to", "2025-01-01"]);
    assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_concurrent_reader_never_sees_a_day_missing() {
    let w = World::in_zone("UTC").await;
    w.exec(
        "INSERT INTO AF.dag_run (dag_id, run_id, logical_date, run_after, state, run_type, start_date, end_date, updated_at)
         SELECT 'dag_' || (n % 20), 'scheduled__' || n, timestamptz '2024-01-01' + n * interval '10 minutes',
                timestamptz '2024-01-01' + n * interval '10 minutes', 'success', 'scheduled',
                timestamptz '2024-01-01' + n * interval '10 minutes', timestamptz '2024-01-01' + n * interval '11 minutes', now()
         FROM generate_series(1, 20000) AS n",
    )
    .await;
    w.run_ok(&["run"]);
    let expected: i64 = w
        .query_strings("SELECT count(*)::text FROM WH.dag_success_daily")
        .await[0]
        .parse()
        .unwrap();
    assert!(expected > 1000);
    let reader = pg().await;
    let table = format!("{}.dag_success_daily", w.warehouse);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let stop_reader = stop.clone();
    let reading = tokio::spawn(async move {
        let mut observed = Vec::new();
        while !stop_reader.load(std::sync::atomic::Ordering::Relaxed) {
            let n: i64 = reader
                .query_one(&format!("SELECT count(*) FROM {table}"), &[])
                .await
                .unwrap()
                .get(0);
            observed.push(n);
        }
        observed
    });
    for _ in 0..3 {
        let config = w.config.clone();
        let dir = w.dir.path().to_path_buf();
        tokio::task::spawn_blocking(move || {
            let run = pipewatch(
                &dir,
                &[
                    "--config",
                    config.to_str().unwrap(),
                    "transform",
                    "--full-refresh",
                ],
                &[],
            );
            assert_eq!(run.code, 0, "{run:?}");
        })
        .await
        .unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let observed = reading.await.unwrap();
    assert!(observed.len() > 10, "the reader read during the recomputes");
    assert!(
        observed.iter().all(|&n| n == expected),
        "a reader saw {} distinct counts, expected only {expected}",
        observed.iter().filter(|&&n| n != expected).count()
    );
}

/// Successful runs of `etl` on 2025-01-10 at each of `hours` (two digits), started half an hour
/// after their logical date and lasting `seconds`.
async fn etl_runs_on_jan_10(w: &World, hours: &[&str], seconds: i64) {
    for hour in hours {
        w.run(
            "etl",
            Some(&format!("2025-01-10T{hour}:00:00Z")),
            None,
            "success",
            Some(&format!("2025-01-10T{hour}:30:00Z")),
            Some(seconds),
        )
        .await;
    }
}

#[tokio::test]
async fn sums_and_averages_do_not_depend_on_the_order_rows_are_read_in() {
    // 0.1 + 0.2 + 0.3 in binary floating point is 0.6000000000000001 in one order and 0.6 in
    // another: the models sum whole microseconds, so every path gives 0.6 and an average of 0.2.
    let w = World::in_zone("UTC").await;
    etl_runs_on_jan_10(&w, &["02", "03", "04"], 1).await;
    for (hour, tenths) in [("02", 1), ("03", 2), ("04", 3)] {
        w.exec(&format!(
            "UPDATE AF.dag_run SET end_date = start_date + interval '0.{tenths} seconds' \
             WHERE run_id = 'etl__2025-01-10T{hour}:00:00Z'"
        ))
        .await;
    }
    for args in [&["run"][..], &["transform", "--full-refresh"][..]] {
        w.run_ok(args);
        assert_eq!(
            w.query_strings(
                "SELECT runtime_seconds || ' ' || success_runtime_avg_seconds \
                 FROM WH.dag_history_daily JOIN WH.dag_runtime_daily \
                   ON day = execution_date AND dag_runtime_daily.dag_id = dag_history_daily.dag_id"
            )
            .await,
            ["0.6000 0.2"],
            "{args:?}"
        );
    }
}

/// One run that Airflow let end in year 10000 (a bad clock, a hand-edited row) is summed like
/// any other: the day's runtime total is huge, and every other model and day is still computed
/// (numeric(14, 4) overflowed, and the whole transform failed, before migration 0011).
#[tokio::test]
async fn a_run_of_absurd_length_does_not_stop_the_transform() {
    let w = World::in_zone("UTC").await;
    etl_runs_on_jan_10(&w, &["02", "03", "04"], 60).await;
    w.exec(
        "UPDATE AF.dag_run SET end_date = '10000-01-01 00:00:00+00' \
         WHERE run_id = 'etl__2025-01-10T04:00:00Z'",
    )
    .await;
    for args in [&["run"][..], &["transform", "--full-refresh"][..]] {
        w.run_ok(args);
        assert_eq!(
            w.query_strings(
                "SELECT dag_run_count || ' ' || runtime_run_count || ' ' \
                        || (runtime_seconds > 250000000000) FROM WH.dag_history_daily"
            )
            .await,
            ["3 3 true"]
        );
        assert_eq!(
            w.query_strings(
                "SELECT successful_runs_timed || ' ' || success_runtime_median_seconds \
                 FROM WH.dag_runtime_daily"
            )
            .await,
            ["3 60"]
        );
    }
}

#[tokio::test]
async fn changing_the_reporting_time_zone_rebuilds_every_day() {
    let w = World::in_zone("UTC").await;
    w.run(
        "etl",
        Some("2025-01-10T02:00:00Z"),
        None,
        "success",
        Some("2025-01-10T03:00:00Z"),
        Some(5),
    )
    .await;
    w.run_ok(&["run"]);
    assert_eq!(
        w.query_strings("SELECT day::text FROM WH.dag_success_daily")
            .await,
        ["2025-01-10"]
    );
    std::fs::write(
        &w.config,
        std::fs::read_to_string(&w.config)
            .unwrap()
            .replace("time_zone = UTC", "time_zone = America/Los_Angeles"),
    )
    .unwrap();
    let run = w.run_ok(&["run"]);
    assert!(run.stdout.contains("full refresh"), "{run:?}");
    assert_eq!(
        w.query_strings("SELECT day::text FROM WH.dag_success_daily")
            .await,
        ["2025-01-09"]
    );
}

#[tokio::test]
async fn validation_results_become_daily_pass_rates() {
    let w = World::in_zone("UTC").await;
    let write = |name: &str, sql: &str| std::fs::write(w.dir.path().join(name), sql).unwrap();
    write("one.sql", "SELECT 1");
    write("two.sql", "SELECT 2");
    write("bad.sql", "SELECT * FROM nowhere_at_all");
    std::fs::write(
        w.dir.path().join("suite.ini"),
        "[same]\nscript_1 = one.sql\nscript_2 = one.sql\noperator = equals\n\
         [differs]\nscript_1 = one.sql\nscript_2 = two.sql\noperator = equals\nseverity = warn\n\
         [broken]\nscript_1 = bad.sql\nscript_2 = one.sql\noperator = equals\nseverity = warn\n",
    )
    .unwrap();
    for _ in 0..2 {
        let config = w.config.to_str().unwrap();
        pipewatch(
            w.dir.path(),
            &["--config", config, "validate", "--suite", "suite.ini"],
            &[],
        );
    }
    w.run_ok(&["transform"]);
    assert_eq!(
        w.query_strings(
            "SELECT concat_ws(' ', test_name, executions, passed, failed, errors, pass_rate) \
             FROM WH.validation_test_daily ORDER BY test_name"
        )
        .await,
        [
            "broken 2 0 0 2 0.000000",
            "differs 2 0 2 0 0.000000",
            "same 2 2 0 0 1.000000"
        ]
    );
    assert_eq!(
        w.query_strings(
            "SELECT concat_ws(' ', test_executions, passed, failed, errors, pass_rate) FROM WH.validation_daily"
        )
        .await,
        ["6 2 2 2 0.333333"]
    );
    assert_eq!(
        w.query_strings(
            "SELECT concat_ws(' ', test_composite_name, coalesce(test_result, 'NULL'), test_count) \
             FROM WH.validator_summary_daily ORDER BY 1"
        )
        .await,
        [
            "bad.sql one.sql equals NULL 2",
            "one.sql one.sql equals true 2",
            "one.sql two.sql equals false 2",
        ]
    );
}
