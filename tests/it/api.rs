//! The REST API source against real Airflow servers: the Airflow 2.10.5 webserver (`/api/v1`,
//! basic auth) and the Airflow 3.3.2 api-server (`/api/v2`, JWT) that `scripts/test` starts on
//! metadata databases of the test PostgreSQL. Tests insert runs into those databases (as
//! Airflow's scheduler would, `updated_at` included) and read them back through the API and
//! through the database source. Each test owns its DAG ids (`pw_tNN`, serialized into both
//! servers by scripts/test) and its own days, so tests run in parallel.

use std::io::{Read, Write};
use std::net::TcpListener;
use std::time::{Duration, Instant};

use tokio_postgres::{Client, NoTls};

use crate::common::*;
use crate::tasks::{Try, clear, current, earlier};

/// One of the two test servers.
#[derive(Debug, Clone, Copy)]
struct Server {
    major: u8,
}

impl Server {
    fn both() -> [Server; 2] {
        [Server { major: 2 }, Server { major: 3 }]
    }

    fn url(self) -> String {
        env(&format!("PIPEWATCH_TEST_AIRFLOW{}_URL", self.major))
    }

    fn database(self) -> String {
        env(&format!("PIPEWATCH_TEST_AIRFLOW{}_DATABASE", self.major))
    }

    /// A connection to the server's metadata database.
    async fn metadata(self) -> Client {
        let conn = format!(
            "host={} port={} user={} dbname={} application_name=pipewatch-test-airflow",
            pg_host(),
            pg_port(),
            pg_user(),
            self.database()
        );
        let (client, connection) = tokio_postgres::connect(&conn, NoTls)
            .await
            .unwrap_or_else(|e| panic!("cannot connect to {conn}: {e}; run scripts/test"));
        tokio::spawn(connection);
        client
    }

    /// `[airflow_api_<instance>]` for this server.
    fn api_section(self, instance: &str, extra: &str) -> String {
        // No pacing unless the test asks for it.
        let pace = if extra.contains("max_requests_per_second") {
            ""
        } else {
            "max_requests_per_second = 0\n"
        };
        format!(
            "[airflow_api_{instance}]\nbase_url = {}\nusername = {}\npassword = {}\n{pace}{extra}",
            self.url(),
            env("PIPEWATCH_TEST_AIRFLOW_USER"),
            env("PIPEWATCH_TEST_AIRFLOW_PASSWORD"),
        )
    }

    /// `[airflowdb_config_<instance>]` reading this server's metadata database directly.
    fn db_section(self, instance: &str) -> String {
        format!(
            "[airflowdb_config_{instance}]\nhost = {}\nport = {}\nusername = {}\ndatabase = {}\n",
            pg_host(),
            pg_port(),
            pg_user(),
            self.database()
        )
    }
}

/// Inserts a run as Airflow does (`updated_at` = now). `logical` None makes an Airflow 3 run
/// without a logical date (`run_after` = `after`).
#[allow(clippy::too_many_arguments)]
async fn insert(
    af: &Client,
    major: u8,
    dag_id: &str,
    run_id: &str,
    logical: Option<&str>,
    after: &str,
    state: &str,
    run_type: &str,
    start: Option<&str>,
    end: Option<&str>,
) {
    let ts = |v: Option<&str>| {
        v.map(|t| {
            chrono::DateTime::parse_from_rfc3339(t)
                .unwrap()
                .with_timezone(&chrono::Utc)
        })
    };
    let (logical, after, start, end) = (ts(logical), ts(Some(after)), ts(start), ts(end));
    let result = if major == 2 {
        // Airflow 2 has no run_after, and every run has a logical date.
        let logical = logical.or(after);
        af.execute(
            "INSERT INTO dag_run (dag_id, run_id, execution_date, state, run_type, external_trigger, \
             queued_at, start_date, end_date, data_interval_start, data_interval_end, updated_at, \
             clear_number) VALUES ($1, $2, $3::timestamptz, $4, $5::text, $5::text = 'manual', \
             $6::timestamptz - interval '1 minute', $6::timestamptz, $7::timestamptz, \
             $3::timestamptz, $3::timestamptz + interval '1 day', now(), 0)",
            &[&dag_id, &run_id, &logical, &state, &run_type, &start, &end],
        )
        .await
    } else {
        af.execute(
            "INSERT INTO dag_run (dag_id, run_id, logical_date, run_after, state, run_type, \
             triggered_by, queued_at, start_date, end_date, data_interval_start, \
             data_interval_end, updated_at, clear_number) VALUES ($1, $2, $3::timestamptz, \
             $8::timestamptz, $4, $5, 'TEST', $6::timestamptz - interval '1 minute', \
             $6::timestamptz, $7::timestamptz, $3::timestamptz, \
             $3::timestamptz + interval '1 day', now(), 0)",
            &[
                &dag_id, &run_id, &logical, &state, &run_type, &start, &end, &after,
            ],
        )
        .await
    };
    result.unwrap_or_else(|e| panic!("insert {dag_id} {run_id}: {e:?}"));
}

