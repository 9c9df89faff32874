-- Model validator_summary_daily: the book's table, with its columns and their meaning.
-- Grain: one row per (day, script_1, script_2, comp_operator, test_result).
-- Params: $1 date[] days to recompute, $2 reporting time zone, $3 the computing run id.
INSERT INTO validator_summary_daily (test_date, script_1, script_2, comp_operator,
                                     test_composite_name, test_result, test_count,
                                     computed_by_run_id)
SELECT v.day,
       v.script_1,
       v.script_2,
       v.comp_operator,
       v.script_1 || ' ' || v.script_2 || ' ' || v.comp_operator,
       v.test_result,
       count(*),
       $3::uuid
FROM validation_results_on_days($1::date[], $2::text) AS v
GROUP BY v.day, v.script_1, v.script_2, v.comp_operator, v.test_result
