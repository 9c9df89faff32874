//! `pipewatch migrate`: creates pipewatch's schema and tables, or applies the migrations a
//! newer pipewatch brings (the migrations themselves are in `crate::migrate`). Prints nothing;
//! each applied migration is logged.

use std::fmt;

use super::Report;
use crate::config::Settings;
use crate::context::RunContext;
use crate::db::{self, Role};
use crate::migrate::{self, MigrateError, MigrateReport};

impl fmt::Display for MigrateReport {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        Ok(())
    }
}

impl Report for MigrateReport {}

/// Applies the pending migrations, recording the stage even when none was pending.
pub async fn run(settings: &Settings, ctx: &RunContext) -> Result<MigrateReport, MigrateError> {
    let mut client = db::connect(&settings.warehouse, Role::Warehouse, ctx.run_id).await?;
    migrate::apply(&mut client, &settings.warehouse.schema, ctx, true).await
}
