//! The bulk first load: when a history table is empty, its indexes are dropped in the load's
//! transaction, the COPY goes into the bare table, and the indexes are built once afterwards and
//! the table analyzed. Nothing is dropped unless the whole load commits.

use std::time::Instant;

use tokio_postgres::Transaction;

use super::error::{LoadError, sql_error};

const BULK_INDEX_STATEMENTS_SQL: &str = include_str!("../../sql/load/bulk_index_statements.sql");

/// Drops every index of the empty history `table` in the load's transaction, returning the
/// statements that build them again (see sql/load/bulk_index_statements.sql); none when the
/// table cannot take the bulk path. Nothing is dropped unless the whole load commits.
pub(super) async fn drop_indexes(
    tx: &Transaction<'_>,
    table: &str,
    key: &str,
) -> Result<Vec<String>, LoadError> {
    let rows = tx
        .query(BULK_INDEX_STATEMENTS_SQL, &[&table])
        .await
        .map_err(sql_error(
            key,
            "list the indexes to build after the bulk load",
        ))?;
    let mut rebuild = Vec::with_capacity(rows.len());
    for row in rows {
        tx.batch_execute(row.get("drop_sql"))
            .await
            .map_err(sql_error(key, "drop the indexes for the bulk load"))?;
        rebuild.push(row.get("create_sql"));
    }
    Ok(rebuild)
}

/// Builds the indexes of `table` again with the statements [`drop_indexes`] returned, and
/// analyzes the table (`analyze`), in the load's transaction.
pub(super) async fn rebuild_indexes(
    tx: &Transaction<'_>,
    table: &str,
    analyze: &str,
    rebuild: &[String],
    key: &str,
) -> Result<(), LoadError> {
    let started = Instant::now();
    for statements in rebuild {
        tx.batch_execute(statements).await.map_err(sql_error(
            key,
            "build the indexes again after the bulk load",
        ))?;
    }
    tx.batch_execute(analyze)
        .await
        .map_err(sql_error(key, "analyze the table after the bulk load"))?;
    tracing::debug!(
        table,
        indexes = rebuild.len(),
        seconds = started.elapsed().as_secs_f64(),
        "Built the indexes and analyzed the table after the bulk load."
    );
    Ok(())
}
