-- Airflow 2's SLA misses (sla_miss) of the last $1 days, as one JSON array in the shape
-- sql/catalog/merge_deadlines.sql reads: one object per miss, keyed by task, DAG and logical
-- date. Airflow records only misses; a row is never a deadline met.
-- Grain: one row. Params: $1 integer: days back, by the miss's logical date.
-- Runs against the Airflow metadata database (read-only session), after the catalogue reading.
SELECT coalesce(jsonb_agg(jsonb_build_object(
           'kind', 'sla_miss',
           'source_key', s.dag_id || '|' || s.task_id || '|'
                         || to_char(s.execution_date AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'dag_id', s.dag_id,
           'task_id', s.task_id,
           'run_id', NULL,
           'logical_date', s.execution_date,
           'deadline_time', NULL,
           'missed', true,
           'recorded_at', s."timestamp",
           'alert_name', NULL,
           'description', left(s.description, 10000))), '[]'::jsonb)::text AS deadlines
FROM sla_miss AS s
WHERE s.execution_date >= now() - make_interval(days => $1::integer)
