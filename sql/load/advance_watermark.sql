-- Advances an instance's watermark after a registered extract was loaded, in the load's
-- transaction. Each field only moves forward, so loading extracts out of order is safe, and
-- never past this clock: an Airflow clock a little ahead is cut to now(), and a stored value
-- more than an hour ahead (recorded by a wrong clock before pipewatch checked it,
-- docs/extract-watermark.md) counts as unset, so the next load repairs it.
-- Grain: one row per Airflow instance.
-- Params: $1 airflow_instance, $2 max_source_id seen by the extract (NULL: none),
-- $3 Airflow clock when the extract's changed-run scan began (NULL: it did not scan),
-- $4 the extract's source_read_at, $5 the loading invocation's run id.
INSERT INTO extract_watermark AS w (airflow_instance, max_source_id, changed_runs_scanned_at,
                                    last_source_read_at, updated_by_run_id)
-- Cut to now() here (a NULL stays NULL: CASE, not LEAST, which would make it now()).
VALUES ($1::text, $2::integer,
        CASE WHEN $3::timestamptz > now() THEN now() ELSE $3::timestamptz END,
        CASE WHEN $4::timestamptz > now() THEN now() ELSE $4::timestamptz END,
        $5::uuid)
ON CONFLICT (airflow_instance) DO UPDATE
SET max_source_id           = GREATEST(w.max_source_id, EXCLUDED.max_source_id),
    changed_runs_scanned_at = GREATEST(
        CASE WHEN w.changed_runs_scanned_at <= now() + interval '1 hour'
             THEN w.changed_runs_scanned_at END,
        EXCLUDED.changed_runs_scanned_at),
    last_source_read_at     = GREATEST(
        CASE WHEN w.last_source_read_at <= now() + interval '1 hour'
             THEN w.last_source_read_at END,
        EXCLUDED.last_source_read_at),
    updated_at              = now(),
    updated_by_run_id       = EXCLUDED.updated_by_run_id
