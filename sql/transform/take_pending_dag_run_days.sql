-- Takes the queued DAG-run days: deleted in the transform's transaction, so they return to the
-- queue if it fails. A load queueing one of these days meanwhile waits for the transform, then
-- queues it again for the next one.
-- Grain: one row per (airflow_instance, day). Params: none.
DELETE FROM dag_run_pending_day RETURNING airflow_instance, day
