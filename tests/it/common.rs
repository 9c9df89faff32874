//! Helpers shared by the integration tests: the services that `scripts/test` starts (a real
//! PostgreSQL and a real S3-compatible server), per-test schemas and buckets, and running the
//! `pipewatch` binary. A test that needs a service and does not find it fails, saying how to run
//! the suite; nothing is skipped.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use aws_sdk_s3::config::{
    BehaviorVersion, Credentials, Region, RequestChecksumCalculation, ResponseChecksumValidation,
};
use tokio_postgres::{Client, NoTls};

/// An environment variable that `scripts/test` sets; panics with instructions when missing.
pub fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: the integration tests need the PostgreSQL and S3 servers that \
             scripts/test starts; run the suite with `scripts/test` (add `-- TEST_NAME` to pick tests)"
        )
    })
}

/// A short random suffix for schema, bucket and folder names.
pub fn unique(prefix: &str) -> String {
    let id = uuid::Uuid::now_v7().simple().to_string();
    // The random tail of a v7 UUID; the head is the timestamp, shared by tests started together.
    format!("{prefix}_{}", &id[20..])
}

/// Connection details of the test PostgreSQL.
pub fn pg_host() -> String {
    env("PIPEWATCH_TEST_PG_HOST")
}
pub fn pg_port() -> u16 {
    env("PIPEWATCH_TEST_PG_PORT")
        .parse()
        .expect("PIPEWATCH_TEST_PG_PORT is a port")
}
pub fn pg_user() -> String {
    env("PIPEWATCH_TEST_PG_USER")
}
pub fn pg_database() -> String {
    env("PIPEWATCH_TEST_PG_DATABASE")
}

/// A superuser connection to the test database.
pub async fn pg() -> Client {
    pg_named("pipewatch-test").await
}

/// A superuser connection to the test database, shown as `application_name` in
/// pg_stat_activity (a second session for lock and transaction tests).
pub async fn pg_named(application_name: &str) -> Client {
    let conn = format!(
        "host={} port={} user={} dbname={} application_name={application_name}",
        pg_host(),
        pg_port(),
        pg_user(),
        pg_database()
    );
    let (client, connection) = tokio_postgres::connect(&conn, NoTls)
        .await
        .unwrap_or_else(|e| {
            panic!("cannot connect to the test PostgreSQL ({conn}): {e}; run the suite with scripts/test")
        });
    tokio::spawn(connection);
    client
}

/// A loopback port where nothing listens (bound, then released at once).
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// Creates Airflow's `dag_run`, `task_instance` and `task_instance_history` tables, and the
/// DAG catalogue's (`dag`, `dag_tag`, `import_error`, ...), fixtures of the given major
/// version, in a new schema.
pub async fn airflow_source(client: &Client, major: u8) -> String {
    let schema = unique("af");
    let (dag_run, tasks, catalog) = match major {
        2 => (
            include_str!("../fixtures/airflow/dag_run_airflow2.sql"),
            include_str!("../fixtures/airflow/task_instance_airflow2.sql"),
            include_str!("../fixtures/airflow/catalog_airflow2.sql"),
        ),
        3 => (
            include_str!("../fixtures/airflow/dag_run_airflow3.sql"),
            include_str!("../fixtures/airflow/task_instance_airflow3.sql"),
            include_str!("../fixtures/airflow/catalog_airflow3.sql"),
        ),
        _ => panic!("no fixture for Airflow {major}"),
    };
    client
        .batch_execute(&format!(
            "CREATE SCHEMA {schema}; SET search_path TO {schema}; {dag_run}; {tasks}; {catalog}; RESET search_path;"
        ))
        .await
        .expect("create Airflow fixture");
    schema
}

/// The test S3 server's endpoint and keys.
pub fn s3_endpoint() -> String {
    env("PIPEWATCH_TEST_S3_ENDPOINT")
}
pub fn s3_access_key() -> String {
    env("PIPEWATCH_TEST_S3_ACCESS_KEY")
}
pub fn s3_secret_key() -> String {
    env("PIPEWATCH_TEST_S3_SECRET_KEY")
}

/// An S3 client for the test server.
pub fn s3() -> aws_sdk_s3::Client {
    let conf = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            s3_access_key(),
            s3_secret_key(),
            None,
            None,
            "test",
        ))
        .endpoint_url(s3_endpoint())
        .force_path_style(true)
        .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
        .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
        .build();
    aws_sdk_s3::Client::from_conf(conf)
}

