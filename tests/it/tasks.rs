//! Task-level history: every try of every task instance, extracted with its DAG runs from the
//! real `task_instance` / `task_instance_history` tables of Airflow 2.10 and 3.3, loaded into
//! task_run_history, and the task and delay models computed from it. Against the real
//! PostgreSQL that `scripts/test` starts; each test has its own Airflow and warehouse schemas.

use crate::common::{RunSpec, World};

/// `[extract]` settings that leave out the periodic changed-run scan.
const NO_SCAN: &str = "[extract]\nchanged_runs_scan_interval_minutes = 10080\n";

/// One try of a task instance, as Airflow stores it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Try<'a> {
    run_id: &'a str,
    task_id: &'a str,
    map_index: i32,
    try_number: i32,
    state: Option<&'a str>,
    /// Seconds after 2025-03-01T01:00:00Z the try started (None: not started).
    start: Option<i64>,
    /// Seconds it ran (None: not ended).
    seconds: Option<i64>,
}

impl<'a> Try<'a> {
    pub(crate) fn new(
        run_id: &'a str,
        task_id: &'a str,
        try_number: i32,
        state: Option<&'a str>,
    ) -> Self {
        Try {
            run_id,
            task_id,
            map_index: -1,
            try_number,
            state,
            start: None,
            seconds: None,
        }
    }
    pub(crate) fn ran(mut self, start: i64, seconds: i64) -> Self {
        self.start = Some(start);
        self.seconds = Some(seconds);
        self
    }
    pub(crate) fn running(mut self, start: i64) -> Self {
        self.start = Some(start);
        self
    }
    pub(crate) fn map(mut self, map_index: i32) -> Self {
        self.map_index = map_index;
        self
    }
}

/// Writes `t` as the current try of its task instance (task_instance), replacing what was there.
/// Queued 5 seconds before it started; on Airflow 3 scheduled 2 seconds before that.
pub(crate) async fn current(w: &World, dag_id: &str, t: Try<'_>) {
    let (id_col, id_val, sched_col, sched_val) = if w.major == 3 {
        (
            "id, ",
            "gen_random_uuid(), ",
            ", scheduled_dttm",
            ", $7::timestamptz - interval '7 seconds'",
        )
    } else {
        ("", "", "", "")
    };
    let sql = format!(
        "INSERT INTO {af}.task_instance ({id_col}dag_id, run_id, task_id, map_index, try_number, state, \
         start_date, end_date, queued_dttm, pool, pool_slots, queue, operator, hostname, unixname, executor_config, task_display_name, max_tries, updated_at{sched_col}) \
         VALUES ({id_val}$1, $2, $3, $4, $5, $6, $7::timestamptz, $8::timestamptz, \
                 $7::timestamptz - interval '5 seconds', 'default_pool', 1, 'default', 'PythonOperator', \
                 'worker-1', 'airflow', decode('80047d942e', 'hex'), $3, 1, now(){sched_val}) \
         ON CONFLICT (dag_id, task_id, run_id, map_index) DO UPDATE SET \
         try_number = EXCLUDED.try_number, state = EXCLUDED.state, start_date = EXCLUDED.start_date, \
         end_date = EXCLUDED.end_date, queued_dttm = EXCLUDED.queued_dttm, updated_at = now(){sched_update}",
        af = w.airflow,
        sched_update = if w.major == 3 {
            ", scheduled_dttm = EXCLUDED.scheduled_dttm"
        } else {
            ""
        },
    );
    exec_try(w, &sql, dag_id, t).await;
}

/// Writes `t` as an earlier try in task_instance_history.
pub(crate) async fn earlier(w: &World, dag_id: &str, t: Try<'_>) {
    let (id_col, id_val) = if w.major == 3 {
        ("task_instance_id, ", "gen_random_uuid(), ")
    } else {
        ("", "")
    };
    let sql = format!(
        "INSERT INTO {af}.task_instance_history ({id_col}dag_id, run_id, task_id, map_index, try_number, \
         state, start_date, end_date, queued_dttm, pool, pool_slots, queue, operator, hostname, unixname, executor_config, task_display_name, max_tries, updated_at) \
         VALUES ({id_val}$1, $2, $3, $4, $5, $6, $7::timestamptz, $8::timestamptz, \
                 $7::timestamptz - interval '5 seconds', 'default_pool', 1, 'default', 'PythonOperator', \
                 'worker-1', 'airflow', decode('80047d942e', 'hex'), $3, 1, now())",
        af = w.airflow,
    );
    exec_try(w, &sql, dag_id, t).await;
}

