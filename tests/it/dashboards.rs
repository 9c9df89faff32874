//! Every dashboard panel's SQL runs against a warehouse filled the way the demo fills it, and
//! returns rows: a renamed column breaks the build, not the chart. The plain .sql copies for
//! Metabase/Superset users must be the panels' queries exactly.

use crate::common::*;

#[tokio::test]
async fn every_dashboard_panel_query_runs_on_a_demo_warehouse_and_returns_rows() {
    // Panels name the default schema `pipewatch`, so this test gets a database of its own.
    let admin = pg().await;
    let database = unique("dash");
    admin
        .batch_execute(&format!("CREATE DATABASE {database}"))
        .await
        .unwrap();
    let conn = format!(
        "host={} port={} user={} dbname={database}",
        pg_host(),
        pg_port(),
        pg_user()
    );
    let (client, connection) = tokio_postgres::connect(&conn, tokio_postgres::NoTls)
        .await
        .unwrap();
    tokio::spawn(connection);
    client
        .batch_execute(&format!(
            "CREATE SCHEMA airflow; SET search_path TO airflow; {} ; {} ; {} ; {} ; RESET search_path;",
            include_str!("../fixtures/airflow/dag_run_airflow2.sql"),
            include_str!("../fixtures/airflow/task_instance_airflow2.sql"),
            include_str!("../../examples/demo/airflow2_demo_runs.sql"),
            include_str!("../../examples/demo/airflow2_demo_tasks.sql")
        ))
        .await
        .unwrap();
    let dir = TempDir::new();
    let section = |name: &str, schema: &str| {
        format!(
            "[{name}]\nhost = {}\nport = {}\nusername = {}\ndatabase = {database}\nschema = {schema}\n",
            pg_host(),
            pg_port(),
            pg_user()
        )
    };
    let config = write_config(
        dir.path(),
        &format!(
            "{}{}",
            section("warehouse", "pipewatch"),
            section("airflowdb_config", "airflow")
        ),
    );
    let config = config.to_str().unwrap();
    let suite = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/validation/suite.ini");
    for args in [
        vec!["run"],
        vec!["validate", "--suite", suite],
        vec!["transform"],
    ] {
        let mut all = vec!["--config", config];
        all.extend(args.iter());
        let run = pipewatch(dir.path(), &all, &[]);
        assert_eq!(run.code, 0, "pipewatch {args:?}: {run:?}");
    }

    let dashboard: serde_json::Value =
        serde_json::from_str(include_str!("../../dashboards/pipewatch.json")).unwrap();
    let panels = dashboard["panels"].as_array().unwrap();
    assert_eq!(panels.len(), 8);
    let mut files: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/sql"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        for target in panel["targets"].as_array().unwrap() {
            let sql = target["rawSql"].as_str().unwrap();
            let rows = client
                .query(sql, &[])
                .await
                .unwrap_or_else(|e| panic!("panel {title:?}: {e:?}\n{sql}"));
            assert!(!rows.is_empty(), "panel {title:?} returns no rows:\n{sql}");
            let position = files.iter().position(|f| f == sql);
            assert!(
                position.is_some(),
                "panel {title:?}: its SQL is not one of dashboards/sql/*.sql"
            );
            files.remove(position.unwrap());
        }
    }
    assert!(files.is_empty(), "dashboards/sql has queries no panel uses");
    drop(client);
    admin
        .batch_execute(&format!("DROP DATABASE {database} WITH (FORCE)"))
        .await
        .unwrap();
}
