//! The run context: what identifies one pipewatch invocation.
//!
//! Every invocation gets a run id (a time-ordered UUID v7). It is in every log line (the root
//! span carries it) and in every row the invocation writes (`loaded_by_run_id`,
//! `pipewatch_run_log.run_id`, `validation_run_history.run_id`), so an invocation's effects can
//! be traced together.

use uuid::Uuid;

/// Version of this binary, recorded with each stage it runs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What identifies one invocation.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The invocation's run id.
    pub run_id: Uuid,
    /// The subcommand invoked (`run`, `migrate`, ...).
    pub command: &'static str,
    /// The host it runs on, when known.
    pub hostname: Option<String>,
    /// The Airflow task this invocation runs in, when Airflow started it.
    pub airflow_task: Option<AirflowTask>,
}

/// The Airflow task an invocation runs in, from the environment variables Airflow exports to
/// the processes of a task (`AIRFLOW_CTX_*`: BashOperator, KubernetesPodOperator with
/// `env_vars` passed on, and others).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AirflowTask {
    /// `AIRFLOW_CTX_DAG_ID`.
    pub dag_id: String,
    /// `AIRFLOW_CTX_TASK_ID`.
    pub task_id: Option<String>,
    /// `AIRFLOW_CTX_DAG_RUN_ID`.
    pub run_id: Option<String>,
    /// `AIRFLOW_CTX_TRY_NUMBER`.
    pub try_number: Option<i32>,
}

impl AirflowTask {
    /// The task described by `var` (an environment lookup); None without `AIRFLOW_CTX_DAG_ID`.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let get = |name: &str| {
            var(name)
                .map(|v| v.trim().to_string())
                .filter(|v| !v.is_empty())
        };
        Some(AirflowTask {
            dag_id: get("AIRFLOW_CTX_DAG_ID")?,
            task_id: get("AIRFLOW_CTX_TASK_ID"),
            run_id: get("AIRFLOW_CTX_DAG_RUN_ID"),
            try_number: get("AIRFLOW_CTX_TRY_NUMBER").and_then(|n| n.parse().ok()),
        })
    }
}

impl RunContext {
    /// A new context with a fresh run id.
    pub fn new(command: &'static str) -> Self {
        RunContext {
            run_id: Uuid::now_v7(),
            command,
            hostname: hostname(),
            airflow_task: AirflowTask::from_vars(|name| std::env::var(name).ok()),
        }
    }
}

fn hostname() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

#[cfg(test)]
mod tests {
    use super::AirflowTask;

    #[test]
    fn airflow_task_context_is_read_from_airflow_s_variables() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| {
                pairs
                    .iter()
                    .find(|(k, _)| *k == name)
                    .map(|(_, v)| v.to_string())
            }
        };
        assert_eq!(AirflowTask::from_vars(vars(&[])), None);
        assert_eq!(
            AirflowTask::from_vars(vars(&[
                ("AIRFLOW_CTX_DAG_ID", "orders"),
                ("AIRFLOW_CTX_TASK_ID", "validate"),
                (
                    "AIRFLOW_CTX_DAG_RUN_ID",
                    "scheduled__2025-03-01T00:00:00+00:00"
                ),
                ("AIRFLOW_CTX_TRY_NUMBER", "2"),
            ])),
            Some(AirflowTask {
                dag_id: "orders".into(),
                task_id: Some("validate".into()),
                run_id: Some("scheduled__2025-03-01T00:00:00+00:00".into()),
                try_number: Some(2),
            })
        );
        let odd = AirflowTask::from_vars(vars(&[
            ("AIRFLOW_CTX_DAG_ID", "orders"),
            ("AIRFLOW_CTX_TRY_NUMBER", "x"),
        ]))
        .unwrap();
        assert_eq!(odd.try_number, None);
    }
}
