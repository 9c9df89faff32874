"""The book's pipeline-performance DAG (Data Pipelines Pocket Reference, chapter 10), running
pipewatch: extract Airflow's DAG runs, load them into the warehouse, then compute the daily
models (DAG success and runtime, validation pass rates).

pipewatch must be on the PATH of the Airflow workers, with its configuration at
/etc/pipewatch/pipeline.conf (or set PIPEWATCH_CONFIG below). Exit codes reach Airflow as task
outcomes: 0 succeeds; 4 (another pipewatch holds the run lock) fails the task, which the next
schedule or a retry catches up; 2 (configuration) and 3 (error) fail it with pipewatch's one-line
message in the task log.

Imports work on Airflow 2.x (2.4 and newer) and Airflow 3.x.
"""

from datetime import datetime, timedelta, timezone

try:  # Airflow 3: the task SDK and the standard provider.
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

try:
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2 without the standard provider
    from airflow.operators.bash import BashOperator

PIPEWATCH = "pipewatch --log-format json"
ENV = {"PIPEWATCH_CONFIG": "/etc/pipewatch/pipeline.conf"}

with DAG(
    dag_id="pipeline_performance",
    description="Copy Airflow DAG-run history into the warehouse and compute pipeline performance",
    schedule=timedelta(hours=1),
    start_date=datetime(2025, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    max_active_runs=1,
    default_args={"retries": 1, "retry_delay": timedelta(minutes=5)},
    tags=["pipewatch", "data-quality"],
) as dag:
    extract_airflow_data = BashOperator(
        task_id="extract_airflow_data",
        bash_command=f"{PIPEWATCH} extract",
        env=ENV,
        append_env=True,
    )
    load_airflow_data = BashOperator(
        task_id="load_airflow_data",
        bash_command=f"{PIPEWATCH} load",
        env=ENV,
        append_env=True,
    )
    # The book has one task per model; pipewatch recomputes both families of models (DAG
    # history and validation history) for the days that changed in one transaction, so one task
    # does both and a dashboard never sees one updated without the other.
    dag_and_validator_history_models = BashOperator(
        task_id="dag_and_validator_history_models",
        bash_command=f"{PIPEWATCH} transform",
        env=ENV,
        append_env=True,
    )

    extract_airflow_data >> load_airflow_data >> dag_and_validator_history_models
