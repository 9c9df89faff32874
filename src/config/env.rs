//! Where the configuration comes from besides the file's text: the default paths, and the
//! environment variables that override any key.

/// Prefix of environment variables that override configuration keys.
pub const ENV_PREFIX: &str = "PIPEWATCH";
/// Separator between prefix, section and key in those variables.
pub const ENV_SEPARATOR: &str = "__";

/// Where `pipewatch` looks for its configuration when `--config` is not given, in order.
pub const DEFAULT_CONFIG_PATHS: [&str; 2] = ["pipeline.conf", "/etc/pipewatch/pipeline.conf"];

/// The environment variable that overrides `key` in `[section]`.
pub fn env_var_name(section: &str, key: &str) -> String {
    format!(
        "{ENV_PREFIX}{ENV_SEPARATOR}{}{ENV_SEPARATOR}{}",
        section.to_uppercase(),
        key.to_uppercase()
    )
}
