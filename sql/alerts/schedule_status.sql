-- What the catalogue's DAG alerts (overdue, blocked, paused) judge: every DAG Airflow has at the
-- last catalogue reading of its instance, as view dag_schedule_status says it (migrations 0014,
-- 0015), and for a paused DAG when its newest scheduled run started.
-- Grain: one row per (airflow_instance, dag_id) of dag_schedule_status. Params: none.
SELECT s.airflow_instance,
       s.dag_id::text AS dag_id,
       s.status,
       s.since,
       s.owners::text[] AS owners,
       s.as_of,
       s.next_run_due_at,
       s.grace_seconds,
       coalesce(s.past_due, false) AS past_due,
       s.blocking_run_id::text AS blocking_run_id,
       s.blocking_since,
       last_scheduled.started_at AS last_scheduled_run_at
FROM dag_schedule_status AS s
LEFT JOIN LATERAL (
    SELECT max(coalesce(r.start_date, r.queued_at)) AS started_at
    FROM dag_run_history AS r
    WHERE s.status = 'paused'
      AND r.airflow_instance = s.airflow_instance AND r.dag_id = s.dag_id
      AND r.run_type = 'scheduled'
) AS last_scheduled ON true
ORDER BY s.airflow_instance, s.dag_id
