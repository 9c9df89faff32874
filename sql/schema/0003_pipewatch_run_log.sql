-- Migration 0003: pipewatch_run_log, pipewatch measuring itself.
-- Grain: one row per (invocation, stage[, Airflow instance]): what one stage of one pipewatch
-- invocation did, how long it took and how it ended.
-- Params: none. Applied with search_path set to pipewatch's schema.

CREATE TABLE pipewatch_run_log (
    run_log_id        bigint      GENERATED ALWAYS AS IDENTITY,
    run_id            uuid        NOT NULL,
    command           text        NOT NULL,
    stage             text        NOT NULL,
    airflow_instance  text,
    started_at        timestamptz NOT NULL,
    ended_at          timestamptz,
    duration_seconds  double precision
        GENERATED ALWAYS AS (EXTRACT(EPOCH FROM (ended_at - started_at))::double precision) STORED,
    rows_read         bigint,
    rows_written      bigint,
    outcome           varchar(10) NOT NULL,
    error_message     text,
    pipewatch_version text        NOT NULL,
    hostname          text,
    CONSTRAINT pipewatch_run_log_pkey PRIMARY KEY (run_log_id),
    CONSTRAINT pipewatch_run_log_outcome_check CHECK (outcome IN ('running', 'succeeded', 'failed'))
);

CREATE INDEX pipewatch_run_log_started_at_idx ON pipewatch_run_log (started_at);
CREATE INDEX pipewatch_run_log_run_id_idx ON pipewatch_run_log (run_id);

COMMENT ON TABLE pipewatch_run_log IS
    'What each pipewatch invocation did: one row per invocation and stage (and Airflow instance where the stage works per instance).';
COMMENT ON COLUMN pipewatch_run_log.run_log_id IS 'Surrogate key of this row.';
COMMENT ON COLUMN pipewatch_run_log.run_id IS 'The invocation''s run id (UUID): in every log line it wrote and every row it loaded.';
COMMENT ON COLUMN pipewatch_run_log.command IS 'The subcommand invoked: run, extract, load, transform, validate, backfill, migrate, ...';
COMMENT ON COLUMN pipewatch_run_log.stage IS 'The stage this row describes: migrate, extract, stage, load, validate, transform, ...';
COMMENT ON COLUMN pipewatch_run_log.airflow_instance IS 'The Airflow instance the stage worked on; NULL for stages that are not per instance.';
COMMENT ON COLUMN pipewatch_run_log.started_at IS 'When the stage started (UTC).';
COMMENT ON COLUMN pipewatch_run_log.ended_at IS 'When the stage ended (UTC); NULL while it runs, or if the process died before recording its end.';
COMMENT ON COLUMN pipewatch_run_log.duration_seconds IS 'ended_at - started_at in seconds; NULL while ended_at is NULL.';
COMMENT ON COLUMN pipewatch_run_log.rows_read IS 'Rows the stage read from its source; NULL when the stage reads no rows or did not get that far.';
COMMENT ON COLUMN pipewatch_run_log.rows_written IS 'Rows the stage inserted or updated (for migrate: migrations applied); NULL when unknown.';
COMMENT ON COLUMN pipewatch_run_log.outcome IS 'running (not ended yet, or the process died), succeeded, or failed.';
COMMENT ON COLUMN pipewatch_run_log.error_message IS 'Why the stage failed, when outcome = ''failed''; otherwise NULL.';
COMMENT ON COLUMN pipewatch_run_log.pipewatch_version IS 'Version of the pipewatch binary that ran the stage.';
COMMENT ON COLUMN pipewatch_run_log.hostname IS 'Host the stage ran on, when known.';
