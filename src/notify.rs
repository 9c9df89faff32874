//! Posting notices to a Slack-compatible webhook: `{"text": "..."}` as JSON.
//!
//! Each request has a timeout; a failed delivery (connection error, timeout, non-2xx answer) is
//! retried up to `webhook_attempts` times with 1 s, 2 s, 4 s ... between attempts. The webhook
//! URL is a secret (Slack puts its token in the path): errors name only its scheme and host.

use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

use crate::config::{Secret, ValidateSettings};

/// A notice that could not be delivered.
#[derive(Debug, thiserror::Error)]
#[error("could not post to the webhook at {host} after {attempts} attempts: {detail}")]
pub struct NotifyError {
    host: String,
    attempts: u64,
    detail: String,
}

/// Posts `text` to the webhook `url`, retrying as configured.
pub async fn post_text(
    settings: &ValidateSettings,
    url: &Secret,
    text: &str,
) -> Result<(), NotifyError> {
    let host = host_of(url.expose());
    let fail = |attempts, detail: String| NotifyError {
        host: host.clone(),
        attempts,
        detail,
    };
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_native_roots()
        .map_err(|e| fail(0, format!("no TLS root certificates: {e}")))?
        .https_or_http()
        .enable_http1()
        .build();
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build(connector);
    let body = serde_json::json!({ "text": text }).to_string();
    let timeout = Duration::from_secs(settings.webhook_timeout_seconds);
    let mut last_error = String::new();
    for attempt in 1..=settings.webhook_attempts {
        if attempt > 1 {
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 2).min(5))).await;
        }
        let request = http::Request::post(url.expose())
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.clone())))
            .map_err(|e| fail(attempt, format!("invalid webhook URL: {e}")))?;
        last_error = match tokio::time::timeout(timeout, client.request(request)).await {
            Err(_) => format!("no answer within {} s", timeout.as_secs()),
            Ok(Err(e)) => crate::db::error_chain(&e),
            Ok(Ok(response)) if response.status().is_success() => return Ok(()),
            Ok(Ok(response)) => format!("the webhook answered HTTP {}", response.status()),
        };
        tracing::warn!(attempt, host = %host, error = %last_error, "Webhook delivery failed.");
    }
    Err(fail(settings.webhook_attempts, last_error))
}

/// `scheme://host[:port]` of a URL, without its path (which may hold a token).
fn host_of(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let host = rest.split(['/', '?', '#']).next().unwrap_or("");
            let host = host.rsplit('@').next().unwrap_or(host);
            format!("{scheme}://{host}")
        }
        None => "(invalid URL)".to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn host_of_hides_path_and_credentials() {
        assert_eq!(
            super::host_of("https://hooks.slack.com/services/T0/B0/secret"),
            "https://hooks.slack.com"
        );
        assert_eq!(
            super::host_of("http://user:pw@127.0.0.1:8080/x?y"),
            "http://127.0.0.1:8080"
        );
    }
}
