//! The shipped examples run as shipped: every line of `examples/cron/pipewatch.cron` under
//! cron's bare environment prints nothing on success and exactly one error line on failure; the
//! example Airflow DAG's tasks, taken from the DAG as real Airflow parses it, run in order
//! against a real warehouse and judge the `[alerts]` rules after the transform; and a reader
//! that closes the pipe early ends the output quietly.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use chrono::{Duration, Utc};

use crate::common::*;

const BINARY: &str = env!("CARGO_BIN_EXE_pipewatch");

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The environment assignments and the commands of a crontab in the system format (five time
/// fields, a user, the command).
fn crontab(text: &str) -> (Vec<(String, String)>, Vec<String>) {
    let mut env = Vec::new();
    let mut commands = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some((name, value)) = line.split_once('=')
            && name.chars().all(|c| c.is_ascii_uppercase() || c == '_')
        {
            env.push((name.to_string(), value.to_string()));
            continue;
        }
        // Skip the five time fields and the user, keep the rest as written.
        let mut rest = line;
        for _ in 0..6 {
            rest = rest.trim_start();
            let end = rest
                .find(char::is_whitespace)
                .expect("a crontab line has a command");
            rest = &rest[end..];
        }
        commands.push(rest.trim().to_string());
    }
    (env, commands)
}

