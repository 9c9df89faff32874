//! Metrics for Prometheus, with the real thing: Debian's Prometheus, Pushgateway and
//! node_exporter (textfile collector) that scripts/test starts. The values Prometheus stores are
//! compared with the warehouse's own; `promtool check metrics` judges the text; a failed run
//! leaves the last-success gauge as it was; a reader looping while pipewatch rewrites the file
//! never sees half of it; a destination that does not work is one warning and changes no exit
//! code, and no credential shows.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;

use crate::common::*;

fn prometheus_url() -> String {
    env("PIPEWATCH_TEST_PROMETHEUS_URL")
}

fn pushgateway_url() -> String {
    env("PIPEWATCH_TEST_PUSHGATEWAY_URL")
}

/// node_exporter's textfile directory: one test owns it (one file name per directory).
fn textfile_dir() -> PathBuf {
    PathBuf::from(env("PIPEWATCH_TEST_TEXTFILE_DIR"))
}

/// `promtool check metrics` on `text`: Ok, or promtool's complaint.
fn promtool_check(text: &str) -> Result<(), String> {
    use std::io::Write;
    let mut child = std::process::Command::new(env("PIPEWATCH_TEST_PROMTOOL"))
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("run promtool");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

/// The value of the one sample of `name` whose labels include every `labels` pair, in `text`.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find(|l| {
            let (series, _) = l.rsplit_once(' ').unwrap();
            (series == name || series.starts_with(&format!("{name}{{")))
                && labels
                    .iter()
                    .all(|(k, v)| series.contains(&format!("{k}=\"{v}\"")))
        })
        .map(|l| l.rsplit_once(' ').unwrap().1.parse().unwrap())
}

/// Asks Prometheus for `query` until it answers with exactly one series of value `expected`
/// (within 1e-6 relative), for up to 60 s; panics with the last answer otherwise.
async fn wait_for_value(query: &str, expected: f64) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = String::new();
    while Instant::now() < deadline {
        let url = reqwest::Url::parse_with_params(
            &format!("{}/api/v1/query", prometheus_url()),
            &[("query", query)],
        )
        .unwrap();
        let answer = http
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status());
        if let Ok(answer) = answer {
            let body: serde_json::Value =
                serde_json::from_str(&answer.text().await.unwrap()).unwrap();
            let result = &body["data"]["result"];
            if let Some([one]) = result.as_array().map(Vec::as_slice) {
                let value: f64 = one["value"][1].as_str().unwrap().parse().unwrap();
                if (value - expected).abs() <= 1e-6 * expected.abs().max(1.0) {
                    return;
                }
            }
            last = body.to_string();
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("Prometheus never answered {query} with {expected}: last answer {last}");
}

/// A world whose Airflow instance has a name of its own (the Pushgateway groups by it).
async fn world(prometheus: &str) -> (World, String) {
    let w = World::new(2, prometheus).await;
    let instance = unique("prom");
    let text = std::fs::read_to_string(&w.config).unwrap().replacen(
        "[airflowdb_config]\n",
        &format!("[airflowdb_config]\ninstance = {instance}\n"),
        1,
    );
    std::fs::write(&w.config, text).unwrap();
    (w, instance)
}

