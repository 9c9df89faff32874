//! What the README and docs/ tell a user to type works as written: every `pipewatch ...` command
//! line (in code spans and shell blocks) is accepted by the command line parser, every shell
//! block is valid shell naming scripts that exist, and the README's validation suite (its INI
//! block, copied verbatim) runs against a real warehouse.

use std::path::{Path, PathBuf};

use chrono::{Duration, Utc};

use crate::common::*;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The README and every Markdown file of docs/, with their names.
fn documents() -> Vec<(String, String)> {
    let mut paths = vec![repo().join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    docs.sort();
    paths.extend(docs);
    paths
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(repo()).unwrap().display().to_string(),
                std::fs::read_to_string(&p).unwrap(),
            )
        })
        .collect()
}

/// The fenced blocks of `language` in a Markdown text.
fn blocks(text: &str, language: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        match (&mut current, line.strip_prefix("```")) {
            (None, Some(lang)) if lang.trim() == language => current = Some(String::new()),
            (Some(block), Some(_)) => {
                out.push(std::mem::take(block));
                current = None;
            }
            (Some(block), None) => {
                block.push_str(line);
                block.push('\n');
            }
            (None, _) => {}
        }
    }
    out
}

/// The command lines a user would copy: code spans and shell-block lines that start with
/// `pipewatch `, up to the first `&&`, `|`, `;` or `>` (a redirection). Synopses with `[...]`, elisions (`...`) and
/// placeholders to fill in (`--days N`, `--object KEY`) are not commands as they stand.
fn pipewatch_command_lines(text: &str) -> Vec<String> {
    // Code spans are looked for outside fenced blocks, whose fences are backticks too.
    let mut prose = String::new();
    let mut fenced = false;
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced {
            prose.push_str(line);
            prose.push('\n');
        }
    }
    let mut candidates: Vec<String> = prose
        .split('`')
        .skip(1)
        .step_by(2)
        .map(str::to_string)
        .collect();
    for block in blocks(text, "sh") {
        candidates.extend(
            block
                .lines()
                .map(|l| l.split(" #").next().unwrap_or(l).trim().to_string()),
        );
    }
    candidates
        .into_iter()
        .filter(|c| {
            let placeholder = c
                .split_whitespace()
                .any(|w| !w.is_empty() && w.chars().all(|ch| ch.is_ascii_uppercase() || ch == '_'));
            c.starts_with("pipewatch ") && !c.contains("...") && !c.contains('[') && !placeholder
        })
        .map(|c| {
            c.split(['|', ';', '>'])
                .next()
                .unwrap()
                .split("&&")
                .next()
                .unwrap()
                .trim()
                .to_string()
        })
        .collect()
}

#[test]
fn every_pipewatch_command_line_in_the_docs_parses() {
    let dir = TempDir::new();
    let mut checked = 0;
    for (name, text) in documents() {
        for line in pipewatch_command_lines(&text) {
            let mut args: Vec<&str> = line.split_whitespace().skip(1).collect();
            // Parsed up to the end, then help instead of running: an unknown command, flag or
            // malformed value fails before it.
            args.push("--help");
            let run = pipewatch(dir.path(), &args, &[]);
            assert_eq!(run.code, 0, "{name}: `{line}` does not parse: {run:?}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} command lines found");
}

#[test]
fn every_shell_block_in_the_docs_is_valid_and_names_scripts_that_exist() {
    let mut checked = 0;
    for (name, text) in documents() {
        for block in blocks(&text, "sh") {
            let syntax = std::process::Command::new("bash")
                .args(["-n", "-c", &block])
                .output()
                .unwrap();
            assert!(
                syntax.status.success(),
                "{name}: shell block does not parse: {}\n{block}",
                String::from_utf8_lossy(&syntax.stderr)
            );
            for word in block.split_whitespace() {
                if let Some(script) = word.strip_prefix("scripts/") {
                    assert!(
                        repo().join("scripts").join(script).is_file(),
                        "{name}: scripts/{script} does not exist"
                    );
                }
            }
            checked += 1;
        }
    }
    assert!(checked >= 3, "only {checked} shell blocks found");
}

/// The README's suite, copied verbatim next to the example scripts it names.
fn readme_suite(dir: &Path) -> PathBuf {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let ini = blocks(&readme, "ini");
    assert_eq!(ini.len(), 1, "the README has one INI block, the suite");
    for entry in std::fs::read_dir(repo().join("examples/validation")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "sql") {
            std::fs::copy(&path, dir.join(path.file_name().unwrap())).unwrap();
        }
    }
    let suite = dir.join("suite.ini");
    std::fs::write(&suite, &ini[0]).unwrap();
    suite
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_suite_runs_as_written() {
    let db = OwnDatabase::with_airflow2().await;
    let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
    insert_run(
        &db.client().await,
        "public",
        2,
        &RunSpec::finished("orders", &yesterday, "success"),
    )
    .await;
    let dir = TempDir::new();
    let config = write_config(dir.path(), &db.sections());
    let config = config.to_str().unwrap();
    let suite = readme_suite(dir.path());
    let run = pipewatch(dir.path(), &["--config", config, "run"], &[]);
    assert_eq!(run.code, 0, "{run:?}");
    let validated = pipewatch(
        dir.path(),
        &[
            "--config",
            config,
            "validate",
            "--suite",
            suite.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(validated.code, 0, "{validated:?}");
    let outcomes = db
        .strings(
            "SELECT test_name || ' ' || outcome FROM pipewatch.validation_run_history ORDER BY test_name",
        )
        .await;
    assert_eq!(
        outcomes,
        [
            "airflow_has_no_stuck_queued_runs passed",
            "dag_runs_were_loaded passed"
        ]
    );
}

/// Every query the README shows inline (a code span starting with `SELECT`) runs as written
/// against a warehouse that `pipewatch run` filled, in the default schema `pipewatch`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_query_the_readme_shows_runs_as_written() {
    let db = OwnDatabase::with_airflow2().await;
    let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
    insert_run(
        &db.client().await,
        "public",
        2,
        &RunSpec::finished("orders", &yesterday, "success"),
    )
    .await;
    let dir = TempDir::new();
    let config = write_config(dir.path(), &db.sections());
    let run = pipewatch(
        dir.path(),
        &["--config", config.to_str().unwrap(), "run"],
        &[],
    );
    assert_eq!(run.code, 0, "{run:?}");
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let queries: Vec<String> = readme
        .split('`')
        .skip(1)
        .step_by(2)
        .filter(|span| span.starts_with("SELECT "))
        .map(|span| span.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    assert!(queries.len() >= 15, "only {} queries found", queries.len());
    let client = db.client().await;
    for query in &queries {
        client
            .query(query.as_str(), &[])
            .await
            .unwrap_or_else(|e| panic!("the README's query does not run: {query}: {e:?}"));
    }
}
