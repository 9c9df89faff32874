//! Opening PostgreSQL connections, with the session settings pinned at connect time.
//!
//! Every connection pipewatch opens goes through [`connect`], so that every session has
//! `TimeZone=UTC` (results never depend on a server or role default), `application_name` naming
//! pipewatch and its run id (visible in `pg_stat_activity`), and the configured statement timeout.
//! Warehouse sessions get `search_path` set to pipewatch's schema, so the SQL files in `sql/` use
//! unqualified names; Airflow sessions are read-only (`default_transaction_read_only=on`), so a
//! bug in pipewatch can never write to Airflow's database.

use std::time::Duration;

use tokio_postgres::error::SqlState;
use tokio_postgres::{Client, NoTls};
use uuid::Uuid;

use crate::config::{PostgresSettings, SslMode};
use crate::retry::{self, Transient};

mod tls;

/// Which database a connection is for; decides the session settings and the error hints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The warehouse: read-write, `search_path` set to pipewatch's schema.
    Warehouse,
    /// The warehouse for user-written SQL (validation scripts): the server's default
    /// `search_path`, read-only.
    WarehouseUserSql,
    /// An Airflow metadata database: read-only, default `search_path`.
    Airflow,
}

impl Role {
    fn label(self) -> &'static str {
        match self {
            Role::Warehouse | Role::WarehouseUserSql => "the warehouse",
            Role::Airflow => "the Airflow metadata database",
        }
    }
}

/// A connection that could not be opened.
#[derive(Debug, thiserror::Error)]
#[error("could not connect to {what} at {address} as user {user:?}: {detail}{hint}")]
pub struct ConnectError {
    what: &'static str,
    address: String,
    user: String,
    detail: String,
    hint: String,
    /// Whether trying again later may succeed (the server was unreachable, not a refusal).
    pub transient: bool,
}

/// Opens a connection to the database of `settings` for `role`, tagged with the invocation's
/// `run_id`, and drives it on the Tokio runtime. Transient failures (see [`ConnectError`]'s
/// `transient`) are retried as `settings.retry` says, each attempt logged; permanent ones
/// (authentication, a missing database) fail at once.
pub async fn connect(
    settings: &PostgresSettings,
    role: Role,
    run_id: Uuid,
) -> Result<Client, ConnectError> {
    retry::with_retry(&settings.retry, "Connection", async || {
        connect_once(settings, role, run_id).await
    })
    .await
}

impl Transient for ConnectError {
    fn is_transient(&self) -> bool {
        self.transient
    }
}

async fn connect_once(
    settings: &PostgresSettings,
    role: Role,
    run_id: Uuid,
) -> Result<Client, ConnectError> {
    let mut options = vec![
        "-c TimeZone=UTC".to_string(),
        format!(
            "-c statement_timeout={}",
            settings.statement_timeout_seconds * 1000
        ),
    ];
    // The schema name is a validated identifier (letters, digits, underscores): safe unquoted.
    let search_path = format!("-c search_path={}", settings.schema.as_str());
    let read_only = "-c default_transaction_read_only=on".to_string();
    match role {
        Role::Warehouse => options.push(search_path),
        Role::WarehouseUserSql => options.push(read_only),
        Role::Airflow => options.extend([search_path, read_only]),
    }
    let mut config = tokio_postgres::Config::new();
    config
        .host(&settings.host)
        .port(settings.port)
        .user(&settings.username)
        .dbname(&settings.database)
        .application_name(format!("pipewatch {run_id}"))
        .connect_timeout(Duration::from_secs(settings.connect_timeout_seconds))
        .options(options.join(" "));
    if !settings.password.is_empty() {
        config.password(settings.password.expose());
    }
    let client =
        match tls::connector(&settings.tls).map_err(|e| tls_setup_error(settings, role, e))? {
            None => {
                config.ssl_mode(tokio_postgres::config::SslMode::Disable);
                let (client, connection) = config
                    .connect(NoTls)
                    .await
                    .map_err(|e| connect_error(settings, role, &e))?;
                tokio::spawn(drive(connection));
                client
            }
            Some(connector) => {
                config.ssl_mode(match settings.tls.mode {
                    SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
                    _ => tokio_postgres::config::SslMode::Require,
                });
                let (client, connection) = config
                    .connect(connector)
                    .await
                    .map_err(|e| connect_error(settings, role, &e))?;
                tokio::spawn(drive(connection));
                client
            }
        };
    Ok(client)
}

async fn drive<F: std::future::Future<Output = Result<(), tokio_postgres::Error>>>(connection: F) {
    if let Err(e) = connection.await {
        tracing::warn!(error = %e, "PostgreSQL connection closed with an error.");
    }
}

