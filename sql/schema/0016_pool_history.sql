-- Migration 0016: Airflow's pools at every catalogue reading, and the pool_empty alert. A pool set to 0 slots runs
-- nothing and leaves no failed run: pool_history keeps each pool's slots, and the slots its
-- tasks took (running) and wanted (scheduled or queued), at every reading, for the pool_empty
-- alert and for "when was this pool changed".
-- Grain: one row per (airflow_instance, read_at, pool). Params: none. Applied with search_path
-- set to pipewatch's schema.

CREATE TABLE pool_history (
    airflow_instance text        NOT NULL,
    read_at          timestamptz NOT NULL,
    pool             text        NOT NULL,
    slots            integer,
    running_slots    bigint      NOT NULL,
    waiting_slots    bigint      NOT NULL,
    description      text,
    loaded_by_run_id uuid        NOT NULL,
    CONSTRAINT pool_history_pkey PRIMARY KEY (airflow_instance, read_at, pool)
);

COMMENT ON TABLE pool_history IS
    'Airflow''s pools at each catalogue reading: one row per (airflow_instance, read_at, pool), from slot_pool (database) or /pools (REST API).';
COMMENT ON COLUMN pool_history.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN pool_history.read_at IS 'The Airflow clock at the reading.';
COMMENT ON COLUMN pool_history.pool IS 'The pool''s name.';
COMMENT ON COLUMN pool_history.slots IS 'Its slots (0 runs nothing; -1 is unlimited).';
COMMENT ON COLUMN pool_history.running_slots IS 'Slots taken by running tasks (their pool_slots summed).';
COMMENT ON COLUMN pool_history.waiting_slots IS 'Slots wanted by scheduled and queued tasks (their pool_slots summed).';
COMMENT ON COLUMN pool_history.description IS 'The pool''s description.';
COMMENT ON COLUMN pool_history.loaded_by_run_id IS 'Run id of the pipewatch invocation that read it.';

ALTER TABLE alert_history
    DROP CONSTRAINT alert_history_rule_check,
    ADD CONSTRAINT alert_history_rule_check CHECK (rule IN ('success_rate_drop',
        'runtime_regression', 'freshness', 'landing_deadline', 'validation_failure', 'overdue',
        'blocked', 'paused', 'import_error', 'scheduler_down', 'pool_empty'));
COMMENT ON COLUMN alert_history.rule IS 'success_rate_drop, runtime_regression, freshness, landing_deadline, validation_failure, overdue, blocked, paused, import_error, scheduler_down or pool_empty.';
COMMENT ON COLUMN alert_history.subject IS 'The DAG id; the validation test''s name; the DAG file (import_error: bundle/filename on Airflow 3); scheduler (scheduler_down); the pool (pool_empty).';
