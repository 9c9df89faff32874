//! The DAG catalogue against the real PostgreSQL that `scripts/test` starts, on Airflow 2.10's
//! and 3.3's own `dag`, `dag_tag` and `import_error` tables (fixtures dumped from `airflow db
//! migrate`): every DAG kept with one meaning for both versions, each change of its attributes
//! kept as a span of history (a pause, a deletion), import errors kept by episode, hostile
//! values stored or bounded, never a failed run; a missing GRANT named.

use crate::common::*;

/// A DAG row as Airflow `major` writes it: `schedule` is Airflow 2's schedule_interval text (as
/// Airflow stores it, a JSON string) or Airflow 3's timetable_summary.
pub(crate) async fn dag(
    w: &World,
    dag_id: &str,
    owners: &str,
    schedule: Option<&str>,
    fileloc: &str,
) {
    let sql = match w.major {
        2 => {
            "INSERT INTO AF.dag (dag_id, is_paused, is_active, owners, schedule_interval, \
              timetable_description, fileloc, max_active_runs, max_active_tasks, \
              max_consecutive_failed_dag_runs, has_task_concurrency_limits, has_import_errors, \
              next_dagrun, next_dagrun_create_after, last_parsed_time) \
              VALUES ($1, false, true, $2, $3, 'At minute 0', $4, 1, 16, 0, false, false, \
              '2025-03-01T00:00:00Z', '2025-03-01T01:00:00Z', now())"
        }
        _ => {
            "INSERT INTO AF.dag (dag_id, is_paused, is_stale, owners, timetable_summary, \
              timetable_description, fileloc, relative_fileloc, bundle_name, timetable_type, \
              partition_mapper_info, max_active_runs, max_active_tasks, \
              max_consecutive_failed_dag_runs, has_task_concurrency_limits, has_import_errors, \
              next_dagrun, next_dagrun_create_after, last_parsed_time) \
              VALUES ($1, false, false, $2, $3, 'At minute 0', '/dags/' || $4, $4, 'dags-folder', \
              'CronTriggerTimetable', '{}', 1, 16, 0, false, false, '2025-03-01T00:00:00Z', \
              '2025-03-01T01:00:00Z', now())"
        }
    };
    let sql = sql.replace("AF.", &format!("{}.", w.airflow));
    let schedule = schedule.map(|s| match w.major {
        2 => format!("\"{s}\""),
        _ => s.to_string(),
    });
    w.client
        .execute(&sql, &[&dag_id, &owners, &schedule, &fileloc])
        .await
        .unwrap();
}

/// An import error of `filename` (relative to the bundle on Airflow 3).
async fn import_error(w: &World, filename: &str, stacktrace: &str) {
    let sql = match w.major {
        2 => "INSERT INTO AF.import_error (timestamp, filename, stacktrace) VALUES (now(), $1, $2)",
        _ => {
            "INSERT INTO AF.import_error (timestamp, filename, bundle_name, stacktrace) \
              VALUES (now(), $1, 'dags-folder', $2)"
        }
    };
    w.client
        .execute(
            &sql.replace("AF.", &format!("{}.", w.airflow)),
            &[&filename, &stacktrace],
        )
        .await
        .unwrap();
}

