//! Reading and validating `pipeline.conf`.
//!
//! The file is INI, as in the book, so its users' files carry over. It is read with the `config`
//! crate (the INI format is set explicitly: `.conf` is not an extension the crate knows), and
//! every key can be overridden by an environment variable `PIPEWATCH__<SECTION>__<KEY>`, for
//! example `PIPEWATCH__WAREHOUSE__PASSWORD`, so secrets need not sit in the file.
//!
//! Validation is pure and happens before anything connects: an unknown section or key, a value of
//! the wrong type or a missing required key is one error naming the key and where it came from
//! (the file, or the environment variable). Each section maps onto one struct below; defaults are
//! named constants so that `pipeline.conf.example` and the code can be checked against each other.
//!
//! Decisions written down here:
//! - An empty value (`password =`) means "not set": the key's default applies.
//! - Relative paths (the local stage folder) are resolved against the folder holding the
//!   configuration file, not the working directory, so a cron job finds the same folder.
//! - Section and key names are lower case; the `config` crate matches them case-sensitively and
//!   lower-cases environment variable names before matching.
//!
//! Layout: [`sections`] is the one table of sections and keys (the error messages and the
//! example test read it); [`ini`] the generic reading (a section's keys taken one by one, typed
//! and range-checked); one module per group of sections holds those sections' structs, defaults
//! and validation: [`connections`] (`[warehouse]`, `[airflowdb_config*]`, `[airflow_api*]`,
//! `[retry]`), [`staging`] (`[staging]`, `[extract]`), [`reporting`] (`[reporting]`,
//! `[airflow_ui]`), [`validate`] (`[validate]`), [`alerts`] (`[alerts]`, `[alerts_*]`),
//! [`routes`] (`[route_*]`), [`objectives`] (`[objective_*]`), [`retention`] (`[retention]`), [`prometheus`] (`[prometheus]`); [`parse`] puts them together into [`Settings`]
//! ([`settings`]); [`types`] holds the secret and identifier types; [`error`] what can be
//! wrong. A new section is a row in the table, its keys read in its group's module, and one
//! arm in `parse`.

mod alerts;
mod connections;
mod env;
mod error;
mod ini;
mod matcher;
mod objectives;
mod parse;
mod prometheus;
mod reporting;
mod retention;
mod routes;
mod sections;
mod settings;
mod staging;
mod types;
mod url;
mod validate;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

pub use alerts::*;
pub use connections::*;
pub use env::{DEFAULT_CONFIG_PATHS, ENV_PREFIX, ENV_SEPARATOR, env_var_name};
pub use error::ConfigError;
pub use matcher::{Addressee, DagMatcher};
pub use objectives::*;
pub use prometheus::*;
pub use reporting::*;
pub use retention::*;
pub use routes::*;
pub use sections::{AIRFLOW_SECTION, SECTIONS, SectionSpec};
pub use settings::*;
pub use staging::*;
pub use types::{Identifier, Secret};
pub use validate::*;

/// Finds the configuration file: the explicit path, else the first default path that exists.
pub fn locate(explicit: Option<&Path>) -> Result<PathBuf, ConfigError> {
    if let Some(path) = explicit {
        return Ok(path.to_path_buf());
    }
    DEFAULT_CONFIG_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or(ConfigError::NoFile)
}

/// Reads, overrides from the environment, and validates the configuration file at `path`.
pub fn load(path: &Path) -> Result<Settings, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|cause| ConfigError::Unreadable {
        path: path.to_path_buf(),
        cause,
    })?;
    load_from_str(path, &text, std::env::vars())
}

/// Like [`load`], from the file's text and an explicit environment (for tests).
pub fn load_from_str(
    path: &Path,
    text: &str,
    environment: impl IntoIterator<Item = (String, String)>,
) -> Result<Settings, ConfigError> {
    let (file_sections, key_lines) = file_layout(path, text)?;
    let env_source = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator(ENV_SEPARATOR)
        .separator(ENV_SEPARATOR)
        .source(Some(environment.into_iter().collect()));
    let built = config::Config::builder()
        .add_source(
            config::File::from_str(text, config::FileFormat::Ini)
                // from_str records no origin; name the file so messages can point at it.
                .required(true),
        )
        .add_source(env_source)
        .build()
        .map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
    let base = path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."));
    let base = if base.as_os_str().is_empty() {
        PathBuf::from(".")
    } else {
        base
    };
    ini::Parser {
        path,
        base,
        file_sections,
        key_lines,
    }
    .parse(built.cache)
}

/// Where each key sits in the file: (section, key), both lower case, to its line number.
type KeyLines = BTreeMap<(String, String), usize>;

/// The sections the file itself has (lower case, as the INI reader keys them) and the line of
/// each key, after refusing a section or a key written twice: the reader would merge the
/// sections and keep the last value, so a typo'd copy would silently win.
fn file_layout(path: &Path, text: &str) -> Result<(BTreeSet<String>, KeyLines), ConfigError> {
    let mut sections: BTreeMap<String, usize> = BTreeMap::new();
    let mut keys: KeyLines = BTreeMap::new();
    let mut current = String::new();
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        if let Some(name) = trimmed
            .strip_prefix('[')
            .and_then(|rest| rest.split(']').next())
        {
            current = name.trim().to_lowercase();
            if let Some(&first_line) = sections.get(&current) {
                return Err(ConfigError::Duplicate {
                    path: path.to_path_buf(),
                    line,
                    what: format!("section [{}] appears a second time", name.trim()),
                    first_line,
                    fix: "put all its keys under one [section] header",
                });
            }
            sections.insert(current.clone(), line);
            continue;
        }
        let Some(position) = trimmed.find(['=', ':']) else {
            continue;
        };
        let key = trimmed[..position].trim().to_lowercase();
        if let Some(&first_line) = keys.get(&(current.clone(), key.clone())) {
            let section = if current.is_empty() {
                "outside any section".to_string()
            } else {
                format!("in [{current}]")
            };
            return Err(ConfigError::Duplicate {
                path: path.to_path_buf(),
                line,
                what: format!("`{key}` is set a second time {section}"),
                first_line,
                fix: "keep one of the two lines",
            });
        }
        keys.insert((current.clone(), key), line);
    }
    Ok((sections.into_keys().collect(), keys))
}
