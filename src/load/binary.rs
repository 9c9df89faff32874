//! The binary COPY path of a load: the staged CSV object is read here and sent to the warehouse
//! in PostgreSQL's binary COPY format, so the server stores values instead of parsing text.
//! Parsing a timestamp is most of what a text COPY of pipewatch's rows costs the server (a DAG
//! run has seven, a task try five); done here, on the client's core, it runs beside the
//! server's work instead of before it (docs/benchmarks.md has the figures).
//!
//! The stage object stays PostgreSQL's CSV (the audit and replay format); this module reads it
//! the way `COPY ... FROM ... (FORMAT csv)` does: a quoted field is a value (`""` inside is a
//! quote), an unquoted empty field is NULL. It converts only what it is sure of (ISO timestamps
//! with a zone, integers, `t`/`f`, UTF-8 text); anything else (a malformed record, a value it
//! does not recognise) stops it with [`BinaryCopyError::NotConvertible`], and the caller copies
//! the object again as CSV, so PostgreSQL itself accepts or names the value: the binary path
//! never changes what is loaded or how a bad value is reported.

use std::borrow::Cow;
use std::error::Error as StdError;

use bytes::{Bytes, BytesMut};
use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use tokio_postgres::Transaction;
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::source::ObjectKind;
use crate::stage::{ObjectReader, StageError};

/// The warehouse type of each CSV column of a DAG-run object (`DAG_RUN_COLUMNS` order).
const DAG_RUN_TYPES: [Type; 19] = [
    Type::TEXT,        // airflow_instance
    Type::INT2,        // airflow_major_version
    Type::INT4,        // id
    Type::TEXT,        // dag_id
    Type::TEXT,        // run_id
    Type::TIMESTAMPTZ, // execution_date
    Type::TIMESTAMPTZ, // run_after
    Type::TEXT,        // state
    Type::TEXT,        // run_type
    Type::BOOL,        // external_trigger
    Type::TIMESTAMPTZ, // queued_at
    Type::TIMESTAMPTZ, // start_date
    Type::TIMESTAMPTZ, // end_date
    Type::TIMESTAMPTZ, // data_interval_start
    Type::TIMESTAMPTZ, // data_interval_end
    Type::INT4,        // clear_number
    Type::TEXT,        // dag_version
    Type::TIMESTAMPTZ, // source_updated_at
    Type::TIMESTAMPTZ, // source_read_at
];

/// The warehouse type of each CSV column of a task-instance object (`TASK_INSTANCE_COLUMNS`).
const TASK_INSTANCE_TYPES: [Type; 22] = [
    Type::TEXT,        // airflow_instance
    Type::INT2,        // airflow_major_version
    Type::TEXT,        // dag_id
    Type::TEXT,        // run_id
    Type::TEXT,        // task_id
    Type::INT4,        // map_index
    Type::INT4,        // try_number
    Type::TEXT,        // state
    Type::TIMESTAMPTZ, // start_date
    Type::TIMESTAMPTZ, // end_date
    Type::TIMESTAMPTZ, // queued_at
    Type::TIMESTAMPTZ, // scheduled_at
    Type::TEXT,        // pool
    Type::INT4,        // pool_slots
    Type::TEXT,        // queue
    Type::TEXT,        // operator
    Type::TEXT,        // hostname
    Type::INT4,        // max_tries
    Type::TEXT,        // dag_version
    Type::BOOL,        // from_history
    Type::TIMESTAMPTZ, // source_updated_at
    Type::TIMESTAMPTZ, // source_read_at
];

/// The column types of an object of `kind`, in its CSV order.
pub fn column_types(kind: ObjectKind) -> &'static [Type] {
    match kind {
        ObjectKind::DagRuns => &DAG_RUN_TYPES,
        ObjectKind::TaskInstances => &TASK_INSTANCE_TYPES,
    }
}

