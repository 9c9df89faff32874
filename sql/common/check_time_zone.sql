-- Whether PostgreSQL knows a time zone name (IANA), and today's date there.
-- Grain: one row. Params: $1 the zone name.
SELECT EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1::text) AS known,
       (now() AT TIME ZONE (CASE WHEN EXISTS (SELECT 1 FROM pg_timezone_names WHERE name = $1::text)
                                 THEN $1::text ELSE 'UTC' END))::date AS today
