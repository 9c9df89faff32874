-- The watermark of one Airflow instance (warehouse side), and whether it lies in the future
-- (more than an hour ahead of this clock: recorded by a wrong Airflow clock before pipewatch
-- checked it; the extract then reads every run to repair what it hid).
-- Grain: zero or one row. Params: $1 airflow_instance.
SELECT max_source_id, changed_runs_scanned_at,
       greatest(changed_runs_scanned_at, last_source_read_at) > now() + interval '1 hour'
           AS in_future
FROM extract_watermark
WHERE airflow_instance = $1::text
