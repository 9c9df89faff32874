-- Tries Airflow itself did not keep: task instances whose current try_number is above 1 while
-- task_instance_history holds fewer earlier tries (some executors lose them). pipewatch cannot
-- copy what Airflow lost; reconcile reports it apart, without failing.
-- Grain: one row: instances with a gap, tries missing, and one example (dag.task in run).
-- Params: none. Reads task_instance (tries above 1) and looks each up in task_instance_history
-- by its unique key.
SELECT count(*)                                         AS instances,
       coalesce(sum(missing), 0)::bigint                AS tries,
       min(dag_id || '.' || task_id || ' in run ' || run_id) AS example
FROM (
    SELECT ti.dag_id, ti.task_id, ti.run_id,
           ti.try_number - 1 - (
               SELECT count(*) FROM task_instance_history AS h
               WHERE h.dag_id = ti.dag_id AND h.task_id = ti.task_id AND h.run_id = ti.run_id
                 AND h.map_index = ti.map_index AND h.try_number < ti.try_number) AS missing
    FROM task_instance AS ti
    WHERE ti.try_number > 1
) AS gaps
WHERE missing > 0
