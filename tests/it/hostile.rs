//! A deliberately misbehaving Airflow REST API on loopback, beside the tests against real
//! Airflow: an answer that never ends, lists whose paging never ends (the same offset page
//! again and again; a cursor that comes back), lists whose `total_entries` lies or whose pages
//! hold more than asked, and a clock far in the future. Each extract must stop, quickly, with a
//! message naming what is wrong, and read a bounded number of requests and bytes; or, where the
//! answers still hold every run, read every run.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::common::*;

#[derive(Debug, Clone, Copy)]
enum Misbehaviour {
    /// The DAG-run list answers with a body that never ends.
    EndlessBody,
    /// Offset paging: every page is the same page, with a total that says there is more.
    SamePage,
    /// Cursor paging: the next cursor is always the same one.
    SameCursor,
    /// Offset paging over 250 runs that honours offset, with this `total_entries` on every
    /// page and this many rows beyond `limit` on each full page.
    Lying { total: i64, extra: usize },
    /// Offset paging over 3 runs, every answer dated 2100-01-01.
    FutureClock,
    /// Every list answered 429 Too Many Requests with `Retry-After: 600`.
    SlowDown,
    /// A well-behaved offset list of 3,000 runs, each page answered after 100 ms.
    Paced,
}

/// The value of `name` in the request line's query string.
fn query_value(path: &str, name: &str) -> Option<usize> {
    let query = path.split_once('?')?.1;
    query
        .split('&')
        .find_map(|pair| pair.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.parse().ok())
}

fn run_json(n: usize) -> String {
    format!(
        r#"{{"dag_id": "d", "dag_run_id": "r{n}", "logical_date": "2025-01-01T00:00:00Z", "run_after": "2025-01-01T00:00:00Z", "state": "success", "run_type": "scheduled"}}"#
    )
}

/// Writes one whole JSON answer and closes the connection.
async fn answer_json(socket: &mut tokio::net::TcpStream, body: &str) {
    answer_dated(socket, body, "").await;
}

/// [`answer_json`] with extra header lines (each ending in CRLF).
async fn answer_dated(socket: &mut tokio::net::TcpStream, body: &str, headers: &str) {
    let answer = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{headers}connection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = socket.write_all(answer.as_bytes()).await;
}

