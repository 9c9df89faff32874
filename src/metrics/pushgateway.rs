//! The Pushgateway: push-add by group (one per Airflow instance, one for pipewatch itself),
//! credentials from the URL sent as basic auth and never shown, and check-config's probe.

use std::fmt::Write as _;

use super::error::MetricsError;
use super::families::Metrics;
use crate::config::Secret;
use crate::db;

/// The Pushgateway URL of one group: `<base>/metrics/job/pipewatch[/instance/<name>]`, the
/// instance name in the Pushgateway's base64url form when it is not plain (or is empty).
fn group_url(base: &str, instance: &str) -> String {
    let mut url = format!("{base}/metrics/job/pipewatch");
    if !instance.is_empty() {
        let plain = instance
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
        if plain {
            let _ = write!(url, "/instance/{instance}");
        } else {
            use base64::Engine as _;
            let encoded = base64::engine::general_purpose::URL_SAFE.encode(instance);
            let _ = write!(url, "/instance@base64/{encoded}");
        }
    }
    url
}

/// `url` without `user:password@`, for messages.
fn shown(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(mut u) => {
            let _ = u.set_username("");
            let _ = u.set_password(None);
            u.to_string()
        }
        Err(_) => "(the configured pushgateway_url)".to_string(),
    }
}

/// The HTTP client for the Pushgateway at `base`, and how its failures are described (the URL
/// without credentials, and what to check).
fn pushgateway_client(
    base: &Secret,
    timeout_seconds: u64,
) -> Result<(reqwest::Client, impl Fn(String) -> MetricsError), MetricsError> {
    let url = shown(base.expose());
    let failed = move |detail: String| MetricsError::Push {
        url: url.clone(),
        detail,
    };
    let client = crate::http::client(crate::http::ClientOptions {
        timeout_seconds,
        ca_file: None,
        verify_tls: true,
    })
    .map_err(|e| failed(e.to_string()))?;
    Ok((client, failed))
}

/// Push-adds every group to the Pushgateway at `base` (POST: the families sent replace the
/// group's families of the same name, the others stay).
pub async fn push(
    base: &Secret,
    timeout_seconds: u64,
    metrics: &Metrics,
    with_last_success: bool,
) -> Result<usize, MetricsError> {
    let (client, failed) = pushgateway_client(base, timeout_seconds)?;
    let groups = metrics.groups(with_last_success);
    for (instance, text) in &groups {
        let request = authorized(
            &client,
            reqwest::Method::POST,
            &group_url(base.expose(), instance),
        )
        .map_err(&failed)?
        .header("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
        .body(text.clone());
        let response = request
            .send()
            .await
            .map_err(|e| failed(db::error_chain(&e)))?;
        let status = response.status();
        if !status.is_success() {
            let body = response.text().await.unwrap_or_default();
            let first = body
                .lines()
                .next()
                .unwrap_or("")
                .chars()
                .take(300)
                .collect::<String>();
            return Err(failed(format!(
                "group instance=\"{instance}\" answered {status}{}",
                if first.is_empty() {
                    String::new()
                } else {
                    format!(": {first}")
                }
            )));
        }
    }
    Ok(groups.len())
}

/// For check-config: whether the Pushgateway at `base` answers its readiness probe
/// (`GET /-/ready`), with the configured credentials.
pub async fn check_pushgateway(
    base: &Secret,
    timeout_seconds: u64,
) -> Result<String, MetricsError> {
    let (client, failed) = pushgateway_client(base, timeout_seconds)?;
    let request = authorized(
        &client,
        reqwest::Method::GET,
        &format!("{}/-/ready", base.expose()),
    )
    .map_err(&failed)?;
    let response = request
        .send()
        .await
        .map_err(|e| failed(db::error_chain(&e)))?;
    if !response.status().is_success() {
        return Err(failed(format!("/-/ready answered {}", response.status())));
    }
    Ok(format!(
        "the Pushgateway at {} is ready",
        shown(base.expose())
    ))
}

/// A request to `url` with any `user:password@` of it taken out and sent as basic auth
/// instead (reqwest's messages then name a URL without credentials).
fn authorized(
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
) -> Result<reqwest::RequestBuilder, String> {
    let mut url = reqwest::Url::parse(url).map_err(|e| e.to_string())?;
    let (user, password) = (
        url.username().to_string(),
        url.password().map(str::to_string),
    );
    let _ = url.set_username("");
    let _ = url.set_password(None);
    let request = client.request(method, url);
    Ok(if user.is_empty() && password.is_none() {
        request
    } else {
        request.basic_auth(user, password)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn group_urls_encode_unusual_instance_names() {
        assert_eq!(
            group_url("http://pg:9091", ""),
            "http://pg:9091/metrics/job/pipewatch"
        );
        assert_eq!(
            group_url("http://pg:9091", "prod-eu_1"),
            "http://pg:9091/metrics/job/pipewatch/instance/prod-eu_1"
        );
        assert_eq!(
            group_url("http://pg:9091", "a/b"),
            "http://pg:9091/metrics/job/pipewatch/instance@base64/YS9i"
        );
        assert_eq!(shown("http://user:secret@pg:9091/x"), "http://pg:9091/x");
    }
}
