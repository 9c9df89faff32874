//! Alert routes against the real PostgreSQL that `scripts/test` starts, with three real
//! loopback HTTP listeners as the teams' webhooks: each route gets exactly its DAGs' notices
//! (by owner and tag from the DAG catalogue), one digest per run; what no route takes goes to
//! the default route; nothing is posted twice over repeated and concurrent evaluations; a route
//! whose listener is down gets its digest from the next run, the others nothing again.

use chrono::{Duration, Utc};

use crate::catalog::dag;
use crate::common::*;

/// The DAG ids in a route's notices, sorted.
fn dags_in(notices: &[String]) -> Vec<String> {
    let mut dags: Vec<String> = notices
        .iter()
        .map(|n| {
            let start = n.find("for DAG ").expect(n) + "for DAG ".len();
            n[start..].split(' ').next().unwrap().to_string()
        })
        .collect();
    dags.sort();
    dags
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_route_gets_its_dags_notices_once_as_one_digest_per_run() {
    let (finance_url, mut finance) = webhook_server(vec![]).await;
    let (default_url, mut default) = webhook_server(vec![]).await;
    // The privacy team's listener is down for the first run.
    let (pii_url, pii_port) = webhook_url_down();
    let w = World::new(
        2,
        &format!(
            "[validate]\nwebhook_attempts = 1\n\
             [alerts]\nwebhook_url = {default_url}\nfreshness_hours = 1\ncooldown_minutes = 0\n\
             [route_finance]\nwebhook_url = {finance_url}\nowner = finance, billing-team\n\
             [route_pii]\nwebhook_url = {pii_url}\ntag = pii\n"
        ),
    )
    .await;
    // orders: finance's and tagged pii (both routes); billing: finance's; logs: tagged pii;
    // misc: no route takes it (the default route).
    for (name, owners) in [
        ("orders", "finance"),
        ("billing", "billing-team, platform"),
        ("logs", "platform"),
        ("misc", "platform"),
    ] {
        dag(&w, name, owners, None, &format!("{name}.py")).await;
    }
    w.exec(
        "INSERT INTO AF.dag_tag (name, dag_id) VALUES ('pii', 'orders'), ('pii', 'logs'), ('core', 'misc');
         UPDATE AF.dag SET next_dagrun_create_after = now() + interval '1 hour';
         INSERT INTO AF.job (job_type, state, latest_heartbeat, hostname)
             VALUES ('SchedulerJob', 'running', now(), 'scheduler-1');",
    )
    .await;
    // Each DAG's last success was two days ago: a freshness alert each.
    let old = (Utc::now() - Duration::days(2)).to_rfc3339();
    for name in ["orders", "billing", "logs", "misc"] {
        w.insert(&RunSpec::finished(name, &old, "success")).await;
    }

    let run = w.run_ok(&["run"]);
    assert!(
        run.stdout.contains("4 opened") && run.stdout.contains("2 could not be delivered"),
        "{run:?}"
    );
    let to_finance = posted_texts(&mut finance);
    assert_eq!(to_finance.len(), 1, "one digest: {to_finance:?}");
    assert!(
        to_finance[0].starts_with("pipewatch alerts for route finance: 2 opened, 0 resolved"),
        "{to_finance:?}"
    );
    assert_eq!(dags_in(&notices_of(&to_finance)), ["billing", "orders"]);
    let to_default = posted_texts(&mut default);
    assert_eq!(to_default.len(), 1, "{to_default:?}");
    assert!(
        to_default[0].starts_with("pipewatch alert OPENED: no fresh run")
            && to_default[0].contains("for DAG misc"),
        "a lone notice is posted as itself: {to_default:?}"
    );
    // The openings the pii route missed wait for it; the others are marked.
    assert_eq!(
        w.query_strings(
            "SELECT subject || '|' || (open_notified_at IS NOT NULL) FROM WH.alert_history ORDER BY subject"
        )
        .await,
        ["billing|true", "logs|false", "misc|true", "orders|false"]
    );

    // The listener is back: the next run posts pii's digest, and nothing to the others.
    let mut pii = webhook_server_at(pii_port).await;
    w.run_ok(&["run"]);
    let to_pii = posted_texts(&mut pii);
    assert_eq!(to_pii.len(), 1, "{to_pii:?}");
    assert!(
        to_pii[0].starts_with("pipewatch alerts for route pii: 2 opened, 0 resolved"),
        "{to_pii:?}"
    );
    assert_eq!(dags_in(&notices_of(&to_pii)), ["logs", "orders"]);
    assert!(posted_texts(&mut finance).is_empty());
    assert!(posted_texts(&mut default).is_empty());

    // Repeated and concurrent evaluations post nothing anywhere.
    let config = w.config.to_str().unwrap().to_string();
    let dir = w.dir.path().to_path_buf();
    let evaluations: Vec<_> = (0..3)
        .map(|_| {
            let (config, dir) = (config.clone(), dir.clone());
            std::thread::spawn(move || {
                pipewatch(&dir, &["--config", &config, "alerts", "--evaluate"], &[])
            })
        })
        .collect();
    w.run_ok(&["run"]);
    for e in evaluations {
        let run = e.join().unwrap();
        assert_eq!(run.code, 1, "the alerts are still open: {run:?}");
    }
    for rx in [&mut finance, &mut pii, &mut default] {
        assert!(posted_texts(rx).is_empty());
    }

    // What a route would receive.
    let listed = w.pipewatch(&["alerts", "--route", "finance"]);
    assert_eq!(listed.code, 1, "open alerts exit 1: {listed:?}");
    assert!(
        listed.stdout.contains(
            "Route finance: [route_finance] takes owner finance, billing-team; it gets 2 of the 4 alerts listed."
        ),
        "{listed:?}"
    );
    assert!(
        listed.stdout.contains("freshness  orders on default")
            && listed.stdout.contains("freshness  billing on default")
            && !listed.stdout.contains("logs on")
            && !listed.stdout.contains("misc on"),
        "{listed:?}"
    );
    let listed = w.pipewatch(&["alerts", "--route", "default"]);
    assert!(
        listed.stdout.contains("it gets 1 of the 4 alerts listed")
            && listed.stdout.contains("freshness  misc on default"),
        "{listed:?}"
    );
    let unknown = w.pipewatch(&["alerts", "--route", "nosuch"]);
    assert_eq!(unknown.code, 2, "{unknown:?}");
    assert!(
        unknown
            .stderr
            .contains("has no [route_nosuch] (routes: finance, pii, default)"),
        "{unknown:?}"
    );

    // Every DAG succeeds again: each route gets one digest of short resolutions.
    let recent = (Utc::now() - Duration::minutes(90)).to_rfc3339();
    for name in ["orders", "billing", "logs", "misc"] {
        w.insert(&RunSpec::finished(name, &recent, "success")).await;
    }
    w.run_ok(&["run"]);
    for (rx, route, dags) in [
        (&mut finance, "finance", vec!["billing", "orders"]),
        (&mut pii, "pii", vec!["logs", "orders"]),
    ] {
        let texts = posted_texts(rx);
        assert_eq!(texts.len(), 1, "{route}: {texts:?}");
        assert!(
            texts[0].starts_with(&format!(
                "pipewatch alerts for route {route}: 0 opened, 2 resolved"
            )),
            "{texts:?}"
        );
        let notices = notices_of(&texts);
        assert!(
            notices
                .iter()
                .all(|n| n.starts_with("pipewatch alert RESOLVED: no fresh run")
                    && n.contains("(opened ")),
            "{notices:?}"
        );
        assert_eq!(dags_in(&notices), dags);
    }
    let texts = posted_texts(&mut default);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with("pipewatch alert RESOLVED: no fresh run")
            && texts[0].contains("DAG misc"),
        "{texts:?}"
    );
    // One delivery per notice and route: (2 + 1 + 1 + 1) routes, opening and resolution.
    assert_eq!(w.count("SELECT count(*) FROM WH.alert_notice").await, 10);
    assert_eq!(
        w.count(
            "SELECT count(*) FROM WH.alert_history \
             WHERE open_notified_at IS NULL OR resolve_notified_at IS NULL"
        )
        .await,
        0
    );
}
