-- For a full refresh: every DAG run that has a day, with its day and its figures, in one pass
-- over dag_run_history (and one over task_run_history for the first task's start), instead of
-- each model joining all of history to the list of every day. The meaning is exactly that of
-- dag_runs_on_days and dag_run_delays_on_days (sql/transform/day_functions.sql): the day is the
-- date of the logical date (run_after when NULL) in the reporting time zone; runtime is
-- end_date - start_date of a finished run; the delays are those of the view dag_run_delay. The
-- test incremental_recompute_after_new_runs_equals_a_full_refresh holds the two to each other.
-- Grain: one row per DAG run with a logical date or run_after. Params: $1 reporting time zone.
-- Returns: nothing (fills refresh_run).
INSERT INTO refresh_run (airflow_instance, day, dag_id, state, runtime_seconds, queue_seconds,
                         schedule_delay_seconds, landing_seconds,
                         first_task_start_delay_seconds)
WITH first_task AS (
    SELECT t.airflow_instance, t.dag_id, t.run_id, min(t.start_date) AS start_date
    FROM task_run_history AS t
    JOIN dag_run_history AS r
      ON r.airflow_instance = t.airflow_instance AND r.dag_id = t.dag_id AND r.run_id = t.run_id
    WHERE t.start_date >= r.start_date
    GROUP BY t.airflow_instance, t.dag_id, t.run_id
)
SELECT h.airflow_instance,
       (coalesce(h.execution_date, h.run_after) AT TIME ZONE $1::text)::date,
       h.dag_id,
       h.state,
       CASE WHEN h.state IN ('success', 'failed')
            THEN extract(epoch FROM h.end_date - h.start_date)::double precision END,
       extract(epoch FROM h.start_date - h.queued_at)::double precision,
       CASE WHEN h.run_type = 'scheduled'
            THEN extract(epoch FROM h.start_date - h.data_interval_end)::double precision END,
       CASE WHEN h.run_type = 'scheduled' AND h.state IN ('success', 'failed')
            THEN extract(epoch FROM h.end_date - h.data_interval_end)::double precision END,
       extract(epoch FROM f.start_date - h.start_date)::double precision
FROM dag_run_history AS h
LEFT JOIN first_task AS f
  ON f.airflow_instance = h.airflow_instance AND f.dag_id = h.dag_id AND f.run_id = h.run_id
WHERE coalesce(h.execution_date, h.run_after) IS NOT NULL