/// Runs `command` as cron does: `/bin/sh -c` with only cron's PATH and the crontab's variables.
fn as_cron(command: &str, env: &[(String, String)]) -> Run {
    let output = Command::new("env")
        .arg("-i")
        .arg("PATH=/usr/bin:/bin")
        .args(env.iter().map(|(k, v)| format!("{k}={v}")))
        .args(["/bin/sh", "-c", command])
        .output()
        .expect("run env -i");
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The crontab's lines with the binary, the log folder and the configuration put where this
/// test has them.
fn cron_for(logs: &Path, config: &Path) -> (Vec<(String, String)>, Vec<String>) {
    let text = std::fs::read_to_string(repo().join("examples/cron/pipewatch.cron")).unwrap();
    let (mut env, commands) = crontab(&text);
    for (name, value) in env.iter_mut() {
        if name == "PIPEWATCH_CONFIG" {
            *value = config.display().to_string();
        }
    }
    let commands = commands
        .iter()
        .map(|c| {
            c.replace("/usr/local/bin/pipewatch", BINARY)
                .replace("/var/log/pipewatch/", &format!("{}/", logs.display()))
        })
        .collect();
    (env, commands)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cron_lines_print_nothing_on_success_and_one_line_on_failure() {
    let w = World::new(2, "[alerts]\nfreshness_hours = 48\n").await;
    let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
    w.insert(&RunSpec::finished("orders", &yesterday, "success"))
        .await;
    let logs = w.dir.path().join("log");
    std::fs::create_dir(&logs).unwrap();
    let (env, commands) = cron_for(&logs, &w.config);
    assert_eq!(
        commands.len(),
        2,
        "the example has a run and a reconcile line"
    );
    for command in &commands {
        let run = as_cron(command, &env);
        assert_eq!(run.code, 0, "{command}: {run:?}");
        assert_eq!(run.stdout, "", "cron would mail this: {command}");
        assert_eq!(run.stderr, "", "cron would mail this: {command}");
    }
    // What happened went to the log file, as JSON lines.
    let log = std::fs::read_to_string(logs.join("pipewatch.log")).unwrap();
    assert!(log.lines().count() >= 3, "{log}");
    for line in log.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
    }
    assert!(log.contains("Loaded extract"), "{log}");
    assert_eq!(w.count("SELECT count(*) FROM WH.dag_run_history").await, 1);

    // A warehouse that cannot be reached: exactly one line on standard error, nothing else.
    let broken = w.dir.path().join("broken.conf");
    std::fs::write(
        &broken,
        format!(
            "[retry]\nattempts = 1\n[warehouse]\nhost = 127.0.0.1\nport = {}\nusername = x\ndatabase = y\nconnect_timeout_seconds = 2\n{}",
            closed_port(),
            airflow_section("airflowdb_config", &w.airflow)
        ),
    )
    .unwrap();
    let (env, commands) = cron_for(&logs, &broken);
    for command in &commands {
        let run = as_cron(command, &env);
        assert_eq!(run.code, 3, "{command}: {run:?}");
        assert_eq!(run.stdout, "", "{command}: {run:?}");
        let lines: Vec<&str> = run.stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{command}: {run:?}");
        assert!(
            lines[0].starts_with("pipewatch: error: ") && lines[0].contains("127.0.0.1"),
            "{run:?}"
        );
    }
}

/// One task of the example DAG: its id, its bash command and its environment.
type DagTask = (String, String, Vec<(String, String)>);

/// The example DAG's tasks in an order that follows its dependencies, as real Airflow 3
/// parses the file.
fn example_dag_tasks(env: &[(&str, &str)]) -> Vec<DagTask> {
    example_dag_tasks_in(&crate::common::env("PIPEWATCH_TEST_AIRFLOW_PYTHON"), env)
}

/// The example DAG's tasks as the Airflow of `python` (a venv's interpreter) parses the file.
fn example_dag_tasks_in(python: &str, env: &[(&str, &str)]) -> Vec<DagTask> {
    let home = TempDir::new();
    let script = r#"
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("pipeline_performance", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
dag = [v for v in vars(module).values() if type(v).__name__ == "DAG"][0]
done, order = set(), []
while len(order) < len(dag.tasks):
    for t in sorted(dag.tasks, key=lambda t: t.task_id):
        if t.task_id not in done and t.upstream_task_ids <= done:
            done.add(t.task_id)
            order.append({"task_id": t.task_id, "command": t.bash_command, "env": t.env or {}})
            break
print(json.dumps(order))
"#;
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(repo().join("examples/airflow/pipeline_performance.py"))
        .env("AIRFLOW_HOME", home.path())
        .env("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
        .envs(env.iter().copied())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("run {python}: {e}"));
    assert!(output.status.success(), "the DAG did not load");
    let text = String::from_utf8_lossy(&output.stdout);
    let tasks: serde_json::Value = serde_json::from_str(text.lines().last().unwrap())
        .unwrap_or_else(|e| panic!("{e}: {text}"));
    tasks
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["task_id"].as_str().unwrap().to_string(),
                t["command"].as_str().unwrap().to_string(),
                t["env"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect(),
            )
        })
        .collect()
}