/// Why the binary COPY stopped.
#[derive(Debug)]
pub enum BinaryCopyError {
    /// A record or value this module does not convert (CSV line, reason): copy the object as
    /// CSV instead, and let PostgreSQL judge it.
    NotConvertible(u64, String),
    /// The header is not the kind's: the object is not a pipewatch extract of that kind.
    Header(Vec<u8>),
    /// Reading the object failed.
    Stage(StageError),
    /// The warehouse refused the COPY.
    Sql(tokio_postgres::Error),
}

/// Streams the object of `kind` from `reader` into `copy` (a `COPY ... FROM STDIN (FORMAT
/// binary)`), checking its header before any row is sent. Returns the rows copied.
pub async fn copy(
    tx: &Transaction<'_>,
    copy: &str,
    reader: &mut ObjectReader,
    kind: ObjectKind,
) -> Result<u64, BinaryCopyError> {
    let types = column_types(kind);
    let sink = tx
        .copy_in::<_, Bytes>(copy)
        .await
        .map_err(BinaryCopyError::Sql)?;
    let writer = BinaryCopyInWriter::new(sink, types);
    futures_util::pin_mut!(writer);

    let mut buffer = BytesMut::new();
    let mut fields = Vec::with_capacity(types.len());
    let mut line: u64 = 0; // CSV lines (records) consumed; 1 is the header
    let mut eof = false;
    while !eof {
        match reader.next_chunk().await.map_err(BinaryCopyError::Stage)? {
            Some(chunk) => buffer.extend_from_slice(&chunk),
            None => eof = true,
        }
        let mut pos = 0;
        while pos < buffer.len() {
            let end = match next_record(&buffer, pos, eof, &mut fields) {
                Ok(Some(end)) => end,
                Ok(None) => break,
                Err(reason) => return Err(BinaryCopyError::NotConvertible(line + 1, reason)),
            };
            line += 1;
            if line == 1 {
                let header = &buffer[pos..end];
                let header = header.strip_suffix(b"\n").unwrap_or(header);
                if !super::copy::header_matches(kind, header) {
                    return Err(BinaryCopyError::Header(header.to_vec()));
                }
            } else {
                if fields.len() != types.len() {
                    return Err(BinaryCopyError::NotConvertible(
                        line,
                        format!("{} fields, expected {}", fields.len(), types.len()),
                    ));
                }
                let values = fields
                    .iter()
                    .zip(types)
                    .map(|(field, ty)| convert(&buffer, field, ty).ok_or(ty))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|ty| {
                        BinaryCopyError::NotConvertible(
                            line,
                            format!("a {ty} value it does not read"),
                        )
                    })?;
                writer
                    .as_mut()
                    .write_raw(values.iter().map(|v| v as &(dyn ToSql + Sync)))
                    .await
                    .map_err(BinaryCopyError::Sql)?;
            }
            pos = end;
        }
        let _ = buffer.split_to(pos);
    }
    if line == 0 {
        return Err(BinaryCopyError::Header(Vec::new()));
    }
    writer.as_mut().finish().await.map_err(BinaryCopyError::Sql)
}

/// One field of a CSV record: where its bytes are in the buffer, whether it was quoted (an
/// unquoted empty field is NULL), and whether it holds doubled quotes to undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    start: usize,
    end: usize,
    quoted: bool,
    escaped: bool,
}

