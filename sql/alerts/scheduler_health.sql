-- What the scheduler_down alert judges: per Airflow instance with a catalogue, the newest
-- reading's scheduler heartbeat, how many DAGs it should be scheduling (unpaused, with a
-- schedule, importing, not stale), how many of those the view dag_schedule_status calls
-- scheduler_down (no heartbeat within 120 seconds of the reading) and how many are past due.
-- Grain: one row per airflow_instance of dag_catalog. Params: none.
SELECT s.airflow_instance,
       max(s.as_of) AS as_of,
       count(*) FILTER (WHERE s.status NOT IN ('paused', 'stale', 'import_error', 'unscheduled'))
           AS scheduled_dags,
       count(*) FILTER (WHERE s.status = 'scheduler_down') AS waiting_dags,
       count(*) FILTER (WHERE s.past_due) AS past_due_dags,
       (SELECT h.latest_heartbeat
        FROM scheduler_health_history AS h
        WHERE h.airflow_instance = s.airflow_instance AND h.job_type = 'SchedulerJob'
        ORDER BY h.read_at DESC
        LIMIT 1) AS latest_heartbeat,
       (SELECT h.hostname
        FROM scheduler_health_history AS h
        WHERE h.airflow_instance = s.airflow_instance AND h.job_type = 'SchedulerJob'
        ORDER BY h.read_at DESC
        LIMIT 1) AS hostname
FROM dag_schedule_status AS s
GROUP BY s.airflow_instance
ORDER BY s.airflow_instance
