-- Whether PostgreSQL knows a time zone name (IANA) exactly as written, today's date there, and
-- the known name that differs only in case, if any (for the error message).
-- Grain: one row. Params: $1 the zone name.
SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1::text) AS known,
       (now() AT TIME ZONE (CASE WHEN EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1::text)
                                 THEN $1::text ELSE 'UTC' END))::date AS today,
       (SELECT min(name) FROM pg_timezone_names WHERE lower(name) = lower($1::text)) AS same_but_case
