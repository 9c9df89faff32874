"""The book's pipeline-performance DAG (Data Pipelines Pocket Reference, chapter 10), running
pipewatch: extract Airflow's DAG runs, load them into the warehouse, compute the daily models
(DAG success and runtime, task and delay figures, validation pass rates) and judge the
[alerts] rules on them (the transform does both when [alerts] is set, as `pipewatch run` does),
then, side by side: delete what is past retention, check that no finished run was lost
(reconcile), and run the validation suite on what was loaded.

pipewatch must be installed on every Airflow worker: `pip install pipewatch-<version>-*.whl`
into the workers' Python environment (the README's Install section) puts it beside that
environment's python, where this file finds it; otherwise it is called at
/usr/local/bin/pipewatch (a binary copied into the worker image). Its configuration is read from
/etc/pipewatch/pipeline.conf (or set PIPEWATCH_CONFIG in ENV below).
The three paths below can also be set by environment variables of the DAG processor
(PIPEWATCH_BIN, PIPEWATCH_CONFIG, PIPEWATCH_VALIDATION_SUITE), read when the file is parsed.

The extract and load tasks may run on different workers: the extract's staged object must be
where the load can read it. Use an S3 stage ([staging] backend = s3) with more than one worker
(CeleryExecutor, KubernetesExecutor); a local stage works only when every task runs on one host
(LocalExecutor, a single worker), and a load on another host fails saying the object is not in
its local stage. Or run the whole job as one task: `pipewatch run` (extract, load, transform,
alerts and retention on one host).

Exit codes reach Airflow as task outcomes: 0 succeeds; 1 fails the task when reconcile finds a
lost run or a `halt` validation test fails (look at the task log); 4 (another pipewatch holds
the run lock) fails the task, which the next schedule or a retry catches up; 2 (configuration)
and 3 (error) fail it with pipewatch's one-line message in the task log. Logs are JSON lines,
each with pipewatch's run id.

Imports work on Airflow 2.x (2.4 and newer) and Airflow 3.x.
"""

import os
import sys
import sysconfig
from datetime import datetime, timedelta, timezone

try:  # Airflow 3: the task SDK and the standard provider.
    from airflow.sdk import DAG
except ImportError:  # Airflow 2
    from airflow import DAG

try:
    from airflow.providers.standard.operators.bash import BashOperator
except ImportError:  # Airflow 2 without the standard provider
    from airflow.operators.bash import BashOperator


def _installed_pipewatch():
    """The pipewatch the wheel put into this Python environment, else /usr/local/bin/pipewatch.

    Workers run tasks without your shell's PATH, so the binary is called by its full path: the
    one beside the worker's python (sys.executable; pip puts a wheel's commands there in a venv),
    or in this environment's scripts folder, else the system-wide install. This file is parsed
    again on the worker that runs a task, so the path is the worker's own.
    """
    for folder in (os.path.dirname(sys.executable), sysconfig.get_path("scripts")):
        candidate = os.path.join(folder or "", "pipewatch")
        if folder and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return "/usr/local/bin/pipewatch"


PIPEWATCH_BIN = os.environ.get("PIPEWATCH_BIN") or _installed_pipewatch()
PIPEWATCH = f"{PIPEWATCH_BIN} --log-format json"
ENV = {"PIPEWATCH_CONFIG": os.environ.get("PIPEWATCH_CONFIG", "/etc/pipewatch/pipeline.conf")}
# The validation suite (see examples/validation/suite.ini); its scripts sit beside it.
VALIDATION_SUITE = os.environ.get(
    "PIPEWATCH_VALIDATION_SUITE", "/etc/pipewatch/validation/suite.ini"
)


def pipewatch_task(task_id, arguments, **kwargs):
    return BashOperator(
        task_id=task_id,
        bash_command=f"{PIPEWATCH} {arguments}",
        env=ENV,
        append_env=True,
        **kwargs,
    )


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
    extract_airflow_data = pipewatch_task("extract_airflow_data", "extract")
    load_airflow_data = pipewatch_task("load_airflow_data", "load")
    # The book has one task per model; pipewatch recomputes both families of models (DAG
    # history and validation history) for the days that changed in one transaction, so one task
    # does both and a dashboard never sees one updated without the other. With [alerts] set, the
    # same task then judges the alert rules on the new figures and posts their notices.
    dag_and_validator_history_models = pipewatch_task(
        "dag_and_validator_history_models", "transform"
    )
    # Loaded extract objects and run-log rows past [retention]; pending extracts are kept.
    apply_retention = pipewatch_task("apply_retention", "retention")
    # Were finished runs lost between Airflow and the warehouse over the last two days? A
    # difference fails this task (exit 1) without retries: re-running does not repair it.
    reconcile_with_airflow = pipewatch_task(
        "reconcile_with_airflow", "reconcile --days 2", retries=0
    )
    # The data-quality checks of chapter 8 on what was loaded; a failed halt test fails the task.
    # BashOperator exports the task's context (AIRFLOW_CTX_DAG_ID, AIRFLOW_CTX_TASK_ID,
    # AIRFLOW_CTX_DAG_RUN_ID, AIRFLOW_CTX_TRY_NUMBER), which pipewatch records with every
    # result: validation_run_history.airflow_dag_id/_task_id/_run_id/_try_number tie it to this
    # run, failure notices name the run, and the view silent_validation_failure lists the runs
    # of this DAG that succeeded while one of their tests failed (a warn test, say):
    #   SELECT dag_id, run_id, test_name, script_1_value, script_2_value
    #   FROM pipewatch.silent_validation_failure ORDER BY test_run_at DESC;
    validate_warehouse = pipewatch_task(
        "validate_warehouse", f"validate --suite {VALIDATION_SUITE}", retries=0
    )

    extract_airflow_data >> load_airflow_data >> dag_and_validator_history_models
    dag_and_validator_history_models >> [
        apply_retention,
        reconcile_with_airflow,
        validate_warehouse,
    ]
