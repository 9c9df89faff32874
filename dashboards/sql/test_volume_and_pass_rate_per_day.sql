-- Validation test volume (left axis) and pass rate (right axis) per day over the dashboard's time range.
SELECT day::timestamp AS "time", test_executions, pass_rate
FROM ${schema:raw}.validation_daily
WHERE $__timeFilter(day)
ORDER BY 1
