//! Expected against actual runs (`dag_schedule_daily`, `missed_dag_run`) on the real PostgreSQL
//! that `scripts/test` starts, from Airflow 2.10's and 3.3's own `dag` and `serialized_dag`
//! tables: the timetables are the ones those versions' serializers wrote for the same DAG file
//! (`airflow dags reserialize`; the keys pipewatch reads, in their real shape). The catalogue
//! history is then moved into the past (a reading cannot be made at another time), and the
//! counts compared with counts written by hand.

use chrono::Timelike;

use crate::common::*;

/// A DAG row and its serialized DAG, as Airflow `major` writes them for the DAGs of
/// `/tmp/realdags/cases.py` in the module docs: `schedule` is the dag table's text, `timetable`
/// the serialized timetable (None where Airflow 2 serializes a preset or timedelta as
/// schedule_interval instead).
pub(crate) async fn dag(
    w: &World,
    dag_id: &str,
    schedule: Option<&str>,
    zone: &str,
    timetable: Option<&str>,
) {
    let sql = match w.major {
        2 => {
            "INSERT INTO AF.dag (dag_id, is_paused, is_active, owners, schedule_interval, \
              fileloc, max_active_runs, max_active_tasks, max_consecutive_failed_dag_runs, \
              has_task_concurrency_limits, has_import_errors, last_parsed_time) \
              VALUES ($1, false, true, 'data-eng', $2, '/dags/cases.py', 16, 16, 0, false, \
              false, now())"
        }
        _ => {
            "INSERT INTO AF.dag (dag_id, is_paused, is_stale, owners, timetable_summary, \
              fileloc, relative_fileloc, bundle_name, timetable_type, partition_mapper_info, \
              max_active_runs, max_active_tasks, max_consecutive_failed_dag_runs, \
              has_task_concurrency_limits, has_import_errors, last_parsed_time) \
              VALUES ($1, false, false, 'data-eng', $2, '/dags/cases.py', 'cases.py', \
              'dags-folder', '', '{}', 16, 16, 0, false, false, now())"
        }
    };
    w.client
        .execute(
            &sql.replace("AF.", &format!("{}.", w.airflow)),
            &[&dag_id, &schedule],
        )
        .await
        .unwrap();
    let data = format!(
        r#"{{"__version": 1, "dag": {{"dag_id": "{dag_id}", "timezone": "{zone}", "start_date": 1767222000.0, "timetable": {}}}}}"#,
        timetable.unwrap_or("null")
    );
    let sql = match w.major {
        2 => {
            "INSERT INTO AF.serialized_dag (dag_id, fileloc, fileloc_hash, data, last_updated, \
              dag_hash) VALUES ($1, '/dags/cases.py', 1, $2::text::json, now(), md5($2))"
        }
        _ => {
            "INSERT INTO AF.serialized_dag (id, dag_id, data, created_at, last_updated, \
              dag_hash, dag_version_id) VALUES (gen_random_uuid(), $1, $2::text::jsonb, now(), \
              now(), md5($2), gen_random_uuid())"
        }
    };
    w.client
        .execute(
            &sql.replace("AF.", &format!("{}.", w.airflow)),
            &[&dag_id, &data],
        )
        .await
        .unwrap();
}

/// A scheduled run of `dag_id` whose data interval ends at `due` (RFC 3339).
async fn ran(w: &World, dag_id: &str, due: &str) {
    let due = chrono::DateTime::parse_from_rfc3339(due).unwrap();
    let logical = (due - chrono::Duration::hours(1)).to_rfc3339();
    w.insert(&RunSpec::finished(dag_id, &logical, "success"))
        .await;
}

