//! The critical path of one finished DAG run: the walk that tiles its duration exactly.
//!
//! Start at the task that finished last; repeatedly step to the upstream task (in the run's
//! graph) that finished last among those that ended no later than the task started; stop at a
//! task with no such upstream. An edge whose upstream ended later (a skipped branch, a
//! non-default trigger rule) is not followed. A mapped task is one node: its instances
//! collapsed (earliest start, latest end); its times are split on the instance that finished
//! last. Task instances that ended before the run started (kept from before the run was
//! cleared) did not hold this attempt up and are left out.
//!
//! Each step's time, from when it could begin (`ready`: the previous step's end) to its end, is
//! split into four parts that add up to it exactly, in whole microseconds (PostgreSQL's
//! resolution):
//! - dependency wait: `ready` to its first try's begin (the earliest of scheduled, queued and
//!   started Airflow recorded);
//! - retries: the first try's begin to the final try's begin (earlier tries and the delays
//!   between them);
//! - queue wait: the final try's begin to its start (Airflow 3 records `scheduled_dttm`, so
//!   this includes waiting for a pool slot; Airflow 2 records only `queued_dttm`, so a pool
//!   wait there counts as dependency wait);
//! - run: the final try's start to its end.
//!
//! Every instant is clamped into order (never before the one before it), so clocks that
//! disagree by a little move time between neighbouring parts, never out of the total. The run's
//! own scheduling delay (its start to the first step's begin) and finish delay (the last
//! step's end to the run's end) complete the tiling: their sum with every step's parts is the
//! run's duration.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};

use super::graph::Graph;

/// One try of a task instance of the run, as `task_run_history` holds it.
#[derive(Debug, Clone, Default)]
pub struct Try {
    pub task_id: String,
    pub map_index: i32,
    pub try_number: i32,
    pub start: Option<DateTime<Utc>>,
    pub end: Option<DateTime<Utc>>,
    pub queued: Option<DateTime<Utc>>,
    pub scheduled: Option<DateTime<Utc>>,
    pub pool: Option<String>,
    pub pool_slots: Option<i32>,
    pub queue: Option<String>,
}

/// One step of a path, in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Step {
    pub task_id: String,
    pub map_count: i32,
    pub tries: i32,
    pub ready_at: DateTime<Utc>,
    pub first_try_at: DateTime<Utc>,
    pub started_at: DateTime<Utc>,
    pub ended_at: DateTime<Utc>,
    /// The four parts, in microseconds.
    pub dependency_wait_us: i64,
    pub retry_us: i64,
    pub queue_wait_us: i64,
    pub run_us: i64,
    pub pool: Option<String>,
    pub pool_slots: Option<i32>,
    pub queue: Option<String>,
}

/// What the walk found for a run.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Computed {
        scheduling_delay_us: i64,
        finish_delay_us: i64,
        steps: Vec<Step>,
    },
    /// Not computed: the status (`dag_run_critical_path_run.status`) and why.
    NotComputed {
        status: &'static str,
        reason: String,
    },
}

/// One task instance's tries that matter: its first begin and its final finished try.
struct Instance<'a> {
    map_index: i32,
    first_begin: DateTime<Utc>,
    earliest_start: DateTime<Utc>,
    last: &'a Try,
    last_start: DateTime<Utc>,
    last_end: DateTime<Utc>,
    tries: i32,
}

/// A task of the run, its instances collapsed.
struct Node<'a> {
    task_id: &'a str,
    earliest_start: DateTime<Utc>,
    /// The instance that finished last: its times split the step.
    decisive: Instance<'a>,
    map_count: i32,
}

fn begin_of(t: &Try) -> Option<DateTime<Utc>> {
    [t.scheduled, t.queued, t.start].into_iter().flatten().min()
}

