-- Merges one reading of an instance's DAG catalogue into dag_catalog: a DAG read is inserted or
-- updated (and marked in_airflow), a DAG of the instance that the reading lacks is marked
-- in_airflow = false (deleted in Airflow; its row stays).
-- $2 is a JSON array of objects with the keys dag_id, is_paused, is_stale, has_import_errors,
-- owners (Airflow's comma-separated text, or an array), tags (array), schedule,
-- schedule_description, next_dagrun, next_dagrun_create_after, max_active_runs,
-- last_parsed_time, fileloc (sql/source/airflow_db/catalog_airflow2.sql and 3 make it).
-- Grain: one row per (airflow_instance, dag_id). Params: $1 airflow_instance, $2 the reading
-- (JSON text), $3 the Airflow clock at the reading, $4 the invocation's run id.
-- Returns: one row: DAGs read, new ones (and their ids), ones gone from Airflow.
WITH snap AS (
    SELECT DISTINCT ON (d.dag_id)
           d.dag_id, d.is_paused, d.is_stale, d.has_import_errors,
           array(SELECT btrim(o)
                 FROM unnest(CASE jsonb_typeof(d.owners)
                                 WHEN 'array' THEN array(SELECT jsonb_array_elements_text(d.owners))
                                 WHEN 'string' THEN string_to_array(d.owners #>> '{}', ',')
                                 ELSE '{}'::text[] END) AS o
                 WHERE btrim(o) <> '') AS owners,
           array(SELECT t FROM jsonb_array_elements_text(coalesce(d.tags, '[]'::jsonb)) AS t
                 ORDER BY t) AS tags,
           d.schedule, d.schedule_description, d.next_dagrun, d.next_dagrun_create_after,
           d.max_active_runs, d.last_parsed_time, d.fileloc
    FROM jsonb_to_recordset($2::text::jsonb) AS d(
        dag_id text, is_paused boolean, is_stale boolean, has_import_errors boolean,
        owners jsonb, tags jsonb, schedule text, schedule_description text,
        next_dagrun timestamptz, next_dagrun_create_after timestamptz, max_active_runs integer,
        last_parsed_time timestamptz, fileloc text)
    WHERE d.dag_id IS NOT NULL
    ORDER BY d.dag_id
),
upserted AS (
    INSERT INTO dag_catalog AS c (
        airflow_instance, dag_id, is_paused, is_stale, has_import_errors, owners, tags, schedule,
        schedule_description, next_dagrun, next_dagrun_create_after, max_active_runs,
        last_parsed_time, fileloc, in_airflow, first_seen_at, last_seen_at, read_at,
        loaded_by_run_id)
    SELECT $1::text, s.dag_id, s.is_paused, s.is_stale, s.has_import_errors, s.owners, s.tags,
           s.schedule, s.schedule_description, s.next_dagrun, s.next_dagrun_create_after,
           s.max_active_runs, s.last_parsed_time, s.fileloc, true, $3::timestamptz,
           $3::timestamptz, $3::timestamptz, $4::uuid
    FROM snap AS s
    ON CONFLICT (airflow_instance, dag_id) DO UPDATE
    SET is_paused                = EXCLUDED.is_paused,
        is_stale                 = EXCLUDED.is_stale,
        has_import_errors        = EXCLUDED.has_import_errors,
        owners                   = EXCLUDED.owners,
        tags                     = EXCLUDED.tags,
        schedule                 = EXCLUDED.schedule,
        schedule_description     = EXCLUDED.schedule_description,
        next_dagrun              = EXCLUDED.next_dagrun,
        next_dagrun_create_after = EXCLUDED.next_dagrun_create_after,
        max_active_runs          = EXCLUDED.max_active_runs,
        last_parsed_time         = EXCLUDED.last_parsed_time,
        fileloc                  = EXCLUDED.fileloc,
        in_airflow               = true,
        last_seen_at             = EXCLUDED.last_seen_at,
        read_at                  = EXCLUDED.read_at,
        loaded_by_run_id         = EXCLUDED.loaded_by_run_id
    RETURNING c.dag_id, (xmax = 0) AS inserted
),
gone AS (
    UPDATE dag_catalog AS c
    SET in_airflow = false, read_at = $3::timestamptz, loaded_by_run_id = $4::uuid
    WHERE c.airflow_instance = $1::text
      AND c.in_airflow
      AND NOT EXISTS (SELECT 1 FROM snap AS s WHERE s.dag_id = c.dag_id)
    RETURNING 1
)
SELECT (SELECT count(*) FROM upserted)                AS dags_read,
       (SELECT count(*) FROM upserted WHERE inserted) AS new_dags,
       (SELECT count(*) FROM gone)                    AS gone_dags,
       (SELECT coalesce(array_agg(dag_id::text), '{}') FROM upserted WHERE inserted)
                                                      AS new_dag_ids
