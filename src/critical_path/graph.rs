//! A DAG version's task graph, read from Airflow's serialized DAG.
//!
//! Airflow writes `serialized_dag.data` as `{"__version": 1|2|3, "dag": {"tasks": [...]}}`, each
//! task `{"__type": "operator", "__var": {...}}` (older serializers wrote the task object
//! bare). Newer serializers leave out values equal to their defaults, so a missing
//! `downstream_task_ids` means none, a missing `pool` the default pool, a missing `pool_slots`
//! one slot. With `[core] compress_serialized_dags` Airflow stores the same JSON
//! zlib-compressed in `data_compressed` and leaves `data` NULL. The shapes here are those the
//! real Airflow 2.10.5 and 3.3.2 write (`tests/fixtures/airflow/graphs/`).
//!
//! A graph is never guessed: one that cannot be used (a cycle, an edge to a task it does not
//! have, a document that does not decompress or parse) is kept with its `problem`, and the
//! runs of that version say so.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Largest decompressed serialized DAG read (64 MiB): a bigger one is a problem, not a crash.
const MAX_DECOMPRESSED_BYTES: u64 = 64 * 1024 * 1024;

/// One task of a graph, as stored in `dag_graph_version.tasks`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GraphTask {
    pub task_id: String,
    pub downstream: Vec<String>,
    pub upstream: Vec<String>,
    pub pool: String,
    pub pool_slots: i64,
    pub queue: Option<String>,
    pub operator: Option<String>,
    pub is_mapped: bool,
    pub trigger_rule: String,
    pub retries: Option<i64>,
}

/// A graph as read: its tasks (sorted by task id), or why it cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Graph {
    pub tasks: Vec<GraphTask>,
    pub problem: Option<String>,
}

impl Graph {
    fn broken(problem: impl Into<String>) -> Self {
        Graph {
            tasks: Vec::new(),
            problem: Some(problem.into()),
        }
    }

    /// The graph of one `serialized_dag` row: `data` (JSON text) when set, else
    /// `data_compressed` (zlib).
    pub fn from_serialized(data: Option<&str>, compressed: Option<&[u8]>) -> Self {
        let text;
        let json = match (data, compressed) {
            (Some(d), _) => d,
            (None, Some([])) => return Graph::broken("data_compressed is empty"),
            (None, Some(bytes)) => {
                let mut out = String::new();
                let decoded = flate2::read::ZlibDecoder::new(bytes)
                    .take(MAX_DECOMPRESSED_BYTES + 1)
                    .read_to_string(&mut out);
                match decoded {
                    Err(e) => {
                        return Graph::broken(format!(
                            "data_compressed does not decompress as zlib ({e})"
                        ));
                    }
                    Ok(n) if n as u64 > MAX_DECOMPRESSED_BYTES => {
                        return Graph::broken(format!(
                            "data_compressed decompresses to more than {MAX_DECOMPRESSED_BYTES} bytes"
                        ));
                    }
                    Ok(_) => {}
                }
                text = out;
                &text
            }
            (None, None) => return Graph::broken("both data and data_compressed are NULL"),
        };
        match serde_json::from_str::<Value>(json) {
            Ok(document) => Graph::from_document(&document),
            Err(e) => Graph::broken(format!("the serialized DAG is not JSON ({e})")),
        }
    }

