//! Retrying what failed transiently, written once: bounded exponential backoff as `[retry]`
//! says, each retry logged with its attempt and wait.
//!
//! What counts as transient is decided by the error type ([`Transient`]): a connection refused,
//! reset or timed out, a server starting or shutting down (`db::ConnectError`), or a
//! transaction PostgreSQL rolled back for a serialization failure or a deadlock
//! (`db::SqlError`). Permanent failures (authentication, a missing table, bad SQL, a wrong
//! object) are returned at once. S3 requests are retried by the SDK itself, with the same budget.

use std::fmt::Display;

use crate::config::RetrySettings;

/// An error that knows whether trying again may succeed.
pub trait Transient {
    /// Whether the same operation, run again later, may succeed.
    fn is_transient(&self) -> bool;
}

/// Runs `operation` until it succeeds, fails permanently, or `policy.attempts` are used up.
/// `what` names the operation in the log line of each retry (`"Connection"`, `"Load"`).
pub async fn with_retry<T, E>(
    policy: &RetrySettings,
    what: &str,
    mut operation: impl AsyncFnMut() -> Result<T, E>,
) -> Result<T, E>
where
    E: Transient + Display,
{
    let mut attempt = 1;
    loop {
        match operation().await {
            Err(e) if e.is_transient() && attempt < policy.attempts => {
                attempt += 1;
                let wait = policy.backoff(attempt);
                tracing::warn!(
                    attempt,
                    max_attempts = policy.attempts,
                    wait_seconds = wait.as_secs(),
                    error = %e,
                    "{what} failed; retrying."
                );
                tokio::time::sleep(wait).await;
            }
            result => return result,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Failure(bool);
    impl Transient for Failure {
        fn is_transient(&self) -> bool {
            self.0
        }
    }
    impl Display for Failure {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "transient: {}", self.0)
        }
    }

    fn policy(attempts: u64) -> RetrySettings {
        RetrySettings {
            attempts,
            initial_backoff_seconds: 0,
            max_backoff_seconds: 0,
        }
    }

    #[tokio::test]
    async fn retries_transient_failures_up_to_the_budget() {
        let mut calls = 0;
        let result: Result<(), Failure> = with_retry(&policy(3), "Probe", async || {
            calls += 1;
            Err(Failure(true))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 3);
    }

    #[tokio::test]
    async fn stops_at_the_first_success_or_permanent_failure() {
        let mut calls = 0;
        let result = with_retry(&policy(5), "Probe", async || {
            calls += 1;
            if calls < 2 {
                Err(Failure(true))
            } else {
                Ok(calls)
            }
        })
        .await;
        assert_eq!(result.unwrap(), 2);
        let mut calls = 0;
        let result: Result<(), Failure> = with_retry(&policy(5), "Probe", async || {
            calls += 1;
            Err(Failure(false))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls, 1);
    }
}
