//! URL settings (`base_url`, `endpoint_url`, `webhook_url`): an http(s) URL that parses (a port
//! above 65535 or a malformed IPv6 address is refused here, before anything connects) and holds
//! no credentials: `user:password@` in a URL would be printed in messages and logs and sent
//! instead of the configured ones, so it is refused, and never shown.

use reqwest::Url;

/// What is wrong with `text` as an http(s) URL setting, in the words of "expected ...", or
/// None when it is fine. `credentials` says where credentials go instead.
pub(super) fn problem(text: &str, credentials: &str) -> Option<String> {
    match parsed(text) {
        Err(problem) => Some(problem),
        Ok(url) if !url.username().is_empty() || url.password().is_some() => Some(format!(
            "a URL without credentials (no user:password@ in it): {credentials}"
        )),
        Ok(_) => None,
    }
}

/// `text` as an http(s) URL with a host (credentials allowed), or what is wrong with it in the
/// words of "expected ...".
pub(super) fn parsed(text: &str) -> Result<Url, String> {
    let lower = text.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err("a URL starting with http:// or https://".to_string());
    }
    let url = Url::parse(text).map_err(|e| format!("a valid http(s) URL ({e})"))?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("a URL with a host name or address".to_string());
    }
    Ok(url)
}

/// `text` as it may be shown: any `user:password@` replaced by `***@`.
pub(super) fn redacted(text: &str) -> String {
    let Some(start) = text.find("://").map(|i| i + 3) else {
        return text.to_string();
    };
    let authority_end = text[start..]
        .find(['/', '?', '#'])
        .map_or(text.len(), |i| start + i);
    match text[start..authority_end].rfind('@') {
        Some(at) => format!("{}***@{}", &text[..start], &text[start + at + 1..]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_bad_ports_and_bad_addresses_are_refused() {
        assert_eq!(problem("https://airflow.example.com:8080", "x"), None);
        assert_eq!(problem("http://[::1]:8080/", "x"), None);
        let creds = problem("http://user:pass@airflow:8080", "set username").unwrap();
        assert!(creds.contains("without credentials") && creds.contains("set username"));
        assert!(problem("http://user@airflow", "x").is_some());
        assert!(
            problem("http://airflow:99999", "x")
                .unwrap()
                .contains("invalid port")
        );
        assert!(problem("http://[::1:8080", "x").is_some());
        assert!(problem("ftp://airflow", "x").is_some());
    }

    #[test]
    fn credentials_are_never_shown() {
        assert_eq!(
            redacted("http://user:s3cret@airflow:8080/x@y"),
            "http://***@airflow:8080/x@y"
        );
        assert_eq!(redacted("https://airflow/a"), "https://airflow/a");
    }
}
