//! Alerts against the real PostgreSQL that `scripts/test` starts, with a real HTTP listener as
//! the webhook: a success-rate drop opens only after its consecutive breaches and above its
//! minimum runs, opens exactly once over repeated and concurrent evaluations, posts one notice
//! per transition with the run context, and resolves when the data recovers; a silenced DAG and
//! a DAG below the minimum never open; a failing validation test joins the ledger.

use chrono::{Duration, Utc};

use crate::common::*;

/// Finished runs of `dag` in the 24 hours `days_ago` days back: `ok` successful then `failed`
/// failed, an hour apart, the last of `days_ago` = 0 six hours before now (it ended 4 h 50 min
/// ago). Counted back from now, not from midnight: in the first hours of a UTC day, runs at
/// today's 01:00-03:00 would lie in the future (the alerts tests failed at 00:40 UTC).
async fn day_of_runs(w: &World, dag: &str, days_ago: i64, ok: usize, failed: usize) {
    let anchor = chrono::DurationRound::duration_trunc(Utc::now(), Duration::hours(1)).unwrap()
        - Duration::hours(6)
        - Duration::days(days_ago);
    let count = ok + failed;
    for n in 0..count {
        let logical = (anchor - Duration::hours((count - 1 - n) as i64)).to_rfc3339();
        let state = if n < ok { "success" } else { "failed" };
        w.insert(&RunSpec::finished(dag, &logical, state)).await;
    }
}

