-- Blame over time and cost (issue 28): critical_path_daily (how often each task held its DAG's
-- runs up, and by how much), the view run_lateness_attribution (for a run slower than its DAG's
-- median, the step whose contribution grew most), task_cost_daily (worker slot-seconds per
-- task, pool and queue, and the wasted share) with its roll-ups by DAG, owner, tag, pool and
-- queue. The transform computes both tables for the days it recomputes.
-- Grain: see each table's and view's comment. Params: none. Applied with search_path set to
-- pipewatch's schema.

CREATE TABLE critical_path_daily (
    airflow_instance            text             NOT NULL,
    day                         date             NOT NULL,
    dag_id                      text             NOT NULL,
    task_id                     text             NOT NULL,
    runs_on_path                integer          NOT NULL,
    runs_computed               integer          NOT NULL,
    contribution_seconds        numeric(18, 6)   NOT NULL,
    contribution_median_seconds double precision NOT NULL,
    contribution_p95_seconds    double precision NOT NULL,
    duration_share              double precision,
    dependency_wait_seconds     numeric(18, 6)   NOT NULL,
    retry_seconds               numeric(18, 6)   NOT NULL,
    queue_wait_seconds          numeric(18, 6)   NOT NULL,
    run_seconds                 numeric(18, 6)   NOT NULL,
    computed_by_run_id          uuid             NOT NULL,
    CONSTRAINT critical_path_daily_pkey PRIMARY KEY (airflow_instance, day, dag_id, task_id)
);
COMMENT ON TABLE critical_path_daily IS
    'Per instance, day (of the runs, reporting time zone), DAG and task: how often the task was on the critical path of the day''s runs (dag_run_critical_path) and how much of their duration it owned. A task''s contribution to a run is its step''s dependency wait + retries + queue wait + run time.';
COMMENT ON COLUMN critical_path_daily.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN critical_path_daily.day IS 'The runs'' day in the reporting time zone.';
COMMENT ON COLUMN critical_path_daily.dag_id IS 'The DAG.';
COMMENT ON COLUMN critical_path_daily.task_id IS 'The task.';
COMMENT ON COLUMN critical_path_daily.runs_on_path IS 'Runs of the day whose critical path holds the task.';
COMMENT ON COLUMN critical_path_daily.runs_computed IS 'Runs of the DAG that day with a computed critical path (status computed): the denominator of how often.';
COMMENT ON COLUMN critical_path_daily.contribution_seconds IS 'The task''s contributions summed over those runs.';
COMMENT ON COLUMN critical_path_daily.contribution_median_seconds IS 'Median contribution over the runs whose path holds it (interpolated).';
COMMENT ON COLUMN critical_path_daily.contribution_p95_seconds IS '95th percentile contribution (interpolated).';
COMMENT ON COLUMN critical_path_daily.duration_share IS 'contribution_seconds over the summed duration of the DAG''s computed runs that day (0..1); NULL when those add up to 0.';
COMMENT ON COLUMN critical_path_daily.dependency_wait_seconds IS 'Of the contributions: waiting for the scheduler after the upstream ended.';
COMMENT ON COLUMN critical_path_daily.retry_seconds IS 'Of the contributions: earlier tries and the delays between them.';
COMMENT ON COLUMN critical_path_daily.queue_wait_seconds IS 'Of the contributions: waiting for a worker or pool slot.';
COMMENT ON COLUMN critical_path_daily.run_seconds IS 'Of the contributions: the final tries'' run time.';
COMMENT ON COLUMN critical_path_daily.computed_by_run_id IS 'The pipewatch invocation that computed the row.';

-- The baselines of run_lateness_attribution: a DAG's runs and a task's steps by day.
CREATE INDEX dag_run_critical_path_run_dag_idx
    ON dag_run_critical_path_run (airflow_instance, dag_id, day);
CREATE INDEX dag_run_critical_path_task_idx
    ON dag_run_critical_path (airflow_instance, dag_id, task_id, day);