async fn exec_try(w: &World, sql: &str, dag_id: &str, t: Try<'_>) {
    let base = chrono::DateTime::parse_from_rfc3339("2025-03-01T01:00:00Z")
        .unwrap()
        .to_utc();
    let start = t.start.map(|s| base + chrono::Duration::seconds(s));
    let end = match (start, t.seconds) {
        (Some(start), Some(s)) => Some(start + chrono::Duration::seconds(s)),
        _ => None,
    };
    w.client
        .execute(
            sql,
            &[
                &dag_id,
                &t.run_id,
                &t.task_id,
                &t.map_index,
                &t.try_number,
                &t.state,
                &start,
                &end,
            ],
        )
        .await
        .unwrap_or_else(|e| panic!("{sql} {t:?}: {e:?}"));
}

/// Moves the current try of a task instance into task_instance_history (as it ended) and
/// resets the current row, as Airflow does when a try is cleared or retried: until the next
/// scheduling both tables hold that try_number.
pub(crate) async fn clear(w: &World, dag_id: &str, run_id: &str, task_id: &str) {
    let mut cols = "dag_id, run_id, task_id, map_index, try_number, state, start_date, end_date, \
                    queued_dttm, pool, pool_slots, queue, operator, hostname, unixname, executor_config, task_display_name, max_tries, updated_at"
        .to_string();
    let (id_col, id_val) = if w.major == 3 {
        cols.push_str(", scheduled_dttm");
        ("task_instance_id, ", "gen_random_uuid(), ")
    } else {
        ("", "")
    };
    w.client
        .execute(
            &format!(
                "INSERT INTO {af}.task_instance_history ({id_col}{cols}) \
                 SELECT {id_val}{cols} FROM {af}.task_instance \
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3",
                af = w.airflow
            ),
            &[&dag_id, &run_id, &task_id],
        )
        .await
        .unwrap();
    w.client
        .execute(
            &format!(
                "UPDATE {af}.task_instance SET state = NULL, max_tries = max_tries + 1, updated_at = now() \
                 WHERE dag_id = $1 AND run_id = $2 AND task_id = $3",
                af = w.airflow
            ),
            &[&dag_id, &run_id, &task_id],
        )
        .await
        .unwrap();
}

/// task_run_history as `task map try state start end from_history` lines, in key order; start
/// and end as seconds after 2025-03-01T01:00:00Z.
async fn tries(w: &World) -> Vec<String> {
    w.query_strings(
        "SELECT concat_ws(' ', task_id, map_index, try_number, coalesce(state, '-'), \
                coalesce(extract(epoch FROM start_date - '2025-03-01T01:00:00Z')::bigint::text, '-'), \
                coalesce(duration_seconds::bigint::text, '-'), \
                CASE WHEN from_history THEN 'history' ELSE 'current' END) \
         FROM WH.task_run_history ORDER BY dag_id, run_id, task_id, map_index, try_number",
    )
    .await
}

fn lines(expected: &[&str]) -> Vec<String> {
    expected.iter().map(|s| s.to_string()).collect()
}

/// A running DAG run of `etl` on 2025-03-01, started at 01:00:00Z.
async fn running_run(w: &World) -> RunSpec {
    let mut run = RunSpec::finished("etl", "2025-03-01T00:00:00Z", "running");
    run.end_date = None;
    w.insert(&run).await;
    run
}

