-- Alerts that follow each DAG's own rhythm (issue 32). Every evaluation of the alert rules is
-- recorded (alert_evaluation): the run-history rules open on what happened since the previous
-- one and, while an alert is open, judge the last day. The run-history rules (success-rate
-- drop, runtime regression, freshness) open once per episode instead of once per day: a
-- problem that spans midnight is one alert; the landing deadline (a day's runs) and failing
-- validation tests stay once per subject and day.
-- Grain: alert_evaluation, one row per evaluation of the alert rules. Params: none. Applied with
-- search_path set to pipewatch's schema.
CREATE TABLE alert_evaluation (
    run_id       uuid        NOT NULL,
    evaluated_at timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT alert_evaluation_pkey PRIMARY KEY (run_id)
);
CREATE INDEX alert_evaluation_evaluated_at_idx ON alert_evaluation (evaluated_at);

COMMENT ON TABLE alert_evaluation IS
    'One row per evaluation of the alert rules (pipewatch run, pipewatch alerts --evaluate): the run-history rules open on what happened since the previous evaluation (at most a day back).';
COMMENT ON COLUMN alert_evaluation.run_id IS 'The pipewatch invocation that evaluated (pipewatch_run_log.run_id).';
COMMENT ON COLUMN alert_evaluation.evaluated_at IS 'When it evaluated (the warehouse''s clock, UTC).';

DROP INDEX alert_history_once_a_day;
CREATE UNIQUE INDEX alert_history_once_a_day ON alert_history (rule, airflow_instance, subject, day)
    WHERE rule IN ('landing_deadline', 'validation_failure');

COMMENT ON TABLE alert_history IS
    'Every alert pipewatch opened: one row per alert, at most one open per rule, Airflow instance and subject. The landing deadline and failing validation tests open at most once per subject and day; every other rule once per episode. A DAG''s run-history and schedule rules (success_rate_drop, runtime_regression, freshness, landing_deadline, missed_runs, overdue, blocked) make one incident: while one of them is open for a DAG, the others that breach are named in its details (agreeing_rules) instead of opening their own.';
