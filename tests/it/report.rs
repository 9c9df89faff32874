//! `pipewatch report` rendered in a real headless Chromium (Debian's package, which
//! `scripts/test` installs when missing): on a warehouse filled by the demo's data and on an
//! empty one, the screenshot is not blank, every DAG of the period is in the page's text, the
//! browser logs no console message and the page makes no network request (its net log has no
//! request from the page).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::*;

/// What Chromium made of a page.
struct Rendered {
    /// The screenshot's pixels (RGB or RGBA, 8 bits).
    pixels: Vec<u8>,
    /// Bytes per pixel.
    channels: usize,
    /// The DOM after rendering.
    dom: String,
    /// Console lines Chromium logged (errors, warnings, logs).
    console: Vec<String>,
    /// URLs the page itself asked the network for.
    page_requests: Vec<String>,
}

fn chromium(dir: &Path, args: &[String]) -> std::process::Output {
    let profile = dir.join(format!("profile-{}", unique("c")));
    let mut all: Vec<String> = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    all.push(format!("--user-data-dir={}", profile.display()));
    all.extend(args.iter().cloned());
    let output = Command::new(env("PIPEWATCH_TEST_CHROMIUM"))
        .args(&all)
        .output()
        .expect("run chromium");
    let _ = std::fs::remove_dir_all(profile);
    output
}

