//! Critical paths (issue 28): task graphs read from serialized DAGs that the real Airflow 2.10.5
//! and 3.3.2 wrote (`tests/fixtures/airflow/graphs/`: the DAG `pw_graph.py` there, serialized by
//! `airflow dags reserialize`: a fan-out and fan-in, a mapped task, a branch with a skipped
//! side, a task with retries, a task group), task instances whose times make the path and each
//! wait known in advance, and the transform's walk checked step by step and for the tiling.

use std::io::Write;

use crate::common::{RunSpec, World};
use crate::tasks::{Try, current, earlier};

const AIRFLOW2: &str = include_str!("../fixtures/airflow/graphs/pw_graph_airflow2.json");
const AIRFLOW3: &str = include_str!("../fixtures/airflow/graphs/pw_graph_airflow3.json");

/// The graph with the edge left -> join removed (a new version of the DAG file).
fn without_left_to_join(json: &str) -> String {
    let mut doc: serde_json::Value = serde_json::from_str(json).unwrap();
    for task in doc["dag"]["tasks"].as_array_mut().unwrap() {
        let var = &mut task["__var"];
        if var["task_id"] == "left" {
            var["downstream_task_ids"] = serde_json::json!([]);
        }
    }
    doc.to_string()
}

fn zlib(text: &str) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.as_bytes()).unwrap();
    encoder.finish().unwrap()
}

