//! Copying one staged object into its table: the binary COPY (load/binary.rs) under a
//! savepoint, the CSV COPY it falls back to, the header check, and, when the warehouse refuses a
//! value, the error naming the row by its key columns read again from the object.

use bytes::BytesMut;
use futures_util::SinkExt;
use tokio_postgres::Transaction;

use super::binary;
use super::error::{LoadError, is_data_error, sql_error};
use crate::source::ObjectKind;
use crate::stage::{ObjectReader, ObjectStore};

/// Turns a COPY failure on a value (PostgreSQL says `COPY <table>, line N, column C: ...`) into
/// [`LoadError::Value`], naming the row by its key columns, read again from the object.
pub(super) async fn name_the_value<T>(
    result: Result<T, LoadError>,
    store: &ObjectStore,
    key: &str,
    kind: ObjectKind,
) -> Result<T, LoadError> {
    let error = match result {
        Ok(value) => return Ok(value),
        Err(error) => error,
    };
    let LoadError::Sql { source, .. } = &error else {
        return Err(error);
    };
    let Some(db) = source.0.as_db_error() else {
        return Err(error);
    };
    let Some((line, column)) = db.where_().and_then(copy_position) else {
        return Err(error);
    };
    let row = match row_at(store, key, kind, line).await {
        Some(row) => row,
        None => "row not found again in the object".to_string(),
    };
    Err(LoadError::Value {
        object: key.to_string(),
        line,
        row,
        column,
        detail: db.message().to_string(),
    })
}

/// `(line, column)` of PostgreSQL's COPY context `COPY t, line 3, column dag_id: "..."`.
pub(super) fn copy_position(context: &str) -> Option<(u64, String)> {
    let after_line = &context[context.find(", line ")? + ", line ".len()..];
    let digits: String = after_line
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    let line = digits.parse().ok()?;
    let column = after_line[digits.len()..]
        .strip_prefix(", column ")
        .map(|rest| {
            rest.split([':', ','])
                .next()
                .unwrap_or(rest)
                .trim()
                .to_string()
        })
        .unwrap_or_else(|| "row".to_string());
    Some((line, column))
}

/// The key columns of the object's `line` (1 is the header), read again from the stage.
pub(super) async fn row_at(
    store: &ObjectStore,
    key: &str,
    kind: ObjectKind,
    line: u64,
) -> Option<String> {
    let mut reader = store.open(key).await.ok()?;
    let mut bytes = Vec::new();
    let mut lines = 0u64;
    // Read up to the line (and a little past it), never the whole object.
    while lines <= line {
        match reader.next_chunk().await.ok()? {
            Some(chunk) => {
                lines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
                bytes.extend_from_slice(&chunk);
            }
            None => break,
        }
    }
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(bytes.as_slice());
    let header = csv.headers().ok()?.clone();
    let record = csv
        .records()
        .nth(usize::try_from(line).ok()?.checked_sub(2)?)?
        .ok()?;
    let keys: &[&str] = match kind {
        ObjectKind::DagRuns => &["dag_id", "run_id"],
        ObjectKind::TaskInstances => &["dag_id", "run_id", "task_id", "map_index", "try_number"],
    };
    let named: Vec<String> = keys
        .iter()
        .filter_map(|k| {
            let i = header.iter().position(|h| h == *k)?;
            Some(format!("{k}={:?}", record.get(i)?))
        })
        .collect();
    (!named.is_empty()).then(|| named.join(", "))
}

