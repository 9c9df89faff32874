//! Every dashboard panel's SQL runs against a warehouse filled the way the demo fills it, and
//! returns rows: a renamed column breaks the build, not the chart. Panels use Grafana's
//! variables and macros (`${schema:raw}`, `$__timeFilter(day)`, `$__range_s`, `$instance`), which
//! the test expands the way Grafana does for a fixed time range. The plain .sql copies must be
//! the panels' queries exactly.

use chrono::{DateTime, Duration, Utc};

use crate::common::*;

/// The variables and the time range a dashboard is shown with.
struct Shown {
    schema: &'static str,
    instances: Vec<String>,
    /// The owner variable's values; None for "All" (its custom all value '__all__').
    owners: Option<Vec<String>>,
    /// The tag variable's values; None for "All".
    tags: Option<Vec<String>>,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
}

/// `sql` with the dashboard's variables and macros expanded as Grafana's PostgreSQL data source
/// expands them: `$__timeFilter(col)` becomes `col BETWEEN '<from>' AND '<to>'` (RFC 3339,
/// UTC), `$__range_s` the range in seconds, `${schema:raw}` the schema unquoted, and a
/// multi-value `$instance`, `$owner` or `$tag` its values quoted and comma-separated (the owner
/// and tag variables' "All" their custom all value, `'__all__'`).
fn expand(sql: &str, shown: &Shown) -> String {
    let instant = |t: DateTime<Utc>| format!("'{}'", t.format("%Y-%m-%dT%H:%M:%SZ"));
    let quoted = |values: &[String]| {
        values
            .iter()
            .map(|i| format!("'{}'", i.replace('\'', "''")))
            .collect::<Vec<_>>()
            .join(",")
    };
    let or_all =
        |values: &Option<Vec<String>>| values.as_deref().map_or("'__all__'".to_string(), &quoted);
    let mut out = sql
        .replace("${schema:raw}", shown.schema)
        .replace(
            "$__range_s",
            &(shown.to - shown.from).num_seconds().to_string(),
        )
        .replace("$instance", &quoted(&shown.instances))
        .replace("$owner", &or_all(&shown.owners))
        .replace("$tag", &or_all(&shown.tags));
    while let Some(start) = out.find("$__timeFilter(") {
        let open = start + "$__timeFilter(".len();
        let close = open + out[open..].find(')').expect("closing parenthesis");
        let column = out[open..close].trim().to_string();
        out.replace_range(
            start..=close,
            &format!(
                "{column} BETWEEN {} AND {}",
                instant(shown.from),
                instant(shown.to)
            ),
        );
    }
    assert!(
        !out.contains('$'),
        "unexpanded variable or macro in:\n{out}"
    );
    out
}

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
            "CREATE SCHEMA airflow; SET search_path TO airflow; {} ; {} ; {} ; {} ; {} ; {} ; RESET search_path;",
            include_str!("../fixtures/airflow/dag_run_airflow2.sql"),
            include_str!("../fixtures/airflow/task_instance_airflow2.sql"),
            include_str!("../fixtures/airflow/catalog_airflow2.sql"),
            include_str!("../../examples/demo/airflow2_demo_runs.sql"),
            include_str!("../../examples/demo/airflow2_demo_tasks.sql"),
            include_str!("../../examples/demo/airflow2_demo_catalog.sql")
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
    // Expected runs are judged up to the catalogue's reading less 10 minutes, from the day
    // pipewatch first saw the DAGs: in the first minutes after midnight a warehouse born now
    // has no day to judge yet, and its panel is rightly empty. The test then reports in a zone
    // three hours ahead of UTC, where the day is three hours old.
    let utc = Utc::now();
    let time_zone = if chrono::Timelike::hour(&utc) == 0 && chrono::Timelike::minute(&utc) < 20 {
        "Etc/GMT-3"
    } else {
        "UTC"
    };
    let config = write_config(
        dir.path(),
        &format!(
            "{}{}[reporting]\ntime_zone = {time_zone}\n[objective_demo]\ninstance = default\nwithin = 6h\n",
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
    assert_eq!(panels.len(), 11);
    // Grafana's conventions: a data-source variable (no fixed uid), a schema and an instance
    // variable, the time picker's range.
    let variables = dashboard["templating"]["list"].as_array().unwrap();
    let variable = |name: &str| {
        variables
            .iter()
            .find(|v| v["name"] == name)
            .unwrap_or_else(|| panic!("no variable {name}"))
    };
    assert_eq!(variable("datasource")["type"], "datasource");
    assert_eq!(variable("schema")["query"], "pipewatch");
    for panel in panels {
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{panel}");
        for target in panel["targets"].as_array().unwrap() {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{panel}");
        }
    }
    // Grafana's literals have whole seconds: a range ending a minute from now holds every row
    // the runs above wrote within the current second.
    let to = Utc::now() + Duration::minutes(1);
    let last_30_days = |instances: &[String]| Shown {
        schema: "pipewatch",
        instances: instances.to_vec(),
        owners: None,
        tags: None,
        from: to - Duration::days(30),
        to,
    };
    // The instance variable's own query gives the instances, as Grafana's "All" does.
    let instance_query = variable("instance")["query"].as_str().unwrap();
    let instances: Vec<String> = client
        .query(&expand(instance_query, &last_30_days(&[])), &[])
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(instances, ["default"]);
    let shown = last_30_days(&instances);
    let mut files: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/dashboards/sql"))
            .unwrap()
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect();
    for panel in panels {
        let title = panel["title"].as_str().unwrap();
        for target in panel["targets"].as_array().unwrap() {
            let sql = target["rawSql"].as_str().unwrap();
            let expanded = expand(sql, &shown);
            let rows = client
                .query(&expanded, &[])
                .await
                .unwrap_or_else(|e| panic!("panel {title:?}: {e:?}\n{expanded}"));
            assert!(
                !rows.is_empty(),
                "panel {title:?} returns no rows:\n{expanded}"
            );
            // The filters work: a range before any data, or an instance that does not exist,
            // empties the panels that filter on them.
            let long_ago = Shown {
                from: to - Duration::days(3650),
                to: to - Duration::days(3000),
                ..last_30_days(&instances)
            };
            if sql.contains("$__timeFilter") {
                let rows = client.query(&expand(sql, &long_ago), &[]).await.unwrap();
                assert!(rows.is_empty(), "panel {title:?} ignores the time range");
            }
            // An owner or a tag no DAG has empties the DAG-level panels; one the demo's DAGs
            // have keeps rows.
            if sql.contains("$owner") {
                for (owners, tags, empty) in [
                    (Some(vec!["nosuch".to_string()]), None, true),
                    (None, Some(vec!["nosuch".to_string()]), true),
                    (
                        Some(
                            ["data-eng", "finance", "marketing", "ml-platform"]
                                .map(String::from)
                                .to_vec(),
                        ),
                        None,
                        false,
                    ),
                ] {
                    let filtered = Shown {
                        owners,
                        tags,
                        ..last_30_days(&instances)
                    };
                    let rows = client.query(&expand(sql, &filtered), &[]).await.unwrap();
                    assert_eq!(
                        rows.is_empty(),
                        empty,
                        "panel {title:?} and the owner and tag variables"
                    );
                }
            }
            if sql.contains("$instance") {
                let rows = client
                    .query(&expand(sql, &last_30_days(&["nosuch".to_string()])), &[])
                    .await
                    .unwrap();
                assert!(
                    rows.is_empty(),
                    "panel {title:?} ignores the instance variable"
                );
            }
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

/// docker-compose's sample Airflow database is created by the init scripts it mounts, run in
/// file-name order as the postgres image's entrypoint runs them: the demo's runs, tasks and DAG
/// catalogue are among them, so the quick-start stack shows a filled dashboard after its first
/// run.
#[tokio::test]
async fn the_docker_compose_airflow_database_is_seeded_with_the_demo_runs() {
    let compose = include_str!("../../docker-compose.yml");
    let mut init: Vec<(String, String)> = compose
        .lines()
        .filter_map(|line| {
            let mount = line.trim().strip_prefix("- ./")?;
            let (source, rest) = mount.split_once(':')?;
            let target = rest.strip_prefix("/docker-entrypoint-initdb.d/")?;
            let name = target.trim_end_matches(":ro").to_string();
            Some((name, source.to_string()))
        })
        .collect();
    init.sort();
    assert_eq!(init.len(), 6, "{init:?}");
    let client = pg().await;
    let schema = unique("compose");
    client
        .batch_execute(&format!("CREATE SCHEMA {schema}"))
        .await
        .unwrap();
    for (name, source) in &init {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(source);
        let sql =
            std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{name}: {source}: {e}"));
        client
            .batch_execute(&format!(
                "SET search_path TO {schema}; {sql}; RESET search_path;"
            ))
            .await
            .unwrap_or_else(|e| panic!("{name} ({source}): {e:?}"));
    }
    let runs: i64 = client
        .query_one(&format!("SELECT count(*) FROM {schema}.dag_run"), &[])
        .await
        .unwrap()
        .get(0);
    let tries: i64 = client
        .query_one(&format!("SELECT count(*) FROM {schema}.task_instance"), &[])
        .await
        .unwrap()
        .get(0);
    assert!(
        runs > 300 && tries > 1000,
        "{runs} runs, {tries} task instances"
    );
    let dags: i64 = client
        .query_one(&format!("SELECT count(*) FROM {schema}.dag"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(dags, 5, "the demo's catalogue");
}
