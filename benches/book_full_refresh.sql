-- The book's transform of DAG-run history (Data Pipelines Pocket Reference, chapter 10), the
-- reference for pipewatch's full refresh in scripts/bench: its one table dag_history_daily,
-- emptied and filled again by one INSERT ... SELECT over all of dag_run_history (the day is the
-- logical date cast to a date in the session's time zone; runtime summed per group).
-- Grain: one row per (day, dag_id, state). Params: psql variables schema (where pipewatch's
-- dag_run_history is) and book (a schema for the book's table, created here).
CREATE SCHEMA IF NOT EXISTS :book;
CREATE TABLE IF NOT EXISTS :book.dag_history_daily (
    execution_date  date,
    dag_id          varchar(250),
    dag_state       varchar(250),
    runtime_seconds numeric(12, 4),
    dag_run_count   integer
);
BEGIN;
TRUNCATE TABLE :book.dag_history_daily;
INSERT INTO :book.dag_history_daily (execution_date, dag_id, dag_state, runtime_seconds, dag_run_count)
SELECT CAST(execution_date AS date), dag_id, state,
       sum(extract(epoch FROM end_date - start_date)), count(*)
FROM :schema.dag_run_history
GROUP BY CAST(execution_date AS date), dag_id, state;
COMMIT;