/// A warehouse schema and a config with both sources of one server.
struct Pair {
    dir: TempDir,
    config: std::path::PathBuf,
    warehouse: String,
    client: Client,
}

impl Pair {
    async fn new(server: Server, api_extra: &str, extra: &str) -> Self {
        let warehouse = unique("wh_api");
        let dir = TempDir::new();
        let config = write_config(
            dir.path(),
            &format!(
                "{}[staging]\nbackend = local\n{}{}{extra}",
                warehouse_section(&warehouse),
                server.db_section("db"),
                server.api_section("api", api_extra)
            ),
        );
        Pair {
            dir,
            config,
            warehouse,
            client: pg().await,
        }
    }

    fn pipewatch(&self, args: &[&str]) -> Run {
        let mut all = vec!["--config", self.config.to_str().unwrap()];
        all.extend_from_slice(args);
        pipewatch(self.dir.path(), &all, &[])
    }

    fn ok(&self, args: &[&str]) -> Run {
        let run = self.pipewatch(args);
        assert_eq!(run.code, 0, "pipewatch {args:?}: {run:?}");
        run
    }

    /// The instance's rows of `dags`, without what only one source has: load bookkeeping,
    /// Airflow's id, clear_number and updated_at (not in the API), and on Airflow 2 queued_at
    /// (not in /api/v1).
    async fn rows(&self, instance: &str, dags: &[&str], major: u8) -> Vec<String> {
        let queued = if major == 2 { " - 'queued_at'" } else { "" };
        self.of_dags(
            &format!(
                "SELECT (to_jsonb(h) - 'loaded_at' - 'first_loaded_at' - 'loaded_by_run_id' \
                     - 'source_read_at' - 'airflow_instance' - 'id' - 'clear_number' \
                     - 'source_updated_at'{queued})::text \
                     FROM {}.dag_run_history h WHERE airflow_instance = $1 AND dag_id = ANY($2) \
                     ORDER BY dag_id, run_id",
                self.warehouse
            ),
            instance,
            dags,
        )
        .await
    }

    async fn state(&self, instance: &str, dag: &str, run: &str) -> Option<String> {
        self.client
            .query_opt(
                &format!(
                    "SELECT state FROM {}.dag_run_history WHERE airflow_instance = $1 AND dag_id = $2 AND run_id = $3",
                    self.warehouse
                ),
                &[&instance, &dag, &run],
            )
            .await
            .unwrap()
            .and_then(|r| r.get(0))
    }

    /// The instance's task tries of `dags`, without bookkeeping and updated_at (not in the API).
    async fn tries(&self, instance: &str, dags: &[&str]) -> Vec<String> {
        self.of_dags(
            &format!(
                "SELECT (to_jsonb(t) - 'loaded_at' - 'first_loaded_at' - 'loaded_by_run_id' \
                     - 'source_read_at' - 'airflow_instance' - 'source_updated_at')::text \
                     FROM {}.task_run_history t WHERE airflow_instance = $1 AND dag_id = ANY($2) \
                     ORDER BY dag_id, run_id, task_id, map_index, try_number",
                self.warehouse
            ),
            instance,
            dags,
        )
        .await
    }

    /// The one text column of `sql` for `instance` ($1) and `dags` ($2).
    async fn of_dags(&self, sql: &str, instance: &str, dags: &[&str]) -> Vec<String> {
        self.client
            .query(sql, &[&instance, &dags])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect()
    }

