-- Migration 0004: what pipewatch needs to extract incrementally: the staged extracts and each
-- Airflow instance's watermark.
-- Grain: staged_extract: one row per staged extract object; extract_watermark: one row per
-- Airflow instance.
-- Params: none. Applied with search_path set to pipewatch's schema.

CREATE TABLE staged_extract (
    object_key           text        NOT NULL,
    airflow_instance     text        NOT NULL,
    airflow_major_version smallint   NOT NULL,
    extract_mode         varchar(20) NOT NULL,
    extracted_by_run_id  uuid        NOT NULL,
    extracted_at         timestamptz NOT NULL DEFAULT now(),
    source_read_at       timestamptz NOT NULL,
    row_count            bigint      NOT NULL,
    byte_count           bigint      NOT NULL,
    max_source_id        integer,
    changed_runs_since   timestamptz,
    loaded_at            timestamptz,
    loaded_by_run_id     uuid,
    rows_loaded          bigint,
    CONSTRAINT staged_extract_pkey PRIMARY KEY (object_key),
    CONSTRAINT staged_extract_mode_check CHECK (extract_mode IN ('incremental', 'full', 'window'))
);

CREATE INDEX staged_extract_pending_idx ON staged_extract (airflow_instance, extracted_at)
    WHERE loaded_at IS NULL;

COMMENT ON TABLE staged_extract IS
    'Every extract pipewatch staged (a CSV object in the stage), what it holds, and whether it was loaded. pipewatch load loads the pending ones in order; retention never deletes a pending one.';
COMMENT ON COLUMN staged_extract.object_key IS 'Key of the CSV object in the stage (relative to the S3 prefix or the local folder).';
COMMENT ON COLUMN staged_extract.airflow_instance IS 'The Airflow instance the extract was read from.';
COMMENT ON COLUMN staged_extract.airflow_major_version IS 'Major version of the Airflow schema read: 2 or 3.';
COMMENT ON COLUMN staged_extract.extract_mode IS
    'incremental (new, in-flight and changed runs since the watermark), full (every run) or window (every run of a backfill window).';
COMMENT ON COLUMN staged_extract.extracted_by_run_id IS 'Run id of the pipewatch invocation that extracted it.';
COMMENT ON COLUMN staged_extract.extracted_at IS 'When the extract was staged (UTC).';
COMMENT ON COLUMN staged_extract.source_read_at IS 'The Airflow database''s clock when the extract read it: the extract is a consistent snapshot as of then.';
COMMENT ON COLUMN staged_extract.row_count IS 'DAG runs in the object (data rows, header excluded).';
COMMENT ON COLUMN staged_extract.byte_count IS 'Size of the object in bytes.';
COMMENT ON COLUMN staged_extract.max_source_id IS 'Highest Airflow dag_run.id the extract saw in the source; NULL when the source had no runs.';
COMMENT ON COLUMN staged_extract.changed_runs_since IS
    'When the extract also read every run Airflow changed (updated_at) since this time, that time; NULL when it did not scan for changed runs. A full extract reads everything and records -infinity.';
COMMENT ON COLUMN staged_extract.loaded_at IS 'When the object was loaded into dag_run_history (UTC); NULL while pending.';
COMMENT ON COLUMN staged_extract.loaded_by_run_id IS 'Run id of the invocation that loaded it; NULL while pending.';
COMMENT ON COLUMN staged_extract.rows_loaded IS 'Rows of dag_run_history the load inserted or changed; NULL while pending.';

CREATE TABLE extract_watermark (
    airflow_instance            text        NOT NULL,
    max_source_id               integer,
    changed_runs_scanned_at     timestamptz,
    last_source_read_at         timestamptz,
    updated_at                  timestamptz NOT NULL DEFAULT now(),
    updated_by_run_id           uuid        NOT NULL,
    CONSTRAINT extract_watermark_pkey PRIMARY KEY (airflow_instance)
);

COMMENT ON TABLE extract_watermark IS
    'How far each Airflow instance has been loaded, advanced only by loads (in the load''s transaction): the next incremental extract starts from here. See docs/extract-watermark.md.';
COMMENT ON COLUMN extract_watermark.airflow_instance IS 'The Airflow instance.';
COMMENT ON COLUMN extract_watermark.max_source_id IS 'Highest Airflow dag_run.id loaded. New runs are read from a little below it (recheck_last_ids), to catch rows that committed out of id order.';
COMMENT ON COLUMN extract_watermark.changed_runs_scanned_at IS
    'The Airflow clock at the start of the last loaded scan for changed runs (updated_at): runs changed after it minus the overlap are read by the next scan.';
COMMENT ON COLUMN extract_watermark.last_source_read_at IS 'The Airflow clock of the newest extract loaded.';
COMMENT ON COLUMN extract_watermark.updated_at IS 'When this row last changed (UTC).';
COMMENT ON COLUMN extract_watermark.updated_by_run_id IS 'Run id of the invocation whose load last advanced the watermark.';

-- Unfinished runs are re-read by id on every extract until they finish.
CREATE INDEX dag_run_history_unfinished_idx ON dag_run_history (airflow_instance, id)
    WHERE state IS NULL OR state NOT IN ('success', 'failed');
