-- Why a run was late (issue 28): the DAG version each run and each task try ran with, the task
-- graph of every version pipewatch read (dag_graph_version, from Airflow's serialized_dag), and
-- the critical path of every finished run (dag_run_critical_path_run, one row per run;
-- dag_run_critical_path, one row per step), computed by the transform for the days it
-- recomputes.
-- Grain: see each table's and view's comment. Params: none. Applied with search_path set to
-- pipewatch's schema.

ALTER TABLE dag_run_history ADD COLUMN dag_version text;
COMMENT ON COLUMN dag_run_history.dag_version IS
    'The DAG version that made the run: Airflow 2 dag_run.dag_hash, Airflow 3 dag_run.created_dag_version_id (through the REST API: Airflow 3 the first of dag_versions, Airflow 2 NULL). The key of its graph in dag_graph_version. NULL for runs loaded before pipewatch recorded versions (a full extract fills it).';

ALTER TABLE task_run_history ADD COLUMN dag_version text;
COMMENT ON COLUMN task_run_history.dag_version IS
    'Airflow 3: the DAG version the try ran with (task_instance.dag_version_id; the key of its graph in dag_graph_version). NULL on Airflow 2, where a try runs with its run''s version (dag_run_history.dag_version).';

CREATE TABLE dag_graph_version (
    airflow_instance text        NOT NULL,
    dag_id           text        NOT NULL,
    dag_version      text        NOT NULL,
    version_kind     text        NOT NULL,
    first_seen_at    timestamptz NOT NULL,
    source_updated_at timestamptz,
    task_count       integer     NOT NULL,
    tasks            jsonb       NOT NULL,
    problem          text,
    read_by_run_id   uuid        NOT NULL,
    CONSTRAINT dag_graph_version_pkey PRIMARY KEY (airflow_instance, dag_id, dag_version),
    CONSTRAINT dag_graph_version_kind_check CHECK (version_kind IN ('dag_hash', 'dag_version_id'))
);

COMMENT ON TABLE dag_graph_version IS
    'The task graph of every DAG version pipewatch read from Airflow''s serialized_dag (database source): one row per (airflow_instance, dag_id, dag_version). Airflow 2 keeps only the latest serialized DAG, so a version whose file changed again before pipewatch read it is absent, and its runs'' critical paths say so. Rows are never deleted: old runs keep their graphs after Airflow drops them.';
COMMENT ON COLUMN dag_graph_version.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_graph_version.dag_id IS 'The DAG.';
COMMENT ON COLUMN dag_graph_version.dag_version IS 'The version key: Airflow 2 serialized_dag.dag_hash, Airflow 3 serialized_dag.dag_version_id (as dag_run_history.dag_version and task_run_history.dag_version name it).';
COMMENT ON COLUMN dag_graph_version.version_kind IS 'dag_hash (Airflow 2) or dag_version_id (Airflow 3).';
COMMENT ON COLUMN dag_graph_version.first_seen_at IS 'When pipewatch first read this version (the source''s clock at that catalogue reading).';
COMMENT ON COLUMN dag_graph_version.source_updated_at IS 'serialized_dag.last_updated of the version when pipewatch read it.';
COMMENT ON COLUMN dag_graph_version.task_count IS 'Tasks in the graph.';
COMMENT ON COLUMN dag_graph_version.tasks IS
    'The tasks, an array of objects: task_id, downstream and upstream (arrays of task ids), pool (default_pool when Airflow left it out), pool_slots (1 when left out), queue (NULL: the executor''s default), operator, is_mapped, trigger_rule (all_success when left out), retries. The view dag_graph_task has one row per task.';
COMMENT ON COLUMN dag_graph_version.problem IS 'Why the graph cannot be used, when it cannot (a cycle, an edge to a task that is not in it, a serialized DAG that does not decompress or parse); NULL for a usable graph. Runs of such a version have critical path status invalid_graph with this reason.';
COMMENT ON COLUMN dag_graph_version.read_by_run_id IS 'The pipewatch invocation that first read it (pipewatch_run_log.run_id).';

CREATE VIEW dag_graph_task AS
SELECT g.airflow_instance, g.dag_id, g.dag_version, t.task ->> 'task_id' AS task_id,
       ARRAY(SELECT jsonb_array_elements_text(t.task -> 'upstream')) AS upstream_task_ids,
       ARRAY(SELECT jsonb_array_elements_text(t.task -> 'downstream')) AS downstream_task_ids,
       t.task ->> 'pool' AS pool, (t.task ->> 'pool_slots')::integer AS pool_slots,
       t.task ->> 'queue' AS queue, t.task ->> 'operator' AS operator,
       (t.task ->> 'is_mapped')::boolean AS is_mapped, t.task ->> 'trigger_rule' AS trigger_rule,
       (t.task ->> 'retries')::integer AS retries
FROM dag_graph_version AS g
CROSS JOIN LATERAL jsonb_array_elements(g.tasks) AS t(task);
COMMENT ON VIEW dag_graph_task IS
    'One row per task of each graph version in dag_graph_version: its upstream and downstream task ids, pool, pool slots, queue, operator, whether it is mapped, its trigger rule and retries.';
COMMENT ON COLUMN dag_graph_task.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_graph_task.dag_id IS 'The DAG.';
COMMENT ON COLUMN dag_graph_task.dag_version IS 'The version (dag_graph_version.dag_version).';
COMMENT ON COLUMN dag_graph_task.task_id IS 'The task.';
COMMENT ON COLUMN dag_graph_task.upstream_task_ids IS 'The tasks it depends on directly.';
COMMENT ON COLUMN dag_graph_task.downstream_task_ids IS 'The tasks that depend on it directly.';
COMMENT ON COLUMN dag_graph_task.pool IS 'Its pool (default_pool when Airflow left it out).';
COMMENT ON COLUMN dag_graph_task.pool_slots IS 'Pool slots a try takes (1 when left out).';
COMMENT ON COLUMN dag_graph_task.queue IS 'Its executor queue (NULL: the executor''s default).';
COMMENT ON COLUMN dag_graph_task.operator IS 'The operator class.';
COMMENT ON COLUMN dag_graph_task.is_mapped IS 'Whether it is a mapped task (expand).';
COMMENT ON COLUMN dag_graph_task.trigger_rule IS 'Its trigger rule (all_success when left out).';
COMMENT ON COLUMN dag_graph_task.retries IS 'Retries allowed, when the serialized DAG says.';

CREATE TABLE dag_run_critical_path_run (
    airflow_instance          text          NOT NULL,
    dag_id                    text          NOT NULL,
    run_id                    text          NOT NULL,
    day                       date          NOT NULL,
    dag_version               text,
    status                    text          NOT NULL,
    reason                    text,
    run_started_at            timestamptz   NOT NULL,
    run_ended_at              timestamptz   NOT NULL,
    duration_seconds          numeric(18, 6) NOT NULL,
    scheduling_delay_seconds  numeric(18, 6),
    finish_delay_seconds      numeric(18, 6),
    steps                     integer       NOT NULL,
    computed_at               timestamptz   NOT NULL DEFAULT now(),
    computed_by_run_id        uuid          NOT NULL,
    CONSTRAINT dag_run_critical_path_run_pkey PRIMARY KEY (airflow_instance, dag_id, run_id),
    CONSTRAINT dag_run_critical_path_run_status_check CHECK (status IN (
        'computed', 'graph_unknown', 'invalid_graph', 'task_not_in_graph', 'no_finished_tasks',
        'inconsistent_times'))
);
CREATE INDEX dag_run_critical_path_run_day_idx ON dag_run_critical_path_run (airflow_instance, day);

COMMENT ON TABLE dag_run_critical_path_run IS
    'One row per finished DAG run (success or failed, with start and end) with task tries in task_run_history, on the days the transform computed (a run without tries has no row): whether its critical path is known, and the parts of its duration outside the steps. For a computed path, scheduling_delay_seconds + the steps'' dependency_wait, queue_wait, run and retry seconds + finish_delay_seconds = duration_seconds exactly (microseconds).';
COMMENT ON COLUMN dag_run_critical_path_run.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_run_critical_path_run.dag_id IS 'The DAG.';
COMMENT ON COLUMN dag_run_critical_path_run.run_id IS 'The DAG run (dag_run_history.run_id).';
COMMENT ON COLUMN dag_run_critical_path_run.day IS 'The run''s day in the reporting time zone (the models'' rule).';
COMMENT ON COLUMN dag_run_critical_path_run.dag_version IS 'The graph version the path was walked on (dag_graph_version.dag_version): Airflow 3 the version of the task try that finished last, Airflow 2 the run''s dag_hash; NULL when unknown.';
COMMENT ON COLUMN dag_run_critical_path_run.status IS
    'computed; graph_unknown (no graph read for the run''s version: pipewatch did not read it before Airflow replaced it, the catalogue is off, the REST API source, or the run was loaded before versions were recorded); invalid_graph (see dag_graph_version.problem); task_not_in_graph (a task try whose task the graph does not have); no_finished_tasks (no task try with a start and an end); inconsistent_times (a task ended after the run did, or started before it). Every status but computed has no steps.';
COMMENT ON COLUMN dag_run_critical_path_run.reason IS 'Why the path is not computed, in words; NULL when computed.';
COMMENT ON COLUMN dag_run_critical_path_run.run_started_at IS 'The run''s start_date.';
COMMENT ON COLUMN dag_run_critical_path_run.run_ended_at IS 'The run''s end_date.';
COMMENT ON COLUMN dag_run_critical_path_run.duration_seconds IS 'run_ended_at - run_started_at, in seconds (microsecond precision).';
COMMENT ON COLUMN dag_run_critical_path_run.scheduling_delay_seconds IS 'From the run''s start to when the path''s first task was first scheduled or queued (or started, where Airflow recorded neither).';
COMMENT ON COLUMN dag_run_critical_path_run.finish_delay_seconds IS 'From the end of the path''s last task (the task try that finished last) to the run''s end.';
COMMENT ON COLUMN dag_run_critical_path_run.steps IS 'Steps in dag_run_critical_path (0 unless computed).';
COMMENT ON COLUMN dag_run_critical_path_run.computed_at IS 'When the transform computed the row.';
COMMENT ON COLUMN dag_run_critical_path_run.computed_by_run_id IS 'The pipewatch invocation that computed it.';

CREATE TABLE dag_run_critical_path (
    airflow_instance         text           NOT NULL,
    dag_id                   text           NOT NULL,
    run_id                   text           NOT NULL,
    step                     integer        NOT NULL,
    day                      date           NOT NULL,
    task_id                  text           NOT NULL,
    map_count                integer        NOT NULL,
    tries                    integer        NOT NULL,
    ready_at                 timestamptz    NOT NULL,
    first_try_at             timestamptz    NOT NULL,
    started_at               timestamptz    NOT NULL,
    ended_at                 timestamptz    NOT NULL,
    dependency_wait_seconds  numeric(18, 6) NOT NULL,
    retry_seconds            numeric(18, 6) NOT NULL,
    queue_wait_seconds       numeric(18, 6) NOT NULL,
    run_seconds              numeric(18, 6) NOT NULL,
    pool                     text,
    pool_slots               integer,
    queue                    text,
    CONSTRAINT dag_run_critical_path_pkey PRIMARY KEY (airflow_instance, dag_id, run_id, step)
);
CREATE INDEX dag_run_critical_path_day_idx ON dag_run_critical_path (airflow_instance, day);

COMMENT ON TABLE dag_run_critical_path IS
    'The critical path of each finished DAG run whose path is computed (dag_run_critical_path_run.status = computed), one row per step in time order. The walk starts at the task that finished last and steps to the upstream task (in the run''s graph version) that finished last among those that ended no later than the task started; an edge whose upstream ended later (a skipped branch, a non-default trigger rule) is not followed. A mapped task is one step (its instances collapsed: earliest start, latest end). Each step''s ready_at..ended_at is split into dependency_wait, retry, queue_wait and run seconds, which add up to it exactly.';
COMMENT ON COLUMN dag_run_critical_path.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_run_critical_path.dag_id IS 'The DAG.';
COMMENT ON COLUMN dag_run_critical_path.run_id IS 'The DAG run.';
COMMENT ON COLUMN dag_run_critical_path.step IS 'Position on the path: 1 is the first task (a root of the walk), the highest the task that finished last.';
COMMENT ON COLUMN dag_run_critical_path.day IS 'The run''s day in the reporting time zone.';
COMMENT ON COLUMN dag_run_critical_path.task_id IS 'The task.';
COMMENT ON COLUMN dag_run_critical_path.map_count IS 'Mapped instances collapsed into the step (1 for a task that is not mapped).';
COMMENT ON COLUMN dag_run_critical_path.tries IS 'Tries of the instance whose times split the step (the mapped instance that finished last), counting the final one.';
COMMENT ON COLUMN dag_run_critical_path.ready_at IS 'When the step could begin: the previous step''s end; for step 1 its first_try_at (the wait before it is the run''s scheduling_delay_seconds).';
COMMENT ON COLUMN dag_run_critical_path.first_try_at IS 'When its first try was scheduled, queued or started (the earliest Airflow recorded; never before ready_at).';
COMMENT ON COLUMN dag_run_critical_path.started_at IS 'When its final try started (for a mapped task: the instance that finished last).';
COMMENT ON COLUMN dag_run_critical_path.ended_at IS 'When its final try ended (a mapped task: its latest end).';
COMMENT ON COLUMN dag_run_critical_path.dependency_wait_seconds IS 'ready_at to first_try_at: waiting for the scheduler after the upstream ended (0 for step 1, whose wait is the run''s scheduling_delay_seconds).';
COMMENT ON COLUMN dag_run_critical_path.retry_seconds IS 'first_try_at to when the final try was queued: earlier tries and the delays between them.';
COMMENT ON COLUMN dag_run_critical_path.queue_wait_seconds IS 'The final try''s wait from queued to started (a free worker or pool slot).';
COMMENT ON COLUMN dag_run_critical_path.run_seconds IS 'The final try''s run time (started_at to ended_at).';
COMMENT ON COLUMN dag_run_critical_path.pool IS 'The pool of the final try.';
COMMENT ON COLUMN dag_run_critical_path.pool_slots IS 'Its pool slots.';
COMMENT ON COLUMN dag_run_critical_path.queue IS 'Its executor queue.';