/// Gathers the run's tries into nodes, one per task with a finished try.
fn nodes<'a>(tries: &'a [Try], run_start: DateTime<Utc>) -> BTreeMap<&'a str, Node<'a>> {
    let mut by_instance: BTreeMap<(&str, i32), Vec<&Try>> = BTreeMap::new();
    for t in tries.iter().filter(|t| t.try_number >= 1) {
        by_instance
            .entry((t.task_id.as_str(), t.map_index))
            .or_default()
            .push(t);
    }
    let mut out: BTreeMap<&str, Node> = BTreeMap::new();
    for ((task_id, map_index), mut list) in by_instance {
        list.sort_by_key(|t| t.try_number);
        let Some(last) = list
            .iter()
            .rev()
            .find(|t| t.start.is_some() && t.end.is_some())
        else {
            continue;
        };
        let (Some(last_start), Some(last_end)) = (last.start, last.end) else {
            continue;
        };
        if last_end < run_start {
            continue;
        }
        let kept: Vec<&&Try> = list
            .iter()
            .take_while(|t| t.try_number <= last.try_number)
            .collect();
        let first_begin = kept.iter().find_map(|t| begin_of(t)).unwrap_or(last_start);
        let earliest_start = kept
            .iter()
            .filter_map(|t| t.start)
            .min()
            .unwrap_or(last_start);
        let instance = Instance {
            map_index,
            first_begin,
            earliest_start,
            last,
            last_start,
            last_end,
            tries: kept.len() as i32,
        };
        match out.get_mut(task_id) {
            None => {
                out.insert(
                    task_id,
                    Node {
                        task_id,
                        earliest_start: instance.earliest_start,
                        decisive: instance,
                        map_count: 1,
                    },
                );
            }
            Some(node) => {
                node.map_count += 1;
                node.earliest_start = node.earliest_start.min(instance.earliest_start);
                if (instance.last_end, instance.map_index)
                    > (node.decisive.last_end, node.decisive.map_index)
                {
                    node.decisive = instance;
                }
            }
        }
    }
    out
}

fn micros(from: DateTime<Utc>, to: DateTime<Utc>) -> i64 {
    (to - from).num_microseconds().unwrap_or(i64::MAX)
}

