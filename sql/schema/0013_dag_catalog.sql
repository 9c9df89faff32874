-- Migration 0013: the DAG catalogue with its history, and import errors by episode.
-- What did not happen leaves no DAG run: a DAG paused by mistake, a DAG file that no longer
-- imports, a DAG Airflow no longer has. Airflow keeps only the present state of these; every
-- `run` reads it (sql/source/airflow_db/catalog_airflow2.sql, catalog_airflow3.sql) and these
-- tables keep its history.
-- Grain: dag_catalog one row per (airflow_instance, dag_id); dag_catalog_history one row per
-- (airflow_instance, dag_id, valid_from); import_error_history one row per (airflow_instance,
-- bundle_name, filename, error episode).
-- Params: none. Applied with search_path set to pipewatch's schema.

CREATE TABLE dag_catalog (
    airflow_instance         text         NOT NULL,
    dag_id                   varchar(250) NOT NULL,
    is_paused                boolean,
    is_stale                 boolean,
    has_import_errors        boolean,
    owners                   text[]       NOT NULL DEFAULT '{}',
    tags                     text[]       NOT NULL DEFAULT '{}',
    schedule                 text,
    schedule_description     text,
    next_dagrun              timestamptz,
    next_dagrun_create_after timestamptz,
    max_active_runs          integer,
    last_parsed_time         timestamptz,
    fileloc                  text,
    in_airflow               boolean      NOT NULL,
    first_seen_at            timestamptz  NOT NULL,
    last_seen_at             timestamptz  NOT NULL,
    read_at                  timestamptz  NOT NULL,
    loaded_by_run_id         uuid         NOT NULL,
    CONSTRAINT dag_catalog_pkey PRIMARY KEY (airflow_instance, dag_id)
);

COMMENT ON TABLE dag_catalog IS
    'Every DAG each Airflow instance has, or had, as pipewatch last read it (Airflow''s dag table, dag_tag and import_error): one row per (airflow_instance, dag_id). A DAG Airflow no longer has keeps its row with in_airflow = false.';
COMMENT ON COLUMN dag_catalog.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_catalog.dag_id IS 'The DAG''s id, as in Airflow.';
COMMENT ON COLUMN dag_catalog.is_paused IS 'Whether the DAG is paused in Airflow.';
COMMENT ON COLUMN dag_catalog.is_stale IS
    'Whether the DAG processor no longer finds the DAG in its files: Airflow 3 is_stale; on Airflow 2, NOT is_active (one meaning for both).';
COMMENT ON COLUMN dag_catalog.has_import_errors IS 'Whether the DAG''s file failed to import at its last parse.';
COMMENT ON COLUMN dag_catalog.owners IS 'The DAG''s owners (Airflow''s comma-separated owners, split and trimmed).';
COMMENT ON COLUMN dag_catalog.tags IS 'The DAG''s tags (dag_tag), sorted.';
COMMENT ON COLUMN dag_catalog.schedule IS
    'The schedule as Airflow summarises it: Airflow 2 schedule_interval (a cron expression, a preset such as @daily, a timedelta, or NULL), Airflow 3 timetable_summary.';
COMMENT ON COLUMN dag_catalog.schedule_description IS 'Airflow''s description of the schedule in words (timetable_description).';
COMMENT ON COLUMN dag_catalog.next_dagrun IS 'The logical date of the next run the scheduler will create (Airflow''s next_dagrun). Frozen while the DAG is paused.';
COMMENT ON COLUMN dag_catalog.next_dagrun_create_after IS
    'When the scheduler may create the next run; NULL while it may not (usually: max_active_runs reached). Frozen while the DAG is paused.';
COMMENT ON COLUMN dag_catalog.max_active_runs IS 'The DAG''s max_active_runs.';
COMMENT ON COLUMN dag_catalog.last_parsed_time IS 'When Airflow last parsed the DAG''s file.';
COMMENT ON COLUMN dag_catalog.fileloc IS 'The DAG''s file, as Airflow records it.';
COMMENT ON COLUMN dag_catalog.in_airflow IS 'Whether Airflow had the DAG at the last reading (false: deleted there; its history is kept).';
COMMENT ON COLUMN dag_catalog.first_seen_at IS 'The Airflow clock at the first reading that found the DAG.';
COMMENT ON COLUMN dag_catalog.last_seen_at IS 'The Airflow clock at the last reading that found the DAG.';
COMMENT ON COLUMN dag_catalog.read_at IS 'The Airflow clock at the last reading of this instance''s catalogue.';
COMMENT ON COLUMN dag_catalog.loaded_by_run_id IS 'Run id of the pipewatch invocation that last wrote this row.';

CREATE TABLE dag_catalog_history (
    airflow_instance     text         NOT NULL,
    dag_id               varchar(250) NOT NULL,
    valid_from           timestamptz  NOT NULL,
    valid_to             timestamptz,
    is_paused            boolean,
    is_stale             boolean,
    has_import_errors    boolean,
    owners               text[]       NOT NULL,
    tags                 text[]       NOT NULL,
    schedule             text,
    schedule_description text,
    max_active_runs      integer,
    fileloc              text,
    in_airflow           boolean      NOT NULL,
    recorded_by_run_id   uuid         NOT NULL,
    CONSTRAINT dag_catalog_history_pkey PRIMARY KEY (airflow_instance, dag_id, valid_from)
);
CREATE UNIQUE INDEX dag_catalog_history_current_idx ON dag_catalog_history (airflow_instance, dag_id)
    WHERE valid_to IS NULL;