    async fn assert_parity(&self, dags: &[&str], major: u8, expected: usize, tries: usize) {
        let db = self.rows("db", dags, major).await;
        let api = self.rows("api", dags, major).await;
        assert_eq!(db.len(), expected, "database source rows: {db:#?}");
        assert_eq!(
            api, db,
            "Airflow {major}: the API source's rows differ from the database source's"
        );
        let db = self.tries("db", dags).await;
        let api = self.tries("api", dags).await;
        assert_eq!(db.len(), tries, "database source tries: {db:#?}");
        let only_db: Vec<&String> = db.iter().filter(|r| !api.contains(r)).collect();
        let only_api: Vec<&String> = api.iter().filter(|r| !db.contains(r)).collect();
        let extracts: Vec<String> = if only_db.is_empty() && only_api.is_empty() {
            Vec::new()
        } else {
            self.client
                .query(
                    &format!(
                        "SELECT concat_ws(' ', airflow_instance, extract_mode, row_count, task_row_count, \
                         changed_runs_since, source_read_at, extracted_at) FROM {}.staged_extract \
                         ORDER BY extracted_at",
                        self.warehouse
                    ),
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .chain(
                    files_under(&self.dir.path().join("stage"))
                        .into_iter()
                        .filter(|p| p.to_string_lossy().contains("/api/"))
                        .map(|p| format!("{}:\n{}", p.display(), std::fs::read_to_string(&p).unwrap())),
                )
                .collect()
        };
        assert!(
            only_db.is_empty() && only_api.is_empty(),
            "Airflow {major}: the API source's task tries differ from the database source's:\nonly from the database: {only_db:#?}\nonly from the API: {only_api:#?}\nextracts: {extracts:#?}"
        );
    }

    /// A test world on the server's metadata database (schema public), for the task helpers.
    async fn airflow_world(&self, server: Server) -> World {
        World {
            dir: TempDir::new(),
            major: server.major,
            airflow: "public".into(),
            warehouse: self.warehouse.clone(),
            config: self.config.clone(),
            client: server.metadata().await,
        }
    }
}

/// Parity, and every incremental case of the database source, through both API generations:
/// late-finishing runs, queued and running runs, a run cleared and finished again, a run created
/// out of order, a run whose state changed without Airflow moving its updated_at (caught by
/// re-reading unfinished runs), paging over several pages.
#[tokio::test]
async fn api_source_rows_equal_the_database_source_rows_through_every_incremental_case() {
    for server in Server::both() {
        let major = server.major;
        let (a, b) = match major {
            2 => ("pw_t00", "pw_t01"),
            _ => ("pw_t02", "pw_t03"),
        };
        let af = server.metadata().await;
        // The servers may hold this test's runs from an earlier run of the suite: start clean
        // (task instances and their history go with their runs).
        af.execute("DELETE FROM dag_run WHERE dag_id = ANY($1)", &[&vec![a, b]])
            .await
            .unwrap();
        let day = |d: u32| format!("2023-01-{d:02}T00:00:00+00:00");
        for d in 1..=5 {
            let state = if d == 3 { "failed" } else { "success" };
            let start = format!("2023-01-{:02}T00:05:00+00:00", d + 1);
            let end = format!("2023-01-{:02}T00:25:00+00:00", d + 1);
            insert(
                &af,
                major,
                a,
                &format!("scheduled__{}", day(d)),
                Some(&day(d)),
                &day(d + 1),
                state,
                "scheduled",
                Some(&start),
                Some(&end),
            )
            .await;
        }
        insert(
            &af,
            major,
            b,
            "scheduled__late",
            Some(&day(6)),
            &day(7),
            "running",
            "scheduled",
            Some("2023-01-07T00:05:00+00:00"),
            None,
        )
        .await;
        insert(
            &af,
            major,
            b,
            "queued_one",
            Some(&day(7)),
            &day(8),
            "queued",
            "manual",
            None,
            None,
        )
        .await;
        insert(
            &af,
            major,
            b,
            "stuck",
            Some(&day(8)),
            &day(9),
            "running",
            "scheduled",
            Some("2023-01-09T00:05:00+00:00"),
            None,
        )
        .await;
        if major == 3 {
            // Airflow 3: a manual run without a logical date; its day comes from run_after.
            insert(
                &af,
                major,
                b,
                "manual__no_logical_date",
                None,
                "2023-01-10T12:00:00+00:00",
                "success",
                "manual",
                Some("2023-01-10T12:01:00+00:00"),
                Some("2023-01-10T12:02:00+00:00"),
            )
            .await;
        }
        let first = if major == 3 { 9 } else { 8 };
        // Two runs per page: the lists span several pages.
        let pair = Pair::new(
            server,
            "page_size = 2\n",
            "[extract]\nchanged_runs_scan_overlap_minutes = 0\n",
        )
        .await;
        // Task instances: a retry (try 1 failed in history, try 2 succeeded), a mapped task, a
        // try still running, and a try cleared (history and current hold the same try_number).
        let w = pair.airflow_world(server).await;
        let r1 = format!("scheduled__{}", day(1));
        let r2 = format!("scheduled__{}", day(2));
        let r4 = format!("scheduled__{}", day(4));
        current(
            &w,
            a,
            Try::new(&r1, "extract", 1, Some("success")).ran(0, 30),
        )
        .await;
        current(&w, a, Try::new(&r1, "load", 2, Some("success")).ran(60, 20)).await;
        earlier(&w, a, Try::new(&r1, "load", 1, Some("failed")).ran(40, 5)).await;
        for m in 0..3 {
            current(
                &w,
                a,
                Try::new(&r2, "load", 1, Some("success"))
                    .ran(10 + m as i64, 3)
                    .map(m),
            )
            .await;
        }
        current(
            &w,
            b,
            Try::new("scheduled__late", "extract", 1, Some("running")).running(5),
        )
        .await;
        current(
            &w,
            a,
            Try::new(&r4, "extract", 1, Some("success")).ran(0, 10),
        )
        .await;
        clear(&w, a, &r4, "extract").await;
        let tries = 1 + 2 + 3 + 1 + 1;
        let dags = [a, b];
        let run = pair.ok(&["run"]);
        assert!(
            run.all_output().contains("api"),
            "the run names the API instance: {run:?}"
        );
        pair.assert_parity(&dags, major, first, tries).await;

        // Late finishing, clearing, a run created out of order (an earlier day), a queued run
        // starting, and a state changed without updated_at moving (Airflow's bulk updates).
        af.batch_execute(&format!(
            "UPDATE dag_run SET state = 'success', end_date = '2023-01-07T01:00:00Z', updated_at = now() \
               WHERE dag_id = '{b}' AND run_id = 'scheduled__late';
             UPDATE dag_run SET state = 'queued', start_date = NULL, end_date = NULL, \
               clear_number = clear_number + 1, updated_at = now() \
               WHERE dag_id = '{a}' AND run_id = 'scheduled__{}';
             UPDATE dag_run SET state = 'running', start_date = '2023-01-08T00:01:00Z', updated_at = now() \
               WHERE dag_id = '{b}' AND run_id = 'queued_one';
             UPDATE dag_run SET state = 'failed', end_date = '2023-01-09T02:00:00Z', \
               updated_at = '2020-01-01T00:00:00Z' WHERE dag_id = '{b}' AND run_id = 'stuck';",
            day(3)
        ))
        .await
        .unwrap();
        insert(
            &af,
            major,
            a,
            "backfill__early",
            Some("2022-12-31T00:00:00+00:00"),
            "2023-01-01T00:00:00+00:00",
            "success",
            "backfill",
            Some("2023-01-11T00:00:00+00:00"),
            Some("2023-01-11T00:10:00+00:00"),
        )
        .await;
        // The next extract's scan must start after these changes' updated_at minus no overlap:
        // wait for the server's clock (second resolution) to pass them.
        // The late run's task finishes, and the cleared one runs again as try 2.
        current(
            &w,
            b,
            Try::new("scheduled__late", "extract", 1, Some("success")).ran(5, 50),
        )
        .await;
        current(
            &w,
            a,
            Try::new(&r4, "extract", 2, Some("success")).ran(100, 12),
        )
        .await;
        // As in Airflow, clearing a task of a finished run re-runs the run: its row changes
        // (updated_at moves), which is how both sources find the run's new tries.
        af.execute(
            "UPDATE dag_run SET updated_at = now() WHERE dag_id = $1 AND run_id = $2",
            &[&a, &r4],
        )
        .await
        .unwrap();
        tokio::time::sleep(Duration::from_millis(1100)).await;
        pair.ok(&["run"]);
        pair.assert_parity(&dags, major, first + 1, tries + 1).await;
        let cleared = format!("scheduled__{}", day(3));
        assert_eq!(
            pair.state("api", a, &cleared).await.as_deref(),
            Some("queued")
        );
        assert_eq!(
            pair.state("api", b, "stuck").await.as_deref(),
            Some("failed"),
            "a run whose updated_at did not move is re-read while the warehouse holds it unfinished"
        );

        // The cleared run finishes again.
        af.batch_execute(&format!(
            "UPDATE dag_run SET state = 'success', start_date = '2023-01-12T00:00:00Z', \
             end_date = '2023-01-12T00:30:00Z', updated_at = now() \
             WHERE dag_id = '{a}' AND run_id = '{cleared}'"
        ))
        .await
        .unwrap();
        pair.ok(&["run"]);
        pair.assert_parity(&dags, major, first + 1, tries + 1).await;
        assert_eq!(
            pair.state("api", a, &cleared).await.as_deref(),
            Some("success")
        );

        // Reconcile against the API source: equal, then a run the warehouse lost is named.
        let window = ["--from", "2022-12-31", "--to", "2023-01-12"];
        let mut args = vec!["reconcile", "--instance", "api"];
        args.extend(window);
        pair.ok(&args);
        pair.client
            .execute(
                &format!(
                    "DELETE FROM {}.dag_run_history WHERE airflow_instance = 'api' AND dag_id = $1 AND run_id = $2",
                    pair.warehouse
                ),
                &[&a, &format!("scheduled__{}", day(2))],
            )
            .await
            .unwrap();
        let run = pair.pipewatch(&args);
        assert_eq!(run.code, 1, "reconcile finds the lost run: {run:?}");
        assert!(
            run.all_output().contains(&format!("scheduled__{}", day(2))),
            "{run:?}"
        );

        // A backfill of the window through the API brings it back, and nothing else changes.
        let mut args = vec!["backfill", "--instance", "api"];
        args.extend(["--from", "2023-01-02", "--to", "2023-01-02"]);
        pair.ok(&args);
        pair.assert_parity(&dags, major, first + 1, tries + 1).await;
    }
}

#[tokio::test]
async fn check_config_reports_the_airflow_version_and_that_the_credentials_work() {
    for (server, version, api) in [
        (Server { major: 2 }, "Airflow 2.10.5", "api/v1, basic auth"),
        (
            Server { major: 3 },
            "Airflow 3.3.2",
            "api/v2, JWT from /auth/token",
        ),
    ] {
        let pair = Pair::new(server, "", "").await;
        let run = pair.ok(&["check-config"]);
        let out = run.all_output();
        assert!(out.contains(version), "{out}");
        assert!(out.contains(api), "{out}");
        assert!(out.contains("credentials accepted"), "{out}");
        assert!(
            !out.contains(&env("PIPEWATCH_TEST_AIRFLOW_PASSWORD")),
            "the password is never printed: {out}"
        );
    }
}

/// Runs `pipewatch extract` for an API section and returns the run; checks nothing was staged.
async fn extract_with(api_section: &str, extra: &str) -> Run {
    let warehouse = unique("wh_api_err");
    let dir = TempDir::new();
    let config = write_config(
        dir.path(),
        &format!(
            "{}[staging]\nbackend = local\n{api_section}{extra}",
            warehouse_section(&warehouse)
        ),
    );
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "extract"],
        &[],
    );
    let staged: Vec<_> = files_under(&dir.path().join("stage"));
    assert!(staged.is_empty(), "nothing is staged: {staged:?}");
    run
}

