//! What can be wrong with a configuration: each error names the key and where it came from.

use std::path::PathBuf;

use super::env::DEFAULT_CONFIG_PATHS;

/// A configuration problem, found before anything connects.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// No `--config` was given and none of the default paths exists.
    #[error(
        "no configuration file found: looked for {} (pass --config PATH or set PIPEWATCH_CONFIG; pipeline.conf.example documents every key)",
        DEFAULT_CONFIG_PATHS.join(" and ")
    )]
    NoFile,
    /// The given configuration file does not exist or cannot be read.
    #[error("cannot read configuration file {path}: {cause}")]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        cause: std::io::Error,
    },
    /// The file is not valid INI, or the environment overrides could not be read.
    #[error("cannot parse configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// A section that pipewatch does not know.
    #[error("{origin}: unknown section [{section}] (known sections: {known})")]
    UnknownSection {
        /// The file or environment variable.
        origin: String,
        /// The section name.
        section: String,
        /// The sections pipewatch reads.
        known: String,
    },
    /// A key that its section does not have.
    #[error("{origin}: unknown key `{key}` in section [{section}] (known keys: {known})")]
    UnknownKey {
        /// The file or environment variable.
        origin: String,
        /// The section.
        section: String,
        /// The key.
        key: String,
        /// The keys the section has.
        known: String,
    },
    /// A required key that is missing or empty.
    #[error(
        "{path}: missing required key `{key}` in section [{section}] (set it in the file or with {env})"
    )]
    Missing {
        /// The file.
        path: PathBuf,
        /// The section.
        section: String,
        /// The key.
        key: String,
        /// The environment variable that can set it.
        env: String,
    },
    /// A value that does not have the expected type or form.
    #[error("{origin}: [{section}] {key} = {value:?} is not valid: expected {expected}")]
    Invalid {
        /// The file or environment variable.
        origin: String,
        /// The section.
        section: String,
        /// The key.
        key: String,
        /// The value as written (never a secret's value).
        value: String,
        /// What the key accepts.
        expected: String,
    },
    /// A section or a key written twice in the file (the INI reader would silently keep one).
    #[error("{path}: line {line}: {what} (first on line {first_line}); {fix}")]
    Duplicate {
        /// The file.
        path: PathBuf,
        /// The line of the second occurrence.
        line: usize,
        /// What is repeated.
        what: String,
        /// The line of the first occurrence.
        first_line: usize,
        /// How to fix it.
        fix: &'static str,
    },
    /// A rule across keys or sections.
    #[error("{path}: {message}")]
    Rule {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
}
