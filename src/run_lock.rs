//! Overlap safety: one pipewatch invocation at a time moves DAG runs or recomputes models in a
//! warehouse schema.
//!
//! `run`, `extract`, `load`, `transform` and `backfill` take a session-level PostgreSQL
//! advisory lock on the warehouse connection they work with, before anything else. A second
//! invocation polls for it once a second for up to `[warehouse] lock_wait_seconds`, then gives
//! up with its own exit code (4) and a message naming the holder. The lock belongs to the
//! database session: when a holder exits or is killed, PostgreSQL releases it, so no stale lock
//! is ever left. `validate` and `reconcile` do not take it: validation results are only
//! appended, and reconcile only reads.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::config::Identifier;
use crate::db;

const TRY_LOCK_SQL: &str = include_str!("../sql/run_lock/try_lock.sql");
const HOLDER_SQL: &str = include_str!("../sql/run_lock/holder.sql");

/// The lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another invocation held it for the whole wait.
    #[error(
        "another pipewatch invocation is working on warehouse schema {schema} ({holder}); waited {waited_seconds} s ([warehouse] lock_wait_seconds): nothing was done, try again later"
    )]
    Busy {
        /// The schema.
        schema: String,
        /// Who holds it.
        holder: String,
        /// How long this invocation waited.
        waited_seconds: u64,
    },
    /// A lock query failed.
    #[error("could not take the run lock of warehouse schema {schema}: {detail}")]
    Sql {
        /// The schema.
        schema: String,
        /// The server's message.
        detail: String,
    },
}

/// Takes the run lock of `schema` on `client`'s session, waiting up to `wait`.
pub async fn acquire(
    client: &Client,
    schema: &Identifier,
    wait: Duration,
) -> Result<(), LockError> {
    let started = Instant::now();
    let sql_error = |e: tokio_postgres::Error| LockError::Sql {
        schema: schema.to_string(),
        detail: db::describe(&e),
    };
    let mut told = false;
    loop {
        let taken: bool = client
            .query_one(TRY_LOCK_SQL, &[&schema.as_str()])
            .await
            .map_err(sql_error)?
            .get(0);
        if taken {
            return Ok(());
        }
        if started.elapsed() >= wait {
            return Err(LockError::Busy {
                schema: schema.to_string(),
                holder: holder(client, schema)
                    .await
                    .unwrap_or_else(|| "holder unknown".into()),
                waited_seconds: started.elapsed().as_secs(),
            });
        }
        if !told {
            tracing::info!(
                schema = schema.as_str(),
                wait_seconds = wait.as_secs(),
                "Another pipewatch invocation holds the run lock; waiting."
            );
            told = true;
        }
        tokio::time::sleep(
            Duration::from_secs(1)
                .min(wait.saturating_sub(started.elapsed()))
                .max(Duration::from_millis(50)),
        )
        .await;
    }
}

/// Describes who holds the run lock of `schema`, if anyone.
pub async fn holder(client: &Client, schema: &Identifier) -> Option<String> {
    let row = client
        .query_opt(HOLDER_SQL, &[&schema.as_str()])
        .await
        .ok()??;
    let pid: i32 = row.get("pid");
    let app: Option<String> = row.get("application_name");
    let since: Option<chrono::DateTime<chrono::Utc>> = row.get("backend_start");
    Some(format!(
        "{}, server pid {pid}, connected since {}",
        app.unwrap_or_else(|| "unknown".into()),
        since.map(|s| s.to_rfc3339()).unwrap_or_else(|| "?".into())
    ))
}
