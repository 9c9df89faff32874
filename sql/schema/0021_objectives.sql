-- Migration 0021: objectives ([objective_<label>] sections), judged run by run by the
-- transform: objective_run holds each judgement, objective_daily the day's compliance, view
-- objective_compliance the rolling 7- and 28-day compliance and the error budget left.
-- Grain: objective_run: one row per (objective, airflow_instance, dag_id, judged_key), the key
-- being the due time for lands_by, the run for within and runtime ('missing ' and the slot's
-- due time for a run that never came); objective_daily: one row per (objective,
-- airflow_instance, dag_id, day).
-- Params: none. Applied with search_path set to pipewatch's schema.

CREATE TABLE objective_run (
    objective          text             NOT NULL,
    airflow_instance   text             NOT NULL,
    dag_id             text             NOT NULL,
    judged_key         text             NOT NULL,
    kind               text             NOT NULL,
    task_id            text,
    run_id             text,
    runs               integer          NOT NULL DEFAULT 0,
    day                date             NOT NULL,
    due_at             timestamptz      NOT NULL,
    landed_at          timestamptz,
    expected_at        timestamptz,
    status             text             NOT NULL,
    minutes_late       double precision NOT NULL DEFAULT 0,
    runtime_seconds    double precision,
    bound_seconds      double precision,
    note               text,
    judged_at          timestamptz      NOT NULL,
    judged_by_run_id   uuid             NOT NULL,
    CONSTRAINT objective_run_pkey PRIMARY KEY (objective, airflow_instance, dag_id, judged_key),
    CONSTRAINT objective_run_kind_check CHECK (kind IN ('lands_by', 'within', 'runtime')),
    CONSTRAINT objective_run_status_check CHECK (status IN ('met', 'missed', 'at_risk', 'pending'))
);
CREATE INDEX objective_run_due_idx ON objective_run (objective, due_at);
CREATE INDEX objective_run_day_idx ON objective_run (day);

COMMENT ON TABLE objective_run IS
    'Every judgement of an objective ([objective_<label>]): one row per objective, DAG and due run (within, runtime) or due time (lands_by). met: landed by its due time; missed: landed late, failed, or never came (a slot of dag_schedule_missed); at_risk: not landed, not due yet, and expected to land after it; pending: not landed, not due yet. Recomputed by the transform for the days it recomputes.';
COMMENT ON COLUMN objective_run.objective IS 'The objective''s label (the section [objective_<label>]).';
COMMENT ON COLUMN objective_run.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN objective_run.dag_id IS 'The DAG judged.';
COMMENT ON COLUMN objective_run.judged_key IS 'What is judged: the due time (lands_by), the run id (within, runtime), or ''missing '' and the slot''s due time for a run that never came.';
COMMENT ON COLUMN objective_run.kind IS 'lands_by, within or runtime.';
COMMENT ON COLUMN objective_run.task_id IS 'The task judged instead of the run (task_id in the section), or NULL.';
COMMENT ON COLUMN objective_run.run_id IS 'The run judged (lands_by: the last of the runs for that day''s data), or NULL when none came.';
COMMENT ON COLUMN objective_run.runs IS 'Runs judged together (lands_by: the scheduled runs whose data interval ends in the day''s window).';
COMMENT ON COLUMN objective_run.day IS 'The day of due_at in the reporting time zone.';
COMMENT ON COLUMN objective_run.due_at IS 'When it had to have landed (UTC): lands_by: the local time of the day; within: the reference time plus the delay; runtime: the start plus the bound.';
COMMENT ON COLUMN objective_run.landed_at IS 'When the run (or the task: its last map index) ended successfully; NULL while not landed or failed.';
COMMENT ON COLUMN objective_run.expected_at IS 'While not landed: when it is expected to land (its start plus the median runtime of its last 20 successful runs), or NULL.';
COMMENT ON COLUMN objective_run.status IS 'met, missed, at_risk or pending.';
COMMENT ON COLUMN objective_run.minutes_late IS 'Minutes after due_at it landed (0 when met); still running past due_at: minutes from due_at to the judgement; failed or never came: 0 (the note says why).';
COMMENT ON COLUMN objective_run.runtime_seconds IS 'runtime: the run''s (task''s) runtime in seconds, or its elapsed time while running.';
COMMENT ON COLUMN objective_run.bound_seconds IS 'runtime: the bound (median + K MAD of the earlier successful runs) in seconds.';
COMMENT ON COLUMN objective_run.note IS 'Why, in words: failed, never came, still running, ...';
COMMENT ON COLUMN objective_run.judged_at IS 'When it was judged (the transform''s clock).';
COMMENT ON COLUMN objective_run.judged_by_run_id IS 'Run id of the pipewatch invocation that judged it.';

