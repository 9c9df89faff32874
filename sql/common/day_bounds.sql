-- When each calendar day of a window begins in the reporting time zone, as UTC instants, and
-- when the day after the window begins: for sources that cannot compute a run's day in SQL
-- (the REST API), so they place runs on days exactly as the warehouse's SQL does.
-- Grain: one row per day of $2..=$3, plus one for the day after. Params: $1 reporting time
-- zone (IANA name), $2 first day, $3 last day (dates, inclusive).
SELECT d::date AS day, (d::date::timestamp AT TIME ZONE $1::text) AS starts_at
FROM generate_series($2::date, $3::date + 1, interval '1 day') AS d
ORDER BY d
