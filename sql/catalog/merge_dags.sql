-- Merges one reading of an instance's DAG catalogue into dag_catalog: a DAG read is inserted or
-- updated (and marked in_airflow), a DAG of the instance that the reading lacks is marked
-- in_airflow = false (deleted in Airflow; its row stays).
-- $2 is a JSON array of objects with the keys dag_id, is_paused, is_stale, has_import_errors,
-- owners (Airflow's comma-separated text, or an array), tags (array), schedule,
-- schedule_description, next_dagrun, next_dagrun_create_after, max_active_runs,
-- last_parsed_time, fileloc (sql/source/airflow_db/catalog_airflow2.sql and 3 make it).
-- $5 is a JSON array of the timetables read afresh (sql/source/airflow_db/timetables_airflow2.sql
-- and 3, or the REST API's DAG details): dag_id, dag_hash (what they were read from), compressed,
-- timetable (Airflow's serialized timetable or NULL), time_zone, start_date, end_date,
-- trigger_interval_seconds. The timetable facts (timetable_kind, _expression, _delta_seconds,
-- _trigger_interval_seconds, time_zone) come from the serialized timetable's class where there
-- is one, else from the schedule text (presets written out as Airflow does); a DAG not read
-- afresh keeps the facts read before (CTE facts), or, never read, gets the schedule text's
-- (time zone unknown).
-- Grain: one row per (airflow_instance, dag_id). Params: $1 airflow_instance, $2 the reading
-- (JSON text), $3 the Airflow clock at the reading, $4 the invocation's run id, $5 the
-- timetables (JSON text).
-- Returns: one row: DAGs read, new ones (and their ids), ones gone from Airflow.
WITH tt AS (
    SELECT DISTINCT ON (t.dag_id) t.*
    FROM jsonb_to_recordset($5::text::jsonb) AS t(
        dag_id text, dag_hash text, compressed boolean, timetable jsonb, time_zone text,
        start_date timestamptz, end_date timestamptz, trigger_interval_seconds double precision)
    WHERE t.dag_id IS NOT NULL
    ORDER BY t.dag_id
),
snap0 AS (
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
           d.max_active_runs, d.last_parsed_time, d.fileloc, d.max_active_runs_reached
    FROM jsonb_to_recordset($2::text::jsonb) AS d(
        dag_id text, is_paused boolean, is_stale boolean, has_import_errors boolean,
        owners jsonb, tags jsonb, schedule text, schedule_description text,
        next_dagrun timestamptz, next_dagrun_create_after timestamptz, max_active_runs integer,
        last_parsed_time timestamptz, fileloc text, max_active_runs_reached boolean)
    WHERE d.dag_id IS NOT NULL
    ORDER BY d.dag_id
),
-- The schedule text, and the serialized timetable's class where one was read.
classified AS (
    SELECT s.*,
           t.dag_id IS NOT NULL AS fresh,
           t.dag_hash AS source_key,
           t.timetable,
           t.time_zone AS dag_time_zone,
           t.start_date,
           t.end_date,
           t.trigger_interval_seconds,
           btrim(s.schedule) AS sch,
           '{"@hourly": "0 * * * *", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
             "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@quarterly": "0 0 1 */3 *",
             "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *"}'::jsonb AS presets,
           substring(t.timetable ->> '__type' FROM '[^.]*$') AS class
    FROM snap0 AS s
    LEFT JOIN tt AS t ON t.dag_id = s.dag_id
),
snap AS (
    SELECT c.*,
           CASE
               WHEN c.class IN ('CronDataIntervalTimetable', 'CronTriggerTimetable') THEN 'cron'
               WHEN c.class IN ('DeltaDataIntervalTimetable', 'DeltaTriggerTimetable')
                    AND jsonb_typeof(c.timetable -> '__var' -> 'delta') = 'number' THEN 'delta'
               WHEN c.class = 'NullTimetable' THEN 'none'
               WHEN c.class = 'OnceTimetable' THEN 'once'
               WHEN c.class = 'ContinuousTimetable' THEN 'continuous'
               WHEN c.class IN ('DatasetTriggeredTimetable', 'AssetTriggeredTimetable') THEN 'asset'
               WHEN c.class IS NOT NULL THEN 'custom'
               WHEN c.sch IS NULL OR c.sch IN ('', 'None', 'null') THEN 'none'
               WHEN c.sch = '@once' THEN 'once'
               WHEN c.sch = '@continuous' THEN 'continuous'
               WHEN c.sch IN ('Dataset', 'Asset') THEN 'asset'
               WHEN c.presets ? c.sch OR c.sch ~ '^\S+(\s+\S+){4}$' THEN 'cron'
               WHEN c.sch ~ '^\{.*"timedelta"' THEN 'delta'
               WHEN c.sch ~ '^(\d+ days?, )?\d+:\d{2}:\d{2}(\.\d+)?$' THEN 'delta'
               ELSE 'custom'
           END AS kind,
           CASE
               WHEN c.class IN ('CronDataIntervalTimetable', 'CronTriggerTimetable')
                   THEN coalesce(c.presets ->> (c.timetable -> '__var' ->> 'expression'),
                                 c.timetable -> '__var' ->> 'expression')
               WHEN c.class IS NULL AND (c.presets ? c.sch OR c.sch ~ '^\S+(\s+\S+){4}$')
                   THEN coalesce(c.presets ->> c.sch, c.sch)
           END AS expression,
           CASE
               WHEN c.class IS NOT NULL
                    AND jsonb_typeof(c.timetable -> '__var' -> 'delta') = 'number'
                   THEN (c.timetable -> '__var' ->> 'delta')::double precision
               WHEN c.class IS NULL AND c.sch ~ '^\{.*"timedelta"'
                   -- Airflow 2's {"type": "timedelta", "attrs": {"days": 1, "seconds": 0, ...}},
                   -- read by pattern so that no text can fail the merge.
                   THEN coalesce(substring(c.sch FROM '"days": *(-?[0-9]+)')::double precision, 0)
                        * 86400
                        + coalesce(substring(c.sch FROM '"seconds": *(-?[0-9]+)')::double precision, 0)
                        + coalesce(substring(c.sch FROM '"microseconds": *(-?[0-9]+)')::double precision,
                                   0) / 1e6
               WHEN c.class IS NULL AND c.sch ~ '^(\d+ days?, )?\d+:\d{2}:\d{2}(\.\d+)?$'
                   THEN extract(epoch FROM replace(c.sch, ',', '')::interval)::double precision
           END AS delta_seconds,
           CASE
               WHEN c.class IN ('CronTriggerTimetable', 'DeltaTriggerTimetable')
                    AND coalesce(jsonb_typeof(c.timetable -> '__var' -> 'interval'), 'number') = 'number'
                   THEN coalesce((c.timetable -> '__var' ->> 'interval')::double precision, 0)
               WHEN c.class IS NULL THEN c.trigger_interval_seconds
           END AS trigger_seconds,
           CASE WHEN c.fresh
                THEN coalesce(c.timetable -> '__var' ->> 'timezone', c.dag_time_zone, 'UTC')
           END AS zone
    FROM classified AS c
),
-- The timetable facts kept: read afresh (a source key) or never read, this reading's; else
-- the ones read before (a serialized DAG unchanged since).
facts AS (
    SELECT s.dag_id, f.*
    FROM snap AS s
    LEFT JOIN dag_catalog AS old ON old.airflow_instance = $1::text AND old.dag_id = s.dag_id
    CROSS JOIN LATERAL (
        SELECT s.kind, s.expression, s.delta_seconds, s.trigger_seconds, s.zone, s.start_date,
               s.end_date, s.source_key
        WHERE s.fresh OR old.timetable_source_key IS NULL
        UNION ALL
        SELECT old.timetable_kind, old.timetable_expression, old.timetable_delta_seconds,
               old.timetable_trigger_interval_seconds, old.time_zone, old.start_date,
               old.end_date, old.timetable_source_key
        WHERE NOT (s.fresh OR old.timetable_source_key IS NULL)
    ) AS f(kind, expression, delta_seconds, trigger_seconds, zone, start_date, end_date,
           source_key)
),
upserted AS (
    INSERT INTO dag_catalog AS c (
        airflow_instance, dag_id, is_paused, is_stale, has_import_errors, owners, tags, schedule,
        schedule_description, next_dagrun, next_dagrun_create_after, max_active_runs,
        last_parsed_time, fileloc, in_airflow, first_seen_at, last_seen_at, read_at,
        loaded_by_run_id, timetable_kind, timetable_expression, timetable_delta_seconds,
        timetable_trigger_interval_seconds, time_zone, start_date, end_date, timetable_source_key,
        max_active_runs_reached)
    SELECT $1::text, s.dag_id, s.is_paused, s.is_stale, s.has_import_errors, s.owners, s.tags,
           s.schedule, s.schedule_description, s.next_dagrun, s.next_dagrun_create_after,
           s.max_active_runs, s.last_parsed_time, s.fileloc, true, $3::timestamptz,
           $3::timestamptz, $3::timestamptz, $4::uuid, f.kind, f.expression, f.delta_seconds,
           f.trigger_seconds, f.zone, f.start_date, f.end_date, f.source_key,
           s.max_active_runs_reached
    FROM snap AS s
    JOIN facts AS f ON f.dag_id = s.dag_id
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
        max_active_runs_reached  = EXCLUDED.max_active_runs_reached,
        last_parsed_time         = EXCLUDED.last_parsed_time,
        fileloc                  = EXCLUDED.fileloc,
        in_airflow               = true,
        last_seen_at             = EXCLUDED.last_seen_at,
        read_at                  = EXCLUDED.read_at,
        loaded_by_run_id         = EXCLUDED.loaded_by_run_id,
        timetable_kind           = EXCLUDED.timetable_kind,
        timetable_expression     = EXCLUDED.timetable_expression,
        timetable_delta_seconds  = EXCLUDED.timetable_delta_seconds,
        timetable_trigger_interval_seconds = EXCLUDED.timetable_trigger_interval_seconds,
        time_zone                = EXCLUDED.time_zone,
        start_date               = EXCLUDED.start_date,
        end_date                 = EXCLUDED.end_date,
        timetable_source_key     = EXCLUDED.timetable_source_key
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