async fn every_try_of_every_instance_ends_in_the_warehouse(major: u8) {
    let w = World::new(major, NO_SCAN).await;
    let run = running_run(&w).await;
    let r = run.run_id.as_str();
    // First extract: extract ran, load failed its first try and waits for its retry, a mapped
    // task is not expanded yet (try 0, map index -1), report not scheduled.
    current(
        &w,
        "etl",
        Try::new(r, "extract", 1, Some("success")).ran(10, 100),
    )
    .await;
    current(
        &w,
        "etl",
        Try::new(r, "load", 1, Some("up_for_retry")).ran(120, 20),
    )
    .await;
    current(&w, "etl", Try::new(r, "fan", 0, None)).await;
    current(&w, "etl", Try::new(r, "report", 0, None)).await;
    let out = w.run_ok(&["run"]);
    assert!(
        out.stdout.contains("and 4 task tries"),
        "{}",
        out.all_output()
    );
    assert_eq!(
        tries(&w).await,
        lines(&[
            "extract -1 1 success 10 100 current",
            "fan -1 0 - - - current",
            "load -1 1 up_for_retry 120 20 current",
            "report -1 0 - - - current",
        ])
    );
    // The run log and status count DAG runs and task tries apart.
    assert_eq!(
        w.count(
            "SELECT count(*) FROM WH.pipewatch_run_log WHERE stage IN ('extract', 'load') \
             AND rows_read = 1 AND task_rows_read = 4"
        )
        .await,
        2
    );
    let status = w.run_ok(&["status"]);
    assert!(
        status
            .stdout
            .contains(": succeeded, runs read 1, written 1; task tries read 4, written 4,"),
        "{status:?}"
    );

    // Airflow moves on: load's failed try goes to history and try 2 runs late and succeeds;
    // fan is expanded into two mapped instances; report runs. The run finishes.
    clear(&w, "etl", r, "load").await;
    w.exec("UPDATE AF.task_instance_history SET state = 'failed' WHERE task_id = 'load'")
        .await;
    current(
        &w,
        "etl",
        Try::new(r, "load", 2, Some("success")).ran(200, 60),
    )
    .await;
    w.exec("DELETE FROM AF.task_instance WHERE task_id = 'fan'")
        .await;
    current(
        &w,
        "etl",
        Try::new(r, "fan", 1, Some("success")).ran(300, 30).map(0),
    )
    .await;
    current(
        &w,
        "etl",
        Try::new(r, "fan", 1, Some("success")).ran(300, 50).map(1),
    )
    .await;
    current(
        &w,
        "etl",
        Try::new(r, "report", 1, Some("running")).running(400),
    )
    .await;
    w.run_ok(&["run"]);
    // Late-finishing task: report ends after the next extract.
    current(
        &w,
        "etl",
        Try::new(r, "report", 1, Some("success")).ran(400, 9),
    )
    .await;
    w.exec(
        "UPDATE AF.dag_run SET state = 'success', end_date = start_date + interval '10 minutes', updated_at = now()",
    )
    .await;
    w.run_ok(&["run"]);
    let expected = lines(&[
        "extract -1 1 success 10 100 current",
        "fan 0 1 success 300 30 current",
        "fan 1 1 success 300 50 current",
        "load -1 1 failed 120 20 history",
        "load -1 2 success 200 60 current",
        "report -1 1 success 400 9 current",
    ]);
    assert_eq!(tries(&w).await, expected, "Airflow {major}");

    // A finished task cleared and re-run: between the clear and the next scheduling both
    // tables hold try 1; the finished try (history) is that try.
    clear(&w, "etl", r, "extract").await;
    w.exec("UPDATE AF.dag_run SET state = 'queued', clear_number = 1, updated_at = now()")
        .await;
    w.run_ok(&["run"]);
    assert_eq!(
        tries(&w).await[0],
        "extract -1 1 success 10 100 history",
        "Airflow {major}"
    );
    current(
        &w,
        "etl",
        Try::new(r, "extract", 2, Some("success")).ran(900, 80),
    )
    .await;
    w.exec("UPDATE AF.dag_run SET state = 'success', updated_at = now()")
        .await;
    w.run_ok(&["run"]);
    let all = tries(&w).await;
    assert_eq!(
        all[..2],
        lines(&[
            "extract -1 1 success 10 100 history",
            "extract -1 2 success 900 80 current",
        ]),
        "Airflow {major}"
    );
    assert_eq!(all.len(), 7, "{all:#?}");

    // Re-running changes nothing: a new extract, and loading the last object again.
    let before = w
        .query_strings("SELECT to_jsonb(t)::text FROM WH.task_run_history t ORDER BY 1")
        .await;
    let out = w.run_ok(&["run"]);
    assert!(
        out.stdout
            .contains("task tries read, 0 inserted or changed"),
        "{}",
        out.stdout
    );
    // The newest object that holds the run (the last run's re-check found it unchanged).
    let key = w
        .query_strings(
            "SELECT object_key FROM WH.staged_extract WHERE task_row_count > 0 \
             ORDER BY extracted_at DESC LIMIT 1",
        )
        .await
        .remove(0);
    let out = w.run_ok(&["load", "--object", &key]);
    assert!(
        out.stdout
            .contains("7 task tries read, 0 inserted or changed"),
        "{}",
        out.stdout
    );
    let after = w
        .query_strings("SELECT to_jsonb(t)::text FROM WH.task_run_history t ORDER BY 1")
        .await;
    assert_eq!(before, after);

    // Bookkeeping and the Airflow 3 extras.
    let scheduled = w
        .count("SELECT count(scheduled_at) FROM WH.task_run_history")
        .await;
    assert_eq!(scheduled, if major == 3 { 7 } else { 0 });
    assert_eq!(
        w.count(&format!(
            "SELECT count(*) FROM WH.task_run_history WHERE queued_at IS NULL OR pool IS NULL \
             OR airflow_major_version <> {major} OR loaded_by_run_id IS NULL"
        ))
        .await,
        0
    );
}