/// A real HTTP server on loopback that answers each connection with the next of `answers`
/// (raw HTTP responses; None: accept and never answer).
fn serve(answers: Vec<Option<String>>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for answer in answers.into_iter().cycle() {
            let Ok((mut stream, _)) = listener.accept() else {
                return;
            };
            let mut buf = [0u8; 8192];
            let _ = stream.read(&mut buf);
            match answer {
                Some(text) => {
                    let _ = stream.write_all(text.as_bytes());
                }
                None => held.push(stream),
            }
        }
    });
    url
}

fn http(status: &str, content_type: &str, extra: &str, body: &str) -> Option<String> {
    Some(format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n{extra}\r\n{body}",
        body.len()
    ))
}

#[tokio::test]
async fn api_errors_name_the_url_and_the_fix_and_stage_nothing() {
    let af2 = Server { major: 2 }.url();
    let af3 = Server { major: 3 }.url();
    let user = env("PIPEWATCH_TEST_AIRFLOW_USER");
    let section = |url: &str, extra: &str| {
        format!("[airflow_api]\nbase_url = {url}\nusername = {user}\npassword = wrong\n{extra}")
    };
    let cases: Vec<(String, Vec<&str>)> = vec![
        // Wrong password on Airflow 2: 401, and the basic-auth backend named.
        (
            section(&af2, ""),
            vec![
                "/api/v1/dags/~/dagRuns",
                "HTTP 401",
                "auth_backends",
                "basic_auth",
            ],
        ),
        // Wrong password on Airflow 3: the token endpoint refuses.
        (
            section(&af3, ""),
            vec!["/auth/token", "HTTP 401", "username and password"],
        ),
        // An Airflow 2 server configured as Airflow 3, and the reverse.
        (
            section(&af2, "api_version = v2\n"),
            vec![
                "/api/v2/version",
                "HTTP 404",
                "not Airflow 3",
                "api_version",
            ],
        ),
        (
            section(&af3, "api_version = v1\n"),
            vec![
                "/api/v1/version",
                "removed /api/v1",
                "api_version = auto or v2",
            ],
        ),
        // A user without permissions (an Airflow 2 role that grants nothing).
        (
            format!(
                "[airflow_api]\nbase_url = {af2}\nusername = {}\npassword = {}\n",
                env("PIPEWATCH_TEST_AIRFLOW2_NOACCESS_USER"),
                env("PIPEWATCH_TEST_AIRFLOW_PASSWORD")
            ),
            vec!["HTTP 403 Forbidden", "Viewer role"],
        ),
        // TLS spoken to a plain HTTP server.
        (
            section(&af3.replace("http://", "https://"), ""),
            vec!["TLS failure", "ca_file"],
        ),
    ];
    for (api, wanted) in cases {
        let run = extract_with(&api, "").await;
        assert_eq!(run.code, 3, "{api}: {run:?}");
        for w in wanted {
            assert!(run.stderr.contains(w), "{api}: {w:?} not in {run:?}");
        }
        assert!(
            !run.stderr.contains(&env("PIPEWATCH_TEST_AIRFLOW_PASSWORD")),
            "{run:?}"
        );
    }

    // A login page instead of JSON.
    let html = serve(vec![http(
        "200 OK",
        "text/html; charset=utf-8",
        "",
        "<html><head><title>Sign in - Corp SSO</title></head><body>login</body></html>",
    )]);
    let run = extract_with(&section(&html, ""), "").await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("instead of JSON"), "{run:?}");
    assert!(run.stderr.contains("Sign in - Corp SSO"), "{run:?}");

    // No answer: the timeout and the attempts are named.
    let silent = serve(vec![None]);
    let started = Instant::now();
    let run = extract_with(
        &section(&silent, "request_timeout_seconds = 1\n"),
        "[retry]\nattempts = 2\ninitial_backoff_seconds = 0\n",
    )
    .await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        run.stderr.contains("no answer within 1 s (2 attempts)"),
        "{run:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(20));
}

