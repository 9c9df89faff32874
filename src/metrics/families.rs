//! The metric families pipewatch exports (one table, [`FAMILIES`]), the samples read, and the
//! text format, by the prometheus crate's encoder.

use std::collections::BTreeMap;

use prometheus::{Encoder, TextEncoder};

/// One metric family: its name (units last, as Prometheus' conventions ask), help text and
/// label names. All are gauges.
#[derive(Debug)]
pub struct Family {
    /// The metric name.
    pub name: &'static str,
    /// Its HELP text.
    pub help: &'static str,
    /// Its label names.
    pub labels: &'static [&'static str],
    /// Whether it is a last-success figure of pipewatch itself: pushed only after a command
    /// that succeeded, so a failure leaves the Pushgateway's value as it was.
    pub last_success: bool,
}

const fn family(
    name: &'static str,
    help: &'static str,
    labels: &'static [&'static str],
    last_success: bool,
) -> Family {
    Family {
        name,
        help,
        labels,
        last_success,
    }
}

const COMMAND: &[&str] = &["command"];
const STAGE: &[&str] = &["command", "stage", "airflow_instance"];
const STAGE_ROWS: &[&str] = &["command", "stage", "airflow_instance", "table"];
const INSTANCE: &[&str] = &["airflow_instance"];
const DAG: &[&str] = &["airflow_instance", "dag_id"];

/// Index of each family in [`FAMILIES`].
pub(super) mod f {
    pub const COMMAND_SUCCESS_AT: usize = 0;
    pub const COMMAND_SUCCESS_SECONDS: usize = 1;
    pub const COMMAND_FAILURE_AT: usize = 2;
    pub const STAGE_SUCCESS_AT: usize = 3;
    pub const STAGE_SUCCESS_SECONDS: usize = 4;
    pub const STAGE_ROWS_READ: usize = 5;
    pub const STAGE_ROWS_WRITTEN: usize = 6;
    pub const INSTANCE_LOADED_AT: usize = 7;
    pub const INSTANCE_LAG: usize = 8;
    pub const INSTANCE_PENDING: usize = 9;
    pub const INSTANCE_SET_ASIDE: usize = 10;
    pub const INSTANCE_PENDING_DAYS: usize = 11;
    pub const OPEN_ALERTS: usize = 12;
    pub const DAG_SUCCESS_AT: usize = 13;
    pub const DAG_SUCCESS_RATIO: usize = 14;
    pub const DAG_RUNTIME_P95: usize = 15;
    pub const DAG_RUNNING: usize = 16;
    pub const DAG_OPEN_ALERTS: usize = 17;
    pub const DAG_STATUS: usize = 18;
    pub const DAGS_EXPORTED: usize = 19;
}

