//! Generic INI reading: the `config` crate reads the file and the environment overrides into a
//! tree of values; a [`Parser`] hands each section out as a [`Section`] matched against
//! [`SECTIONS`](super::SECTIONS), from which each key is taken once (as text, a secret, a
//! number in a range, a fraction, a boolean, a webhook URL), so that what is left over is an
//! unknown key. Each group of sections reads its own keys in its module (`connections.rs`,
//! `staging.rs`, ...); `parse.rs` puts the sections together.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use config::{Value, ValueKind};

use super::env::{ENV_PREFIX, ENV_SEPARATOR, env_var_name};
use super::error::ConfigError;
use super::sections::{
    AIRFLOW_SECTION, STAGING, SectionSpec, WAREHOUSE, known_sections, section_spec,
};
use super::types::Secret;

pub(super) struct Parser<'a> {
    pub(super) path: &'a Path,
    pub(super) base: PathBuf,
    /// The sections written in the file (lower case); any other came from the environment.
    pub(super) file_sections: std::collections::BTreeSet<String>,
    /// The line of each key written in the file: (section, key), lower case.
    pub(super) key_lines: BTreeMap<(String, String), usize>,
}

impl Parser<'_> {
    pub(super) fn origin(&self, value: &Value, section: &str, key: Option<&str>) -> String {
        match value.origin() {
            Some("the environment") => match key {
                Some(key) => format!("environment variable {}", env_var_name(section, key)),
                None => format!(
                    "environment variables {ENV_PREFIX}{ENV_SEPARATOR}{}{ENV_SEPARATOR}*",
                    section.to_uppercase()
                ),
            },
            // A value from the file: its line, when the key is known (the reader keeps none).
            _ => match key.and_then(|k| {
                self.key_lines
                    .get(&(section.to_lowercase(), k.to_lowercase()))
            }) {
                Some(line) => format!("{}: line {line}", self.path.display()),
                None => self.path.display().to_string(),
            },
        }
    }
}

impl Parser<'_> {
    /// The section `name` of the file, matched against [`SECTIONS`].
    pub(super) fn section(&self, name: &str, value: Value) -> Result<Section<'_>, ConfigError> {
        let origin = if self.file_sections.contains(&name.to_lowercase()) {
            self.origin(&value, name, None)
        } else {
            // Not in the file: made by PIPEWATCH__<SECTION>__<KEY> variables.
            format!(
                "environment variables {ENV_PREFIX}{ENV_SEPARATOR}{}{ENV_SEPARATOR}*",
                name.to_uppercase()
            )
        };
        let ValueKind::Table(entries) = value.kind else {
            return Err(ConfigError::Rule {
                path: self.path.to_path_buf(),
                message: format!(
                    "key `{name}` is outside any section: put it under [{WAREHOUSE}], [{STAGING}] or [{AIRFLOW_SECTION}]"
                ),
            });
        };
        let spec = section_spec(name).ok_or_else(|| ConfigError::UnknownSection {
            origin,
            section: name.to_string(),
            known: known_sections(),
        })?;
        Ok(Section {
            parser: self,
            spec,
            name: name.to_string(),
            entries: entries.into_iter().collect(),
            origins: BTreeMap::new(),
        })
    }
}

/// One section being read: each key is taken once; what is left at the end is unknown.
pub(super) struct Section<'a> {
    pub(super) parser: &'a Parser<'a>,
    /// What the section may hold.
    pub(super) spec: &'static SectionSpec,
    pub(super) name: String,
    pub(super) entries: BTreeMap<String, Value>,
    /// Where each key already taken came from (file or environment variable).
    pub(super) origins: BTreeMap<String, String>,
}

