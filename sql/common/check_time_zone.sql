-- Whether PostgreSQL knows a time zone name (IANA) exactly as written, today's date there, and
-- the known name that differs only in case, if any (for the error message). pg_timezone_names
-- reads the zone files (about 20 ms): it is read once.
-- Grain: one row. Params: $1 the zone name.
WITH names AS MATERIALIZED (
    SELECT name FROM pg_timezone_names WHERE lower(name) = lower($1::text)
),
known AS (
    SELECT EXISTS (SELECT 1 FROM names WHERE name = $1::text) AS known
)
SELECT known.known,
       (now() AT TIME ZONE (CASE WHEN known.known THEN $1::text ELSE 'UTC' END))::date AS today,
       (SELECT min(name) FROM names) AS same_but_case
FROM known