fn render(page: &Path) -> Rendered {
    let dir = page.parent().unwrap();
    let url = format!("file://{}", page.display());
    let shot = dir.join("screenshot.png");
    let out = chromium(
        dir,
        &[
            "--window-size=1280,2000".into(),
            format!("--screenshot={}", shot.display()),
            url.clone(),
        ],
    );
    assert!(
        shot.is_file(),
        "chromium wrote no screenshot: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&shot).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut pixels = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut pixels).unwrap();
    pixels.truncate(info.buffer_size());
    let channels = match info.color_type {
        png::ColorType::Rgb => 3,
        png::ColorType::Rgba => 4,
        other => panic!("unexpected screenshot colour type {other:?}"),
    };
    assert_eq!(info.bit_depth, png::BitDepth::Eight, "{info:?}");

    let net_log = dir.join("net-log.json");
    let out = chromium(
        dir,
        &[
            "--enable-logging=stderr".into(),
            "--v=0".into(),
            format!("--log-net-log={}", net_log.display()),
            "--dump-dom".into(),
            url,
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let console = stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(str::to_string)
        .collect();
    Rendered {
        pixels,
        channels,
        dom: String::from_utf8_lossy(&out.stdout).into_owned(),
        console,
        page_requests: page_requests(&net_log),
    }
}

/// The URLs of network requests a file:// page started, from Chromium's net log: requests whose
/// network isolation key is the file's site. (Chromium's own background requests have other
/// keys.)
fn page_requests(net_log: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(net_log).expect("chromium wrote its net log");
    // Chromium may leave the final `]}` off when it exits; close the events list for parsing.
    let log: serde_json::Value = serde_json::from_str(&text)
        .or_else(|_| serde_json::from_str(&format!("{}]}}", text.trim_end().trim_end_matches(','))))
        .expect("the net log is JSON");
    let start_job = &log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"];
    log["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| &e["type"] == start_job)
        .filter(|e| {
            e["params"]["network_isolation_key"]
                .as_str()
                .is_some_and(|k| k.contains("file://"))
        })
        .filter_map(|e| e["params"]["url"].as_str().map(str::to_string))
        .filter(|url| !url.starts_with("file:"))
        .collect()
}

/// The share of pixels that are not the page's white background.
fn ink(rendered: &Rendered) -> f64 {
    let total = rendered.pixels.len() / rendered.channels;
    let inked = rendered
        .pixels
        .chunks_exact(rendered.channels)
        .filter(|p| p[0] < 240 || p[1] < 240 || p[2] < 240)
        .count();
    inked as f64 / total.max(1) as f64
}

fn assert_clean(rendered: &Rendered) {
    assert!(
        rendered.console.is_empty(),
        "the browser logged console messages: {:?}",
        rendered.console
    );
    assert!(
        rendered.page_requests.is_empty(),
        "the page asked the network for {:?}",
        rendered.page_requests
    );
}

fn report(world: &World, args: &[&str]) -> (Run, PathBuf) {
    let out = world.dir.path().join("report.html");
    let mut all = vec!["report", "--out", out.to_str().unwrap()];
    all.extend_from_slice(args);
    (world.pipewatch(&all), out)
}

#[tokio::test]
async fn the_report_of_the_demo_data_renders_every_dag_without_errors_or_network() {
    let w = World::new(
        2,
        "[reporting]\ntime_zone = Europe/Berlin\n[extract]\nchanged_runs_scan_interval_minutes = 10080\n",
    )
    .await;
    for sql in [
        include_str!("../../examples/demo/airflow2_demo_runs.sql"),
        include_str!("../../examples/demo/airflow2_demo_tasks.sql"),
    ] {
        w.client
            .batch_execute(&format!(
                "SET search_path TO {}; {sql}; RESET search_path;",
                w.airflow
            ))
            .await
            .expect("demo data");
    }
    w.run_ok(&["run"]);
    // A failing warn test, to be listed with its values.
    std::fs::write(w.dir.path().join("five.sql"), "SELECT 5").unwrap();
    std::fs::write(w.dir.path().join("zero.sql"), "SELECT 0").unwrap();
    w.run_ok(&[
        "validate",
        "five.sql",
        "zero.sql",
        "equals",
        "warn",
        "--name",
        "orders_match_the_source",
    ]);
    w.run_ok(&["transform"]);

    let (run, page) = report(&w, &["--days", "7"]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("Wrote the report for"), "{run:?}");
    let html = std::fs::read_to_string(&page).unwrap();
    for external in [
        "<script", "<link", "@import", "url(", "src=", "http://", "https://",
    ] {
        assert!(!html.contains(external), "{external} in the page");
    }

    let rendered = render(&page);
    assert_clean(&rendered);
    let ink = ink(&rendered);
    assert!(
        ink > 0.03,
        "the screenshot is nearly blank ({ink:.4} inked)"
    );
    let dags: Vec<String> = w
        .query_strings(&format!(
            "SELECT DISTINCT dag_id FROM {}.dag_success_daily \
             WHERE day > (now() AT TIME ZONE 'Europe/Berlin')::date - 7",
            w.warehouse
        ))
        .await;
    assert!(
        dags.len() >= 3,
        "the demo has DAGs in the last week: {dags:?}"
    );
    for dag in &dags {
        assert!(
            rendered.dom.contains(dag.as_str()),
            "{dag} is not in the page"
        );
    }
    for text in [
        "Europe/Berlin",
        "Headline",
        "orders_match_the_source",
        "Slowest tasks",
        "Where the time went",
        "pipewatch's health",
    ] {
        assert!(rendered.dom.contains(text), "{text:?} is not in the page");
    }
    // One chart pair per DAG, two validation charts.
    assert_eq!(
        rendered.dom.matches("<svg").count(),
        2 * dags.len() + 2,
        "charts"
    );
}

#[tokio::test]
async fn an_empty_warehouse_gets_a_no_data_yet_page() {
    let w = World::new(2, "").await;
    // The report only reads: the schema must exist (the loader's migrate or first run).
    w.run_ok(&["migrate"]);
    let (run, page) = report(&w, &[]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.contains("no data in the period yet"), "{run:?}");
    let rendered = render(&page);
    assert_clean(&rendered);
    assert!(rendered.dom.contains("No data yet"), "{}", rendered.dom);
    let ink = ink(&rendered);
    assert!(ink > 0.002, "the screenshot is blank ({ink:.4} inked)");

    let (run, _) = report(&w, &["--days", "0"]);
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stderr.contains("--days 0 is out of range"), "{run:?}");
    let (run, _) = report(&w, &["--instance", "nosuch"]);
    assert_eq!(run.code, 2, "{run:?}");
}

#[tokio::test]
async fn report_out_replaces_only_a_regular_file() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new(2, "").await;
    w.run_ok(&["migrate"]);
    let dir = w.dir.path();
    let target = dir.join("kept.html");
    std::fs::write(&target, "keep me").unwrap();
    let link = dir.join("link.html");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let fifo = dir.join("pipe.html");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap();
    assert!(made.success());
    let read_only = dir.join("read-only.html");
    std::fs::write(&read_only, "protected").unwrap();
    std::fs::set_permissions(&read_only, std::fs::Permissions::from_mode(0o444)).unwrap();
    for (out, says) in [
        (link.clone(), "is a symbolic link"),
        (fifo.clone(), "is a pipe or a socket"),
        (PathBuf::from("/dev/null"), "is a device"),
        (read_only.clone(), "is read-only"),
        (dir.to_path_buf(), "is a folder"),
    ] {
        let run = w.pipewatch(&["report", "--out", out.to_str().unwrap()]);
        assert_eq!(run.code, pipewatch::exit::USAGE as i32, "{out:?}: {run:?}");
        assert!(run.stderr.contains(says), "{out:?}: {run:?}");
    }
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me");
    assert!(
        std::fs::symlink_metadata(&link)
            .unwrap()
            .file_type()
            .is_symlink()
    );
    assert_eq!(std::fs::read_to_string(&read_only).unwrap(), "protected");
    {
        use std::os::unix::fs::FileTypeExt;
        assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());
        assert!(
            std::fs::metadata("/dev/null")
                .unwrap()
                .file_type()
                .is_char_device()
        );
    }
    // A regular file is replaced, and no temporary file is left beside it.
    let run = w.pipewatch(&["report", "--out", target.to_str().unwrap()]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(
        std::fs::read_to_string(&target)
            .unwrap()
            .starts_with("<!DOCTYPE html>")
    );
    let leftovers: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".partial"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
