-- Validation volume and pass rate per day of the report's period.
-- Grain: one row per day with at least one validation execution.
-- Params: $1 first day, $2 last day (inclusive).
SELECT day, sum(executions)::bigint AS executions, sum(passed)::bigint AS passed,
       sum(failed)::bigint AS failed, sum(errors)::bigint AS errors
FROM validation_test_daily
WHERE day BETWEEN $1::date AND $2::date
GROUP BY day
ORDER BY day
