-- Migration 0010: the alert ledger. Rules (success-rate drop, runtime regression, freshness,
-- landing deadline, validation failures) are evaluated by `pipewatch run` after its transform
-- (and by `pipewatch alerts --evaluate`); each alert is opened once and resolved when its
-- condition clears.
-- Grain: alert_history: one row per (rule, airflow_instance, subject, day) alert;
-- alert_state: one row per (rule, airflow_instance, subject) ever evaluated.
-- Params: none. Applied with search_path set to pipewatch's schema.

CREATE TABLE alert_history (
    alert_id            uuid        NOT NULL,
    rule                text        NOT NULL,
    airflow_instance    text        NOT NULL,
    subject             text        NOT NULL,
    day                 date        NOT NULL,
    opened_at           timestamptz NOT NULL DEFAULT now(),
    opened_by_run_id    uuid        NOT NULL,
    last_breach_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at         timestamptz,
    resolved_by_run_id  uuid,
    message             text        NOT NULL,
    details             jsonb       NOT NULL,
    open_notified_at    timestamptz,
    resolve_notified_at timestamptz,
    CONSTRAINT alert_history_pkey PRIMARY KEY (alert_id),
    CONSTRAINT alert_history_once_a_day UNIQUE (rule, airflow_instance, subject, day),
    CONSTRAINT alert_history_rule_check CHECK (rule IN ('success_rate_drop', 'runtime_regression',
        'freshness', 'landing_deadline', 'validation_failure'))
);
-- At most one open alert per rule and subject, whatever the day.
CREATE UNIQUE INDEX alert_history_one_open_idx ON alert_history (rule, airflow_instance, subject)
    WHERE resolved_at IS NULL;

COMMENT ON TABLE alert_history IS
    'Every alert pipewatch opened: one row per rule, Airflow instance, subject (DAG or validation test) and day, opened once when the rule breached (after consecutive_breaches evaluations in a row, outside the cooldown) and resolved when it cleared. Re-runs, backfills and overlapping runs never open it twice.';
COMMENT ON COLUMN alert_history.alert_id IS 'Unique id of the alert.';
COMMENT ON COLUMN alert_history.rule IS 'success_rate_drop, runtime_regression, freshness, landing_deadline or validation_failure.';
COMMENT ON COLUMN alert_history.airflow_instance IS 'The Airflow instance of the DAG; for a validation test, the database it ran against (warehouse or an instance).';
COMMENT ON COLUMN alert_history.subject IS 'The DAG id, or the validation test''s name.';
COMMENT ON COLUMN alert_history.day IS 'The day (reporting time zone) the alert is about: the day judged, or for freshness the day it opened.';
COMMENT ON COLUMN alert_history.opened_at IS 'When it opened (UTC).';
COMMENT ON COLUMN alert_history.opened_by_run_id IS 'Run id of the invocation that opened it.';
COMMENT ON COLUMN alert_history.last_breach_at IS 'The latest evaluation that found the condition breached.';
COMMENT ON COLUMN alert_history.resolved_at IS 'When an evaluation found the condition cleared (NULL while open).';
COMMENT ON COLUMN alert_history.resolved_by_run_id IS 'Run id of the invocation that resolved it.';
COMMENT ON COLUMN alert_history.message IS 'What was found, in words: the numbers against the baseline and the runs involved.';
COMMENT ON COLUMN alert_history.details IS 'The same numbers as JSON (value, baseline, threshold, runs).';
COMMENT ON COLUMN alert_history.open_notified_at IS 'When the opening was posted to the webhook; NULL until delivered (retried by the next evaluation).';
COMMENT ON COLUMN alert_history.resolve_notified_at IS 'When the resolution was posted to the webhook; NULL until delivered.';

CREATE TABLE alert_state (
    rule                 text        NOT NULL,
    airflow_instance     text        NOT NULL,
    subject              text        NOT NULL,
    consecutive_breaches integer     NOT NULL,
    last_evaluated_at    timestamptz NOT NULL,
    cooldown_until       timestamptz,
    CONSTRAINT alert_state_pkey PRIMARY KEY (rule, airflow_instance, subject)
);
COMMENT ON TABLE alert_state IS
    'The noise controls of each rule and subject: how many evaluations in a row breached, and until when a resolved alert may not reopen.';
COMMENT ON COLUMN alert_state.rule IS 'The rule.';
COMMENT ON COLUMN alert_state.airflow_instance IS 'The Airflow instance (or the validation test''s database).';
COMMENT ON COLUMN alert_state.subject IS 'The DAG id or validation test name.';
COMMENT ON COLUMN alert_state.consecutive_breaches IS 'Evaluations in a row that found the condition breached (0 after one that did not).';
COMMENT ON COLUMN alert_state.last_evaluated_at IS 'The latest evaluation.';
COMMENT ON COLUMN alert_state.cooldown_until IS 'A resolved alert of this rule and subject does not reopen before this time.';
