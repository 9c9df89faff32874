-- Which days dag_schedule_daily recomputes, per instance with a catalogue: slots are judged up
-- to the last catalogue reading less 10 minutes (a run is created within seconds of its due
-- time; the margin keeps a run the same reading could not see yet from counting as missing),
-- from where the last transform stopped (dag_schedule_state), or from the first reading.
-- Grain: one row per airflow_instance in dag_catalog. Params: $1 boolean: recompute from the
-- first reading (full refresh), $2 the reporting time zone.
SELECT c.airflow_instance,
       c.judged_until,
       (coalesce(CASE WHEN NOT $1::boolean THEN s.judged_until END, c.first_seen_at)
            AT TIME ZONE $2::text)::date AS from_day,
       (c.judged_until AT TIME ZONE $2::text)::date AS to_day,
       (c.first_seen_at AT TIME ZONE $2::text)::date AS first_day
FROM (SELECT airflow_instance,
             max(read_at) - interval '10 minutes' AS judged_until,
             min(first_seen_at) AS first_seen_at
      FROM dag_catalog
      GROUP BY airflow_instance) AS c
LEFT JOIN dag_schedule_state AS s ON s.airflow_instance = c.airflow_instance
ORDER BY c.airflow_instance
