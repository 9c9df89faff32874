-- Records a staged extract object (and its task-instance object, if any), after both are
-- durable in the stage.
-- Grain: one row per staged extract.
-- Params: $1 object_key, $2 airflow_instance, $3 airflow_major_version, $4 extract_mode,
-- $5 extracted_by_run_id, $6 source_read_at, $7 row_count, $8 byte_count, $9 max_source_id,
-- $10 changed_runs_since, $11 task_object_key, $12 task_row_count, $13 task_byte_count (the
-- last three NULL when task instances were not extracted).
INSERT INTO staged_extract (object_key, airflow_instance, airflow_major_version, extract_mode,
                            extracted_by_run_id, source_read_at, row_count, byte_count,
                            max_source_id, changed_runs_since, task_object_key, task_row_count,
                            task_byte_count)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
