//! The conversation with one Airflow REST API: the HTTP client, which API generation the server
//! speaks and its version, authentication (basic auth, a configured bearer token, or a JWT from
//! `/auth/token` renewed before it lapses), pacing under `max_requests_per_second`, retries of
//! transient failures, and reading an answer's JSON. Each resource (`dag_runs`,
//! `task_instances`, ...) adds its reads to [`Session`] in a module of its own.

use std::time::{Duration as StdDuration, Instant};

use base64::Engine;
use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode, Url};
use serde::Deserialize;

use super::error::{ApiError, api_failure};
use crate::config::{AirflowApiSettings, ApiAuth, ApiVersionSetting, Secret};
use crate::http::{ClientOptions, causes};
use crate::source::SourceError;

/// The REST API generation a server speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// Airflow 2: `/api/v1`.
    V1,
    /// Airflow 3: `/api/v2`.
    V2,
}

impl Generation {
    pub(super) fn prefix(self) -> &'static str {
        match self {
            Generation::V1 => "api/v1",
            Generation::V2 => "api/v2",
        }
    }

    pub(super) fn major_version(self) -> i16 {
        match self {
            Generation::V1 => 2,
            Generation::V2 => 3,
        }
    }
}

#[derive(Debug, Deserialize)]
pub(super) struct VersionInfo {
    pub(super) version: String,
}

#[derive(Debug, Deserialize)]
pub(super) struct TokenAnswer {
    pub(super) access_token: String,
}

/// A JWT's expiry (`exp`), read without checking its signature (the server checks it).
pub(super) fn jwt_expiry(token: &str) -> Option<DateTime<Utc>> {
    let payload = token.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    DateTime::from_timestamp(claims.get("exp")?.as_i64()?, 0)
}

/// One Airflow installation's REST API.
#[derive(Debug, Clone)]
pub struct AirflowApi<'a> {
    pub(super) settings: &'a AirflowApiSettings,
}

impl<'a> AirflowApi<'a> {
    /// The API of `settings`; sends nothing yet.
    pub fn new(settings: &'a AirflowApiSettings) -> Self {
        AirflowApi { settings }
    }

    /// The instance name.
    pub fn instance(&self) -> &str {
        &self.settings.instance
    }

    /// The source error of an API failure of this instance.
    pub(super) fn error(&self) -> impl Fn(ApiError) -> SourceError + '_ {
        api_failure(self.settings)
    }
}

/// One conversation with the API: the client, the generation, the token, the pace.
pub(super) struct Session<'a> {
    pub(super) settings: &'a AirflowApiSettings,
    pub(super) http: reqwest::Client,
    pub(super) base: Url,
    pub(super) generation: Generation,
    pub(super) version: String,
    /// The bearer token in use.
    pub(super) token: Option<Token>,
    pub(super) next_slot: Option<Instant>,
    pub(super) requests: u64,
    /// The server's clock at the first answer (its `Date` header), else this machine's.
    pub(super) server_now: DateTime<Utc>,
    /// Whether an answer came yet (only the first one's clock is kept).
    pub(super) answered: bool,
}

/// A bearer token: the configured one, or a JWT from /auth/token.
pub(super) struct Token {
    pub(super) value: Secret,
    /// For a JWT: when it expires, and how long it was valid when issued.
    pub(super) expiry: Option<(DateTime<Utc>, Duration)>,
}

/// What one request brought back.
pub(super) struct Answer {
    pub(super) url: String,
    pub(super) status: StatusCode,
    pub(super) content_type: String,
    pub(super) body: bytes::Bytes,
}

impl<'a> Session<'a> {
    /// Builds the client, finds the API generation and version, and logs in.
    pub(super) async fn open(settings: &'a AirflowApiSettings) -> Result<Self, ApiError> {
        let http = crate::http::client(ClientOptions {
            timeout_seconds: settings.request_timeout_seconds,
            ca_file: settings.ca_file.as_deref(),
            verify_tls: settings.verify_tls,
        })?;
        let base =
            Url::parse(&format!("{}/", settings.base_url)).map_err(|e| ApiError::Refused {
                url: settings.base_url.clone(),
                status: 0,
                body: format!("not a URL ({e})"),
            })?;
        let token = match &settings.auth {
            ApiAuth::Token(token) => Some(Token {
                value: token.clone(),
                expiry: None,
            }),
            ApiAuth::Password { .. } => None,
        };
        let mut session = Session {
            settings,
            http,
            base,
            generation: Generation::V2,
            version: String::new(),
            token,
            next_slot: None,
            requests: 0,
            server_now: Utc::now(),
            answered: false,
        };
        session.detect().await?;
        Ok(session)
    }