CREATE TABLE objective_daily (
    objective          text             NOT NULL,
    airflow_instance   text             NOT NULL,
    dag_id             text             NOT NULL,
    day                date             NOT NULL,
    kind               text             NOT NULL,
    target             double precision NOT NULL,
    due                integer          NOT NULL,
    met                integer          NOT NULL,
    missed             integer          NOT NULL,
    at_risk            integer          NOT NULL,
    pending            integer          NOT NULL,
    compliance         double precision,
    p50_minutes_late   double precision,
    p95_minutes_late   double precision,
    computed_by_run_id uuid             NOT NULL,
    CONSTRAINT objective_daily_pkey PRIMARY KEY (objective, airflow_instance, dag_id, day)
);
CREATE INDEX objective_daily_day_idx ON objective_daily (day);

COMMENT ON TABLE objective_daily IS
    'Each objective''s compliance per DAG and day (reporting time zone), from objective_run: judgements due, met and missed, compliance = met / (met + missed), and the median and 95th percentile of minutes late over them (0 for a met one).';
COMMENT ON COLUMN objective_daily.objective IS 'The objective''s label.';
COMMENT ON COLUMN objective_daily.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN objective_daily.dag_id IS 'The DAG.';
COMMENT ON COLUMN objective_daily.day IS 'The day of the judgements'' due times (reporting time zone).';
COMMENT ON COLUMN objective_daily.kind IS 'lands_by, within or runtime.';
COMMENT ON COLUMN objective_daily.target IS 'The objective''s target share (0.99 for 99%) when it was judged.';
COMMENT ON COLUMN objective_daily.due IS 'Judgements decided: met + missed.';
COMMENT ON COLUMN objective_daily.met IS 'Judgements met.';
COMMENT ON COLUMN objective_daily.missed IS 'Judgements missed (late, failed or never came).';
COMMENT ON COLUMN objective_daily.at_risk IS 'Judgements not due yet and expected to land late.';
COMMENT ON COLUMN objective_daily.pending IS 'Judgements not due yet.';
COMMENT ON COLUMN objective_daily.compliance IS 'met / due; NULL when nothing was due.';
COMMENT ON COLUMN objective_daily.p50_minutes_late IS 'Median minutes late of the decided judgements (0 for a met one).';
COMMENT ON COLUMN objective_daily.p95_minutes_late IS '95th percentile of minutes late of the decided judgements.';
COMMENT ON COLUMN objective_daily.computed_by_run_id IS 'Run id of the pipewatch invocation that computed the row.';

CREATE VIEW objective_compliance AS
SELECT objective,
       airflow_instance,
       dag_id,
       max(kind) AS kind,
       (array_agg(target ORDER BY day DESC))[1] AS target,
       sum(due) FILTER (WHERE day > current_date - 7) AS due_7d,
       sum(met) FILTER (WHERE day > current_date - 7) AS met_7d,
       sum(met) FILTER (WHERE day > current_date - 7)::double precision
           / nullif(sum(due) FILTER (WHERE day > current_date - 7), 0) AS compliance_7d,
       sum(due) AS due_28d,
       sum(met) AS met_28d,
       sum(missed) AS missed_28d,
       sum(met)::double precision / nullif(sum(due), 0) AS compliance_28d,
       1 - sum(missed) / nullif((1 - (array_agg(target ORDER BY day DESC))[1]) * sum(due), 0)
           AS error_budget_left
FROM objective_daily
WHERE day > current_date - 28 AND day <= current_date
GROUP BY objective, airflow_instance, dag_id;

COMMENT ON VIEW objective_compliance IS
    'Each objective''s rolling compliance per DAG over the last 7 and 28 days (days of the reporting time zone up to today, by the warehouse''s current_date) and the error budget left: 1 - missed / ((1 - target) * due) over 28 days (1: untouched, 0: spent, below 0: overspent).';
