-- Merges one reading of an instance's import errors into import_error_history, by episode: a
-- file still failing refreshes its open episode (last seen, latest trace, DAGs); a file failing
-- that has no open episode opens one; an open episode whose file no longer fails is resolved at
-- the reading's time.
-- $2 is a JSON array of objects with the keys bundle_name, filename, timestamp, stacktrace
-- (already cut to its first characters), first_line and last_line (of the whole trace),
-- stacktrace_chars, stacktrace_md5, dag_ids.
-- Grain: one row per (airflow_instance, bundle_name, filename, episode). Params: $1
-- airflow_instance, $2 the reading (JSON text), $3 the Airflow clock at the reading, $4 the
-- invocation's run id.
-- Returns: one row: current errors, episodes opened, episodes resolved.
WITH snap AS (
    SELECT DISTINCT ON (coalesce(e.bundle_name, ''), coalesce(e.filename, ''))
           coalesce(e.bundle_name, '') AS bundle_name,
           coalesce(e.filename, '')    AS filename,
           e."timestamp"               AS error_timestamp,
           e.stacktrace, e.stacktrace_chars, e.stacktrace_md5,
           e.first_line, e.last_line,
           array(SELECT jsonb_array_elements_text(coalesce(e.dag_ids, '[]'::jsonb))) AS dag_ids
    FROM jsonb_to_recordset($2::text::jsonb) AS e(
        bundle_name text, filename text, "timestamp" timestamptz, stacktrace text,
        first_line text, last_line text, stacktrace_chars integer, stacktrace_md5 text,
        dag_ids jsonb)
    ORDER BY coalesce(e.bundle_name, ''), coalesce(e.filename, ''), e."timestamp" DESC NULLS LAST
),
refreshed AS (
    UPDATE import_error_history AS h
    SET last_seen_at = $3::timestamptz, error_timestamp = s.error_timestamp,
        first_line = s.first_line, last_line = s.last_line, stacktrace = s.stacktrace,
        stacktrace_chars = s.stacktrace_chars, stacktrace_md5 = s.stacktrace_md5,
        dag_ids = s.dag_ids, loaded_by_run_id = $4::uuid
    FROM snap AS s
    WHERE h.airflow_instance = $1::text AND h.resolved_at IS NULL
      AND h.bundle_name = s.bundle_name AND h.filename = s.filename
    RETURNING 1
),
opened AS (
    INSERT INTO import_error_history (
        airflow_instance, bundle_name, filename, first_seen_at, last_seen_at, error_timestamp,
        first_line, last_line, stacktrace, stacktrace_chars, stacktrace_md5, dag_ids,
        loaded_by_run_id)
    SELECT $1::text, s.bundle_name, s.filename,
           least(coalesce(s.error_timestamp, $3::timestamptz), $3::timestamptz),
           $3::timestamptz, s.error_timestamp, s.first_line, s.last_line, s.stacktrace,
           s.stacktrace_chars, s.stacktrace_md5, s.dag_ids, $4::uuid
    FROM snap AS s
    WHERE NOT EXISTS (SELECT 1 FROM import_error_history AS h
                      WHERE h.airflow_instance = $1::text AND h.resolved_at IS NULL
                        AND h.bundle_name = s.bundle_name AND h.filename = s.filename)
    RETURNING 1
),
resolved AS (
    UPDATE import_error_history AS h
    SET resolved_at = $3::timestamptz, loaded_by_run_id = $4::uuid
    WHERE h.airflow_instance = $1::text AND h.resolved_at IS NULL
      AND NOT EXISTS (SELECT 1 FROM snap AS s
                      WHERE s.bundle_name = h.bundle_name AND s.filename = h.filename)
    RETURNING 1
)
SELECT (SELECT count(*) FROM snap)     AS current_errors,
       (SELECT count(*) FROM opened)   AS opened,
       (SELECT count(*) FROM resolved) AS resolved,
       (SELECT count(*) FROM refreshed) AS refreshed