/// Creates a new bucket on the test server and returns its name.
pub async fn bucket() -> String {
    let name = unique("pw").replace('_', "-");
    s3().create_bucket()
        .bucket(&name)
        .send()
        .await
        .unwrap_or_else(|e| {
            panic!(
                "cannot create bucket {name} at {}: {}; run the suite with scripts/test",
                s3_endpoint(),
                aws_sdk_s3::error::DisplayErrorContext(&e)
            )
        });
    name
}

/// A temporary folder for one test, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let dir = std::env::temp_dir().join(unique("pipewatch-test"));
        std::fs::create_dir_all(&dir).expect("create temp dir");
        TempDir(dir)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The `[warehouse]` section for a warehouse schema in the test database.
pub fn warehouse_section(schema: &str) -> String {
    format!(
        "[warehouse]\nhost = {}\nport = {}\nusername = {}\ndatabase = {}\nschema = {schema}\n",
        pg_host(),
        pg_port(),
        pg_user(),
        pg_database()
    )
}

/// An `[airflowdb_config]`-style section reading the fixture in `schema`.
pub fn airflow_section(section: &str, schema: &str) -> String {
    format!(
        "[{section}]\nhost = {}\nport = {}\nusername = {}\ndatabase = {}\nschema = {schema}\n",
        pg_host(),
        pg_port(),
        pg_user(),
        pg_database()
    )
}

/// A `[staging]` section for a bucket on the test S3 server.
pub fn s3_staging_section(bucket: &str) -> String {
    format!(
        "[staging]\nbackend = s3\nbucket = {bucket}\nendpoint_url = {}\naccess_key_id = {}\nsecret_access_key = {}\ntimeout_seconds = 10\n",
        s3_endpoint(),
        s3_access_key(),
        s3_secret_key()
    )
}

/// Writes `text` as `pipeline.conf` in `dir` and returns its path.
pub fn write_config(dir: &Path, text: &str) -> PathBuf {
    let path = dir.join("pipeline.conf");
    std::fs::write(&path, text).expect("write config");
    path
}

/// The output of one `pipewatch` invocation.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn all_output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "exit code {}\n--- stdout\n{}--- stderr\n{}",
            self.code, self.stdout, self.stderr
        )
    }
}

