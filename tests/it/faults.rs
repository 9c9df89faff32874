//! The fault-injection suite: on a source of 200,000 DAG runs (and 100,000 task tries),
//! pipewatch is killed with SIGKILL at each stage boundary and in the middle of each COPY
//! (extract, load) and of the transform; the warehouse is restarted in the middle of a load;
//! the S3 server is stopped in the middle of a multipart upload; the kills in the COPYs strike
//! with a local stage and with S3. Apart, the warehouse restarts during alert evaluation. After each, pipewatch is run
//! again, and the warehouse must equal one filled by a clean run: row counts and a checksum of
//! dag_run_history, task_run_history and every daily model (bookkeeping columns aside).
//!
//! It brings its own PostgreSQL cluster (restarting the shared one would disturb the other
//! tests) and its own S3 server, both on free loopback ports.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use crate::common::*;

const RUNS: u32 = 200_000;
const RUNS_WITH_TASKS: u32 = 5_000;

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// `program args` as the owner of PostgreSQL's files (postgres when running as root).
fn as_pg_owner(program: &Path, args: &[&str]) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program).args(args);
        cmd
    } else {
        let mut cmd = Command::new(program);
        cmd.args(args);
        cmd
    }
}

fn must(mut cmd: Command, what: &str) {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(
        out.status.success(),
        "{what}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A private PostgreSQL cluster: the Airflow source and the warehouse of this suite.
struct Cluster {
    dir: TempDir,
    port: u16,
    bin: PathBuf,
}

impl Cluster {
    fn start() -> Self {
        let bin = PathBuf::from(env("PIPEWATCH_TEST_PG_BIN"));
        let dir = TempDir::new();
        let data = dir.path().join("data");
        std::fs::create_dir_all(&data).unwrap();
        if is_root() {
            must(
                {
                    let mut c = Command::new("chown");
                    c.args(["-R", "postgres:"]).arg(dir.path());
                    c
                },
                "chown the cluster folder",
            );
        }
        let data_s = data.to_str().unwrap();
        must(
            as_pg_owner(
                &bin.join("initdb"),
                &[
                    "-D",
                    data_s,
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--no-locale",
                    "-E",
                    "UTF8",
                ],
            ),
            "initdb",
        );
        let cluster = Cluster {
            port: closed_port(),
            dir,
            bin,
        };
        cluster.pg_ctl("start");
        cluster
    }

    /// A cluster with an empty warehouse database and an `airflow` database holding Airflow
    /// 2's dag_run, task_instance and catalogue tables.
    fn with_airflow2() -> Self {
        let cluster = Cluster::start();
        cluster.psql(
            "postgres",
            &[
                "-c",
                "CREATE DATABASE airflow",
                "-c",
                "CREATE DATABASE warehouse",
            ],
        );
        cluster.psql(
            "airflow",
            &[
                "-f",
                "tests/fixtures/airflow/dag_run_airflow2.sql",
                "-f",
                "tests/fixtures/airflow/task_instance_airflow2.sql",
                "-f",
                "tests/fixtures/airflow/catalog_airflow2.sql",
            ],
        );
        cluster
    }

    fn data(&self) -> String {
        self.dir.path().join("data").to_str().unwrap().to_string()
    }

    fn pg_ctl(&self, action: &str) {
        let options = format!(
            "-c listen_addresses=127.0.0.1 -p {} -k {} -c fsync=off -c max_connections=100",
            self.port,
            self.data()
        );
        let log = format!("{}/server.log", self.data());
        let data = self.data();
        let mut args = vec!["-D", data.as_str(), "-w", "-t", "60", "-l", log.as_str()];
        if action != "stop" {
            args.extend(["-o", options.as_str()]);
        }
        args.extend(["-m", "fast", action]);
        must(as_pg_owner(&self.bin.join("pg_ctl"), &args), action);
    }

    fn psql(&self, database: &str, args: &[&str]) {
        let port = self.port.to_string();
        let mut all = vec![
            "-X",
            "-q",
            "-v",
            "ON_ERROR_STOP=1",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-d",
            database,
        ];
        all.extend_from_slice(args);
        let mut cmd = Command::new(self.bin.join("psql"));
        cmd.args(&all).current_dir(env!("CARGO_MANIFEST_DIR"));
        must(cmd, &format!("psql {args:?}"));
    }

    async fn client(&self, database: &str) -> Client {
        let (client, connection) = tokio_postgres::connect(
            &format!(
                "host=127.0.0.1 port={} user=postgres dbname={database}",
                self.port
            ),
            NoTls,
        )
        .await
        .unwrap();
        tokio::spawn(connection);
        client
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let data = self.data();
        let _ = as_pg_owner(
            &self.bin.join("pg_ctl"),
            &["-D", &data, "-m", "immediate", "stop"],
        )
        .output();
    }
}

/// The suite's own S3 server (s3s-fs), which it can stop and start again.
struct S3Server {
    child: Option<Child>,
    port: u16,
    data: TempDir,
}

impl S3Server {
    fn start() -> Self {
        let mut server = S3Server {
            child: None,
            port: closed_port(),
            data: TempDir::new(),
        };
        server.up();
        server
    }

    fn up(&mut self) {
        let child = Command::new(env("PIPEWATCH_TEST_S3S_BIN"))
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", "fault-key", "--secret-key", "fault-secret"])
            .arg(self.data.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start s3s-fs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn down(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.down();
    }
}

/// Bookkeeping columns that differ between two correct runs (who loaded, when it was read or
/// computed); everything else must be equal.
const BOOKKEEPING: &str =
    "{loaded_by_run_id,computed_at,computed_by_run_id,source_read_at,loaded_at,first_loaded_at}";

const TABLES: [&str; 9] = [
    "dag_run_history",
    "task_run_history",
    "dag_history_daily",
    "dag_success_daily",
    "dag_runtime_daily",
    "dag_delay_daily",
    "task_daily",
    "validator_summary_daily",
    "validation_test_daily",
];

/// `table: rows md5` for every compared table of `schema`.
async fn fingerprint(client: &Client, schema: &str) -> Vec<String> {
    let mut out = Vec::new();
    for table in TABLES {
        let row = client
            .query_one(
                &format!(
                    "SELECT count(*), coalesce(md5(string_agg(r, E'\\n' ORDER BY r)), '-') \
                     FROM (SELECT (to_jsonb(t) - '{BOOKKEEPING}'::text[])::text AS r FROM {schema}.{table} AS t) AS x"
                ),
                &[],
            )
            .await
            .unwrap();
        out.push(format!(
            "{table}: {} rows {}",
            row.get::<_, i64>(0),
            row.get::<_, String>(1)
        ));
    }
    out
}

/// Where the fault strikes.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// SIGKILL while the extract's COPY streams out of Airflow.
    KillInExtractCopy,
    /// SIGKILL while the load's COPY streams into the warehouse.
    KillInLoadCopy,
    /// SIGKILL while the transform writes the daily models.
    KillInTransform,
    /// SIGKILL at the start of a stage (its run-log row being written).
    KillAtStageStart(&'static str),
    /// The warehouse restarts (pg_ctl restart -m fast) while the load's COPY streams.
    RestartWarehouseInLoadCopy,
    /// The S3 server stops while the extract's multipart upload is under way, and comes back.
    StopS3InUpload,
}

struct Suite {
    cluster: Cluster,
    warehouse: Client,
    dir: TempDir,
}

impl Suite {
    fn config(&self, schema: &str, staging: &str) -> PathBuf {
        let text = format!(
            "[retry]\nattempts = 2\ninitial_backoff_seconds = 1\n\
             [warehouse]\nhost = 127.0.0.1\nport = {port}\nusername = postgres\ndatabase = warehouse\nschema = {schema}\nstatement_timeout_seconds = 0\nlock_wait_seconds = 120\n\
             [airflowdb_config]\nhost = 127.0.0.1\nport = {port}\nusername = postgres\ndatabase = airflow\nstatement_timeout_seconds = 0\n\
             {staging}",
            port = self.cluster.port
        );
        let path = self.dir.path().join(format!("{schema}.conf"));
        std::fs::write(&path, text).unwrap();
        path
    }

    fn spawn(&self, config: &Path, command: &str) -> Child {
        Command::new(env!("CARGO_BIN_EXE_pipewatch"))
            .args(["--config", config.to_str().unwrap(), command])
            .current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start pipewatch")
    }

    fn run(&self, config: &Path) -> Run {
        pipewatch(
            self.dir.path(),
            &["--config", config.to_str().unwrap(), "run"],
            &[],
        )
    }

    /// Whether a pipewatch session is running a statement matching `pattern` on `database`.
    async fn active(&self, database: &str, pattern: &str) -> bool {
        let rows = self
            .warehouse
            .query(
                "SELECT 1 FROM pg_stat_activity WHERE application_name LIKE 'pipewatch %' \
                 AND state = 'active' AND datname = $1 AND query ILIKE $2",
                &[&database, &pattern],
            )
            .await
            .unwrap_or_default();
        !rows.is_empty()
    }
}

/// Waits until `reached` says the fault point is there (true) or `child` ended (false).
async fn wait_for(child: &mut Child, mut reached: impl AsyncFnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        if reached().await {
            return true;
        }
        if child.try_wait().unwrap().is_some() {
            return false;
        }
        assert!(
            Instant::now() < deadline,
            "pipewatch neither reached the fault point nor ended"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_any_kill_restart_or_outage_a_rerun_equals_a_clean_run() {
    let cluster = Cluster::with_airflow2();
    cluster.psql(
        "airflow",
        &[
            "-v",
            &format!("rows={RUNS}"),
            "-v",
            "first_id=1",
            "-f",
            "benches/airflow2_dag_runs.sql",
            "-v",
            &format!("runs={RUNS_WITH_TASKS}"),
            "-f",
            "benches/airflow2_task_instances.sql",
        ],
    );
    let warehouse = cluster.client("warehouse").await;
    let suite = Suite {
        cluster,
        warehouse,
        dir: TempDir::new(),
    };
    let local = |name: &str| {
        format!(
            "[staging]\nlocal_directory = {}\n",
            suite.dir.path().join(name).display()
        )
    };

    // The reference: one clean run.
    let clean = suite.run(&suite.config("clean", &local("stage_clean")));
    assert_eq!(clean.code, 0, "clean run: {clean:?}");
    let expected = fingerprint(&suite.warehouse, "clean").await;
    assert!(
        expected[0].starts_with(&format!("dag_run_history: {RUNS} rows")),
        "{expected:?}"
    );
    assert!(
        !expected[1].starts_with("task_run_history: 0 rows"),
        "{expected:?}"
    );

    let mut s3 = S3Server::start();
    let s3_client = {
        let config = aws_sdk_s3::Config::builder()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new("us-east-1"))
            .endpoint_url(format!("http://127.0.0.1:{}", s3.port))
            .force_path_style(true)
            .credentials_provider(aws_sdk_s3::config::Credentials::new(
                "fault-key",
                "fault-secret",
                None,
                None,
                "test",
            ))
            .build();
        aws_sdk_s3::Client::from_conf(config)
    };
    s3_client
        .create_bucket()
        .bucket("faults")
        .send()
        .await
        .unwrap();

    // Each fault with the stage it strikes: a local folder, or S3 (true).
    let faults = [
        (Fault::KillInExtractCopy, false),
        (Fault::KillInExtractCopy, true),
        (Fault::KillAtStageStart("load"), false),
        (Fault::KillInLoadCopy, false),
        (Fault::KillInLoadCopy, true),
        (Fault::KillAtStageStart("transform"), false),
        (Fault::KillInTransform, false),
        (Fault::KillAtStageStart("retention"), false),
        (Fault::StopS3InUpload, true),
        // Last: the suite's own connection does not survive it.
        (Fault::RestartWarehouseInLoadCopy, false),
    ];
    for (i, (fault, on_s3)) in faults.into_iter().enumerate() {
        let schema = format!("faulted_{i}");
        let staging = match on_s3 {
            true => format!(
                "[staging]\nbackend = s3\nbucket = faults\nprefix = {schema}/\nendpoint_url = http://127.0.0.1:{}\naccess_key_id = fault-key\nsecret_access_key = fault-secret\ntimeout_seconds = 10\n",
                s3.port
            ),
            false => local(&format!("stage_{schema}")),
        };
        let config = suite.config(&schema, &staging);
        if let Fault::KillAtStageStart(stage) = fault {
            // The stage's run-log row waits two seconds as it is written: pipewatch is killed
            // exactly at the boundary into that stage.
            let run = pipewatch(
                suite.dir.path(),
                &["--config", config.to_str().unwrap(), "migrate"],
                &[],
            );
            assert_eq!(run.code, 0, "{run:?}");
            suite
                .warehouse
                .batch_execute(&format!(
                    "CREATE FUNCTION {schema}.stall() RETURNS trigger LANGUAGE plpgsql AS $$
                     BEGIN IF NEW.stage = '{stage}' AND NEW.outcome = 'running' THEN PERFORM pg_sleep(2); END IF; RETURN NEW; END $$;
                     CREATE TRIGGER stall AFTER INSERT ON {schema}.pipewatch_run_log
                     FOR EACH ROW EXECUTE FUNCTION {schema}.stall();"
                ))
                .await
                .unwrap();
        }
        let mut child = suite.spawn(&config, "run");
        let reached = match fault {
            Fault::KillInExtractCopy | Fault::StopS3InUpload => {
                wait_for(&mut child, async || {
                    suite.active("airflow", "%COPY%TO STDOUT%").await
                })
                .await
            }
            Fault::KillInLoadCopy | Fault::RestartWarehouseInLoadCopy => {
                wait_for(&mut child, async || {
                    suite.active("warehouse", "%COPY%FROM STDIN%").await
                })
                .await
            }
            Fault::KillInTransform => {
                // An incremental transform's dag_runtime_daily statement, or a full refresh's
                // one-pass statement (longer than pg_stat_activity keeps: found by its first
                // line).
                wait_for(&mut child, async || {
                    suite
                        .active("warehouse", "%INSERT INTO dag_runtime_daily%")
                        .await
                        || suite
                            .active("warehouse", "-- For a full refresh: dag_history_daily%")
                            .await
                })
                .await
            }
            Fault::KillAtStageStart(_) => {
                wait_for(&mut child, async || {
                    suite
                        .active("warehouse", "%INSERT INTO pipewatch_run_log%")
                        .await
                        && sleeping(&suite.warehouse, "warehouse").await
                })
                .await
            }
        };
        assert!(
            reached,
            "{fault:?} (S3: {on_s3}): pipewatch ended before the fault point"
        );
        match fault {
            Fault::RestartWarehouseInLoadCopy => suite.cluster.pg_ctl("restart"),
            Fault::StopS3InUpload => {
                // Wait until a multipart upload has a part on the server (s3s-fs keeps parts as
                // `.upload_id-<id>.part-<n>` files until the upload completes), then pull the
                // server away and bring it back.
                let deadline = Instant::now() + Duration::from_secs(20);
                loop {
                    let open = files_under(s3.data.path())
                        .iter()
                        .any(|p| p.to_string_lossy().contains(".upload_id-"));
                    if open {
                        break;
                    }
                    assert!(
                        Instant::now() < deadline && child.try_wait().unwrap().is_none(),
                        "no multipart upload was seen under way"
                    );
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                s3.down();
                tokio::time::sleep(Duration::from_secs(1)).await;
                s3.up();
            }
            _ => child.kill().unwrap(),
        }
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        if let Some(mut pipe) = child.stderr.take() {
            use std::io::Read;
            pipe.read_to_string(&mut stderr).unwrap();
        }
        if matches!(fault, Fault::RestartWarehouseInLoadCopy) && !status.success() {
            // The message says the load failed, not that a table may be missing.
            assert!(!stderr.contains("pipewatch migrate"), "{stderr}");
            assert!(stderr.contains("load of"), "{stderr}");
        }
        if matches!(fault, Fault::KillAtStageStart(_)) {
            suite
                .warehouse
                .batch_execute(&format!("DROP TRIGGER stall ON {schema}.pipewatch_run_log"))
                .await
                .ok();
        }
        // The suite's own connection does not survive a warehouse restart.
        let warehouse = if matches!(fault, Fault::RestartWarehouseInLoadCopy) {
            Some(suite.cluster.client("warehouse").await)
        } else {
            None
        };
        let observer = warehouse.as_ref().unwrap_or(&suite.warehouse);
        // Run again (a second time at most: the first may have to wait for a dying session's
        // lock) until it succeeds.
        let mut rerun = suite.run(&config);
        if rerun.code != 0 {
            rerun = suite.run(&config);
        }
        assert_eq!(
            rerun.code, 0,
            "{fault:?} (S3: {on_s3}, first exit {status:?}): {rerun:?}"
        );
        let got = fingerprint(observer, &schema).await;
        assert_eq!(
            got, expected,
            "{fault:?} (S3: {on_s3}): the warehouse differs from a clean run's"
        );
        let running = observer
            .query(
                &format!("SELECT 1 FROM {schema}.staged_extract WHERE loaded_at IS NULL AND discarded_at IS NULL"),
                &[],
            )
            .await
            .unwrap();
        assert!(
            running.is_empty(),
            "{fault:?} (S3: {on_s3}): extracts left pending"
        );
        if let (Fault::KillInExtractCopy, false) = (fault, on_s3) {
            let leftovers: Vec<PathBuf> =
                files_under(&suite.dir.path().join(format!("stage_{schema}")))
                    .into_iter()
                    .filter(|p| p.to_string_lossy().contains(".partial-"))
                    .collect();
            assert!(leftovers.is_empty(), "{leftovers:?}");
        }
    }
}

/// Whether a session of `database` on the cluster sleeps in a stalling trigger now.
async fn sleeping(observer: &Client, database: &str) -> bool {
    !observer
        .query(
            "SELECT 1 FROM pg_stat_activity WHERE wait_event = 'PgSleep' AND datname = $1",
            &[&database],
        )
        .await
        .unwrap_or_default()
        .is_empty()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_warehouse_restart_during_alert_evaluation_loses_no_alert_and_no_notice() {
    // The warehouse restarts (pg_ctl restart -m fast) twice while `alerts --evaluate` works:
    // first inside the ledger's transaction (an alert's row being inserted), then while a
    // posted notice is being marked. Nothing may be lost: the alert exists once, its opening is
    // posted exactly once (the rolled-back transaction posted nothing), and its resolution is
    // posted at least once (at most twice: the webhook had it before the mark was lost, which
    // the README documents as at-least-once delivery).
    let cluster = Cluster::with_airflow2();
    let airflow = cluster.client("airflow").await;
    // orders: 4 successful runs a day for a week, then 1 of 4 in the last day (a success-rate
    // drop). Times count back from now, not from midnight: in the first hours of a UTC day,
    // runs at today's 01:00-03:00 would lie in the future and the drop would not be seen yet.
    let base =
        chrono::DurationRound::duration_trunc(chrono::Utc::now(), chrono::Duration::hours(1))
            .unwrap()
            - chrono::Duration::hours(6);
    for days_ago in 0..=7 {
        for n in 0..4i64 {
            let logical =
                (base - chrono::Duration::days(days_ago) + chrono::Duration::hours(n)).to_rfc3339();
            let state = if days_ago > 0 || n == 0 {
                "success"
            } else {
                "failed"
            };
            insert_run(
                &airflow,
                "public",
                2,
                &RunSpec::finished("orders", &logical, state),
            )
            .await;
        }
    }
    let (url, mut posted) = webhook_server(vec![]).await;
    let warehouse = cluster.client("warehouse").await;
    let suite = Suite {
        cluster,
        warehouse,
        dir: TempDir::new(),
    };
    let staging = format!(
        "[staging]\nlocal_directory = {}\n",
        suite.dir.path().join("stage").display()
    );
    let quiet = suite.config("alerting", &staging);
    let loud = suite.dir.path().join("alerting-alerts.conf");
    std::fs::write(
        &loud,
        std::fs::read_to_string(&quiet).unwrap()
            + &format!(
                "[alerts]\nwebhook_url = {url}\nsuccess_rate_drop = 0.2\nsuccess_rate_min_runs = 3\n\
                 freshness_hours = false\nruntime_mad_multiple = false\n\
                 consecutive_breaches = 1\ncooldown_minutes = 0\n"
            ),
    )
    .unwrap();
    // Loaded without [alerts]: `run` would judge and post at once.
    let loaded = suite.run(&quiet);
    assert_eq!(loaded.code, 0, "{loaded:?}");

    // 1. A restart inside the ledger's transaction.
    suite
        .warehouse
        .batch_execute(
            "CREATE FUNCTION alerting.stall() RETURNS trigger LANGUAGE plpgsql AS $$
             BEGIN PERFORM pg_sleep(5); RETURN NEW; END $$;
             CREATE TRIGGER stall AFTER INSERT ON alerting.alert_history
             FOR EACH ROW EXECUTE FUNCTION alerting.stall();",
        )
        .await
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .args(["--config", loud.to_str().unwrap(), "alerts", "--evaluate"])
        .current_dir(suite.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    assert!(
        wait_for(&mut child, async || sleeping(&suite.warehouse, "warehouse")
            .await)
        .await,
        "alerts --evaluate ended before inserting the alert"
    );
    suite.cluster.pg_ctl("restart");
    let status = child.wait().unwrap();
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(!status.success(), "the restart went unnoticed: {stderr}");
    assert!(
        stderr.contains("alert"),
        "the error names the alerts: {stderr}"
    );
    assert!(
        posted_texts(&mut posted).is_empty(),
        "nothing is posted for a transaction that did not commit"
    );
    let observer = suite.cluster.client("warehouse").await;
    observer
        .batch_execute("DROP TRIGGER stall ON alerting.alert_history")
        .await
        .unwrap();
    let ledger = async || -> Vec<String> {
        observer
            .query(
                "SELECT concat_ws('|', rule, subject, \
                 CASE WHEN resolved_at IS NULL THEN 'open' ELSE 'resolved' END, \
                 open_notified_at IS NOT NULL, resolve_notified_at IS NOT NULL) \
                 FROM alerting.alert_history ORDER BY opened_at",
                &[],
            )
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    };
    assert!(ledger().await.is_empty(), "{:?}", ledger().await);
    let again = pipewatch(
        suite.dir.path(),
        &["--config", loud.to_str().unwrap(), "alerts", "--evaluate"],
        &[],
    );
    assert!(again.code == 0 || again.code == 1, "{again:?}");
    let texts = posted_texts(&mut posted);
    assert_eq!(texts.len(), 1, "the opening posted once: {texts:?}");
    assert!(texts[0].contains("pipewatch alert OPENED"), "{texts:?}");
    assert_eq!(ledger().await, ["success_rate_drop|orders|open|t|f"]);

    // 2. A restart while the posted resolution is being marked. The failed runs are cleared
    // and succeed: the last day holds no failure any more.
    let airflow = suite.cluster.client("airflow").await;
    airflow
        .batch_execute(
            "UPDATE public.dag_run SET state = 'success', updated_at = now() \
             WHERE dag_id = 'orders' AND state = 'failed'",
        )
        .await
        .unwrap();
    let loaded = pipewatch(
        suite.dir.path(),
        &["--config", quiet.to_str().unwrap(), "run", "--full"],
        &[],
    );
    assert_eq!(loaded.code, 0, "{loaded:?}");
    observer
        .batch_execute(
            "CREATE TRIGGER stall AFTER UPDATE ON alerting.alert_history FOR EACH ROW \
             WHEN (NEW.resolve_notified_at IS NOT NULL AND OLD.resolve_notified_at IS NULL) \
             EXECUTE FUNCTION alerting.stall();",
        )
        .await
        .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .args(["--config", loud.to_str().unwrap(), "alerts", "--evaluate"])
        .current_dir(suite.dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    assert!(
        wait_for(&mut child, async || sleeping(&observer, "warehouse").await).await,
        "alerts --evaluate ended before marking the resolution"
    );
    suite.cluster.pg_ctl("restart");
    child.wait().unwrap();
    let observer = suite.cluster.client("warehouse").await;
    observer
        .batch_execute("DROP TRIGGER stall ON alerting.alert_history")
        .await
        .unwrap();
    let first = posted_texts(&mut posted);
    assert_eq!(
        first.len(),
        1,
        "the resolution reached the webhook: {first:?}"
    );
    assert!(first[0].contains("pipewatch alert RESOLVED"), "{first:?}");
    let again = pipewatch(
        suite.dir.path(),
        &["--config", loud.to_str().unwrap(), "alerts", "--evaluate"],
        &[],
    );
    assert!(again.code == 0 || again.code == 1, "{again:?}");
    let texts = posted_texts(&mut posted);
    assert!(
        texts.len() <= 1 && texts.iter().all(|t| t.contains("pipewatch alert RESOLVED")),
        "posted again at most once: {texts:?}"
    );
    let rows: Vec<String> = observer
        .query(
            "SELECT concat_ws('|', rule, subject, \
             CASE WHEN resolved_at IS NULL THEN 'open' ELSE 'resolved' END, \
             open_notified_at IS NOT NULL, resolve_notified_at IS NOT NULL) \
             FROM alerting.alert_history",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(rows, ["success_rate_drop|orders|resolved|t|t"]);
    // Marked now: a further evaluation posts nothing.
    pipewatch(
        suite.dir.path(),
        &["--config", loud.to_str().unwrap(), "alerts", "--evaluate"],
        &[],
    );
    assert!(posted_texts(&mut posted).is_empty());
}
