//! Posting notices to a Slack-compatible webhook: `{"text": "..."}` as JSON.
//!
//! Each request has a timeout; a failed delivery (connection error, timeout, non-2xx answer) is
//! retried up to `webhook_attempts` times with 1 s, 2 s, 4 s ... between attempts. The webhook
//! URL is a secret (Slack puts its token in the path): errors name only its scheme and host.

use std::time::Duration;

use crate::config::{Secret, ValidateSettings};
use crate::http::{ClientOptions, origin_of};

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
    let host = origin_of(url.expose());
    let fail = |attempts, detail: String| NotifyError {
        host: host.clone(),
        attempts,
        detail,
    };
    let client = crate::http::client(ClientOptions {
        timeout_seconds: settings.webhook_timeout_seconds,
        ca_file: None,
        verify_tls: true,
    })
    .map_err(|e| fail(0, e.to_string()))?;
    let body = serde_json::json!({ "text": text }).to_string();
    let mut last_error = String::new();
    for attempt in 1..=settings.webhook_attempts {
        if attempt > 1 {
            tokio::time::sleep(Duration::from_secs(1 << (attempt - 2).min(5))).await;
        }
        last_error = match client
            .post(url.expose())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.clone())
            .send()
            .await
        {
            Err(e) if e.is_timeout() => {
                format!("no answer within {} s", settings.webhook_timeout_seconds)
            }
            Err(e) if e.is_builder() => {
                return Err(fail(attempt, "invalid webhook URL".to_string()));
            }
            // The error names the URL, whose path may hold a token: only its causes are shown.
            Err(e) => crate::http::causes(&e),
            Ok(response) if response.status().is_success() => return Ok(()),
            Ok(response) => format!("the webhook answered HTTP {}", response.status()),
        };
        tracing::warn!(attempt, host = %host, error = %last_error, "Webhook delivery failed.");
    }
    Err(fail(settings.webhook_attempts, last_error))
}
