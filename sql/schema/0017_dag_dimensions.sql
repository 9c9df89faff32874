-- Migration 0017: owners and tags as dimensions of every DAG-level model and view, joined from
-- the DAG catalogue (as last read), never copied into history rows: a DAG that changes owner
-- moves with its whole history, as a dashboard filtered by team expects.
-- dag_dimensions is the join (one row per DAG pipewatch has catalogued); dag_matches says
-- whether a DAG has one of some owners and one of some tags, '__all__' standing for any (what
-- the Grafana dashboard's owner and tag variables send for "All"; a DAG without a catalogue row
-- matches only "All").
-- Grain: dag_dimensions one row per (airflow_instance, dag_id) of dag_catalog; dag_matches one
-- boolean. Params: none. Applied with search_path set to pipewatch's schema.

CREATE VIEW dag_dimensions AS
SELECT airflow_instance,
       dag_id::text AS dag_id,
       owners,
       tags,
       is_paused,
       is_stale,
       schedule,
       in_airflow
FROM dag_catalog;

COMMENT ON VIEW dag_dimensions IS
    'Each catalogued DAG''s owners and tags (and paused, stale, schedule, whether Airflow still has it), as the last catalogue reading found them: join it to any DAG-level model on (airflow_instance, dag_id). Example: SELECT unnest(d.owners) AS owner, avg(s.success_rate) FROM dag_success_daily s JOIN dag_dimensions d USING (airflow_instance, dag_id) GROUP BY 1.';
COMMENT ON COLUMN dag_dimensions.airflow_instance IS 'The Airflow installation.';
COMMENT ON COLUMN dag_dimensions.dag_id IS 'The DAG''s id.';
COMMENT ON COLUMN dag_dimensions.owners IS 'The DAG''s owners (dag_catalog.owners).';
COMMENT ON COLUMN dag_dimensions.tags IS 'The DAG''s tags (dag_catalog.tags).';
COMMENT ON COLUMN dag_dimensions.is_paused IS 'Whether the DAG is paused.';
COMMENT ON COLUMN dag_dimensions.is_stale IS 'Whether the DAG processor no longer finds it.';
COMMENT ON COLUMN dag_dimensions.schedule IS 'Its schedule as Airflow summarises it.';
COMMENT ON COLUMN dag_dimensions.in_airflow IS 'Whether Airflow still has it.';

CREATE FUNCTION dag_matches(p_instance text, p_dag_id text, p_owners text[], p_tags text[])
RETURNS boolean
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
    SELECT ('__all__' = ANY (p_owners) OR EXISTS (
                SELECT 1 FROM dag_catalog AS c
                WHERE c.airflow_instance = p_instance AND c.dag_id = p_dag_id
                  AND c.owners && p_owners))
       AND ('__all__' = ANY (p_tags) OR EXISTS (
                SELECT 1 FROM dag_catalog AS c
                WHERE c.airflow_instance = p_instance AND c.dag_id = p_dag_id
                  AND c.tags && p_tags))
$$;

COMMENT ON FUNCTION dag_matches(text, text, text[], text[]) IS
    'Whether the DAG has one of p_owners and one of p_tags in dag_catalog; ''__all__'' in either array matches any DAG (the dashboard''s "All").';