    /// The graph of a parsed serialized DAG document.
    pub fn from_document(document: &Value) -> Self {
        let dag = document.get("dag").unwrap_or(document);
        let Some(tasks) = dag.get("tasks").and_then(Value::as_array) else {
            return Graph::broken("the serialized DAG has no tasks array (dag.tasks)");
        };
        let mut out: BTreeMap<String, GraphTask> = BTreeMap::new();
        for (i, task) in tasks.iter().enumerate() {
            let var = task.get("__var").unwrap_or(task);
            let Some(task_id) = var.get("task_id").and_then(Value::as_str) else {
                return Graph::broken(format!("task {i} of the serialized DAG has no task_id"));
            };
            let text = |key: &str| var.get(key).and_then(Value::as_str).map(str::to_string);
            let downstream: BTreeSet<String> = match var.get("downstream_task_ids") {
                None | Some(Value::Null) => BTreeSet::new(),
                Some(Value::Array(ids)) => {
                    let mut set = BTreeSet::new();
                    for id in ids {
                        let Some(id) = id.as_str() else {
                            return Graph::broken(format!(
                                "task {task_id} has a downstream task id that is not text"
                            ));
                        };
                        set.insert(id.to_string());
                    }
                    set
                }
                Some(_) => {
                    return Graph::broken(format!(
                        "task {task_id}'s downstream_task_ids is not an array"
                    ));
                }
            };
            let graph_task = GraphTask {
                task_id: task_id.to_string(),
                downstream: downstream.into_iter().collect(),
                upstream: Vec::new(),
                pool: text("pool").unwrap_or_else(|| "default_pool".to_string()),
                pool_slots: var.get("pool_slots").and_then(Value::as_i64).unwrap_or(1),
                queue: text("queue"),
                operator: text("task_type").or_else(|| text("_task_type")),
                is_mapped: var.get("_is_mapped").and_then(Value::as_bool) == Some(true),
                trigger_rule: text("trigger_rule").unwrap_or_else(|| "all_success".to_string()),
                retries: var.get("retries").and_then(Value::as_i64),
            };
            if out.insert(task_id.to_string(), graph_task).is_some() {
                return Graph::broken(format!("task {task_id} appears twice"));
            }
        }
        Graph::linked(out)
    }

    /// Fills each task's upstream from the others' downstream, and checks the edges: every
    /// task named exists and there is no cycle.
    fn linked(mut tasks: BTreeMap<String, GraphTask>) -> Self {
        let mut upstream: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for task in tasks.values() {
            for down in &task.downstream {
                if !tasks.contains_key(down) {
                    return Graph::broken(format!(
                        "task {} has downstream task {down}, which is not in the graph",
                        task.task_id
                    ));
                }
                upstream
                    .entry(down.clone())
                    .or_default()
                    .push(task.task_id.clone());
            }
        }
        for (id, ups) in upstream {
            if let Some(task) = tasks.get_mut(&id) {
                task.upstream = ups;
            }
        }
        // Kahn's algorithm: whatever is left after removing the tasks without upstream, again
        // and again, lies on a cycle.
        let mut remaining: BTreeMap<&str, usize> = tasks
            .values()
            .map(|t| (t.task_id.as_str(), t.upstream.len()))
            .collect();
        let mut ready: Vec<&str> = remaining
            .iter()
            .filter(|(_, n)| **n == 0)
            .map(|(id, _)| *id)
            .collect();
        while let Some(id) = ready.pop() {
            remaining.remove(id);
            for down in &tasks[id].downstream {
                if let Some(n) = remaining.get_mut(down.as_str()) {
                    *n -= 1;
                    if *n == 0 {
                        ready.push(down.as_str());
                    }
                }
            }
        }
        if let Some((first, _)) = remaining.iter().next() {
            let problem = format!(
                "the graph has a cycle through task {first} ({} tasks on or behind cycles)",
                remaining.len()
            );
            return Graph::broken(problem);
        }
        Graph {
            tasks: tasks.into_values().collect(),
            problem: None,
        }
    }

    /// The tasks by id.
    pub fn by_id(&self) -> BTreeMap<&str, &GraphTask> {
        self.tasks.iter().map(|t| (t.task_id.as_str(), t)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const AIRFLOW2: &str =
        include_str!("../../tests/fixtures/airflow/graphs/pw_graph_airflow2.json");
    const AIRFLOW3: &str =
        include_str!("../../tests/fixtures/airflow/graphs/pw_graph_airflow3.json");

    fn task<'a>(graph: &'a Graph, id: &str) -> &'a GraphTask {
        graph.tasks.iter().find(|t| t.task_id == id).unwrap()
    }

