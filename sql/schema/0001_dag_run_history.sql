-- Migration 0001: dag_run_history, Airflow's DAG runs as copied into the warehouse.
-- Grain: one row per (airflow_instance, dag_id, run_id): the latest state pipewatch has read of
-- that run. A run that is cleared and re-run in Airflow keeps its row, which is updated.
-- Params: none. Applied with search_path set to pipewatch's schema.
-- The book's columns (id, dag_id, execution_date, state, run_id, external_trigger, end_date,
-- start_date) keep their names and meaning; pipewatch adds the rest.

CREATE TABLE dag_run_history (
    id                  integer,
    dag_id              varchar(250) NOT NULL,
    execution_date      timestamptz,
    state               varchar(250),
    run_id              varchar(250) NOT NULL,
    external_trigger    boolean,
    end_date            timestamptz,
    start_date          timestamptz,
    airflow_instance    text         NOT NULL,
    run_type            varchar(50),
    run_after           timestamptz,
    queued_at           timestamptz,
    data_interval_start timestamptz,
    data_interval_end   timestamptz,
    clear_number        integer,
    source_updated_at   timestamptz,
    source_read_at      timestamptz  NOT NULL,
    airflow_major_version smallint   NOT NULL,
    first_loaded_at     timestamptz  NOT NULL DEFAULT now(),
    loaded_at           timestamptz  NOT NULL DEFAULT now(),
    -- The loader sets pipewatch.run_id for its transaction, so a bulk COPY fills this column;
    -- a session that has not set it cannot insert (NULL violates NOT NULL).
    loaded_by_run_id    uuid         NOT NULL DEFAULT (nullif(current_setting('pipewatch.run_id', true), ''))::uuid,
    CONSTRAINT dag_run_history_pkey PRIMARY KEY (airflow_instance, dag_id, run_id),
    CONSTRAINT dag_run_history_airflow_major_version_check CHECK (airflow_major_version IN (2, 3))
);

COMMENT ON TABLE dag_run_history IS
    'Airflow DAG runs copied from each Airflow metadata database (table dag_run). One row per (airflow_instance, dag_id, run_id), holding the latest state pipewatch has read; re-loads update rows, never duplicate them. All timestamps are UTC instants (timestamptz).';
COMMENT ON COLUMN dag_run_history.id IS
    'Airflow''s own dag_run.id (a serial within one Airflow installation). Not unique across installations; the key is (airflow_instance, dag_id, run_id).';
COMMENT ON COLUMN dag_run_history.dag_id IS 'The DAG''s id, as in Airflow.';
COMMENT ON COLUMN dag_run_history.execution_date IS
    'The run''s logical date: Airflow 2 execution_date, Airflow 3 logical_date. NULL when Airflow 3 has none (manual or asset-triggered runs); the run''s day then comes from run_after.';
COMMENT ON COLUMN dag_run_history.state IS
    'Airflow''s run state when last read: queued, running, success or failed (NULL on very old Airflow rows). Only success and failed are final, and a cleared run goes back to queued.';
COMMENT ON COLUMN dag_run_history.run_id IS 'Airflow''s run_id, unique per dag_id within one installation (e.g. scheduled__2024-03-01T00:00:00+00:00).';
COMMENT ON COLUMN dag_run_history.external_trigger IS
    'Whether the run was triggered from outside the scheduler: Airflow 2 external_trigger; on Airflow 3 (which dropped the column) true exactly when run_type = ''manual''.';
COMMENT ON COLUMN dag_run_history.end_date IS 'When the run finished (UTC); NULL while it has not finished or when Airflow did not record it.';
COMMENT ON COLUMN dag_run_history.start_date IS 'When the run started (UTC); NULL while queued or when Airflow did not record it.';
COMMENT ON COLUMN dag_run_history.airflow_instance IS
    'Name of the Airflow installation the run came from (the instance of its [airflowdb_config] section; "default" for a single installation).';
COMMENT ON COLUMN dag_run_history.run_type IS
    'How the run was created: scheduled, manual, backfill, dataset_triggered (Airflow 2), asset_triggered and others (Airflow 3).';
COMMENT ON COLUMN dag_run_history.run_after IS
    'Airflow 3 run_after: the earliest time the run could start. NULL for Airflow 2 runs. Gives the day of runs without a logical date.';
COMMENT ON COLUMN dag_run_history.queued_at IS 'When the run was last queued (UTC); NULL if Airflow did not record it.';
COMMENT ON COLUMN dag_run_history.data_interval_start IS 'Start of the data interval the run processes (UTC); NULL if none.';
COMMENT ON COLUMN dag_run_history.data_interval_end IS 'End of the data interval the run processes (UTC); NULL if none.';
COMMENT ON COLUMN dag_run_history.clear_number IS
    'How many times the run was cleared in Airflow (Airflow 2.8+ and 3); NULL when the source does not track it.';
COMMENT ON COLUMN dag_run_history.source_updated_at IS
    'Airflow''s dag_run.updated_at when pipewatch last read the row: when Airflow last changed it. NULL if Airflow did not set it.';
COMMENT ON COLUMN dag_run_history.source_read_at IS
    'When pipewatch read this state of the run from Airflow (the Airflow database''s clock at the extract). A load never replaces a row with a state read earlier.';
COMMENT ON COLUMN dag_run_history.airflow_major_version IS 'Major version of the Airflow schema the row was read from: 2 or 3.';
COMMENT ON COLUMN dag_run_history.first_loaded_at IS 'When pipewatch first loaded this run into the warehouse (UTC).';
COMMENT ON COLUMN dag_run_history.loaded_at IS 'When pipewatch last inserted or updated this row (UTC).';
COMMENT ON COLUMN dag_run_history.loaded_by_run_id IS
    'Run id of the pipewatch invocation that last inserted or updated this row; matches pipewatch_run_log.run_id and the run_id in its logs.';