/// Walks the critical path of a finished run (`run_start`..`run_end`) over its `tries`, on
/// `graph`.
pub fn walk(
    run_start: DateTime<Utc>,
    run_end: DateTime<Utc>,
    tries: &[Try],
    graph: &Graph,
) -> Outcome {
    if let Some(problem) = &graph.problem {
        return Outcome::NotComputed {
            status: "invalid_graph",
            reason: format!("its graph cannot be used: {problem}"),
        };
    }
    if run_end < run_start {
        return Outcome::NotComputed {
            status: "inconsistent_times",
            reason: format!("the run ended ({run_end}) before it started ({run_start})"),
        };
    }
    let nodes = nodes(tries, run_start);
    let tasks = graph.by_id();
    if let Some(missing) = nodes.keys().find(|id| !tasks.contains_key(*id)) {
        return Outcome::NotComputed {
            status: "task_not_in_graph",
            reason: format!("task {missing} ran in the run but is not in its graph"),
        };
    }
    let Some(last) = nodes
        .values()
        .max_by_key(|n| (n.decisive.last_end, n.earliest_start, n.task_id))
    else {
        return Outcome::NotComputed {
            status: "no_finished_tasks",
            reason: "no task try of the run has both a start and an end".to_string(),
        };
    };
    if last.decisive.last_end > run_end {
        return Outcome::NotComputed {
            status: "inconsistent_times",
            reason: format!(
                "task {} ended ({}) after the run did ({run_end})",
                last.task_id, last.decisive.last_end
            ),
        };
    }
    // Back from the last task to a root.
    let mut path: Vec<&Node> = vec![last];
    let mut current = last;
    while let Some(up) = tasks[current.task_id]
        .upstream
        .iter()
        .filter_map(|id| nodes.get(id.as_str()))
        .filter(|u| u.decisive.last_end <= current.earliest_start)
        .max_by_key(|u| (u.decisive.last_end, u.task_id))
    {
        // Each step ends no later than the one after it starts, so the walk goes strictly
        // back in time or stays at an instant; a graph without cycles ends it either way, and
        // the bound keeps a zero-length loop from ever running on.
        if path.len() > nodes.len() {
            break;
        }
        path.push(up);
        current = up;
    }
    path.reverse();
    let clamp = |t: DateTime<Utc>, low: DateTime<Utc>, high: DateTime<Utc>| t.max(low).min(high);
    let first_begin = clamp(
        path[0].decisive.first_begin,
        run_start,
        path[0].decisive.last_end,
    );
    let scheduling_delay_us = micros(run_start, first_begin);
    let mut ready = first_begin;
    let mut steps = Vec::with_capacity(path.len());
    for node in path {
        let d = &node.decisive;
        let end = d.last_end;
        let b1 = clamp(d.first_begin, ready, end);
        let final_begin = begin_of(d.last).unwrap_or(d.last_start);
        let bf = clamp(final_begin, b1, end);
        let start = clamp(d.last_start, bf, end);
        steps.push(Step {
            task_id: node.task_id.to_string(),
            map_count: node.map_count,
            tries: d.tries,
            ready_at: ready,
            first_try_at: b1,
            started_at: start,
            ended_at: end,
            dependency_wait_us: micros(ready, b1),
            retry_us: micros(b1, bf),
            queue_wait_us: micros(bf, start),
            run_us: micros(start, end),
            pool: d.last.pool.clone(),
            pool_slots: d.last.pool_slots,
            queue: d.last.queue.clone(),
        });
        ready = end;
    }
    Outcome::Computed {
        scheduling_delay_us,
        finish_delay_us: micros(ready, run_end),
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Minutes after 2026-01-01 00:00 UTC.
    fn at(minutes: f64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_767_225_600, 0).unwrap()
            + chrono::Duration::microseconds((minutes * 60_000_000.0) as i64)
    }

    fn graph(edges: &[(&str, &[&str])]) -> Graph {
        let tasks: Vec<_> = edges
            .iter()
            .map(|(id, down)| json!({"__var": {"task_id": id, "downstream_task_ids": down}}))
            .collect();
        Graph::from_document(&json!({"dag": {"tasks": tasks}}))
    }

    /// A try queued at `q`, started at `s`, ended at `e` (minutes).
    fn try_(task: &str, map_index: i32, try_number: i32, q: f64, s: f64, e: f64) -> Try {
        Try {
            task_id: task.into(),
            map_index,
            try_number,
            queued: Some(at(q)),
            start: Some(at(s)),
            end: Some(at(e)),
            pool: Some("default_pool".into()),
            pool_slots: Some(1),
            ..Try::default()
        }
    }

    fn total(outcome: &Outcome) -> i64 {
        match outcome {
            Outcome::Computed {
                scheduling_delay_us,
                finish_delay_us,
                steps,
            } => {
                scheduling_delay_us
                    + finish_delay_us
                    + steps
                        .iter()
                        .map(|s| s.dependency_wait_us + s.retry_us + s.queue_wait_us + s.run_us)
                        .sum::<i64>()
            }
            Outcome::NotComputed { .. } => panic!("{outcome:?}"),
        }
    }

    fn steps(outcome: &Outcome) -> Vec<(&str, i64, i64, i64, i64)> {
        let Outcome::Computed { steps, .. } = outcome else {
            panic!("{outcome:?}")
        };
        steps
            .iter()
            .map(|s| {
                (
                    s.task_id.as_str(),
                    s.dependency_wait_us / 1_000_000,
                    s.retry_us / 1_000_000,
                    s.queue_wait_us / 1_000_000,
                    s.run_us / 1_000_000,
                )
            })
            .collect()
    }

    #[test]
    fn the_slow_branch_that_finished_early_is_not_blamed() {
        // start -> {slow, quick}; quick -> load; slow and load -> end. The slow task (20 min)
        // finished at 21; quick finished at 3, load waited 10 min in the queue and ran 2 min,
        // ending at 15... then end waited for slow. And a second run where load ends last.
        let g = graph(&[
            ("start", &["slow", "quick"]),
            ("slow", &["end"]),
            ("quick", &["load"]),
            ("load", &["end"]),
            ("end", &[]),
        ]);
        let tries = vec![
            try_("start", -1, 1, 0.5, 1.0, 2.0),
            try_("slow", -1, 1, 2.5, 3.0, 21.0),
            try_("quick", -1, 1, 2.5, 3.0, 4.0),
            try_("load", -1, 1, 4.5, 14.5, 16.5),
            try_("end", -1, 1, 21.5, 22.0, 23.0),
        ];
        let outcome = walk(at(0.0), at(23.5), &tries, &g);
        assert_eq!(
            steps(&outcome),
            [
                ("start", 0, 0, 30, 60),
                ("slow", 30, 0, 30, 1080),
                ("end", 30, 0, 30, 60)
            ]
        );
        assert_eq!(total(&outcome), 23 * 60_000_000 + 30_000_000);
        let Outcome::Computed {
            scheduling_delay_us,
            finish_delay_us,
            ..
        } = outcome
        else {
            unreachable!()
        };
        assert_eq!(
            (scheduling_delay_us, finish_delay_us),
            (30_000_000, 30_000_000)
        );

        // The 2-minute load that waited 10 min for a slot sets the end when slow is quicker.
        let mut tries = tries;
        tries[1] = try_("slow", -1, 1, 2.5, 3.0, 10.0);
        let outcome = walk(
            at(0.0),
            at(18.0),
            &tries[..4]
                .iter()
                .cloned()
                .chain([try_("end", -1, 1, 16.5, 17.0, 17.5)])
                .collect::<Vec<_>>(),
            &g,
        );
        assert_eq!(
            steps(&outcome),
            [
                ("start", 0, 0, 30, 60),
                ("quick", 30, 0, 30, 60),
                ("load", 30, 0, 600, 120),
                ("end", 0, 0, 30, 30)
            ]
        );
        assert_eq!(total(&outcome), 18 * 60_000_000);
    }

    #[test]
    fn retries_mapped_tasks_and_skipped_branches() {
        // extract (2 tries: failed 1-3, retry queued 8) -> fan (3 mapped instances) -> join;
        // branch -> skipped (ends at 2, skipped) -> join.
        let g = graph(&[
            ("extract", &["fan"]),
            ("fan", &["join"]),
            ("branch", &["skipped", "join"]),
            ("skipped", &["join"]),
            ("join", &[]),
        ]);
        let tries = vec![
            try_("extract", -1, 1, 0.0, 1.0, 3.0),
            try_("extract", -1, 2, 8.0, 8.5, 10.0),
            try_("fan", 0, 1, 10.0, 10.5, 12.0),
            try_("fan", 1, 1, 10.0, 10.5, 15.0),
            try_("fan", 2, 1, 10.0, 11.0, 13.0),
            try_("branch", -1, 1, 0.0, 0.5, 1.0),
            try_("skipped", -1, 1, 1.0, 2.0, 2.0),
            try_("join", -1, 1, 15.5, 16.0, 17.0),
            // A placeholder try 0 and a try that never started are ignored.
            Try {
                task_id: "join".into(),
                map_index: -1,
                try_number: 0,
                ..Try::default()
            },
        ];
        let outcome = walk(at(0.0), at(17.0), &tries, &g);
        assert_eq!(
            steps(&outcome),
            [
                ("extract", 0, 480, 30, 90),
                ("fan", 0, 0, 30, 270),
                ("join", 30, 0, 30, 60)
            ]
        );
        let Outcome::Computed { steps: s, .. } = &outcome else {
            unreachable!()
        };
        assert_eq!((s[0].tries, s[1].map_count, s[1].tries), (2, 3, 1));
        assert_eq!(s[1].started_at, at(10.5));
        assert_eq!(total(&outcome), 17 * 60_000_000);
    }

    #[test]
    fn clocks_out_of_order_move_time_between_parts_never_out_of_the_total() {
        // b queued before a ended (a trigger rule such as all_done); a's queued time after its
        // start; the run started after the first task was queued.
        let g = graph(&[("a", &["b"]), ("b", &[])]);
        let tries = vec![
            try_("a", -1, 1, 1.5, 1.0, 3.0),
            try_("b", -1, 1, 2.0, 3.0, 5.0),
        ];
        let outcome = walk(at(0.5), at(5.25), &tries, &g);
        assert_eq!(total(&outcome), micros(at(0.5), at(5.25)));
        for s in match &outcome {
            Outcome::Computed { steps, .. } => steps,
            _ => unreachable!(),
        } {
            assert!(
                s.dependency_wait_us >= 0
                    && s.retry_us >= 0
                    && s.queue_wait_us >= 0
                    && s.run_us >= 0
            );
        }
    }

    #[test]
    fn runs_that_cannot_be_walked_say_why() {
        let g = graph(&[("a", &["b"]), ("b", &[])]);
        let cases = [
            (
                vec![try_("ghost", -1, 1, 0.0, 1.0, 2.0)],
                at(3.0),
                "task_not_in_graph",
                "task ghost",
            ),
            (vec![], at(3.0), "no_finished_tasks", "no task try"),
            (
                vec![try_("a", -1, 1, 0.0, 1.0, 4.0)],
                at(3.0),
                "inconsistent_times",
                "after the run did",
            ),
        ];
        for (tries, end, status, why) in cases {
            match walk(at(0.0), end, &tries, &g) {
                Outcome::NotComputed { status: s, reason } => {
                    assert_eq!(s, status);
                    assert!(reason.contains(why), "{reason}");
                }
                other => panic!("{other:?}"),
            }
        }
        let cyclic = graph(&[("a", &["b"]), ("b", &["a"])]);
        match walk(
            at(0.0),
            at(3.0),
            &[try_("a", -1, 1, 0.0, 1.0, 2.0)],
            &cyclic,
        ) {
            Outcome::NotComputed { status, reason } => {
                assert_eq!(status, "invalid_graph");
                assert!(reason.contains("cycle"), "{reason}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tasks_kept_from_before_a_clear_are_left_out() {
        // a ran before the run was cleared and restarted at 10; only b ran in this attempt.
        let g = graph(&[("a", &["b"]), ("b", &[])]);
        let tries = vec![
            try_("a", -1, 1, 0.0, 1.0, 2.0),
            try_("b", -1, 2, 10.5, 11.0, 12.0),
        ];
        let outcome = walk(at(10.0), at(12.5), &tries, &g);
        assert_eq!(steps(&outcome), [("b", 0, 0, 30, 60)]);
        assert_eq!(total(&outcome), micros(at(10.0), at(12.5)));
    }
}
