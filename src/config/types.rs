//! Value types that configuration hands out: secrets that never print, and validated SQL
//! identifiers.

use std::fmt;

/// A secret string (a password or secret key). `Debug` and `Display` print `***`; the value is
/// only reachable through [`Secret::expose`], at the place that hands it to a client library.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    /// The secret value itself, for a client library.
    pub fn expose(&self) -> &str {
        &self.0
    }
    /// Whether no secret is set.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// A PostgreSQL identifier (schema name) that is safe to use unquoted and quoted alike:
/// lower-case letters, digits and underscores, starting with a letter or underscore, at most 63
/// bytes. Validated once, here; [`Identifier::quoted`] is the one place that quotes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identifier(String);

impl Identifier {
    /// Validates `name`; the error says what is allowed.
    pub fn parse(name: &str) -> Result<Self, String> {
        let mut chars = name.chars();
        let first_ok = chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
        let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if first_ok && rest_ok && name.len() <= 63 {
            Ok(Identifier(name.to_string()))
        } else {
            Err("a schema name of lower-case letters, digits and underscores, starting with a letter or underscore, at most 63 characters".to_string())
        }
    }
    /// The bare name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
    /// The name quoted for SQL (`"name"`).
    pub fn quoted(&self) -> String {
        format!("\"{}\"", self.0)
    }
}

impl fmt::Display for Identifier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