/// Writes the version `version` of pw_graph's serialized DAG (Airflow 2 keeps one row per
/// DAG, so a new version replaces the old; Airflow 3 keeps every version).
async fn serialize(w: &World, version: &str, data: &str, compressed: bool) {
    let (text, bytes) = if compressed {
        (None, Some(zlib(data)))
    } else {
        (Some(data.to_string()), None)
    };
    let sql = if w.major == 2 {
        format!(
            "INSERT INTO {}.serialized_dag (dag_id, fileloc, fileloc_hash, data, data_compressed, \
             last_updated, dag_hash) VALUES ('pw_graph', '/dags/pw_graph.py', 1, $1::text::json, $2, \
             now(), $3) ON CONFLICT (dag_id) DO UPDATE SET data = EXCLUDED.data, \
             data_compressed = EXCLUDED.data_compressed, dag_hash = EXCLUDED.dag_hash",
            w.airflow
        )
    } else {
        format!(
            "INSERT INTO {}.serialized_dag (id, dag_id, data, data_compressed, created_at, \
             last_updated, dag_hash, dag_version_id) VALUES (gen_random_uuid(), 'pw_graph', \
             $1::text::jsonb, $2, now(), now(), md5($3::text), $3::text::uuid)",
            w.airflow
        )
    };
    w.client
        .execute(&sql, &[&text, &bytes, &version])
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// One run of pw_graph made by `version`, with the task instances described in the module
/// test below (times in seconds after 2025-03-01T01:00:00Z; the run 0 to 1,260).
async fn run_with_tasks(w: &World, run_id: &str, logical: &str, version: &str) {
    w.insert(&RunSpec {
        dag_id: "pw_graph".into(),
        run_id: run_id.into(),
        logical_date: Some(logical.into()),
        run_after: None,
        state: Some("success".into()),
        run_type: "scheduled".into(),
        start_date: Some("2025-03-01T01:00:00Z".into()),
        end_date: Some("2025-03-01T01:21:00Z".into()),
    })
    .await;
    let column = if w.major == 2 {
        "dag_hash = $1"
    } else {
        "created_dag_version_id = $1::text::uuid"
    };
    w.client
        .execute(
            &format!(
                "UPDATE {}.dag_run SET {column} WHERE dag_id = 'pw_graph' AND run_id = $2",
                w.airflow
            ),
            &[&version, &run_id],
        )
        .await
        .unwrap();
    let ok = Some("success");
    earlier(
        w,
        "pw_graph",
        Try::new(run_id, "extract_a", 1, Some("failed")).ran(180, 60),
    )
    .await;
    for t in [
        Try::new(run_id, "start", 1, ok).ran(60, 60),
        Try::new(run_id, "extract_a", 2, ok).ran(420, 120),
        Try::new(run_id, "extract_b", 1, ok).ran(180, 120),
        Try::new(run_id, "fan", 1, ok).map(0).ran(180, 180),
        Try::new(run_id, "fan", 1, ok).map(1).ran(180, 240),
        Try::new(run_id, "fan", 1, ok).map(2).ran(210, 270),
        Try::new(run_id, "tg.inner1", 1, ok).ran(600, 60),
        Try::new(run_id, "tg.inner2", 1, ok).ran(720, 60),
        Try::new(run_id, "branch", 1, ok).ran(840, 60),
        Try::new(run_id, "left", 1, ok).ran(960, 120),
        Try::new(run_id, "right", 1, Some("skipped")).ran(900, 0),
        Try::new(run_id, "join", 1, ok).ran(1140, 60),
    ] {
        current(w, "pw_graph", t).await;
    }
    if w.major == 3 {
        for table in ["task_instance", "task_instance_history"] {
            w.client
                .execute(
                    &format!(
                        "UPDATE {}.{table} SET dag_version_id = $1::text::uuid \
                         WHERE dag_id = 'pw_graph' AND run_id = $2",
                        w.airflow
                    ),
                    &[&version, &run_id],
                )
                .await
                .unwrap();
        }
    }
}

/// The path of a run: `task:dependency/retry/queue/run` per step (seconds), and its status.
async fn path(w: &World, run_id: &str) -> (String, String) {
    let row = w
        .client
        .query_one(
            &format!(
                "SELECT r.status || coalesce(': ' || r.reason, '') AS status, \
                 coalesce((SELECT string_agg(s.task_id || ':' || s.dependency_wait_seconds::float8 \
                   || '/' || s.retry_seconds::float8 || '/' || s.queue_wait_seconds::float8 || '/' \
                   || s.run_seconds::float8 || CASE WHEN s.map_count > 1 THEN 'x' || s.map_count ELSE '' END, \
                   ' ' ORDER BY s.step) FROM {wh}.dag_run_critical_path AS s \
                   WHERE s.dag_id = r.dag_id AND s.run_id = r.run_id), '') AS steps \
                 FROM {wh}.dag_run_critical_path_run AS r \
                 WHERE r.dag_id = 'pw_graph' AND r.run_id = $1",
                wh = w.warehouse
            ),
            &[&run_id],
        )
        .await
        .unwrap_or_else(|e| panic!("no critical path row for {run_id}: {e}"));
    (row.get("steps"), row.get("status"))
}

/// Runs whose computed parts do not add up to their duration exactly.
async fn untiled(w: &World) -> Vec<String> {
    w.query_strings(&format!(
        "SELECT r.run_id || ': ' || r.duration_seconds || ' <> ' || (r.scheduling_delay_seconds \
         + r.finish_delay_seconds + coalesce(s.parts, 0)) FROM {wh}.dag_run_critical_path_run AS r \
         LEFT JOIN (SELECT airflow_instance, dag_id, run_id, sum(dependency_wait_seconds \
           + retry_seconds + queue_wait_seconds + run_seconds) AS parts \
           FROM {wh}.dag_run_critical_path GROUP BY 1, 2, 3) AS s USING (airflow_instance, dag_id, run_id) \
         WHERE r.status = 'computed' AND r.duration_seconds IS DISTINCT FROM \
           r.scheduling_delay_seconds + r.finish_delay_seconds + coalesce(s.parts, 0)",
        wh = w.warehouse
    ))
    .await
}

#[tokio::test]
async fn each_run_is_walked_on_its_own_graph_version_and_its_parts_add_up() {
    for major in [2u8, 3] {
        let w = World::new(major, "").await;
        let (v1, v2) = if major == 2 {
            (
                "7962ff635988d3e1000fb1ae0f5a8a1c",
                "1f0a7b3c5d9e2f4a6b8c0d1e2f3a4b5c",
            )
        } else {
            (
                "01a25310-ac14-7624-9201-6a48d8652a1a",
                "01a25310-ac14-7624-9201-6a48d8652a1b",
            )
        };
        let (json, begin) = if major == 2 {
            // Airflow 2 records no scheduled time: a try begins when queued, 5 s before it
            // starts (tests/it/tasks.rs); Airflow 3's scheduled time is 7 s before.
            (AIRFLOW2, 5)
        } else {
            (AIRFLOW3, 7)
        };
        serialize(&w, v1, json, false).await;
        run_with_tasks(&w, "scheduled__2025-03-01", "2025-03-01T00:00:00Z", v1).await;
        w.run_ok(&["run"]);

        let wait = 60 - begin;
        // extract_a's first try (from task_instance_history, queued 5 s before it started, with
        // no scheduled time) began at 175 s; its second try at 420 s less `begin`.
        let retry = 245 - begin;
        let expected_v1 = format!(
            "start:0/0/{begin}/60 extract_a:55/{retry}/{begin}/120 tg.inner1:{wait}/0/{begin}/60 \
             tg.inner2:{wait}/0/{begin}/60 branch:{wait}/0/{begin}/60 left:{wait}/0/{begin}/120 \
             join:{wait}/0/{begin}/60"
        );
        assert_eq!(
            path(&w, "scheduled__2025-03-01").await,
            (expected_v1.clone(), "computed".to_string()),
            "Airflow {major}"
        );

        // The DAG file changes (left no longer feeds join), stored compressed; a second run is
        // made by the new version. Each run is judged on its own graph: Airflow 2 kept only the
        // new one, pipewatch still has the old.
        serialize(&w, v2, &without_left_to_join(json), true).await;
        run_with_tasks(&w, "scheduled__2025-03-02", "2025-03-02T00:00:00Z", v2).await;
        w.run_ok(&["run"]);
        w.run_ok(&["transform", "--full-refresh"]);
        assert_eq!(
            path(&w, "scheduled__2025-03-01").await,
            (expected_v1, "computed".to_string()),
            "Airflow {major}"
        );
        // join now follows the skipped branch, which ended when the branch task did (no wait).
        assert_eq!(
            path(&w, "scheduled__2025-03-02").await,
            (
                format!(
                    "start:0/0/{begin}/60 extract_a:55/{retry}/{begin}/120 tg.inner1:{wait}/0/{begin}/60 \
                     tg.inner2:{wait}/0/{begin}/60 branch:{wait}/0/{begin}/60 right:0/0/0/0 \
                     join:{}/0/{begin}/60",
                    240 - begin
                ),
                "computed".to_string()
            ),
            "Airflow {major}"
        );
        let versions = w
            .query_strings(&format!(
                "SELECT dag_version || ' ' || version_kind || ' ' || task_count || ' ' \
                 || coalesce(problem, 'usable') FROM {}.dag_graph_version ORDER BY dag_version",
                w.warehouse
            ))
            .await;
        let kind = if major == 2 {
            "dag_hash"
        } else {
            "dag_version_id"
        };
        let mut expected = vec![
            format!("{v1} {kind} 10 usable"),
            format!("{v2} {kind} 10 usable"),
        ];
        expected.sort();
        assert_eq!(versions, expected, "Airflow {major}");
        assert_eq!(untiled(&w).await, Vec::<String>::new(), "Airflow {major}");

        // A run made by a version pipewatch never read says so, and is never walked on
        // another version's graph; a task missing from its graph likewise.
        let ghost = if major == 2 {
            "00000000000000000000000000000000"
        } else {
            "00000000-0000-7000-8000-000000000000"
        };
        run_with_tasks(&w, "scheduled__2025-03-03", "2025-03-03T00:00:00Z", ghost).await;
        run_with_tasks(&w, "scheduled__2025-03-04", "2025-03-04T00:00:00Z", v1).await;
        current(
            &w,
            "pw_graph",
            Try::new("scheduled__2025-03-04", "renamed_task", 1, Some("success")).ran(30, 10),
        )
        .await;
        if major == 3 {
            w.exec(&format!(
                "UPDATE AF.task_instance SET dag_version_id = '{v1}' \
                 WHERE run_id = 'scheduled__2025-03-04'"
            ))
            .await;
        }
        // A slow run: left waits 10 minutes for a slot, and join and the run end that much later.
        run_with_tasks(&w, "scheduled__2025-03-05", "2025-03-05T00:00:00Z", v1).await;
        let scheduled = if major == 3 {
            ", scheduled_dttm = start_date + interval '10 min' - interval '7 seconds'"
        } else {
            ""
        };
        w.exec(&format!(
            "UPDATE AF.task_instance SET start_date = start_date + interval '10 min',                end_date = end_date + interval '10 min'              WHERE run_id = 'scheduled__2025-03-05' AND task_id = 'left';              UPDATE AF.task_instance SET start_date = start_date + interval '10 min',                end_date = end_date + interval '10 min',                queued_dttm = start_date + interval '10 min' - interval '5 seconds'{scheduled}              WHERE run_id = 'scheduled__2025-03-05' AND task_id = 'join';              UPDATE AF.dag_run SET end_date = end_date + interval '10 min'              WHERE run_id = 'scheduled__2025-03-05';"
        ))
        .await;
        w.run_ok(&["run"]);
        let (steps, status) = path(&w, "scheduled__2025-03-03").await;
        assert_eq!(steps, "");
        assert!(
            status.starts_with(&format!(
                "graph_unknown: no graph of DAG version {ghost} was read"
            )),
            "{status}"
        );
        let (steps, status) = path(&w, "scheduled__2025-03-04").await;
        assert_eq!(steps, "");
        assert_eq!(
            status,
            "task_not_in_graph: task renamed_task ran in the run but is not in its graph"
        );

        // Blame: the slow run is put on left's queue wait, against its own median.
        let blamed = w
            .query_strings(&format!(
                "SELECT run_id || ' ' || task_id || ' ' || grew_in || ' ' || excess_seconds || ': ' \
                 || explanation FROM {}.run_lateness_attribution WHERE dag_id = 'pw_graph'",
                w.warehouse
            ))
            .await;
        assert_eq!(
            blamed,
            [
                "scheduled__2025-03-05 left queue wait 600: left waited 10.1 min for a slot in pool \
              default_pool (usually 5.1 min)"
            ],
            "Airflow {major}"
        );
        // How often and how much each task held the day's runs up.
        let daily = w
            .query_strings(&format!(
                "SELECT day || ' ' || task_id || ' ' || runs_on_path || '/' || runs_computed || ' ' \
                 || contribution_seconds::float8 || ' ' || round(duration_share::numeric, 4) \
                 FROM {}.critical_path_daily WHERE task_id IN ('extract_a', 'left', 'right') \
                 ORDER BY day, task_id",
                w.warehouse
            ))
            .await;
        assert_eq!(
            daily,
            [
                "2025-03-01 extract_a 1/1 420 0.3333",
                "2025-03-01 left 1/1 180 0.1429",
                "2025-03-02 extract_a 1/1 420 0.3333",
                "2025-03-02 right 1/1 0 0.0000",
                "2025-03-05 extract_a 1/1 420 0.2258",
                "2025-03-05 left 1/1 780 0.4194",
            ],
            "Airflow {major}"
        );
        // Cost of the first day, by hand: 13 tries, 1,410 slot-seconds of which extract_a's
        // failed first try is 60, 5 s of queue per try on Airflow's queued time.
        let cost = w
            .query_strings(&format!(
                "SELECT tries || ' ' || slot_seconds || ' ' || wasted_slot_seconds || ' ' \
                 || round(wasted_share::numeric, 4) || ' ' || queue_slot_seconds \
                 FROM {}.dag_cost_daily WHERE day = '2025-03-01'",
                w.warehouse
            ))
            .await;
        assert_eq!(cost, ["13 1410 60 0.0426 65"], "Airflow {major}");

        // The README's query runs as shipped, on this warehouse, this DAG and these days.
        let readme =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
        let query = readme
            .split("```sql\n")
            .skip(1)
            .filter_map(|b| b.split("```").next())
            .find(|b| b.contains("FROM pipewatch.dag_run_critical_path\n"))
            .expect("the README's critical-path query");
        let query = query
            .replace("pipewatch.", &format!("{}.", w.warehouse))
            .replace("'daily_orders_etl'", "'pw_graph'")
            .replace("current_date - 7", "date '2025-03-01'");
        let rows = w.client.query(&query, &[]).await.unwrap();
        let shares: Vec<(String, i64)> = rows
            .iter()
            .map(|r| (r.get("task_id"), r.get("runs_on_path")))
            .collect();
        assert!(
            shares.contains(&("extract_a".to_string(), 3))
                && shares.contains(&("right".to_string(), 1)),
            "{shares:?}"
        );
    }
}