COMMENT ON TABLE dag_catalog_history IS
    'Each DAG''s catalogue attributes over time: one row per span in which none of them changed (paused, stale, import errors, owners, tags, schedule, its description, max_active_runs, file, whether Airflow has it). The next-run fields and parse times, which change with every run and parse, are in dag_catalog only.';
COMMENT ON COLUMN dag_catalog_history.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_catalog_history.dag_id IS 'The DAG''s id, as in Airflow.';
COMMENT ON COLUMN dag_catalog_history.is_paused IS 'Whether the DAG was paused during the span.';
COMMENT ON COLUMN dag_catalog_history.is_stale IS 'Whether the DAG was stale (not found by the DAG processor) during the span.';
COMMENT ON COLUMN dag_catalog_history.has_import_errors IS 'Whether the DAG''s file failed to import during the span.';
COMMENT ON COLUMN dag_catalog_history.owners IS 'The DAG''s owners during the span.';
COMMENT ON COLUMN dag_catalog_history.tags IS 'The DAG''s tags during the span, sorted.';
COMMENT ON COLUMN dag_catalog_history.schedule IS 'The schedule during the span (as in dag_catalog.schedule).';
COMMENT ON COLUMN dag_catalog_history.schedule_description IS 'Airflow''s description of that schedule.';
COMMENT ON COLUMN dag_catalog_history.max_active_runs IS 'The DAG''s max_active_runs during the span.';
COMMENT ON COLUMN dag_catalog_history.fileloc IS 'The DAG''s file during the span.';
COMMENT ON COLUMN dag_catalog_history.in_airflow IS 'Whether Airflow had the DAG during the span (false: deleted there).';
COMMENT ON COLUMN dag_catalog_history.valid_from IS
    'The Airflow clock at the reading that first found these values (Airflow records no time for a pause or a change of owner: the change happened between the previous reading and this one).';
COMMENT ON COLUMN dag_catalog_history.valid_to IS 'The Airflow clock at the reading that found them changed; NULL for the current span.';
COMMENT ON COLUMN dag_catalog_history.recorded_by_run_id IS 'Run id of the pipewatch invocation that recorded the span.';

CREATE TABLE import_error_history (
    import_error_id  bigint       GENERATED ALWAYS AS IDENTITY,
    airflow_instance text         NOT NULL,
    bundle_name      text         NOT NULL DEFAULT '',
    filename         text         NOT NULL,
    first_seen_at    timestamptz  NOT NULL,
    last_seen_at     timestamptz  NOT NULL,
    resolved_at      timestamptz,
    error_timestamp  timestamptz,
    first_line       text,
    last_line        text,
    stacktrace       text,
    stacktrace_chars integer,
    stacktrace_md5   text,
    dag_ids          text[]       NOT NULL DEFAULT '{}',
    loaded_by_run_id uuid         NOT NULL,
    CONSTRAINT import_error_history_pkey PRIMARY KEY (import_error_id)
);
CREATE UNIQUE INDEX import_error_history_open_idx
    ON import_error_history (airflow_instance, bundle_name, filename) WHERE resolved_at IS NULL;

COMMENT ON TABLE import_error_history IS
    'Import errors by episode: one row per (airflow_instance, bundle_name, filename) and continuous span in which the file failed to import at every reading. Airflow keeps only the current errors, overwritten at each parse.';
COMMENT ON COLUMN import_error_history.import_error_id IS 'Surrogate key of the episode.';
COMMENT ON COLUMN import_error_history.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN import_error_history.filename IS 'The DAG file that fails to import, as Airflow records it (relative to its bundle on Airflow 3).';
COMMENT ON COLUMN import_error_history.bundle_name IS 'The DAG bundle of the file (Airflow 3); empty on Airflow 2.';
COMMENT ON COLUMN import_error_history.first_seen_at IS
    'When the episode began as far as pipewatch can tell: the time Airflow gave the error at the first reading that found it (Airflow overwrites it at each parse, so the error may be older), or that reading''s time if earlier.';
COMMENT ON COLUMN import_error_history.last_seen_at IS 'The Airflow clock at the last reading that found the error.';
COMMENT ON COLUMN import_error_history.resolved_at IS 'The Airflow clock at the first reading that no longer found it; NULL while it lasts.';
COMMENT ON COLUMN import_error_history.error_timestamp IS 'import_error.timestamp at the last reading: the last parse that failed.';
COMMENT ON COLUMN import_error_history.first_line IS 'The first line of the latest stack trace.';
COMMENT ON COLUMN import_error_history.last_line IS 'The last line of the latest stack trace: usually the exception and its message.';
COMMENT ON COLUMN import_error_history.stacktrace IS 'The latest stack trace, its first 65,536 characters.';
COMMENT ON COLUMN import_error_history.stacktrace_chars IS 'The whole stack trace''s length in characters.';
COMMENT ON COLUMN import_error_history.stacktrace_md5 IS 'md5 of the whole latest stack trace: tells a changed error from the same one.';
COMMENT ON COLUMN import_error_history.dag_ids IS 'The DAGs Airflow lists for that file at the last reading.';
COMMENT ON COLUMN import_error_history.loaded_by_run_id IS 'Run id of the pipewatch invocation that last wrote this row.';
