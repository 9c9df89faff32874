-- What the scheduler_down alert reads beside the DAGs' statuses (which it counts from
-- dag_schedule_status, read once per evaluation for every catalogue rule): each instance's
-- newest reading of its scheduler's heartbeat and host.
-- Grain: one row per airflow_instance of scheduler_health_history. Params: none.
SELECT DISTINCT ON (airflow_instance)
       airflow_instance, latest_heartbeat, hostname
FROM scheduler_health_history
WHERE job_type = 'SchedulerJob'
ORDER BY airflow_instance, read_at DESC