/// 429 and 503 are retried, honouring Retry-After, and then the extract goes on.
#[tokio::test]
async fn busy_answers_are_retried_after_the_time_the_server_asks_for() {
    let version = r#"{"version": "3.3.2", "git_version": null}"#;
    let empty = r#"{"dag_runs": [], "total_entries": 0}"#;
    let token = r#"{"access_token": "e30.e30.c2ln"}"#;
    let url = serve(vec![
        http(
            "429 Too Many Requests",
            "application/json",
            "retry-after: 1\r\n",
            "{}",
        ),
        http("200 OK", "application/json", "", version),
        http(
            "503 Service Unavailable",
            "text/plain",
            "retry-after: 1\r\n",
            "busy",
        ),
        http("201 Created", "application/json", "", token),
        http("200 OK", "application/json", "", empty),
    ]);
    let warehouse = unique("wh_api_busy");
    let dir = TempDir::new();
    let config = write_config(
        dir.path(),
        &format!(
            "{}[staging]\nbackend = local\n[airflow_api]\nbase_url = {url}\nusername = u\npassword = p\n\
             [retry]\nattempts = 3\ninitial_backoff_seconds = 0\n[extract]\ntask_instances = false\n",
            warehouse_section(&warehouse)
        ),
    );
    let started = Instant::now();
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "extract"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "two Retry-After: 1 waits were honoured ({:?})",
        started.elapsed()
    );
    assert!(
        run.all_output().contains("(0 runs, full extract"),
        "{run:?}"
    );
}