    pub(super) fn url(&self, path: &[&str], query: &[(&str, String)]) -> Url {
        let mut url = self.base.clone();
        {
            let mut segments = url.path_segments_mut().expect("an http(s) URL has a path");
            segments.pop_if_empty();
            for part in path {
                segments.extend(part.split('/').filter(|s| !s.is_empty()));
            }
        }
        if !query.is_empty() {
            url.query_pairs_mut()
                .extend_pairs(query.iter().map(|(k, v)| (*k, v.as_str())));
        }
        url
    }

    /// Finds which API the server speaks (its version endpoint) and reads its version.
    pub(super) async fn detect(&mut self) -> Result<(), ApiError> {
        let base = self.settings.base_url.clone();
        let tries: &[Generation] = match self.settings.api_version {
            ApiVersionSetting::Auto => &[Generation::V2, Generation::V1],
            ApiVersionSetting::V1 => &[Generation::V1],
            ApiVersionSetting::V2 => &[Generation::V2],
        };
        for (i, &generation) in tries.iter().enumerate() {
            self.generation = generation;
            let url = self.url(&[generation.prefix(), "version"], &[]);
            // The version endpoint answers without credentials on Airflow 2 and 3; managed
            // services may want them, so a 401 is asked again with credentials.
            let mut answer = self.send(Method::GET, url.clone(), None, None).await?;
            if answer.status == StatusCode::UNAUTHORIZED {
                answer = self.call(Method::GET, url, None).await?;
            }
            if answer.status == StatusCode::NOT_FOUND {
                let last = i + 1 == tries.len();
                if !last {
                    continue;
                }
                let fix = match self.settings.api_version {
                    ApiVersionSetting::Auto => format!(
                        "no Airflow REST API at {base} (neither /api/v2 nor /api/v1 answers): base_url must be the address of the Airflow webserver or api-server, without /api/..."
                    ),
                    ApiVersionSetting::V2 => format!(
                        "{base} has no /api/v2, so it is not Airflow 3 (an Airflow 2 webserver serves /api/v1): set api_version = auto or v1"
                    ),
                    ApiVersionSetting::V1 => {
                        let text = String::from_utf8_lossy(&answer.body);
                        if text.contains("/api/v2") {
                            format!(
                                "{base} is Airflow 3, which removed /api/v1: set api_version = auto or v2"
                            )
                        } else {
                            format!(
                                "{base} has no /api/v1, so it is not Airflow 2: set api_version = auto (or v2 for Airflow 3), and check base_url"
                            )
                        }
                    }
                };
                return Err(ApiError::NotFound {
                    url: answer.url,
                    fix,
                });
            }
            let info: VersionInfo = self.json(answer)?;
            self.version = info.version;
            return Ok(());
        }
        unreachable!("the last generation tried returns")
    }

    /// The credentials' Authorization header for the next request (logging in first when a
    /// JWT is needed or about to expire).
    pub(super) async fn authorization(&mut self) -> Result<Option<String>, ApiError> {
        match (&self.settings.auth, self.generation) {
            (ApiAuth::Token(token), _) => Ok(Some(format!("Bearer {}", token.expose()))),
            (ApiAuth::Password { username, password }, Generation::V1) => {
                let pair = format!("{username}:{}", password.expose());
                Ok(Some(format!(
                    "Basic {}",
                    base64::engine::general_purpose::STANDARD.encode(pair)
                )))
            }
            (ApiAuth::Password { .. }, Generation::V2) => {
                // Renewed a minute before it expires (a quarter of its life for short-lived
                // tokens), so no request is sent with a token about to lapse.
                let fresh = self.token.as_ref().is_some_and(|token| {
                    token.expiry.is_none_or(|(at, life)| {
                        Utc::now() + Duration::seconds(60).min(life / 4) < at
                    })
                });
                if !fresh {
                    self.log_in().await?;
                }
                Ok(self
                    .token
                    .as_ref()
                    .map(|t| format!("Bearer {}", t.value.expose())))
            }
        }
    }

    /// `POST /auth/token` (Airflow 3) with the username and password.
    pub(super) async fn log_in(&mut self) -> Result<(), ApiError> {
        let ApiAuth::Password { username, password } = &self.settings.auth else {
            return Ok(());
        };
        let url = self.url(&["auth", "token"], &[]);
        let body = serde_json::json!({ "username": username, "password": password.expose() });
        let answer = self
            .send(Method::POST, url, Some(body.to_string()), None)
            .await?;
        if answer.status == StatusCode::UNAUTHORIZED || answer.status == StatusCode::FORBIDDEN {
            return Err(ApiError::Unauthorized {
                url: answer.url,
                fix: format!(
                    "check [{}] username and password (Airflow 3 issues API tokens to its users at POST /auth/token)",
                    self.settings.section
                ),
            });
        }
        let token: TokenAnswer = self.json(answer)?;
        let expiry = jwt_expiry(&token.access_token).map(|at| (at, at - Utc::now()));
        tracing::debug!(url = %self.settings.base_url, expires = ?expiry.map(|(at, _)| at), "Logged in to Airflow's API.");
        self.token = Some(Token {
            value: Secret::new(token.access_token),
            expiry,
        });
        Ok(())
    }

