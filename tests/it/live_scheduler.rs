//! What did not happen, with a real Airflow scheduler (and, on Airflow 3, a real DAG processor)
//! running against an empty metadata database of its own (`scripts/test` migrates
//! `pipewatch_live_af2` and `pipewatch_live_af3`): a DAG paused and unpaused, a DAG file broken
//! and mended, a DAG with `max_active_runs = 1` whose run hangs (its task waits for a pool set
//! to 0 slots), the scheduler killed and restarted. pipewatch reads the catalogue at each step;
//! the test checks the history, the statuses and that each alert opens once and resolves.
//! One test per Airflow version; each starts and stops its own scheduler (the steps need it
//! dead and alive again), about four minutes each, most of it waiting for Airflow's clock.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use crate::common::*;

/// The DAGs: `pw_live_stuck` every minute with `max_active_runs = 1` and a task in a pool of 0
/// slots (its first run hangs, and holds every later one back), `pw_live_pausable` hourly.
const LIVE_DAGS: &str = r#"from datetime import datetime

from airflow import DAG

try:
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2
    from airflow.operators.bash import BashOperator

with DAG("pw_live_stuck", schedule="* * * * *", start_date=datetime(2024, 1, 1), catchup=False,
         max_active_runs=1) as stuck:
    BashOperator(task_id="wait_for_a_slot", bash_command="true", pool="pw_live_zero",
                 owner="team-live")

# No task: its runs succeed without an executor (nothing here runs a task).
with DAG("pw_live_pausable", schedule="@hourly", start_date=datetime(2024, 1, 1),
         catchup=False) as pausable:
    pass
"#;

/// A DAG file that imports, and the same file broken.
const GOOD_FILE: &str = r#"from datetime import datetime

from airflow import DAG

with DAG("pw_live_broken", schedule="@daily", start_date=datetime(2024, 1, 1),
         catchup=False) as broken:
    pass
"#;
const BROKEN_FILE: &str = "# An airflow DAG file that fails to import, on purpose.\n\
                           from airflow import DAG\n\
                           raise RuntimeError(\"pw_live broken on purpose\")\n";

/// A real scheduler (and DAG processor) of Airflow `major`, as process groups of their own.
struct Airflow {
    major: u8,
    venv: String,
    env: Vec<(String, String)>,
    home: std::path::PathBuf,
    children: Vec<Child>,
}