async fn alerts(w: &World) -> Vec<String> {
    w.query_strings(&format!(
        "SELECT concat_ws('|', rule, airflow_instance, subject, \
         CASE WHEN resolved_at IS NULL THEN 'open' ELSE 'resolved' END) \
         FROM {}.alert_history ORDER BY opened_at",
        w.warehouse
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_success_rate_drop_opens_once_notifies_each_transition_and_resolves() {
    let (url, mut posted) = webhook_server(vec![]).await;
    let w = World::new(
        2,
        &format!(
            "[validate]\nwebhook_url = {url}\n\
             [alerts]\nsuccess_rate_drop = 0.2\nsuccess_rate_min_runs = 3\nconsecutive_breaches = 2\ncooldown_minutes = 0\n\
             freshness_hours = false\nruntime_mad_multiple = false\n\
             [alerts_quiet]\ndag_id = Quiet_DAG\nenabled = false\n\
             [airflow_ui]\nbase_url = https://airflow.example.com/\n"
        ),
    )
    .await;
    for days_ago in 1..=7 {
        for dag in ["orders", "Quiet_DAG", "rare"] {
            day_of_runs(&w, dag, days_ago, 4, 0).await;
        }
    }
    // Today: orders and Quiet_DAG fail 3 of 4 runs; rare fails its only 2 (below the minimum).
    day_of_runs(&w, "orders", 0, 1, 3).await;
    day_of_runs(&w, "Quiet_DAG", 0, 1, 3).await;
    day_of_runs(&w, "rare", 0, 0, 2).await;

    // First evaluation: one breach of the two needed.
    let run = w.run_ok(&["run"]);
    assert!(run.stdout.contains("alerts: "), "{run:?}");
    assert!(
        alerts(&w).await.is_empty(),
        "opened before its consecutive count"
    );
    assert!(posted_texts(&mut posted).is_empty());
    let listed = w.pipewatch(&["alerts"]);
    assert_eq!(listed.code, 0, "no open alert: {listed:?}");

    // Second: it opens, once, with one notice naming the numbers, the failed runs and the link.
    w.run_ok(&["run"]);
    assert_eq!(alerts(&w).await, ["success_rate_drop|default|orders|open"]);
    let texts = posted_texts(&mut posted);
    assert_eq!(texts.len(), 1, "{texts:?}");
    let text = &texts[0];
    for wanted in [
        "pipewatch alert OPENED: success-rate drop for DAG orders on Airflow instance default",
        "3 of 3 runs failed (success 0 %, from ",
        "against a success rate of 100.0 % over the 28 runs before",
        "failed runs: scheduled__",
        "https://airflow.example.com/dags/orders",
    ] {
        assert!(text.contains(wanted), "{wanted:?} not in {text}");
    }
    let listed = w.pipewatch(&["alerts", "--open"]);
    assert_eq!(listed.code, 1, "an open alert exits 1: {listed:?}");
    assert!(listed.stdout.contains("1 open alert."), "{listed:?}");
    assert!(
        listed
            .stdout
            .contains("success_rate_drop  orders on default"),
        "{listed:?}"
    );

    // The report lists it, and its digest goes to the webhook as one short text.
    let page = w.dir.path().join("report.html");
    let run = w.run_ok(&["report", "--post", "--out", page.to_str().unwrap()]);
    assert!(run.stdout.contains("Wrote the report"), "{run:?}");
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("Open alerts") && html.contains("success_rate_drop"),
        "{html}"
    );
    let texts = posted_texts(&mut posted);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with("pipewatch digest, ") && texts[0].contains("1 open alert."),
        "{}",
        texts[0]
    );
    assert!(texts[0].contains("Worst DAGs: "), "{}", texts[0]);

    // Repeated and concurrent evaluations: still one alert, no new notice.
    w.run_ok(&["run"]);
    let config = w.config.to_str().unwrap().to_string();
    let dir = w.dir.path().to_path_buf();
    let evaluations: Vec<_> = (0..2)
        .map(|_| {
            let (config, dir) = (config.clone(), dir.clone());
            std::thread::spawn(move || {
                pipewatch(&dir, &["--config", &config, "alerts", "--evaluate"], &[])
            })
        })
        .collect();
    for e in evaluations {
        let run = e.join().unwrap();
        assert!(run.code == 1, "the alert is still open: {run:?}");
    }
    assert_eq!(alerts(&w).await, ["success_rate_drop|default|orders|open"]);
    assert!(posted_texts(&mut posted).is_empty(), "no second notice");

    // The data recovers (the failed runs are cleared and succeed): resolved, one notice.
    w.exec(
        "UPDATE AF.dag_run SET state = 'success', updated_at = now() \
         WHERE dag_id = 'orders' AND state = 'failed' AND execution_date >= now() - interval '1 day'",
    )
    .await;
    w.run_ok(&["run", "--full"]);
    assert_eq!(
        alerts(&w).await,
        ["success_rate_drop|default|orders|resolved"]
    );
    let texts = posted_texts(&mut posted);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with("pipewatch alert RESOLVED: success-rate drop for DAG orders"),
        "{}",
        texts[0]
    );
    let listed = w.pipewatch(&["alerts", "--open"]);
    assert_eq!(listed.code, 0, "{listed:?}");
    let listed = w.run_ok(&["alerts"]);
    assert!(listed.stdout.contains("resolved"), "{listed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_validation_test_joins_the_ledger_and_clears_when_it_passes() {
    let (url, mut posted) = webhook_server(vec![]).await;
    let w = World::new(
        2,
        &format!("[alerts]\nvalidation_failures = true\nwebhook_url = {url}\n"),
    )
    .await;
    std::fs::write(w.dir.path().join("five.sql"), "SELECT 5").unwrap();
    std::fs::write(w.dir.path().join("zero.sql"), "SELECT 0").unwrap();
    let validate = |operator: &str| {
        w.pipewatch(&[
            "validate",
            "five.sql",
            "zero.sql",
            operator,
            "warn",
            "--name",
            "orders_match",
        ])
    };
    assert_eq!(validate("equals").code, 0);
    let run = w.pipewatch(&["alerts", "--evaluate"]);
    assert_eq!(run.code, 1, "{run:?}");
    assert_eq!(
        alerts(&w).await,
        ["validation_failure|warehouse|orders_match|open"]
    );
    let texts = posted_texts(&mut posted);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].contains("validation test orders_match (database warehouse)")
            && texts[0].contains("5 equals 0"),
        "{}",
        texts[0]
    );
    assert_eq!(validate("greater").code, 0);
    let run = w.pipewatch(&["alerts", "--evaluate"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(
        alerts(&w).await,
        ["validation_failure|warehouse|orders_match|resolved"]
    );
    assert_eq!(
        posted_texts(&mut posted).len(),
        1,
        "the resolution is posted"
    );
}

/// Runtime regression, freshness and landing deadline each open on data built to breach them,
/// with per-DAG rules; a DAG within its rules opens nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runtime_freshness_and_landing_rules_open_on_their_fixtures() {
    let w = World::new(
        2,
        "[alerts]\nruntime_mad_multiple = 3\nruntime_recent_runs = 5\nruntime_baseline_min_runs = 20\n\
         [alerts_stale]\ndag_id = stale\nfreshness_hours = 24\n\
         [alerts_late]\ndag_id = late\nlanding_deadline = 00:00\n",
    )
    .await;
    // slowdown: 25 runs of 100 s over the last days, then its 5 newest take 400 s.
    // steady: the same 30 runs, all of 100 s.
    for dag in ["slowdown", "steady"] {
        for n in 0..30 {
            let logical = (Utc::now() - Duration::hours(6 * (30 - n) + 2)).to_rfc3339();
            w.insert(&RunSpec::finished(dag, &logical, "success")).await;
        }
    }
    w.exec(
        "UPDATE AF.dag_run SET end_date = start_date + interval '100 seconds', updated_at = now() \
         WHERE dag_id IN ('slowdown', 'steady');
         UPDATE AF.dag_run SET end_date = start_date + interval '400 seconds' \
         WHERE dag_id = 'slowdown' AND id IN \
           (SELECT id FROM AF.dag_run WHERE dag_id = 'slowdown' ORDER BY execution_date DESC LIMIT 5);",
    )
    .await;
    // stale: its only successful run ended three days ago.
    let three_days_ago = (Utc::now() - Duration::days(3)).to_rfc3339();
    w.insert(&RunSpec::finished("stale", &three_days_ago, "success"))
        .await;
    // late: ran every day of the week before; yesterday's run failed.
    for days_ago in 1..=8 {
        let day = (Utc::now() - Duration::days(days_ago)).date_naive();
        let logical = day.and_hms_opt(1, 0, 0).unwrap().and_utc().to_rfc3339();
        let state = if days_ago == 1 { "failed" } else { "success" };
        w.insert(&RunSpec::finished("late", &logical, state)).await;
    }
    w.run_ok(&["run"]);
    let run = w.pipewatch(&["alerts", "--evaluate"]);
    assert_eq!(run.code, 1, "{run:?}");
    let mut opened = alerts(&w).await;
    opened.sort();
    assert_eq!(
        opened,
        [
            "freshness|default|stale|open",
            "landing_deadline|default|late|open",
            "runtime_regression|default|slowdown|open",
        ],
        "{run:?}"
    );
    let messages = w
        .query_strings(&format!(
            "SELECT rule || ': ' || message FROM {}.alert_history ORDER BY rule",
            w.warehouse
        ))
        .await;
    let all = messages.join("\n");
    for wanted in [
        "the shorter of the last 2 successful runs 6.7 min against a baseline median of 100 s",
        "the runs of ",
        "the newest successful run (scheduled__",
    ] {
        assert!(all.contains(wanted), "{wanted:?} not in {all}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_that_are_off_or_post_nowhere_say_so() {
    let off = World::new(2, "").await;
    off.run_ok(&["migrate"]);
    let listed = off.run_ok(&["alerts"]);
    assert!(
        listed.stdout.starts_with("Alerts are off: ")
            && listed.stdout.contains("has no [alerts] section"),
        "{listed:?}"
    );
    let checked = off.pipewatch(&["check-config"]);
    assert!(
        checked.stdout.contains("alerts") && checked.stdout.contains("off: no [alerts] section"),
        "{checked:?}"
    );

    let nowhere = World::new(2, "[alerts]\nfreshness_hours = 1\n").await;
    let old = (Utc::now() - Duration::days(2)).to_rfc3339();
    nowhere
        .insert(&RunSpec::finished("orders", &old, "success"))
        .await;
    let run = nowhere.run_ok(&["run"]);
    assert!(
        run.stdout.contains("1 opened")
            && run
                .stdout
                .contains("no notice sent: set [alerts] webhook_url"),
        "{run:?}"
    );
    assert!(run.stderr.contains("No notice sent"), "{run:?}");
    let checked = nowhere.pipewatch(&["check-config"]);
    assert!(checked.stdout.contains("no webhook"), "{checked:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn evaluating_alerts_does_not_need_the_stage() {
    // A stage whose credentials are wrong: alerts --evaluate never opens it.
    let staging = format!(
        "[staging]\nbackend = s3\nbucket = no-such-bucket\nendpoint_url = {}\naccess_key_id = wrong\nsecret_access_key = wrong\ntimeout_seconds = 5\n",
        s3_endpoint()
    );
    let w = World::with_stage(2, "[alerts]\nfreshness_hours = 1\n", &staging).await;
    w.run_ok(&["migrate"]);
    let run = w.pipewatch(&["alerts", "--evaluate"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("alerts: "), "{run:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_names_cannot_forge_markup_log_lines_or_reading_order() {
    let (url, mut posted) = webhook_server(vec![]).await;
    let w = World::new(
        2,
        &format!("[alerts]\nfreshness_hours = 1\nwebhook_url = {url}\n"),
    )
    .await;
    // A DAG id with markup, a right-to-left override and a newline that starts a fake line.
    let evil = "evil<b>&\u{202e}gnp.exe\nERROR forged line";
    let long = "x".repeat(250);
    let old = (Utc::now() - Duration::days(2)).to_rfc3339();
    for dag in [evil, long.as_str()] {
        w.insert(&RunSpec::finished(dag, &old, "success")).await;
    }
    let log = w.dir.path().join("pipewatch.log");
    let run = w.pipewatch(&["--log-file", log.to_str().unwrap(), "run"]);
    assert_eq!(run.code, 0, "{run:?}");

    // The notice: Slack's escapes, and the name isolated so the override stays inside it.
    let texts = posted_texts(&mut posted);
    let notice = texts
        .iter()
        .find(|t| t.contains("evil"))
        .unwrap_or_else(|| panic!("{texts:?}"));
    assert!(
        notice.contains("\u{2068}evil&lt;b&gt;&amp;\u{202e}gnp.exe\nERROR forged line\u{2069}"),
        "{notice:?}"
    );
    assert!(!notice.contains("<b>"), "{notice:?}");

    // The text log: the newline in the name is written as \n, so no line of its own.
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains(r"evil<b>&"), "{text}");
    assert!(text.contains(r"\nERROR forged line"), "{text}");
    assert!(
        !text.lines().any(|l| l.starts_with("ERROR forged")),
        "a forged log line: {text}"
    );

    // The report: every name in <bdi>, escaped, and long names wrap.
    let out = w.dir.path().join("report.html");
    w.run_ok(&["report", "--out", out.to_str().unwrap()]);
    let page = std::fs::read_to_string(&out).unwrap();
    assert!(
        page.contains("<bdi>evil&lt;b&gt;&amp;\u{202e}gnp.exe\nERROR forged line</bdi>"),
        "the DAG's name isolated in the page"
    );
    assert!(page.contains(&format!("<bdi>{long}</bdi>")));
    assert!(page.contains("overflow-wrap: anywhere"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_kill_while_a_slow_webhook_answers_loses_no_notice() {
    // The webhook takes a minute to answer its first post; pipewatch is killed (SIGKILL) while
    // it waits. The notice is not marked as posted, so the next evaluation posts it again: a
    // receiver may see it twice, never zero times, and the alert exists once.
    let (url, mut posted) =
        webhook_server_stalling(vec![], Some(std::time::Duration::from_secs(60))).await;
    let w = World::new(
        2,
        &format!(
            "[alerts]\nwebhook_url = {url}\nsuccess_rate_drop = 0.2\nsuccess_rate_min_runs = 3\n\
             consecutive_breaches = 1\ncooldown_minutes = 0\n"
        ),
    )
    .await;
    for days_ago in 1..=7 {
        day_of_runs(&w, "orders", days_ago, 4, 0).await;
    }
    day_of_runs(&w, "orders", 0, 1, 3).await;
    // Loaded with the same configuration less [alerts] (run would judge and post at once).
    let text = std::fs::read_to_string(&w.config).unwrap();
    let quiet = w.dir.path().join("no-alerts.conf");
    std::fs::write(&quiet, &text[..text.find("[alerts]").unwrap()]).unwrap();
    let loaded = pipewatch(
        w.dir.path(),
        &["--config", quiet.to_str().unwrap(), "run"],
        &[],
    );
    assert_eq!(loaded.code, 0, "{loaded:?}");
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_pipewatch"))
        .args([
            "--config",
            w.config.to_str().unwrap(),
            "alerts",
            "--evaluate",
        ])
        .current_dir(w.dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let first = tokio::time::timeout(std::time::Duration::from_secs(60), posted.recv())
        .await
        .expect("the notice reached the webhook")
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(first.contains("pipewatch alert OPENED"), "{first}");
    assert_eq!(alerts(&w).await, ["success_rate_drop|default|orders|open"]);

    let again = w.pipewatch(&["alerts", "--evaluate"]);
    assert!(again.code == 0 || again.code == 1, "{again:?}");
    let texts = posted_texts(&mut posted);
    assert_eq!(texts.len(), 1, "posted again once: {texts:?}");
    assert!(texts[0].contains("pipewatch alert OPENED"), "{texts:?}");
    assert_eq!(alerts(&w).await, ["success_rate_drop|default|orders|open"]);
    // Marked now: a third evaluation posts nothing.
    w.pipewatch(&["alerts", "--evaluate"]);
    assert!(posted_texts(&mut posted).is_empty());
}