/// Every family pipewatch exports.
pub const FAMILIES: &[Family] = &[
    family(
        "pipewatch_command_last_success_timestamp_seconds",
        "When the last invocation of the command in which every stage succeeded ended (Unix time).",
        COMMAND,
        true,
    ),
    family(
        "pipewatch_command_last_success_duration_seconds",
        "How long that last successful invocation of the command took.",
        COMMAND,
        true,
    ),
    family(
        "pipewatch_command_last_failure_timestamp_seconds",
        "When the last invocation of the command with a failed or abandoned stage ended (Unix time).",
        COMMAND,
        false,
    ),
    family(
        "pipewatch_stage_last_success_timestamp_seconds",
        "When the stage last succeeded in the command, per Airflow instance where it works per instance (Unix time).",
        STAGE,
        true,
    ),
    family(
        "pipewatch_stage_last_success_duration_seconds",
        "How long that last successful run of the stage took.",
        STAGE,
        true,
    ),
    family(
        "pipewatch_stage_last_success_rows_read",
        "Rows that last successful run of the stage read (table dag_run: DAG runs; task_instance: task tries).",
        STAGE_ROWS,
        true,
    ),
    family(
        "pipewatch_stage_last_success_rows_written",
        "Rows that last successful run of the stage inserted or updated (table dag_run: DAG runs; task_instance: task tries).",
        STAGE_ROWS,
        true,
    ),
    family(
        "pipewatch_instance_last_load_timestamp_seconds",
        "When an extract of the Airflow instance was last loaded into the warehouse (Unix time).",
        INSTANCE,
        false,
    ),
    family(
        "pipewatch_instance_lag_seconds",
        "How far the warehouse is behind the Airflow instance: now less Airflow's clock when the newest loaded extract read it.",
        INSTANCE,
        false,
    ),
    family(
        "pipewatch_instance_pending_extracts",
        "Extracts of the Airflow instance staged and waiting to be loaded.",
        INSTANCE,
        false,
    ),
    family(
        "pipewatch_instance_set_aside_extracts",
        "Extracts of the Airflow instance a load set aside, waiting for an operator (pipewatch status says which).",
        INSTANCE,
        false,
    ),
    family(
        "pipewatch_instance_pending_dates",
        "Calendar dates of the Airflow instance queued for the next transform to recompute.",
        INSTANCE,
        false,
    ),
    family(
        "pipewatch_open_alerts",
        "Alerts open now, per Airflow instance and rule (0 for every rule with none open).",
        &["airflow_instance", "rule"],
        false,
    ),
    family(
        "pipewatch_dag_last_success_timestamp_seconds",
        "When the DAG's successful run that started last ended (Unix time).",
        DAG,
        false,
    ),
    family(
        "pipewatch_dag_7d_success_ratio",
        "Successful over finished runs of the DAG whose day is one of the last 7 (reporting time zone), 0 to 1; absent when none finished.",
        DAG,
        false,
    ),
    family(
        "pipewatch_dag_7d_runtime_p95_seconds",
        "95th percentile runtime (end - start, interpolated) of the DAG's successful runs that started in the last 7 days.",
        DAG,
        false,
    ),
    family(
        "pipewatch_dag_running_runs",
        "The DAG's runs in state running at the last extract.",
        DAG,
        false,
    ),
    family(
        "pipewatch_dag_open_alerts",
        "Alerts open now about the DAG.",
        DAG,
        false,
    ),
    family(
        "pipewatch_dag_status",
        "1 for the DAG's status at the last catalogue reading (on_schedule, overdue, blocked, paused, stale, import_error, scheduler_down, unscheduled).",
        &["airflow_instance", "dag_id", "status"],
        false,
    ),
    family(
        "pipewatch_dags_exported",
        "DAGs with per-DAG series in this exposition, at most [prometheus] max_dags (the worst first).",
        &[],
        false,
    ),
];

/// One value of one family.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    family: usize,
    labels: Vec<String>,
    value: f64,
}

/// What was read: every sample, ready to be written as text for a file, a push or standard
/// output.
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    samples: Vec<Sample>,
}

impl Metrics {
    pub(super) fn push(&mut self, family: usize, labels: &[&str], value: f64) {
        debug_assert_eq!(labels.len(), FAMILIES[family].labels.len());
        self.samples.push(Sample {
            family,
            labels: labels.iter().map(|l| l.to_string()).collect(),
            value,
        });
    }

    pub(super) fn push_opt(&mut self, family: usize, labels: &[&str], value: Option<f64>) {
        if let Some(v) = value.filter(|v| v.is_finite()) {
            self.push(family, labels, v);
        }
    }

    /// Every sample in the text format.
    pub fn text(&self) -> String {
        encode(self.samples.iter())
    }

    /// The Pushgateway groups: the Airflow instance each sample is about ("" for pipewatch's
    /// own, not per instance), with its text. Without `with_last_success`, the last-success
    /// families are left out.
    pub(super) fn groups(&self, with_last_success: bool) -> BTreeMap<String, String> {
        let mut by_group: BTreeMap<String, Vec<&Sample>> = BTreeMap::new();
        for s in &self.samples {
            let spec = &FAMILIES[s.family];
            if spec.last_success && !with_last_success {
                continue;
            }
            let instance = spec
                .labels
                .iter()
                .position(|l| *l == "airflow_instance")
                .map_or("", |i| s.labels[i].as_str());
            by_group.entry(instance.to_string()).or_default().push(s);
        }
        by_group
            .into_iter()
            .map(|(group, samples)| (group, encode(samples.into_iter())))
            .collect()
    }
}

