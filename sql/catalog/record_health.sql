-- Records one reading of Airflow's long-running jobs into scheduler_health_history.
-- $2 is a JSON array of objects with the keys job_type, running_jobs, latest_heartbeat,
-- hostname (sql/source/airflow_db/catalog_airflow2.sql and 3 make it).
-- Grain: one row per (airflow_instance, read_at, job_type). Params: $1 airflow_instance, $2 the
-- reading (JSON text), $3 the Airflow clock at the reading, $4 the invocation's run id.
INSERT INTO scheduler_health_history (airflow_instance, read_at, job_type, running_jobs,
                                      latest_heartbeat, hostname, loaded_by_run_id)
SELECT $1::text, $3::timestamptz, j.job_type, coalesce(j.running_jobs, 0), j.latest_heartbeat,
       j.hostname, $4::uuid
FROM jsonb_to_recordset(coalesce($2::text, '[]')::jsonb) AS j(
    job_type text, running_jobs integer, latest_heartbeat timestamptz, hostname text)
WHERE j.job_type IS NOT NULL
ON CONFLICT (airflow_instance, read_at, job_type) DO NOTHING
