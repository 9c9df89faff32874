//! The integration tests, one binary: modules by subject, one shared test world (`common`).
//! They run against the real PostgreSQL and S3-compatible server that `scripts/test` starts
//! (which also enables the `integration` feature this target requires, so a plain `cargo test`
//! runs the unit tests only). A test that needs a service and does not find it fails, saying how
//! to run the suite; nothing is skipped. Each test works in its own schemas, folder and bucket.

mod alerts;
mod api;
mod catalog;
mod common;
mod critical_path;
mod dag_runs;
mod dashboards;
mod docs;
mod examples;
mod expected_runs;
mod faults;
mod foundation;
mod hostile;
mod live_scheduler;
mod objectives;
mod packaging;
mod prometheus;
mod replay;
mod report;
mod routes;
mod tasks;
mod tls;
mod transform;
mod validate;