impl Airflow {
    fn new(major: u8, database: &str, home: &Path) -> Self {
        let venv = env(&format!("PIPEWATCH_TEST_AIRFLOW{major}_VENV"));
        let dags = home.join("dags");
        std::fs::create_dir_all(&dags).unwrap();
        let mut env: Vec<(String, String)> = [
            ("AIRFLOW_HOME", home.to_str().unwrap().to_string()),
            (
                "AIRFLOW__CORE__DAGS_FOLDER",
                dags.to_str().unwrap().to_string(),
            ),
            ("AIRFLOW__CORE__LOAD_EXAMPLES", "False".into()),
            ("AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION", "False".into()),
            ("AIRFLOW__CORE__PARALLELISM", "2".into()),
            (
                "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN",
                format!(
                    "postgresql+psycopg2://{}@{}:{}/{database}",
                    pg_user(),
                    pg_host(),
                    pg_port()
                ),
            ),
            // Parse often, beat often: the test waits for Airflow's clock.
            ("AIRFLOW__SCHEDULER__MIN_FILE_PROCESS_INTERVAL", "2".into()),
            ("AIRFLOW__SCHEDULER__DAG_DIR_LIST_INTERVAL", "2".into()),
            ("AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC", "2".into()),
            (
                "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL",
                "2".into(),
            ),
            ("AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL", "2".into()),
            (
                "AIRFLOW__LOGGING__BASE_LOG_FOLDER",
                home.join("logs").to_str().unwrap().to_string(),
            ),
            (
                "AIRFLOW__API_AUTH__JWT_SECRET",
                "pipewatch-test-jwt-secret-0123456789abcdef".into(),
            ),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.push(("PYTHONWARNINGS".into(), "ignore".into()));
        // The executors start `airflow` by name.
        env.push((
            "PATH".into(),
            format!("{venv}/bin:{}", std::env::var("PATH").unwrap_or_default()),
        ));
        Airflow {
            major,
            venv,
            env,
            home: home.to_path_buf(),
            children: Vec::new(),
        }
    }

    fn write(&self, file: &str, text: &str) {
        std::fs::write(self.home.join("dags").join(file), text).unwrap();
    }

    /// Starts the scheduler (and, on Airflow 3, the DAG processor).
    fn start(&mut self) {
        use std::os::unix::process::CommandExt as _;
        let commands: &[&str] = if self.major == 2 {
            &["scheduler"]
        } else {
            &["scheduler", "dag-processor"]
        };
        for command in commands {
            let log = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(self.home.join(format!("{command}.log")))
                .unwrap();
            let child = Command::new(format!("{}/bin/airflow", self.venv))
                .arg(command)
                .envs(self.env.iter().map(|(k, v)| (k, v)))
                .stdin(Stdio::null())
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .process_group(0)
                .spawn()
                .unwrap_or_else(|e| panic!("start airflow {command}: {e}"));
            self.children.push(child);
        }
    }

    /// Kills every process of the scheduler and DAG processor at once (SIGKILL: a scheduler
    /// that dies leaves its job row `running` with an old heartbeat, as a crash does).
    fn kill(&mut self) {
        for mut child in self.children.drain(..) {
            let _ = Command::new("kill")
                .args(["-KILL", "--", &format!("-{}", child.id())])
                .status();
            let _ = child.wait();
        }
    }

    /// The end of a log, for a failure message.
    fn logs(&self) -> String {
        ["scheduler.log", "dag-processor.log"]
            .iter()
            .filter_map(|f| std::fs::read_to_string(self.home.join(f)).ok())
            .map(|t| {
                let lines: Vec<&str> = t.lines().collect();
                lines[lines.len().saturating_sub(30)..].join("\n")
            })
            .collect::<Vec<_>>()
            .join("\n----\n")
    }
}

impl Drop for Airflow {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Polls `sql` (one boolean) until it holds, for at most `seconds`.
async fn wait_until(client: &Client, airflow: &Airflow, sql: &str, seconds: u64) {
    let started = Instant::now();
    loop {
        let holds: bool = client.query_one(sql, &[]).await.unwrap().get(0);
        if holds {
            return;
        }
        if started.elapsed() > Duration::from_secs(seconds) {
            panic!(
                "Airflow {}: not within {seconds} s: {sql}\n{}",
                airflow.major,
                airflow.logs()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

async fn a_real_scheduler_and_what_did_not_happen(major: u8) {
    let database = env(&format!("PIPEWATCH_TEST_LIVE_AIRFLOW{major}_DATABASE"));
    let (meta, connection) = tokio_postgres::connect(
        &format!(
            "host={} port={} user={} dbname={database}",
            pg_host(),
            pg_port(),
            pg_user()
        ),
        NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    meta.batch_execute(
        "INSERT INTO slot_pool (pool, slots, description, include_deferred) \
         VALUES ('pw_live_zero', 0, 'a pool emptied by mistake', false)",
    )
    .await
    .unwrap();
    let dir = TempDir::new();
    let mut airflow = Airflow::new(major, &database, &dir.path().join("airflow"));
    airflow.write("live.py", LIVE_DAGS);
    airflow.write("broken.py", GOOD_FILE);
    airflow.start();
    // The DAGs parsed, the stuck DAG's first run created and its task waiting for the pool.
    wait_until(
        &meta,
        &airflow,
        "SELECT count(*) = 3 FROM dag WHERE dag_id LIKE 'pw_live_%'",
        180,
    )
    .await;
    wait_until(
        &meta,
        &airflow,
        "SELECT EXISTS (SELECT 1 FROM task_instance WHERE dag_id = 'pw_live_stuck' \
         AND state = 'scheduled')",
        120,
    )
    .await;

    let warehouse = unique("wh_live");
    let config = write_config(
        dir.path(),
        &format!(
            "{}[staging]\nbackend = local\n[airflowdb_config]\nhost = {}\nport = {}\n\
             username = {}\ndatabase = {database}\n\
             [alerts]\ncooldown_minutes = 0\nblocked_minutes = 1\nimport_error_minutes = 0\n",
            warehouse_section(&warehouse),
            pg_host(),
            pg_port(),
            pg_user()
        ),
    );
    let run = |what: &str| {
        let run = pipewatch(
            dir.path(),
            &["--config", config.to_str().unwrap(), "run"],
            &[],
        );
        assert_eq!(run.code, 0, "Airflow {major}, {what}: {run:?}");
        run
    };
    let client = pg().await;
    let strings = async |sql: &str| -> Vec<String> {
        client
            .query(&sql.replace("WH.", &format!("{warehouse}.")), &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    let alerts = "SELECT concat_ws('|', rule, subject, CASE WHEN resolved_at IS NULL \
                  THEN 'open' ELSE 'resolved' END) FROM WH.alert_history ORDER BY rule, subject";
    run("first reading");

    // A DAG paused in the UI; a DAG file broken.
    meta.batch_execute("UPDATE dag SET is_paused = true WHERE dag_id = 'pw_live_pausable'")
        .await
        .unwrap();
    airflow.write("broken.py", BROKEN_FILE);
    wait_until(
        &meta,
        &airflow,
        "SELECT EXISTS (SELECT 1 FROM import_error WHERE filename LIKE '%broken.py' \
         AND stacktrace LIKE '%pw_live broken on purpose%')",
        120,
    )
    .await;
    // The hanging run is older than blocked_minutes (1).
    wait_until(
        &meta,
        &airflow,
        "SELECT EXISTS (SELECT 1 FROM dag_run WHERE dag_id = 'pw_live_stuck' \
         AND state = 'running' AND start_date < now() - interval '65 seconds')",
        180,
    )
    .await;
    run("broken and paused");
    let stuck_run: String = meta
        .query_one(
            "SELECT run_id FROM dag_run WHERE dag_id = 'pw_live_stuck' AND state = 'running'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    let statuses = strings(
        "SELECT dag_id || ' ' || status || ' ' || coalesce(blocking_run_id, '-') \
         FROM WH.dag_schedule_status WHERE dag_id IN ('pw_live_stuck', 'pw_live_pausable') \
         ORDER BY dag_id",
    )
    .await;
    assert_eq!(
        statuses,
        [
            "pw_live_pausable paused -".to_string(),
            format!("pw_live_stuck blocked {stuck_run}"),
        ],
        "Airflow {major}"
    );
    assert_eq!(
        strings(alerts).await,
        [
            "blocked|pw_live_stuck|open",
            &format!(
                "import_error|{}|open",
                if major == 2 {
                    format!("{}/dags/broken.py", airflow.home.to_str().unwrap())
                } else {
                    "dags-folder/broken.py".to_string()
                }
            ),
            "pool_empty|pw_live_zero|open",
        ],
        "Airflow {major}"
    );

    // Mended and unpaused.
    airflow.write("broken.py", GOOD_FILE);
    meta.batch_execute("UPDATE dag SET is_paused = false WHERE dag_id = 'pw_live_pausable'")
        .await
        .unwrap();
    wait_until(
        &meta,
        &airflow,
        "SELECT NOT EXISTS (SELECT 1 FROM import_error WHERE filename LIKE '%broken.py')",
        120,
    )
    .await;
    run("mended and unpaused");
    assert_eq!(
        strings(
            "SELECT concat_ws('|', filename LIKE '%broken.py', first_line IS NOT NULL, \
             last_line, resolved_at IS NOT NULL) FROM WH.import_error_history"
        )
        .await,
        ["t|t|RuntimeError: pw_live broken on purpose|t"],
        "Airflow {major}: one episode, resolved"
    );
    assert_eq!(
        strings(
            "SELECT is_paused::text FROM WH.dag_catalog_history \
             WHERE dag_id = 'pw_live_pausable' ORDER BY valid_from"
        )
        .await,
        ["false", "true", "false"],
        "Airflow {major}: the pause and the unpause"
    );
    assert_eq!(
        strings(
            "SELECT concat_ws('|', count(*), count(resolved_at)) FROM WH.alert_history \
             WHERE rule = 'import_error'"
        )
        .await,
        ["1|1"],
        "Airflow {major}: one import-error alert, resolved"
    );

    // The scheduler dies: its heartbeat gets older than 120 s.
    airflow.kill();
    wait_until(
        &meta,
        &airflow,
        "SELECT max(latest_heartbeat) < now() - interval '125 seconds' FROM job \
         WHERE job_type = 'SchedulerJob'",
        240,
    )
    .await;
    run("scheduler dead");
    let with_scheduler_down = strings(alerts).await;
    assert!(
        with_scheduler_down.contains(&"scheduler_down|scheduler|open".to_string()),
        "Airflow {major}: {with_scheduler_down:?}"
    );
    // Read again: nothing opens twice.
    run("scheduler still dead");
    assert_eq!(
        strings(alerts).await,
        with_scheduler_down,
        "Airflow {major}"
    );

    // Restarted: resolved.
    airflow.start();
    wait_until(
        &meta,
        &airflow,
        "SELECT max(latest_heartbeat) > now() - interval '10 seconds' FROM job \
         WHERE job_type = 'SchedulerJob' AND state = 'running'",
        180,
    )
    .await;
    run("scheduler back");
    assert!(
        strings(alerts)
            .await
            .contains(&"scheduler_down|scheduler|resolved".to_string()),
        "Airflow {major}: {:?}",
        strings(alerts).await
    );
    airflow.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_scheduler_and_what_did_not_happen_airflow2() {
    a_real_scheduler_and_what_did_not_happen(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_scheduler_and_what_did_not_happen_airflow3() {
    a_real_scheduler_and_what_did_not_happen(3).await;
}