/// Copies one staged object into its table with `copy` (the binary COPY, and the CSV COPY it
/// falls back to), checking its header against `kind` before anything is sent; returns the rows
/// copied. The binary COPY runs under a savepoint: when pipewatch cannot convert a record, or
/// the warehouse refuses a value, it is rolled back and the object copied again as CSV, so
/// PostgreSQL itself reads every value and names the one it refuses (see load/binary.rs).
pub(super) async fn copy_object(
    tx: &mut Transaction<'_>,
    (copy_binary, copy_csv): (&str, &str),
    store: Option<&ObjectStore>,
    key: &str,
    reader: &mut ObjectReader,
    kind: ObjectKind,
) -> Result<u64, LoadError> {
    let sql_error = |step: &'static str| sql_error(key, step);
    let savepoint = tx
        .savepoint("pipewatch_binary_copy")
        .await
        .map_err(sql_error("set a savepoint"))?;
    let why = match binary::copy(&savepoint, copy_binary, reader, kind).await {
        Ok(rows) => {
            savepoint
                .commit()
                .await
                .map_err(sql_error("release the savepoint"))?;
            return Ok(rows);
        }
        Err(binary::BinaryCopyError::Header(found)) => {
            return Err(header_error(key, kind, &found));
        }
        Err(binary::BinaryCopyError::Stage(error)) => {
            return Err(LoadError::Stage {
                object: key.to_string(),
                source: Box::new(error),
            });
        }
        Err(binary::BinaryCopyError::NotConvertible(line, reason)) => {
            format!("line {line}: {reason}")
        }
        Err(binary::BinaryCopyError::Sql(error)) if is_data_error(&error) => error
            .as_db_error()
            .map_or_else(|| error.to_string(), |db| db.message().to_string()),
        Err(binary::BinaryCopyError::Sql(error)) => {
            return Err(sql_error("copy the extract")(error));
        }
    };
    let Some(store) = store else {
        // The object is still being written: it cannot be read again from the stage now.
        return Err(LoadError::NotFed {
            object: key.to_string(),
            reason: format!("its binary copy stopped ({why})"),
        });
    };
    tracing::debug!(
        object = %key,
        why = %why,
        "Copying the extract as CSV: its binary copy stopped."
    );
    savepoint
        .rollback()
        .await
        .map_err(sql_error("roll back to the savepoint"))?;
    *reader = store.open(key).await.map_err(|error| LoadError::Stage {
        object: key.to_string(),
        source: Box::new(error),
    })?;
    copy_csv_object(tx, copy_csv, key, reader, kind).await
}

/// Streams one staged object into `copy` (a CSV `COPY ... FROM STDIN`), checking its header
/// against `kind` before anything is sent; returns the rows copied.
pub(super) async fn copy_csv_object(
    tx: &Transaction<'_>,
    copy: &str,
    key: &str,
    reader: &mut ObjectReader,
    kind: ObjectKind,
) -> Result<u64, LoadError> {
    let sql_error = |step: &'static str| sql_error(key, step);
    let stage_error = |error| LoadError::Stage {
        object: key.to_string(),
        source: Box::new(error),
    };
    let sink = tx
        .copy_in(copy)
        .await
        .map_err(sql_error("start copying the extract"))?;
    futures_util::pin_mut!(sink);

    // The header is checked before anything is sent, so a wrong file fails with a clear message.
    let mut head = BytesMut::new();
    let mut header_checked = false;
    while let Some(chunk) = reader.next_chunk().await.map_err(stage_error)? {
        if header_checked {
            sink.send(chunk)
                .await
                .map_err(sql_error("copy the extract"))?;
            continue;
        }
        head.extend_from_slice(&chunk);
        if let Some(end) = head.iter().position(|&b| b == b'\n') {
            check_header(key, kind, &head[..end])?;
            header_checked = true;
            sink.send(head.split().freeze())
                .await
                .map_err(sql_error("copy the extract"))?;
        } else if head.len() > 64 * 1024 {
            check_header(key, kind, &head)?;
        }
    }
    if !header_checked {
        check_header(key, kind, &head)?;
        // A header without its newline, and no rows: still a valid, empty extract.
        sink.send(head.split().freeze())
            .await
            .map_err(sql_error("copy the extract"))?;
    }
    sink.as_mut()
        .finish()
        .await
        .map_err(sql_error("copy the extract"))
}

pub(super) fn check_header(key: &str, kind: ObjectKind, line: &[u8]) -> Result<(), LoadError> {
    if header_matches(kind, line) {
        Ok(())
    } else {
        Err(header_error(key, kind, line))
    }
}

/// The error for an object whose header `line` does not name the columns of `kind`.
pub(super) fn header_error(key: &str, kind: ObjectKind, line: &[u8]) -> LoadError {
    LoadError::Header {
        object: key.to_string(),
        kind: kind.prefix(),
        found: String::from_utf8_lossy(line).chars().take(300).collect(),
        expected: kind.columns().join(","),
    }
}

/// Whether a header line (without its newline) names exactly the columns of `kind`, each bare
/// or quoted.
pub(super) fn header_matches(kind: ObjectKind, line: &[u8]) -> bool {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut names = line.split(|&b| b == b',').map(|name| {
        name.strip_prefix(b"\"")
            .and_then(|n| n.strip_suffix(b"\""))
            .unwrap_or(name)
    });
    kind.columns()
        .iter()
        .all(|column| names.next() == Some(column.as_bytes()))
        && names.next().is_none()
}
