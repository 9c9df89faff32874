//! The one HTTP client pipewatch uses (reqwest on rustls with the aws-lc-rs provider, the same
//! TLS stack as the PostgreSQL connections): for the Airflow REST API source and the webhook.
//!
//! Certificates are checked against the system's trust store (rustls-platform-verifier) plus an
//! optional PEM file of extra authorities; checking can be turned off for a test server only.
//! No proxy is read from the environment unless the standard variables are set (reqwest's
//! default), and redirects are not followed: an API that redirects is usually a login page.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// The client could not be built (a CA file missing or not PEM).
#[derive(Debug, thiserror::Error)]
pub enum HttpSetupError {
    /// The CA file could not be read or holds no certificate.
    #[error("cannot use ca_file {path}: {detail}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// reqwest refused the configuration.
    #[error("cannot set up the HTTP client: {0}")]
    Client(String),
}

/// How a client checks servers and how long it waits.
#[derive(Debug, Clone, Copy)]
pub struct ClientOptions<'a> {
    /// Seconds allowed for a whole request (connect, send, read the answer).
    pub timeout_seconds: u64,
    /// Extra certificate authorities (PEM) to trust besides the system's.
    pub ca_file: Option<&'a Path>,
    /// Whether server certificates are checked at all.
    pub verify_tls: bool,
}

/// Builds a client.
pub fn client(options: ClientOptions<'_>) -> Result<reqwest::Client, HttpSetupError> {
    let timeout = Duration::from_secs(options.timeout_seconds);
    let mut builder = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(30)))
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("pipewatch/", env!("CARGO_PKG_VERSION")));
    if let Some(path) = options.ca_file {
        let ca_error = |detail: String| HttpSetupError::CaFile {
            path: path.to_path_buf(),
            detail,
        };
        let pem = std::fs::read(path).map_err(|e| ca_error(e.to_string()))?;
        let certs = reqwest::Certificate::from_pem_bundle(&pem)
            .map_err(|e| ca_error(format!("not a PEM certificate file ({e})")))?;
        if certs.is_empty() {
            return Err(ca_error("holds no PEM certificate".into()));
        }
        builder = builder.tls_certs_merge(certs);
    }
    if !options.verify_tls {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder
        .build()
        .map_err(|e| HttpSetupError::Client(crate::db::error_chain(&e)))
}

/// `scheme://host[:port]` of a URL, without its path and query (which may hold a token) or
/// credentials.
pub fn origin_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}")
        }
        None => "(invalid URL)".to_string(),
    }
}

/// A request error's causes, joined, without reqwest's own message, which names the URL (a
/// webhook's path holds its token; an API's URL is named by the caller's error instead).
pub fn causes(error: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.contains(&text) {
            parts.push(text);
        }
        source = cause.source();
    }
    if parts.is_empty() {
        "the request failed".to_string()
    } else {
        parts.join(": ")
    }
}

/// Whether a request error is a TLS failure (a certificate refused, a handshake failed, or the
/// server not speaking TLS at all): one of its causes is a rustls error.
pub fn is_tls_failure(error: &reqwest::Error) -> bool {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(e) = cause {
        if e.is::<rustls::Error>() {
            return true;
        }
        // hyper wraps the TLS error in io::Errors, whose source() skips the error they hold.
        let mut io = e.downcast_ref::<std::io::Error>();
        while let Some(inner) = io.and_then(|io| io.get_ref()) {
            if inner.is::<rustls::Error>() {
                return true;
            }
            io = inner.downcast_ref::<std::io::Error>();
        }
        cause = e.source();
    }
    let text = crate::db::error_chain(error).to_ascii_lowercase();
    ["certificate", "handshake"]
        .iter()
        .any(|word| text.contains(word))
}

#[cfg(test)]
mod tests {
    #[test]
    fn origin_of_hides_path_and_credentials() {
        assert_eq!(
            super::origin_of("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            super::origin_of("http://user:pw@127.0.0.1:8080/x?y"),
            "http://127.0.0.1:8080"
        );
    }
}
