-- Migration 0023: two indexes for reading a few DAGs among many (issue 29's metrics). First, a
-- DAG's recent days of dag_delay_daily found by DAG. The schedule status view
-- (dag_schedule_status: status, the report, alerts, the Prometheus metrics) reads each DAG's
-- median scheduling delay over its last 7 days; the table's key (airflow_instance, day, dag_id)
-- made that a scan of every DAG's rows for those days: 3.4 ms a DAG, 1.7 s for the 500 DAGs of
-- the metrics at 10,000 DAGs (scripts/bench metrics).
-- Grain: one index entry per row of dag_delay_daily, and per row of dag_success_daily with a
-- failed run. Params: none. Applied with search_path set to pipewatch's schema.
CREATE INDEX dag_delay_daily_dag_day_idx ON dag_delay_daily (airflow_instance, dag_id, day);

-- The DAG-days with a failed run, by day: the metrics for Prometheus find the DAGs that failed in
-- the last 7 days from these alone (a few percent of the rows in a healthy fleet) instead of
-- reading every DAG's days.
CREATE INDEX dag_success_daily_failed_idx ON dag_success_daily (day)
    INCLUDE (airflow_instance, dag_id) WHERE failed_runs > 0;
