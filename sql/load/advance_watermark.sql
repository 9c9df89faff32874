-- Advances an instance's watermark after a registered extract was loaded, in the load's
-- transaction. Each field only moves forward, so loading extracts out of order is safe.
-- Grain: one row per Airflow instance.
-- Params: $1 airflow_instance, $2 max_source_id seen by the extract (NULL: none),
-- $3 Airflow clock when the extract's changed-run scan began (NULL: it did not scan),
-- $4 the extract's source_read_at, $5 the loading invocation's run id.
INSERT INTO extract_watermark AS w (airflow_instance, max_source_id, changed_runs_scanned_at,
                                    last_source_read_at, updated_by_run_id)
VALUES ($1::text, $2::integer, $3::timestamptz, $4::timestamptz, $5::uuid)
ON CONFLICT (airflow_instance) DO UPDATE
SET max_source_id           = GREATEST(w.max_source_id, EXCLUDED.max_source_id),
    changed_runs_scanned_at = GREATEST(w.changed_runs_scanned_at, EXCLUDED.changed_runs_scanned_at),
    last_source_read_at     = GREATEST(w.last_source_read_at, EXCLUDED.last_source_read_at),
    updated_at              = now(),
    updated_by_run_id       = EXCLUDED.updated_by_run_id