CREATE VIEW run_lateness_attribution AS
SELECT DISTINCT ON (r.airflow_instance, r.dag_id, r.day, r.run_id)
       r.airflow_instance, r.dag_id, r.day, r.run_id, r.duration_seconds,
       m.median_duration_seconds,
       r.duration_seconds::float8 - m.median_duration_seconds AS excess_seconds,
       s.task_id, s.step, s.pool, s.contribution AS contribution_seconds,
       t.median_contribution_seconds,
       s.contribution::float8 - t.median_contribution_seconds AS contribution_growth_seconds,
       g.part AS grew_in,
       g.growth AS part_growth_seconds,
       CASE g.part
           WHEN 'queue wait' THEN format('%s waited %s min for a slot%s (usually %s min)',
               s.task_id, round(s.queue_wait_seconds / 60, 1),
               coalesce(' in pool ' || s.pool, ''), round((t.median_queue_wait / 60)::numeric, 1))
           WHEN 'retries' THEN format('%s spent %s min in %s earlier tries (usually %s min)',
               s.task_id, round(s.retry_seconds / 60, 1), s.tries - 1,
               round((t.median_retry / 60)::numeric, 1))
           WHEN 'dependency wait' THEN format(
               '%s waited %s min to be scheduled after its upstream ended (usually %s min)',
               s.task_id, round(s.dependency_wait_seconds / 60, 1),
               round((t.median_dependency_wait / 60)::numeric, 1))
           ELSE format('%s ran %s min (usually %s min)', s.task_id, round(s.run_seconds / 60, 1),
               round((t.median_run / 60)::numeric, 1))
       END AS explanation
FROM dag_run_critical_path_run AS r
CROSS JOIN LATERAL (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY b.duration_seconds::float8)
               AS median_duration_seconds
    FROM dag_run_critical_path_run AS b
    WHERE b.airflow_instance = r.airflow_instance AND b.dag_id = r.dag_id
      AND b.status = 'computed' AND b.day BETWEEN r.day - 28 AND r.day
) AS m
JOIN LATERAL (
    SELECT st.*, st.dependency_wait_seconds + st.retry_seconds + st.queue_wait_seconds
                 + st.run_seconds AS contribution
    FROM dag_run_critical_path AS st
    WHERE st.airflow_instance = r.airflow_instance AND st.dag_id = r.dag_id
      AND st.run_id = r.run_id
) AS s ON true
CROSS JOIN LATERAL (
    SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY (b.dependency_wait_seconds + b.retry_seconds
               + b.queue_wait_seconds + b.run_seconds)::float8) AS median_contribution_seconds,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY b.dependency_wait_seconds::float8)
               AS median_dependency_wait,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY b.retry_seconds::float8) AS median_retry,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY b.queue_wait_seconds::float8)
               AS median_queue_wait,
           percentile_cont(0.5) WITHIN GROUP (ORDER BY b.run_seconds::float8) AS median_run
    FROM dag_run_critical_path AS b
    WHERE b.airflow_instance = r.airflow_instance AND b.dag_id = r.dag_id
      AND b.task_id = s.task_id AND b.day BETWEEN r.day - 28 AND r.day
) AS t
CROSS JOIN LATERAL (
    SELECT p.part, p.growth
    FROM (VALUES ('dependency wait', s.dependency_wait_seconds::float8 - t.median_dependency_wait),
                 ('retries', s.retry_seconds::float8 - t.median_retry),
                 ('queue wait', s.queue_wait_seconds::float8 - t.median_queue_wait),
                 ('run time', s.run_seconds::float8 - t.median_run)) AS p(part, growth)
    ORDER BY p.growth DESC
    LIMIT 1
) AS g
WHERE r.status = 'computed'
  AND r.duration_seconds::float8 > m.median_duration_seconds
ORDER BY r.airflow_instance, r.dag_id, r.day, r.run_id,
         s.contribution::float8 - t.median_contribution_seconds DESC, s.step;
COMMENT ON VIEW run_lateness_attribution IS
    'For each run with a computed critical path that took longer than its DAG''s median (over its computed runs of the 28 days up to its day): the step whose contribution grew most against that task''s own median on the path over the same days (contribution_growth_seconds), the part of it that grew most against that part''s median (grew_in: dependency wait, retries, queue wait or run time) and a sentence saying so. Filter by dag_id (and day): it computes the medians of the runs it returns.';
COMMENT ON COLUMN run_lateness_attribution.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN run_lateness_attribution.dag_id IS 'The DAG.';
COMMENT ON COLUMN run_lateness_attribution.day IS 'The run''s day (reporting time zone).';
COMMENT ON COLUMN run_lateness_attribution.run_id IS 'The slow run.';
COMMENT ON COLUMN run_lateness_attribution.duration_seconds IS 'The run''s duration.';
COMMENT ON COLUMN run_lateness_attribution.median_duration_seconds IS 'The median duration of the DAG''s computed runs of the 28 days up to the run''s day.';
COMMENT ON COLUMN run_lateness_attribution.excess_seconds IS 'duration_seconds less that median.';
COMMENT ON COLUMN run_lateness_attribution.task_id IS 'The step blamed: the one whose contribution grew most against its task''s median.';
COMMENT ON COLUMN run_lateness_attribution.step IS 'Its position on the path.';
COMMENT ON COLUMN run_lateness_attribution.pool IS 'Its pool.';
COMMENT ON COLUMN run_lateness_attribution.contribution_seconds IS 'Its contribution to this run (dependency wait + retries + queue wait + run time).';
COMMENT ON COLUMN run_lateness_attribution.median_contribution_seconds IS 'The task''s median contribution on the DAG''s paths over the same 28 days.';
COMMENT ON COLUMN run_lateness_attribution.contribution_growth_seconds IS 'contribution_seconds less that median.';
COMMENT ON COLUMN run_lateness_attribution.grew_in IS 'The part that grew most against its own median: dependency wait, retries, queue wait or run time.';
COMMENT ON COLUMN run_lateness_attribution.part_growth_seconds IS 'How much that part grew, in seconds.';
COMMENT ON COLUMN run_lateness_attribution.explanation IS 'A sentence saying so, for a notice or a dashboard.';