    /// Waits for the next request slot under `max_requests_per_second`.
    pub(super) async fn pace(&mut self) {
        let per_second = self.settings.max_requests_per_second;
        if per_second == 0 {
            return;
        }
        let interval = StdDuration::from_secs_f64(1.0 / per_second as f64);
        let now = Instant::now();
        if let Some(slot) = self.next_slot
            && slot > now
        {
            tokio::time::sleep(slot - now).await;
        }
        self.next_slot = Some(self.next_slot.map_or(now, |s| s.max(now)) + interval);
    }

    /// Sends one authenticated request; on a 401 with a JWT (which may have expired, or the
    /// server restarted with a new secret), logs in again and repeats it once.
    pub(super) async fn call(
        &mut self,
        method: Method,
        url: Url,
        body: Option<String>,
    ) -> Result<Answer, ApiError> {
        let authorization = self.authorization().await?;
        let answer = self
            .send(method.clone(), url.clone(), body.clone(), authorization)
            .await?;
        let renewable = self.generation == Generation::V2
            && matches!(self.settings.auth, ApiAuth::Password { .. });
        if answer.status == StatusCode::UNAUTHORIZED && renewable {
            self.token = None;
            let authorization = self.authorization().await?;
            return self.send(method, url, body, authorization).await;
        }
        Ok(answer)
    }