/// Splits the record that starts at `pos` into `fields`; returns where the next record starts,
/// or None when the buffer ends inside the record (more bytes are needed; at `eof` the record
/// is complete without a final newline). A quote inside an unquoted field, or text after a
/// closing quote, is malformed: PostgreSQL's CSV reader then decides.
fn next_record(
    buf: &[u8],
    pos: usize,
    eof: bool,
    fields: &mut Vec<Field>,
) -> Result<Option<usize>, String> {
    fields.clear();
    let mut i = pos;
    loop {
        if buf.get(i) == Some(&b'"') {
            let start = i + 1;
            let mut j = start;
            let mut escaped = false;
            loop {
                let Some(k) = memchr::memchr(b'"', &buf[j..]) else {
                    return if eof {
                        Err("a quoted value that never ends".into())
                    } else {
                        Ok(None)
                    };
                };
                let quote = j + k;
                match buf.get(quote + 1) {
                    Some(b'"') => {
                        escaped = true;
                        j = quote + 2;
                    }
                    None if !eof => return Ok(None),
                    _ => {
                        fields.push(Field {
                            start,
                            end: quote,
                            quoted: true,
                            escaped,
                        });
                        i = quote + 1;
                        break;
                    }
                }
            }
        } else {
            let rest = &buf[i..];
            let Some(k) = memchr::memchr2(b',', b'\n', rest) else {
                if !eof {
                    return Ok(None);
                }
                let end = buf.len() - usize::from(rest.ends_with(b"\r"));
                if buf[i..end].contains(&b'"') {
                    return Err("a quote inside an unquoted value".into());
                }
                fields.push(Field {
                    start: i,
                    end,
                    quoted: false,
                    escaped: false,
                });
                return Ok(Some(buf.len()));
            };
            let mut end = i + k;
            if buf[end] == b'\n' && end > i && buf[end - 1] == b'\r' {
                end -= 1;
            }
            if buf[i..end].contains(&b'"') {
                return Err("a quote inside an unquoted value".into());
            }
            fields.push(Field {
                start: i,
                end,
                quoted: false,
                escaped: false,
            });
            i = end;
        }
        match buf.get(i) {
            None if eof => return Ok(Some(i)),
            None => return Ok(None),
            Some(b',') => i += 1,
            Some(b'\n') => return Ok(Some(i + 1)),
            Some(b'\r') if buf.get(i + 1) == Some(&b'\n') => return Ok(Some(i + 2)),
            Some(b'\r') if buf.get(i + 1).is_none() && !eof => return Ok(None),
            Some(_) => return Err("text after a closing quote".into()),
        }
    }
}

/// A value of one column, ready to be written in binary.
#[derive(Debug)]
enum Value<'a> {
    Null,
    Text(Cow<'a, str>),
    Int2(i16),
    Int4(i32),
    Bool(bool),
    Time(DateTime<Utc>),
}

/// The value of `field` as a `ty`, or None when this module does not read it.
fn convert<'a>(buf: &'a [u8], field: &Field, ty: &Type) -> Option<Value<'a>> {
    let raw = &buf[field.start..field.end];
    if !field.quoted && raw.is_empty() {
        return Some(Value::Null);
    }
    let text: Cow<'a, str> = if field.escaped {
        Cow::Owned(std::str::from_utf8(raw).ok()?.replace("\"\"", "\""))
    } else {
        Cow::Borrowed(std::str::from_utf8(raw).ok()?)
    };
    Some(match *ty {
        Type::TEXT => Value::Text(text),
        Type::INT2 => Value::Int2(text.parse().ok()?),
        Type::INT4 => Value::Int4(text.parse().ok()?),
        Type::BOOL => Value::Bool(match text.as_ref() {
            "t" | "true" => true,
            "f" | "false" => false,
            _ => return None,
        }),
        Type::TIMESTAMPTZ => Value::Time(parse_timestamp(text.as_bytes())?),
        _ => return None,
    })
}