#[tokio::test]
async fn every_try_of_every_instance_ends_in_the_warehouse_airflow2() {
    every_try_of_every_instance_ends_in_the_warehouse(2).await;
}

#[tokio::test]
async fn every_try_of_every_instance_ends_in_the_warehouse_airflow3() {
    every_try_of_every_instance_ends_in_the_warehouse(3).await;
}

#[tokio::test]
async fn a_whole_run_cleared_keeps_its_first_attempt() {
    for major in [2, 3] {
        let w = World::new(major, NO_SCAN).await;
        let run = RunSpec::finished("etl", "2025-03-01T00:00:00Z", "failed");
        w.insert(&run).await;
        let r = run.run_id.clone();
        current(&w, "etl", Try::new(&r, "a", 1, Some("success")).ran(10, 50)).await;
        current(&w, "etl", Try::new(&r, "b", 1, Some("failed")).ran(70, 30)).await;
        current(&w, "etl", Try::new(&r, "c", 0, Some("upstream_failed"))).await;
        w.run_ok(&["run"]);
        // The operator clears the whole run; it runs again and succeeds. The changed-run scan
        // is off: the extract finds the run among the queued ones, and once the warehouse
        // holds it as queued, among the unfinished ones when it finishes.
        for task in ["a", "b", "c"] {
            clear(&w, "etl", &r, task).await;
        }
        w.exec("UPDATE AF.dag_run SET state = 'queued', clear_number = 1, updated_at = now()")
            .await;
        w.run_ok(&["run"]);
        current(
            &w,
            "etl",
            Try::new(&r, "a", 2, Some("success")).ran(1000, 40),
        )
        .await;
        current(
            &w,
            "etl",
            Try::new(&r, "b", 2, Some("success")).ran(1050, 35),
        )
        .await;
        current(
            &w,
            "etl",
            Try::new(&r, "c", 1, Some("success")).ran(1100, 5),
        )
        .await;
        w.exec("UPDATE AF.dag_run SET state = 'success', updated_at = now()")
            .await;
        w.run_ok(&["run"]);
        assert_eq!(
            tries(&w).await,
            lines(&[
                "a -1 1 success 10 50 history",
                "a -1 2 success 1000 40 current",
                "b -1 1 failed 70 30 history",
                "b -1 2 success 1050 35 current",
                "c -1 0 upstream_failed - - history",
                "c -1 1 success 1100 5 current",
            ]),
            "Airflow {major}"
        );
    }
}

#[tokio::test]
async fn airflow_before_2_10_gives_current_tries_and_says_so() {
    let w = World::new(2, NO_SCAN).await;
    w.exec("DROP TABLE AF.task_instance_history").await;
    let run = running_run(&w).await;
    current(
        &w,
        "etl",
        Try::new(&run.run_id, "a", 2, Some("running")).running(30),
    )
    .await;
    let check = w.run_ok(&["check-config"]);
    assert!(
        check.stdout.contains("current tries only"),
        "{}",
        check.stdout
    );
    let out = w.run_ok(&["run"]);
    assert!(out.stdout.contains("current tries only"), "{}", out.stdout);
    assert_eq!(tries(&w).await, lines(&["a -1 2 running 30 - current"]));
}

#[tokio::test]
async fn task_instances_can_be_switched_off() {
    let w = World::new(2, "[extract]\ntask_instances = false\n").await;
    w.exec("DROP TABLE AF.task_instance_history; DROP TABLE AF.task_instance")
        .await;
    w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
        .await;
    let check = w.run_ok(&["check-config"]);
    assert!(check.stdout.contains("task instances are not extracted"));
    let out = w.run_ok(&["run"]);
    assert!(!out.stdout.contains("task tries"), "{}", out.stdout);
    assert!(w.stage_files_of("task_instance").is_empty());
    assert_eq!(w.count("SELECT count(*) FROM WH.dag_run_history").await, 1);

    // Switched on without the tables: a clear error naming the way out.
    let w = World::new(2, "").await;
    w.exec("DROP TABLE AF.task_instance_history; DROP TABLE AF.task_instance")
        .await;
    let out = w.pipewatch(&["run"]);
    assert_eq!(out.code, pipewatch::exit::ERROR as i32, "{out:?}");
    assert!(
        out.stderr.contains("no table task_instance in schema")
            && out.stderr.contains("task_instances = false"),
        "{out:?}"
    );
}