/// (expected, actual, missing) of a DAG and day, `NULL` where not expanded.
async fn counts(w: &World, dag_id: &str, day: &str) -> String {
    w.query_strings(&format!(
        "SELECT concat_ws('/', coalesce(expected_runs::text, 'NULL'), \
         coalesce(actual_runs::text, 'NULL'), coalesce(missing_runs::text, 'NULL')) \
         FROM WH.dag_schedule_daily WHERE dag_id = '{dag_id}' AND day = '{day}'"
    ))
    .await
    .join(",")
}

async fn expected_runs_match_a_hand_count(major: u8) {
    let w = World::new(
        major,
        "[reporting]\ntime_zone = Europe/Berlin\n[alerts]\ncooldown_minutes = 0\n",
    )
    .await;
    let (cron_class, delta_class) = match major {
        2 => (
            "airflow.timetables.interval.CronDataIntervalTimetable",
            None,
        ),
        _ => (
            "airflow.timetables.trigger.CronTriggerTimetable",
            Some("airflow.timetables.trigger.DeltaTriggerTimetable"),
        ),
    };
    let hourly = format!(
        r#"{{"__type": "{cron_class}", "__var": {{"expression": "0 * * * *", "timezone": "Europe/Berlin", "interval": 0.0}}}}"#
    );
    let hourly = if major == 2 {
        hourly.replace(r#", "interval": 0.0"#, "")
    } else {
        hourly
    };
    let (daily_text, daily_tt, delta_text, delta_tt) = match major {
        2 => (
            r#""@daily""#.to_string(),
            None,
            r#"{"type": "timedelta", "attrs": {"days": 0, "seconds": 21600, "microseconds": 0}}"#
                .to_string(),
            None,
        ),
        _ => (
            "0 0 * * *".to_string(),
            Some(format!(
                r#"{{"__type": "{cron_class}", "__var": {{"expression": "0 0 * * *", "timezone": "UTC", "interval": 0.0}}}}"#
            )),
            "6:00:00".to_string(),
            Some(format!(
                r#"{{"__type": "{}", "__var": {{"delta": 21600.0, "interval": 0.0}}}}"#,
                delta_class.unwrap()
            )),
        ),
    };
    let (hourly_text, asset_text, asset_tt) = match major {
        2 => (
            r#""0 * * * *""#,
            r#""Dataset""#,
            r#"{"__type": "airflow.timetables.simple.DatasetTriggeredTimetable", "__var": {}}"#,
        ),
        _ => (
            "0 * * * *",
            "Asset",
            r#"{"__type": "airflow.timetables.simple.AssetTriggeredTimetable", "__var": {}}"#,
        ),
    };
    dag(
        &w,
        "hourly_berlin",
        Some(hourly_text),
        "Europe/Berlin",
        Some(&hourly),
    )
    .await;
    dag(
        &w,
        "daily_preset",
        Some(&daily_text),
        "UTC",
        daily_tt.as_deref(),
    )
    .await;
    dag(
        &w,
        "every_6h",
        Some(&delta_text),
        "UTC",
        delta_tt.as_deref(),
    )
    .await;
    dag(
        &w,
        "manual_only",
        if major == 2 { None } else { Some("None") },
        "UTC",
        None,
    )
    .await;
    dag(&w, "on_asset", Some(asset_text), "UTC", Some(asset_tt)).await;

    // The runs that came. hourly_berlin on 29 March 2026 (Berlin: 23:00 UTC on the 28th to
    // 22:00 UTC on the 29th, 23 hourly slots): all but the ones due 01:00 and 02:00 UTC.
    for h in 0..23 {
        let due = chrono::DateTime::parse_from_rfc3339("2026-03-28T23:00:00Z").unwrap()
            + chrono::Duration::hours(h);
        if h == 2 || h == 3 {
            continue;
        }
        ran(&w, "hourly_berlin", &due.to_rfc3339()).await;
    }
    // daily_preset, due at 00:00 UTC (01:00 or 02:00 in Berlin): 30 and 31 March, 1 and
    // 4 April; 29 March never came; it is paused from noon on 1 April to noon on 3 April.
    for day in ["2026-03-30", "2026-03-31", "2026-04-01", "2026-04-04"] {
        ran(&w, "daily_preset", &format!("{day}T00:00:00Z")).await;
    }
    // every_6h: runs ending 00:00, 06:00 and 18:00 UTC on 1 April (12:00 never came), then
    // it stopped.
    for h in ["00", "06", "18"] {
        ran(&w, "every_6h", &format!("2026-04-01T{h}:00:00Z")).await;
    }
    w.run_ok(&["run"]);
    // Just catalogued: nothing was expected of the DAGs yet, nothing is missing.
    assert_eq!(
        w.count("SELECT count(*) FROM WH.dag_schedule_missed").await,
        0,
        "Airflow {major}"
    );

    // What the catalogue read: the time zone from the serialized DAG, the kind by class.
    assert_eq!(
        w.query_strings(
            "SELECT concat_ws('|', dag_id, timetable_kind, coalesce(timetable_expression, '-'), \
             coalesce(timetable_delta_seconds::text, '-'), coalesce(time_zone, '-'), \
             coalesce(timetable_trigger_interval_seconds::text, '-')) \
             FROM WH.dag_catalog ORDER BY dag_id"
        )
        .await,
        match major {
            2 => [
                "daily_preset|cron|0 0 * * *|-|UTC|-",
                "every_6h|delta|-|21600|UTC|-",
                "hourly_berlin|cron|0 * * * *|-|Europe/Berlin|-",
                "manual_only|none|-|-|UTC|-",
                "on_asset|asset|-|-|UTC|-",
            ],
            _ => [
                "daily_preset|cron|0 0 * * *|-|UTC|0",
                "every_6h|delta|-|21600|UTC|0",
                "hourly_berlin|cron|0 * * * *|-|Europe/Berlin|0",
                "manual_only|none|-|-|UTC|-",
                "on_asset|asset|-|-|UTC|-",
            ],
        },
        "Airflow {major}"
    );

    // Move the catalogue's history into the past: every DAG known since 28 March 00:00 UTC;
    // daily_preset paused from noon on 1 April to noon on 3 April.
    let columns = "airflow_instance, dag_id, is_stale, has_import_errors, owners, tags, \
                   schedule, schedule_description, max_active_runs, fileloc, in_airflow, \
                   recorded_by_run_id, timetable_kind, timetable_expression, \
                   timetable_delta_seconds, timetable_trigger_interval_seconds, time_zone, \
                   start_date, end_date";
    w.exec(&format!(
        "UPDATE WH.dag_catalog SET first_seen_at = '2026-03-28T00:00:00Z'; \
         UPDATE WH.dag_catalog_history SET valid_from = '2026-03-28T00:00:00Z'; \
         UPDATE WH.dag_catalog_history SET valid_to = '2026-04-01T12:00:00Z' \
         WHERE dag_id = 'daily_preset'; \
         INSERT INTO WH.dag_catalog_history (valid_from, valid_to, is_paused, {columns}) \
             SELECT '2026-04-01T12:00:00Z', '2026-04-03T12:00:00Z', true, {columns} \
             FROM WH.dag_catalog_history WHERE dag_id = 'daily_preset'; \
         INSERT INTO WH.dag_catalog_history (valid_from, valid_to, is_paused, {columns}) \
             SELECT '2026-04-03T12:00:00Z', NULL, false, {columns} \
             FROM WH.dag_catalog_history WHERE dag_id = 'daily_preset' \
             AND valid_from = '2026-03-28T00:00:00Z'; \
         DELETE FROM WH.dag_schedule_daily; DELETE FROM WH.dag_schedule_missed; \
         DELETE FROM WH.dag_schedule_state;"
    ))
    .await;
    let run = w.run_ok(&["transform"]);
    assert!(run.stdout.contains("expected runs: "), "{run:?}");

    // Counted by hand.
    // hourly_berlin, Berlin days: 29 March has 23 hours (2 missing), 25 October 25 (none ran).
    assert_eq!(counts(&w, "hourly_berlin", "2026-03-29").await, "23/21/2");
    assert_eq!(counts(&w, "hourly_berlin", "2026-03-30").await, "24/0/24");
    assert_eq!(counts(&w, "hourly_berlin", "2026-10-25").await, "25/0/25");
    // daily_preset: 29 March missing; 2 and 3 April paused (nothing expected); 1 April's slot
    // (00:00 UTC) was due before the pause.
    for (day, want) in [
        ("2026-03-29", "1/0/1"),
        ("2026-03-30", "1/1/0"),
        ("2026-03-31", "1/1/0"),
        ("2026-04-01", "1/1/0"),
        ("2026-04-02", "0/0/0"),
        ("2026-04-03", "0/0/0"),
        ("2026-04-04", "1/1/0"),
        ("2026-04-05", "1/0/1"),
    ] {
        assert_eq!(counts(&w, "daily_preset", day).await, want, "{day}");
    }
    // every_6h: nothing to chain from before its first run; on 1 April (Berlin: 22:00 UTC on
    // 31 March to 22:00 UTC on 1 April) the slots 00:00, 06:00, 12:00, 18:00 UTC, 12:00
    // missing; on 2 April the chain goes on (00:00 on the 2nd is that day's first, 22:00 UTC on
    // 1 April is not a slot): 4 slots, none ran.
    assert_eq!(counts(&w, "every_6h", "2026-03-31").await, "0/0/0");
    assert_eq!(counts(&w, "every_6h", "2026-04-01").await, "4/3/1");
    assert_eq!(counts(&w, "every_6h", "2026-04-02").await, "4/0/4");
    // A manual DAG expects nothing; an asset-triggered one is not expanded, and says so.
    assert_eq!(counts(&w, "manual_only", "2026-04-01").await, "0/0/0");
    assert_eq!(counts(&w, "on_asset", "2026-04-01").await, "NULL/NULL/NULL");
    assert_eq!(
        w.query_strings(
            "SELECT note FROM WH.dag_schedule_daily WHERE dag_id = 'on_asset' \
             AND day = '2026-04-01'"
        )
        .await,
        ["triggered by assets: not expanded"]
    );
    // Each missing slot, with the data interval it should have covered.
    assert_eq!(
        w.query_strings(
            "SELECT concat_ws(' ', dag_id, data_interval_start, data_interval_end) \
             FROM WH.missed_dag_run WHERE day BETWEEN '2026-03-29' AND '2026-04-01' \
             AND dag_id <> 'hourly_berlin' OR (dag_id = 'hourly_berlin' AND day = '2026-03-29') \
             ORDER BY data_interval_end"
        )
        .await,
        match major {
            // Airflow 2's data-interval timetables: the interval since the previous slot.
            2 => [
                "daily_preset 2026-03-28 00:00:00+00 2026-03-29 00:00:00+00",
                "hourly_berlin 2026-03-29 00:00:00+00 2026-03-29 01:00:00+00",
                "hourly_berlin 2026-03-29 01:00:00+00 2026-03-29 02:00:00+00",
                "every_6h 2026-04-01 06:00:00+00 2026-04-01 12:00:00+00",
            ],
            // Airflow 3's trigger timetables: an empty interval at the slot.
            _ => [
                "daily_preset 2026-03-29 00:00:00+00 2026-03-29 00:00:00+00",
                "hourly_berlin 2026-03-29 01:00:00+00 2026-03-29 01:00:00+00",
                "hourly_berlin 2026-03-29 02:00:00+00 2026-03-29 02:00:00+00",
                "every_6h 2026-04-01 12:00:00+00 2026-04-01 12:00:00+00",
            ],
        },
        "Airflow {major}"
    );

    // The DAGs whose schedule called for runs in the last 24 hours that never came: one
    // missed_runs alert each, naming the count; the manual and asset DAGs none.
    let alerts = w.pipewatch(&["alerts", "--evaluate"]);
    assert_eq!(alerts.code, 1, "open alerts: {alerts:?}");
    assert_eq!(
        w.query_strings(
            "SELECT subject FROM WH.alert_history WHERE rule = 'missed_runs' \
             AND resolved_at IS NULL ORDER BY subject"
        )
        .await,
        ["daily_preset", "every_6h", "hourly_berlin"]
    );
    let message = w
        .query_strings(
            "SELECT message FROM WH.alert_history WHERE rule = 'missed_runs' \
             AND subject = 'every_6h'",
        )
        .await
        .join("");
    assert!(
        message.starts_with("4 runs the schedule called for in the 24 hours to "),
        "{message}"
    );

    // The report lists them first, under "Not running as scheduled".
    let out = w.dir.path().join("report.html");
    w.run_ok(&["report", "--days", "7", "--out", out.to_str().unwrap()]);
    let html = std::fs::read_to_string(&out).unwrap();
    let section = html
        .split("Not running as scheduled")
        .nth(1)
        .expect("the section")
        .split("</section>")
        .next()
        .unwrap()
        .to_string();
    for dag in ["hourly_berlin", "daily_preset", "every_6h"] {
        assert!(section.contains(dag), "{dag}: {section}");
    }
    assert!(section.contains("missed runs"), "{section}");
    // Seven daily slots (00:00 UTC) in the 7 days of the period, counted in the reporting
    // time zone (Berlin); six in the hour between Berlin's midnight and UTC's (and the 10
    // minutes a slot needs to be missed), when the period's first day has begun in Berlin and
    // today's slot is not due yet.
    assert!(
        section.contains("7 of 7 scheduled runs in the period never came")
            || section.contains("6 of 6 scheduled runs in the period never came")
                && matches!(chrono::Utc::now().time().hour(), 22 | 23 | 0),
        "daily_preset, 7 days: {section}"
    );
    assert!(!section.contains("manual_only"), "{section}");

    // A run that comes late (a backfill of the daily run due on 29 March, its logical date the
    // day before, as a data-interval timetable makes it) fills its slot at the next run: the
    // load queues its logical date's day, the transform recomputes that day and the next.
    let mut late = RunSpec::finished("daily_preset", "2026-03-28T23:00:00Z", "success");
    late.run_type = "backfill".into();
    late.run_id = "backfill__2026-03-28T00:00:00+00:00".into();
    w.insert(&late).await;
    w.exec(&format!(
        "UPDATE AF.dag_run SET {} = '2026-03-28T00:00:00Z', \
         data_interval_start = '2026-03-28T00:00:00Z' WHERE run_id = '{}'",
        if major == 2 {
            "execution_date"
        } else {
            "logical_date"
        },
        late.run_id
    ))
    .await;
    w.run_ok(&["run"]);
    assert_eq!(counts(&w, "daily_preset", "2026-03-29").await, "1/1/0");
    assert_eq!(
        w.count(
            "SELECT count(*) FROM WH.missed_dag_run WHERE dag_id = 'daily_preset' \
             AND data_interval_end = '2026-03-29T00:00:00Z'"
        )
        .await,
        0
    );

    // A second transform recomputes only from where the first stopped: the same figures.
    let before = w
        .count("SELECT sum(expected_runs) FROM WH.dag_schedule_daily")
        .await;
    w.run_ok(&["transform"]);
    assert_eq!(
        w.count("SELECT sum(expected_runs) FROM WH.dag_schedule_daily")
            .await,
        before
    );
}

#[tokio::test]
async fn expected_runs_match_a_hand_count_airflow2() {
    expected_runs_match_a_hand_count(2).await;
}

#[tokio::test]
async fn expected_runs_match_a_hand_count_airflow3() {
    expected_runs_match_a_hand_count(3).await;
}