fn tls_setup_error(
    settings: &PostgresSettings,
    role: Role,
    error: tls::TlsSetupError,
) -> ConnectError {
    ConnectError {
        what: role.label(),
        address: settings.address(),
        user: settings.username.clone(),
        detail: error.to_string(),
        hint: format!(
            " (check [{}] sslrootcert, sslcert and sslkey)",
            settings.section
        ),
        transient: false,
    }
}

fn connect_error(
    settings: &PostgresSettings,
    role: Role,
    error: &tokio_postgres::Error,
) -> ConnectError {
    let section = &settings.section;
    let (detail, hint, transient) = match error.as_db_error() {
        Some(db) => {
            let hint = match *db.code() {
                SqlState::INVALID_PASSWORD => format!(
                    " (check [{section}] password or {})",
                    settings.env_var("password")
                ),
                SqlState::INVALID_AUTHORIZATION_SPECIFICATION => format!(
                    " (check [{section}] username and password, and the server's pg_hba.conf)"
                ),
                SqlState::INVALID_CATALOG_NAME => format!(" (check [{section}] database)"),
                SqlState::TOO_MANY_CONNECTIONS | SqlState::CANNOT_CONNECT_NOW => {
                    " (the server is busy or starting; try again)".to_string()
                }
                _ => String::new(),
            };
            let transient = matches!(
                *db.code(),
                SqlState::TOO_MANY_CONNECTIONS
                    | SqlState::CANNOT_CONNECT_NOW
                    | SqlState::ADMIN_SHUTDOWN
            );
            (db.message().to_string(), hint, transient)
        }
        None if error.to_string().contains("TLS") => {
            // The encryption failed: the server does not offer TLS, or its certificate did not
            // verify. Trying again will not change either.
            let text = error_chain(error);
            let hint = format!(
                " (check [{section}] sslmode ({}) and sslrootcert, or {}: the server must offer TLS, and for verify-ca/verify-full its certificate must chain to sslrootcert and, for verify-full, name the host)",
                settings.tls.mode.as_str(),
                settings.env_var("sslmode")
            );
            (text, hint, false)
        }
        None => {
            // Not a server answer: refused, unreachable, timed out, or closed during start-up.
            let text = error_chain(error);
            let hint = format!(
                " (is PostgreSQL running there? check [{section}] host and port, or {} and {})",
                settings.env_var("host"),
                settings.env_var("port")
            );
            (text, hint, true)
        }
    };
    ConnectError {
        what: role.label(),
        address: settings.address(),
        user: settings.username.clone(),
        detail,
        hint,
        transient,
    }
}

/// The error and its causes, joined with ": " (tokio-postgres' Display shows only the top).
pub fn error_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// A short description of a query error: the server's message, with detail and hint when it
/// gave them, or the client-side error chain.
pub fn describe(error: &tokio_postgres::Error) -> String {
    match error.as_db_error() {
        Some(db) => {
            let mut text = db.message().to_string();
            if let Some(detail) = db.detail() {
                text.push_str(&format!(" ({detail})"));
            }
            if let Some(hint) = db.hint() {
                text.push_str(&format!(" (hint: {hint})"));
            }
            text
        }
        None => error_chain(error),
    }
}

/// Whether a failed statement may succeed when its transaction is simply run again: a
/// serialization failure or a deadlock (PostgreSQL rolled the transaction back). The one place
/// that decides which statement errors are retried; connection failures are decided in
/// [`connect`].
pub fn is_retryable_statement_error(error: &tokio_postgres::Error) -> bool {
    matches!(
        error.code(),
        Some(&SqlState::T_R_SERIALIZATION_FAILURE) | Some(&SqlState::T_R_DEADLOCK_DETECTED)
    )
}

/// A statement that failed on the server or on the way to it. The error is kept whole (its SQL
/// state decides [`Transient`]); it displays as [`describe`] does, on one line, and has no
/// further source, so an error chain prints it once.
#[derive(Debug)]
pub struct SqlError(pub tokio_postgres::Error);

impl From<tokio_postgres::Error> for SqlError {
    fn from(error: tokio_postgres::Error) -> Self {
        SqlError(error)
    }
}

impl std::fmt::Display for SqlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&describe(&self.0))
    }
}

impl std::error::Error for SqlError {}

impl SqlError {
    /// Whether the statement failed because a table does not exist (not migrated yet).
    pub fn is_undefined_table(&self) -> bool {
        self.0.code() == Some(&tokio_postgres::error::SqlState::UNDEFINED_TABLE)
    }
}

impl Transient for SqlError {
    fn is_transient(&self) -> bool {
        is_retryable_statement_error(&self.0)
    }
}