impl Section<'_> {
    /// Takes `key` as text; empty means not set.
    pub(super) fn raw(&mut self, key: &str) -> Result<Option<(String, Value)>, ConfigError> {
        let Some(value) = self.entries.remove(key) else {
            return Ok(None);
        };
        let origin = self.parser.origin(&value, &self.name, Some(key));
        self.origins.insert(key.to_string(), origin);
        let text = match &value.kind {
            ValueKind::String(s) => s.trim().to_string(),
            ValueKind::Nil => String::new(),
            ValueKind::Boolean(b) => b.to_string(),
            ValueKind::I64(n) => n.to_string(),
            ValueKind::U64(n) => n.to_string(),
            ValueKind::Float(n) => n.to_string(),
            _ => {
                return Err(ConfigError::Invalid {
                    origin: self.parser.origin(&value, &self.name, Some(key)),
                    section: self.name.clone(),
                    key: key.to_string(),
                    value: "(a nested table)".into(),
                    expected: "a single value".into(),
                });
            }
        };
        if text.is_empty() {
            Ok(None)
        } else {
            Ok(Some((text, value)))
        }
    }

    pub(super) fn string(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        Ok(self.raw(key)?.map(|(text, _)| text))
    }

    pub(super) fn secret(&mut self, key: &str) -> Result<Option<String>, ConfigError> {
        // Not trimmed beyond what INI does: a password may end in spaces only via the environment.
        let value = self.raw(key)?.map(|(text, _)| text);
        let file_key = format!("{key}_file");
        let Some((path, _)) = self.raw(&file_key)? else {
            return Ok(value);
        };
        if value.is_some() {
            return Err(ConfigError::Rule {
                path: self.parser.path.to_path_buf(),
                message: format!("[{}] sets both {key} and {file_key}: keep one", self.name),
            });
        }
        // A mounted secret (Kubernetes, Docker, systemd credentials): the whole file, less the
        // line ending editors and `echo` add. Its content is never shown, only its path.
        let path = self.parser.base.join(path);
        let text = std::fs::read_to_string(&path).map_err(|cause| ConfigError::Rule {
            path: self.parser.path.to_path_buf(),
            message: format!(
                "[{}] {file_key}: cannot read {}: {cause}",
                self.name,
                path.display()
            ),
        })?;
        let text = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        Ok((!text.is_empty()).then(|| text.to_string()))
    }

    pub(super) fn required(&mut self, key: &str) -> Result<String, ConfigError> {
        self.string(key)?.ok_or_else(|| ConfigError::Missing {
            path: self.parser.path.to_path_buf(),
            section: self.name.clone(),
            key: key.to_string(),
            env: env_var_name(&self.name, key),
        })
    }

    pub(super) fn number(
        &mut self,
        key: &str,
        min: u64,
        max: u64,
    ) -> Result<Option<u64>, ConfigError> {
        let Some((text, value)) = self.raw(key)? else {
            return Ok(None);
        };
        match text.parse::<u64>() {
            Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError::Invalid {
                origin: self.parser.origin(&value, &self.name, Some(key)),
                section: self.name.clone(),
                key: key.to_string(),
                value: text,
                expected: format!("a whole number from {min} to {max}"),
            }),
        }
    }

    /// `webhook_url` (or `webhook_url_file`): an http(s) URL, kept secret.
    pub(super) fn webhook_url(&mut self) -> Result<Option<Secret>, ConfigError> {
        let url = self.secret("webhook_url")?;
        if let Some(url) = &url
            && let Some(problem) = super::url::problem(
                url,
                "a webhook takes its token in the path, as the service gives it",
            )
        {
            // The URL is a secret (Slack puts its token in the path): show only its start.
            let shown: String = super::url::redacted(url).chars().take(8).collect();
            return Err(self.invalid("webhook_url", &format!("{shown}..."), &problem));
        }
        Ok(url.map(Secret::new))
    }

    pub(super) fn fraction(
        &mut self,
        key: &str,
        min: f64,
        max: f64,
    ) -> Result<Option<f64>, ConfigError> {
        let Some((text, value)) = self.raw(key)? else {
            return Ok(None);
        };
        match text.parse::<f64>() {
            Ok(n) if n.is_finite() && (min..=max).contains(&n) => Ok(Some(n)),
            _ => Err(ConfigError::Invalid {
                origin: self.parser.origin(&value, &self.name, Some(key)),
                section: self.name.clone(),
                key: key.to_string(),
                value: text,
                expected: format!("a number from {min} to {max}"),
            }),
        }
    }

    pub(super) fn boolean(&mut self, key: &str) -> Result<Option<bool>, ConfigError> {
        let Some((text, value)) = self.raw(key)? else {
            return Ok(None);
        };
        match text.to_ascii_lowercase().as_str() {
            "true" | "yes" | "on" | "1" => Ok(Some(true)),
            "false" | "no" | "off" | "0" => Ok(Some(false)),
            _ => Err(ConfigError::Invalid {
                origin: self.parser.origin(&value, &self.name, Some(key)),
                section: self.name.clone(),
                key: key.to_string(),
                value: text,
                expected: "true or false".into(),
            }),
        }
    }

    /// An "invalid value" error for a key already taken.
    pub(super) fn invalid(&self, key: &str, value: &str, expected: &str) -> ConfigError {
        let origin = self
            .origins
            .get(key)
            .cloned()
            .unwrap_or_else(|| self.parser.path.display().to_string());
        ConfigError::Invalid {
            origin,
            section: self.name.clone(),
            key: key.to_string(),
            value: value.to_string(),
            expected: expected.to_string(),
        }
    }

    /// Fails on the first key nobody took.
    pub(super) fn finish(self) -> Result<(), ConfigError> {
        if let Some((key, value)) = self.entries.iter().next() {
            return Err(ConfigError::UnknownKey {
                origin: self.parser.origin(value, &self.name, Some(key)),
                section: self.name.clone(),
                known: self.spec.keys.join(", "),
                key: key.clone(),
            });
        }
        Ok(())
    }
}
