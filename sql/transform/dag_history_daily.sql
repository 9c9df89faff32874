-- Model dag_history_daily: the book's table, with its columns and their meaning, per instance.
-- Grain: one row per (airflow_instance, day, dag_id, state) with at least one run.
-- Params: $1 text[] instances and $2 date[] days to recompute, $3 reporting time zone, $4 the
-- computing invocation's run id. Runtimes are summed as whole microseconds (bigint, exact), so
-- the total does not depend on the order rows are read in.
INSERT INTO dag_history_daily (airflow_instance, execution_date, dag_id, dag_state,
                               runtime_seconds, dag_run_count, runtime_run_count,
                               computed_by_run_id)
SELECT r.airflow_instance,
       r.day,
       r.dag_id,
       r.state,
       round(sum(round(r.runtime_seconds * 1000000)::bigint) / 1000000.0, 4),
       count(*),
       count(r.runtime_seconds),
       $4::uuid
FROM dag_runs_on_days($1::text[], $2::date[], $3::text) AS r
GROUP BY r.airflow_instance, r.day, r.dag_id, r.state
