-- Model validation_test_daily: how each validation test fared.
-- Grain: one row per (day, test_name, script_1, script_2, comp_operator) with an execution.
-- Params: $1 date[] days to recompute, $2 reporting time zone, $3 the computing run id.
-- Pass rate = passed / all executions; an execution that could not run counts against it.
INSERT INTO validation_test_daily (day, test_name, script_1, script_2, comp_operator, executions,
                                   passed, failed, errors, pass_rate, computed_by_run_id)
SELECT v.day,
       v.test_name,
       v.script_1,
       v.script_2,
       v.comp_operator,
       count(*),
       count(*) FILTER (WHERE v.outcome = 'passed'),
       count(*) FILTER (WHERE v.outcome = 'failed'),
       count(*) FILTER (WHERE v.outcome = 'error'),
       round(count(*) FILTER (WHERE v.outcome = 'passed')::numeric / count(*), 6),
       $3::uuid
FROM validation_results_on_days($1::date[], $2::text) AS v
GROUP BY v.day, v.test_name, v.script_1, v.script_2, v.comp_operator