COMMENT ON COLUMN objective_compliance.objective IS 'The objective''s label.';
COMMENT ON COLUMN objective_compliance.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN objective_compliance.dag_id IS 'The DAG.';
COMMENT ON COLUMN objective_compliance.kind IS 'lands_by, within or runtime.';
COMMENT ON COLUMN objective_compliance.target IS 'The target share at the newest day.';
COMMENT ON COLUMN objective_compliance.due_7d IS 'Judgements decided over the last 7 days.';
COMMENT ON COLUMN objective_compliance.met_7d IS 'Judgements met over the last 7 days.';
COMMENT ON COLUMN objective_compliance.compliance_7d IS 'met_7d / due_7d.';
COMMENT ON COLUMN objective_compliance.due_28d IS 'Judgements decided over the last 28 days.';
COMMENT ON COLUMN objective_compliance.met_28d IS 'Judgements met over the last 28 days.';
COMMENT ON COLUMN objective_compliance.missed_28d IS 'Judgements missed over the last 28 days.';
COMMENT ON COLUMN objective_compliance.compliance_28d IS 'met_28d / due_28d.';
COMMENT ON COLUMN objective_compliance.error_budget_left IS '1 - missed_28d / ((1 - target) * due_28d): the share of the 28-day error budget left.';

-- One unit judged: the run itself (p_task_id NULL), or its task p_task_id: landed when every
-- map index of the task has a successful try, at the last of their ends. Internal to the
-- transform (whose session's search_path is pipewatch's schema); without a SET clause so that
-- PostgreSQL inlines it into the judging statements.
CREATE FUNCTION objective_unit(p_instance text, p_dag_id text, p_run_id text, p_state text,
                               p_start timestamptz, p_end timestamptz, p_task_id text)
RETURNS TABLE (ok boolean, started_at timestamptz, landed_at timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT p_state = 'success', p_start, CASE WHEN p_state = 'success' THEN p_end END
    WHERE p_task_id IS NULL
    UNION ALL
    SELECT bool_and(s.ok), min(s.started), CASE WHEN bool_and(s.ok) THEN max(s.landed) END
    FROM (SELECT bool_or(t.state = 'success') AS ok,
                 min(t.start_date) AS started,
                 max(t.end_date) FILTER (WHERE t.state = 'success') AS landed
          FROM task_run_history AS t
          WHERE t.airflow_instance = p_instance AND t.dag_id = p_dag_id
            AND t.run_id = p_run_id AND t.task_id = p_task_id
          GROUP BY t.map_index) AS s
    HAVING p_task_id IS NOT NULL
$$;
COMMENT ON FUNCTION objective_unit(text, text, text, text, timestamptz, timestamptz, text) IS
    'What an objective judges of one run: the run, or one of its tasks (landed when every map index has a successful try, at the last end).';

-- The usual runtime of a unit (median of the last 20 successful runs, or tasks, that started
-- before p_before), for when a run that has not landed is expected to. Internal to the transform.
CREATE FUNCTION objective_typical_seconds(p_instance text, p_dag_id text, p_task_id text,
                                          p_before timestamptz)
RETURNS double precision
LANGUAGE sql STABLE AS $$
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x.seconds)
    FROM (SELECT extract(epoch FROM pu.landed_at - pu.started_at) AS seconds
          FROM dag_run_history AS p
          CROSS JOIN LATERAL objective_unit(p.airflow_instance, p.dag_id::text, p.run_id::text,
                                            p.state::text, p.start_date, p.end_date,
                                            p_task_id) AS pu
          WHERE p.airflow_instance = p_instance AND p.dag_id = p_dag_id
            AND p.start_date < p_before AND pu.ok
          ORDER BY p.start_date DESC
          LIMIT 20) AS x
$$;
COMMENT ON FUNCTION objective_typical_seconds(text, text, text, timestamptz) IS
    'The median runtime of the last 20 successful runs (or tasks) of a DAG that started before a time: how long a run that has not landed is expected to take.';

ALTER TABLE alert_history
    DROP CONSTRAINT alert_history_rule_check,
    ADD CONSTRAINT alert_history_rule_check CHECK (rule IN ('success_rate_drop',
        'runtime_regression', 'freshness', 'landing_deadline', 'validation_failure', 'overdue',
        'blocked', 'paused', 'import_error', 'scheduler_down', 'pool_empty', 'missed_runs',
        'objective_missed', 'objective_at_risk', 'error_budget_spent'));
COMMENT ON COLUMN alert_history.rule IS 'success_rate_drop, runtime_regression, freshness, landing_deadline, validation_failure, overdue, blocked, paused, import_error, scheduler_down, pool_empty, missed_runs, objective_missed, objective_at_risk or error_budget_spent.';
COMMENT ON COLUMN alert_history.subject IS 'The DAG id, the validation test''s name, the DAG file, the pool, the instance''s part (scheduler), or for an objective''s alert "<dag_id> / <objective>".';
