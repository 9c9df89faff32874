-- The rule subjects an evaluation must record even when they did not breach: those with
-- breaches counted (alert_state.consecutive_breaches > 0) and those with an open alert. A
-- subject with neither that did not breach has nothing to reset or resolve, so the ledger
-- leaves it alone (at 10,000 DAGs, 20,000 statements an evaluation fewer).
-- Grain: one row per (rule, airflow_instance, subject). Params: none.
SELECT rule, airflow_instance, subject FROM alert_state WHERE consecutive_breaches > 0
UNION
SELECT rule, airflow_instance, subject FROM alert_history WHERE resolved_at IS NULL
