-- Migration 0022: what judging objectives incrementally needs (issue 27's speed target): an
-- incremental transform judges again only the runs loaded since the last judging, the
-- judgements not decided yet, and the DAGs an objective newly matches or whose objective
-- changed, instead of every run of the last days.
-- Grain: objective_scope: one row per (objective, airflow_instance, dag_id) an objective
-- judges; the indexes: one entry per DAG run or undecided judgement.
-- Params: none. Applied with search_path set to pipewatch's schema.

-- A DAG's runs in start order: the runs a judging looks at, and the last successful runs before
-- one (index-only for a DAG's own runtimes where the table is all-visible).
CREATE INDEX dag_run_history_started_idx
    ON dag_run_history (airflow_instance, dag_id, start_date) INCLUDE (state, end_date);

-- The runs loaded (inserted or changed) since a time.
CREATE INDEX dag_run_history_loaded_at_idx ON dag_run_history (loaded_at);

-- A DAG's judgements by due time (what a judging writes again, and what alerts read), instead
-- of an objective's.
DROP INDEX objective_run_due_idx;
CREATE INDEX objective_run_dag_due_idx ON objective_run (objective, airflow_instance, dag_id, due_at);

-- The judgements not decided yet: judged again by every transform until they are.
CREATE INDEX objective_run_undecided_idx ON objective_run (objective, airflow_instance, dag_id)
    WHERE status IN ('pending', 'at_risk') OR note IN ('still running', 'not landed yet');

CREATE TABLE objective_scope (
    objective        text        NOT NULL,
    airflow_instance text        NOT NULL,
    dag_id           text        NOT NULL,
    definition       text        NOT NULL,
    judged_at        timestamptz,
    CONSTRAINT objective_scope_pkey PRIMARY KEY (objective, airflow_instance, dag_id)
);
COMMENT ON TABLE objective_scope IS
    'The DAGs each objective judges (as of the last transform) and with what definition: a DAG newly matched, or an objective whose promise changed, is judged over the days the transform recomputes instead of only for what changed.';
COMMENT ON COLUMN objective_scope.objective IS 'The objective''s label.';
COMMENT ON COLUMN objective_scope.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN objective_scope.dag_id IS 'The DAG matched.';
COMMENT ON COLUMN objective_scope.definition IS 'The objective''s promise and task as configured when the DAG was first judged with it.';
COMMENT ON COLUMN objective_scope.judged_at IS 'When the DAG was first judged with this definition; NULL until then.';

ALTER TABLE transform_state ADD COLUMN objectives_judged_at timestamptz;
COMMENT ON COLUMN transform_state.objectives_judged_at IS
    'When objectives were last judged (the transform''s clock): the next transform judges again the runs loaded since.';

-- The last p_runs successful runs of a DAG (or, with p_task_id, of that task of them) that
-- started before p_before, newest first, with their runtimes in seconds: the history a runtime
-- objective bounds a run by, and a run's typical runtime. Internal to the transform; a single
-- SELECT without a SET clause, so that PostgreSQL inlines it into the judging statements.
CREATE FUNCTION objective_recent_runs(p_instance text, p_dag_id text, p_task_id text,
                                      p_before timestamptz, p_runs integer)
RETURNS TABLE (start_date timestamptz, run_id text, seconds double precision)
LANGUAGE sql STABLE AS $$
    SELECT p.start_date, p.run_id::text,
           extract(epoch FROM pu.landed_at - pu.started_at)::double precision
    FROM dag_run_history AS p
    CROSS JOIN LATERAL objective_unit(p.airflow_instance, p.dag_id::text, p.run_id::text,
                                      p.state::text, p.start_date, p.end_date, p_task_id) AS pu
    WHERE p.airflow_instance = p_instance AND p.dag_id = p_dag_id
      AND p.start_date < p_before AND pu.ok
    ORDER BY p.start_date DESC
    LIMIT p_runs
$$;
COMMENT ON FUNCTION objective_recent_runs(text, text, text, timestamptz, integer) IS
    'The last N successful runs (or tasks) of a DAG that started before a time, newest first, with their runtimes: the history a runtime objective bounds a run by.';

CREATE OR REPLACE FUNCTION objective_typical_seconds(p_instance text, p_dag_id text,
                                                     p_task_id text, p_before timestamptz)
RETURNS double precision
LANGUAGE sql STABLE AS $$
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY r.seconds)
    FROM objective_recent_runs(p_instance, p_dag_id, p_task_id, p_before, 20) AS r
$$;

-- Per DAG, the runs loaded (inserted or changed) since p_since: the earliest start, and the
-- earliest reference time of each kind a within objective measures from (data interval end and
-- run_after of scheduled runs, queued time of every run but backfills). What an incremental
-- judging starts from. Internal to the transform; inlined like objective_recent_runs.
CREATE FUNCTION objective_changed_dags(p_since timestamptz)
RETURNS TABLE (airflow_instance text, dag_id text, first_start timestamptz,
               first_interval_end timestamptz, first_run_after timestamptz,
               first_queued timestamptz)
LANGUAGE sql STABLE AS $$
    SELECT r.airflow_instance, r.dag_id::text, min(r.start_date),
           min(r.data_interval_end) FILTER (WHERE r.run_type = 'scheduled'),
           min(coalesce(r.run_after, r.data_interval_end)) FILTER (WHERE r.run_type = 'scheduled'),
           min(r.queued_at) FILTER (WHERE r.run_type <> 'backfill')
    FROM dag_run_history AS r
    WHERE r.loaded_at >= p_since
    GROUP BY r.airflow_instance, r.dag_id
$$;
COMMENT ON FUNCTION objective_changed_dags(timestamptz) IS
    'The DAGs with runs loaded since a time, with the earliest start and reference times of those runs: where an incremental judging of objectives starts.';

-- The judged_key of a within objective's judgement of a run that never came: 'missing ' and the
-- slot's due time in UTC. Internal to the transform.
CREATE FUNCTION objective_missing_key(p_due timestamptz)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT 'missing ' || to_char(p_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;
COMMENT ON FUNCTION objective_missing_key(timestamptz) IS
    'objective_run.judged_key of a run that never came (a slot of dag_schedule_missed).';
