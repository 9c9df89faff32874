-- The DAG catalogue of an Airflow 3 metadata database in one reading: every row of dag with its
-- tags, the current import errors, the newest heartbeat of the scheduler, DAG processor and
-- triggerer jobs, as three JSON arrays in the shape sql/catalog/merge_dags.sql,
-- merge_import_errors.sql and record_health.sql read (the pools: sql/source/airflow_db/pools.sql).
-- One meaning for both Airflow versions: here
-- is_stale as Airflow 3 has it, and the schedule is timetable_summary.
-- Owners stay Airflow's comma-separated text (one JSON string; split where they are merged).
-- Stack traces are cut to $1 characters; their length, md5 and first and last lines (each
-- at most 1,000 characters) are of the whole text.
-- Grain: one row. Params: $1 integer: the longest stack trace kept, in characters.
-- Runs against the Airflow metadata database (read-only session).
SELECT now() AS source_now,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'dag_id', d.dag_id,
                   'is_paused', d.is_paused,
                   'is_stale', d.is_stale,
                   'has_import_errors', coalesce(d.has_import_errors, false),
                   'owners', d.owners,
                   'tags', (SELECT coalesce(jsonb_agg(t.name ORDER BY t.name), '[]'::jsonb)
                            FROM dag_tag AS t WHERE t.dag_id = d.dag_id),
                   'schedule', d.timetable_summary,
                   'schedule_description', d.timetable_description,
                   'next_dagrun', d.next_dagrun,
                   'next_dagrun_create_after', d.next_dagrun_create_after,
                   'max_active_runs', d.max_active_runs,
                   'max_active_runs_reached', d.exceeds_max_non_backfill,
                   'last_parsed_time', d.last_parsed_time,
                   'fileloc', d.fileloc)), '[]'::jsonb)::text
        FROM dag AS d) AS dags,
       (SELECT coalesce(jsonb_agg(jsonb_build_object(
                   'bundle_name', e.bundle_name,
                   'filename', e.filename,
                   'timestamp', e."timestamp",
                   'stacktrace', left(e.stacktrace, $1::integer),
                   'first_line', left(split_part(ltrim(e.stacktrace, E' \n'), E'\n', 1), 1000),
                   'last_line', left(reverse(split_part(reverse(rtrim(e.stacktrace, E' \n')),
                                                        E'\n', 1)), 1000),
                   'stacktrace_chars', length(e.stacktrace),
                   'stacktrace_md5', md5(coalesce(e.stacktrace, '')),
                   'dag_ids', (SELECT coalesce(jsonb_agg(d.dag_id ORDER BY d.dag_id), '[]'::jsonb)
                               FROM dag AS d WHERE d.bundle_name = e.bundle_name AND d.relative_fileloc = e.filename))), '[]'::jsonb)::text
        FROM import_error AS e) AS import_errors,
       (SELECT jsonb_agg(jsonb_build_object(
                   'job_type', t.job_type,
                   'running_jobs', (SELECT count(*) FROM job AS r
                                    WHERE r.job_type = t.job_type AND r.state = 'running'),
                   'latest_heartbeat', j.latest_heartbeat,
                   'hostname', j.hostname))::text
        FROM (VALUES ('SchedulerJob'), ('DagProcessorJob'), ('TriggererJob')) AS t(job_type)
        LEFT JOIN LATERAL (
            -- The newest heartbeat of the type, by Airflow's index job_type_heart.
            SELECT x.latest_heartbeat, x.hostname
            FROM job AS x
            WHERE x.job_type = t.job_type AND x.latest_heartbeat IS NOT NULL
            ORDER BY x.latest_heartbeat DESC
            LIMIT 1
        ) AS j ON true) AS jobs
