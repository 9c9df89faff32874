-- The timetables of an Airflow 3 metadata database's DAGs whose newest serialized DAG changed
-- since pipewatch last read it (a dag_hash it has not seen): the serialized timetable, the
-- DAG's time zone, start and end dates. Airflow 3 keeps a serialized DAG per DAG version; the
-- newest (last_updated) is the one the scheduler uses. A serialized DAG stored only compressed
-- (data_compressed, [core] compress_serialized_dags) gives its hash and compressed = true.
-- Shape read by sql/catalog/merge_dags.sql ($5).
-- Grain: one row. Params: $1 text[] the DAG ids pipewatch has a dag_hash for, $2 text[] those
-- hashes (same order).
-- Runs against the Airflow metadata database (read-only session).
WITH known AS (
    SELECT k.dag_id, k.dag_hash
    FROM unnest($1::text[], $2::text[]) AS k(dag_id, dag_hash)
),
newest AS (
    -- Without the (wide) data: it is read below for the changed DAGs only.
    SELECT DISTINCT ON (s.dag_id) s.id, s.dag_id, s.dag_hash
    FROM serialized_dag AS s
    ORDER BY s.dag_id, s.last_updated DESC, s.created_at DESC
),
changed AS (
    SELECT n.dag_id, n.dag_hash, s.data::jsonb -> 'dag' AS dag
    FROM newest AS n
    JOIN serialized_dag AS s ON s.id = n.id
    LEFT JOIN known AS k ON k.dag_id = n.dag_id
    WHERE k.dag_hash IS DISTINCT FROM n.dag_hash
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
