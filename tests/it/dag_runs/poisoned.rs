//! Extracts a load cannot take (a truncated, deleted or hand-edited object, a value the
//! warehouse refuses) are set aside instead of blocking the instance: newer extracts load,
//! `run` and `status` report the set-aside one until an operator loads it again or discards
//! it with `load --discard KEY`. And text Airflow allows in any length fits the warehouse.

use crate::common::*;

/// How an extract's object is spoiled after it was staged.
#[derive(Debug, Clone, Copy)]
enum Poison {
    /// Its last line cut off.
    Truncated,
    /// Deleted from the stage.
    Deleted,
    /// One value replaced by one the warehouse's column cannot take (same row count).
    BadValue,
}

fn poison(path: &std::path::Path, how: Poison) {
    match how {
        Poison::Truncated => {
            let text = std::fs::read_to_string(path).unwrap();
            let mut lines: Vec<&str> = text.lines().collect();
            lines.pop();
            std::fs::write(path, lines.join("\n") + "\n").unwrap();
        }
        Poison::Deleted => std::fs::remove_file(path).unwrap(),
        Poison::BadValue => {
            let mut reader = csv::Reader::from_path(path).unwrap();
            let header = reader.headers().unwrap().clone();
            let id = header.iter().position(|h| h == "id").unwrap();
            let mut rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
            let mut first: Vec<String> = rows[0].iter().map(str::to_string).collect();
            first[id] = "not-a-number".into();
            rows[0] = csv::StringRecord::from(first);
            let mut writer = csv::Writer::from_path(path).unwrap();
            writer.write_record(&header).unwrap();
            for row in rows {
                writer.write_record(&row).unwrap();
            }
            writer.flush().unwrap();
        }
    }
}

#[tokio::test]
async fn a_poisoned_extract_is_set_aside_newer_ones_load_and_discard_clears_it() {
    for how in [Poison::Truncated, Poison::Deleted, Poison::BadValue] {
        let w = World::new(2, "").await;
        w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
            .await;
        w.insert(&RunSpec::finished("etl", "2025-03-02T00:00:00Z", "failed"))
            .await;
        w.run_ok(&["extract"]);
        let staged = w.stage_files_of("dag_run");
        assert_eq!(staged.len(), 1);
        let key = staged[0]
            .strip_prefix(w.dir.path().join("stage"))
            .unwrap()
            .to_str()
            .unwrap()
            .to_string();
        poison(&staged[0], how);
        w.insert(&RunSpec::finished("etl", "2025-03-03T00:00:00Z", "success"))
            .await;

        // The poisoned extract is refused with its reason and set aside; the newer extract (which
        // re-read its runs, as the watermark had not moved) loads.
        let run = w.pipewatch(&["run"]);
        assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{how:?}: {run:?}");
        assert!(
            run.stderr
                .contains(&format!("extract {key} set aside since")),
            "{how:?}: {run:?}"
        );
        let expected_reason = match how {
            Poison::Truncated => "the object holds 1 rows but its extract staged 2".to_string(),
            Poison::Deleted => format!("no object \"{key}\" in the stage"),
            Poison::BadValue => format!(
                "load of {key}: line 2 (dag_id=\"etl\", run_id=\"scheduled__2025-03-01T00:00:00Z\"): the warehouse cannot take its id: invalid input syntax for type integer: \"not-a-number\""
            ),
        };
        assert!(run.stderr.contains(&expected_reason), "{how:?}: {run:?}");
        assert!(
            run.stderr
                .contains(&format!("pipewatch load --discard {key}"))
        );
        assert_eq!(
            w.count("SELECT count(*) FROM WH.dag_run_history").await,
            3,
            "{how:?}: the newer extract loaded every run"
        );
        assert_eq!(
            w.count("SELECT sum(finished_runs)::bigint FROM WH.dag_success_daily")
                .await,
            3,
            "{how:?}: and the transform ran"
        );

        // status shows it, and exits 1 while it waits for an operator.
        let status = w.pipewatch(&["status", "--format", "json"]);
        assert_eq!(
            status.code,
            pipewatch::exit::CHECKS_FAILED as i32,
            "{status:?}"
        );
        let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
        let instance = &json["instances"][0];
        assert_eq!(instance["pending_extracts"], 0, "{json}");
        assert_eq!(
            instance["set_aside_extracts"][0]["object_key"],
            key.as_str()
        );
        assert!(
            instance["set_aside_extracts"][0]["reason"]
                .as_str()
                .unwrap()
                .contains(&expected_reason),
            "{json}"
        );
        let text = w.pipewatch(&["status"]);
        assert!(text.stdout.contains("SET ASIDE since"), "{text:?}");

        // Every run keeps saying so (exit 3) while new runs keep loading.
        w.insert(&RunSpec::finished("etl", "2025-03-04T00:00:00Z", "success"))
            .await;
        let run = w.pipewatch(&["run"]);
        assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
        assert_eq!(w.count("SELECT count(*) FROM WH.dag_run_history").await, 4);
        // ... and the run log says that invocation failed, as its exit code does.
        let status = w.pipewatch(&["status", "--format", "json", "--last", "1"]);
        let json: serde_json::Value = serde_json::from_str(&status.stdout).unwrap();
        assert_eq!(
            json["recent_invocations"][0]["outcome"], "failed",
            "{how:?}: {json}"
        );

        // Loading it again by key still fails and keeps it aside.
        if !matches!(how, Poison::Deleted) {
            let again = w.pipewatch(&["load", "--object", &key]);
            assert_eq!(again.code, pipewatch::exit::ERROR as i32, "{again:?}");
            assert!(again.stderr.contains(&expected_reason), "{again:?}");
        }

        // Discarding it: a log line, then runs are clean again.
        let discard = w.pipewatch(&["load", "--discard", &key]);
        assert_eq!(discard.code, 0, "{discard:?}");
        assert!(
            discard.stdout.contains(&format!("Discarded extract {key}")),
            "{discard:?}"
        );
        assert!(
            discard.stderr.contains("Discarded the extract"),
            "{discard:?}"
        );
        let run = w.run_ok(&["run"]);
        assert!(!run.stderr.contains("set aside"), "{run:?}");
        assert_eq!(w.pipewatch(&["status"]).code, 0);
        // A key that waits for nothing is a usage error.
        let again = w.pipewatch(&["load", "--discard", &key]);
        assert_eq!(again.code, pipewatch::exit::USAGE as i32, "{again:?}");
        assert!(
            again
                .stderr
                .contains("no extract with that key waits to be loaded")
        );
    }
}

