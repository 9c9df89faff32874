//! The extract's CSV rows as the API source writes them (PostgreSQL's CSV: every value quoted,
//! NULL unquoted and empty), and the one time format they use; shared by every resource that
//! writes rows.

use chrono::{DateTime, SecondsFormat, Utc};

pub(super) fn stamp(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Micros, true)
}

pub(super) fn parse_instant(text: &str) -> Result<DateTime<Utc>, chrono::ParseError> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc))
}

/// Appends one CSV value: quoted with inner quotes doubled, or nothing for NULL.
pub(super) fn csv_field(buffer: &mut Vec<u8>, value: Option<&str>) {
    if let Some(v) = value {
        buffer.push(b'"');
        for &b in v.as_bytes() {
            if b == b'"' {
                buffer.push(b'"');
            }
            buffer.push(b);
        }
        buffer.push(b'"');
    }
}

/// Appends one CSV record.
pub(super) fn csv_line(buffer: &mut Vec<u8>, fields: &[Option<String>]) {
    for (i, value) in fields.iter().enumerate() {
        if i > 0 {
            buffer.push(b',');
        }
        csv_field(buffer, value.as_deref());
    }
    buffer.push(b'\n');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_are_doubled_and_nulls_left_empty() {
        let mut buffer = Vec::new();
        csv_line(
            &mut buffer,
            &[Some("a\"b".to_string()), None, Some(String::new())],
        );
        assert_eq!(String::from_utf8(buffer).unwrap(), "\"a\"\"b\",,\"\"\n");
    }
}