    #[test]
    fn the_graphs_real_airflow_writes_read_the_same_for_both_versions() {
        let two = Graph::from_serialized(Some(AIRFLOW2), None);
        let three = Graph::from_serialized(Some(AIRFLOW3), None);
        assert_eq!(two.problem, None);
        assert_eq!(three.problem, None);
        for graph in [&two, &three] {
            let ids: Vec<&str> = graph.tasks.iter().map(|t| t.task_id.as_str()).collect();
            assert_eq!(
                ids,
                [
                    "branch",
                    "extract_a",
                    "extract_b",
                    "fan",
                    "join",
                    "left",
                    "right",
                    "start",
                    "tg.inner1",
                    "tg.inner2"
                ]
            );
            assert_eq!(
                task(graph, "start").downstream,
                ["extract_a", "extract_b", "fan"]
            );
            assert_eq!(
                task(graph, "tg.inner1").upstream,
                ["extract_a", "extract_b"]
            );
            assert_eq!(task(graph, "join").upstream, ["fan", "left", "right"]);
            assert!(task(graph, "join").downstream.is_empty());
            assert_eq!(
                task(graph, "join").trigger_rule,
                "none_failed_min_one_success"
            );
            assert_eq!(task(graph, "start").trigger_rule, "all_success");
            let a = task(graph, "extract_a");
            assert_eq!(
                (a.pool.as_str(), a.pool_slots, a.queue.as_deref(), a.retries),
                ("postgres", 2, Some("heavy"), Some(2))
            );
            let b = task(graph, "extract_b");
            assert_eq!(
                (b.pool.as_str(), b.pool_slots, b.queue.as_deref()),
                ("default_pool", 1, None)
            );
            assert!(task(graph, "fan").is_mapped);
            assert!(!b.is_mapped);
            assert_eq!(
                task(graph, "fan").operator.as_deref(),
                Some("_PythonDecoratedOperator")
            );
            assert_eq!(b.operator.as_deref(), Some("EmptyOperator"));
        }
        // The mapped task's pool: Airflow 2 writes none for a mapped operator, 3 leaves the
        // default out; both read as the default pool.
        assert_eq!(task(&two, "fan").pool, "default_pool");
        assert_eq!(
            two.tasks.iter().map(|t| &t.upstream).collect::<Vec<_>>(),
            three.tasks.iter().map(|t| &t.upstream).collect::<Vec<_>>()
        );
    }

    #[test]
    fn a_compressed_serialized_dag_reads_like_its_text() {
        let mut encoder =
            flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        encoder.write_all(AIRFLOW3.as_bytes()).unwrap();
        let bytes = encoder.finish().unwrap();
        assert_eq!(
            Graph::from_serialized(None, Some(&bytes)),
            Graph::from_serialized(Some(AIRFLOW3), None)
        );
    }

    #[test]
    fn bad_graphs_say_why_and_have_no_tasks() {
        // (data, data_compressed, what the problem says)
        type Case<'a> = (Option<&'a str>, Option<&'a [u8]>, &'a str);
        let cases: [Case; 7] = [
            (None, None, "both data and data_compressed are NULL"),
            (None, Some(b"not zlib"), "does not decompress as zlib"),
            (None, Some(b""), "data_compressed is empty"),
            (Some("{"), None, "is not JSON"),
            (Some(r#"{"dag": {}}"#), None, "no tasks array"),
            (
                Some(
                    r#"{"dag": {"tasks": [{"__var": {"task_id": "a", "downstream_task_ids": ["b"]}}, {"__var": {"task_id": "b", "downstream_task_ids": ["a"]}}]}}"#,
                ),
                None,
                "cycle through task a",
            ),
            (
                Some(
                    r#"{"dag": {"tasks": [{"__var": {"task_id": "a", "downstream_task_ids": ["ghost"]}}]}}"#,
                ),
                None,
                "downstream task ghost, which is not in the graph",
            ),
        ];
        for (data, compressed, why) in cases {
            let graph = Graph::from_serialized(data, compressed);
            assert!(graph.tasks.is_empty(), "{data:?}");
            let problem = graph.problem.unwrap_or_default();
            assert!(problem.contains(why), "{data:?}: {problem}");
        }
    }
}