#[tokio::test]
async fn tries_of_one_task_spanning_two_extracts_and_nulls_survive() {
    let w = World::new(3, NO_SCAN).await;
    let run = running_run(&w).await;
    let r = run.run_id.as_str();
    // A try with no start, end or queue time at all.
    w.exec(&format!(
        "INSERT INTO AF.task_instance (id, dag_id, run_id, task_id, map_index, try_number, max_tries, pool, pool_slots) \
         VALUES (gen_random_uuid(), 'etl', '{r}', 'bare', -1, 1, 0, 'p', 1)"
    ))
    .await;
    current(&w, "etl", Try::new(r, "t", 1, Some("running")).running(5)).await;
    w.run_ok(&["run"]);
    clear(&w, "etl", r, "t").await;
    w.exec("UPDATE AF.task_instance_history SET state = 'failed', end_date = start_date + interval '7 seconds'")
        .await;
    current(&w, "etl", Try::new(r, "t", 2, Some("success")).ran(50, 8)).await;
    w.run_ok(&["run"]);
    assert_eq!(
        tries(&w).await,
        lines(&[
            "bare -1 1 - - - current",
            "t -1 1 failed 5 7 history",
            "t -1 2 success 50 8 current",
        ])
    );
    assert_eq!(
        w.count(
            "SELECT count(*) FROM WH.task_run_history WHERE task_id = 'bare' \
             AND queued_at IS NULL AND scheduled_at IS NULL AND hostname IS NULL AND queue IS NULL"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn full_backfill_and_replayed_objects_cover_tasks() {
    let w = World::new(2, NO_SCAN).await;
    for day in 1..=3 {
        w.insert(&RunSpec::finished(
            "etl",
            &format!("2025-03-0{day}T00:00:00Z"),
            "success",
        ))
        .await;
        let r = format!("scheduled__2025-03-0{day}T00:00:00Z");
        current(&w, "etl", Try::new(&r, "a", 1, Some("success")).ran(10, 20)).await;
    }
    w.run_ok(&["run"]);
    assert_eq!(w.count("SELECT count(*) FROM WH.task_run_history").await, 3);

    // Changes Airflow made that no incremental extract sees (the scan is off, the runs are
    // finished): a full extract, a backfill of the window, a replay of the task object.
    w.exec("UPDATE AF.task_instance SET hostname = 'worker-9' WHERE run_id LIKE '%03-01%'")
        .await;
    let out = w.run_ok(&["backfill", "--from", "2025-03-01", "--to", "2025-03-01"]);
    assert!(
        out.stdout
            .contains("1 task tries read, 1 inserted or changed"),
        "{out:?}"
    );
    w.exec("UPDATE AF.task_instance SET hostname = 'worker-8' WHERE run_id LIKE '%03-02%'")
        .await;
    let out = w.run_ok(&["run", "--full"]);
    assert!(
        out.stdout
            .contains("3 task tries read, 1 inserted or changed"),
        "{out:?}"
    );
    let task_key = w
        .query_strings(
            "SELECT task_object_key FROM WH.staged_extract ORDER BY extracted_at LIMIT 1",
        )
        .await
        .remove(0);
    assert!(task_key.starts_with("task_instance/default/"), "{task_key}");
    let out = w.run_ok(&["load", "--object", &task_key]);
    assert!(
        out.stdout
            .contains("(3 task tries read, 0 inserted or changed)"),
        "an older replayed object rolls nothing back: {out:?}"
    );
    assert_eq!(
        w.query_strings("SELECT hostname FROM WH.task_run_history ORDER BY run_id")
            .await,
        lines(&["worker-9", "worker-8", "worker-1"])
    );
}

/// The task-model fixture: two runs of `etl` on 2025-03-01 (UTC) with hand-countable tries.
async fn model_fixture(w: &World) {
    w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
        .await;
    w.insert(&RunSpec::finished("etl", "2025-03-01T12:00:00Z", "success"))
        .await;
    // Runs are queued 30 s before they start.
    w.exec("UPDATE AF.dag_run SET queued_at = start_date - interval '30 seconds'")
        .await;
    let r1 = "scheduled__2025-03-01T00:00:00Z";
    let r2 = "scheduled__2025-03-01T12:00:00Z";
    // Run 1 starts at 01:00:00 (second 0); run 2 at 13:00:00 (second 43200).
    current(
        w,
        "etl",
        Try::new(r1, "extract", 1, Some("success")).ran(10, 100),
    )
    .await;
    earlier(
        w,
        "etl",
        Try::new(r1, "load", 1, Some("failed")).ran(120, 20),
    )
    .await;
    current(
        w,
        "etl",
        Try::new(r1, "load", 2, Some("success")).ran(150, 60),
    )
    .await;
    current(
        w,
        "etl",
        Try::new(r2, "extract", 1, Some("success")).ran(43230, 200),
    )
    .await;
    current(
        w,
        "etl",
        Try::new(r2, "load", 1, Some("success")).ran(43440, 40),
    )
    .await;
    current(
        w,
        "etl",
        Try::new(r2, "fan", 1, Some("success"))
            .ran(43490, 30)
            .map(0),
    )
    .await;
    current(
        w,
        "etl",
        Try::new(r2, "fan", 1, Some("success"))
            .ran(43490, 50)
            .map(1),
    )
    .await;
}

#[tokio::test]
async fn hand_computed_task_and_delay_figures() {
    let w = World::new(2, "").await;
    model_fixture(&w).await;
    w.run_ok(&["run"]);
    let daily = w
        .query_strings(
            "SELECT concat_ws(' ', day, task_id, task_instances, tries, succeeded_tries, failed_tries, \
                    succeeded_after_retry, retried_instances, retry_seconds, succeeded_seconds, \
                    duration_median_seconds, duration_p95_seconds, duration_max_seconds, \
                    queue_wait_median_seconds, queue_wait_p95_seconds) \
             FROM WH.task_daily ORDER BY task_id",
        )
        .await;
    assert_eq!(
        daily,
        lines(&[
            "2025-03-01 extract 2 2 2 0 0 0 0 300 150 195 200 5 5",
            "2025-03-01 fan 2 2 2 0 0 0 0 80 40 49 50 5 5",
            "2025-03-01 load 2 3 2 1 1 1 20 100 50 59 60 5 5",
        ])
    );
    // Delays: queued 30 s before start; started when the interval closed (01:00 / 13:00);
    // ended 600 s later; first task 10 s and 30 s after the run started.
    let delays = w
        .query_strings(
            "SELECT concat_ws(' ', run_id, queue_seconds, schedule_delay_seconds, landing_seconds, \
                    first_task_start_delay_seconds) FROM WH.dag_run_delay ORDER BY run_id",
        )
        .await;
    assert_eq!(
        delays,
        lines(&[
            "scheduled__2025-03-01T00:00:00Z 30 0 600 10",
            "scheduled__2025-03-01T12:00:00Z 30 0 600 30",
        ])
    );
    let daily_delays = w
        .query_strings(
            "SELECT concat_ws(' ', day, dag_id, runs, queue_median_seconds, queue_p95_seconds, \
                    schedule_delay_median_seconds, landing_p95_seconds, \
                    first_task_start_delay_median_seconds, first_task_start_delay_p95_seconds) \
             FROM WH.dag_delay_daily",
        )
        .await;
    assert_eq!(daily_delays, lines(&["2025-03-01 etl 2 30 30 0 600 20 29"]));

    // The models equal an independent computation over task_run_history (correlated
    // subqueries instead of window functions), and an incremental recompute equals a full one.
    let independent = w
        .query_strings(
            "SELECT concat_ws(' ', t.task_id, count(DISTINCT (t.run_id, t.map_index)), \
                    count(*) FILTER (WHERE t.try_number >= 1), \
                    coalesce(sum(t.duration_seconds) FILTER (WHERE t.state IN ('failed', 'up_for_retry') \
                        AND EXISTS (SELECT 1 FROM WH.task_run_history n WHERE n.airflow_instance = t.airflow_instance \
                            AND n.dag_id = t.dag_id AND n.run_id = t.run_id AND n.task_id = t.task_id \
                            AND n.map_index = t.map_index AND n.try_number > t.try_number)), 0), \
                    (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY s.duration_seconds) \
                     FROM WH.task_run_history s WHERE s.task_id = t.task_id AND s.state = 'success')) \
             FROM WH.task_run_history t GROUP BY t.task_id ORDER BY t.task_id",
        )
        .await;
    let from_model = w
        .query_strings(
            "SELECT concat_ws(' ', task_id, task_instances, tries, retry_seconds, \
                    (SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY s.duration_seconds) \
                     FROM WH.task_run_history s WHERE s.task_id = d.task_id AND s.state = 'success')) \
             FROM WH.task_daily d ORDER BY task_id",
        )
        .await;
    assert_eq!(independent, from_model);
    let before = w
        .query_strings(
            "SELECT (to_jsonb(d) - 'computed_at' - 'computed_by_run_id')::text FROM WH.task_daily d \
             UNION ALL SELECT (to_jsonb(d) - 'computed_at' - 'computed_by_run_id')::text FROM WH.dag_delay_daily d ORDER BY 1",
        )
        .await;
    w.run_ok(&["transform", "--full-refresh"]);
    let after = w
        .query_strings(
            "SELECT (to_jsonb(d) - 'computed_at' - 'computed_by_run_id')::text FROM WH.task_daily d \
             UNION ALL SELECT (to_jsonb(d) - 'computed_at' - 'computed_by_run_id')::text FROM WH.dag_delay_daily d ORDER BY 1",
        )
        .await;
    assert_eq!(before, after);
}

#[tokio::test]
async fn question_functions_answer_from_any_search_path() {
    let w = World::new(3, "").await;
    model_fixture(&w).await;
    // Move the fixture's runs to today, so "the last 7 days" holds them.
    w.exec(
        "UPDATE AF.dag_run SET logical_date = date_trunc('day', now()) + (logical_date - '2025-03-01'), \
                run_after = date_trunc('day', now()) + (run_after - '2025-03-01')",
    )
    .await;
    w.run_ok(&["run"]);
    let schema = &w.warehouse;
    let slowest = w
        .query_strings(&format!(
            "SELECT concat_ws(' ', dag_id, task_id, successful_tries, p95_seconds) FROM {schema}.slowest_tasks(7)"
        ))
        .await;
    assert_eq!(
        slowest,
        lines(&["etl extract 2 195", "etl load 2 59", "etl fan 2 49"])
    );
    let flaky = w
        .query_strings(&format!(
            "SELECT concat_ws(' ', task_id, task_instances, retried_instances, flaky_share, retry_seconds) \
             FROM {schema}.flakiest_tasks(7)"
        ))
        .await;
    assert_eq!(flaky, lines(&["load 2 1 0.500000 20"]));
    let cost = w
        .query_strings(&format!(
            "SELECT concat_ws(' ', dag_id, retried_instances, failed_tries, retry_seconds, retry_share_of_task_seconds) \
             FROM {schema}.dag_retry_cost(7)"
        ))
        .await;
    assert_eq!(cost, lines(&["etl 1 1 20 0.040000"]));
}

#[tokio::test]
async fn reconcile_compares_finished_tries_and_names_tries_airflow_lost() {
    for major in [2, 3] {
        let w = World::new(major, "").await;
        model_fixture(&w).await;
        // Airflow lost try 2 of this instance: its current try is 3, history holds only try 1.
        let r2 = "scheduled__2025-03-01T12:00:00Z";
        earlier(
            &w,
            "etl",
            Try::new(r2, "flaky", 1, Some("failed")).ran(43500, 5),
        )
        .await;
        current(
            &w,
            "etl",
            Try::new(r2, "flaky", 3, Some("success")).ran(43600, 5),
        )
        .await;
        w.run_ok(&["run"]);
        let args = ["reconcile", "--from", "2025-03-01", "--to", "2025-03-02"];
        let out = w.run_ok(&args);
        assert!(
            out.stdout.contains(
                "task tries: 9 finished in Airflow, 9 in the warehouse; every day matches"
            ),
            "Airflow {major}: {}",
            out.stdout
        );
        assert!(
            out.stdout.contains(
                "Airflow itself did not keep 1 earlier tries of 1 task instances (e.g. etl.flaky in run scheduled__2025-03-01T12:00:00Z)"
            ),
            "{}",
            out.stdout
        );
        // A try lost in the warehouse is a difference: exit 1.
        w.exec("DELETE FROM WH.task_run_history WHERE task_id = 'fan' AND map_index = 1")
            .await;
        let out = w.pipewatch(&args);
        assert_eq!(out.code, pipewatch::exit::CHECKS_FAILED as i32, "{out:?}");
        assert!(
            out.stdout
                .contains("task tries: 9 finished in Airflow, 8 in the warehouse; 1 day differs:")
                && out
                    .stdout
                    .contains("2025-03-01         9          8          -1"),
            "{}",
            out.stdout
        );
    }
}

#[tokio::test]
async fn read_times_a_wrong_clock_put_in_the_future_are_repaired_by_the_next_run() {
    // Neither the re-check of the newest ids nor the changed-run scan: only the repair (a full
    // read) can see the change below.
    let w = World::new(
        3,
        "[extract]\nrecheck_last_ids = 0\nchanged_runs_scan_interval_minutes = 10080\n",
    )
    .await;
    let mut run = RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success");
    run.start_date = Some("2025-03-01T01:00:00Z".into());
    w.insert(&run).await;
    let r = run.run_id.as_str();
    current(&w, "etl", Try::new(r, "t", 1, Some("success")).ran(0, 60)).await;
    w.run_ok(&["run"]);
    // What an Airflow answering "Date: 2100" did before pipewatch checked the clock.
    w.exec(
        "UPDATE WH.dag_run_history SET source_read_at = '2100-01-01T00:00:00Z';
         UPDATE WH.task_run_history SET source_read_at = '2100-01-01T00:00:00Z';
         UPDATE WH.extract_watermark SET changed_runs_scanned_at = '2100-01-01T00:00:00Z',
                                        last_source_read_at = '2100-01-01T00:00:00Z'",
    )
    .await;
    // Airflow changes the run and its try afterwards.
    w.exec(
        "UPDATE AF.dag_run SET state = 'failed', updated_at = now();
         UPDATE AF.task_instance SET state = 'failed', updated_at = now()",
    )
    .await;
    let repaired = w.run_ok(&["run"]);
    assert!(
        repaired
            .all_output()
            .contains("The watermark lies more than an hour in the future"),
        "{repaired:?}"
    );
    assert!(
        repaired.stdout.contains("(full)"),
        "the repair reads every run: {repaired:?}"
    );
    assert_eq!(
        w.state_of("etl", r).await.unwrap().split(' ').next(),
        Some("failed")
    );
    assert_eq!(tries(&w).await, lines(&["t -1 1 failed 0 60 current"]));
    assert_eq!(
        w.count(
            "SELECT count(*) FROM WH.extract_watermark WHERE changed_runs_scanned_at <= now() \
             AND last_source_read_at <= now()"
        )
        .await,
        1
    );
    assert_eq!(
        w.count(
            "SELECT (SELECT count(*) FROM WH.dag_run_history WHERE source_read_at > now()) \
                  + (SELECT count(*) FROM WH.task_run_history WHERE source_read_at > now())"
        )
        .await,
        0
    );
    // And the next run is incremental again.
    let next = w.run_ok(&["run"]);
    assert!(next.stdout.contains("(incremental"), "{next:?}");
}

#[tokio::test]
async fn tries_of_runs_gone_from_airflow_are_kept_and_no_difference() {
    let w = World::new(3, "").await;
    let mut kept = RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success");
    kept.start_date = Some("2025-03-01T01:00:00Z".into());
    let mut cleaned = RunSpec::finished("etl", "2025-03-01T06:00:00Z", "success");
    cleaned.start_date = Some("2025-03-01T07:00:00Z".into());
    for run in [&kept, &cleaned] {
        w.insert(run).await;
        for task in ["a", "b"] {
            current(
                &w,
                "etl",
                Try::new(&run.run_id, task, 1, Some("success")).ran(0, 60),
            )
            .await;
        }
    }
    w.run_ok(&["run"]);
    let window = ["reconcile", "--from", "2025-03-01", "--to", "2025-03-01"];
    w.run_ok(&window);
    // `airflow db clean` removes the run and, with it, its task instances.
    w.exec(&format!(
        "DELETE FROM AF.task_instance WHERE run_id = '{r}';
         DELETE FROM AF.dag_run WHERE run_id = '{r}'",
        r = cleaned.run_id
    ))
    .await;
    let run = w.run_ok(&window);
    assert!(
        run.stdout
            .contains("note: 1 finished run on 1 day is kept in the warehouse, gone from Airflow")
            && run.stdout.contains(
                "task tries: 2 finished in Airflow, 2 in the warehouse; every day matches"
            )
            && run.stdout.contains(
                "note: 2 finished task tries of runs gone from Airflow are kept in the warehouse (not a difference)"
            ),
        "{run:?}"
    );
    // Neither a full run nor a backfill brings the difference back.
    w.run_ok(&["run", "--full"]);
    w.run_ok(&["backfill", "--from", "2025-03-01", "--to", "2025-03-01"]);
    w.run_ok(&window);
    assert_eq!(w.count("SELECT count(*) FROM WH.task_run_history").await, 4);
}