async fn catalogue_keeps_each_dag_and_its_changes(major: u8) {
    let w = World::new(major, "").await;
    dag(
        &w,
        "orders",
        "data-eng, finance",
        Some("0 * * * *"),
        "orders.py",
    )
    .await;
    dag(&w, "weekly", "data-eng", None, "weekly.py").await;
    w.exec(
        "INSERT INTO AF.dag_tag (name, dag_id) VALUES ('sales', 'orders'), ('core', 'orders');
         INSERT INTO AF.dag_owner_attributes (dag_id, owner, link)
             VALUES ('orders', 'finance', 'mailto:finance@example.com')",
    )
    .await;
    let check = w.pipewatch(&["check-config"]);
    assert!(
        check
            .stdout
            .contains("; DAG catalogue: dag, dag_tag, import_error, job, slot_pool readable"),
        "{check:?}"
    );
    let run = w.run_ok(&["run"]);
    assert!(
        run.stdout.contains(
            "catalogued 2 DAGs of Airflow instance default (2 new, 0 gone, 2 changes recorded); 0 import errors (0 new, 0 resolved)"
        ),
        "{run:?}"
    );
    assert_eq!(
        w.query_strings(
            "SELECT concat_ws('|', dag_id, is_paused, is_stale, owners::text, tags::text, \
             coalesce(schedule, 'NULL'), schedule_description, in_airflow) \
             FROM WH.dag_catalog ORDER BY dag_id"
        )
        .await,
        [
            "orders|f|f|{data-eng,finance}|{core,sales}|0 * * * *|At minute 0|t",
            "weekly|f|f|{data-eng}|{}|NULL|At minute 0|t",
        ],
        "Airflow {major}"
    );

    // Owner links, where the DAG gives some.
    assert_eq!(
        w.query_strings(
            "SELECT dag_id || ' ' || coalesce(owner_links::text, 'NULL') FROM WH.dag_dimensions \
             ORDER BY dag_id"
        )
        .await,
        [
            r#"orders {"finance": "mailto:finance@example.com"}"#,
            "weekly NULL"
        ],
        "Airflow {major}"
    );

    // Nothing changed: no new span.
    w.run_ok(&["run"]);
    assert_eq!(
        w.count("SELECT count(*) FROM WH.dag_catalog_history").await,
        2
    );

    // Paused in the UI, then deleted from Airflow.
    w.exec("UPDATE AF.dag SET is_paused = true WHERE dag_id = 'orders'")
        .await;
    let run = w.run_ok(&["run"]);
    assert!(
        run.stdout.contains("(0 new, 0 gone, 1 change recorded)"),
        "{run:?}"
    );
    w.exec("DELETE FROM AF.dag_tag WHERE dag_id = 'weekly'; DELETE FROM AF.dag WHERE dag_id = 'weekly'")
        .await;
    let run = w.run_ok(&["run"]);
    assert!(
        run.stdout.contains(
            "catalogued 1 DAG of Airflow instance default (0 new, 1 gone, 1 change recorded)"
        ),
        "{run:?}"
    );
    assert_eq!(
        w.query_strings(
            "SELECT concat_ws('|', dag_id, is_paused, in_airflow, valid_to IS NULL) \
             FROM WH.dag_catalog_history ORDER BY dag_id, valid_from"
        )
        .await,
        [
            "orders|f|t|f",
            "orders|t|t|t",
            "weekly|f|t|f",
            "weekly|f|f|t",
        ],
        "Airflow {major}"
    );
    // The spans tile time: each closed span ends where the next begins.
    assert_eq!(
        w.count(
            "SELECT count(*) FROM WH.dag_catalog_history AS a JOIN WH.dag_catalog_history AS b \
             ON a.dag_id = b.dag_id AND a.valid_to = b.valid_from"
        )
        .await,
        2
    );
    assert_eq!(
        w.query_strings("SELECT dag_id || ' ' || in_airflow FROM WH.dag_catalog ORDER BY 1")
            .await,
        ["orders true", "weekly false"]
    );
}

#[tokio::test]
async fn the_catalogue_keeps_each_dag_and_its_changes_airflow2() {
    catalogue_keeps_each_dag_and_its_changes(2).await;
}

#[tokio::test]
async fn the_catalogue_keeps_each_dag_and_its_changes_airflow3() {
    catalogue_keeps_each_dag_and_its_changes(3).await;
}