CREATE TABLE task_cost_daily (
    airflow_instance      text             NOT NULL,
    day                   date             NOT NULL,
    dag_id                text             NOT NULL,
    task_id               text             NOT NULL,
    pool                  text             NOT NULL,
    queue                 text             NOT NULL,
    tries                 integer          NOT NULL,
    slot_seconds          double precision NOT NULL,
    wasted_slot_seconds   double precision NOT NULL,
    queue_slot_seconds    double precision NOT NULL,
    computed_by_run_id    uuid             NOT NULL,
    CONSTRAINT task_cost_daily_pkey PRIMARY KEY (airflow_instance, day, dag_id, task_id, pool, queue)
);
COMMENT ON TABLE task_cost_daily IS
    'Worker capacity each task took per day of its runs (reporting time zone), pool and queue, from every try with a start and an end in task_run_history. What it cannot see: time a deferred task spent in the triggerer, and compute outside the worker (a Spark cluster, a warehouse query the task waits on).';
COMMENT ON COLUMN task_cost_daily.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN task_cost_daily.day IS 'The day of the tries'' DAG runs in the reporting time zone.';
COMMENT ON COLUMN task_cost_daily.dag_id IS 'The DAG.';
COMMENT ON COLUMN task_cost_daily.task_id IS 'The task.';
COMMENT ON COLUMN task_cost_daily.pool IS 'The pool the tries ran in ('''' when Airflow recorded none).';
COMMENT ON COLUMN task_cost_daily.queue IS 'The executor queue ('''' when Airflow recorded none).';
COMMENT ON COLUMN task_cost_daily.tries IS 'Tries counted (with a start and an end).';
COMMENT ON COLUMN task_cost_daily.slot_seconds IS 'pool_slots (1 when unrecorded) x (end_date - start_date), summed over the tries.';
COMMENT ON COLUMN task_cost_daily.wasted_slot_seconds IS 'The same over tries that failed (failed, up_for_retry) or were followed by another try of their instance (retried or cleared).';
COMMENT ON COLUMN task_cost_daily.queue_slot_seconds IS 'pool_slots x (start_date - queued_at): slots waited for, where queued_at is known.';
COMMENT ON COLUMN task_cost_daily.computed_by_run_id IS 'The pipewatch invocation that computed the row.';

CREATE VIEW dag_cost_daily AS
SELECT airflow_instance, day, dag_id, sum(tries)::bigint AS tries,
       sum(slot_seconds) AS slot_seconds, sum(wasted_slot_seconds) AS wasted_slot_seconds,
       sum(wasted_slot_seconds) / nullif(sum(slot_seconds), 0) AS wasted_share,
       sum(queue_slot_seconds) AS queue_slot_seconds
FROM task_cost_daily
GROUP BY airflow_instance, day, dag_id;
COMMENT ON VIEW dag_cost_daily IS
    'task_cost_daily rolled up per instance, day and DAG, with the wasted share of the slot-seconds.';
COMMENT ON COLUMN dag_cost_daily.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_cost_daily.day IS 'The day of the runs.';
COMMENT ON COLUMN dag_cost_daily.dag_id IS 'The DAG.';
COMMENT ON COLUMN dag_cost_daily.tries IS 'Tries counted.';
COMMENT ON COLUMN dag_cost_daily.slot_seconds IS 'Slot-seconds (task_cost_daily.slot_seconds summed).';
COMMENT ON COLUMN dag_cost_daily.wasted_slot_seconds IS 'Of them, in failed or retried tries.';
COMMENT ON COLUMN dag_cost_daily.wasted_share IS 'wasted_slot_seconds / slot_seconds (NULL when 0).';
COMMENT ON COLUMN dag_cost_daily.queue_slot_seconds IS 'Slot-seconds waited for in the queue.';

CREATE VIEW owner_cost_daily AS
SELECT c.airflow_instance, c.day, o.owner, sum(c.slot_seconds) AS slot_seconds,
       sum(c.wasted_slot_seconds) AS wasted_slot_seconds,
       sum(c.wasted_slot_seconds) / nullif(sum(c.slot_seconds), 0) AS wasted_share,
       count(DISTINCT c.dag_id)::bigint AS dags
