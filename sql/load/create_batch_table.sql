-- The transaction's copy of one extract, with the extract's CSV columns, dropped at commit.
-- Grain: one row per DAG run in the extract. Params: none.
CREATE TEMPORARY TABLE dag_run_extract_batch (
    airflow_instance      text,
    airflow_major_version smallint,
    id                    integer,
    dag_id                varchar(250),
    run_id                varchar(250),
    execution_date        timestamptz,
    run_after             timestamptz,
    state                 varchar(250),
    run_type              varchar(50),
    external_trigger      boolean,
    queued_at             timestamptz,
    start_date            timestamptz,
    end_date              timestamptz,
    data_interval_start   timestamptz,
    data_interval_end     timestamptz,
    clear_number          integer,
    dag_version           text,
    source_updated_at     timestamptz,
    source_read_at        timestamptz
) ON COMMIT DROP
