-- Before the upsert: queues the current day of every run whose day the batch moves (its logical
-- date or run_after changes), so the day it leaves is recomputed too. Runs that keep their day
-- are queued by the upsert itself.
-- Grain: one row per (airflow_instance, day) queued. Params: $1 reporting time zone.
INSERT INTO dag_run_pending_day (airflow_instance, day)
SELECT DISTINCT h.airflow_instance,
       (coalesce(h.execution_date, h.run_after) AT TIME ZONE $1::text)::date
FROM dag_run_extract_batch AS b
JOIN dag_run_history AS h USING (airflow_instance, dag_id, run_id)
WHERE (b.source_read_at >= h.source_read_at OR h.source_read_at > now() + interval '1 hour')
  AND coalesce(h.execution_date, h.run_after) IS NOT NULL
  AND coalesce(h.execution_date, h.run_after)
      IS DISTINCT FROM coalesce(b.execution_date, b.run_after)
ON CONFLICT DO NOTHING
