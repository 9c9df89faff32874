//! Posting notices to a Slack-compatible webhook: `{"text": "..."}` as JSON.
//!
//! Each request has a timeout; a failed delivery (connection error, timeout, non-2xx answer) is
//! retried up to `webhook_attempts` times with 1 s, 2 s, 4 s ... between attempts. The webhook
//! URL is a secret (Slack puts its token in the path): errors name only its scheme and host.

use std::time::Duration;

use crate::config::{Secret, ValidateSettings};
use crate::http::{ClientOptions, origin_of};

/// A name (a DAG, task, run, instance or test name from Airflow or the user) or a message for a
/// notice's text: Slack's three escapes (`&`, `<` and `>`, which it reads as markup, mentions
/// and links), and, when the name holds right-to-left text or direction controls, isolated
/// between U+2068 and U+2069 so it cannot reorder the notice's own words after it.
pub fn text_of(name: &str) -> String {
    let escaped = name
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    if name.chars().any(reorders) {
        format!("\u{2068}{escaped}\u{2069}")
    } else {
        escaped
    }
}

/// Whether `c` can change the order text is shown in: a direction control, or a letter of a
/// right-to-left script.
fn reorders(c: char) -> bool {
    matches!(c,
        '\u{061C}' | '\u{200E}' | '\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'
        | '\u{0590}'..='\u{08FF}' | '\u{FB1D}'..='\u{FDFF}' | '\u{FE70}'..='\u{FEFF}'
        | '\u{10800}'..='\u{10FFF}' | '\u{1E800}'..='\u{1EFFF}')
}

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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_escaped_for_slack_and_isolated_when_they_could_reorder() {
        assert_eq!(text_of("a<b>&c"), "a&lt;b&gt;&amp;c");
        assert_eq!(text_of("orders"), "orders");
        assert_eq!(
            text_of("gnp\u{202e}.exe"),
            "\u{2068}gnp\u{202e}.exe\u{2069}"
        );
    }
}