/// Recent runs: `orders` 2 of 3 succeeded, `events` all 2; both within the last 7 days.
async fn insert_recent_runs(w: &World) {
    for (dag, hours_ago, state) in [
        ("orders", 30, "success"),
        ("orders", 20, "failed"),
        ("orders", 10, "success"),
        ("events", 12, "success"),
        ("events", 6, "success"),
    ] {
        let logical = (Utc::now() - chrono::Duration::hours(hours_ago)).to_rfc3339();
        w.insert(&RunSpec::finished(dag, &logical, state)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stores_the_warehouse_figures_from_the_textfile_and_the_pushgateway() {
    let dir = textfile_dir();
    let (w, instance) = world(&format!(
        "[prometheus]\ntextfile_directory = {}\npushgateway_url = {}\nmax_dags = 10\n",
        dir.display(),
        pushgateway_url()
    ))
    .await;
    insert_recent_runs(&w).await;
    w.run_ok(&["run"]);

    // The file is there, whole, and promtool finds nothing wrong with it.
    let path = dir.join("pipewatch.prom");
    let text = std::fs::read_to_string(&path).expect("run writes pipewatch.prom");
    promtool_check(&text).unwrap_or_else(|e| panic!("promtool check metrics: {e}\n{text}"));
    // `pipewatch metrics` prints the same families.
    let printed = w.run_ok(&["metrics"]).stdout;
    promtool_check(&printed).unwrap();
    assert_eq!(
        sample(
            &printed,
            "pipewatch_dag_7d_success_ratio",
            &[("dag_id", "orders")]
        ),
        sample(
            &text,
            "pipewatch_dag_7d_success_ratio",
            &[("dag_id", "orders")]
        ),
    );

    // The warehouse's own figures, computed here.
    let ratio: f64 = w
        .query_strings(&format!(
            "SELECT (sum(successful_runs)::float8 / sum(finished_runs))::text \
             FROM {}.dag_success_daily WHERE dag_id = 'orders'",
            w.warehouse
        ))
        .await[0]
        .parse()
        .unwrap();
    assert!((ratio - 2.0 / 3.0).abs() < 1e-9, "{ratio}");
    let last_run_success: f64 = w
        .query_strings(&format!(
            "SELECT extract(epoch FROM max(ended_at))::text FROM {}.pipewatch_run_log \
             WHERE command = 'run'",
            w.warehouse
        ))
        .await[0]
        .parse()
        .unwrap();
    let in_file = sample(
        &text,
        "pipewatch_command_last_success_timestamp_seconds",
        &[("command", "run")],
    )
    .unwrap();
    assert!(
        (in_file - last_run_success).abs() < 0.002,
        "{in_file} vs {last_run_success}"
    );

    // Prometheus has them, through node_exporter's textfile collector and the Pushgateway.
    let dag = format!("airflow_instance=\"{instance}\",dag_id=\"orders\"");
    wait_for_value(
        &format!("pipewatch_dag_7d_success_ratio{{job=\"node\",{dag}}}"),
        2.0 / 3.0,
    )
    .await;
    wait_for_value(
        &format!(
            "pipewatch_dag_7d_success_ratio{{job=\"pipewatch\",instance=\"{instance}\",{dag}}}"
        ),
        2.0 / 3.0,
    )
    .await;
    wait_for_value(
        &format!(
            "pipewatch_instance_pending_extracts{{job=\"pipewatch\",instance=\"{instance}\",airflow_instance=\"{instance}\"}}"
        ),
        0.0,
    )
    .await;
    wait_for_value(
        "pipewatch_command_last_success_timestamp_seconds{job=\"pipewatch\",instance=\"\",command=\"run\"}",
        in_file,
    )
    .await;
    // A rule with no open alert says 0 (a family missing from a push would keep stale values
    // in the Pushgateway).
    wait_for_value(
        &format!(
            "pipewatch_open_alerts{{job=\"pipewatch\",instance=\"{instance}\",rule=\"freshness\"}}"
        ),
        0.0,
    )
    .await;

    // A run that fails (Airflow's table is gone) exits 3 as before; the last-success gauge
    // keeps its value, in the file and in Prometheus; the failure is there.
    w.exec("ALTER TABLE AF.dag_run RENAME TO dag_run_gone")
        .await;
    let failed = w.pipewatch(&["run"]);
    assert_eq!(failed.code, 3, "{failed:?}");
    let after = std::fs::read_to_string(&path).unwrap();
    assert_eq!(
        sample(
            &after,
            "pipewatch_command_last_success_timestamp_seconds",
            &[("command", "run")]
        ),
        Some(in_file),
        "{after}"
    );
    let failure_at = sample(
        &after,
        "pipewatch_command_last_failure_timestamp_seconds",
        &[("command", "run")],
    )
    .expect("the failure is exported");
    assert!(failure_at > in_file);
    wait_for_value(
        "pipewatch_command_last_failure_timestamp_seconds{job=\"pipewatch\",instance=\"\",command=\"run\"}",
        failure_at,
    )
    .await;
    wait_for_value(
        "pipewatch_command_last_success_timestamp_seconds{job=\"pipewatch\",instance=\"\",command=\"run\"}",
        in_file,
    )
    .await;
    w.exec("ALTER TABLE AF.dag_run_gone RENAME TO dag_run")
        .await;

    // A reader looping while pipewatch rewrites the file never sees half of it.
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (stop, path) = (stop.clone(), path.clone());
        std::thread::spawn(move || {
            let mut reads = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let text = std::fs::read_to_string(&path).expect("the file is always there");
                assert!(
                    text.ends_with('\n') && text.contains("pipewatch_dags_exported "),
                    "a reader saw a partial file:\n{text}"
                );
                reads += 1;
            }
            reads
        })
    };
    for _ in 0..4 {
        w.run_ok(&["transform"]);
    }
    stop.store(true, Ordering::Relaxed);
    let reads = reader.join().expect("the reader saw only whole files");
    assert!(reads > 10, "the reader read only {reads} times");
    let leftovers: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(
        leftovers,
        ["pipewatch.prom"],
        "no temporary file is left behind"
    );
}

/// Runs `args` in `w` and returns the run, asserting its exit code is `code`.
fn expect_code(w: &World, args: &[&str], code: i32) -> Run {
    let run = w.pipewatch(args);
    assert_eq!(run.code, code, "pipewatch {args:?}: {run:?}");
    run
}

fn warnings(run: &Run) -> Vec<String> {
    run.stderr
        .lines()
        .filter(|l| l.contains("WARN"))
        .map(str::to_string)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_destination_that_does_not_work_is_one_warning_and_changes_no_exit_code() {
    // A textfile "directory" that is a file, a Pushgateway nothing listens on, with
    // credentials in its URL.
    let scratch = TempDir::new();
    let not_a_dir = scratch.path().join("plain-file");
    std::fs::write(&not_a_dir, "x").unwrap();
    let port = closed_port();
    let (w, _) = world(&format!(
        "[prometheus]\ntextfile_directory = {}\npushgateway_url = http://pipewatch:s3cr3t-pw@127.0.0.1:{port}\npushgateway_timeout_seconds = 2\n",
        not_a_dir.display()
    ))
    .await;
    insert_recent_runs(&w).await;
    let run = expect_code(&w, &["run"], 0);
    let warned = warnings(&run);
    assert_eq!(warned.len(), 2, "one warning per destination: {run:?}");
    assert!(
        warned[0].contains("plain-file/pipewatch.prom"),
        "{warned:?}"
    );
    assert!(
        warned[1].contains(&format!("http://127.0.0.1:{port}/")),
        "{warned:?}"
    );
    assert!(!run.all_output().contains("s3cr3t"), "{run:?}");
    // A command that fails keeps its own exit code.
    w.exec("ALTER TABLE AF.dag_run RENAME TO dag_run_gone")
        .await;
    let failed = expect_code(&w, &["run"], 3);
    assert!(!failed.all_output().contains("s3cr3t"), "{failed:?}");
    w.exec("ALTER TABLE AF.dag_run_gone RENAME TO dag_run")
        .await;

    // A Pushgateway that answers 500: one warning naming the answer; a directory that does not
    // exist: one warning naming it, and nothing created.
    let (url, mut posted) = webhook_server(vec![500; 20]).await;
    let base = url.split("/hooks").next().unwrap().to_string();
    let missing = scratch.path().join("no-such-dir");
    let text = std::fs::read_to_string(&w.config).unwrap();
    let head = text.split("[prometheus]").next().unwrap().to_string();
    std::fs::write(
        &w.config,
        format!(
            "{head}[prometheus]\ntextfile_directory = {}\npushgateway_url = {base}\n",
            missing.display()
        ),
    )
    .unwrap();
    let run = expect_code(&w, &["transform"], 0);
    let warned = warnings(&run);
    assert_eq!(warned.len(), 2, "{run:?}");
    assert!(
        warned[0].contains("no-such-dir/pipewatch.prom"),
        "{warned:?}"
    );
    assert!(warned[1].contains("500"), "{warned:?}");
    assert!(!missing.exists());
    let body = posted.recv().await.expect("the push reached the server");
    assert!(body.contains("# TYPE pipewatch_"), "{body}");
    // Commands that only read publish nothing.
    let status = w.pipewatch(&["status"]);
    assert!(warnings(&status).is_empty(), "{status:?}");
}

#[tokio::test]
async fn metrics_on_a_schema_never_migrated_is_a_usage_error() {
    let (w, _) = world("").await;
    let run = expect_code(&w, &["metrics"], 2);
    assert!(run.stderr.contains("migrate"), "{run:?}");
}

#[test]
fn the_readmes_alerting_rules_pass_promtool() {
    let readme =
        std::fs::read_to_string(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("README.md"))
            .unwrap();
    let rules: Vec<&str> = readme
        .split("```yaml\n")
        .skip(1)
        .map(|b| &b[..b.find("```").unwrap()])
        .filter(|b| b.contains("pipewatch_"))
        .collect();
    assert_eq!(rules.len(), 1, "the README shows one rules file");
    let dir = TempDir::new();
    let file = dir.path().join("pipewatch.rules.yml");
    std::fs::write(&file, rules[0]).unwrap();
    let out = std::process::Command::new(env("PIPEWATCH_TEST_PROMTOOL"))
        .args(["check", "rules", file.to_str().unwrap()])
        .output()
        .expect("run promtool");
    assert!(out.status.success(), "promtool check rules: {out:?}");
}
