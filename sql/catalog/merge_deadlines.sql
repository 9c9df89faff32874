-- Merges one reading of Airflow's deadlines into deadline_history: Airflow 2's SLA misses and
-- Airflow 3's deadlines (sql/source/airflow_db/deadlines_airflow2.sql, deadlines_airflow3.sql).
-- A row is kept after Airflow deletes it; an Airflow 3 deadline not missed at the last reading
-- that the reading no longer holds, while its time is inside the window read, was met (Airflow
-- deletes met deadlines): met_at is set.
-- Grain: one row per (airflow_instance, kind, source_key). Params: $1 airflow_instance, $2 the
-- reading (JSON text), $3 the Airflow clock at the reading, $4 the invocation's run id, $5 the
-- window's days.
-- Returns: read (rows in the reading), new, met (deadlines found met now).
WITH reading AS (
    SELECT d.*
    FROM jsonb_to_recordset(coalesce($2::text, '[]')::jsonb) AS d(
        kind text, source_key text, dag_id text, task_id text, run_id text,
        logical_date timestamptz, deadline_time timestamptz, missed boolean,
        recorded_at timestamptz, alert_name text, description text)
    WHERE d.kind IS NOT NULL AND d.source_key IS NOT NULL
),
merged AS (
    INSERT INTO deadline_history AS h (airflow_instance, kind, source_key, dag_id, task_id,
                                       run_id, logical_date, deadline_time, missed, recorded_at,
                                       alert_name, description, first_seen_at, last_seen_at,
                                       loaded_by_run_id)
    SELECT $1::text, r.kind, r.source_key, r.dag_id, r.task_id, r.run_id, r.logical_date,
           r.deadline_time, r.missed, r.recorded_at, r.alert_name, r.description,
           $3::timestamptz, $3::timestamptz, $4::uuid
    FROM reading AS r
    ON CONFLICT (airflow_instance, kind, source_key) DO UPDATE
    SET missed = excluded.missed,
        recorded_at = excluded.recorded_at,
        run_id = coalesce(excluded.run_id, h.run_id),
        alert_name = excluded.alert_name,
        description = excluded.description,
        last_seen_at = excluded.last_seen_at,
        met_at = NULL,
        loaded_by_run_id = excluded.loaded_by_run_id
    RETURNING (xmax = 0) AS inserted
),
met AS (
    UPDATE deadline_history AS h
    SET met_at = $3::timestamptz, loaded_by_run_id = $4::uuid
    WHERE h.airflow_instance = $1::text AND h.kind = 'deadline' AND NOT h.missed
      AND h.met_at IS NULL
      AND h.deadline_time >= $3::timestamptz - make_interval(days => $5::integer)
      AND NOT EXISTS (SELECT 1 FROM reading AS r
                      WHERE r.kind = h.kind AND r.source_key = h.source_key)
    RETURNING 1
)
SELECT (SELECT count(*) FROM reading)                       AS read,
       (SELECT count(*) FROM merged WHERE inserted)         AS new,
       (SELECT count(*) FROM met)                           AS met
