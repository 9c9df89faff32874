//! The alert replay (`benches/alert_replay.py`, `scripts/bench alerts`, issue 32) in a reduced
//! size: its scoring code on a hand-made ground truth, and a replay of a few days of six DAGs
//! through this build's `pipewatch run` on a private PostgreSQL whose clock libfaketime moves.

use std::path::Path;
use std::process::Command;

use crate::common::TempDir;

fn replay_script() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/alert_replay.py")
}

/// The value of a `name: value` line of the replay's output.
fn figure<'a>(output: &'a str, name: &str) -> &'a str {
    output
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(": "))
        .unwrap_or_else(|| panic!("no line {name:?} in the replay's output:\n{output}"))
}

#[test]
fn the_replay_scores_a_hand_made_ground_truth() {
    let out = Command::new("python3")
        .arg(replay_script())
        .arg("selftest")
        .output()
        .expect("run python3 benches/alert_replay.py selftest");
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the replay's self-test failed:\n{text}"
    );
    assert!(text.contains("Ran 4 tests"), "{text}");
}

#[test]
fn a_small_replay_runs_pipewatch_hour_by_hour_and_scores_its_alerts() {
    let dir = TempDir::new();
    let out = Command::new("python3")
        .arg(replay_script())
        .args(["run", "--size", "small", "--cadences", "hourly,daily"])
        .args(["--configs", "example", "--pipewatch"])
        .arg(env!("CARGO_BIN_EXE_pipewatch"))
        .arg("--work")
        .arg(dir.path())
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run python3 benches/alert_replay.py run");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "the replay failed:\n{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(figure(&text, "replay_regressions"), "2");
    assert_eq!(figure(&text, "replay_steps").split(' ').next(), Some("73"));
    // Every hour of the three scored days ran pipewatch once for the hourly replay, and once a
    // day (and at the first step) for the daily one.
    assert_eq!(figure(&text, "hourly_example_pipewatch_runs"), "73");
    assert_eq!(figure(&text, "daily_example_pipewatch_runs"), "4");
    // An hourly DAG failing every run and one that stops are each caught within hours, at
    // both cadences, by one alert each, and nothing else alerts.
    for cadence in ["hourly", "daily"] {
        let name = |figure_name: &str| format!("{cadence}_example_{figure_name}");
        assert_eq!(figure(&text, &name("caught_within_24h")), "2 of 2 (100%)");
        assert_eq!(
            figure(&text, &name("false_alerts_per_100_dag_days")),
            "0.00 (0 in 18 DAG-days)"
        );
        assert_eq!(figure(&text, &name("extra_episodes")), "0");
    }
    let latency: f64 = figure(&text, "hourly_example_latency_max_hours")
        .parse()
        .unwrap();
    assert!(latency <= 6.0, "hourly replay caught them late: {text}");
}
