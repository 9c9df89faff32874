-- DAGs not running as scheduled at the last catalogue reading: most urgent first, with since when, why and who owns them.
SELECT airflow_instance, dag_id, status, since, detail, array_to_string(owners, ', ') AS owners,
       array_to_string(tags, ', ') AS tags, as_of
FROM ${schema:raw}.dag_schedule_status
WHERE status NOT IN ('on_schedule', 'unscheduled') AND airflow_instance IN ($instance)
  AND ${schema:raw}.dag_matches(airflow_instance, dag_id, ARRAY[$owner]::text[], ARRAY[$tag]::text[])
ORDER BY array_position(ARRAY['scheduler_down', 'blocked', 'overdue', 'import_error', 'stale', 'paused'], status),
         airflow_instance, dag_id
