-- Keeps the task graphs a catalogue reading found for DAG versions not kept yet
-- (src/critical_path/graph.rs parsed them from serialized_dag). A version is kept once, as first
-- read; rows are never deleted, so old runs keep their graphs after Airflow drops them.
-- Grain: one dag_graph_version row per (dag_id, version) given. Params: $1 airflow_instance,
-- $2 text[] dag_id, $3 text[] version, $4 text[] version kind, $5 timestamptz[]
-- serialized_dag.last_updated, $6 integer[] task count, $7 text[] tasks (JSON arrays), $8 text[]
-- problem, $9 the reading's time, $10 the reading invocation's run id.
-- Returns: one row, the versions added.
WITH added AS (
    INSERT INTO dag_graph_version (
        airflow_instance, dag_id, dag_version, version_kind, first_seen_at, source_updated_at,
        task_count, tasks, problem, read_by_run_id)
    SELECT $1::text, g.dag_id, g.dag_version, g.kind, $9::timestamptz, g.updated, g.task_count,
           g.tasks::jsonb, g.problem, $10::uuid
    FROM unnest($2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::integer[], $7::text[],
                $8::text[]) AS g(dag_id, dag_version, kind, updated, task_count, tasks, problem)
    ON CONFLICT (airflow_instance, dag_id, dag_version) DO NOTHING
    RETURNING 1
)
SELECT count(*) AS added FROM added
