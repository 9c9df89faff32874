//! `pipewatch migrate`: creates pipewatch's schema and tables, or applies the migrations a
//! newer pipewatch brings (the migrations themselves are in `crate::migrate`). Prints one line:
//! what it applied, or that the schema is up to date; each applied migration is also logged.

use std::fmt;

use super::Report;
use crate::config::Settings;
use crate::context::RunContext;
use crate::db::{self, Role};
use crate::format::plural;
use crate::migrate::{self, MigrateError, MigrateReport};

impl fmt::Display for MigrateReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let total = self.already_applied + self.applied_now.len();
        if self.applied_now.is_empty() {
            writeln!(
                f,
                "Warehouse schema {} is up to date ({}).",
                self.schema,
                plural(total as u64, "migration applied", "migrations applied")
            )
        } else {
            writeln!(
                f,
                "Warehouse schema {}: applied {} ({}); {} in all.",
                self.schema,
                plural(self.applied_now.len() as u64, "migration", "migrations"),
                self.applied_now.join(", "),
                plural(total as u64, "migration", "migrations")
            )
        }
    }
}

impl Report for MigrateReport {}

/// Applies the pending migrations, recording the stage even when none was pending.
pub async fn run(settings: &Settings, ctx: &RunContext) -> Result<MigrateReport, MigrateError> {
    let mut client = db::connect(&settings.warehouse, Role::Warehouse, ctx.run_id).await?;
    migrate::apply(&mut client, &settings.warehouse.schema, ctx, true).await
}