    /// Sends one request, retrying connection failures, timeouts, 429 and 5xx with the
    /// `[retry]` backoff (or the server's `Retry-After`).
    pub(super) async fn send(
        &mut self,
        method: Method,
        url: Url,
        body: Option<String>,
        authorization: Option<String>,
    ) -> Result<Answer, ApiError> {
        let retry = self.settings.retry;
        let shown = url.to_string();
        let mut attempt = 1;
        loop {
            self.pace().await;
            let mut request = self
                .http
                .request(method.clone(), url.clone())
                .header(reqwest::header::ACCEPT, "application/json");
            if let Some(value) = &authorization {
                request = request.header(reqwest::header::AUTHORIZATION, value);
            }
            if let Some(body) = &body {
                request = request
                    .header(reqwest::header::CONTENT_TYPE, "application/json")
                    .body(body.clone());
            }
            self.requests += 1;
            let outcome = match request.send().await {
                Ok(response) => {
                    let status = response.status();
                    let first = !std::mem::replace(&mut self.answered, true);
                    if first
                        && let Some(date) = response
                            .headers()
                            .get(reqwest::header::DATE)
                            .and_then(|d| d.to_str().ok())
                            .and_then(|d| DateTime::parse_from_rfc2822(d).ok())
                    {
                        self.server_now = date.with_timezone(&Utc);
                    }
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok());
                    let content_type = response
                        .headers()
                        .get(reqwest::header::CONTENT_TYPE)
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or("")
                        .to_string();
                    match read_capped(response, self.settings.max_response_bytes).await {
                        Ok(Some(bytes)) => Ok((status, retry_after, content_type, bytes)),
                        Ok(None) => {
                            return Err(ApiError::TooLarge {
                                url: shown,
                                limit: self.settings.max_response_bytes,
                            });
                        }
                        Err(e) => Err(e),
                    }
                }
                Err(e) => Err(e),
            };
            let transient = match outcome {
                Ok((status, retry_after, _, body))
                    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() =>
                {
                    let detail = excerpt(&body);
                    if attempt >= retry.attempts {
                        return Err(ApiError::Unavailable {
                            url: shown,
                            status: status.as_u16(),
                            attempts: attempt,
                            body: detail,
                        });
                    }
                    // The server's Retry-After is honoured up to [retry] max_backoff_seconds, so
                    // the whole wait stays bounded by the [retry] settings.
                    let wait = retry_after.map_or_else(
                        || retry.backoff(attempt + 1),
                        |s| StdDuration::from_secs(s.min(retry.max_backoff_seconds)),
                    );
                    tracing::warn!(
                        url = %shown,
                        status = status.as_u16(),
                        attempt,
                        retry_after_seconds = retry_after,
                        wait_seconds = wait.as_secs(),
                        "Airflow's API answered with a transient error; retrying in {} s (a Retry-After is honoured up to [retry] max_backoff_seconds = {}).",
                        wait.as_secs(),
                        retry.max_backoff_seconds
                    );
                    Some(wait)
                }
                Ok((status, _, content_type, body)) => {
                    return Ok(Answer {
                        url: shown,
                        status,
                        content_type,
                        body,
                    });
                }
                Err(e) if e.is_timeout() => {
                    if attempt >= retry.attempts {
                        return Err(ApiError::Timeout {
                            url: shown,
                            seconds: self.settings.request_timeout_seconds,
                            attempts: attempt,
                        });
                    }
                    tracing::warn!(url = %shown, attempt, "Airflow's API did not answer in time; retrying.");
                    None
                }
                Err(e) if crate::http::is_tls_failure(&e) => {
                    return Err(ApiError::Tls {
                        url: shown,
                        detail: causes(&e),
                    });
                }
                Err(e) => {
                    if attempt >= retry.attempts {
                        return Err(ApiError::Connect {
                            url: shown,
                            detail: causes(&e),
                            attempts: attempt,
                        });
                    }
                    tracing::warn!(url = %shown, attempt, error = %causes(&e), "Could not reach Airflow's API; retrying.");
                    None
                }
            };
            attempt += 1;
            tokio::time::sleep(transient.unwrap_or_else(|| retry.backoff(attempt))).await;
        }
    }

    /// An answer's JSON, or the error its status or content type means.
    pub(super) fn json<T: serde::de::DeserializeOwned>(
        &self,
        answer: Answer,
    ) -> Result<T, ApiError> {
        let Answer {
            url,
            status,
            content_type,
            body,
        } = answer;
        match status {
            s if s.is_success() => {}
            StatusCode::UNAUTHORIZED => {
                let fix = match (&self.settings.auth, self.generation) {
                    (ApiAuth::Token(_), _) => format!(
                        "the token in [{}] is wrong or expired: issue a new one",
                        self.settings.section
                    ),
                    (ApiAuth::Password { .. }, Generation::V1) => format!(
                        "check [{}] username and password; Airflow 2 must also accept basic auth on its API: its admin sets [api] auth_backends = airflow.api.auth.backend.basic_auth,airflow.api.auth.backend.session",
                        self.settings.section
                    ),
                    (ApiAuth::Password { .. }, Generation::V2) => format!(
                        "the token from /auth/token was refused just after it was issued: check the server's [api_auth] settings and [{}] username",
                        self.settings.section
                    ),
                };
                return Err(ApiError::Unauthorized { url, fix });
            }
            StatusCode::FORBIDDEN => return Err(ApiError::Forbidden { url }),
            s => {
                return Err(ApiError::Refused {
                    url,
                    status: s.as_u16(),
                    body: excerpt(&body),
                });
            }
        }
        let is_json = content_type.is_empty() || content_type.to_ascii_lowercase().contains("json");
        if !is_json {
            let text = String::from_utf8_lossy(&body);
            let title = text
                .split_once("<title>")
                .and_then(|(_, rest)| rest.split_once("</title>"))
                .map(|(t, _)| format!(" (page title {:?})", t.trim()))
                .unwrap_or_default();
            return Err(ApiError::NotJson {
                url,
                content_type,
                title,
            });
        }
        serde_json::from_slice(&body).map_err(|e| ApiError::BadJson {
            url,
            detail: e.to_string(),
        })
    }
}

/// An answer's body, read chunk by chunk, or None as soon as it passes `limit` bytes (a length
/// announced above it is refused before any byte is read): an endless or huge answer never
/// fills the memory.
async fn read_capped(
    mut response: reqwest::Response,
    limit: u64,
) -> Result<Option<bytes::Bytes>, reqwest::Error> {
    if response.content_length().is_some_and(|n| n > limit) {
        return Ok(None);
    }
    let mut body = bytes::BytesMut::new();
    while let Some(chunk) = response.chunk().await? {
        if (body.len() + chunk.len()) as u64 > limit {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body.freeze()))
}

/// The start of an answer's body, on one line, for messages.
pub(super) fn excerpt(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut shown: String = line.chars().take(200).collect();
    if line.chars().count() > 200 {
        shown.push_str("...");
    }
    if shown.is_empty() {
        "(empty answer)".to_string()
    } else {
        shown
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jwt_expiry_is_read_from_the_payload() {
        let payload =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(r#"{"exp":1795532489}"#);
        let token = format!("eyJhbGciOiJIUzUxMiJ9.{payload}.c2ln");
        assert_eq!(jwt_expiry(&token).unwrap().timestamp(), 1_795_532_489);
        assert!(jwt_expiry("not-a-jwt").is_none());
    }
}
