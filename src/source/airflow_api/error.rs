//! Why the REST API could not be read: one error per way an answer (or its absence) fails,
//! each naming the URL and what to do.

use crate::config::AirflowApiSettings;
use crate::http::HttpSetupError;
use crate::source::SourceError;

/// Why the REST API could not be read. Each names the URL and what to do.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The HTTP client could not be built.
    #[error(transparent)]
    Setup(#[from] HttpSetupError),
    /// 401.
    #[error("{url} refused the credentials (HTTP 401): {fix}")]
    Unauthorized {
        /// The URL.
        url: String,
        /// What to check.
        fix: String,
    },
    /// 403.
    #[error(
        "{url} answered HTTP 403 Forbidden: the user may not read DAG runs; give it Airflow's Viewer role (or a role that can read DAGs and DAG runs)"
    )]
    Forbidden {
        /// The URL.
        url: String,
    },
    /// 404 where the API should be.
    #[error("{url} answered HTTP 404: {fix}")]
    NotFound {
        /// The URL.
        url: String,
        /// What it means and what to do.
        fix: String,
    },
    /// A TLS failure.
    #[error(
        "{url}: TLS failure ({detail}): set ca_file to the certificate authority that signed the server's certificate (verify_tls = false only for a test server)"
    )]
    Tls {
        /// The URL.
        url: String,
        /// The cause.
        detail: String,
    },
    /// No answer in time.
    #[error(
        "{url}: no answer within {seconds} s ({attempts} attempts): check that Airflow is up, or raise request_timeout_seconds"
    )]
    Timeout {
        /// The URL.
        url: String,
        /// The timeout.
        seconds: u64,
        /// Attempts made.
        attempts: u64,
    },
    /// No connection.
    #[error(
        "{url}: could not connect ({detail}; {attempts} attempts): check base_url and that Airflow is up"
    )]
    Connect {
        /// The URL.
        url: String,
        /// The cause.
        detail: String,
        /// Attempts made.
        attempts: u64,
    },
    /// A page that is not JSON (a login page, a proxy, a load balancer's error page).
    #[error(
        "{url} answered {content_type} instead of JSON{title}: base_url must be the Airflow webserver (Airflow 2) or api-server (Airflow 3) itself; a login page or a proxy answered"
    )]
    NotJson {
        /// The URL.
        url: String,
        /// The answer's content type.
        content_type: String,
        /// ` (page title "...")` when the page has one.
        title: String,
    },
    /// 429 or 5xx, still after every retry.
    #[error("{url} answered HTTP {status} after {attempts} attempts: {body}")]
    Unavailable {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// Attempts made.
        attempts: u64,
        /// The start of the answer.
        body: String,
    },
    /// Another 4xx.
    #[error("{url} answered HTTP {status}: {body}")]
    Refused {
        /// The URL.
        url: String,
        /// The status.
        status: u16,
        /// The start of the answer.
        body: String,
    },
    /// An answer larger than `max_response_bytes` (or one that never ends).
    #[error(
        "{url} answered more than {limit} bytes; pipewatch stopped reading: a page this large is not an Airflow answer (check base_url), or raise max_response_bytes (or lower page_size)"
    )]
    TooLarge {
        /// The URL.
        url: String,
        /// The limit.
        limit: u64,
    },
    /// A list whose pages do not end (the same page or cursor again) or disagree with what
    /// the server announced (see `paging.rs`).
    #[error(
        "{url}: the server's paging is broken ({detail}); pipewatch stopped after {pages} pages rather than loop or skip runs: is this a proxy or a broken Airflow?"
    )]
    BrokenPaging {
        /// The URL.
        url: String,
        /// What went wrong.
        detail: String,
        /// Pages read.
        pages: u64,
    },
    /// JSON of an unexpected shape.
    #[error(
        "{url} answered JSON pipewatch cannot read ({detail}): is this the REST API of Airflow 2.x or 3.x?"
    )]
    BadJson {
        /// The URL.
        url: String,
        /// What was wrong.
        detail: String,
    },
}

/// The source error of an API failure of `settings`' instance.
pub(super) fn api_failure(
    settings: &AirflowApiSettings,
) -> impl Fn(ApiError) -> SourceError + Copy + '_ {
    move |source| SourceError::Api {
        instance: settings.instance.clone(),
        source: Box::new(source),
    }
}

/// The source error of an answer whose values cannot be written as a row (`detail` names it).
pub(super) fn unreadable(
    settings: &AirflowApiSettings,
) -> impl Fn(String) -> SourceError + Copy + '_ {
    move |detail| {
        api_failure(settings)(ApiError::BadJson {
            url: settings.base_url.clone(),
            detail,
        })
    }
}

/// The source error of a stage failure of `instance`.
pub(super) fn stage_failure(
    instance: &str,
) -> impl Fn(crate::stage::StageError) -> SourceError + Copy + '_ {
    move |e| SourceError::Stage {
        instance: instance.to_string(),
        source: Box::new(e),
    }
}