/// scripts/test starts Airflow 3 with 4-second tokens: an extract that takes longer logs in
/// again on the way instead of failing with 401.
#[tokio::test]
async fn an_expiring_token_is_renewed_during_a_long_extract() {
    let server = Server { major: 3 };
    let af = server.metadata().await;
    let dag = "pw_t04";
    af.execute("DELETE FROM dag_run WHERE dag_id = $1", &[&dag])
        .await
        .unwrap();
    for d in 1..=12 {
        let day = format!("2023-02-{d:02}T00:00:00+00:00");
        insert(
            &af,
            3,
            dag,
            &format!("scheduled__{day}"),
            Some(&day),
            &day,
            "success",
            "scheduled",
            Some(&day),
            Some(&day),
        )
        .await;
    }
    // One run per request, two requests a second: well over one token's life.
    let pair = Pair::new(
        server,
        "page_size = 1\nmax_requests_per_second = 2\n",
        "[extract]\ntask_instances = false\n",
    )
    .await;
    let mut args = vec!["--config", pair.config.to_str().unwrap()];
    args.extend(["--log-level", "debug", "extract", "--instance", "api"]);
    let run = pipewatch(pair.dir.path(), &args, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let logins = run.stderr.matches("Logged in to Airflow's API.").count();
    assert!(
        logins >= 2,
        "the token was renewed ({logins} logins): {run:?}"
    );
    pair.ok(&["load"]);
    assert_eq!(pair.rows("api", &[dag], 3).await.len(), 12);
}

/// The DAG catalogue read from the real metadata databases of both test servers, whose DAGs
/// (`pw_t00` to `pw_t39`, no schedule) `airflow dags reserialize` wrote: every one is there,
/// with Airflow's own description of its schedule, not stale, and, as Airflow pauses a DAG at
/// creation by default, paused.
#[tokio::test]
async fn the_catalogue_reads_real_airflow_2_and_3_metadata_databases() {
    for server in Server::both() {
        let warehouse = unique("wh_cat");
        let dir = TempDir::new();
        let config = write_config(
            dir.path(),
            &format!(
                "{}[staging]\nbackend = local\n[extract]\ntask_instances = false\n{}",
                warehouse_section(&warehouse),
                server.db_section("real")
            ),
        );
        let run = pipewatch(
            dir.path(),
            &["--config", config.to_str().unwrap(), "run"],
            &[],
        );
        assert_eq!(run.code, 0, "Airflow {}: {run:?}", server.major);
        assert!(run.stdout.contains("catalogued "), "{run:?}");
        let client = pg().await;
        let rows: Vec<String> = client
            .query(
                &format!(
                    "SELECT DISTINCT concat_ws('|', schedule_description, is_stale, in_airflow, \
                     s.status) FROM {warehouse}.dag_catalog c \
                     JOIN {warehouse}.dag_schedule_status s USING (airflow_instance, dag_id) \
                     WHERE dag_id LIKE 'pw_t%'"
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
            ["Never, external triggers only|f|t|paused"],
            "Airflow {}",
            server.major
        );
        let count: i64 = client
            .query_one(
                &format!("SELECT count(*) FROM {warehouse}.dag_catalog WHERE dag_id LIKE 'pw_t%'"),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(count, 40, "Airflow {}", server.major);
        let jobs: i64 = client
            .query_one(
                &format!(
                    "SELECT count(DISTINCT job_type) FROM {warehouse}.scheduler_health_history"
                ),
                &[],
            )
            .await
            .unwrap()
            .get(0);
        assert_eq!(jobs, 3, "Airflow {}", server.major);
    }
}

/// The DAG catalogue read through the REST API equals the one read from the metadata database,
/// on both real servers: the same `dag_catalog` rows for the servers' own DAGs (`pw_t00` to
/// `pw_t39`) and for two DAG rows this test adds (owners, tags with a quote and an emoji, a cron
/// and an interval schedule, next-run fields), and the same import-error episode, whose stack
/// trace's lines, length and md5 the API side computes as the SQL does.
#[tokio::test]
async fn the_catalogue_through_the_api_equals_the_one_from_the_database() {
    for server in Server::both() {
        let metadata = server.metadata().await;
        let id = unique("pwcat");
        let (cron, interval) = (format!("{id}_cron"), format!("{id}_interval"));
        let file = format!("{id}.py");
        let (cron_schedule, interval_schedule) = match server.major {
            2 => (
                "\"0 * * * *\"",
                r#"{"type": "timedelta", "attrs": {"days": 1, "seconds": 0, "microseconds": 0}}"#,
            ),
            _ => ("0 * * * *", "1 day, 0:00:00"),
        };
        for (dag_id, schedule) in [(&cron, cron_schedule), (&interval, interval_schedule)] {
            let sql = match server.major {
                2 => {
                    // is_subdag as Airflow writes it (the API leaves out a row without it).
                    "INSERT INTO dag (dag_id, is_paused, is_active, is_subdag, owners, \
                     schedule_interval, timetable_description, fileloc, max_active_runs, \
                     max_active_tasks, max_consecutive_failed_dag_runs, \
                     has_task_concurrency_limits, has_import_errors, next_dagrun, \
                     next_dagrun_create_after, last_parsed_time) \
                     VALUES ($1, false, true, false, 'team-a, team-b', $2, 'At minute 0', $3, 1, \
                     16, 0, false, true, '2025-03-01T00:00:00Z', '2025-03-01T01:00:00Z', now())"
                }
                _ => {
                    "INSERT INTO dag (dag_id, is_paused, is_stale, owners, timetable_summary, \
                     timetable_description, fileloc, relative_fileloc, bundle_name, \
                     timetable_type, partition_mapper_info, max_active_runs, max_active_tasks, \
                     max_consecutive_failed_dag_runs, has_task_concurrency_limits, \
                     has_import_errors, next_dagrun, next_dagrun_create_after, last_parsed_time) \
                     VALUES ($1, false, false, 'team-a, team-b', $2, 'At minute 0', \
                     '/dags/' || $3, $3, 'dags-folder', 'CronTriggerTimetable', '{}', 1, 16, 0, false, \
                     true, '2025-03-01T00:00:00Z', '2025-03-01T01:00:00Z', now())"
                }
            };
            let fileloc = if server.major == 2 {
                format!("/dags/{file}")
            } else {
                file.clone()
            };
            metadata
                .execute(sql, &[dag_id, &schedule, &fileloc])
                .await
                .unwrap_or_else(|e| panic!("Airflow {}: insert a DAG: {e:?}", server.major));
            metadata
                .execute(
                    "INSERT INTO dag_tag (name, dag_id) VALUES ('a \"quoted\" tag', $1), ('🚀', $1)",
                    &[dag_id],
                )
                .await
                .unwrap();
        }
        let trace = "Traceback (most recent call last):\n  File \"x.py\", line 1\nNameError: name 'x' is not defined\n";
        let (error_sql, error_file) = match server.major {
            2 => (
                "INSERT INTO import_error (timestamp, filename, stacktrace) VALUES (now(), $1, $2)",
                format!("/dags/{file}"),
            ),
            _ => (
                "INSERT INTO import_error (timestamp, filename, bundle_name, stacktrace) \
                 VALUES (now(), $1, 'dags-folder', $2)",
                file.clone(),
            ),
        };
        metadata
            .execute(error_sql, &[&error_file, &trace])
            .await
            .unwrap();

        let read = |source: String| {
            let warehouse = unique("wh_catp");
            let dir = TempDir::new();
            let config = write_config(
                dir.path(),
                &format!(
                    "{}[staging]\nbackend = local\n[extract]\ntask_instances = false\n{source}",
                    warehouse_section(&warehouse),
                ),
            );
            let run = pipewatch(
                dir.path(),
                &["--config", config.to_str().unwrap(), "run"],
                &[],
            );
            assert_eq!(run.code, 0, "Airflow {}: {run:?}", server.major);
            assert!(run.stdout.contains("catalogued "), "{run:?}");
            warehouse
        };
        let from_db = read(server.db_section("real"));
        let from_api = read(server.api_section("real", ""));
        let client = pg().await;
        let timetables = async |warehouse: &str| -> Vec<String> {
            client
                .query(
                    &format!(
                        "SELECT concat_ws('|', dag_id, timetable_kind, timetable_expression, \
                         timetable_delta_seconds, timetable_trigger_interval_seconds, time_zone, \
                         start_date, end_date) FROM {warehouse}.dag_catalog \
                         WHERE dag_id LIKE 'pw_sched%' ORDER BY dag_id"
                    ),
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect()
        };
        // The timetable facts: from serialized_dag, and through /dags/{dag_id}/details.
        let db_timetables = timetables(&from_db).await;
        let trigger = if server.major == 2 { "" } else { "|0" };
        assert_eq!(
            db_timetables,
            [
                format!(
                    "pw_sched_berlin|cron|0 * * * *{trigger}|Europe/Berlin|2023-12-31 23:00:00+00"
                ),
                format!("pw_sched_daily|cron|0 0 * * *{trigger}|UTC|2024-01-01 00:00:00+00"),
                format!("pw_sched_every_6h|delta|21600{trigger}|UTC|2024-01-01 00:00:00+00"),
            ],
            "Airflow {}",
            server.major
        );
        // Airflow's REST API does not tell a DAG's own time zone (its DAG details answer the
        // instance's default for every DAG): the same kind and schedule, no zone or start date,
        // unless the section declares the zone of the instance's cron schedules.
        let no_zone: Vec<String> = [
            "pw_sched_berlin|cron|0 * * * *",
            "pw_sched_daily|cron|0 0 * * *",
            "pw_sched_every_6h|delta|21600",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            timetables(&from_api).await,
            no_zone,
            "Airflow {}",
            server.major
        );
        let declared = read(server.api_section("real", "dag_time_zone = Europe/Berlin\n"));
        assert_eq!(
            timetables(&declared).await,
            no_zone
                .iter()
                .map(|r| format!("{r}{trigger}|Europe/Berlin"))
                .collect::<Vec<_>>(),
            "Airflow {}",
            server.major
        );
        let rows = async |warehouse: &str| -> (Vec<String>, Vec<String>, Vec<String>) {
            let dags = client
                .query(
                    &format!(
                        "SELECT concat_ws('|', dag_id, is_paused, is_stale, has_import_errors, \
                         owners::text, tags::text, schedule, schedule_description, next_dagrun, \
                         next_dagrun_create_after, max_active_runs, last_parsed_time, fileloc, \
                         in_airflow) FROM {warehouse}.dag_catalog \
                         WHERE dag_id LIKE 'pw_t%' OR dag_id LIKE $1 ORDER BY dag_id"
                    ),
                    &[&format!("{id}%")],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            let errors = client
                .query(
                    &format!(
                        "SELECT concat_ws('|', bundle_name, filename, error_timestamp, first_line, \
                         last_line, stacktrace, stacktrace_chars, stacktrace_md5, dag_ids::text, \
                         resolved_at IS NULL) FROM {warehouse}.import_error_history \
                         WHERE filename = $1"
                    ),
                    &[&error_file],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            let pools: Vec<String> = client
                .query(
                    &format!(
                        // The slots taken and wanted move with the other tests' task
                        // instances on the same server; the catalogue test checks them.
                        "SELECT concat_ws('|', pool, slots, description) \
                         FROM {warehouse}.pool_history ORDER BY pool"
                    ),
                    &[],
                )
                .await
                .unwrap()
                .iter()
                .map(|r| r.get(0))
                .collect();
            (dags, errors, pools)
        };
        let (db_dags, db_errors, db_pools) = rows(&from_db).await;
        let (api_dags, api_errors, api_pools) = rows(&from_api).await;
        assert!(
            db_pools.iter().any(|p| p.starts_with("default_pool|")),
            "Airflow {}: {db_pools:?}",
            server.major
        );
        assert_eq!(api_pools, db_pools, "Airflow {}", server.major);
        assert_eq!(db_dags.len(), 42, "Airflow {}: {db_dags:?}", server.major);
        assert_eq!(api_dags, db_dags, "Airflow {}", server.major);
        assert_eq!(db_errors.len(), 1, "Airflow {}", server.major);
        assert!(
            db_errors[0].contains(&format!("{{{cron},{interval}}}")),
            "the file's DAGs: {db_errors:?}"
        );
        assert_eq!(api_errors, db_errors, "Airflow {}", server.major);
        for dag_id in [&cron, &interval] {
            metadata
                .execute("DELETE FROM dag_tag WHERE dag_id = $1", &[dag_id])
                .await
                .unwrap();
            metadata
                .execute("DELETE FROM dag WHERE dag_id = $1", &[dag_id])
                .await
                .unwrap();
        }
        metadata
            .execute(
                "DELETE FROM import_error WHERE filename = $1",
                &[&error_file],
            )
            .await
            .unwrap();
    }
}