FROM dag_cost_daily AS c
JOIN dag_catalog AS d ON d.airflow_instance = c.airflow_instance AND d.dag_id = c.dag_id
CROSS JOIN LATERAL unnest(CASE WHEN cardinality(d.owners) > 0 THEN d.owners
                               ELSE ARRAY['(no owner)'] END) AS o(owner)
GROUP BY c.airflow_instance, c.day, o.owner;
COMMENT ON VIEW owner_cost_daily IS
    'dag_cost_daily per owner of the DAG (dag_catalog.owners; a DAG with two owners counts for each, so owners do not add up to the total). DAGs not in the catalogue are left out.';
COMMENT ON COLUMN owner_cost_daily.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN owner_cost_daily.day IS 'The day of the runs.';
COMMENT ON COLUMN owner_cost_daily.owner IS 'An owner of the DAGs ((no owner) for DAGs without one).';
COMMENT ON COLUMN owner_cost_daily.slot_seconds IS 'Slot-seconds (task_cost_daily.slot_seconds summed).';
COMMENT ON COLUMN owner_cost_daily.wasted_slot_seconds IS 'Of them, in failed or retried tries.';
COMMENT ON COLUMN owner_cost_daily.wasted_share IS 'wasted_slot_seconds / slot_seconds (NULL when 0).';
COMMENT ON COLUMN owner_cost_daily.dags IS 'DAGs of the owner with tries that day.';

CREATE VIEW tag_cost_daily AS
SELECT c.airflow_instance, c.day, t.tag, sum(c.slot_seconds) AS slot_seconds,
       sum(c.wasted_slot_seconds) AS wasted_slot_seconds,
       sum(c.wasted_slot_seconds) / nullif(sum(c.slot_seconds), 0) AS wasted_share,
       count(DISTINCT c.dag_id)::bigint AS dags
FROM dag_cost_daily AS c
JOIN dag_catalog AS d ON d.airflow_instance = c.airflow_instance AND d.dag_id = c.dag_id
CROSS JOIN LATERAL unnest(d.tags) AS t(tag)
GROUP BY c.airflow_instance, c.day, t.tag;
COMMENT ON VIEW tag_cost_daily IS
    'dag_cost_daily per tag of the DAG (dag_catalog.tags; a DAG counts for each of its tags). Untagged DAGs and DAGs not in the catalogue are left out.';
COMMENT ON COLUMN tag_cost_daily.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN tag_cost_daily.day IS 'The day of the runs.';
COMMENT ON COLUMN tag_cost_daily.tag IS 'A tag of the DAGs.';
COMMENT ON COLUMN tag_cost_daily.slot_seconds IS 'Slot-seconds (task_cost_daily.slot_seconds summed).';
COMMENT ON COLUMN tag_cost_daily.wasted_slot_seconds IS 'Of them, in failed or retried tries.';
COMMENT ON COLUMN tag_cost_daily.wasted_share IS 'wasted_slot_seconds / slot_seconds (NULL when 0).';
COMMENT ON COLUMN tag_cost_daily.dags IS 'DAGs with the tag and tries that day.';

CREATE VIEW pool_cost_daily AS
SELECT airflow_instance, day, pool, queue, sum(tries)::bigint AS tries,
       sum(slot_seconds) AS slot_seconds, sum(wasted_slot_seconds) AS wasted_slot_seconds,
       sum(wasted_slot_seconds) / nullif(sum(slot_seconds), 0) AS wasted_share,
       sum(queue_slot_seconds) AS queue_slot_seconds
FROM task_cost_daily
GROUP BY airflow_instance, day, pool, queue;
COMMENT ON VIEW pool_cost_daily IS
    'task_cost_daily rolled up per instance, day, pool and queue.';
COMMENT ON COLUMN pool_cost_daily.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN pool_cost_daily.day IS 'The day of the runs.';
COMMENT ON COLUMN pool_cost_daily.pool IS 'The pool (empty when unrecorded).';
COMMENT ON COLUMN pool_cost_daily.queue IS 'The queue (empty when unrecorded).';
COMMENT ON COLUMN pool_cost_daily.tries IS 'Tries counted.';
COMMENT ON COLUMN pool_cost_daily.slot_seconds IS 'Slot-seconds (task_cost_daily.slot_seconds summed).';
COMMENT ON COLUMN pool_cost_daily.wasted_slot_seconds IS 'Of them, in failed or retried tries.';
COMMENT ON COLUMN pool_cost_daily.wasted_share IS 'wasted_slot_seconds / slot_seconds (NULL when 0).';
COMMENT ON COLUMN pool_cost_daily.queue_slot_seconds IS 'Slot-seconds waited for in the queue.';