async fn import_errors_are_kept_by_episode(major: u8) {
    let w = World::new(major, "").await;
    let file = if major == 2 {
        "/dags/broken.py"
    } else {
        "broken.py"
    };
    dag(
        &w,
        "broken",
        "me",
        Some("@daily"),
        file.trim_start_matches("/dags/"),
    )
    .await;
    if major == 2 {
        w.exec("UPDATE AF.dag SET fileloc = '/dags/broken.py', has_import_errors = true")
            .await;
    } else {
        w.exec("UPDATE AF.dag SET has_import_errors = true").await;
    }
    let trace = "Traceback (most recent call last):\n  File \"broken.py\", line 3\nNameError: name 'x' is not defined\n";
    import_error(&w, file, trace).await;
    let run = w.run_ok(&["run"]);
    assert!(
        run.stdout.contains("; 1 import error (1 new, 0 resolved)"),
        "{run:?}"
    );
    assert_eq!(
        w.query_strings(
            "SELECT status || ' ' || detail FROM WH.dag_schedule_status WHERE dag_id = 'broken'"
        )
        .await,
        [format!(
            "import_error {file}: NameError: name 'x' is not defined"
        )]
    );
    let episode = "SELECT concat_ws('|', filename, first_line, last_line, dag_ids::text, \
                   stacktrace_chars, resolved_at IS NULL) FROM WH.import_error_history \
                   ORDER BY import_error_id";
    assert_eq!(
        w.query_strings(episode).await,
        [format!(
            "{file}|Traceback (most recent call last):|NameError: name 'x' is not defined|{{broken}}|{}|t",
            trace.chars().count()
        )],
        "Airflow {major}"
    );
    // Still failing at the next parse: the same episode, seen again.
    w.exec("UPDATE AF.import_error SET timestamp = now()").await;
    w.run_ok(&["run"]);
    assert_eq!(
        w.count("SELECT count(*) FROM WH.import_error_history")
            .await,
        1
    );
    assert_eq!(
        w.count("SELECT count(*) FROM WH.import_error_history WHERE last_seen_at > first_seen_at")
            .await,
        1
    );
    // Mended: resolved. Broken again: a second episode.
    w.exec("DELETE FROM AF.import_error").await;
    let run = w.run_ok(&["run"]);
    assert!(
        run.stdout.contains("; 0 import errors (0 new, 1 resolved)"),
        "{run:?}"
    );
    import_error(&w, file, "SyntaxError: invalid syntax").await;
    w.run_ok(&["run"]);
    assert_eq!(
        w.query_strings(
            "SELECT (resolved_at IS NOT NULL)::text || ' ' || last_line \
             FROM WH.import_error_history ORDER BY import_error_id"
        )
        .await,
        [
            "true NameError: name 'x' is not defined",
            "false SyntaxError: invalid syntax"
        ]
    );
}

#[tokio::test]
async fn import_errors_are_kept_by_episode_airflow2() {
    import_errors_are_kept_by_episode(2).await;
}

#[tokio::test]
async fn import_errors_are_kept_by_episode_airflow3() {
    import_errors_are_kept_by_episode(3).await;
}

#[tokio::test]
async fn hostile_catalogue_values_are_stored_or_bounded_never_a_failed_run() {
    let w = World::new(2, "").await;
    // Airflow's owners column holds at most 2,000 characters.
    let owners = ["owner"; 400].join(",");
    let owners = &owners[..1999];
    let owner_count = owners.split(',').count();
    dag(&w, "it's \"quoted\" 🚀", owners, None, "a.py").await;
    dag(&w, "odd_schedule", "me", None, "b.py").await;
    w.exec(
        "UPDATE AF.dag SET schedule_interval = '{\"type\": \"timedelta\", \"attrs\": ' \
         WHERE dag_id = 'odd_schedule';
         INSERT INTO AF.dag_tag (name, dag_id) VALUES ('a \"tag\" with ''quotes''', 'odd_schedule'),
                                                      ('🚀 launch', 'odd_schedule');",
    )
    .await;
    // A 10 MB stack trace.
    let huge = format!(
        "Traceback\n{}\nValueError: end",
        "x".repeat(10 * 1024 * 1024)
    );
    import_error(&w, "/dags/b.py", &huge).await;
    w.run_ok(&["run"]);
    assert_eq!(
        w.query_strings(
            "SELECT concat_ws('|', dag_id, cardinality(owners), coalesce(schedule, 'NULL'), tags::text) \
             FROM WH.dag_catalog ORDER BY dag_id"
        )
        .await,
        [
            format!("it's \"quoted\" 🚀|{owner_count}|NULL|{{}}"),
            "odd_schedule|1|{\"type\": \"timedelta\", \"attrs\": |{\"a \\\"tag\\\" with 'quotes'\",\"🚀 launch\"}"
                .to_string(),
        ]
    );
    assert_eq!(
        w.query_strings(
            "SELECT concat_ws('|', length(stacktrace), stacktrace_chars, left(last_line, 40)) \
             FROM WH.import_error_history"
        )
        .await,
        [format!("65536|{}|ValueError: end", huge.len())]
    );
}

