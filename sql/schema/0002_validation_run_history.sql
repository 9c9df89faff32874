-- Migration 0002: validation_run_history, the results of pipewatch validate.
-- Grain: one row per execution of one validation test (validation_result_id).
-- Params: none. Applied with search_path set to pipewatch's schema.
-- The book's columns (script_1, script_2, comp_operator, test_result, test_run_at) keep their
-- names and meaning: test_result is 'true' when the test passed and 'false' when it failed, as
-- the book's validator wrote it; a test that could not run has test_result NULL (unknown) and
-- outcome 'error'. test_run_at is timestamptz (the book had timestamp in the session's zone).

CREATE TABLE validation_run_history (
    script_1             text        NOT NULL,
    script_2             text        NOT NULL,
    comp_operator        varchar(20) NOT NULL,
    test_result          varchar(20),
    test_run_at          timestamptz NOT NULL,
    validation_result_id uuid        NOT NULL,
    test_name            text        NOT NULL,
    severity             varchar(10) NOT NULL,
    outcome              varchar(10) NOT NULL,
    script_1_value       text,
    script_2_value       text,
    error_message        text,
    target_database      text        NOT NULL,
    duration_seconds     double precision,
    run_id               uuid        NOT NULL,
    CONSTRAINT validation_run_history_pkey PRIMARY KEY (validation_result_id),
    CONSTRAINT validation_run_history_severity_check CHECK (severity IN ('halt', 'warn')),
    CONSTRAINT validation_run_history_outcome_check CHECK (outcome IN ('passed', 'failed', 'error')),
    CONSTRAINT validation_run_history_test_result_check CHECK (
        (outcome = 'passed' AND test_result = 'true')
        OR (outcome = 'failed' AND test_result = 'false')
        OR (outcome = 'error' AND test_result IS NULL))
);

CREATE INDEX validation_run_history_test_run_at_idx ON validation_run_history (test_run_at);

COMMENT ON TABLE validation_run_history IS
    'Every execution of a pipewatch validation test (the book''s validator): one row per execution, written whether the test passed, failed or could not run.';
COMMENT ON COLUMN validation_run_history.script_1 IS 'Path of the first SQL script, as given to pipewatch validate.';
COMMENT ON COLUMN validation_run_history.script_2 IS 'Path of the second SQL script, as given to pipewatch validate.';
COMMENT ON COLUMN validation_run_history.comp_operator IS
    'How the two values were compared: equals, greater_equals, greater, less_equals, less or not_equal (script_1 value OPERATOR script_2 value).';
COMMENT ON COLUMN validation_run_history.test_result IS
    'As in the book: ''true'' when the test passed, ''false'' when it failed; NULL when the test could not run (see outcome and error_message).';
COMMENT ON COLUMN validation_run_history.test_run_at IS 'When the test started (UTC instant).';
COMMENT ON COLUMN validation_run_history.validation_result_id IS 'Unique id of this result, so duplicates can be found.';
COMMENT ON COLUMN validation_run_history.test_name IS 'The test''s name: from the suite file, or "<script_1> <operator> <script_2>" for a single test.';
COMMENT ON COLUMN validation_run_history.severity IS 'halt (a failure stops the calling pipeline: non-zero exit) or warn (a failure is recorded and notified, exit 0).';
COMMENT ON COLUMN validation_run_history.outcome IS 'passed, failed, or error (the test could not run: missing file, SQL error, timeout, lost connection).';
COMMENT ON COLUMN validation_run_history.script_1_value IS 'The value script_1 returned, as text; NULL when it returned SQL NULL or did not run.';
COMMENT ON COLUMN validation_run_history.script_2_value IS 'The value script_2 returned, as text; NULL when it returned SQL NULL or did not run.';
COMMENT ON COLUMN validation_run_history.error_message IS 'Why the test could not run, when outcome = ''error''; otherwise NULL.';
COMMENT ON COLUMN validation_run_history.target_database IS 'Which database the scripts ran against: warehouse, or the name of an Airflow instance.';
COMMENT ON COLUMN validation_run_history.duration_seconds IS 'Seconds the test took, both scripts included.';
COMMENT ON COLUMN validation_run_history.run_id IS 'Run id of the pipewatch invocation that ran the test; matches pipewatch_run_log.run_id and its logs.';
