-- The timetables of an Airflow 2 metadata database's DAGs whose serialized DAG changed since
-- pipewatch last read it (a dag_hash it has not seen): the serialized timetable (NULL where
-- the DAG was given a preset or a timedelta, which Airflow 2 serializes as schedule_interval),
-- the DAG's time zone, start and end dates. A serialized DAG stored only compressed
-- (data_compressed, [core] compress_serialized_dags) gives its hash and compressed = true.
-- Shape read by sql/catalog/merge_dags.sql ($5).
-- Grain: one row. Params: $1 text[] the DAG ids pipewatch has a dag_hash for, $2 text[] those
-- hashes (same order).
-- Runs against the Airflow metadata database (read-only session).
WITH known AS (
    SELECT k.dag_id, k.dag_hash
    FROM unnest($1::text[], $2::text[]) AS k(dag_id, dag_hash)
),
changed AS (
    SELECT s.dag_id, s.dag_hash, s.data::jsonb -> 'dag' AS dag
    FROM serialized_dag AS s
    LEFT JOIN known AS k ON k.dag_id = s.dag_id
    WHERE k.dag_hash IS DISTINCT FROM s.dag_hash
)
SELECT coalesce(jsonb_agg(jsonb_build_object(
           'dag_id', c.dag_id,
           'dag_hash', c.dag_hash,
           'compressed', c.dag IS NULL,
           'timetable', c.dag -> 'timetable',
           'time_zone', c.dag ->> 'timezone',
           'start_date', CASE WHEN jsonb_typeof(c.dag -> 'start_date') = 'number'
                              THEN to_timestamp((c.dag ->> 'start_date')::double precision) END,
           'end_date', CASE WHEN jsonb_typeof(c.dag -> 'end_date') = 'number'
                            THEN to_timestamp((c.dag ->> 'end_date')::double precision) END)),
           '[]'::jsonb)::text
           AS timetables
FROM changed AS c