#[tokio::test]
async fn a_missing_grant_on_the_catalogue_is_named_and_runs_still_load() {
    let w = World::new(2, "").await;
    w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
        .await;
    let reader = unique("afreader");
    w.exec(
        &format!(
            "CREATE ROLE {reader} LOGIN; GRANT USAGE ON SCHEMA AF TO {reader}; \
         GRANT SELECT ON AF.dag_run, AF.task_instance, AF.task_instance_history TO {reader};"
        )
        .replace("SCHEMA AF", &format!("SCHEMA {}", w.airflow)),
    )
    .await;
    let text = std::fs::read_to_string(&w.config).unwrap();
    // The Airflow section's username is the second one in the file (the warehouse's first).
    let at = text.find("[airflowdb_config]").unwrap();
    let (head, tail) = text.split_at(at);
    let tail = tail.replacen(
        &format!("username = {}\n", pg_user()),
        &format!("username = {reader}\n"),
        1,
    );
    std::fs::write(&w.config, format!("{head}{tail}")).unwrap();
    let run = w.pipewatch(&["run"]);
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    assert!(
        run.stderr
            .contains(&format!("GRANT SELECT ON {}.dag TO {reader}", w.airflow)),
        "{run:?}"
    );
    assert_eq!(
        w.count("SELECT count(*) FROM WH.dag_run_history").await,
        1,
        "the runs loaded all the same"
    );
    // check-config says the same before any run.
    let check = w.pipewatch(&["check-config"]);
    let line = check
        .stdout
        .lines()
        .find(|l| l.contains("airflow default"))
        .unwrap_or_else(|| panic!("{check:?}"))
        .to_string();
    assert!(
        line.starts_with("FAILED")
            && line.contains(&format!("GRANT SELECT ON {}.dag TO {reader}", w.airflow)),
        "{line}"
    );
    // Switched off: the run is clean.
    std::fs::write(
        &w.config,
        format!("{head}{tail}[extract]\ncatalog = false\n"),
    )
    .unwrap();
    let run = w.run_ok(&["run"]);
    assert!(!run.stdout.contains("catalogued"), "{run:?}");
    let check = w.pipewatch(&["check-config"]);
    assert!(
        check
            .stdout
            .contains("; the DAG catalogue is not read ([extract] catalog = false)"),
        "{check:?}"
    );
}

async fn schedule_status_names_what_does_not_run_and_since_when(major: u8) {
    let w = World::new(major, "").await;
    for name in ["fine", "late", "stuck", "resting"] {
        dag(&w, name, "team-a", Some("0 * * * *"), &format!("{name}.py")).await;
    }
    dag(&w, "by_hand", "team-b", None, "by_hand.py").await;
    w.exec(
        "UPDATE AF.dag SET next_dagrun = now(), next_dagrun_create_after = now() + interval '1 hour';
         UPDATE AF.dag SET next_dagrun = NULL, next_dagrun_create_after = NULL WHERE dag_id = 'by_hand';
         UPDATE AF.dag SET next_dagrun_create_after = now() - interval '2 hours' WHERE dag_id = 'late';
         UPDATE AF.dag SET next_dagrun_create_after = NULL WHERE dag_id = 'stuck';
         UPDATE AF.dag SET is_paused = true WHERE dag_id = 'resting';
         INSERT INTO AF.job (job_type, state, latest_heartbeat, hostname)
             VALUES ('SchedulerJob', 'running', now(), 'scheduler-1');",
    )
    .await;
    // The run that holds stuck back, running for three hours.
    let started = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let mut hung = RunSpec::finished("stuck", &started, "running");
    hung.end_date = None;
    w.insert(&hung).await;
    w.run_ok(&["run"]);
    assert_eq!(
        w.query_strings(
            "SELECT concat_ws('|', dag_id, status, since IS NOT NULL, coalesce(detail, '-')) \
             FROM WH.dag_schedule_status ORDER BY dag_id"
        )
        .await
        .iter()
        .map(|l| l
            .split(" (grace")
            .next()
            .unwrap()
            .split(" queued or running since")
            .next()
            .unwrap()
            .to_string())
        .collect::<Vec<_>>(),
        [
            "by_hand|unscheduled|f|-".to_string(),
            "fine|on_schedule|f|-".to_string(),
            format!("late|overdue|t|next run was due at {}", {
                // As Airflow's clock put it: now - 2 h, to the minute.
                let due: String = w
                    .query_strings(
                        "SELECT to_char(next_dagrun_create_after AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC' FROM WH.dag_catalog WHERE dag_id = 'late'",
                    )
                    .await
                    .remove(0);
                due
            }),
            "resting|paused|t|-".to_string(),
            format!("stuck|blocked|t|run {}", hung.run_id),
        ],
        "Airflow {major}"
    );
    let status = w.run_ok(&["status"]);
    for wanted in [
        "DAGs not running as scheduled (at the last catalogue reading): 3",
        "  stuck [default]: blocked since ",
        "  late [default]: overdue since ",
        "  resting [default]: paused since ",
        "; owners team-a",
        "  (and 1 DAG without a schedule: manual, asset-triggered or finished)",
    ] {
        assert!(status.stdout.contains(wanted), "{wanted:?}: {status:?}");
    }
    // The report shows them first, the blocking run named.
    let page = w.dir.path().join("report.html");
    w.run_ok(&["report", "--out", page.to_str().unwrap()]);
    let html = std::fs::read_to_string(&page).unwrap();
    let section = &html[html.find("Not running as scheduled").expect("the section")..];
    let section = &section[..section.find("</section>").unwrap()];
    for wanted in [
        "<bdi>stuck</bdi>",
        "blocked",
        &hung.run_id,
        "overdue",
        "paused",
        "team-a",
    ] {
        assert!(section.contains(wanted), "{wanted:?} not in {section}");
    }
    assert!(!section.contains("by_hand"), "{section}");
    // The scheduler stops heartbeating: every scheduled DAG that is not paused says so.
    w.exec("UPDATE AF.job SET latest_heartbeat = now() - interval '10 minutes'")
        .await;
    w.run_ok(&["run"]);
    assert_eq!(
        w.query_strings(
            "SELECT dag_id FROM WH.dag_schedule_status WHERE status = 'scheduler_down' ORDER BY 1"
        )
        .await,
        ["fine", "late", "stuck"]
    );
    assert_eq!(
        w.count(
            "SELECT count(*) FROM WH.scheduler_health_history WHERE job_type = 'SchedulerJob' \
             AND running_jobs = 1 AND hostname = 'scheduler-1'"
        )
        .await,
        2
    );
}