/// A set-aside extract whose cause was fixed loads by key and leaves the report.
#[tokio::test]
async fn a_set_aside_extract_loads_by_key_once_fixed() {
    let w = World::new(2, "").await;
    w.insert(&RunSpec::finished("etl", "2025-03-01T00:00:00Z", "success"))
        .await;
    w.run_ok(&["extract"]);
    let staged = w.stage_files_of("dag_run");
    let good = std::fs::read(&staged[0]).unwrap();
    poison(&staged[0], Poison::BadValue);
    let run = w.pipewatch(&["load"]);
    assert_eq!(run.code, pipewatch::exit::ERROR as i32, "{run:?}");
    let key = staged[0]
        .strip_prefix(w.dir.path().join("stage"))
        .unwrap()
        .to_str()
        .unwrap()
        .to_string();
    std::fs::write(&staged[0], good).unwrap();
    w.run_ok(&["load", "--object", &key]);
    assert_eq!(w.pipewatch(&["status"]).code, 0);
    assert_eq!(
        w.count("SELECT count(*) FROM WH.staged_extract WHERE loaded_at IS NOT NULL")
            .await,
        1
    );
    let run = w.run_ok(&["run"]);
    assert!(!run.stderr.contains("set aside"), "{run:?}");
}

/// Text columns take whatever length the source allows: a source whose dag_id and run_id
/// columns were widened (or an API that has no limit) loads, and its figures are computed.
#[tokio::test]
async fn ids_longer_than_airflows_own_limit_load() {
    let w = World::new(2, "").await;
    w.exec("ALTER TABLE AF.dag_run ALTER COLUMN dag_id TYPE text, ALTER COLUMN run_id TYPE text")
        .await;
    let long_dag = "d".repeat(400);
    let mut spec = RunSpec::finished(&long_dag, "2025-03-01T00:00:00Z", "success");
    spec.run_id = format!("manual__{}", "r".repeat(600));
    w.insert(&spec).await;
    w.run_ok(&["run"]);
    assert_eq!(
        w.count(&format!(
            "SELECT count(*) FROM WH.dag_success_daily WHERE dag_id = '{long_dag}' AND success_rate = 1"
        ))
        .await,
        1
    );
}