/// An ISO 8601 instant as PostgreSQL writes it (`2024-05-01 10:00:00.5+00`, `+05:30`) or as
/// RFC 3339 (`2024-05-01T10:00:00.500000Z`): four-digit year, seconds, at most six fractional
/// digits, and a zone. None for anything else (BC dates, `infinity`, leap seconds, ...).
fn parse_timestamp(s: &[u8]) -> Option<DateTime<Utc>> {
    let num = |range: std::ops::Range<usize>| -> Option<u32> {
        let digits = s.get(range)?;
        digits.iter().try_fold(0u32, |n, &b| {
            b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0'))
        })
    };
    if s.len() < 20 || s[4] != b'-' || s[7] != b'-' || !matches!(s[10], b' ' | b'T') {
        return None;
    }
    if s[13] != b':' || s[16] != b':' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let mut i = 19;
    let mut micros = 0u32;
    if s[i] == b'.' {
        let digits = s[i + 1..].iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 || digits > 6 {
            return None;
        }
        micros = num(i + 1..i + 1 + digits)? * 10u32.pow(6 - digits as u32);
        i += 1 + digits;
    }
    let offset_seconds: i64 = match s.get(i..)? {
        b"Z" => 0,
        zone if matches!(zone.first(), Some(b'+' | b'-')) => {
            let sign = if zone[0] == b'-' { -1 } else { 1 };
            let parts = &zone[1..];
            let (h, m, sec) = match parts.len() {
                2 => (num(i + 1..i + 3)?, 0, 0),
                4 => (num(i + 1..i + 3)?, num(i + 3..i + 5)?, 0),
                5 if parts[2] == b':' => (num(i + 1..i + 3)?, num(i + 4..i + 6)?, 0),
                8 if parts[2] == b':' && parts[5] == b':' => {
                    (num(i + 1..i + 3)?, num(i + 4..i + 6)?, num(i + 7..i + 9)?)
                }
                _ => return None,
            };
            if m > 59 || sec > 59 {
                return None;
            }
            sign * i64::from(h * 3600 + m * 60 + sec)
        }
        _ => return None,
    };
    let local = NaiveDate::from_ymd_opt(i32::try_from(year).ok()?, month, day)?
        .and_hms_micro_opt(hour, minute, second, micros)?;
    let utc = local.checked_sub_signed(TimeDelta::seconds(offset_seconds))?;
    Some(utc.and_utc())
}