#[tokio::test]
async fn schedule_status_names_what_does_not_run_and_since_when_airflow2() {
    schedule_status_names_what_does_not_run_and_since_when(2).await;
}

#[tokio::test]
async fn schedule_status_names_what_does_not_run_and_since_when_airflow3() {
    schedule_status_names_what_does_not_run_and_since_when(3).await;
}

async fn what_did_not_happen_alerts_once_and_resolves(major: u8) {
    let (url, mut posted) = webhook_server(vec![]).await;
    let w = World::new(
        major,
        &format!(
            "[alerts]\nwebhook_url = {url}\ncooldown_minutes = 0\npaused = true\n\
             [alerts_quiet]\ndag_id = quiet\noverdue = false\n\
             [airflow_ui]\nbase_url = https://airflow.example.com\n"
        ),
    )
    .await;
    for name in ["fine", "late", "quiet", "stuck", "resting"] {
        dag(
            &w,
            name,
            "team-a, team-b",
            Some("0 * * * *"),
            &format!("{name}.py"),
        )
        .await;
    }
    let file = if major == 2 {
        "/dags/broken.py"
    } else {
        "broken.py"
    };
    dag(&w, "broken", "team-c", Some("@daily"), "broken.py").await;
    w.exec(&format!(
        "UPDATE AF.dag SET next_dagrun = now(), next_dagrun_create_after = now() + interval '1 hour';
         UPDATE AF.dag SET next_dagrun_create_after = now() - interval '2 hours' WHERE dag_id IN ('late', 'quiet');
         UPDATE AF.dag SET next_dagrun_create_after = NULL WHERE dag_id = 'stuck';
         UPDATE AF.dag SET is_paused = true WHERE dag_id = 'resting';
         UPDATE AF.dag SET has_import_errors = true{} WHERE dag_id = 'broken';
         INSERT INTO AF.job (job_type, state, latest_heartbeat, hostname)
             VALUES ('SchedulerJob', 'running', now(), 'scheduler-1');",
        if major == 2 { ", fileloc = '/dags/broken.py'" } else { "" }
    ))
    .await;
    import_error(
        &w,
        file,
        "Traceback (most recent call last):\nNameError: name 'x' is not defined",
    )
    .await;
    w.exec("UPDATE AF.import_error SET timestamp = now() - interval '1 hour'")
        .await;
    // A pool set to 0 slots while a task of late's waits for it (scheduled, 2 slots).
    w.exec(&format!(
        "INSERT INTO AF.slot_pool (id, pool, slots, description, include_deferred) \
         VALUES (1, 'etl', 0, 'the warehouse loaders', false);
         INSERT INTO AF.task_instance ({}task_id, dag_id, run_id, map_index, try_number, state, \
         pool, pool_slots) VALUES ({}'load', 'late', 'manual__x', -1, 0, 'scheduled', 'etl', 2);",
        if major == 3 { "id, " } else { "" },
        if major == 3 {
            "gen_random_uuid(), "
        } else {
            ""
        }
    ))
    .await;
    // stuck: held back by a run hanging for three hours; resting: ran on schedule yesterday.
    let started = (chrono::Utc::now() - chrono::Duration::hours(3)).to_rfc3339();
    let mut hung = RunSpec::finished("stuck", &started, "running");
    hung.end_date = None;
    w.insert(&hung).await;
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    w.insert(&RunSpec::finished("resting", &yesterday, "success"))
        .await;
    let ledger = "SELECT concat_ws('|', rule, subject, \
                  CASE WHEN resolved_at IS NULL THEN 'open' ELSE 'resolved' END) \
                  FROM WH.alert_history ORDER BY rule, subject";

    w.run_ok(&["run"]);
    assert_eq!(
        w.query_strings(ledger).await,
        [
            "blocked|stuck|open".to_string(),
            format!(
                "import_error|{}|open",
                if major == 2 {
                    file
                } else {
                    "dags-folder/broken.py"
                }
            ),
            "overdue|late|open".to_string(),
            "paused|resting|open".to_string(),
            "pool_empty|etl|open".to_string(),
        ],
        "Airflow {major}"
    );
    // One digest with the five openings.
    let digest = posted_texts(&mut posted);
    assert_eq!(digest.len(), 1, "{digest:?}");
    assert!(
        digest[0].starts_with("pipewatch alerts: 5 opened, 0 resolved\n"),
        "{digest:?}"
    );
    let texts = notices_of(&digest);
    assert_eq!(texts.len(), 5, "{texts:?}");
    let blocked_by = format!("run {} has been queued or running since", hung.run_id);
    let wanted = [
        (
            "pipewatch alert OPENED: new runs blocked for DAG stuck on Airflow instance default",
            vec![
                blocked_by.as_str(),
                "owners team-a, team-b",
                "https://airflow.example.com/dags/stuck",
            ],
        ),
        (
            "pipewatch alert OPENED: DAG file fails to import for DAG file",
            vec![
                "; DAG broken): NameError: name 'x' is not defined; owners team-c",
                "https://airflow.example.com/",
            ],
        ),
        (
            "pipewatch alert OPENED: next run overdue for DAG late on Airflow instance default",
            vec![
                "its next run was due at",
                "(grace 10.0 min); owners team-a, team-b",
            ],
        ),
        (
            "pipewatch alert OPENED: pool without slots for pool etl on Airflow instance default",
            vec!["0 slots since", "while tasks wanting 2 slots wait"],
        ),
        (
            "pipewatch alert OPENED: DAG paused for DAG resting",
            vec!["paused since", "after a scheduled run started at"],
        ),
    ];
    for (head, parts) in wanted {
        let text = texts
            .iter()
            .find(|t| t.starts_with(head))
            .unwrap_or_else(|| panic!("{head:?} not in {texts:?}"));
        for part in parts {
            assert!(text.contains(part), "{part:?} not in {text}");
        }
    }

    // Nothing changed: nothing opened or posted again.
    w.run_ok(&["run"]);
    assert_eq!(w.count("SELECT count(*) FROM WH.alert_history").await, 5);
    assert_eq!(
        w.query_strings(
            "SELECT concat_ws('|', pool, slots, running_slots, waiting_slots, description) \
             FROM WH.pool_history ORDER BY read_at DESC LIMIT 1"
        )
        .await,
        ["etl|0|0|2|the warehouse loaders"]
    );
    assert!(posted_texts(&mut posted).is_empty());

    // The scheduler stops: one alert for the instance; late stays overdue (once).
    w.exec("UPDATE AF.job SET latest_heartbeat = now() - interval '10 minutes'")
        .await;
    for _ in 0..2 {
        w.run_ok(&["run"]);
    }
    let texts = posted_texts(&mut posted);
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert!(
        texts[0].starts_with(
            "pipewatch alert OPENED: scheduler not heartbeating for Airflow instance default (scheduler)"
        ) && texts[0].contains("(scheduler-1), reading of ")
            && texts[0].contains(": 4 of 4 scheduled DAGs wait for it, 2 past due"),
        "{texts:?}"
    );
    assert_eq!(
        w.count("SELECT count(*) FROM WH.alert_history WHERE resolved_at IS NULL")
            .await,
        6
    );

    // All mended: every alert resolved, one notice each.
    w.exec(
        "UPDATE AF.job SET latest_heartbeat = now();
         UPDATE AF.dag SET next_dagrun_create_after = now() + interval '1 hour', is_paused = false,
                           has_import_errors = false;
         DELETE FROM AF.import_error;
         UPDATE AF.slot_pool SET slots = 4;
         UPDATE AF.dag_run SET state = 'success', end_date = now(), updated_at = now() WHERE dag_id = 'stuck';",
    )
    .await;
    w.run_ok(&["run"]);
    assert_eq!(
        w.count("SELECT count(*) FROM WH.alert_history WHERE resolved_at IS NULL")
            .await,
        0,
        "{:?}",
        w.query_strings(ledger).await
    );
    // One digest with the six resolutions, each a short line naming the opening.
    let digest = posted_texts(&mut posted);
    assert_eq!(digest.len(), 1, "{digest:?}");
    let texts = notices_of(&digest);
    assert_eq!(texts.len(), 6, "{texts:?}");
    assert!(
        texts
            .iter()
            .all(|t| t.starts_with("pipewatch alert RESOLVED") && t.contains("(opened ")),
        "{texts:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_did_not_happen_alerts_once_and_resolves_airflow2() {
    what_did_not_happen_alerts_once_and_resolves(2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_did_not_happen_alerts_once_and_resolves_airflow3() {
    what_did_not_happen_alerts_once_and_resolves(3).await;
}

#[tokio::test]
async fn a_report_filtered_by_owner_or_tag_shows_only_those_dags() {
    let w = World::new(2, "").await;
    dag(&w, "orders", "team-a", Some("@daily"), "orders.py").await;
    dag(
        &w,
        "billing",
        "team-b, team-a-not",
        Some("@daily"),
        "billing.py",
    )
    .await;
    w.exec(
        "INSERT INTO AF.dag_tag (name, dag_id) VALUES ('sales', 'orders'), ('finance', 'billing');
         INSERT INTO AF.job (job_type, state, latest_heartbeat) VALUES ('SchedulerJob', 'running', now());",
    )
    .await;
    let today = chrono::Utc::now().date_naive();
    for (dag_id, runs) in [("orders", 2), ("billing", 3)] {
        for n in 0..runs {
            let logical = (today - chrono::Duration::days(1))
                .and_hms_opt(n, 0, 0)
                .unwrap()
                .and_utc()
                .to_rfc3339();
            w.insert(&RunSpec::finished(dag_id, &logical, "success"))
                .await;
        }
    }
    w.run_ok(&["run"]);
    let page = w.dir.path().join("team-a.html");
    let report = w.run_ok(&[
        "report",
        "--owner",
        "team-a",
        "--out",
        page.to_str().unwrap(),
    ]);
    assert!(
        report.stdout.contains("1 DAGs, 2 finished runs"),
        "{report:?}"
    );
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("DAGs with owner &quot;team-a&quot;: 1 DAG"),
        "the filter is named"
    );
    assert!(html.contains("<bdi>orders</bdi>") && !html.contains("<bdi>billing</bdi>"));
    let report = w.run_ok(&[
        "report",
        "--tag",
        "finance",
        "--out",
        page.to_str().unwrap(),
    ]);
    assert!(
        report.stdout.contains("1 DAGs, 3 finished runs"),
        "{report:?}"
    );
    let both = w.pipewatch(&["report", "--owner", "team-a", "--tag", "finance"]);
    assert_eq!(both.code, 2, "{both:?}");
    assert!(
        both.stderr
            .contains("no DAG in the DAG catalogue has owner \"team-a\" and tag \"finance\""),
        "{both:?}"
    );
}

async fn airflows_own_deadlines_are_kept(major: u8) {
    let w = World::new(major, "").await;
    dag(&w, "orders", "team-a", Some("@daily"), "orders.py").await;
    let yesterday = (chrono::Utc::now() - chrono::Duration::days(1)).to_rfc3339();
    let run_id = w
        .insert(&RunSpec::finished("orders", &yesterday, "success"))
        .await;
    let row = "SELECT concat_ws('|', kind, dag_id, coalesce(task_id, '-'), coalesce(run_id, '-'), \
               missed, coalesce(alert_name, '-'), met_at IS NOT NULL) \
               FROM WH.deadline_history ORDER BY missed DESC";
    if major == 2 {
        w.exec(
            "INSERT INTO AF.sla_miss (task_id, dag_id, execution_date, email_sent, timestamp, \
             description, notification_sent) \
             VALUES ('load', 'orders', now() - interval '1 day', false, now(), 'load missed its SLA', false)",
        )
        .await;
        let run = w.run_ok(&["run"]);
        assert!(
            run.stdout
                .contains("; 1 deadline of Airflow's read (0 found met)"),
            "{run:?}"
        );
        assert_eq!(w.query_strings(row).await, ["sla_miss|orders|load|-|t|-|f"]);
        // Kept after Airflow forgets it (airflow db clean).
        w.exec("DELETE FROM AF.sla_miss").await;
        w.run_ok(&["run"]);
        assert_eq!(w.query_strings(row).await, ["sla_miss|orders|load|-|t|-|f"]);
        return;
    }
    w.exec(&format!(
        "INSERT INTO AF.deadline_alert (id, created_at, serialized_dag_id, name, description, \
         reference, \"interval\", callback_def) \
         VALUES ('00000000-0000-0000-0000-00000000000a', now(), gen_random_uuid(), 'orders by six', \
                 'the orders table by 06:00', '{{}}', '3600', '{{}}');
         INSERT INTO AF.deadline (id, created_at, last_updated_at, dagrun_id, deadline_time, missed, \
                                  callback_id, deadline_alert_id) \
         VALUES ('00000000-0000-0000-0000-000000000001', now(), now(), {run_id}, \
                 now() - interval '1 hour', true, gen_random_uuid(), '00000000-0000-0000-0000-00000000000a'),
                ('00000000-0000-0000-0000-000000000002', now(), now(), {run_id}, \
                 now() + interval '1 hour', false, gen_random_uuid(), '00000000-0000-0000-0000-00000000000a');"
    ))
    .await;
    let run = w.run_ok(&["run"]);
    assert!(
        run.stdout
            .contains("; 2 deadlines of Airflow's read (0 found met)"),
        "{run:?}"
    );
    let scheduled = format!("scheduled__{yesterday}");
    assert_eq!(
        w.query_strings(row).await,
        [
            format!("deadline|orders|-|{scheduled}|t|orders by six|f"),
            format!("deadline|orders|-|{scheduled}|f|orders by six|f"),
        ]
    );
    // Met: Airflow deletes it; the missed one stays.
    w.exec("DELETE FROM AF.deadline WHERE NOT missed").await;
    let run = w.run_ok(&["run"]);
    assert!(
        run.stdout
            .contains("; 1 deadline of Airflow's read (1 found met)"),
        "{run:?}"
    );
    assert_eq!(
        w.query_strings(row).await,
        [
            format!("deadline|orders|-|{scheduled}|t|orders by six|f"),
            format!("deadline|orders|-|{scheduled}|f|orders by six|t"),
        ]
    );
}

#[tokio::test]
async fn airflows_own_deadlines_are_kept_airflow2() {
    airflows_own_deadlines_are_kept(2).await;
}

#[tokio::test]
async fn airflows_own_deadlines_are_kept_airflow3() {
    airflows_own_deadlines_are_kept(3).await;
}

#[tokio::test]
async fn the_catalogue_is_read_at_most_every_catalog_interval_minutes() {
    let w = World::new(2, "[extract]\ncatalog_interval_minutes = 60\n").await;
    dag(&w, "orders", "team-a", Some("@daily"), "orders.py").await;
    let first = w.run_ok(&["run"]);
    assert!(first.stdout.contains("catalogued 1 DAG"), "{first:?}");
    dag(&w, "billing", "team-b", Some("@daily"), "billing.py").await;
    let second = w.run_ok(&["run"]);
    assert!(!second.stdout.contains("catalogued"), "{second:?}");
    assert!(
        second
            .stderr
            .contains("The DAG catalogue was read 0 min ago: not read again before 60 min"),
        "{second:?}"
    );
    assert_eq!(w.count("SELECT count(*) FROM WH.dag_catalog").await, 1);
    // Due again once the last reading is an hour old.
    w.exec(
        "UPDATE WH.pipewatch_run_log SET ended_at = ended_at - interval '61 minutes' \
         WHERE stage = 'catalog'",
    )
    .await;
    let third = w.run_ok(&["run"]);
    assert!(third.stdout.contains("catalogued 2 DAGs"), "{third:?}");
}
