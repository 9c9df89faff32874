-- The transaction's copy of one task-instance extract, with its CSV columns, dropped at commit.
-- Grain: one row per task try in the extract. Params: none.
CREATE TEMPORARY TABLE task_instance_extract_batch (
    airflow_instance      text,
    airflow_major_version smallint,
    dag_id                text,
    run_id                text,
    task_id               text,
    map_index             integer,
    try_number            integer,
    state                 text,
    start_date            timestamptz,
    end_date              timestamptz,
    queued_at             timestamptz,
    scheduled_at          timestamptz,
    pool                  text,
    pool_slots            integer,
    queue                 text,
    operator              text,
    hostname              text,
    max_tries             integer,
    dag_version           text,
    from_history          boolean,
    source_updated_at     timestamptz,
    source_read_at        timestamptz
) ON COMMIT DROP
