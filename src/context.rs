//! The run context: what identifies one pipewatch invocation.
//!
//! Every invocation gets a run id (a time-ordered UUID v7). It is in every log line (the root
//! span carries it) and in every row the invocation writes (`loaded_by_run_id`,
//! `pipewatch_run_log.run_id`, `validation_run_history.run_id`), so an invocation's effects can
//! be traced together.

use uuid::Uuid;

/// Version of this binary, recorded with each stage it runs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What identifies one invocation.
#[derive(Debug, Clone)]
pub struct RunContext {
    /// The invocation's run id.
    pub run_id: Uuid,
    /// The subcommand invoked (`run`, `migrate`, ...).
    pub command: &'static str,
    /// The host it runs on, when known.
    pub hostname: Option<String>,
}

impl RunContext {
    /// A new context with a fresh run id.
    pub fn new(command: &'static str) -> Self {
        RunContext {
            run_id: Uuid::now_v7(),
            command,
            hostname: hostname(),
        }
    }
}

fn hostname() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}
