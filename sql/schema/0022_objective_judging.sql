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

-- The runtimes in seconds of the last p_runs successful runs of a DAG (or, with p_task_id, of
-- that task of them) that started before p_before and no earlier than p_after, newest first.
-- Internal to the transform.
CREATE FUNCTION objective_recent_seconds(p_instance text, p_dag_id text, p_task_id text,
                                         p_before timestamptz, p_after timestamptz,
                                         p_runs integer)
RETURNS double precision[]
LANGUAGE sql STABLE AS $$
    SELECT CASE WHEN p_task_id IS NULL THEN (
        SELECT array_agg(x.seconds ORDER BY x.started DESC)
        FROM (SELECT extract(epoch FROM p.end_date - p.start_date)::double precision AS seconds,
                     p.start_date AS started
              FROM dag_run_history AS p
              WHERE p.airflow_instance = p_instance AND p.dag_id = p_dag_id
                AND p.start_date < p_before AND p.start_date >= p_after AND p.state = 'success'
              ORDER BY p.start_date DESC
              LIMIT p_runs) AS x)
    ELSE (
        SELECT array_agg(x.seconds ORDER BY x.started DESC)
        FROM (SELECT extract(epoch FROM pu.landed_at - pu.started_at)::double precision AS seconds,
                     p.start_date AS started
              FROM dag_run_history AS p
              CROSS JOIN LATERAL objective_unit(p.airflow_instance, p.dag_id::text,
                                                p.run_id::text, p.state::text, p.start_date,
                                                p.end_date, p_task_id) AS pu
              WHERE p.airflow_instance = p_instance AND p.dag_id = p_dag_id
                AND p.start_date < p_before AND p.start_date >= p_after AND pu.ok
              ORDER BY p.start_date DESC
              LIMIT p_runs) AS x)
    END
$$;
COMMENT ON FUNCTION objective_recent_seconds(text, text, text, timestamptz, timestamptz, integer) IS
    'The runtimes (seconds, newest first) of the last N successful runs (or tasks) of a DAG that started in [p_after, p_before): the history a runtime objective bounds a run by.';

CREATE OR REPLACE FUNCTION objective_typical_seconds(p_instance text, p_dag_id text,
                                                     p_task_id text, p_before timestamptz)
RETURNS double precision
LANGUAGE sql STABLE AS $$
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY x)
    FROM unnest(objective_recent_seconds(p_instance, p_dag_id, p_task_id, p_before,
                                         '-infinity', 20)) AS x
$$;

-- The judged_key of a within objective's judgement of a run that never came: 'missing ' and the
-- slot's due time in UTC. Internal to the transform.
CREATE FUNCTION objective_missing_key(p_due timestamptz)
RETURNS text
LANGUAGE sql STABLE AS $$
    SELECT 'missing ' || to_char(p_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
$$;
COMMENT ON FUNCTION objective_missing_key(timestamptz) IS
    'objective_run.judged_key of a run that never came (a slot of dag_schedule_missed).';
