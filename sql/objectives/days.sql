-- The days objectives are judged on: today and the two days before in the reporting time zone,
-- the days a load queued, and with $3 every day since the first run.
-- Grain: one row per day. Params: $1 reporting time zone, $2 days queued, $3 full recompute.
SELECT DISTINCT day
FROM (SELECT ((now() AT TIME ZONE $1::text)::date - n) AS day FROM generate_series(0, 2) AS n
      UNION ALL
      SELECT q + n FROM unnest($2::date[]) AS q CROSS JOIN generate_series(0, 1) AS n
      UNION ALL
      SELECT d::date
      FROM (SELECT min(start_date) AS first FROM dag_run_history WHERE $3::boolean) AS f
      CROSS JOIN generate_series((f.first AT TIME ZONE $1::text)::date,
                                 (now() AT TIME ZONE $1::text)::date, interval '1 day') AS d
      WHERE f.first IS NOT NULL) AS days
WHERE day <= (now() AT TIME ZONE $1::text)::date
ORDER BY day