/// Runs the pipewatch binary with `args`, in `dir`, with a clean environment plus `env`.
pub fn pipewatch(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_pipewatch"));
    cmd.args(args).current_dir(dir).env_clear();
    if let Ok(path) = std::env::var("PATH") {
        cmd.env("PATH", path);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run pipewatch");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// One DAG run to insert into an Airflow fixture. Timestamps are RFC 3339 strings or None.
#[derive(Debug, Clone, Default)]
pub struct RunSpec {
    pub dag_id: String,
    pub run_id: String,
    /// Logical date (execution_date / logical_date); None only makes sense on Airflow 3.
    pub logical_date: Option<String>,
    /// Airflow 3 run_after; defaults to the logical date (or now).
    pub run_after: Option<String>,
    pub state: Option<String>,
    pub run_type: String,
    pub start_date: Option<String>,
    pub end_date: Option<String>,
}

impl RunSpec {
    /// A finished scheduled run of `dag_id` at `logical` with `state`, running 10 minutes.
    pub fn finished(dag_id: &str, logical: &str, state: &str) -> Self {
        let start =
            chrono::DateTime::parse_from_rfc3339(logical).unwrap() + chrono::Duration::hours(1);
        RunSpec {
            dag_id: dag_id.into(),
            run_id: format!("scheduled__{logical}"),
            logical_date: Some(logical.into()),
            run_after: None,
            state: Some(state.into()),
            run_type: "scheduled".into(),
            start_date: Some(start.to_rfc3339()),
            end_date: Some((start + chrono::Duration::minutes(10)).to_rfc3339()),
        }
    }
}

fn ts(value: &Option<String>) -> Option<chrono::DateTime<chrono::Utc>> {
    value
        .as_deref()
        .map(|v| chrono::DateTime::parse_from_rfc3339(v).unwrap().to_utc())
}

/// Inserts `run` into the `dag_run` fixture (Airflow `major`) in `schema`; returns its id.
pub async fn insert_run(client: &Client, schema: &str, major: u8, run: &RunSpec) -> i32 {
    let logical = ts(&run.logical_date);
    let start = ts(&run.start_date);
    let end = ts(&run.end_date);
    let sql = match major {
        2 => format!(
            "INSERT INTO {schema}.dag_run (dag_id, run_id, execution_date, state, run_type, \
             external_trigger, queued_at, start_date, end_date, data_interval_start, \
             data_interval_end, updated_at, clear_number) \
             VALUES ($1, $2, $3::timestamptz, $4, $5::text, $5::text = 'manual', $6::timestamptz, \
                     $6::timestamptz, $7::timestamptz, $3::timestamptz, $3::timestamptz + interval '1 hour', \
                     coalesce($7::timestamptz, $6::timestamptz, now()), 0) RETURNING id"
        ),
        3 => format!(
            "INSERT INTO {schema}.dag_run (dag_id, run_id, logical_date, state, run_type, \
             queued_at, start_date, end_date, data_interval_start, data_interval_end, \
             run_after, updated_at, clear_number, triggered_by) \
             VALUES ($1, $2, $3::timestamptz, $4, $5, $6::timestamptz, $6::timestamptz, \
                     $7::timestamptz, $3::timestamptz, $3::timestamptz + interval '1 hour', \
                     coalesce($8::timestamptz, $3::timestamptz, now()), \
                     coalesce($7::timestamptz, $6::timestamptz, now()), 0, 'TIMETABLE') RETURNING id"
        ),
        _ => panic!("no Airflow {major}"),
    };
    let run_after = ts(&run.run_after);
    let params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> = if major == 2 {
        vec![
            &run.dag_id,
            &run.run_id,
            &logical,
            &run.state,
            &run.run_type,
            &start,
            &end,
        ]
    } else {
        vec![
            &run.dag_id,
            &run.run_id,
            &logical,
            &run.state,
            &run.run_type,
            &start,
            &end,
            &run_after,
        ]
    };
    client
        .query_one(&sql, &params)
        .await
        .unwrap_or_else(|e| panic!("insert {run:?}: {e:?}"))
        .get(0)
}

/// One test's world: an Airflow fixture, a warehouse schema, a stage, a config file.
pub struct World {
    pub dir: TempDir,
    pub major: u8,
    pub airflow: String,
    pub warehouse: String,
    pub config: PathBuf,
    pub client: Client,
}

impl World {
    pub async fn new(major: u8, extra_config: &str) -> Self {
        Self::with_stage(major, extra_config, "[staging]\nbackend = local\n").await
    }

    pub async fn with_stage(major: u8, extra_config: &str, staging: &str) -> Self {
        let client = pg().await;
        let airflow = airflow_source(&client, major).await;
        let warehouse = unique("wh");
        let dir = TempDir::new();
        let config = write_config(
            dir.path(),
            &format!(
                "{}{}{staging}{extra_config}",
                warehouse_section(&warehouse),
                airflow_section("airflowdb_config", &airflow)
            ),
        );
        World {
            dir,
            major,
            airflow,
            warehouse,
            config,
            client,
        }
    }

    pub fn pipewatch(&self, args: &[&str]) -> Run {
        let mut all = vec!["--config", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        pipewatch(self.dir.path(), &all, &[])
    }

    pub fn run_ok(&self, args: &[&str]) -> Run {
        let run = self.pipewatch(args);
        assert_eq!(run.code, 0, "pipewatch {args:?}: {run:?}");
        run
    }

    pub async fn insert(&self, run: &RunSpec) -> i32 {
        insert_run(&self.client, &self.airflow, self.major, run).await
    }

    pub async fn exec(&self, sql: &str) {
        self.client
            .batch_execute(
                &sql.replace("AF.", &format!("{}.", self.airflow))
                    .replace("WH.", &format!("{}.", self.warehouse)),
            )
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// dag_run_history as JSON lines, without load bookkeeping (which differs per load).
    pub async fn history(&self) -> Vec<String> {
        self.query_strings(&format!(
            "SELECT (to_jsonb(h) - 'loaded_at' - 'first_loaded_at' - 'loaded_by_run_id' \
             - 'source_read_at')::text FROM {}.dag_run_history h \
             ORDER BY airflow_instance, dag_id, run_id",
            self.warehouse
        ))
        .await
    }

    /// dag_run_history exactly, every column.
    pub async fn history_exact(&self) -> Vec<String> {
        self.query_strings(&format!(
            "SELECT to_jsonb(h)::text FROM {}.dag_run_history h ORDER BY airflow_instance, dag_id, run_id",
            self.warehouse
        ))
        .await
    }

    /// The first column of every row, as text; `WH.` stands for the warehouse schema.
    pub async fn query_strings(&self, sql: &str) -> Vec<String> {
        let sql = sql.replace("WH.", &format!("{}.", self.warehouse));
        self.client
            .query(&sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    pub async fn count(&self, sql: &str) -> i64 {
        self.client
            .query_one(&sql.replace("WH.", &format!("{}.", self.warehouse)), &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .get(0)
    }

    /// (state, start_date, end_date, clear_number) of one run in the warehouse.
    pub async fn state_of(&self, dag_id: &str, run_id: &str) -> Option<String> {
        self.client
            .query_opt(
                &format!(
                    "SELECT concat_ws(' ', state, start_date, end_date, clear_number) \
                     FROM {}.dag_run_history WHERE dag_id = $1 AND run_id = $2",
                    self.warehouse
                ),
                &[&dag_id, &run_id],
            )
            .await
            .unwrap()
            .map(|r| r.get(0))
    }

    /// The same run as the source has it now.
    pub async fn source_state_of(&self, dag_id: &str, run_id: &str) -> String {
        self.client
            .query_one(
                &format!(
                    "SELECT concat_ws(' ', state, start_date, end_date, clear_number) \
                     FROM {}.dag_run WHERE dag_id = $1 AND run_id = $2",
                    self.airflow
                ),
                &[&dag_id, &run_id],
            )
            .await
            .unwrap()
            .get(0)
    }

    /// The staged objects of one kind (`dag_run`, `task_instance`).
    pub fn stage_files_of(&self, kind: &str) -> Vec<PathBuf> {
        let folder = self.dir.path().join("stage").join(kind);
        self.stage_files()
            .into_iter()
            .filter(|f| f.starts_with(&folder))
            .collect()
    }

    pub fn stage_files(&self) -> Vec<PathBuf> {
        files_under(&self.dir.path().join("stage"))
    }
}

/// Every file under `dir`, at any depth (none when it does not exist).
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(files_under(&p));
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// The texts posted to a webhook so far (each body's `text`).
pub fn posted_texts(rx: &mut tokio::sync::mpsc::UnboundedReceiver<String>) -> Vec<String> {
    let mut texts = Vec::new();
    while let Ok(body) = rx.try_recv() {
        let json: serde_json::Value = serde_json::from_str(&body).unwrap();
        texts.push(json["text"].as_str().unwrap().to_string());
    }
    texts
}

/// The notices in posted messages: a message of its own as it is, each line of a digest
/// ("pipewatch alerts: 2 opened, 1 resolved" then a line per notice) as `pipewatch alert ` and
/// the line.
pub fn notices_of(texts: &[String]) -> Vec<String> {
    let mut notices = Vec::new();
    for text in texts {
        if text.starts_with("pipewatch alerts") {
            notices.extend(
                text.split("\n\u{2022} ")
                    .skip(1)
                    .map(|line| format!("pipewatch alert {line}")),
            );
        } else {
            notices.push(text.clone());
        }
    }
    notices
}

/// A real HTTP server on loopback standing in for a Slack-compatible webhook: answers each
/// request with the next of `statuses` (then 200) and sends each request's body to the channel.
/// Returns its URL (with a path that looks like a Slack token) and the channel.
pub async fn webhook_server(
    statuses: Vec<u16>,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    webhook_server_stalling(statuses, None).await
}

/// [`webhook_server`] whose answer to the first request comes only after `stall` (a slow
/// webhook), the body being sent to the channel at once.
pub async fn webhook_server_stalling(
    statuses: Vec<u16>,
    stall: Option<std::time::Duration>,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    serve_webhook(listener, statuses, stall)
}

/// A webhook's URL on a loopback port nothing listens on (yet): the webhook of a team whose
/// listener is down. [`webhook_server_at`] starts it later.
pub fn webhook_url_down() -> (String, u16) {
    let port = closed_port();
    (
        format!("http://127.0.0.1:{port}/hooks/T000/B000/secret-token"),
        port,
    )
}

/// [`webhook_server`] on `port` (one [`webhook_url_down`] gave).
pub async fn webhook_server_at(port: u16) -> tokio::sync::mpsc::UnboundedReceiver<String> {
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .unwrap();
    serve_webhook(listener, Vec::new(), None).1
}

fn serve_webhook(
    listener: tokio::net::TcpListener,
    statuses: Vec<u16>,
    stall: Option<std::time::Duration>,
) -> (String, tokio::sync::mpsc::UnboundedReceiver<String>) {
    let url = format!(
        "http://{}/hooks/T000/B000/secret-token",
        listener.local_addr().unwrap()
    );
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let mut stall = stall;
    tokio::spawn(async move {
        let mut statuses = statuses.into_iter();
        loop {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let mut request = Vec::new();
            let mut buf = [0u8; 4096];
            let body = loop {
                let n = tokio::io::AsyncReadExt::read(&mut socket, &mut buf)
                    .await
                    .unwrap_or(0);
                if n == 0 {
                    break None;
                }
                request.extend_from_slice(&buf[..n]);
                let text = String::from_utf8_lossy(&request).to_string();
                if let Some(end) = text.find("\r\n\r\n") {
                    let length = text[..end]
                        .lines()
                        .find_map(|l| {
                            l.to_ascii_lowercase()
                                .strip_prefix("content-length:")
                                .map(|v| v.trim().parse::<usize>().unwrap())
                        })
                        .unwrap_or(0);
                    if request.len() >= end + 4 + length {
                        break Some(text[end + 4..end + 4 + length].to_string());
                    }
                }
            };
            let Some(body) = body else { continue };
            let status = statuses.next().unwrap_or(200);
            let _ = tx.send(body);
            let response =
                format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            let wait = stall.take();
            tokio::spawn(async move {
                if let Some(wait) = wait {
                    tokio::time::sleep(wait).await;
                }
                let _ = tokio::io::AsyncWriteExt::write_all(&mut socket, response.as_bytes()).await;
            });
        }
    });
    (url, rx)
}

/// A database of a test's own, holding an Airflow 2 metadata database in `public` and the
/// warehouse in `pipewatch`, as the shipped examples' SQL expects them; dropped at the end.
pub struct OwnDatabase {
    pub name: String,
}

impl OwnDatabase {
    /// A new database with Airflow 2's `dag_run`, `task_instance` and `task_instance_history`
    /// in `public`.
    pub async fn with_airflow2() -> Self {
        let name = unique("pwex");
        pg().await
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create a database");
        let db = OwnDatabase { name };
        db.client()
            .await
            .batch_execute(&format!(
                "{}; {}; {}",
                include_str!("../fixtures/airflow/dag_run_airflow2.sql"),
                include_str!("../fixtures/airflow/task_instance_airflow2.sql"),
                include_str!("../fixtures/airflow/catalog_airflow2.sql")
            ))
            .await
            .expect("create the Airflow tables");
        db
    }

    /// `[warehouse]` and `[airflowdb_config]` sections for it, with their default schemas.
    pub fn sections(&self) -> String {
        ["warehouse", "airflowdb_config"]
            .iter()
            .map(|section| {
                format!(
                    "[{section}]\nhost = {}\nport = {}\nusername = {}\ndatabase = {}\n",
                    pg_host(),
                    pg_port(),
                    pg_user(),
                    self.name
                )
            })
            .collect()
    }

    /// The first column of every row of `sql`, as text.
    pub async fn strings(&self, sql: &str) -> Vec<String> {
        self.client()
            .await
            .query(sql, &[])
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    /// A superuser connection to it.
    pub async fn client(&self) -> tokio_postgres::Client {
        let conn = format!(
            "host={} port={} user={} dbname={}",
            pg_host(),
            pg_port(),
            pg_user(),
            self.name
        );
        let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
            .await
            .expect("connect to the test's database");
        tokio::spawn(connection);
        client
    }
}

impl Drop for OwnDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        // Best effort, on a thread of its own: Drop cannot await.
        let _ = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async {
                let _ = pg()
                    .await
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
            });
        })
        .join();
    }
}
