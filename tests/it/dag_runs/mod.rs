//! DAG-run history: extract from Airflow 2 and 3, stage as CSV in a folder or S3, load into
//! dag_run_history. No run lost, none duplicated. Against the real PostgreSQL and S3 server that
//! `scripts/test` starts; each test has its own Airflow schema, warehouse schema, folder, bucket.
//!
//! Modules by subject; the helpers several of them use are here.

mod extract;
mod failures;
mod load;
mod operations;
mod poisoned;

use tokio_postgres::Client;

/// `[extract]` settings that leave out the periodic changed-run scan.
const NO_SCAN: &str = "[extract]\nchanged_runs_scan_interval_minutes = 10080\n";

/// Waits until a pipewatch backend of the test database is blocked on a lock; returns its pid.
pub(super) async fn wait_for_blocked_load(client: &Client) -> i32 {
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

pub(super) async fn wait_until_gone(client: &Client, pid: i32) {
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