/// The samples in Prometheus' text format, by the prometheus crate's encoder (HELP and TYPE
/// lines, label escaping), families sorted by name. The families are built directly, not through
/// a registry of gauges: that hashed every label set and cost 6 to 12 ms for 3,000 samples.
fn encode<'a>(samples: impl Iterator<Item = &'a Sample>) -> String {
    use prometheus::proto::{Gauge, LabelPair, Metric, MetricFamily, MetricType};
    let mut families: BTreeMap<&'static str, MetricFamily> = BTreeMap::new();
    for s in samples {
        let spec = &FAMILIES[s.family];
        let family = families.entry(spec.name).or_insert_with(|| {
            let mut family = MetricFamily::default();
            family.set_name(spec.name.to_string());
            family.set_help(spec.help.to_string());
            family.set_field_type(MetricType::GAUGE);
            family
        });
        let mut metric = Metric::default();
        metric.set_label(
            spec.labels
                .iter()
                .zip(&s.labels)
                .map(|(name, value)| {
                    let mut pair = LabelPair::default();
                    pair.set_name(name.to_string());
                    pair.set_value(value.clone());
                    pair
                })
                .collect(),
        );
        let mut gauge = Gauge::default();
        gauge.set_value(s.value);
        metric.set_gauge(gauge);
        family.mut_metric().push(metric);
    }
    let families: Vec<MetricFamily> = families.into_values().collect();
    let mut out = Vec::new();
    TextEncoder::new()
        .encode(&families, &mut out)
        .expect("encoding into memory cannot fail");
    String::from_utf8(out).expect("the text format is UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_follow_prometheus_conventions_and_are_unique() {
        let mut names: Vec<&str> = FAMILIES.iter().map(|f| f.name).collect();
        for f in FAMILIES {
            assert!(f.name.starts_with("pipewatch_"), "{}", f.name);
            assert!(
                !f.name.ends_with("_total"),
                "gauges are not counters: {}",
                f.name
            );
            assert!(f.help.ends_with('.') || f.help.ends_with(')'), "{}", f.name);
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), FAMILIES.len());
        // The index constants point at the families they name.
        assert!(FAMILIES[f::DAGS_EXPORTED].name.ends_with("dags_exported"));
        assert!(FAMILIES[f::DAG_STATUS].name.ends_with("dag_status"));
        assert!(FAMILIES[f::OPEN_ALERTS].name.ends_with("_open_alerts"));
        assert!(
            FAMILIES[f::INSTANCE_PENDING_DAYS]
                .name
                .ends_with("pending_dates")
        );
        assert!(
            FAMILIES[f::STAGE_ROWS_WRITTEN]
                .name
                .ends_with("rows_written")
        );
        assert!(FAMILIES[f::COMMAND_FAILURE_AT].name.contains("failure"));
    }

    #[test]
    fn label_values_are_escaped_and_groups_split_by_instance() {
        let mut m = Metrics::default();
        m.push(f::DAG_RUNNING, &["prod", "we\"ird\\dag\nid"], 2.0);
        m.push(f::COMMAND_SUCCESS_AT, &["run"], 1_700_000_000.5);
        m.push(f::STAGE_SUCCESS_AT, &["run", "extract", "prod"], 1.0);
        m.push(f::STAGE_SUCCESS_AT, &["run", "transform", ""], 1.0);
        m.push(f::DAGS_EXPORTED, &[], 1.0);
        let text = m.text();
        assert!(
            text.contains(
                r#"pipewatch_dag_running_runs{airflow_instance="prod",dag_id="we\"ird\\dag\nid"} 2"#
            ),
            "{text}"
        );
        assert!(
            text.contains("# TYPE pipewatch_dag_running_runs gauge"),
            "{text}"
        );
        assert!(
            text.contains(
                "pipewatch_command_last_success_timestamp_seconds{command=\"run\"} 1700000000.5"
            ),
            "{text}"
        );
        let groups = m.groups(true);
        assert_eq!(groups.keys().collect::<Vec<_>>(), ["", "prod"]);
        assert!(groups["prod"].contains("stage=\"extract\""));
        assert!(!groups["prod"].contains("stage=\"transform\""));
        assert!(groups[""].contains("pipewatch_dags_exported 1"));
        // After a failure the last-success families stay out of the push.
        let failed = m.groups(false);
        assert!(
            failed.values().all(|t| !t.contains("last_success")),
            "{failed:?}"
        );
        assert!(failed["prod"].contains("pipewatch_dag_running_runs"));
    }
}
