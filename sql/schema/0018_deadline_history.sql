-- Migration 0018: Airflow's own deadlines, kept: Airflow 2's SLA misses (sla_miss) and Airflow
-- 3's deadlines (deadline, deleted by Airflow once met). Read with the DAG catalogue, for the
-- deadline and compliance work that follows (a met Airflow 3 deadline is only seen as its row
-- vanishing: met_at).
-- Grain: one row per (airflow_instance, kind, source_key). Params: none. Applied with
-- search_path set to pipewatch's schema.

CREATE TABLE deadline_history (
    airflow_instance text        NOT NULL,
    kind             text        NOT NULL,
    source_key       text        NOT NULL,
    dag_id           text,
    task_id          text,
    run_id           text,
    logical_date     timestamptz,
    deadline_time    timestamptz,
    missed           boolean     NOT NULL,
    recorded_at      timestamptz,
    alert_name       text,
    description      text,
    first_seen_at    timestamptz NOT NULL,
    last_seen_at     timestamptz NOT NULL,
    met_at           timestamptz,
    loaded_by_run_id uuid        NOT NULL,
    CONSTRAINT deadline_history_pkey PRIMARY KEY (airflow_instance, kind, source_key),
    CONSTRAINT deadline_history_kind_check CHECK (kind IN ('sla_miss', 'deadline'))
);

COMMENT ON TABLE deadline_history IS
    'Airflow''s own deadlines as pipewatch read them: Airflow 2 SLA misses (kind sla_miss) and Airflow 3 deadlines (kind deadline), one row each, kept after Airflow deletes them. Read from the metadata database only (the REST API has no endpoint for them).';
COMMENT ON COLUMN deadline_history.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN deadline_history.kind IS 'sla_miss (Airflow 2 sla_miss) or deadline (Airflow 3 deadline).';
COMMENT ON COLUMN deadline_history.source_key IS 'Airflow''s key: dag_id|task_id|logical date for an SLA miss, the deadline''s id for a deadline.';
COMMENT ON COLUMN deadline_history.dag_id IS 'The DAG.';
COMMENT ON COLUMN deadline_history.task_id IS 'The task (SLA misses only: Airflow 3 deadlines are per DAG run).';
COMMENT ON COLUMN deadline_history.run_id IS 'The DAG run (deadlines only).';
COMMENT ON COLUMN deadline_history.logical_date IS 'The run''s logical date (execution_date for an SLA miss).';
COMMENT ON COLUMN deadline_history.deadline_time IS 'When the run had to be done (deadlines only).';
COMMENT ON COLUMN deadline_history.missed IS 'Whether Airflow marked it missed (always true for an SLA miss).';
COMMENT ON COLUMN deadline_history.recorded_at IS 'When Airflow recorded the miss (sla_miss.timestamp) or last updated the deadline.';
COMMENT ON COLUMN deadline_history.alert_name IS 'The deadline alert''s name (deadlines only).';
COMMENT ON COLUMN deadline_history.description IS 'Airflow''s description (at most 10,000 characters).';
COMMENT ON COLUMN deadline_history.first_seen_at IS 'The Airflow clock at the first reading that found it.';
COMMENT ON COLUMN deadline_history.last_seen_at IS 'The Airflow clock at the last reading that found it.';
COMMENT ON COLUMN deadline_history.met_at IS 'For a deadline not missed: the first reading that no longer found it, inside the window read (Airflow deletes met deadlines).';
COMMENT ON COLUMN deadline_history.loaded_by_run_id IS 'Run id of the pipewatch invocation that last wrote it.';

-- Since this release the ledger leaves alone a subject that did not breach and has nothing
-- counted and no open alert (sql/alerts/active_subjects.sql).
COMMENT ON COLUMN alert_state.last_evaluated_at IS 'The latest evaluation that recorded the subject: one where it breached, or had breaches counted or an open alert (healthy subjects are not rewritten at every evaluation).';