impl ToSql for Value<'_> {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        match self {
            Value::Null => Ok(IsNull::Yes),
            Value::Text(text) => text.as_ref().to_sql(ty, out),
            Value::Int2(n) => n.to_sql(ty, out),
            Value::Int4(n) => n.to_sql(ty, out),
            Value::Bool(b) => b.to_sql(ty, out),
            Value::Time(t) => t.to_sql(ty, out),
        }
    }

    fn accepts(ty: &Type) -> bool {
        [
            Type::TEXT,
            Type::INT2,
            Type::INT4,
            Type::BOOL,
            Type::TIMESTAMPTZ,
        ]
        .contains(ty)
    }

    to_sql_checked!();
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A parsed record: where the next one starts, and its values (None: NULL).
    type Parsed = Option<(usize, Vec<Option<String>>)>;

    fn record(text: &str, eof: bool) -> Result<Parsed, String> {
        let mut fields = Vec::new();
        let end = next_record(text.as_bytes(), 0, eof, &mut fields)?;
        Ok(end.map(|end| {
            let values = fields
                .iter()
                .map(|f| {
                    (f.quoted || f.end > f.start).then(|| {
                        let raw = &text[f.start..f.end];
                        if f.escaped {
                            raw.replace("\"\"", "\"")
                        } else {
                            raw.to_string()
                        }
                    })
                })
                .collect();
            (end, values)
        }))
    }

    #[test]
    fn reads_postgres_csv_records() {
        let s = |v: &str| Some(v.to_string());
        assert_eq!(
            record("\"a\",,\"\",\"x\"\"y\",plain\nnext", false).unwrap(),
            Some((21, vec![s("a"), None, s(""), s("x\"y"), s("plain")]))
        );
        // A quoted value may hold commas and newlines.
        assert_eq!(
            record("\"a,b\nc\",\"d\"\n", false).unwrap(),
            Some((12, vec![s("a,b\nc"), s("d")]))
        );
        // CRLF line ends.
        assert_eq!(
            record("\"a\",b\r\n", false).unwrap(),
            Some((7, vec![s("a"), s("b")]))
        );
        // A trailing empty field is NULL.
        assert_eq!(
            record("\"a\",\n", false).unwrap(),
            Some((5, vec![s("a"), None]))
        );
    }

    #[test]
    fn waits_for_the_rest_of_a_record_cut_by_a_chunk() {
        for cut in [
            "\"a\",\"b",
            "\"a\",\"b\"",
            "\"a\",b",
            "\"a\",",
            "\"a\"\"",
            "\"a\",\"b\"\r",
        ] {
            assert_eq!(record(cut, false).unwrap(), None, "{cut:?}");
        }
        // At the end of the object the last record needs no newline.
        assert_eq!(
            record("\"a\",b", true).unwrap(),
            Some((5, vec![Some("a".into()), Some("b".into())]))
        );
    }

    #[test]
    fn leaves_malformed_records_to_postgres() {
        assert!(record("\"a\"x,b\n", false).is_err());
        assert!(record("a\"b,c\n", false).is_err());
        assert!(record("\"never ends", true).is_err());
    }

    #[test]
    fn parses_the_instants_postgres_and_the_api_write() {
        let t = |s: &str| parse_timestamp(s.as_bytes()).map(|t| t.to_rfc3339());
        assert_eq!(
            t("2024-05-01 10:00:00+00"),
            Some("2024-05-01T10:00:00+00:00".into())
        );
        assert_eq!(
            t("2024-05-01 10:00:00.5+00"),
            Some("2024-05-01T10:00:00.500+00:00".into())
        );
        assert_eq!(
            t("2024-05-01 10:00:00.123456+05:30"),
            Some("2024-05-01T04:30:00.123456+00:00".into())
        );
        assert_eq!(
            t("2024-05-01 01:00:00-02"),
            Some("2024-05-01T03:00:00+00:00".into())
        );
        assert_eq!(
            t("2024-05-01T10:00:00.000001Z"),
            Some("2024-05-01T10:00:00.000001+00:00".into())
        );
        assert_eq!(
            t("1901-12-13 20:45:52+00:09:21"),
            Some("1901-12-13T20:36:31+00:00".into())
        );
        for other in [
            "infinity",
            "2024-05-01 10:00:00",
            "2024-05-01 10:00:60+00",
            "2024-02-30 10:00:00+00",
            "2024-05-01 10:00:00.1234567+00",
            "0044-03-15 12:00:00+00 BC",
            "2024-05-01 10:00:00+1",
        ] {
            assert_eq!(t(other), None, "{other}");
        }
    }

    #[test]
    fn converts_values_or_declines() {
        fn v(s: &str, quoted: bool, ty: Type) -> Option<Value<'_>> {
            let field = Field {
                start: 0,
                end: s.len(),
                quoted,
                escaped: s.contains("\"\""),
            };
            convert(s.as_bytes(), &field, &ty)
        }
        assert!(matches!(v("", false, Type::TIMESTAMPTZ), Some(Value::Null)));
        assert!(matches!(v("", true, Type::TEXT), Some(Value::Text(t)) if t.is_empty()));
        assert!(matches!(v("a\"\"b", true, Type::TEXT), Some(Value::Text(t)) if t == "a\"b"));
        assert!(matches!(v("-1", true, Type::INT4), Some(Value::Int4(-1))));
        assert!(matches!(v("3", true, Type::INT2), Some(Value::Int2(3))));
        assert!(matches!(v("t", true, Type::BOOL), Some(Value::Bool(true))));
        assert!(v("99999", true, Type::INT2).is_none());
        assert!(v("yes", true, Type::BOOL).is_none());
        assert!(v("", true, Type::INT4).is_none());
    }

    #[test]
    fn one_type_per_column() {
        for kind in [ObjectKind::DagRuns, ObjectKind::TaskInstances] {
            assert_eq!(column_types(kind).len(), kind.columns().len());
        }
    }
}