/// Starts the server; returns its base URL and the count of DAG-run list requests it answered.
async fn hostile_server(how: Misbehaviour) -> (String, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let lists = Arc::new(AtomicUsize::new(0));
    let counter = lists.clone();
    tokio::spawn(async move {
        // Bounded: a test never makes the server serve forever.
        for _ in 0..400 {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            let counter = counter.clone();
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match socket.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let text = String::from_utf8_lossy(&head).to_string();
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_string();
                let date = match how {
                    Misbehaviour::FutureClock => "date: Fri, 01 Jan 2100 00:00:00 GMT\r\n",
                    _ => "",
                };
                if path.starts_with("/api/v2/version") {
                    answer_dated(&mut socket, r#"{"version": "3.3.2"}"#, date).await;
                    return;
                }
                let n = counter.fetch_add(1, Ordering::SeqCst);
                match how {
                    Misbehaviour::EndlessBody => {
                        let _ = socket
                            .write_all(
                                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nconnection: close\r\n\r\n{\"dag_runs\": [",
                            )
                            .await;
                        let chunk = format!("{},", run_json(1)).repeat(100);
                        // Until pipewatch hangs up (or 1 GiB, a bound for the test itself).
                        for _ in 0..(1 << 30) / chunk.len() {
                            if socket.write_all(chunk.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                    Misbehaviour::SamePage | Misbehaviour::SameCursor => {
                        let body = match how {
                            Misbehaviour::SamePage => format!(
                                r#"{{"dag_runs": [{}, {}], "total_entries": 1000000}}"#,
                                run_json(1),
                                run_json(2)
                            ),
                            _ => format!(
                                r#"{{"dag_runs": [{}], "total_entries": 1000000, "total_entries_limit": 1000000, "next_cursor": "again"}}"#,
                                run_json(n)
                            ),
                        };
                        answer_json(&mut socket, &body).await;
                    }
                    Misbehaviour::SlowDown => {
                        let body = r#"{"detail": "slow down"}"#;
                        let _ = socket
                            .write_all(
                                format!(
                                    "HTTP/1.1 429 Too Many Requests\r\ncontent-type: application/json\r\nretry-after: 600\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                                    body.len()
                                )
                                .as_bytes(),
                            )
                            .await;
                    }
                    Misbehaviour::Lying { .. }
                    | Misbehaviour::FutureClock
                    | Misbehaviour::Paced => {
                        let (runs, total, extra) = match how {
                            Misbehaviour::Lying { total, extra } => (250, total, extra),
                            Misbehaviour::Paced => {
                                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                                (3000, 3000, 0)
                            }
                            _ => (3, 3, 0),
                        };
                        let offset = query_value(&path, "offset").unwrap_or(0).min(runs);
                        let limit = query_value(&path, "limit").unwrap_or(100);
                        let mut end = (offset + limit).min(runs);
                        if end - offset == limit {
                            end = (end + extra).min(runs);
                        }
                        let page: Vec<String> = (offset..end).map(run_json).collect();
                        let body = format!(
                            r#"{{"dag_runs": [{}], "total_entries": {total}}}"#,
                            page.join(", ")
                        );
                        answer_dated(&mut socket, &body, date).await;
                    }
                }
            });
        }
    });
    (base, lists)
}

async fn extract_from(how: Misbehaviour) -> (Run, usize) {
    let (run, lists, _) = extract_into_world(how).await;
    (run, lists)
}

async fn extract_into_world(how: Misbehaviour) -> (Run, usize, World) {
    let (base, lists) = hostile_server(how).await;
    let w = World::new(
        2,
        &format!(
            "[extract]\ntask_instances = false\n\
             [airflow_api_hostile]\nbase_url = {base}\ntoken = t\napi_version = v2\n\
             max_requests_per_second = 0\nmax_response_bytes = 100000\nrequest_timeout_seconds = 20\n\
             page_size = 100\n\
             [retry]\nattempts = {attempts}\nmax_backoff_seconds = 1\n",
            attempts = if matches!(how, Misbehaviour::SlowDown) { 3 } else { 1 }
        ),
    )
    .await;
    w.run_ok(&["migrate"]);
    let run = w.pipewatch(&["extract", "--instance", "hostile"]);
    (run, lists.load(Ordering::SeqCst), w)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_answer_is_cut_at_max_response_bytes() {
    let (run, _) = extract_from(Misbehaviour::EndlessBody).await;
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(
        run.stderr.contains("/api/v2/dags/~/dagRuns")
            && run.stderr.contains("answered more than 100000 bytes")
            && run.stderr.contains("max_response_bytes"),
        "{run:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_same_page_again_stops_the_extract() {
    let (run, lists) = extract_from(Misbehaviour::SamePage).await;
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(
        run.stderr.contains("paging is broken")
            && run
                .stderr
                .contains("the same page of 2 rows came twice in a row"),
        "{run:?}"
    );
    assert!(lists <= 3, "{lists} list requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cursor_that_comes_back_stops_the_extract() {
    let (run, lists) = extract_from(Misbehaviour::SameCursor).await;
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(
        run.stderr.contains("paging is broken")
            && run.stderr.contains("cursor \"again\" came back"),
        "{run:?}"
    );
    assert!(lists <= 3, "{lists} list requests");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_total_too_small_does_not_end_the_list_early() {
    let (run, lists, w) = extract_into_world(Misbehaviour::Lying { total: 1, extra: 0 }).await;
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("(250 runs, full extract"), "{run:?}");
    // Three pages and the empty one that ends the list.
    assert_eq!(lists, 4);
    assert_eq!(
        w.count("SELECT row_count FROM WH.staged_extract").await,
        250
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_that_could_skip_runs_fail_the_extract() {
    for (how, says) in [
        (
            Misbehaviour::Lying {
                total: -5,
                extra: 0,
            },
            "total_entries is -5, not a count",
        ),
        (
            Misbehaviour::Lying {
                total: 250,
                extra: 5,
            },
            "a page held 105 rows where at most 100 were asked for",
        ),
        (
            Misbehaviour::Lying {
                total: 1000,
                extra: 0,
            },
            "the list ended after 250 rows although total_entries announced 1000",
        ),
    ] {
        let (run, _, w) = extract_into_world(how).await;
        assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{how:?}: {run:?}");
        assert!(
            run.stderr.contains("paging is broken") && run.stderr.contains(says),
            "{how:?}: {run:?}"
        );
        assert_eq!(
            w.count("SELECT count(*) FROM WH.staged_extract").await,
            0,
            "nothing registered"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_clock_far_ahead_is_refused_before_anything_is_read() {
    let (run, lists, w) = extract_into_world(Misbehaviour::FutureClock).await;
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(
        run.stderr
            .contains("the server's clock (its Date header) reads 2100-01-01 00:00:00 UTC")
            && run.stderr.contains("ahead of this machine's clock")
            && run.stderr.contains("max_clock_skew_seconds = 300"),
        "{run:?}"
    );
    assert_eq!(lists, 0, "no list was read");
    assert_eq!(
        w.count("SELECT count(*) FROM WH.staged_extract").await,
        0,
        "nothing registered"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured_only_up_to_max_backoff_seconds() {
    // Retry-After: 600 three times; [retry] attempts = 3, max_backoff_seconds = 1: two waits of
    // one second, then a clear failure, not twenty minutes of waiting.
    let (run, lists) = extract_from(Misbehaviour::SlowDown).await;
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert_eq!(lists, 3, "three attempts: {run:?}");
    assert_eq!(
        run.stderr
            .matches(
                "retrying in 1 s (a Retry-After is honoured up to [retry] max_backoff_seconds = 1)"
            )
            .count(),
        2,
        "{run:?}"
    );
    assert!(run.stderr.contains("429"), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_during_an_api_extract_loses_nothing_and_leaves_nothing() {
    let (base, lists) = hostile_server(Misbehaviour::Paced).await;
    let w = World::new(
        2,
        &format!(
            // The server serves DAG runs only: no catalogue.
            "[extract]\ntask_instances = false\ncatalog = false\n\
             [airflow_api_hostile]\nbase_url = {base}\ntoken = t\napi_version = v2\n\
             max_requests_per_second = 0\npage_size = 100\n"
        ),
    )
    .await;
    w.run_ok(&["migrate"]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .args([
            "--config",
            w.config.to_str().unwrap(),
            "run",
            "--instance",
            "hostile",
        ])
        .current_dir(w.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Killed (SIGKILL) a third of the way through the 31 pages.
    while lists.load(Ordering::SeqCst) < 10 {
        assert!(child.try_wait().unwrap().is_none(), "ended before the kill");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(
        w.count("SELECT count(*) FROM WH.dag_run_history").await,
        0,
        "nothing loaded from a cut extract"
    );
    w.run_ok(&["run", "--instance", "hostile"]);
    assert_eq!(
        w.count("SELECT count(*) FROM WH.dag_run_history WHERE airflow_instance = 'hostile'")
            .await,
        3000
    );
    assert_eq!(
        w.count("SELECT count(*) FROM WH.staged_extract WHERE loaded_at IS NULL")
            .await,
        0,
        "nothing pending"
    );
    let partial: Vec<_> = files_under(w.dir.path())
        .into_iter()
        .filter(|p| p.to_string_lossy().contains(".partial-"))
        .collect();
    assert!(
        partial.is_empty(),
        "the rerun removed the cut extract's file: {partial:?}"
    );
}