/// Runs one task's command as BashOperator does: `bash -c`, the worker's bare environment plus
/// the task's, in `dir`.
fn run_task(dir: &Path, command: &str, env: &[(String, String)]) -> Run {
    let output = Command::new("bash")
        .args(["-c", command])
        .current_dir(dir)
        .env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// scripts/test builds the wheel of the binary under test (`scripts/wheel --ci`) and installs it
/// into the real Airflow 2 and 3 venvs; parsed by each venv's Airflow without PIPEWATCH_BIN, the
/// example DAG calls the pipewatch beside that venv's python, and its tasks run against a real
/// warehouse.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_wheel_in_airflow_2_and_3_venvs_runs_the_example_dag() {
    let suite = repo().join("examples/validation/suite.ini");
    for venv in [
        env("PIPEWATCH_TEST_AIRFLOW2_VENV"),
        env("PIPEWATCH_TEST_AIRFLOW3_VENV"),
    ] {
        let installed = Path::new(&venv).join("bin/pipewatch");
        let version = Command::new(&installed)
            .arg("--version")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (scripts/test installs the wheel)",
                    installed.display()
                )
            });
        assert_eq!(
            String::from_utf8_lossy(&version.stdout).trim(),
            format!("pipewatch {}", env!("CARGO_PKG_VERSION"))
        );
        let same = std::fs::read(&installed).unwrap().len() > 1_000_000;
        assert!(
            same,
            "{} is the binary, not a launcher",
            installed.display()
        );
        let db = OwnDatabase::with_airflow2().await;
        let client = db.client().await;
        let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
        insert_run(
            &client,
            "public",
            2,
            &RunSpec::finished("orders", &yesterday, "success"),
        )
        .await;
        let dir = TempDir::new();
        let config = write_config(dir.path(), &db.sections());
        let tasks = example_dag_tasks_in(
            &format!("{venv}/bin/python"),
            &[
                ("PIPEWATCH_CONFIG", config.to_str().unwrap()),
                ("PIPEWATCH_VALIDATION_SUITE", suite.to_str().unwrap()),
            ],
        );
        assert!(tasks.len() >= 5, "{tasks:?}");
        for (task_id, command, env) in &tasks {
            assert!(
                command.starts_with(&format!("{} ", installed.display())),
                "task {task_id} calls the venv's pipewatch: {command}"
            );
            let run = run_task(dir.path(), command, env);
            assert_eq!(run.code, 0, "{venv}: task {task_id} ({command}): {run:?}");
        }
        let loaded = db
            .strings("SELECT dag_id || ' ' || state FROM pipewatch.dag_run_history")
            .await;
        assert_eq!(loaded, ["orders success"], "{venv}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_dag_judges_the_alert_rules_after_its_transform() {
    let db = OwnDatabase::with_airflow2().await;
    let client = db.client().await;
    // A DAG whose newest success is two days old: the freshness rule breaches.
    let stale = (Utc::now() - Duration::days(2)).to_rfc3339();
    insert_run(
        &client,
        "public",
        2,
        &RunSpec::finished("orders", &stale, "success"),
    )
    .await;
    let dir = TempDir::new();
    let config = write_config(
        dir.path(),
        &format!("{}[alerts]\nfreshness_hours = 24\n", db.sections()),
    );
    let suite = repo().join("examples/validation/suite.ini");
    let tasks = example_dag_tasks(&[
        ("PIPEWATCH_BIN", BINARY),
        ("PIPEWATCH_CONFIG", config.to_str().unwrap()),
        ("PIPEWATCH_VALIDATION_SUITE", suite.to_str().unwrap()),
    ]);
    let ids: Vec<&str> = tasks.iter().map(|(id, _, _)| id.as_str()).collect();
    let transform = ids
        .iter()
        .position(|id| *id == "dag_and_validator_history_models")
        .expect("the transform task");
    for (task_id, command, env) in &tasks {
        let run = run_task(dir.path(), command, env);
        assert_eq!(run.code, 0, "task {task_id} ({command}): {run:?}");
        if task_id == ids[transform] {
            assert!(run.stdout.contains("alerts: "), "{run:?}");
        }
    }
    let open = db
        .strings(
            "SELECT rule || ' ' || subject FROM pipewatch.alert_history WHERE resolved_at IS NULL",
        )
        .await;
    assert_eq!(
        open,
        ["freshness orders"],
        "the DAG's transform judged the rules"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_closes_the_pipe_ends_the_output_quietly() {
    let w = World::new(2, "[alerts]\nfreshness_hours = 1\n").await;
    let old = (Utc::now() - Duration::days(2)).to_rfc3339();
    for n in 0..20 {
        w.insert(&RunSpec::finished(&format!("dag_{n}"), &old, "success"))
            .await;
    }
    w.run_ok(&["run"]);
    // `pipewatch alerts | true`: the reader is gone before pipewatch writes.
    let mut child = Command::new(BINARY)
        .args(["--config", w.config.to_str().unwrap(), "alerts"])
        .current_dir(w.dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    // Open alerts: the documented exit 1, as when the whole list is read.
    assert_eq!(output.status.code(), Some(1), "{stderr}");
}
